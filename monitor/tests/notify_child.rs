//! The notify supervisor against forked children that install a real seccomp notify filter and
//! hand their notify fd over the listener socket the way runc does.

mod common;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    is_root, process_state, send_like_runc, spawn_getppid_child, spawn_getppid_child_catching,
    ChildReport,
};
use ids_monitor::backend::control::{self, ControlServer, INSPECT};
use ids_monitor::backend::notify::{HandoverListener, NotifySupervisor, SupervisorConfig};
use ids_monitor::backend::sink::{Admission, CountingSink, NullSink, RunEnd, Syscall, SyscallSink};
use ids_monitor::backend::{Backend, Handover, Origin};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const TEST_DEADLINE: Duration = Duration::from_secs(30);

struct Fixture {
    _dir: tempfile::TempDir,
    listener_path: PathBuf,
    control_path: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    Fixture {
        listener_path: dir.path().join("notify.sock"),
        control_path: dir.path().join("control.sock"),
        _dir: dir,
    }
}

fn config() -> SupervisorConfig {
    SupervisorConfig {
        handover_timeout: Some(Duration::from_secs(10)),
        ..SupervisorConfig::default()
    }
}

/// Hands `fd` over as runc would, then lets the child run: returns the thread that collects its
/// report (and reaps it) while the caller runs the supervisor.
fn hand_over_and_run(
    listener: &Path,
    mut child: common::NotifiedChild,
) -> thread::JoinHandle<ChildReport> {
    hand_over(listener, &mut child);
    thread::spawn(move || child.finish(TEST_DEADLINE))
}

/// Sends the child's notify fd as runc would, and closes the test's copy.
fn hand_over(listener: &Path, child: &mut common::NotifiedChild) {
    let fd: OwnedFd = child.notify_fd.take().expect("child has a notify fd");
    send_like_runc(
        listener,
        &process_state(child.pid.as_raw(), "creating"),
        fd.as_raw_fd(),
    );
}

fn deadline() -> impl FnMut() -> bool {
    let end = Instant::now() + TEST_DEADLINE;
    move || Instant::now() > end
}

#[test]
fn every_notified_call_is_observed_and_the_loop_ends_on_hangup() {
    if !is_root("every_notified_call_is_observed_and_the_loop_ends_on_hangup") {
        return;
    }
    observe_all_until_hangup(true);
}

/// The poll path, which serves several fds, kept whole for one fd when the fast path is off.
#[test]
fn without_the_fast_path_every_call_is_observed_and_the_loop_ends_on_hangup() {
    if !is_root("without_the_fast_path_every_call_is_observed_and_the_loop_ends_on_hangup") {
        return;
    }
    observe_all_until_hangup(false);
}

fn observe_all_until_hangup(fast_path: bool) {
    const CALLS: u64 = 2000;
    let f = fixture();
    let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
    let child = spawn_getppid_child(&["getppid"], CALLS);
    let pid = child.pid;
    let report = hand_over_and_run(&f.listener_path, child);

    let config = SupervisorConfig {
        fast_path,
        ..config()
    };
    let mut supervisor = NotifySupervisor::new(listener, CountingSink::default(), config);
    let end = supervisor.run(deadline()).unwrap();
    let report = report.join().unwrap();

    assert_eq!(end, RunEnd::AllHungUp);
    assert_eq!(report.succeeded, CALLS, "{report:?}");
    let stats = supervisor.stats().clone();
    assert_eq!(stats.handovers, 1);
    assert_eq!(stats.fds_open, 0);
    assert_eq!(stats.notifications, CALLS);
    let sink = supervisor.into_sink();
    assert_eq!(sink.count_of("getppid"), CALLS);
    assert_eq!(sink.total(), CALLS);
    assert_eq!(
        sink.handovers(),
        &[Handover {
            pid: pid.as_raw() as u32,
            origin: Origin::Creating
        }]
    );
}

/// Denies getppid with EPERM.
struct DenyGetppid(u64);

impl SyscallSink for DenyGetppid {
    fn admit(&mut self, call: &Syscall) -> Admission {
        if i64::from(call.nr) == libc::SYS_getppid {
            Admission::Deny(libc::EPERM)
        } else {
            Admission::Continue
        }
    }

