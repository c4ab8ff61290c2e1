//! The guard: what a monitor does with one container's system calls, behind any backend.
//!
//! A backend (seccomp notify, ptrace) hands every call to the guard. The guard maps it to a
//! symbol, counts it, sets runc's own calls aside ([`startup`]), asks the detector, asks the
//! [`policy`](crate::policy) what to do about what was found, and does it: writes the event, denies
//! the call, kills the container. In learning modes it saves the profile it learns, now and then and
//! at the end. It is the hub: the only module that imports the detector, the policy, the profile
//! and the records together, and nothing but the caller imports it.
//!
//! The common path (a known call, no verdict) is an array lookup, a counter and `Detector::observe`;
//! everything that does I/O happens only when there is something to report.
//!
//! What is judged is here: `admit` (a call never seen in training, before it runs) and
//! `on_verdict` (an epoch the detector found anomalous), each asking the policy once. Carrying out
//! the answer is in `acting.rs`, writing the profile and the epoch records in `saving.rs`, the
//! `inspect` document in `inspect.rs`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use ids_detector::alphabet::{Alphabet, Sym};
use ids_detector::detector::{Detector, Mode, Verdict};

use crate::backend::sink::{Admission, CallerMemory, Syscall, SyscallSink};
use crate::backend::{Handover, MonitorKind, Origin};
use crate::policy::{Action, Policy};
use crate::profile::provenance::Provenance;
use crate::profile::shared_save::SharedSave;
use crate::record::epoch_log::{EpochLog, EpochRecord};
use crate::record::event_log::EventLog;
use crate::record::events::EventKind;
use saving::CLOCK_EVERY;
use startup::Startup;

pub use resources::ResourceCounters;

mod acting;
mod inspect;
mod kernel;
mod resources;
mod saving;
pub mod startup;

/// Epochs kept for `inspect` and reports; older ones are dropped (a day of a busy container).
pub const MAX_HISTORY: usize = 100_000;
/// Threads with a window at most; past it every window restarts (a safety valve for threads
/// that died without an `exit` the monitor saw, such as the other threads at `exit_group`).
pub const MAX_STREAMS: usize = 16_384;

/// What the guard is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardMode {
    /// Build the normal database; save it.
    Learn,
    /// Judge against a profile.
    Detect,
    /// Learn until the convergence rule holds, save, then detect.
    LearnDetect,
}

impl GuardMode {
    /// The guard a container in `mode` needs: none for `off` and `null`, which judge nothing.
    pub fn of(mode: crate::mode::Mode) -> Option<GuardMode> {
        use crate::mode::Mode as M;
        match mode {
            M::Off | M::Null => None,
            M::Learn => Some(GuardMode::Learn),
            M::Detect => Some(GuardMode::Detect),
            M::LearnDetect => Some(GuardMode::LearnDetect),
        }
    }
}

/// How a guard is set up.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    pub container: String,
    pub profile_name: String,
    pub mode: GuardMode,
    /// The monitor that feeds the guard.
    pub monitor: MonitorKind,
    /// The monitor the profile is for, which the saved profile names: the profile's when it was
    /// learned with another monitor, else `monitor`.
    pub profile_monitor: MonitorKind,
    /// Calls the profile's monitor could not see and this one can (a seccomp-notify profile
    /// under ptrace: `write`, `rt_sigreturn`, ...). They are counted, never learnt or judged, so
    /// the windows are the ones the profile was made of.
    pub blind_to: Vec<String>,
    pub policy: Policy,
    /// Where a learned profile is written.
    pub save_to: Option<PathBuf>,
    /// How often a learning guard saves what it has learnt.
    pub save_every: Duration,
    /// Who learnt the profile, this container included: saved with it.
    pub provenance: Provenance,
}

/// What the guard did, for `inspect` and the final state.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GuardCounters {
    pub unmapped_calls: u64,
    /// Calls runc made in the container before the container's program started (not judged).
    pub runc_calls: u64,
    pub unseen_calls: u64,
    pub denied: u64,
    pub kills: u64,
    pub events: u64,
    pub event_errors: u64,
    pub saves: u64,
    pub save_errors: u64,
    pub epoch_log_errors: u64,
    /// Times every thread window was restarted because there were more than `MAX_STREAMS`.
    pub stream_resets: u64,
}

