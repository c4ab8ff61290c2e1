//! The policy: the one place that turns what was found (an anomalous epoch, a call never seen in
//! training) into what is done about it. A profile carries its policy; the guard asks it.
//!
//! Two things count as an anomaly, decided in two steps that meet here: the detector judges each
//! epoch of windows against the threshold (a [`Verdict`]), and the guard, before a call runs, asks
//! whether its syscall was ever seen in training. Each has its own action.

use ids_detector::detector::Verdict;
use serde::{Deserialize, Serialize};

/// What to do about a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub on_anomaly: AnomalyAction,
    pub on_unseen_syscall: UnseenSyscallAction,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            on_anomaly: AnomalyAction::Log,
            on_unseen_syscall: UnseenSyscallAction::Log,
        }
    }
}

/// Action on an anomalous epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyAction {
    /// Write an event.
    Log,
    /// Write an event and kill the container.
    Kill,
}

/// Action on a syscall never seen in training, before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnseenSyscallAction {
    /// Let it run; only the bag statistics see it.
    Ignore,
    /// Let it run and write an event.
    Log,
    /// Kill the container.
    Kill,
    /// Fail the call with EPERM and write an event.
    Deny,
}

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