    fn observe(&mut self, _call: &Syscall) {
        self.0 += 1;
    }

    fn inspect(&self) -> serde_json::Value {
        serde_json::json!({ "observed": self.0 })
    }
}

#[test]
fn a_denied_call_fails_with_the_errno_and_is_still_observed() {
    if !is_root("a_denied_call_fails_with_the_errno_and_is_still_observed") {
        return;
    }
    let f = fixture();
    let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
    let report = hand_over_and_run(&f.listener_path, spawn_getppid_child(&["getppid"], 50));
    let mut supervisor = NotifySupervisor::new(listener, DenyGetppid(0), config());
    assert_eq!(supervisor.run(deadline()).unwrap(), RunEnd::AllHungUp);
    let report = report.join().unwrap();
    assert_eq!(
        (
            report.succeeded,
            report.eperm,
            report.eintr,
            report.other_errors
        ),
        (0, 50, 0, 0)
    );
    assert_eq!(supervisor.stats().denied, 50);
    assert_eq!(supervisor.sink().0, 50);
}

/// Kills the first process that makes a notified call while that call waits for its answer.
struct KillFirstCaller {
    victim: Pid,
    killed: bool,
    observed: u64,
}

impl SyscallSink for KillFirstCaller {
    fn admit(&mut self, call: &Syscall) -> Admission {
        if !self.killed && call.pid == self.victim.as_raw() as u32 {
            self.killed = true;
            kill(self.victim, Signal::SIGKILL).unwrap();
            // Give the victim time to leave the notification wait, so the answer finds it gone.
            thread::sleep(Duration::from_millis(100));
        }
        Admission::Continue
    }

    fn observe(&mut self, _call: &Syscall) {
        self.observed += 1;
    }

    fn inspect(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

#[test]
fn a_target_killed_mid_call_does_not_stop_the_loop_for_the_others() {
    if !is_root("a_target_killed_mid_call_does_not_stop_the_loop_for_the_others") {
        return;
    }
    const CALLS: u64 = 500;
    let f = fixture();
    let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
    let mut victim = spawn_getppid_child(&["getppid"], 1_000_000);
    let victim_pid = victim.pid;
    hand_over(&f.listener_path, &mut victim);
    let reaper = thread::spawn(move || nix::sys::wait::waitpid(victim_pid, None).unwrap());
    let survivor = hand_over_and_run(&f.listener_path, spawn_getppid_child(&["getppid"], CALLS));

    let sink = KillFirstCaller {
        victim: victim_pid,
        killed: false,
        observed: 0,
    };
    let mut supervisor = NotifySupervisor::new(listener, sink, config());
    assert_eq!(supervisor.run(deadline()).unwrap(), RunEnd::AllHungUp);
    assert_eq!(
        reaper.join().unwrap(),
        nix::sys::wait::WaitStatus::Signaled(victim_pid, Signal::SIGKILL, false)
    );
    assert_eq!(survivor.join().unwrap().succeeded, CALLS);
    let stats = supervisor.stats();
    assert_eq!(stats.handovers, 2);
    assert!(stats.enoent >= 1, "{stats:?}");
    assert!(supervisor.sink().observed >= CALLS);
}

/// Sends SIGUSR1 to the child every 200 µs until it is gone.
fn pester(pid: Pid) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut sent = 0;
        while kill(pid, Signal::SIGUSR1).is_ok() && sent < 20_000 {
            sent += 1;
            thread::sleep(Duration::from_micros(200));
        }
        sent
    })
}

/// A signal caught with SA_RESTART while a call waits for the supervisor restarts the call, which
/// is notified again: the target sees nothing, the loop sees stale notifications (ENOENT). A
/// CONTINUE that lands just as the signal does can still be accepted while the call restarts, so
/// the sink may observe a few calls twice (seen with and without the fast path), never fewer.
#[test]
fn calls_interrupted_by_restarting_signals_are_answered_again() {
    if !is_root("calls_interrupted_by_restarting_signals_are_answered_again") {
        return;
    }
    const CALLS: u64 = 100_000;
    let f = fixture();
    let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
    let child = spawn_getppid_child_catching(&["getppid"], CALLS, Some(libc::SA_RESTART));
    let signals = pester(child.pid);
    let report = hand_over_and_run(&f.listener_path, child);
    let mut supervisor = NotifySupervisor::new(listener, NullSink::default(), config());
    assert_eq!(supervisor.run(deadline()).unwrap(), RunEnd::AllHungUp);
    let report = report.join().unwrap();
    let sent = signals.join().unwrap();
    assert_eq!(report.succeeded, CALLS, "{report:?} after {sent} signals");
    let stats = supervisor.stats();
    assert!(supervisor.sink().observed >= CALLS, "{stats:?}");
    eprintln!("{sent} signals: {stats:?}");
}