pub struct Guard {
    settings: GuardSettings,
    alphabet: &'static Alphabet,
    detector: Detector,
    events: EventLog,
    epochs: Option<EpochLog>,
    counts: Box<[u64]>,
    startup: Startup,
    execve: [Option<Sym>; 2],
    exits: [Option<Sym>; 2],
    reported_unseen: Box<[bool]>,
    /// Per symbol: one of `settings.blind_to`.
    blind: Box<[bool]>,
    init_pid: Option<u32>,
    history: VecDeque<EpochRecord>,
    counters: GuardCounters,
    last_save: Instant,
    last_flush: Instant,
    /// The origin of the detector's clock.
    started: Instant,
    clock_countdown: u32,
    killed: bool,
    reported_database_full: bool,
    /// Where a learning guard saves, adding to what other learners of the profile saved.
    shared_save: Option<SharedSave>,
    /// What the container touches (files, programs, ports), learnt or judged.
    resources: resources::Resources,
    /// Who made the first unknown window of the epoch in progress, read at the clock.
    suspect: Option<acting::Suspect>,
}

impl Guard {
    /// A guard judging with `detector` (empty for learning, from a profile for detection).
    pub fn new(settings: GuardSettings, mut detector: Detector, events: EventLog) -> Guard {
        let alphabet = Alphabet::system();
        let mut blind = vec![false; alphabet.len()].into_boxed_slice();
        for sym in settings
            .blind_to
            .iter()
            .filter_map(|n| alphabet.sym_by_name(n))
        {
            blind[sym.index()] = true;
        }
        // The in-kernel monitor hands over no arguments: a profile it learnt says nothing of
        // resources, rather than that none were touched.
        let learns_resources =
            settings.mode != GuardMode::Detect && settings.monitor != MonitorKind::Ebpf;
        detector.set_mode(match settings.mode {
            GuardMode::Detect => Mode::Detect,
            GuardMode::Learn | GuardMode::LearnDetect => Mode::Learn,
        });
        let mut guard = Guard {
            settings,
            alphabet,
            detector,
            events,
            epochs: None,
            counts: vec![0; alphabet.len()].into_boxed_slice(),
            startup: Startup::default(),
            execve: [
                alphabet.sym_by_name("execve"),
                alphabet.sym_by_name("execveat"),
            ],
            exits: [
                alphabet.sym_by_name("exit"),
                alphabet.sym_by_name("exit_group"),
            ],
            reported_unseen: vec![false; alphabet.len()].into_boxed_slice(),
            blind,
            init_pid: None,
            history: VecDeque::new(),
            counters: GuardCounters::default(),
            last_save: Instant::now(),
            last_flush: Instant::now(),
            started: Instant::now(),
            clock_countdown: CLOCK_EVERY,
            killed: false,
            reported_database_full: false,
            shared_save: None,
            suspect: None,
            resources: resources::Resources::new(
                crate::resource::ResourceCalls::new(alphabet),
                learns_resources,
            ),
        };
        let learning = guard.settings.mode != GuardMode::Detect;
        guard.shared_save = match &guard.settings.save_to {
            Some(path) if learning => Some(SharedSave::new(path.clone(), &guard.detector)),
            _ => None,
        };
        guard
    }

    /// Also records every judged epoch in `log`.
    pub fn with_epoch_log(mut self, log: EpochLog) -> Guard {
        self.epochs = Some(log);
        self
    }

    /// The detector's current mode, as events and `inspect` name it.
    /// What the guard is doing now: learning or detecting (a learn-detect guard is first one, then
    /// the other).
    pub fn current_mode(&self) -> crate::mode::Mode {
        match self.detector.mode() {
            Mode::Learn => crate::mode::Mode::Learn,
            Mode::Detect => crate::mode::Mode::Detect,
        }
    }

