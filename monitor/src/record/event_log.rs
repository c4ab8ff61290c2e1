//! The events file and the other places each event goes (Falco's format, syslog): one writer per
//! monitor or command, appending whole lines.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::append_file::AppendFile;
use super::event_sinks::EventSinks;
use super::events::Event;
use super::syslog::Syslog;

/// Failure to record an event.
#[derive(Debug, thiserror::Error)]
#[error("cannot write event to {path}: {source}")]
pub struct EventLogError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// The append-only events file, and the sinks that also get each event.
#[derive(Debug)]
pub struct EventLog {
    file: AppendFile,
    falco: Option<(AppendFile, String)>,
    syslog: Option<Syslog>,
}

impl EventLog {
    /// Opens (lazily, at the first event) `path`, creating its directory.
    pub fn new(path: &Path) -> EventLog {
        EventLog {
            file: AppendFile::new(path),
            falco: None,
            syslog: None,
        }
    }

    /// Also sends each event where `sinks` says.
    pub fn with_sinks(mut self, sinks: &EventSinks) -> EventLog {
        self.falco = sinks
            .falco_path
            .as_ref()
            .map(|path| (AppendFile::new(path), super::falco::hostname()));
        self.syslog = sinks.syslog.clone().map(Syslog::new);
        self
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Appends `event` as one line, then hands it to the other sinks. `durable` flushes the files
    /// to disk before returning: an event that explains a kill must survive the kill and a crash
    /// right after. Every sink is tried; the first failure is returned.
    pub fn write(&mut self, event: &Event, durable: bool) -> Result<(), EventLogError> {
        let mut result = Self::append(&mut self.file, event, durable);
        if let Some((file, hostname)) = &mut self.falco {
            let alert = super::falco::alert(event, hostname);
            result = result.and(Self::append(file, &alert, durable));
        }
        if let Some(syslog) = &mut self.syslog {
            let sent = syslog.send(event).map_err(|source| EventLogError {
                path: syslog.socket_path().to_owned(),
                source,
            });
            result = result.and(sent);
        }
        result
    }

    fn append(
        file: &mut AppendFile,
        value: &impl Serialize,
        durable: bool,
    ) -> Result<(), EventLogError> {
        let mut line = serde_json::to_vec(value).map_err(io::Error::other);
        if let Ok(line) = &mut line {
            line.push(b'\n');
        }
        line.and_then(|line| file.append(&line, durable))
            .map_err(|source| EventLogError {
                path: file.path().to_owned(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MonitorKind;
    use crate::mode::Mode;
    use crate::record::events::{read_all, ActionTaken, EventKind};

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
}
