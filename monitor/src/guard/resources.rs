//! The guard's part of resources: reading the few calls that name one, learning them while
//! learning, judging them before the call runs while detecting.
//!
//! Every other call costs one array lookup here. A call that names a resource costs a read of the
//! caller's memory and a lookup in the set; a resource not in the set, before it is learnt or acted
//! on, also a check that the call still waits (under seccomp notify: what was read from a pid that
//! was reused meanwhile is not the container's). Nothing is allocated unless the resource is new.

use std::collections::HashSet;

use serde::Serialize;

use ids_detector::detector::Mode;

use super::Guard;
use crate::backend::sink::{Admission, CallerMemory, Syscall};
use crate::policy::Action;
use crate::record::events::EventKind;
use crate::resource::{Learnt, ResourceCalls, ResourceSet, Scratch};

/// Distinct unseen resources reported with an event each (under `log` and `deny`); past it, only
/// the counter grows.
const MAX_REPORTED: usize = 1024;

/// What the guard did with resources, for `inspect`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ResourceCounters {
    /// Calls whose resource was read.
    pub read: u64,
    /// Calls naming a resource that could not be read (a bad pointer: the call fails by itself).
    pub unreadable: u64,
    /// Calls gone (the task died or was interrupted) by the time their arguments were read.
    pub gone: u64,
    /// Resources learnt; of them, scopes widened to any name; and new ones refused by a full set.
    pub learnt: u64,
    pub widened: u64,
    pub full: u64,
    /// Calls that touched a resource the profile never saw.
    pub unseen: u64,
}

pub(super) struct Resources {
    calls: ResourceCalls,
    /// What is learnt, or judged against. `None` while detecting with a profile that learnt no
    /// resources (format 1): then none is judged.
    pub(super) set: Option<ResourceSet>,
    scratch: Scratch,
    reported: HashSet<String>,
    counters: ResourceCounters,
}

impl Resources {
    pub(super) fn new(calls: ResourceCalls, learning: bool) -> Resources {
        Resources {
            calls,
            set: learning.then(ResourceSet::default),
            scratch: Scratch::default(),
            reported: HashSet::new(),
            counters: ResourceCounters::default(),
        }
    }
}

impl Guard {
    /// Judges (or learns) the resource `call` names, before it runs.
    pub(super) fn admit_resource(
        &mut self,
        call: &Syscall,
        memory: &dyn CallerMemory,
    ) -> Admission {
        let Some(sym) = self.sym(call) else {
            return Admission::Continue;
        };
        if !self.resources.calls.names_resource(sym) {
            return Admission::Continue;
        }
        let learning = self.detector.mode() == Mode::Learn;
        let action = self.settings.policy.on_unseen();
        if !learning && (self.resources.set.is_none() || action == Action::Pass) {
            return Admission::Continue;
        }
        if self.is_runc(call, sym) {
            return Admission::Continue;
        }
        let r = &mut self.resources;
        let Some(kind) = r.calls.read(sym, call, memory, &mut r.scratch) else {
            r.counters.unreadable += 1;
            return Admission::Continue;
        };
        let set = r.set.get_or_insert_with(ResourceSet::default);
        // A known resource is neither learnt again nor acted on, whoever's memory was read: only
        // a new one needs the kernel's word that the call still waits, which saves an ioctl on
        // nearly every call read.
        if set.contains(kind, &r.scratch.key) {
            r.counters.read += 1;
            return Admission::Continue;
        }
        if !memory.still_waiting() {
            r.counters.gone += 1;
            return Admission::Continue;
        }
        r.counters.read += 1;
        if learning {
            match set.learn(kind, &r.scratch.key) {
                Learnt::Known => {}
                Learnt::Added => r.counters.learnt += 1,
                Learnt::Widened => {
                    r.counters.learnt += 1;
                    r.counters.widened += 1;
                }
                Learnt::Full => r.counters.full += 1,
            }
            return Admission::Continue;
        }
        r.counters.unseen += 1;
        let described = format!("{} {}", kind.name(), r.scratch.raw);
        let first = r.reported.len() < MAX_REPORTED && r.reported.insert(described.clone());
        self.refuse_unseen(action, first, |guard| {
            let mut event = guard.event(EventKind::UnseenResource);
            event.resource = Some(described);
            event.syscalls = vec![guard.alphabet.name(sym).to_string()];
            event.tid = Some(call.pid);
            event
        })
    }