/// Without SA_RESTART the kernel fails an interrupted notified call with EINTR, even one like
/// getppid that never fails natively: the monitor cannot prevent it, only keep the wait short.
/// Checks that EINTR is the only failure and that the loop survives; prints how many there were.
#[test]
fn calls_interrupted_by_non_restarting_signals_fail_with_eintr() {
    if !is_root("calls_interrupted_by_non_restarting_signals_fail_with_eintr") {
        return;
    }
    const CALLS: u64 = 100_000;
    let f = fixture();
    let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
    let child = spawn_getppid_child_catching(&["getppid"], CALLS, Some(0));
    let signals = pester(child.pid);
    let report = hand_over_and_run(&f.listener_path, child);
    let mut supervisor = NotifySupervisor::new(listener, NullSink::default(), config());
    assert_eq!(supervisor.run(deadline()).unwrap(), RunEnd::AllHungUp);
    let report = report.join().unwrap();
    let sent = signals.join().unwrap();
    assert_eq!(report.succeeded + report.eintr, CALLS, "{report:?}");
    assert_eq!(report.other_errors, 0, "{report:?}");
    eprintln!(
        "{sent} signals: {} of {CALLS} getppid failed with EINTR; {:?}",
        report.eintr,
        supervisor.stats()
    );
}

#[test]
fn a_handover_from_another_uid_is_refused() {
    let f = fixture();
    let uid = nix::unistd::geteuid().as_raw();
    let listener = HandoverListener::bind(&f.listener_path, uid.wrapping_add(1)).unwrap();
    let (pipe_r, _pipe_w) = nix::unistd::pipe().unwrap();
    send_like_runc(
        &f.listener_path,
        &process_state(1, "creating"),
        pipe_r.as_raw_fd(),
    );
    let err = listener.accept().unwrap_err();
    assert!(err.to_string().contains("only uid"), "{err}");
}

#[test]
fn a_handover_of_something_else_than_a_notify_fd_is_refused_and_the_loop_goes_on() {
    let f = fixture();
    let uid = nix::unistd::geteuid().as_raw();
    let listener = HandoverListener::bind(&f.listener_path, uid).unwrap();
    let (pipe_r, _pipe_w) = nix::unistd::pipe().unwrap();
    send_like_runc(
        &f.listener_path,
        &process_state(1, "creating"),
        pipe_r.as_raw_fd(),
    );
    let config = SupervisorConfig {
        handover_timeout: Some(Duration::from_millis(500)),
        ..SupervisorConfig::default()
    };
    let mut supervisor = NotifySupervisor::new(listener, NullSink::default(), config);
    assert_eq!(supervisor.run(deadline()).unwrap(), RunEnd::HandoverTimeout);
    assert_eq!(supervisor.stats().refused_handovers, 1);
    assert_eq!(supervisor.stats().handovers, 0);
}

#[test]
fn the_stop_condition_ends_the_loop() {
    let f = fixture();
    let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        flag.store(true, Ordering::Relaxed);
    });
    let mut supervisor = NotifySupervisor::new(listener, NullSink::default(), config());
    let started = Instant::now();
    assert_eq!(
        supervisor.run(|| stop.load(Ordering::Relaxed)).unwrap(),
        RunEnd::Stopped
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    setter.join().unwrap();
}

