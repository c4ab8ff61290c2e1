//! What the in-kernel monitor reports, judged by the same policy as the calls of the other
//! backends: the kernel has done the counting (and, for `kill`, already killed the process whose
//! call ended an anomalous epoch or made an unseen syscall); the guard writes the event, kills the
//! rest of the container, and learns the bags the kernel found new.

use ids_detector::alphabet::Sym;
use ids_detector::bag::{BagId, SortedBag};
use ids_detector::detector::{Mode, Verdict};
use ids_detector::epoch::EpochEnd;
use ids_detector::normal_db::Insertion;

use super::{Guard, GuardMode};
use crate::backend::ebpf::{KernelCounters, KernelSink};
use crate::backend::sink::{Admission, Syscall, SyscallSink};
use crate::policy::Action;
use crate::record::events::{ActionTaken, EventKind};

impl KernelSink for Guard {
    fn on_kernel_epoch(&mut self, verdict: &Verdict, unknown: &[(u32, &[Sym])]) -> Vec<u64> {
        self.on_verdict(verdict);
        // Continuous training, as the detector does it: the bags of an epoch judged normal are
        // merged (each window counted once), their syscalls become known.
        if verdict.anomalous || !self.detector.parameters().training.continuous {
            return Vec::new();
        }
        let mut merged = Vec::new();
        for (_, calls) in unknown {
            let bag = SortedBag::from_calls(calls.iter().copied());
            let id = bag.id().0;
            if self.detector.learn_bag(bag, 1) == Insertion::New {
                merged.push(id);
            }
        }
        merged
    }

    fn on_kernel_unseen(&mut self, tid: u32, sym: Sym) {
        self.counters.unseen_calls += 1;
        // The call has run: `deny` is honoured by the seccomp filter, for every call it sends up
        // (see `admit_unseen`); the calls it cannot send up (runc refuses to notify `write`, and
        // the few others of `NEVER_NOTIFIED`) can only be logged.
        let action = match self.settings.policy.on_unseen() {
            Action::Deny => Action::Log,
            other => other,
        };
        let first = !std::mem::replace(&mut self.reported_unseen[sym.index()], true);
        if first || action == Action::Kill {
            let mut event = self.event(EventKind::UnseenSyscall);
            event.syscalls = vec![self.alphabet.name(sym).to_string()];
            event.tid = Some(tid);
            self.act(action, event);
        }
    }

    fn on_kernel_new_bag(&mut self, bag: SortedBag) {
        self.detector.learn_bag(bag, 1);
        if !self.reported_database_full && self.detector.database_full() {
            self.report_database_full();
        }
        self.tick();
    }

    fn on_kernel_training_epoch(&mut self, end: EpochEnd) {
        if self.detector.mode() != Mode::Learn {
            return;
        }
        self.detector.training_epoch(end);
        if self.settings.mode == GuardMode::LearnDetect && self.detector.converged() {
            self.switch_to_detect();
        }
    }

    fn admit_unseen(&mut self, call: &Syscall) -> Admission {
        // The kernel judges the execs, as every call that runs; the filter sends them up only
        // so that runc's start-up rule sees each starting process exec.
        if let Some(sym) = self.sym(call).filter(|s| self.execve.contains(&Some(*s))) {
            self.is_runc(call, sym);
        }
        self.admit(call)
    }

    fn learning(&self) -> bool {
        self.detector.mode() == Mode::Learn
    }

    fn known_syscalls(&self) -> Vec<Sym> {
        self.detector.known_syscalls().collect()
    }

    fn on_kernel_totals(&mut self, totals: &KernelCounters, frequencies: &[(u64, u64)]) {
        if totals.lost_records > 0 {
            // The ring buffer was full: unknown windows went unreported (learning sends a lost
            // new bag again with its next window).
            let mut event = self.event(EventKind::MonitorError);
            event.action = ActionTaken::Logged;
            event.message = Some(format!(
                "the kernel's ring buffer was full: {} records lost",
                totals.lost_records
            ));
            self.emit(event, false);
        }
        // learn-detect saved its profile when it switched; what the kernel counted since is
        // detection.
        if self.settings.mode != GuardMode::Learn {
            return;
        }
        self.detector.learnt_elsewhere(totals.calls, totals.windows);
        // The kernel counted every window of each bag (from the profile's count on); the
        // database has each new bag once.
        for &(id, windows) in frequencies {
            let id = BagId(id);
            let counted = self.detector.database().frequency(id);
            let Some(bag) = self.detector.database().bag(id).cloned() else {
                continue;
            };
            if windows > counted {
                self.detector.learn_bag(bag, windows - counted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ids_detector::alphabet::Alphabet;
    use ids_detector::detector::Verdict;

    use super::*;
    use crate::policy::Policy;
    use crate::record::event_log::EventLog;
    use crate::testing::{guard_settings, trained_detector};

    fn window(names: [&str; 3]) -> Vec<Sym> {
        names
            .iter()
            .map(|n| Alphabet::system().sym_by_name(n).unwrap())
            .collect()
    }

    #[test]
    fn continuous_training_merges_the_kernels_normal_epochs_only() {
        let dir = tempfile::tempdir().unwrap();
        let events = EventLog::new(&dir.path().join("events.jsonl"));
        let mut detector = trained_detector();
        detector.set_continuous_training(true);
        let mut g = Guard::new(
            guard_settings(GuardMode::Detect, Policy::default()),
            detector,
            events,
        );
        let new = window(["openat", "getpid", "close"]);
        let other = window(["read", "getpid", "getpid"]);
        let anomalous = window(["socket", "bind", "listen"]);
        fn judged<'a>(
            epoch: u64,
            windows: &[&'a [Sym]],
            anomalous: bool,
        ) -> (Verdict, Vec<(u32, &'a [Sym])>) {
            let unknown: Vec<(u32, &[Sym])> = windows.iter().map(|w| (7, *w)).collect();
            let mismatches = windows.len() as u32;
            (
                Verdict::judged(epoch, 4, mismatches, 1.0, anomalous, &unknown),
                unknown,
            )
        }

        let (verdict, unknown) = judged(0, &[&anomalous], true);
        assert!(g.on_kernel_epoch(&verdict, &unknown).is_empty());
        let (verdict, unknown) = judged(1, &[&new, &other], false);
        let merged = g.on_kernel_epoch(&verdict, &unknown);
        let ids: Vec<u64> = [&new, &other]
            .iter()
            .map(|w| SortedBag::from_calls(w.iter().copied()).id().0)
            .collect();
        assert_eq!(merged, ids);
        for id in ids {
            assert!(g.detector().database().contains(BagId(id)));
        }
        let getpid = Alphabet::system().sym_by_name("getpid").unwrap();
        assert!(g.known_syscalls().contains(&getpid));
        let socket = Alphabet::system().sym_by_name("socket").unwrap();
        assert!(!g.known_syscalls().contains(&socket));
        // Known now: merged once.
        assert!(g.on_kernel_epoch(&verdict, &unknown).is_empty());
    }
}