    /// Starts from the resources a profile learnt: judged while detecting, extended while
    /// learning. A profile without any (`None`) leaves detection without resources to judge.
    pub fn with_resources(mut self, learnt: Option<ResourceSet>) -> Guard {
        if let Some(set) = learnt {
            self.resources.set = Some(set);
        }
        self
    }

    /// The resources learnt so far (or judged against).
    pub fn resources(&self) -> Option<&ResourceSet> {
        self.resources.set.as_ref()
    }

    pub fn resource_counters(&self) -> ResourceCounters {
        self.resources.counters
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::ffi::CString;

    use ids_detector::detector::Detector;

    use super::*;
    use crate::backend::memory::TaskMemory;
    use crate::backend::sink::SyscallSink;
    use crate::guard::GuardMode;
    use crate::policy::{AnomalyAction, Policy, UnseenSyscallAction};
    use crate::profile::Profile;
    use crate::record::event_log::EventLog;
    use crate::record::events::{read_all, ActionTaken};
    use crate::resource::ResourceKind;
    use crate::testing::{call, guard_parameters, guard_settings};

    /// This process's memory, as if it were the caller; `waiting` says whether the call still
    /// waits.
    struct Caller {
        task: TaskMemory,
        waiting: Cell<bool>,
        /// Times the guard asked whether the call still waits.
        asked: Cell<u32>,
    }

    impl Caller {
        fn new() -> Caller {
            Caller {
                task: TaskMemory {
                    tid: nix::unistd::gettid().as_raw() as u32,
                },
                waiting: Cell::new(true),
                asked: Cell::new(0),
            }
        }
    }

    impl CallerMemory for Caller {
        fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
            self.task.read(addr, buf)
        }
        fn socket_name(&self, fd: u64, buf: &mut [u8]) -> Option<usize> {
            self.task.socket_name(fd, buf)
        }
        fn directory(&self, fd: Option<i32>, buf: &mut [u8]) -> Option<usize> {
            self.task.directory(fd, buf)
        }
        fn still_waiting(&self) -> bool {
            self.asked.set(self.asked.get() + 1);
            self.waiting.get()
        }
    }

    const OPENAT: i32 = 257;
    const EXECVE: i32 = 59;

    fn openat(path: &CString, flags: i32) -> Syscall {
        let mut c = call(OPENAT);
        c.args = [
            libc::AT_FDCWD as u64,
            path.as_ptr() as u64,
            flags as u64,
            0,
            0,
            0,
        ];
        c
    }

    fn execve(path: &CString) -> Syscall {
        let mut c = call(EXECVE);
        c.args[0] = path.as_ptr() as u64;
        c
    }

