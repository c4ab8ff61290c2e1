//! What a monitor's keeper rests on, checked against this kernel: while a second holder keeps a
//! notify fd open, the first holder's close does not make the filter's calls fail (they wait), and
//! a notification the first holder received and never answered can be answered by the second.

mod common;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::thread;
use std::time::{Duration, Instant};

use common::{is_root, spawn_getppid_child, ChildReport};
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

/// A child making `CALLS` notified getppid calls, its notify fd, and the thread that collects its
/// report.
fn notified_child() -> (i32, OwnedFd, thread::JoinHandle<ChildReport>) {
    let mut child = spawn_getppid_child(&["getppid"], CALLS);
    let fd = child.notify_fd.take().expect("a notify fd");
    let pid = child.pid.as_raw();
    (
        pid,
        fd,
        thread::spawn(move || child.finish(Duration::from_secs(30))),
    )
}

/// What a monitor that dies mid-call did: received one notification (of `pid`), never answered.
fn receive_one(fd: &OwnedFd, pid: i32) -> libc::seccomp_notif {
    // SAFETY: an all-zero seccomp_notif is a valid value (plain integers), as RECV requires.
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: RECV fills the zeroed seccomp_notif it is given, the size its request code encodes.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut req as *mut libc::seccomp_notif,
        )
    };
    assert_eq!(rc, 0, "RECV: {}", std::io::Error::last_os_error());
    assert_eq!(req.pid as i32, pid);
    req
}

/// Answers notification `id` of `fd` with CONTINUE, as a monitor does.
fn answer(fd: &OwnedFd, id: u64) {
    let resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: 0,
        flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
    };
    // SAFETY: SEND reads the seccomp_notif_resp it is given, the size its request code encodes.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &resp as *const libc::seccomp_notif_resp,
        )
    };
    assert_eq!(rc, 0, "SEND: {}", std::io::Error::last_os_error());
}

/// The monitor a keeper starts next: `kept` (of `pid`, slot 0), with the in-flight page `memfd`.
fn next_monitor(
    listener: HandoverListener,
    kept: OwnedFd,
    pid: i32,
    in_flight: InFlight,
) -> NotifySupervisor<CountingSink> {
    let (monitor_end, _keeper_end) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    let handover = Handover {
        pid: pid as u32,
        origin: Origin::Creating,
    };
    let kept = KeptFd::inherited(kept, 0, handover).unwrap();
    let config = SupervisorConfig {
        handover_timeout: Some(Duration::from_secs(10)),
        ..SupervisorConfig::default()
    };
    NotifySupervisor::new(listener, CountingSink::default(), config)
        .with_keeper(KeeperLink::new(monitor_end, in_flight), vec![kept])
}

#[test]
fn a_monitor_that_dies_before_answering_is_replaced_without_a_failed_call() {
    if !is_root("a_monitor_that_dies_before_answering_is_replaced_without_a_failed_call") {
        return;
    }
    dies_mid_call(true);
}

/// The window between RECV and noting the id: the next monitor finds the call by the ids after
/// the last one noted.
#[test]
fn a_monitor_that_dies_before_noting_the_call_is_replaced_without_a_failed_call() {
    if !is_root("a_monitor_that_dies_before_noting_the_call_is_replaced_without_a_failed_call") {
        return;
    }
    dies_mid_call(false);
}

/// A monitor dies holding one received, unanswered call (`noted` in its slot, or not yet: then
/// it had answered one before, which it noted).
fn dies_mid_call(noted: bool) {
    let dir = tempfile::tempdir().unwrap();
    let listener = HandoverListener::bind(&dir.path().join("notify.sock"), 0).unwrap();
    let (pid, dying, report) = notified_child();
    let kept = dying.try_clone().unwrap();

    let in_flight = InFlight::create().unwrap();
    let mut answered = 0;
    if !noted {
        let first = receive_one(&dying, pid);
        in_flight.record(0, first.id);
        answer(&dying, first.id);
        answered = 1;
    }
    let req = receive_one(&dying, pid);
    if noted {
        in_flight.record(0, req.id);
    }
    drop(dying);

    // Only the keeper holds the fd now: the child waits, its call neither answered nor failed.
    // (wchan reads 0 while a task is still on its way to sleep: wait for it to be asleep first.)
    let start = Instant::now();
    while !waits_for_an_answer(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the child never waited"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        assert!(waits_for_an_answer(pid), "the child stopped waiting");
        thread::sleep(Duration::from_millis(50));
    }
    assert!(!report.is_finished());

    // The next monitor takes the fd over and answers the call the dead one had received.
    let mapping = InFlight::map(in_flight.as_fd().try_clone_to_owned().unwrap()).unwrap();
    let mut supervisor = next_monitor(listener, kept, pid, mapping);
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
        CALLS - 1 - answered,
        "the first were the dead one's"
    );
}

/// Why the in-flight page exists: the kernel never offers a received notification to RECV again,
/// so without its id the next monitor serves the fd and the thread still waits; answered by id
/// from another holder, it goes on.
#[test]
fn a_received_notification_is_never_offered_again() {
    if !is_root("a_received_notification_is_never_offered_again") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let listener = HandoverListener::bind(&dir.path().join("notify.sock"), 0).unwrap();
    let (pid, dying, report) = notified_child();
    let kept = dying.try_clone().unwrap();
    let answering = dying.try_clone().unwrap();
    let req = receive_one(&dying, pid);
    drop(dying);

    // The next monitor, told of nothing in flight.
    let mut supervisor = next_monitor(listener, kept, pid, InFlight::create().unwrap());
    let end_at = Instant::now() + Duration::from_millis(500);
    assert_eq!(
        supervisor.run(|| Instant::now() > end_at).unwrap(),
        RunEnd::Stopped
    );
    assert_eq!(supervisor.stats().notifications, 0);
    assert!(waits_for_an_answer(pid), "the received call was answered");

    // Answered by id from another holder, the thread goes on and the monitor serves the rest.
    answer(&answering, req.id);
    drop(answering);
    let end_at = Instant::now() + Duration::from_secs(30);
    assert_eq!(
        supervisor.run(|| Instant::now() > end_at).unwrap(),
        RunEnd::AllHungUp
    );
    let report = report.join().unwrap();
    assert_eq!(report.succeeded, CALLS, "{report:?}");
}
