//! Saving into a profile that other learners save into at the same time: every container of one
//! image learns into the profile named after the image, and two of them may run at once.
//!
//! Writing the whole of what one learner holds would drop what the other saved meanwhile (the
//! last writer would win). So each save takes the store's lock, reads the profile as it is now,
//! adds to it only what this learner learnt since its own last save (bag frequencies, calls,
//! windows, epochs; its run once, in the provenance), and writes the sum atomically. Whatever the
//! order of the saves, the file ends up with every learner's windows, each counted once.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::error::invalid;
use super::provenance::{Learner, Provenance};
use super::{DbRecord, Profile, ProfileError};

/// One learner's saves into a profile of the store.
#[derive(Debug)]
pub struct SharedSave {
    path: PathBuf,
    /// What this learner held at its last save; at first, what it started from.
    saved: Profile,
    /// Whether this learner's run is in the stored provenance already.
    recorded: bool,
}

impl SharedSave {
    /// Saves to `path` of a learner that started from `start` (the profile it extends, or its
    /// empty detector).
    pub fn new(path: PathBuf, start: Profile) -> SharedSave {
        SharedSave {
            path,
            saved: start,
            recorded: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds what `now` (this learner's whole profile, `container`'s run in its provenance) learnt
    /// since the last save to the file, under the store's lock; returns what was written.
    pub fn save(&mut self, now: &Profile, container: &str) -> Result<Profile, ProfileError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|error| self.write_error(error))?;
        let _lock = lock(dir).map_err(|error| self.write_error(error))?;
        let stored = read_stored(&self.path)?;
        let mut increment = increment(now, &self.saved);
        if !self.recorded {
            increment.training.traces = 1;
            increment.provenance = own_run(&now.provenance, container);
        }
        let parts: Vec<Profile> = stored.iter().cloned().chain([increment]).collect();
        let mut merged =
            Profile::merge(&now.name, &parts).map_err(|error| ProfileError::Invalid {
                path: self.path.clone(),
                error: invalid(
                    error.field,
                    format!(
                        "{} (what this container learnt cannot be added to the profile in \
                         the store)",
                        error.reason
                    ),
                ),
            })?;
        // Converged: the stored profile was, or this learner (which began from it) saw its
        // database stop changing.
        merged.training.converged_at_epoch = stored
            .as_ref()
            .and_then(|s| s.training.converged_at_epoch)
            .or_else(|| {
                now.training
                    .converged_at_epoch
                    .map(|_| merged.training.epochs)
            });
        merged.training.last_similarity = now.training.last_similarity;
        merged.save(&self.path)?;
        self.saved = now.clone();
        self.recorded = true;
        Ok(merged)
    }

    fn write_error(&self, error: io::Error) -> ProfileError {
        ProfileError::Write {
            path: self.path.clone(),
            error,
        }
    }
}

/// Holds the store's lock until dropped: an exclusive `flock` on the store directory itself, so
/// the store holds nothing but profiles (and, for a moment, a save's temp file).
fn lock(dir: &Path) -> io::Result<Flock<File>> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    Flock::lock(dir, FlockArg::LockExclusive).map_err(|(_, errno)| io::Error::from(errno))
}

