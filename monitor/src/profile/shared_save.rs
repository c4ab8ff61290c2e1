//! Saving into a profile that other learners save into at the same time: every container of one
//! image learns into the profile named after the image, and two of them may run at once.
//!
//! Writing the whole of what one learner holds would drop what the other saved meanwhile (the
//! last writer would win). So each save takes the store's lock, reads the profile as it is now,
//! adds to it only what this learner learnt since its own last save (bag frequencies, calls,
//! windows, epochs; its run once, in the provenance), and writes the sum atomically. Whatever the
//! order of the saves, the file ends up with every learner's windows, each counted once. Between
//! saves the learner keeps only bag ids and counts (a [`Snapshot`]), not a second profile.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ids_detector::detector::Detector;
use nix::fcntl::{Flock, FlockArg};

use super::error::invalid;
use super::provenance::{Learner, Provenance};
use super::{Profile, ProfileError, Snapshot};
use crate::backend::MonitorKind;
use crate::policy::Policy;
use crate::resource::ResourceSet;

/// One learner's saves into a profile of the store.
#[derive(Debug)]
pub struct SharedSave {
    path: PathBuf,
    /// What this learner held at its last save; at first, what it started from.
    saved: Snapshot,
    /// Whether this learner's run is in the stored provenance already.
    recorded: bool,
}

/// Who saves: what the saved profile says of the learner.
#[derive(Debug, Clone, Copy)]
pub struct Saver<'a> {
    pub profile_name: &'a str,
    /// The monitor the profile is for.
    pub monitor: MonitorKind,
    pub policy: Policy,
    /// The learner's provenance, its own run (container `container`) included.
    pub provenance: &'a Provenance,
    pub container: &'a str,
    /// What the learner has seen the container touch, whole (a union adds it once).
    pub resources: Option<&'a ResourceSet>,
}