    /// Calls the profile's monitor could not see, which this guard keeps out of the windows.
    pub fn blind_to(&self) -> &[String] {
        &self.settings.blind_to
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    pub fn counters(&self) -> GuardCounters {
        self.counters
    }

    pub fn history(&self) -> impl Iterator<Item = &EpochRecord> {
        self.history.iter()
    }

    fn sym(&self, call: &Syscall) -> Option<Sym> {
        self.alphabet.sym_from_audit(call.arch, call.nr as u32)
    }

    /// Whether the call is runc's own, made before the container's program started.
    fn is_runc(&mut self, call: &Syscall, sym: Sym) -> bool {
        let is_execve = self.execve.contains(&Some(sym));
        self.startup.is_runc(call.pid, is_execve)
    }

    fn on_verdict(&mut self, verdict: &Verdict) {
        if self.history.len() == MAX_HISTORY {
            self.history.pop_front();
        }
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let record = EpochRecord {
            epoch: verdict.epoch,
            mismatches: verdict.mismatches,
            windows: verdict.windows,
            threshold: verdict.limit,
            surprise: verdict.surprise,
            anomalous: verdict.anomalous,
            at_ms,
        };
        self.history.push_back(record);
        if let Some(log) = &mut self.epochs {
            if log.record(&record).is_err() {
                self.counters.epoch_log_errors += 1;
            }
        }
        let action = self.settings.policy.on_verdict(verdict);
        if action == Action::Pass {
            return;
        }
        let mut event = self.event(EventKind::Anomaly);
        event.epoch = Some(verdict.epoch);
        event.mismatches = Some(verdict.mismatches);
        event.windows = Some(verdict.windows);
        event.threshold = Some(verdict.limit);
        event.surprise = verdict.surprise;
        let mut names = std::collections::BTreeSet::new();
        for window in verdict.unknown_windows() {
            let bag = window.bag().multiset(self.alphabet);
            if !event.unseen_bags.contains(&bag) {
                event.unseen_bags.push(bag);
            }
            names.extend(
                window
                    .calls()
                    .iter()
                    .map(|s| self.alphabet.name(*s).to_string()),
            );
            event.tid.get_or_insert(window.stream());
        }
        event.syscalls = names.into_iter().collect();
        self.act(action, event);
    }

    fn report_database_full(&mut self) {
        self.reported_database_full = true;
        let mut event = self.event(EventKind::DatabaseFull);
        event.message = Some(format!(
            "the normal database holds {} bags, its limit; new bags are no longer learnt",
            self.detector.database().len()
        ));
        self.emit(event, false);
    }
}

impl SyscallSink for Guard {
    fn inspect(&self) -> serde_json::Value {
        self.inspect_document()
    }

    fn on_handover(&mut self, handover: &Handover) {
        if handover.origin == Origin::Creating || self.init_pid.is_none() {
            self.init_pid = Some(handover.pid);
        }
        self.startup.handed_over(handover.pid);
        log::info!(
            "handover: pid {} ({})",
            handover.pid,
            handover.origin.status()
        );
    }

    fn on_resume(&mut self, handover: &Handover) {
        if handover.origin == Origin::Creating || self.init_pid.is_none() {
            self.init_pid = Some(handover.pid);
        }
    }

    fn admit(&mut self, call: &Syscall) -> Admission {
        if self.detector.mode() != Mode::Detect {
            return Admission::Continue;
        }
        let Some(sym) = self.sym(call) else {
            return Admission::Continue;
        };
        if self.detector.is_known(sym) || self.blind[sym.index()] || self.is_runc(call, sym) {
            return Admission::Continue;
        }
        self.counters.unseen_calls += 1;
        let action = self.settings.policy.on_unseen();
        let first = !std::mem::replace(&mut self.reported_unseen[sym.index()], true);
        self.refuse_unseen(action, first, |guard| {
            let mut event = guard.event(EventKind::UnseenSyscall);
            event.syscalls = vec![guard.alphabet.name(sym).to_string()];
            event.tid = Some(call.pid);
            event
        })
    }

    fn admit_arguments(&mut self, call: &Syscall, memory: &dyn CallerMemory) -> Admission {
        self.admit_resource(call, memory)
    }

    fn observe(&mut self, call: &Syscall) {
        let Some(sym) = self.sym(call) else {
            self.counters.unmapped_calls += 1;
            return;
        };
        self.counts[sym.index()] += 1;
        if self.blind[sym.index()] {
            return;
        }
        if self.is_runc(call, sym) {
            self.counters.runc_calls += 1;
            return;
        }
        if let Some(verdict) = self.detector.observe(call.pid, sym) {
            self.on_verdict(&verdict);
        }
        if !self.reported_database_full && self.detector.database_full() {
            self.report_database_full();
        }
        // A thread that exits takes its window with it; without this a container that keeps
        // forking would grow its monitor without bound.
        if self.exits.contains(&Some(sym)) {
            self.detector.forget_stream(call.pid);
        } else if self.detector.streams() > MAX_STREAMS {
            self.detector.reset_streams();
            self.counters.stream_resets += 1;
        }
        if self.settings.mode == GuardMode::LearnDetect
            && self.detector.mode() == Mode::Learn
            && self.detector.converged()
        {
            self.switch_to_detect();
        }
        self.tick();
    }