#[test]
fn the_control_socket_answers_inspect_while_notifications_flow() {
    if !is_root("the_control_socket_answers_inspect_while_notifications_flow") {
        return;
    }
    const CALLS: u64 = 100_000;
    let f = fixture();
    let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
    let control = ControlServer::bind(&f.control_path).unwrap();
    let report = hand_over_and_run(&f.listener_path, spawn_getppid_child(&["getppid"], CALLS));

    let control_path = f.control_path.clone();
    let client = thread::spawn(move || {
        let end = Instant::now() + TEST_DEADLINE;
        while Instant::now() < end {
            if let Ok(doc) = control::request(&control_path, INSPECT, Duration::from_secs(2)) {
                let seen = doc["supervisor"]["notifications"].as_u64().unwrap_or(0);
                if seen > 0 && seen < CALLS {
                    return doc;
                }
            }
            thread::sleep(Duration::from_millis(5));
        }
        panic!("no inspect answer while notifications were flowing");
    });

    let mut supervisor =
        NotifySupervisor::new(listener, CountingSink::default(), config()).with_control(control);
    assert_eq!(supervisor.run(deadline()).unwrap(), RunEnd::AllHungUp);
    assert_eq!(report.join().unwrap().succeeded, CALLS);
    let doc = client.join().unwrap();
    assert_eq!(doc["supervisor"]["handovers"], 1);
    assert!(doc["syscalls"]["getppid"].as_u64().unwrap() > 0, "{doc}");
    assert_eq!(doc["supervisor"]["fds_open"], 1);
}

#[test]
fn the_control_socket_names_an_unknown_request() {
    let f = fixture();
    let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
    let control = ControlServer::bind(&f.control_path).unwrap();
    let control_path = f.control_path.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let client = thread::spawn(move || {
        let answer = control::request(&control_path, "frobnicate", Duration::from_secs(5));
        flag.store(true, Ordering::Relaxed);
        answer
    });
    let mut supervisor =
        NotifySupervisor::new(listener, NullSink::default(), config()).with_control(control);
    let mut give_up = deadline();
    supervisor
        .run(|| stop.load(Ordering::Relaxed) || give_up())
        .unwrap();
    let answer = client.join().unwrap().unwrap();
    assert!(
        answer["error"].as_str().unwrap().contains("frobnicate"),
        "{answer}"
    );
}

/// Not a test: the cost of one notified getppid with and without sync wake-up, through poll and
/// through the fast path, and natively.
/// `cargo test --release -p ids-monitor --test notify_child -- --ignored --nocapture`
#[test]
#[ignore]
fn measure_getppid_round_trip() {
    if !is_root("measure_getppid_round_trip") {
        return;
    }
    const CALLS: u64 = 200_000;
    const ROUNDS: usize = 7;
    let per_call = |report: ChildReport| report.loop_ns as f64 / 1000.0 / CALLS as f64;
    let native = spawn_getppid_child(&[], CALLS).finish(TEST_DEADLINE);
    println!("native: {:.2} µs/call", per_call(native));
    for (fast_path, sync_wake_up) in [(false, false), (false, true), (true, false), (true, true)] {
        let mut rounds = Vec::new();
        for _ in 0..ROUNDS {
            let f = fixture();
            let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
            let report =
                hand_over_and_run(&f.listener_path, spawn_getppid_child(&["getppid"], CALLS));
            let config = SupervisorConfig {
                sync_wake_up,
                fast_path,
                ..config()
            };
            let mut supervisor = NotifySupervisor::new(listener, NullSink::default(), config);
            assert_eq!(supervisor.run(deadline()).unwrap(), RunEnd::AllHungUp);
            let report = report.join().unwrap();
            assert_eq!(report.succeeded, CALLS);
            if sync_wake_up && supervisor.stats().sync_wake_up != Some(true) {
                println!("this kernel has no sync wake-up (Linux < 6.6)");
            }
            rounds.push(per_call(report));
        }
        let listed: Vec<String> = rounds.iter().map(|r| format!("{r:.2}")).collect();
        rounds.sort_by(f64::total_cmp);
        println!(
            "notify, fast path {fast_path:5}, sync wake-up {sync_wake_up:5}: median {:.2} µs/call over {ROUNDS} runs ({})",
            rounds[ROUNDS / 2],
            listed.join(" ")
        );
    }
}

