//! Carrying out what the policy decided: the event (written durably before a kill), the denial, the
//! kill of the container's init, which takes every process of its pid namespace with it.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Guard;
use crate::policy::Action;
use crate::record::events::{ActionTaken, Event, EventKind};

impl Guard {
    pub(super) fn event(&self, kind: EventKind) -> Event {
        let mut event = Event::now(
            &self.settings.container,
            &self.settings.profile_name,
            self.current_mode(),
            self.settings.monitor,
            kind,
        );
        event.pid = self.init_pid;
        event
    }

    pub(super) fn emit(&mut self, event: Event, durable: bool) {
        self.counters.events += 1;
        log::warn!(
            "event: {}",
            serde_json::to_string(&event).unwrap_or_default()
        );
        if let Err(e) = self.events.write(&event, durable) {
            self.counters.event_errors += 1;
            log::error!("{e}");
        }
    }

    /// Kills the container: SIGKILL to its init, which takes every process of its pid namespace.
    fn kill_container(&mut self) -> ActionTaken {
        let Some(pid) = self.init_pid else {
            log::error!(
                "cannot kill container {}: its init pid is unknown",
                self.settings.container
            );
            return ActionTaken::Logged;
        };
        match kill(Pid::from_raw(pid as i32), Signal::SIGKILL) {
            Ok(()) => {
                self.counters.kills += 1;
                self.killed = true;
                ActionTaken::Killed
            }
            Err(e) => {
                log::error!("cannot kill container init {pid}: {e}");
                ActionTaken::Logged
            }
        }
    }

    /// Carries out `action` for `event`. The event is written before a kill, durably, so that the
    /// reason for a killed container is on disk even if the host goes down right after.
    pub(super) fn act(&mut self, action: Action, mut event: Event) {
        event.action = match action {
            Action::Pass => return,
            Action::Log => ActionTaken::Logged,
            Action::Deny => ActionTaken::Denied,
            Action::Kill => ActionTaken::Killed,
        };
        if action == Action::Kill {
            if self.killed {
                return;
            }
            self.emit(event, true);
            self.kill_container();
        } else {
            self.emit(event, false);
        }
    }
}