    fn on_clock(&mut self, now: Instant) {
        // Off the per-call path, and while it most likely still lives: the thread an alarm about
        // this epoch would name (its name and program are read again at the alarm if it lives).
        if let Some(first) = self.detector.leading_unknown() {
            if self.suspect.as_ref().map(acting::Suspect::tid) != Some(first.stream()) {
                self.suspect = Some(acting::Suspect::of(first.stream()));
            }
        }
        let ms = now.saturating_duration_since(self.started).as_millis();
        if let Some(verdict) = self.detector.tick(u64::try_from(ms).unwrap_or(u64::MAX)) {
            self.on_verdict(&verdict);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{AnomalyAction, UnseenSyscallAction};
    use crate::profile::Profile;
    use crate::record::events::{read_all, ActionTaken};
    use crate::testing::{call, guard_parameters, guard_settings};
    use ids_detector::parameters::Parameters;

    /// The shared guard settings, saving the learnt profile to `save_to`.
    fn settings(mode: GuardMode, policy: Policy, save_to: Option<PathBuf>) -> GuardSettings {
        GuardSettings {
            save_to,
            ..guard_settings(mode, policy)
        }
    }

    /// getpid, getppid, getuid: a normal loop.
    const NORMAL: [i32; 3] = [39, 110, 102];

    fn learnt(dir: &std::path::Path) -> Profile {
        learnt_with(dir, guard_parameters())
    }

    fn learnt_with(dir: &std::path::Path, parameters: Parameters) -> Profile {
        let path = dir.join("p1.json");
        let policy = Policy {
            on_anomaly: AnomalyAction::Log,
            on_unseen_syscall: UnseenSyscallAction::Deny,
        };
        let mut g = Guard::new(
            settings(GuardMode::Learn, policy, Some(path.clone())),
            Detector::new(parameters),
            EventLog::new(&dir.join("events.jsonl")),
        );
        for _ in 0..100 {
            for nr in NORMAL {
                assert_eq!(g.admit(&call(nr)), Admission::Continue);
                g.observe(&call(nr));
            }
        }
        g.save_learned();
        Profile::load(&path).unwrap()
    }

    #[test]
    fn learning_counts_by_name_and_saves_a_profile() {
        let dir = tempfile::tempdir().unwrap();
        let profile = learnt(dir.path());
        assert_eq!(profile.syscalls, vec!["getpid", "getppid", "getuid"]);
        assert!(!profile.normal_db.is_empty());
    }

    #[test]
    fn detection_denies_an_unseen_syscall_and_logs_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let profile = learnt(dir.path());
        let events_path = dir.path().join("events.jsonl");
        let mut g = Guard::new(
            settings(GuardMode::Detect, profile.policy, None),
            profile.detector().unwrap(),
            EventLog::new(&events_path),
        );
        for nr in NORMAL {
            assert_eq!(g.admit(&call(nr)), Admission::Continue);
        }
        let socket = 41;
        assert_eq!(g.admit(&call(socket)), Admission::Deny(libc::EPERM));
        assert_eq!(g.admit(&call(socket)), Admission::Deny(libc::EPERM));
        let events = crate::record::events::read_all(&events_path).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::UnseenSyscall);
        assert_eq!(events[0].syscalls, vec!["socket"]);
        assert_eq!(events[0].action, ActionTaken::Denied);
        assert_eq!(g.counters().denied, 2);
    }