#[test]
fn a_handover_message_larger_than_one_read_is_read_whole() {
    let f = fixture();
    let uid = nix::unistd::geteuid().as_raw();
    let listener = HandoverListener::bind(&f.listener_path, uid).unwrap();
    let mut state = process_state(1, "creating");
    state.state.annotations = Some(
        (0..500)
            .map(|i| (format!("io.example.annotation-{i}"), "x".repeat(64)))
            .collect(),
    );
    let (pipe_r, _pipe_w) = nix::unistd::pipe().unwrap();
    send_like_runc(&f.listener_path, &state, pipe_r.as_raw_fd());
    // Parsed whole: the refusal is about the fd, which is checked after the message.
    let err = listener.accept().unwrap_err();
    assert!(err.to_string().contains("not a seccomp notify fd"), "{err}");
}

/// Fast path tests: while its one notify fd is idle, the supervisor blocks in RECV; these check
/// that what it no longer polls for meanwhile still gets it out promptly.
mod idle {
    use super::*;
    use common::spawn_idle_getppid_child;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    /// Long enough that the stop-check timer cannot be what wakes the supervisor in time.
    fn no_timer_config() -> SupervisorConfig {
        SupervisorConfig {
            stop_check_interval: Duration::from_secs(10),
            ..config()
        }
    }

    const PROMPT: Duration = Duration::from_secs(1);

