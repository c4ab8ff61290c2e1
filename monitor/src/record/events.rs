//! Events: what a monitor reports to people, one JSON object per line in an append-only file
//! (default `/var/log/ids-runc/events.jsonl`). Every monitor on the host appends to the same file;
//! each event is written with a single `write` on an `O_APPEND` file, so lines never interleave,
//! and each writer follows the file when logrotate renames it (`append_file.rs`). The host config
//! may also send each event to syslog and to a file in Falco's format (`event_sinks.rs`).

use std::path::Path;

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
    /// A resource never seen in training was touched (a file written or read, a program run, a
    /// port bound...): `resource` names it.
    UnseenResource,
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
            EventKind::UnseenResource => "unseen-resource",
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
    /// With the back-off scorer, the epoch's surprise (nats, summed over its windows): the
    /// threshold then bounds it, and the mismatches are its surprising calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surprise: Option<f64>,
    /// The first unknown bags of the epoch, each once, as multisets read most frequent first
    /// (`openat×4 read×3 close×2 socket`).
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
    /// The resource of an `unseen-resource` event, as the call named it: its kind and what
    /// (`write /var/lib/x`, `exec /bin/nc`, `bind inet:4444`). Read from the container: print it
    /// escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// That thread's executable (`/proc/<tid>/exe`), a path the container chooses: print it
    /// escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
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
            surprise: None,
            unseen_bags: Vec::new(),
            syscalls: Vec::new(),
            pid: None,
            tid: None,
            process: None,
            resource: None,
            exe: None,
            message: None,
            waited_ms: None,
        }
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
    fn names_are_the_serialised_names() {
        for kind in [
            EventKind::Anomaly,
            EventKind::UnseenSyscall,
            EventKind::UnseenResource,
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