    fn cstr(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    /// Runs `calls` through a guard's admit and observe, as a backend would.
    fn run(g: &mut Guard, caller: &Caller, calls: &[Syscall]) -> Vec<Admission> {
        calls
            .iter()
            .map(|c| {
                let a = match g.admit(c) {
                    Admission::Continue => g.admit_arguments(c, caller),
                    deny => deny,
                };
                g.observe(c);
                a
            })
            .collect()
    }

    fn learnt(dir: &std::path::Path, policy: Policy) -> Profile {
        let path = dir.join("p.json");
        let mut g = Guard::new(
            crate::guard::GuardSettings {
                save_to: Some(path.clone()),
                ..guard_settings(GuardMode::Learn, policy)
            },
            Detector::new(guard_parameters()),
            EventLog::new(&dir.join("learn-events.jsonl")),
        );
        let caller = Caller::new();
        let (sh, log) = (cstr("/bin/sh"), cstr("/var/log/app/access.log.1"));
        let passwd = cstr("/etc/passwd");
        for i in 0..20 {
            let numbered = cstr(&format!("/var/log/app/access.log.{i}"));
            let admissions = run(
                &mut g,
                &caller,
                &[
                    execve(&sh),
                    openat(&passwd, libc::O_RDONLY),
                    openat(&log, libc::O_WRONLY | libc::O_APPEND),
                    openat(&numbered, libc::O_WRONLY | libc::O_CREAT),
                ],
            );
            assert!(admissions.iter().all(|a| *a == Admission::Continue));
        }
        g.save_learned();
        Profile::load(&path).unwrap()
    }

    fn detecting(dir: &std::path::Path, policy: Policy) -> Guard {
        let profile = learnt(dir, policy);
        Guard::new(
            guard_settings(GuardMode::Detect, policy),
            profile.detector().unwrap(),
            EventLog::new(&dir.join("events.jsonl")),
        )
        .with_resources(profile.resources)
    }

    fn deny() -> Policy {
        Policy {
            on_anomaly: AnomalyAction::Log,
            on_unseen_syscall: UnseenSyscallAction::Deny,
        }
    }

    #[test]
    fn learning_saves_generalised_resources() {
        let dir = tempfile::tempdir().unwrap();
        let p = learnt(dir.path(), deny());
        assert_eq!(p.format_version, crate::profile::FORMAT_VERSION);
        let set = p.resources.expect("resources learnt");
        assert_eq!(
            set.keys(ResourceKind::Exec).collect::<Vec<_>>(),
            ["/bin/sh"]
        );
        assert_eq!(
            set.keys(ResourceKind::Read).collect::<Vec<_>>(),
            ["/etc/passwd"]
        );
        // Numbered logs are one name: the directory never needed widening.
        assert_eq!(
            set.keys(ResourceKind::Write).collect::<Vec<_>>(),
            ["/var/log/app/access.log.#"]
        );
    }

    #[test]
    fn an_unseen_resource_is_denied_before_it_runs_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = detecting(dir.path(), deny());
        let caller = Caller::new();
        let (sh, later_log) = (cstr("/bin/sh"), cstr("/var/log/app/access.log.977"));
        let known = run(
            &mut g,
            &caller,
            &[execve(&sh), openat(&later_log, libc::O_WRONLY)],
        );
        assert_eq!(known, [Admission::Continue, Admission::Continue]);

        let (shadow, nc) = (cstr("/etc/shadow"), cstr("/bin/nc"));
        let unseen = run(
            &mut g,
            &caller,
            &[
                openat(&shadow, libc::O_RDONLY),
                execve(&nc),
                execve(&nc),
                openat(&cstr("/etc/passwd"), libc::O_WRONLY),
            ],
        );
        assert!(
            unseen.iter().all(|a| *a == Admission::Deny(libc::EPERM)),
            "{unseen:?}"
        );
        let events = read_all(&dir.path().join("events.jsonl")).unwrap();
        let named: Vec<_> = events
            .iter()
            .map(|e| (e.kind, e.action, e.resource.clone().unwrap()))
            .collect();
        assert_eq!(
            named,
            [
                (
                    EventKind::UnseenResource,
                    ActionTaken::Denied,
                    "read /etc/shadow".to_string()
                ),
                (
                    EventKind::UnseenResource,
                    ActionTaken::Denied,
                    "exec /bin/nc".to_string()
                ),
                (
                    EventKind::UnseenResource,
                    ActionTaken::Denied,
                    "write /etc/passwd".to_string()
                ),
            ],
            "one event per resource"
        );
        assert_eq!(events[1].syscalls, ["execve"]);
        assert_eq!(g.resource_counters().unseen, 4);
    }

