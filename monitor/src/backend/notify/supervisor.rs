//! The per-container notify loop: one thread polling the handover listener, every notify fd runc
//! has handed over, and the control socket.
//!
//! One thread because more do not pay: measured on two cores, four supervisor threads made
//! mysqlslap slower than one. The loop answers each notification before telling the sink, keeps going
//! through EINTR/ENOENT (a target interrupted or killed mid-call), and drops a notify fd only on
//! POLLHUP: closing one that tasks still use makes all their notified calls fail with ENOSYS.
//!
//! The fast path: while exactly one notify fd is open (init and its children share one filter; a
//! `runc exec` adds a second fd only while its process lives), the loop blocks in RECV on it
//! directly, without a poll per notification, which was most of what the monitor cost above the
//! bare C loop. A watcher thread (see `watcher`) polls the other fds and the stop-check timer
//! meanwhile and interrupts the RECV when they need the loop, which then runs one ordinary poll
//! round and goes back. The sink is still only touched by this thread.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use serde::Serialize;

use super::keeper_link::{KeeperLink, KeptFd};
use super::listener::{HandoverListener, ListenerError};
use super::seccomp_fd;
use crate::backend::control;
use crate::backend::memory::TaskMemory;
use crate::backend::sink::{Admission, RunEnd, Syscall, SyscallSink};
use crate::backend::watcher::{self, WakeSignalBlocked, Watcher};
use crate::backend::{inspect_document, Backend, Delivery};

/// How the supervisor runs.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// Ask for `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` on each notify fd (ignored by kernels < 6.6).
    pub sync_wake_up: bool,
    /// Give up if no handover arrives within this time after `run` starts.
    pub handover_timeout: Option<Duration>,
    /// How often the stop condition (and the handover timeout) is checked, at most; also the
    /// longest poll sleep.
    pub stop_check_interval: Duration,
    /// Block in RECV, without poll, while exactly one notify fd is open. Off, every notification
    /// goes through poll as with several fds (kept for measuring the difference). The fast path
    /// takes SIGUSR2 for itself (see `watcher`), and is not used if the process handles it.
    pub fast_path: bool,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            sync_wake_up: true,
            handover_timeout: None,
            stop_check_interval: Duration::from_millis(100),
            fast_path: true,
        }
    }
}

/// Counters of the loop, reported by `inspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SupervisorStats {
    /// Notifications received.
    pub notifications: u64,
    /// Of those, answered with an error because the sink denied them.
    pub denied: u64,
    /// Notify fds accepted (init, then one per `runc exec`).
    pub handovers: u64,
    /// Connections to the listener that were refused (wrong uid, bad message).
    pub refused_handovers: u64,
    /// Notify fds still in use by some task.
    pub fds_open: usize,
    /// RECV or SEND interrupted by a signal to the monitor, other than the fast path's own.
    pub eintr: u64,
    /// Times the fast path left RECV because the watcher asked (a handover, a control client, the
    /// stop-check timer).
    pub wakeups: u64,
    /// RECV or SEND on a notification whose target was interrupted or died.
    pub enoent: u64,
    /// Other RECV/SEND failures (logged).
    pub errors: u64,
    /// Whether the last notify fd got synchronous wake-ups; `None` before any handover.
    pub sync_wake_up: Option<bool>,
    /// Notify fds taken over from the keeper after the previous monitor died.
    pub resumed: u64,
    /// Of their notifications, those the previous monitor had received and not answered, answered
    /// now (CONTINUE).
    pub resumed_in_flight: u64,
    /// Handed-over fds that could not be deposited with the keeper (logged): a monitor that dies
    /// now breaks their processes.
    pub deposit_errors: u64,
}

/// Failures that end the loop. Everything a container can cause is counted instead.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("failed to make the seccomp listener socket {path} non-blocking: {source}")]
    ListenerNonBlocking {
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error("failed to poll {fds} fds (notify fds, listener, control socket): {source}")]
    Poll { fds: usize, source: Errno },
}

/// What became of one attempt to serve a notification.
enum Served {
    /// Received and answered, or gone before the answer: the fd works.
    Answered,
    /// RECV was interrupted by a signal to the monitor.
    Interrupted,
    /// RECV failed otherwise: ENOENT (the target went away, or no task uses the filter any more),
    /// or an error. Only poll tells which.
    NotReceived,
}

struct NotifyFd {
    fd: OwnedFd,
    hung_up: bool,
    /// Its slot in the keeper's in-flight page, if deposited with a keeper.
    slot: Option<usize>,
}

