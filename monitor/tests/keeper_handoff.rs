//! What a monitor's keeper rests on, checked against this kernel: while a second holder keeps a
//! notify fd open, the first holder's close does not make the filter's calls fail (they wait), and
//! a notification the first holder received and never answered can be answered by the second.

mod common;

use std::os::fd::{AsFd, AsRawFd};
use std::thread;
use std::time::{Duration, Instant};

use common::{is_root, spawn_getppid_child};
use ids_monitor::backend::notify::{
    HandoverListener, InFlight, KeeperLink, KeptFd, NotifySupervisor, SupervisorConfig,
};
use ids_monitor::backend::sink::{CountingSink, RunEnd};
use ids_monitor::backend::{Backend, Handover, Origin};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

const CALLS: u64 = 500;

/// The kernel function a task waits in while its notified call is unanswered.
fn waits_for_an_answer(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/wchan"))
        .is_ok_and(|w| w.starts_with("seccomp_do_user_notification"))
}

#[test]
fn a_monitor_that_dies_mid_call_is_replaced_without_a_failed_call() {
    if !is_root("a_monitor_that_dies_mid_call_is_replaced_without_a_failed_call") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let listener = HandoverListener::bind(&dir.path().join("notify.sock"), 0).unwrap();
    let mut child = spawn_getppid_child(&["getppid"], CALLS);
    let dying = child.notify_fd.take().expect("a notify fd");
    let kept = dying.try_clone().unwrap();
    let pid = child.pid.as_raw();
    let report = thread::spawn(move || child.finish(Duration::from_secs(30)));

    // The dying monitor: receives the first call, notes it in slot 0, and is gone before it
    // answers.
    let in_flight = InFlight::create().unwrap();
    // SAFETY: an all-zero seccomp_notif is a valid value (plain integers), as RECV requires.
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: RECV fills the zeroed seccomp_notif it is given, the size its request code encodes.
    let rc = unsafe {
        libc::ioctl(
            dying.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut req as *mut libc::seccomp_notif,
        )
    };
    assert_eq!(rc, 0, "RECV: {}", std::io::Error::last_os_error());
    assert_eq!(req.pid as i32, pid);
    in_flight.record(0, req.id);
    drop(dying);

    // Only the keeper holds the fd now: the child waits, its call neither answered nor failed.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        assert!(waits_for_an_answer(pid), "the child stopped waiting");
        thread::sleep(Duration::from_millis(50));
    }
    assert!(!report.is_finished());

    // The next monitor takes the fd over and answers the call the dead one had received.
    let (monitor_end, _keeper_end) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    let mapping = InFlight::map(in_flight.as_fd().try_clone_to_owned().unwrap()).unwrap();
    let handover = Handover {
        pid: pid as u32,
        origin: Origin::Creating,
    };
    let kept = KeptFd::inherited(kept, 0, handover).unwrap();
    let config = SupervisorConfig {
        handover_timeout: Some(Duration::from_secs(10)),
        ..SupervisorConfig::default()
    };
    let mut supervisor = NotifySupervisor::new(listener, CountingSink::default(), config)
        .with_keeper(KeeperLink::new(monitor_end, mapping), vec![kept]);
    let end_at = Instant::now() + Duration::from_secs(30);
    let end = supervisor.run(|| Instant::now() > end_at).unwrap();
    let report = report.join().unwrap();

    assert_eq!(end, RunEnd::AllHungUp);
    assert_eq!(report.succeeded, CALLS, "{report:?}");
    assert_eq!(report.other_errors, 0, "{report:?}");
    let stats = supervisor.stats();
    assert_eq!((stats.resumed, stats.resumed_in_flight), (1, 1));
    assert_eq!(
        stats.notifications,
        CALLS - 1,
        "the first was the dead one's"
    );
}
