//! How urgent an event is, in the eight levels that syslog (RFC 5424 severities) and Falco share.

use super::events::{ActionTaken, Event, EventKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

impl Priority {
    /// A container killed for what it did is critical; anything else it did outside its profile
    /// is a warning, as is a monitor that died and was started again; a monitor that cannot do its
    /// work is an error; the rest is news.
    pub fn of(event: &Event) -> Priority {
        match (event.kind, event.action) {
            (
                EventKind::Anomaly | EventKind::UnseenSyscall | EventKind::UnseenResource,
                ActionTaken::Killed,
            ) => Priority::Critical,
            (
                EventKind::Anomaly
                | EventKind::UnseenSyscall
                | EventKind::UnseenResource
                | EventKind::LearnRefused,
                _,
            ) => Priority::Warning,
            (EventKind::MonitorError | EventKind::MonitorDied, _) => Priority::Error,
            // The monitor died and another took over: worth a look, nothing was lost to the container.
            (EventKind::MonitorRestarted, _) => Priority::Warning,
            (EventKind::DatabaseFull | EventKind::MonitorChosen, _) => Priority::Notice,
            (EventKind::ModeSwitch, _) => Priority::Informational,
        }
    }

    /// The syslog severity: 0 (emergency) to 7 (debug).
    pub fn severity(self) -> u8 {
        self as u8
    }

    /// The name Falco writes in `priority`.
    pub fn falco_name(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_syslogs() {
        assert_eq!(Priority::Emergency.severity(), 0);
        assert_eq!(Priority::Warning.severity(), 4);
        assert_eq!(Priority::Debug.severity(), 7);
    }
}
