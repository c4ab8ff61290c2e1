//! Policy: the only place that turns what the detector found into what is done about it.

use crate::detector::Verdict;
use crate::profile::{AnomalyAction, Policy, UnseenSyscallAction};

/// What the monitor must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to report.
    Pass,
    /// Write an event; the container goes on.
    Log,
    /// Fail the call with EPERM, write an event; the container goes on.
    Deny,
    /// Write the event (durably), then kill the container.
    Kill,
}

impl Policy {
    /// For the verdict of an epoch.
    pub fn on_verdict(&self, verdict: &Verdict) -> Action {
        if !verdict.anomalous {
            return Action::Pass;
        }
        match self.on_anomaly {
            AnomalyAction::Log => Action::Log,
            AnomalyAction::Kill => Action::Kill,
        }
    }

    /// For a syscall never seen in training, before it runs.
    pub fn on_unseen(&self) -> Action {
        match self.on_unseen_syscall {
            UnseenSyscallAction::Ignore => Action::Pass,
            UnseenSyscallAction::Log => Action::Log,
            UnseenSyscallAction::Deny => Action::Deny,
            UnseenSyscallAction::Kill => Action::Kill,
        }
    }
}