    #[test]
    fn calls_the_profiles_monitor_could_not_see_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let profile = learnt(dir.path());
        let events_path = dir.path().join("events.jsonl");
        let mut settings = settings(GuardMode::Detect, profile.policy, None);
        settings.monitor = MonitorKind::Ptrace;
        settings.blind_to = vec!["write".into(), "rt_sigreturn".into()];
        let mut g = Guard::new(
            settings,
            profile.detector().unwrap(),
            EventLog::new(&events_path),
        );
        let (write, rt_sigreturn) = (1, 15);
        for _ in 0..20 {
            for nr in NORMAL {
                assert_eq!(g.admit(&call(nr)), Admission::Continue);
                g.observe(&call(nr));
                // Between every two calls of the learnt stream, calls the profile never saw.
                assert_eq!(g.admit(&call(write)), Admission::Continue);
                g.observe(&call(write));
                g.observe(&call(rt_sigreturn));
            }
        }
        assert!(
            crate::record::events::read_all(&events_path)
                .unwrap()
                .is_empty(),
            "set-aside calls raised events"
        );
        assert_eq!(g.detector().counters().mismatches, 0);
        assert_eq!(g.inspect()["syscalls"]["write"], 60, "still counted");
        // A call outside the blind list is still judged.
        let socket = 41;
        assert_eq!(g.admit(&call(socket)), Admission::Deny(libc::EPERM));
    }

    #[test]
    fn an_anomalous_epoch_is_logged_with_its_bags() {
        let dir = tempfile::tempdir().unwrap();
        let mut profile = learnt(dir.path());
        profile.policy.on_unseen_syscall = UnseenSyscallAction::Ignore;
        let events_path = dir.path().join("events.jsonl");
        let mut g = Guard::new(
            settings(GuardMode::Detect, profile.policy, None),
            profile.detector().unwrap(),
            EventLog::new(&events_path),
        );
        for _ in 0..10 {
            for nr in NORMAL {
                g.observe(&call(nr));
            }
        }
        assert!(
            crate::record::events::read_all(&events_path)
                .unwrap()
                .is_empty(),
            "normal epoch alarmed"
        );
        for i in 0..30 {
            g.observe(&call([0, 1, 2, 3][i % 4]));
        }
        let events = crate::record::events::read_all(&events_path).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert_eq!(e.kind, EventKind::Anomaly);
        assert_eq!(e.action, ActionTaken::Logged);
        assert!(e.mismatches.unwrap() > 2);
        assert!(!e.unseen_bags.is_empty());
        assert!(e.syscalls.contains(&"read".to_string()), "{:?}", e.syscalls);
        assert!(g.history().any(|r| r.anomalous));
        assert!(g.history().any(|r| !r.anomalous));
    }

    #[test]
    fn the_backoff_scorer_learns_followers_and_logs_an_epochs_surprise() {
        let dir = tempfile::tempdir().unwrap();
        let backoff = Parameters {
            // Every window of the 3-call loop has the same bag, followed by each call in turn: a
            // normal call is worth ln 3 ≈ 1.1 nats.
            scorer: ids_detector::parameters::Scorer::Backoff { surprise: 2.0 },
            ..guard_parameters()
        };
        let mut profile = learnt_with(dir.path(), backoff);
        assert!(
            !profile.followers.after_calls.is_empty(),
            "saved with the bags"
        );
        profile.policy.on_unseen_syscall = UnseenSyscallAction::Ignore;
        let events_path = dir.path().join("events.jsonl");
        let mut g = Guard::new(
            settings(GuardMode::Detect, profile.policy, None),
            profile.detector().unwrap(),
            EventLog::new(&events_path),
        );
        for _ in 0..10 {
            for nr in NORMAL {
                g.observe(&call(nr));
            }
        }
        let history: Vec<_> = g.history().collect();
        assert!(
            history.iter().all(|r| !r.anomalous && r.surprise.is_some()),
            "{history:?}"
        );
        for i in 0..30 {
            g.observe(&call([0, 1, 2, 3][i % 4]));
        }
        let events = crate::record::events::read_all(&events_path).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        let (surprise, threshold) = (e.surprise.unwrap(), e.threshold.unwrap());
        assert!(surprise > threshold, "{surprise} {threshold}");
        assert!(e.mismatches.unwrap() > 0 && !e.unseen_bags.is_empty());
    }