    /// Runs the supervisor on its own thread until its notify fds hang up.
    fn run_in_background<S: SyscallSink + Send + 'static>(
        mut supervisor: NotifySupervisor<S>,
    ) -> thread::JoinHandle<NotifySupervisor<S>> {
        thread::spawn(move || {
            assert_eq!(supervisor.run(deadline()).unwrap(), RunEnd::AllHungUp);
            supervisor
        })
    }

    /// Asks for `inspect` and returns the answer as soon as it is whole. Not `control::request`,
    /// which waits for the monitor to close the connection: children that other tests fork
    /// meanwhile inherit the monitor's end of it, and delay that close until they exit.
    fn inspect_now(path: &Path) -> serde_json::Value {
        let mut stream = UnixStream::connect(path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(format!("{INSPECT}\n").as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let len = stream.read(&mut chunk).unwrap();
            assert!(len > 0, "connection closed before a whole answer");
            answer.extend_from_slice(&chunk[..len]);
            if let Ok(doc) = serde_json::from_slice(&answer) {
                return doc;
            }
        }
    }

    /// Gives the supervisor time to take the first fd and block in RECV on it.
    fn settle() {
        thread::sleep(Duration::from_millis(300));
    }

    #[test]
    fn a_handover_while_the_first_process_is_idle_is_accepted_promptly() {
        if !is_root("a_handover_while_the_first_process_is_idle_is_accepted_promptly") {
            return;
        }
        const CALLS: u64 = 1000;
        let f = fixture();
        let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
        let mut idle = spawn_idle_getppid_child(&["getppid"], CALLS);
        hand_over(&f.listener_path, &mut idle);
        let supervisor = run_in_background(NotifySupervisor::new(
            listener,
            NullSink::default(),
            no_timer_config(),
        ));
        settle();

        let started = Instant::now();
        let second = hand_over_and_run(&f.listener_path, spawn_getppid_child(&["getppid"], CALLS));
        assert_eq!(second.join().unwrap().succeeded, CALLS);
        let waited = started.elapsed();
        assert!(waited < PROMPT, "second process served after {waited:?}");

        assert_eq!(idle.finish(TEST_DEADLINE).succeeded, CALLS);
        let supervisor = supervisor.join().unwrap();
        let stats = supervisor.stats();
        assert_eq!(stats.handovers, 2);
        assert!(stats.wakeups >= 1, "{stats:?}");
        assert_eq!(
            stats.eintr, 0,
            "the fast path's own signals are not counted: {stats:?}"
        );
        assert_eq!(supervisor.sink().observed, 2 * CALLS);
    }

    /// Each request takes the fast path out of RECV a few times (accept, read, write), so many
    /// requests in a row are many chances to lose a wake-up: a lost one shows as a slow answer.
    #[test]
    fn inspect_is_answered_promptly_every_time_while_the_process_is_idle() {
        if !is_root("inspect_is_answered_promptly_every_time_while_the_process_is_idle") {
            return;
        }
        const REQUESTS: usize = 300;
        let f = fixture();
        let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
        let control = ControlServer::bind(&f.control_path).unwrap();
        let mut idle = spawn_idle_getppid_child(&["getppid"], 10);
        hand_over(&f.listener_path, &mut idle);
        let supervisor = run_in_background(
            NotifySupervisor::new(listener, NullSink::default(), no_timer_config())
                .with_control(control),
        );
        settle();

        let mut slowest = Duration::ZERO;
        for _ in 0..REQUESTS {
            let started = Instant::now();
            let doc = inspect_now(&f.control_path);
            slowest = slowest.max(started.elapsed());
            assert_eq!(doc["supervisor"]["handovers"], 1, "{doc}");
            assert_eq!(doc["supervisor"]["notifications"], 0, "{doc}");
        }
        assert!(slowest < PROMPT, "slowest inspect answer took {slowest:?}");

        assert_eq!(idle.finish(TEST_DEADLINE).succeeded, 10);
        let supervisor = supervisor.join().unwrap();
        let stats = supervisor.stats();
        assert!(stats.wakeups >= REQUESTS as u64, "{stats:?}");
        assert_eq!(stats.eintr, 0, "{stats:?}");
        eprintln!("{REQUESTS} inspects, slowest {slowest:?}: {stats:?}");
    }

    #[test]
    fn the_stop_condition_is_honoured_while_the_process_is_idle() {
        if !is_root("the_stop_condition_is_honoured_while_the_process_is_idle") {
            return;
        }
        let f = fixture();
        let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
        let mut idle = spawn_idle_getppid_child(&["getppid"], 1);
        hand_over(&f.listener_path, &mut idle);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let setter = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            flag.store(true, Ordering::Relaxed);
            Instant::now()
        });
        let config = SupervisorConfig {
            stop_check_interval: Duration::from_millis(50),
            ..config()
        };
        let mut supervisor = NotifySupervisor::new(listener, NullSink::default(), config);
        assert_eq!(
            supervisor.run(|| stop.load(Ordering::Relaxed)).unwrap(),
            RunEnd::Stopped
        );
        let late = setter.join().unwrap().elapsed();
        assert!(
            late < Duration::from_millis(500),
            "stopped {late:?} after asked"
        );
        assert_eq!(supervisor.stats().fds_open, 1);
        drop(supervisor);
        // With the notify fd closed, the child's one getppid fails (ENOSYS) instead of waiting.
        assert_eq!(idle.finish(TEST_DEADLINE).other_errors, 1);
    }

    /// The stop-check timer fires every millisecond, a thousand wake-ups a second, while the
    /// process idles and then while it storms: none may be lost (the gap between two checks stays
    /// short) and no call may be lost or doubled.
    #[test]
    fn no_wake_up_is_lost_over_many_timer_ticks() {
        if !is_root("no_wake_up_is_lost_over_many_timer_ticks") {
            return;
        }
        const CALLS: u64 = 200_000;
        let f = fixture();
        let listener = HandoverListener::bind(&f.listener_path, 0).unwrap();
        let mut child = spawn_idle_getppid_child(&["getppid"], CALLS);
        hand_over(&f.listener_path, &mut child);
        let released = Instant::now() + Duration::from_millis(500);
        let report = thread::spawn(move || {
            thread::sleep(released.saturating_duration_since(Instant::now()));
            child.finish(TEST_DEADLINE)
        });
        let config = SupervisorConfig {
            stop_check_interval: Duration::from_millis(1),
            ..config()
        };
        let mut supervisor = NotifySupervisor::new(listener, NullSink::default(), config);
        let mut checks = 0u64;
        let mut last = Instant::now();
        let mut widest = Duration::ZERO;
        let mut out_of_time = deadline();
        let end = supervisor
            .run(|| {
                let now = Instant::now();
                widest = widest.max(now - last);
                last = now;
                checks += 1;
                out_of_time()
            })
            .unwrap();
        assert_eq!(end, RunEnd::AllHungUp);
        assert_eq!(report.join().unwrap().succeeded, CALLS);
        let stats = supervisor.stats();
        assert_eq!(supervisor.sink().observed, CALLS, "{stats:?}");
        assert_eq!(stats.eintr, 0, "{stats:?}");
        assert!(checks >= 200, "only {checks} stop checks: {stats:?}");
        assert!(
            widest < Duration::from_millis(200),
            "{widest:?} between two stop checks"
        );
        eprintln!("{checks} stop checks, widest gap {widest:?}: {stats:?}");
    }
}
