//! What a guard does at its limits: a full normal database, an events file it cannot write.

use std::path::Path;

use ids_detector::detector::Detector;
use ids_monitor::backend::sink::{Admission, SyscallSink, AUDIT_ARCH_X86_64};
use ids_monitor::guard::{Guard, GuardMode};
use ids_monitor::policy::{AnomalyAction, Policy, UnseenSyscallAction};
use ids_monitor::record::event_log::EventLog;
use ids_monitor::record::events::{read_all, EventKind};
use ids_monitor::testing::{call, guard_parameters, guard_settings};

/// Syscall numbers of x86_64 that the notify monitor sees (0 is read; 1, write, is never notified).
const VARIED: [i32; 8] = [0, 2, 3, 4, 5, 8, 9, 10];

#[test]
fn a_full_database_writes_one_event_and_learning_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let mut detector = Detector::new(guard_parameters());
    detector.set_database_limit(5);
    let mut g = Guard::new(
        guard_settings(GuardMode::Learn, Policy::default()),
        detector,
        EventLog::new(&events),
    );
    // Every ordered triple of 8 calls: far more than 5 bags, over several clock ticks.
    for i in 0..30_000usize {
        g.observe(&call(VARIED[(i * 7 + i / 8) % VARIED.len()]));
    }
    let c = g.detector().counters();
    assert_eq!(c.db_size, 5);
    assert!(c.rejected_bags > 0);
    assert_eq!(c.calls, 30_000, "every call is still counted");
    let written = read_all(&events).unwrap();
    let full: Vec<_> = written
        .iter()
        .filter(|e| e.kind == EventKind::DatabaseFull)
        .collect();
    assert_eq!(full.len(), 1, "{written:?}");
    assert!(full[0].message.as_deref().unwrap().contains("5 bags"));
    let inspected = g.inspect();
    assert_eq!(inspected["detector"]["database_limit"], 5);
    assert!(inspected["detector"]["rejected_bags"].as_u64().unwrap() > 0);
}

#[test]
fn an_unwritable_events_file_is_counted_and_the_guard_goes_on() {
    // /dev/full takes the open and fails every write with ENOSPC.
    let events = Path::new("/dev/full");
    let mut detector = Detector::new(guard_parameters());
    for _ in 0..50 {
        for nr in [39, 110, 102] {
            detector.observe(
                42,
                ids_detector::alphabet::Alphabet::system()
                    .sym_from_audit(AUDIT_ARCH_X86_64, nr)
                    .unwrap(),
            );
        }
    }
    let policy = Policy {
        on_anomaly: AnomalyAction::Log,
        on_unseen_syscall: UnseenSyscallAction::Deny,
    };
    let mut g = Guard::new(
        guard_settings(GuardMode::Detect, policy),
        detector,
        EventLog::new(events),
    );
    // Unseen socket, bind, listen: three events, none of which can be written; the getpid-only
    // epochs after them are anomalies, logged (or not) the same way.
    for nr in [41, 49, 50] {
        assert_eq!(g.admit(&call(nr)), Admission::Deny(libc::EPERM));
    }
    for _ in 0..100 {
        assert_eq!(g.admit(&call(39)), Admission::Continue);
        g.observe(&call(39));
    }
    let c = g.counters();
    assert!(c.events > 3, "{c:?}");
    assert_eq!(c.event_errors, c.events, "{c:?}");
    assert_eq!(c.denied, 3);
}