    #[test]
    fn a_quiet_container_is_judged_by_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let mut profile = learnt(dir.path());
        profile.policy.on_unseen_syscall = UnseenSyscallAction::Ignore;
        profile.parameters.epoch = 10_000;
        profile.parameters.epoch_ms = 1000;
        profile.parameters.min_windows = 5;
        let events_path = dir.path().join("events.jsonl");
        let mut g = Guard::new(
            settings(GuardMode::Detect, profile.policy, None),
            profile.detector().unwrap(),
            EventLog::new(&events_path),
        );
        let start = Instant::now();
        g.on_clock(start);
        for i in 0..12 {
            g.observe(&call([0, 1, 2, 3][i % 4]));
        }
        g.on_clock(start + Duration::from_millis(900));
        assert!(
            read_all(&events_path).unwrap().is_empty(),
            "judged before T"
        );
        // No call comes any more: only the clock.
        g.on_clock(start + Duration::from_millis(1100));
        let events = read_all(&events_path).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].kind, EventKind::Anomaly);
        assert_eq!(events[0].windows, Some(10));
    }

    #[test]
    fn an_alarm_names_a_thread_that_was_gone_before_its_epoch_ended() {
        let dir = tempfile::tempdir().unwrap();
        let mut profile = learnt(dir.path());
        profile.policy.on_unseen_syscall = UnseenSyscallAction::Ignore;
        profile.parameters.epoch = 10_000;
        profile.parameters.epoch_ms = 1000;
        profile.parameters.min_windows = 5;
        let events_path = dir.path().join("events.jsonl");
        let mut g = Guard::new(
            settings(GuardMode::Detect, profile.policy, None),
            profile.detector().unwrap(),
            EventLog::new(&events_path),
        );
        let start = Instant::now();
        g.on_clock(start);
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("attacker".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                tid_tx.send(unsafe { libc::gettid() } as u32).unwrap();
                let _ = released.recv();
            })
            .unwrap();
        let tid = tid_rx.recv().unwrap();
        for i in 0..12 {
            let mut c = call([0, 1, 2, 3][i % 4]);
            c.pid = tid;
            g.observe(&c);
        }
        g.on_clock(start + Duration::from_millis(100));
        drop(release);
        thread.join().unwrap();
        g.on_clock(start + Duration::from_millis(1100));
        let events = read_all(&events_path).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].tid, Some(tid));
        assert_eq!(events[0].process.as_deref(), Some("attacker"));
        let exe = std::env::current_exe().unwrap();
        assert_eq!(events[0].exe.as_deref(), exe.to_str());
        assert!(
            events[0].unseen_bags.iter().all(|b| !b.contains(':')),
            "{:?}",
            events[0].unseen_bags
        );
    }

    #[test]
    fn learn_detect_switches_once_training_converges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p1.json");
        let events_path = dir.path().join("events.jsonl");
        let policy = Policy {
            on_anomaly: AnomalyAction::Log,
            on_unseen_syscall: UnseenSyscallAction::Deny,
        };
        let mut g = Guard::new(
            settings(GuardMode::LearnDetect, policy, Some(path.clone())),
            Detector::new(guard_parameters()),
            EventLog::new(&events_path),
        );
        assert_eq!(g.current_mode(), crate::mode::Mode::Learn);
        // 40 epochs of 30 calls: more than the default 25 stable epochs in a row
        for _ in 0..400 {
            for nr in NORMAL {
                g.observe(&call(nr));
            }
        }
        assert_eq!(
            g.current_mode(),
            crate::mode::Mode::Detect,
            "a repetitive stream converges"
        );
        let events = crate::record::events::read_all(&events_path).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::ModeSwitch);
        let saved = Profile::load(&path).expect("profile saved at the switch");
        assert!(saved.training.converged_at_epoch.is_some());
        assert_eq!(
            g.admit(&call(41)),
            Admission::Deny(libc::EPERM),
            "now detecting"
        );
    }

    #[test]
    fn an_exiting_thread_takes_its_window_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Guard::new(
            settings(GuardMode::Learn, Policy::default(), None),
            Detector::new(guard_parameters()),
            EventLog::new(&dir.path().join("e")),
        );
        let exit_group = 231;
        for tid in 1..=100 {
            let mut c = call(39);
            c.pid = tid;
            g.observe(&c);
            c.nr = exit_group;
            g.observe(&c);
        }
        assert_eq!(g.detector().streams(), 0);
    }

    #[test]
    fn inspect_names_syscalls() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Guard::new(
            settings(GuardMode::Learn, Policy::default(), None),
            Detector::new(guard_parameters()),
            EventLog::new(&dir.path().join("e")),
        );
        g.observe(&call(39));
        g.observe(&call(39));
        let doc = g.inspect();
        assert_eq!(doc["syscalls"]["getpid"], 2);
        assert_eq!(doc["mode"], "learn");
        assert_eq!(doc["detector"]["calls"], 2);
    }
}
