//! Events: what a monitor reports to people, one JSON object per line in an append-only file
//! (default `/var/log/ids-runc/events.jsonl`). Every monitor on the host appends to the same file;
//! each event is written with a single `write` on an `O_APPEND` file, so lines never interleave.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::json_lines::ReadError;

use crate::backend::MonitorKind;
use crate::mode::Mode;

pub const DEFAULT_PATH: &str = "/var/log/ids-runc/events.jsonl";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// An epoch's mismatches passed the threshold.
    Anomaly,
    /// A syscall never seen in training was made.
    UnseenSyscall,
    /// The monitor switched from learning to detection.
    ModeSwitch,
    /// The monitor could not do its work (a profile it could not save, an event it could not
    /// write, a kill that failed).
    MonitorError,
    /// The normal database reached its size limit: learning adds no new bag from now on.
    DatabaseFull,
    /// A container's monitor is gone while the container still exists (noticed by `inspect` or
    /// `delete`).
    MonitorDied,
    /// A container was refused learning into a profile bound to another workload (written by
    /// `create`, which then fails).
    LearnRefused,
    /// The container is watched by another monitor than it asked for (its own seccomp agent
    /// leaves only ptrace); the message says why.
    MonitorChosen,
    /// The seccomp-notify monitor died and its keeper started another, which took the container's
    /// notify fds over; `waited_ms` says how long the container's monitored calls waited.
    MonitorRestarted,
}

impl EventKind {
    /// The name the events file uses.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Anomaly => "anomaly",
            EventKind::UnseenSyscall => "unseen-syscall",
            EventKind::ModeSwitch => "mode-switch",
            EventKind::MonitorError => "monitor-error",
            EventKind::DatabaseFull => "database-full",
            EventKind::MonitorDied => "monitor-died",
            EventKind::LearnRefused => "learn-refused",
            EventKind::MonitorChosen => "monitor-chosen",
            EventKind::MonitorRestarted => "monitor-restarted",
        }
    }
}

/// What the monitor did about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionTaken {
    None,
    Logged,
    Denied,
    Killed,
}

impl ActionTaken {
    /// The name the events file uses.
    pub fn name(self) -> &'static str {
        match self {
            ActionTaken::None => "none",
            ActionTaken::Logged => "logged",
            ActionTaken::Denied => "denied",
            ActionTaken::Killed => "killed",
        }
    }
}

/// One event. Fields that do not apply to a kind are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339, UTC.
    pub time: String,
    pub container: String,
    pub profile: String,
    /// The container's mode when it happened; a learn-detect container's events say which of the
    /// two it was doing.
    pub mode: Mode,
    pub monitor: MonitorKind,
    pub kind: EventKind,
    pub action: ActionTaken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatches: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<u32>,
    /// The mismatch count the epoch could reach without being anomalous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The first unknown bags of the epoch, as `name×count` lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unseen_bags: Vec<String>,
    /// Syscalls involved: the unseen syscall, or those of the unknown windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<String>,
    /// The container's init process (host pid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The thread that made the call (host tid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<u32>,
    /// That thread's name (`/proc/<tid>/comm`), which the container chooses: print it escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How long the container's monitored calls waited for a monitor (`monitor-restarted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_ms: Option<u64>,
}

impl Event {
    /// An event of `kind` stamped now, with no details yet.
    pub fn now(
        container: &str,
        profile: &str,
        mode: Mode,
        monitor: MonitorKind,
        kind: EventKind,
    ) -> Event {
        Event {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            container: container.into(),
            profile: profile.into(),
            mode,
            monitor,
            kind,
            action: ActionTaken::None,
            epoch: None,
            mismatches: None,
            windows: None,
            threshold: None,
            unseen_bags: Vec::new(),
            syscalls: Vec::new(),
            pid: None,
            tid: None,
            process: None,
            message: None,
            waited_ms: None,
        }
    }
}

/// Failure to record an event.
#[derive(Debug, thiserror::Error)]
#[error("cannot write event to {path}: {source}")]
pub struct EventLogError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// The append-only events file.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    file: Option<File>,
}

impl EventLog {
    /// Opens (lazily, at the first event) `path`, creating its directory.
    pub fn new(path: &Path) -> EventLog {
        EventLog {
            path: path.to_owned(),
            file: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` as one line. `durable` flushes it to disk before returning: an event that
    /// explains a kill must survive the kill and a crash right after.
    pub fn write(&mut self, event: &Event, durable: bool) -> Result<(), EventLogError> {
        let err = |source| EventLogError {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(event).map_err(|e| err(io::Error::other(e)))?;
        line.push(b'\n');
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(err)?;
            self.file = Some(file);
        }
        let file = self.file.as_mut().expect("opened above");
        file.write_all(&line).map_err(err)?;
        if durable {
            file.sync_data().map_err(err)?;
        }
        Ok(())
    }
}

/// Reads every event of a file; a line that is not an event is an error naming file and line.
pub fn read_all(path: &Path) -> Result<Vec<Event>, ReadError> {
    super::json_lines::read_all(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/events.jsonl");
        let mut log = EventLog::new(&path);
        let mut e = Event::now(
            "c1",
            "p",
            Mode::Detect,
            MonitorKind::SeccompNotify,
            EventKind::Anomaly,
        );
        e.epoch = Some(3);
        e.action = ActionTaken::Killed;
        log.write(&e, true).unwrap();
        log.write(&e, false).unwrap();
        let back = read_all(&path).unwrap();
        assert_eq!(back, vec![e.clone(), e]);
        let line = std::fs::read_to_string(&path).unwrap();
        assert!(line.contains("\"kind\":\"anomaly\"") && line.contains("\"action\":\"killed\""));
        assert!(!line.contains("tid"), "absent fields are left out: {line}");
    }

    #[test]
    fn names_are_the_serialised_names() {
        for kind in [
            EventKind::Anomaly,
            EventKind::UnseenSyscall,
            EventKind::ModeSwitch,
            EventKind::MonitorError,
            EventKind::DatabaseFull,
            EventKind::MonitorDied,
            EventKind::LearnRefused,
            EventKind::MonitorChosen,
            EventKind::MonitorRestarted,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
        for action in [
            ActionTaken::None,
            ActionTaken::Logged,
            ActionTaken::Denied,
            ActionTaken::Killed,
        ] {
            assert_eq!(serde_json::to_value(action).unwrap(), action.name());
        }
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "{\"nope\":1}\n").unwrap();
        let err = read_all(&path).unwrap_err().to_string();
        assert!(err.contains("events.jsonl:1"), "{err}");
    }
}