impl SharedSave {
    /// Saves to `path` of a learner whose detector starts as `start` (from the profile it
    /// extends, or empty).
    pub fn new(path: PathBuf, start: &Detector) -> SharedSave {
        SharedSave {
            path,
            saved: Snapshot::of(start),
            recorded: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds what `detector` learnt since the last save to the file, under the store's lock;
    /// returns what was written.
    pub fn save(&mut self, detector: &Detector, saver: Saver) -> Result<Profile, ProfileError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|error| self.write_error(error))?;
        let _lock = lock(dir).map_err(|error| self.write_error(error))?;
        let stored = read_stored(&self.path)?;
        let mut increment = Profile::increment_from_detector(
            saver.profile_name,
            saver.monitor,
            saver.policy,
            detector,
            &self.saved,
        );
        increment.resources = saver.resources.cloned();
        if !self.recorded {
            increment.training.traces = 1;
            increment.provenance = own_run(saver.provenance, saver.container);
        }
        let converged = increment.training.converged_at_epoch.is_some();
        let last_similarity = increment.training.last_similarity;
        let parts: Vec<Profile> = stored.iter().cloned().chain([increment]).collect();
        let mut merged =
            Profile::merge(saver.profile_name, &parts).map_err(|error| ProfileError::Invalid {
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
            .or(converged.then_some(merged.training.epochs));
        merged.training.last_similarity = last_similarity;
        merged.save(&self.path)?;
        self.saved = Snapshot::of(detector);
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
    use ids_detector::alphabet::Alphabet;
    use ids_detector::detector::Detector;

    use super::*;
    use crate::profile::provenance::Workload;
    use crate::testing::{trained_detector, trained_profile};

    const CYCLE: [&str; 4] = ["openat", "read", "close", "exit_group"];

    fn provenance(container: &str) -> Provenance {
        let workload = Workload {
            engine: "docker".into(),
            image_id: Some("sha256:1".into()),
            ..Workload::default()
        };
        let mut p = Provenance::default();
        p.record(&workload, container, "2026-11-29T23:00:00Z");
        p
    }

    fn save(s: &mut SharedSave, d: &Detector, monitor: MonitorKind, container: &str) -> Profile {
        let provenance = provenance(container);
        s.save(
            d,
            Saver {
                profile_name: "web",
                monitor,
                policy: Policy::default(),
                provenance: &provenance,
                container,
                resources: None,
            },
        )
        .unwrap()
    }

    /// A learning detector, empty, as trained_detector's parameters.
    fn learner() -> Detector {
        Detector::new(*trained_detector().parameters())
    }

    fn feed(d: &mut Detector, calls: usize) {
        let alphabet = Alphabet::system();
        for name in CYCLE.iter().cycle().take(calls) {
            d.observe(1, alphabet.sym_by_name(name).unwrap());
        }
    }

    fn windows(p: &Profile) -> u64 {
        p.normal_db.iter().map(|r| r.frequency).sum()
    }

    #[test]
    fn two_learners_of_one_profile_keep_each_others_windows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        let (mut a, mut b) = (learner(), learner());
        let mut sa = SharedSave::new(path.clone(), &a);
        let mut sb = SharedSave::new(path.clone(), &b);
        feed(&mut a, 40);
        feed(&mut b, 20);
        save(&mut sa, &a, MonitorKind::SeccompNotify, "a");
        save(&mut sb, &b, MonitorKind::SeccompNotify, "b");
        let stored = Profile::load(&path).unwrap();
        let learnt = a.training_record().windows + b.training_record().windows;
        assert_eq!(windows(&stored), learnt);
        assert_eq!(stored.training.windows, learnt);
        assert_eq!(stored.training.traces, 2);
        assert_eq!(stored.provenance.learnt_by[0].runs, 2);
        assert_eq!(stored.provenance.learnt_by[0].containers, ["a", "b"]);

        // A second save of `a` with nothing new adds nothing, and its run is not counted again.
        let again = save(&mut sa, &a, MonitorKind::SeccompNotify, "a");
        assert_eq!(again, stored);
        // More of `a` adds just that.
        feed(&mut a, 8);
        let more = save(&mut sa, &a, MonitorKind::SeccompNotify, "a");
        assert_eq!(windows(&more), learnt + 8);
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "the store holds the profile only");
    }

    #[test]
    fn saves_at_the_same_time_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        let savers: Vec<_> = (0..4)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut d = learner();
                    let mut s = SharedSave::new(path, &d);
                    for _ in 0..25 {
                        feed(&mut d, 7);
                        save(&mut s, &d, MonitorKind::SeccompNotify, &format!("c{i}"));
                    }
                    d.training_record().windows
                })
            })
            .collect();
        let total: u64 = savers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(windows(&Profile::load(&path).unwrap()), total);
    }

    #[test]
    fn a_learner_extending_the_stored_profile_adds_only_what_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        let start = trained_profile("web");
        start.save(&path).unwrap();
        let mut d = start.detector().unwrap();
        d.set_mode(ids_detector::detector::Mode::Learn);
        let mut s = SharedSave::new(path.clone(), &d);
        feed(&mut d, 12);
        save(&mut s, &d, MonitorKind::SeccompNotify, "c");
        let stored = Profile::load(&path).unwrap();
        assert_eq!(
            windows(&stored),
            windows(&start) + d.training_record().windows - start.training.windows
        );
        assert_eq!(stored.training.traces, start.training.traces + 1);
    }

    #[test]
    fn a_link_at_the_name_is_replaced_never_read_or_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("victim"), "host file").unwrap();
        let path = dir.path().join("web.json");
        std::os::unix::fs::symlink(outside.path().join("victim"), &path).unwrap();
        let mut d = learner();
        let mut s = SharedSave::new(path.clone(), &d);
        feed(&mut d, 8);
        save(&mut s, &d, MonitorKind::SeccompNotify, "c");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(
            std::fs::read_to_string(outside.path().join("victim")).unwrap(),
            "host file"
        );
    }

    #[test]
    fn a_profile_of_another_monitor_is_left_alone_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        trained_profile("web").save(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        let mut d = learner();
        let mut s = SharedSave::new(path.clone(), &d);
        feed(&mut d, 8);
        let provenance = provenance("c");
        let err = s
            .save(
                &d,
                Saver {
                    profile_name: "web",
                    monitor: MonitorKind::Ptrace,
                    policy: Policy::default(),
                    provenance: &provenance,
                    container: "c",
                    resources: None,
                },
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("web.json") && err.contains("monitor"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
