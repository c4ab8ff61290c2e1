//! Retention of the runs dir (`/var/lib/ids-runc/runs`): each monitor leaves its container's
//! epoch records and last counters there (`<id>.epochs.jsonl`, `<id>.final.json`) for reports,
//! and nothing else ever removes them. `create` prunes it: the files of containers that ended
//! more than `runs_max_age_days` ago go, then those that ended first until the directory holds at
//! most `runs_max_bytes`. A container that still exists (it has a state dir) keeps its files,
//! whatever their age or size.
//!
//! One `create` prunes at a time (an advisory lock on `.retention.lock` in the directory; a
//! `create` that finds it taken skips pruning). Only files named as a monitor names them are
//! looked at; anything else in the directory is left alone.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::fcntl::{Flock, FlockArg};

/// The files a monitor leaves for a container, by the suffix after its id.
const RUN_FILE_SUFFIXES: [&str; 2] = [".epochs.jsonl", ".final.json"];
const LOCK_NAME: &str = ".retention.lock";
/// A file written this recently belongs to a container that may have just started under an
/// old id: never removed.
const RECENT: Duration = Duration::from_secs(60);

pub const DEFAULT_MAX_AGE_DAYS: u64 = 30;
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// What to keep: `None` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
}

impl Retention {
    /// From the host config's keys; 0 turns a limit off.
    pub fn from_config(max_age_days: Option<u64>, max_bytes: Option<u64>) -> Retention {
        let days = max_age_days.unwrap_or(DEFAULT_MAX_AGE_DAYS);
        let bytes = max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
        Retention {
            max_age: (days > 0).then(|| Duration::from_secs(days.saturating_mul(86_400))),
            max_bytes: (bytes > 0).then_some(bytes),
        }
    }
}

/// What a prune removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub containers: usize,
    pub bytes: u64,
}

/// One container's files in the directory.
#[derive(Debug, Default)]
struct Run {
    files: Vec<PathBuf>,
    bytes: u64,
    last_written: Option<SystemTime>,
}

/// Prunes `dir` as `retention` says, keeping the files of every container `exists` names (asked
/// again just before its files would go). A missing directory, or one another `create` is
/// pruning, is left as it is.
pub fn prune(
    dir: &Path,
    retention: Retention,
    now: SystemTime,
    exists: impl Fn(&str) -> bool,
) -> io::Result<Pruned> {
    let mut pruned = Pruned::default();
    if retention.max_age.is_none() && retention.max_bytes.is_none() {
        return Ok(pruned);
    }
    let Some(_lock) = lock(dir)? else {
        return Ok(pruned);
    };
    let runs = runs_in(dir)?;
    let mut total: u64 = runs.values().map(|r| r.bytes).sum();
    let mut oldest_first: Vec<(&String, &Run)> = runs.iter().collect();
    oldest_first.sort_by_key(|(_, run)| run.last_written);
    for (id, run) in oldest_first {
        let age = run
            .last_written
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default();
        let expired = retention.max_age.is_some_and(|max| age > max);
        let over = retention.max_bytes.is_some_and(|max| total > max);
        if !(expired || over) || age < RECENT || exists(id) {
            continue;
        }
        for file in &run.files {
            match std::fs::remove_file(file) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        total -= run.bytes;
        pruned.containers += 1;
        pruned.bytes += run.bytes;
    }
    Ok(pruned)
}

/// The directory's lock, or `None` when another process holds it or there is no directory.
fn lock(dir: &Path) -> io::Result<Option<Flock<File>>> {
    let file = match OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_NAME))
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e.into()),
    }
}

/// The monitor files of `dir`, grouped by container id.
fn runs_in(dir: &Path) -> io::Result<BTreeMap<String, Run>> {
    let mut runs: BTreeMap<String, Run> = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(id) = RUN_FILE_SUFFIXES
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|id| !id.is_empty())
        else {
            continue;
        };
        let meta = match entry.metadata() {
            Ok(meta) if meta.is_file() => meta,
            _ => continue,
        };
        let run = runs.entry(id.to_owned()).or_default();
        run.files.push(entry.path());
        run.bytes += meta.len();
        let written = meta.modified().ok();
        run.last_written = run.last_written.max(written);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    /// Writes `<id>.epochs.jsonl` and `<id>.final.json` of `bytes` each, last written `age` ago.
    fn run(dir: &Path, id: &str, bytes: usize, age: Duration) {
        let when = SystemTime::now() - age;
        for suffix in RUN_FILE_SUFFIXES {
            let path = dir.join(format!("{id}{suffix}"));
            std::fs::write(&path, vec![b'x'; bytes]).unwrap();
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != LOCK_NAME)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn old_runs_go_and_running_containers_stay() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), "old", 10, 40 * DAY);
        run(dir.path(), "old-but-running", 10, 40 * DAY);
        run(dir.path(), "young", 10, DAY);
        std::fs::write(dir.path().join("notes.txt"), "not ours").unwrap();
        let retention = Retention::from_config(None, None);
        let pruned = prune(dir.path(), retention, SystemTime::now(), |id| {
            id == "old-but-running"
        })
        .unwrap();
        assert_eq!(
            pruned,
            Pruned {
                containers: 1,
                bytes: 20
            }
        );
        assert_eq!(
            names(dir.path()),
            [
                "notes.txt",
                "old-but-running.epochs.jsonl",
                "old-but-running.final.json",
                "young.epochs.jsonl",
                "young.final.json"
            ]
        );
    }

    #[test]
    fn the_oldest_go_first_until_the_size_fits() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), "a", 100, 3 * DAY);
        run(dir.path(), "b", 100, 2 * DAY);
        run(dir.path(), "c", 100, DAY);
        let retention = Retention::from_config(Some(0), Some(250));
        let pruned = prune(dir.path(), retention, SystemTime::now(), |_| false).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                containers: 2,
                bytes: 400
            }
        );
        assert_eq!(names(dir.path()), ["c.epochs.jsonl", "c.final.json"]);
    }

    #[test]
    fn a_run_written_a_moment_ago_is_kept_even_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), "new", 100, Duration::ZERO);
        let retention = Retention::from_config(Some(0), Some(1));
        let pruned = prune(dir.path(), retention, SystemTime::now(), |_| false).unwrap();
        assert_eq!(pruned, Pruned::default());
        assert_eq!(names(dir.path()).len(), 2);
    }

    #[test]
    fn a_held_lock_or_no_directory_prunes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), "old", 10, 40 * DAY);
        let retention = Retention::from_config(None, None);
        let held = lock(dir.path()).unwrap().expect("first lock");
        let pruned = prune(dir.path(), retention, SystemTime::now(), |_| false).unwrap();
        assert_eq!(pruned, Pruned::default());
        drop(held);
        let pruned = prune(dir.path(), retention, SystemTime::now(), |_| false).unwrap();
        assert_eq!(pruned.containers, 1);
        let missing = dir.path().join("none");
        assert_eq!(
            prune(&missing, retention, SystemTime::now(), |_| false).unwrap(),
            Pruned::default()
        );
    }

    #[test]
    fn zero_turns_both_limits_off() {
        assert_eq!(
            Retention::from_config(Some(0), Some(0)),
            Retention {
                max_age: None,
                max_bytes: None
            }
        );
        let d = Retention::from_config(None, None);
        assert_eq!(d.max_age, Some(30 * DAY));
        assert_eq!(d.max_bytes, Some(1 << 30));
    }
}