    #[test]
    fn what_was_read_from_a_call_no_longer_waiting_is_not_acted_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = detecting(dir.path(), deny());
        let caller = Caller::new();
        caller.waiting.set(false);
        let a = run(&mut g, &caller, &[openat(&cstr("/etc/shadow"), 0)]);
        assert_eq!(a, [Admission::Continue]);
        assert_eq!(g.resource_counters().gone, 1);
        assert!(!dir.path().join("events.jsonl").exists());
    }

    #[test]
    fn a_known_resource_runs_without_asking_whether_the_call_still_waits() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = detecting(dir.path(), deny());
        let caller = Caller::new();
        let passwd = cstr("/etc/passwd");
        let a = run(&mut g, &caller, &[openat(&passwd, 0), openat(&passwd, 0)]);
        assert_eq!(a, [Admission::Continue, Admission::Continue]);
        assert_eq!(caller.asked.get(), 0);
        assert_eq!(g.resource_counters().read, 2);
        // A call that no longer waits runs too, known or not; only the unseen one was asked about.
        caller.waiting.set(false);
        let a = run(
            &mut g,
            &caller,
            &[openat(&passwd, 0), openat(&cstr("/etc/shadow"), 0)],
        );
        assert_eq!(a, [Admission::Continue, Admission::Continue]);
        assert_eq!(caller.asked.get(), 1);
        assert_eq!(g.resource_counters().gone, 1);
        assert_eq!(g.resource_counters().read, 3);
    }

    #[test]
    fn a_profile_without_resources_judges_none() {
        let dir = tempfile::tempdir().unwrap();
        let profile = learnt(dir.path(), deny());
        let mut g = Guard::new(
            guard_settings(GuardMode::Detect, deny()),
            profile.detector().unwrap(),
            EventLog::new(&dir.path().join("events.jsonl")),
        )
        .with_resources(None);
        let a = run(&mut g, &Caller::new(), &[openat(&cstr("/etc/shadow"), 0)]);
        assert_eq!(a, [Admission::Continue]);
        assert_eq!(g.resource_counters().read, 0, "not even read");
    }

    #[test]
    fn a_profile_learnt_in_the_kernel_has_no_resources() {
        let mut settings = guard_settings(GuardMode::Learn, deny());
        settings.monitor = crate::backend::MonitorKind::Ebpf;
        let dir = tempfile::tempdir().unwrap();
        let g = Guard::new(
            settings,
            Detector::new(guard_parameters()),
            EventLog::new(&dir.path().join("e")),
        );
        assert!(g.resources().is_none());
        assert!(g.profile().resources.is_none());
    }

    #[test]
    fn kill_names_the_resource_and_ignore_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let kill = Policy {
            on_unseen_syscall: UnseenSyscallAction::Kill,
            ..deny()
        };
        let mut g = detecting(dir.path(), kill);
        let a = run(&mut g, &Caller::new(), &[execve(&cstr("/bin/nc"))]);
        assert_eq!(a, [Admission::Deny(libc::EPERM)]);
        let events = read_all(&dir.path().join("events.jsonl")).unwrap();
        assert_eq!(events.len(), 1);
        // Written before the kill (no init pid was handed over here, so none is sent).
        assert_eq!(events[0].action, ActionTaken::Killed);
        assert_eq!(events[0].resource.as_deref(), Some("exec /bin/nc"));

        let ignore = Policy {
            on_unseen_syscall: UnseenSyscallAction::Ignore,
            ..deny()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut g = detecting(dir.path(), ignore);
        let a = run(&mut g, &Caller::new(), &[execve(&cstr("/bin/nc"))]);
        assert_eq!(a, [Admission::Continue]);
        assert_eq!(g.resource_counters().read, 0);
    }
}