/// Serves one container's notify fds until no task uses them.
pub struct NotifySupervisor<S> {
    listener: HandoverListener,
    config: SupervisorConfig,
    fds: Vec<NotifyFd>,
    pollfds: Vec<libc::pollfd>,
    delivery: Delivery<S, SupervisorStats>,
    keeper: Option<KeeperLink>,
}

impl<S: SyscallSink> NotifySupervisor<S> {
    /// A supervisor taking handovers on `listener` and reporting to `sink`.
    pub fn new(listener: HandoverListener, sink: S, config: SupervisorConfig) -> Self {
        Self {
            listener,
            config,
            fds: Vec::new(),
            pollfds: Vec::new(),
            delivery: Delivery::new(sink, SupervisorStats::default()),
            keeper: None,
        }
    }

    /// Deposits every fd handed over with the keeper at `link`, and takes over `kept`, the fds the
    /// keeper held for a monitor that died: the notification that monitor had received last on
    /// each and perhaps not answered is answered now (CONTINUE; its judgement died with it), so
    /// that no thread of the container waits for ever.
    pub fn with_keeper(mut self, mut link: KeeperLink, kept: Vec<KeptFd>) -> Self {
        for kept in kept {
            link.take_slot(kept.slot);
            let last = link.in_flight(kept.slot);
            if last != 0 && answer_lost_call(kept.fd.as_fd(), last) {
                self.delivery.stats.resumed_in_flight += 1;
            }
            self.delivery.sink.on_resume(&kept.handover);
            self.fds.push(NotifyFd {
                fd: kept.fd,
                hung_up: false,
                slot: Some(kept.slot),
            });
            self.delivery.stats.resumed += 1;
            self.delivery.stats.handovers += 1;
        }
        self.delivery.stats.fds_open = self.fds.len();
        self.keeper = Some(link);
        self
    }
}

impl<S: SyscallSink> Backend for NotifySupervisor<S> {
    type Sink = S;
    type Stats = SupervisorStats;
    type Error = SupervisorError;

    /// runc's init can make a notified call before runc hands its notify fd over.
    const START_CAN_STICK: bool = true;

    fn delivery(&self) -> &Delivery<S, SupervisorStats> {
        &self.delivery
    }

    fn delivery_mut(&mut self) -> &mut Delivery<S, SupervisorStats> {
        &mut self.delivery
    }

    fn into_delivery(self) -> Delivery<S, SupervisorStats> {
        self.delivery
    }

    /// Runs the loop until every handed-over fd has hung up, `should_stop` returns true (checked
    /// at most every `stop_check_interval`), or no handover came within `handover_timeout`.
    fn run(&mut self, mut should_stop: impl FnMut() -> bool) -> Result<RunEnd, SupervisorError> {
        self.listener.set_nonblocking(true).map_err(|source| {
            SupervisorError::ListenerNonBlocking {
                path: self.listener.path().to_path_buf(),
                source,
            }
        })?;
        let started = Instant::now();
        let mut last_check = started;
        let poll_ms = self
            .config
            .stop_check_interval
            .as_millis()
            .clamp(1, i32::MAX as u128) as i32;
        // The wake signal stays blocked on this thread except while the fast path is armed, and
        // the watcher inherits the blocked mask, so that the signal only ever lands on RECV/SEND.
        let fast = self.config.fast_path && watcher::install_wake_handler();
        let _blocked = fast.then(WakeSignalBlocked::new);
        let watcher = if fast {
            Watcher::spawn()
                .inspect_err(|e| {
                    log::warn!("cannot start the notify watcher thread: {e}; fast path off")
                })
                .ok()
        } else {
            None
        };
        loop {
            if self.delivery.stats.handovers > 0 && self.fds.is_empty() {
                return Ok(RunEnd::AllHungUp);
            }
            let now = Instant::now();
            if now.duration_since(last_check) >= self.config.stop_check_interval {
                last_check = now;
                self.delivery.sink.on_clock(now);
                if should_stop() {
                    return Ok(RunEnd::Stopped);
                }
                if let Some(timeout) = self.config.handover_timeout {
                    if self.delivery.stats.handovers == 0 && now.duration_since(started) >= timeout
                    {
                        return Ok(RunEnd::HandoverTimeout);
                    }
                }
            }

            let mut timeout = poll_ms;
            if let Some(watcher) = watcher.as_ref().filter(|_| self.fds.len() == 1) {
                self.serve_fast(watcher, last_check + self.config.stop_check_interval);
                // Whatever ended the fast path is ready now: look without waiting.
                timeout = 0;
            }

            self.fill_pollfds();
            // SAFETY: `pollfds` is a live Vec of initialised pollfd; its length is passed with it.
            let ready = unsafe {
                libc::poll(
                    self.pollfds.as_mut_ptr(),
                    self.pollfds.len() as libc::nfds_t,
                    timeout,
                )
            };
            match Errno::result(ready) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(source) => {
                    return Err(SupervisorError::Poll {
                        fds: self.pollfds.len(),
                        source,
                    })
                }
            }

            for i in 0..self.fds.len() {
                let revents = self.pollfds[i].revents;
                if revents & libc::POLLIN != 0 {
                    self.serve_one(i, None);
                }
                if revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                    self.fds[i].hung_up = true;
                }
            }
            let before = self.fds.len();
            if let Some(keeper) = &mut self.keeper {
                for slot in self
                    .fds
                    .iter()
                    .filter(|fd| fd.hung_up)
                    .filter_map(|fd| fd.slot)
                {
                    keeper.release(slot);
                }
            }
            self.fds.retain(|fd| !fd.hung_up);
            if self.fds.len() != before {
                self.delivery.stats.fds_open = self.fds.len();
            }