/// The profile in the store now, if any. A link is never read through: it is no profile of the
/// store, and the save's rename replaces it.
fn read_stored(path: &Path) -> Result<Option<Profile>, ProfileError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    match file {
        Ok(file) => Profile::read_file(file, path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Ok(None),
        Err(error) => Err(ProfileError::Read {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// What `now` holds beyond `before`, an earlier state of the same learner: frequencies only grow
/// while learning, so the difference of each bag's is what was seen in between.
fn increment(now: &Profile, before: &Profile) -> Profile {
    let earlier: HashMap<_, u64> = before.frequencies();
    let t = &now.training;
    let b = &before.training;
    let mut part = now.clone();
    part.normal_db = now
        .normal_db
        .iter()
        .filter_map(|r| {
            let f = r
                .frequency
                .saturating_sub(earlier.get(&r.bag).copied().unwrap_or(0));
            (f > 0).then(|| DbRecord {
                frequency: f,
                bag: r.bag.clone(),
            })
        })
        .collect();
    part.training.traces = 0;
    part.training.calls = t.calls.saturating_sub(b.calls);
    part.training.windows = t.windows.saturating_sub(b.windows);
    part.training.epochs = t.epochs.saturating_sub(b.epochs);
    part.provenance = Provenance::default();
    part
}

/// `container`'s own run from a learner's provenance (the stored one holds the others already).
fn own_run(provenance: &Provenance, container: &str) -> Provenance {
    let own: Vec<Learner> = provenance
        .learnt_by
        .iter()
        .filter(|l| l.containers.last().map(String::as_str) == Some(container))
        .map(|l| Learner {
            runs: 1,
            containers: vec![container.to_owned()],
            first: l.last.clone(),
            ..l.clone()
        })
        .collect();
    Provenance { learnt_by: own }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::provenance::Workload;
    use crate::testing::trained_profile;

    fn with_run(mut p: Profile, container: &str) -> Profile {
        let workload = Workload {
            engine: "docker".into(),
            image_id: Some("sha256:1".into()),
            ..Workload::default()
        };
        p.provenance
            .record(&workload, container, "2026-11-29T23:00:00Z");
        p
    }

    fn windows(p: &Profile) -> u64 {
        p.normal_db.iter().map(|r| r.frequency).sum()
    }

    #[test]
    fn two_learners_of_one_profile_keep_each_others_windows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        let learnt = trained_profile("web");
        let empty = Profile {
            normal_db: Vec::new(),
            training: Default::default(),
            ..learnt.clone()
        };
        let mut a = SharedSave::new(path.clone(), empty.clone());
        let mut b = SharedSave::new(path.clone(), empty);
        a.save(&with_run(learnt.clone(), "a"), "a").unwrap();
        b.save(&with_run(learnt.clone(), "b"), "b").unwrap();
        let stored = Profile::load(&path).unwrap();
        assert_eq!(windows(&stored), 2 * windows(&learnt));
        assert_eq!(stored.training.traces, 2);
        assert_eq!(stored.training.calls, 2 * learnt.training.calls);
        assert_eq!(stored.provenance.learnt_by[0].runs, 2);
        assert_eq!(stored.provenance.learnt_by[0].containers, ["a", "b"]);

        // A second save of `a` with nothing new adds nothing, and its run is not counted again.
        let again = a.save(&with_run(learnt.clone(), "a"), "a").unwrap();
        assert_eq!(again, stored);
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "the store holds the profile only");
    }

    #[test]
    fn saves_at_the_same_time_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        let learnt = trained_profile("web");
        let savers: Vec<_> = (0..4)
            .map(|i| {
                let (path, learnt) = (path.clone(), learnt.clone());
                std::thread::spawn(move || {
                    let mut now = Profile {
                        normal_db: Vec::new(),
                        training: Default::default(),
                        ..learnt.clone()
                    };
                    let mut s = SharedSave::new(path, now.clone());
                    now.normal_db = learnt.normal_db.clone();
                    for _ in 0..25 {
                        for r in &mut now.normal_db {
                            r.frequency += 1;
                        }
                        now.training.windows += now.normal_db.len() as u64;
                        now.training.calls += now.normal_db.len() as u64;
                        s.save(&now, &format!("c{i}")).unwrap();
                    }
                    now
                })
            })
            .collect();
        let total: u64 = savers
            .into_iter()
            .map(|t| windows(&t.join().unwrap()))
            .sum();
        assert_eq!(windows(&Profile::load(&path).unwrap()), total);
    }

    #[test]
    fn a_link_at_the_name_is_replaced_never_read_or_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("victim"), "host file").unwrap();
        let path = dir.path().join("web.json");
        std::os::unix::fs::symlink(outside.path().join("victim"), &path).unwrap();
        let learnt = trained_profile("web");
        let mut s = SharedSave::new(path.clone(), learnt.clone());
        let mut now = learnt.clone();
        now.normal_db[0].frequency += 1;
        now.training.windows += 1;
        now.training.calls += 1;
        s.save(&now, "c").unwrap();
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(
            std::fs::read_to_string(outside.path().join("victim")).unwrap(),
            "host file"
        );
    }

    #[test]
    fn a_learner_extending_the_stored_profile_adds_only_what_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        let start = trained_profile("web");
        start.save(&path).unwrap();
        let mut now = start.clone();
        now.normal_db[0].frequency += 5;
        now.training.windows += 5;
        now.training.calls += 5;
        let mut s = SharedSave::new(path.clone(), start.clone());
        s.save(&now, "c").unwrap();
        let stored = Profile::load(&path).unwrap();
        assert_eq!(windows(&stored), windows(&start) + 5);
        assert_eq!(stored.training.traces, start.training.traces + 1);
    }

    #[test]
    fn a_profile_of_another_monitor_is_left_alone_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        let mut other = trained_profile("web");
        other.monitor = crate::profile::Monitor::of(crate::backend::MonitorKind::Ptrace);
        other.save(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        let learnt = trained_profile("web");
        let mut s = SharedSave::new(path.clone(), learnt.clone());
        let err = s.save(&learnt, "c").unwrap_err().to_string();
        assert!(err.contains("web.json") && err.contains("monitor"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
