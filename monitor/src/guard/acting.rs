//! Carrying out what the policy decided: the event (written durably before a kill), the denial, the
//! kill of the container's init, which takes every process of its pid namespace with it.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Guard;
use crate::backend::sink::Admission;
use crate::policy::Action;
use crate::record::events::{ActionTaken, Event, EventKind};

/// The thread of the epoch's first unknown window, named while it lived: a verdict may come after
/// it is gone (an epoch ended by time, after a short-lived attack).
#[derive(Debug, Clone)]
pub(super) struct Suspect {
    tid: u32,
    comm: Option<String>,
    exe: Option<String>,
}

impl Suspect {
    /// Reads what `tid` is now.
    pub(super) fn of(tid: u32) -> Suspect {
        Suspect {
            tid,
            comm: thread_name(tid),
            exe: executable(tid),
        }
    }

    pub(super) fn tid(&self) -> u32 {
        self.tid
    }
}

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
    /// What a call the profile never saw (a syscall, a resource) gets: its event the first time,
    /// or every time under kill, then EPERM under deny and kill, else it goes on.
    pub(super) fn refuse_unseen(
        &mut self,
        action: Action,
        first: bool,
        event: impl FnOnce(&Guard) -> Event,
    ) -> Admission {
        if first || action == Action::Kill {
            let event = event(self);
            self.act(action, event);
        }
        match action {
            Action::Deny | Action::Kill => {
                self.counters.denied += 1;
                Admission::Deny(libc::EPERM)
            }
            Action::Pass | Action::Log => Admission::Continue,
        }
    }

    pub(super) fn act(&mut self, action: Action, mut event: Event) {
        event.action = match action {
            Action::Pass => return,
            Action::Log => ActionTaken::Logged,
            Action::Deny => ActionTaken::Denied,
            Action::Kill => ActionTaken::Killed,
        };
        if let Some(tid) = event.tid {
            let seen = self.suspect.as_ref().filter(|s| s.tid == tid);
            event.process = thread_name(tid).or_else(|| seen.and_then(|s| s.comm.clone()));
            event.exe = executable(tid).or_else(|| seen.and_then(|s| s.exe.clone()));
        }
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

/// The name of thread `tid` (host tid), while it is stopped in the call being reported or, for an
/// epoch's verdict, while it still lives.
fn thread_name(tid: u32) -> Option<String> {
    let comm = std::fs::read(format!("/proc/{tid}/comm")).ok()?;
    let comm = comm.strip_suffix(b"\n").unwrap_or(&comm);
    Some(String::from_utf8_lossy(comm).into_owned())
}

/// The program thread `tid` runs (host tid), as the kernel names it from the reader's root: the
/// path inside the container when its root is not below ours. Absent once the thread is gone.
fn executable(tid: u32) -> Option<String> {
    let path = std::fs::read_link(format!("/proc/{tid}/exe")).ok()?;
    Some(path.to_string_lossy().into_owned())
}