            // `pollfds` still has the layout of before the hung-up fds were dropped.
            let listener_at = before;
            if self.pollfds[listener_at].revents & libc::POLLIN != 0 {
                self.accept_handovers();
            }
            let Delivery {
                sink,
                stats,
                control,
            } = &mut self.delivery;
            if let Some(control) = control {
                control.serve(&self.pollfds[listener_at + 1..], |request| {
                    if request == control::INSPECT {
                        inspect_document(sink, stats)
                    } else {
                        control::unknown_request(request, &[control::INSPECT])
                    }
                });
            }
        }
    }
}

impl<S: SyscallSink> NotifySupervisor<S> {
    /// Notify fds first, so index i of `fds` is index i of `pollfds`; then the listener; then the
    /// control socket's fds. Rebuilt each round without allocating once capacity is reached.
    fn fill_pollfds(&mut self) {
        self.pollfds.clear();
        for notify in &self.fds {
            self.pollfds
                .push(pollfd(notify.fd.as_raw_fd(), libc::POLLIN));
        }
        self.pollfds
            .push(pollfd(self.listener.as_fd().as_raw_fd(), libc::POLLIN));
        if let Some(control) = &self.delivery.control {
            control.push_pollfds(&mut self.pollfds);
        }
    }

    /// The fast path on the only notify fd: receive → respond → observe, blocking in RECV, until
    /// the watcher asks for a poll round (a handover, a control client, `stop_at`) or RECV fails
    /// otherwise than by EINTR, e.g. ENOENT once no task uses the filter: the poll round that
    /// follows then sees POLLHUP. (Kernels before 6.6 wait in RECV on a semaphore that the last
    /// task's exit does not release; there the stop-check timer's wake-up finds the POLLHUP, at
    /// most `stop_check_interval` late.)
    fn serve_fast(&mut self, watcher: &Watcher, stop_at: Instant) {
        self.fill_pollfds();
        watcher.arm(&self.pollfds[1..], stop_at);
        while !watcher.wake_requested() {
            match self.serve_one(0, Some(watcher)) {
                Served::Answered | Served::Interrupted => {}
                Served::NotReceived => break,
            }
        }
        if watcher.disarm() {
            self.delivery.stats.wakeups += 1;
        }
    }

    /// Receive → respond → observe, for one notification of `fds[i]`: pending if called after
    /// poll, else waited for. EINTR while `watcher` asks to wake up is the fast path's own signal,
    /// not counted.
    fn serve_one(&mut self, i: usize, watcher: Option<&Watcher>) -> Served {
        let ours = |watcher: Option<&Watcher>| watcher.is_some_and(Watcher::wake_requested);
        let fd = self.fds[i].fd.as_fd();
        let mut req = libc::seccomp_notif {
            id: 0,
            pid: 0,
            flags: 0,
            data: libc::seccomp_data {
                nr: 0,
                arch: 0,
                instruction_pointer: 0,
                args: [0; 6],
            },
        };
        match seccomp_fd::receive(fd, &mut req) {
            Ok(()) => {}
            Err(Errno::EINTR) => {
                if !ours(watcher) {
                    self.delivery.stats.eintr += 1;
                }
                return Served::Interrupted;
            }
            Err(Errno::ENOENT) => {
                self.delivery.stats.enoent += 1;
                return Served::NotReceived;
            }
            Err(e) => {
                self.delivery.stats.errors += 1;
                log::warn!("seccomp notify RECV on fd {} failed: {e}", fd.as_raw_fd());
                return Served::NotReceived;
            }
        }
        if let (Some(keeper), Some(slot)) = (&self.keeper, self.fds[i].slot) {
            keeper.record(slot, req.id);
        }
        self.delivery.stats.notifications += 1;
        let call = Syscall {
            pid: req.pid,
            arch: req.data.arch,
            nr: req.data.nr,
            args: req.data.args,
        };
        let memory = seccomp_fd::CallerOf {
            fd,
            id: req.id,
            task: TaskMemory { tid: req.pid },
        };
        let admission = match self.delivery.sink.admit(&call) {
            Admission::Continue => self.delivery.sink.admit_arguments(&call, &memory),
            deny => deny,
        };
        let errno = match admission {
            Admission::Continue => 0,
            Admission::Deny(errno) => errno,
        };
        loop {
            match seccomp_fd::respond(fd, req.id, errno) {
                Ok(()) => {
                    if errno != 0 {
                        self.delivery.stats.denied += 1;
                    }
                    self.delivery.sink.observe(&call);
                    return Served::Answered;
                }
                // The answer was not delivered and the target waits for it: send it again.
                Err(Errno::EINTR) => {
                    if !ours(watcher) {
                        self.delivery.stats.eintr += 1;
                    }
                }
                // The call was interrupted and will be notified again if restarted, or the target
                // died: either way this call did not run.
                Err(Errno::ENOENT) => {
                    self.delivery.stats.enoent += 1;
                    return Served::Answered;
                }
                Err(e) => {
                    self.delivery.stats.errors += 1;
                    log::warn!(
                        "seccomp notify SEND for pid {} on fd {} failed: {e}",
                        call.pid,
                        fd.as_raw_fd()
                    );
                    return Served::Answered;
                }
            }
        }
    }

    /// Takes every pending connection on the listener. A refused one is logged and counted: the
    /// runtime that sent it sees its connection closed, other containers' processes are unaffected.
    fn accept_handovers(&mut self) {
        loop {
            match self.listener.accept() {
                Ok(handover) => {
                    let handed_over = handover.state.handover();
                    // First of all: a monitor that dies from here on must not take the fd along.
                    let slot = match (&mut self.keeper, &handed_over) {
                        (Some(keeper), Some(h)) => match keeper.deposit(handover.fd.as_fd(), h) {
                            Ok(slot) => Some(slot),
                            Err(e) => {
                                self.delivery.stats.deposit_errors += 1;
                                log::error!("cannot deposit a notify fd with the keeper: {e}");
                                None
                            }
                        },
                        _ => None,
                    };
                    if self.config.sync_wake_up {
                        match seccomp_fd::enable_sync_wake_up(handover.fd.as_fd()) {
                            Ok(enabled) => self.delivery.stats.sync_wake_up = Some(enabled),
                            Err(e) => {
                                self.delivery.stats.sync_wake_up = Some(false);
                                log::warn!("failed to enable sync wake-up on a notify fd: {e}");
                            }
                        }
                    } else {
                        self.delivery.stats.sync_wake_up = Some(false);
                    }
                    if let Some(handed_over) = handed_over {
                        self.delivery.sink.on_handover(&handed_over);
                    }
                    log::info!(
                        "notify fd of pid {} ({}) handed over by pid {}",
                        handover.state.pid,
                        handover.state.state.status,
                        handover.peer.pid()
                    );
                    self.fds.push(NotifyFd {
                        fd: handover.fd,
                        hung_up: false,
                        slot,
                    });
                    self.delivery.stats.handovers += 1;
                    self.delivery.stats.fds_open = self.fds.len();
                }
                Err(ListenerError::Accept { source, .. })
                    if source.kind() == io::ErrorKind::WouldBlock =>
                {
                    return
                }
                Err(e @ ListenerError::Accept { .. }) => {
                    log::error!("{e}");
                    return;
                }
                Err(e) => {
                    self.delivery.stats.refused_handovers += 1;
                    log::error!("{e}");
                }
            }
        }
    }
}

/// Ids after the last one noted that a lost call's id may be: the ids of calls withdrawn before
/// they were received (a signal restarts the call under a new id) come between.
const LOST_ID_SEARCH: u64 = 1024;

/// Answers (CONTINUE) the call a dead monitor received on `fd` and never answered, if there is
/// one, knowing `last`, the last id it noted. It is `last` itself if it died before answering, or,
/// if it died between receiving the next one and noting it, the first id after `last` that is
/// received and unanswered: ids grow in the order calls are made, which is the order they are
/// received in, and nobody else has received from `fd` since.
fn answer_lost_call(fd: BorrowedFd<'_>, last: u64) -> bool {
    if seccomp_fd::respond(fd, last, 0).is_ok() {
        return true;
    }
    (1..=LOST_ID_SEARCH)
        .map(|n| last.wrapping_add(n))
        .find(|&id| seccomp_fd::still_waiting(fd, id))
        .is_some_and(|id| seccomp_fd::respond(fd, id, 0).is_ok())
}

fn pollfd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}
