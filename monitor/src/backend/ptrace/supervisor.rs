//! The per-container trace loop: one thread, the tracer, which waits for its tracees' stops and
//! answers the control socket (`inspect`, and `trace` from ids-runc about to exec runc).
//!
//! Every call of a container thread makes two stops (`PTRACE_SYSCALL`: entry and exit). At the
//! entry the sink admits the call (a denied call is skipped: its number becomes -1 and at the exit
//! its result becomes `-errno`); the tracee is resumed, and only then does the sink observe it.
//!
//! While tracees run, the tracer polls `waitpid` a little (see [`SPIN_POLLS`]), then blocks in it;
//! the watcher thread (shared with the notify
//! fast path) interrupts it with SIGUSR2 when a control client or the stop check needs the loop.
//!
//! Signals reach the tracees unchanged: a signal-delivery stop is resumed with the same signal. A
//! group stop (SIGSTOP, SIGTSTP, ...) is left in place with `PTRACE_LISTEN`, so `docker stop`,
//! `kill -STOP` and SIGCONT behave as without the monitor; `docker pause` freezes tracees in their
//! cgroup like any task. Stopping the loop detaches from every tracee: the container goes on, no
//! longer watched. The tracees are seized without `PTRACE_O_EXITKILL`, so a monitor that dies
//! leaves them running too.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::Serialize;

use super::tracees::{Side, Tracees};
use super::PtraceStops;
use crate::backend::control;
use crate::backend::memory::TaskMemory;
use crate::backend::sink::{Admission, RunEnd, Syscall, SyscallSink, AUDIT_ARCH_X86_64};
use crate::backend::watcher::{self, WakeSignalBlocked, Watcher};
use crate::backend::{Backend, Delivery, Handover, Origin};

/// How the trace loop runs.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    /// Give up if nothing was traced within this time after `run` starts.
    pub handover_timeout: Option<Duration>,
    /// How often the stop condition is checked, at most.
    pub stop_check_interval: Duration,
    /// How container calls stop the tracee.
    pub stops: PtraceStops,
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self {
            handover_timeout: None,
            stop_check_interval: Duration::from_millis(100),
            stops: PtraceStops::Syscall,
        }
    }
}

/// Counters of the loop, reported by `inspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TraceStats {
    /// Processes seized on request (`create`, `run`, `exec`).
    pub seized: u64,
    /// Container processes that runc started (init, exec'd processes).
    pub handovers: u64,
    /// Container system calls seen (entries).
    pub syscalls: u64,
    /// Calls of runc's init in the container before its `execve`, not passed on.
    pub runc_calls: u64,
    /// Of those, skipped because the sink denied them.
    pub denied: u64,
    /// Signals delivered to tracees (passed on unchanged).
    pub signals: u64,
    /// Group stops left in place (PTRACE_LISTEN).
    pub group_stops: u64,
    /// Threads traced now.
    pub tracees: usize,
    /// Threads detached when the loop stopped.
    pub detached: u64,
    /// ptrace requests that failed on a live tracee (logged).
    pub errors: u64,
}

/// Failures that end the loop.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("the ptrace monitor needs SIGUSR2 for itself, and this process handles it already")]
    WakeSignal,
    #[error("failed to start the tracer's watcher thread: {0}")]
    Watcher(std::io::Error),
    #[error("failed to poll the control socket: {0}")]
    Poll(Errno),
}

/// The options every tracee gets: follow every thread and child, report exec; no EXITKILL.
fn trace_options(stops: PtraceStops) -> Options {
    let follow = Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACEEXEC;
    match stops {
        PtraceStops::Syscall => follow | Options::PTRACE_O_TRACESYSGOOD,
        PtraceStops::Seccomp => follow | Options::PTRACE_O_TRACESECCOMP,
    }
}

/// Traces one container's processes until none is left.
pub struct TraceSupervisor<S> {
    config: TraceConfig,
    tracees: Tracees,
    traced_any: bool,
    delivery: Delivery<S, TraceStats>,
    pollfds: Vec<libc::pollfd>,
}

impl<S: SyscallSink> TraceSupervisor<S> {
    pub fn new(sink: S, config: TraceConfig) -> Self {
        Self {
            config,
            tracees: Tracees::new(),
            traced_any: false,
            delivery: Delivery::new(sink, TraceStats::default()),
            pollfds: Vec::with_capacity(16),
        }
    }

    /// Starts tracing `pid` (a process about to exec runc), as if asked on the control socket.
    pub fn trace(&mut self, pid: u32, origin: Origin) -> Result<(), Errno> {
        ptrace::seize(Pid::from_raw(pid as i32), trace_options(self.config.stops))?;
        self.tracees.seized(pid, origin);
        self.traced_any = true;
        self.delivery.stats.seized += 1;
        self.delivery.stats.tracees = self.tracees.len();
        log::info!("tracing pid {pid} ({})", origin.status());
        Ok(())
    }
}

impl<S: SyscallSink> Backend for TraceSupervisor<S> {
    type Sink = S;
    type Stats = TraceStats;
    type Error = TraceError;

    /// The monitor traces runc before runc starts the container, and an untraced call never waits
    /// for a tracer: it runs (or, under `SECCOMP_RET_TRACE` rules, fails with ENOSYS).
    const START_CAN_STICK: bool = false;

    fn delivery(&self) -> &Delivery<S, TraceStats> {
        &self.delivery
    }

    fn delivery_mut(&mut self) -> &mut Delivery<S, TraceStats> {
        &mut self.delivery
    }

    fn into_delivery(self) -> Delivery<S, TraceStats> {
        self.delivery
    }

    /// Runs until every traced thread is gone, `should_stop` says so (then it detaches), or
    /// nothing was traced within `handover_timeout`. Must run on the thread that traces: ptrace
    /// requests are the tracer thread's own.
    fn run(&mut self, mut should_stop: impl FnMut() -> bool) -> Result<RunEnd, TraceError> {
        if !watcher::install_wake_handler() {
            return Err(TraceError::WakeSignal);
        }
        let _blocked = WakeSignalBlocked::new();
        let watcher = Watcher::spawn().map_err(TraceError::Watcher)?;
        let started = Instant::now();
        loop {
            self.delivery.sink.on_clock(Instant::now());
            if should_stop() {
                self.detach_all();
                return Ok(RunEnd::Stopped);
            }
            if self.traced_any && self.tracees.is_empty() {
                return Ok(RunEnd::AllHungUp);
            }
            if !self.traced_any
                && self
                    .config
                    .handover_timeout
                    .is_some_and(|t| started.elapsed() >= t)
            {
                return Ok(RunEnd::HandoverTimeout);
            }
            let idle = self.tracees.is_empty();
            self.serve_control(if idle {
                self.config.stop_check_interval
            } else {
                Duration::ZERO
            })?;
            if !self.tracees.is_empty() {
                self.wait_for_stops(&watcher);
            }
        }
    }
}

impl<S: SyscallSink> TraceSupervisor<S> {
    /// Polls the control socket (waiting at most `timeout`) and serves what is ready.
    fn serve_control(&mut self, timeout: Duration) -> Result<(), TraceError> {
        let Some(control) = self.delivery.control.as_ref() else {
            if !timeout.is_zero() {
                std::thread::sleep(timeout);
            }
            return Ok(());
        };
        self.pollfds.clear();
        control.push_pollfds(&mut self.pollfds);
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `pollfds` is a live, initialised array of `len` pollfd entries.
        let ready = unsafe {
            libc::poll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                millis,
            )
        };
        match Errno::result(ready) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(Errno::EINTR) => return Ok(()),
            Err(e) => return Err(TraceError::Poll(e)),
        }
        let mut control = self.delivery.control.take().expect("checked above");
        let polled = std::mem::take(&mut self.pollfds);
        control.serve(&polled, |request| self.answer(request));
        self.pollfds = polled;
        self.delivery.control = Some(control);
        Ok(())
    }

    fn answer(&mut self, request: &str) -> serde_json::Value {
        let mut words = request.split_whitespace();
        match words.next() {
            Some(control::INSPECT) => self.inspect(),
            Some(control::TRACE) => {
                let pid = words.next().and_then(|w| w.parse::<u32>().ok());
                let origin = words.next().and_then(Origin::parse);
                let (Some(pid), Some(origin)) = (pid, origin) else {
                    return serde_json::json!({
                        "error": format!("bad request {request:?}: expected `trace <pid> <creating|running>`")
                    });
                };
                match self.trace(pid, origin) {
                    Ok(()) => serde_json::json!({ "traced": pid }),
                    Err(e) => serde_json::json!({
                        "error": format!("cannot trace pid {pid}: {e}")
                    }),
                }
            }
            _ => control::unknown_request(request, &[control::INSPECT, control::TRACE]),
        }
    }

    /// Blocks in `waitpid` handling stops until the watcher asks for the loop (a control client,
    /// the stop check) or no tracee is left.
    fn wait_for_stops(&mut self, watcher: &Watcher) {
        self.pollfds.clear();
        if let Some(control) = &self.delivery.control {
            control.push_pollfds(&mut self.pollfds);
        }
        watcher.arm(
            &self.pollfds,
            Instant::now() + self.config.stop_check_interval,
        );
        while !watcher.wake_requested() && !self.tracees.is_empty() {
            match next_stop() {
                Ok(status) => self.on_status(status),
                Err(Errno::EINTR) => {}
                Err(Errno::ECHILD) => {
                    // Nothing is traced any more, whatever the table says.
                    self.tracees.clear();
                }
                Err(e) => {
                    log::error!("waitpid failed: {e}");
                    self.delivery.stats.errors += 1;
                    break;
                }
            }
        }
        watcher.disarm();
        self.delivery.stats.tracees = self.tracees.len();
    }

    fn on_status(&mut self, status: WaitStatus) {
        match status {
            WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _) => {
                self.tracees.gone(pid.as_raw() as u32);
            }
            WaitStatus::PtraceSyscall(pid) => self.on_syscall_stop(pid),
            WaitStatus::PtraceEvent(pid, signal, event) => self.on_event(pid, signal, event),
            WaitStatus::Stopped(pid, signal) => {
                // A signal-delivery stop: pass the signal on.
                self.delivery.stats.signals += 1;
                self.resume(pid, Some(signal));
            }
            WaitStatus::Continued(_) | WaitStatus::StillAlive => {}
        }
    }

    fn on_event(&mut self, pid: Pid, signal: Signal, event: i32) {
        let tid = pid.as_raw() as u32;
        match event {
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                if let Ok(child) = ptrace::getevent(pid) {
                    self.on_child(tid, child as u32);
                }
                self.resume(pid, None);
            }
            libc::PTRACE_EVENT_SECCOMP => self.on_syscall_stop(pid),
            libc::PTRACE_EVENT_EXEC => {
                let former = ptrace::getevent(pid).map_or(tid, |f| f as u32);
                self.tracees.exec(tid, former);
                self.resume(pid, None);
            }
            libc::PTRACE_EVENT_STOP => {
                if matches!(
                    signal,
                    Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU
                ) {
                    // A group stop: stay stopped, but let the next signal (SIGCONT) be reported.
                    self.delivery.stats.group_stops += 1;
                    // SAFETY: PTRACE_LISTEN takes no address or data; the tracee is ours and stopped.
                    let rc =
                        unsafe { libc::ptrace(libc::PTRACE_LISTEN, pid.as_raw(), 0usize, 0usize) };
                    if rc != 0 && Errno::last() != Errno::ESRCH {
                        self.delivery.stats.errors += 1;
                    }
                } else if self.tracees.get(tid).is_none() {
                    // A new child's first stop, before its parent's fork event.
                    self.tracees.first_stop_of_unknown(tid);
                } else {
                    self.resume(pid, None);
                }
            }
            _ => self.resume(pid, None),
        }
    }

    fn on_child(&mut self, parent: u32, child: u32) {
        let born = self.tracees.born(parent, child);
        if born.handover {
            self.delivery.stats.handovers += 1;
            self.delivery.sink.on_handover(&Handover {
                pid: child,
                origin: born.tracee.origin,
            });
        }
        if born.was_waiting {
            self.resume(Pid::from_raw(child as i32), None);
        }
    }

    fn on_syscall_stop(&mut self, pid: Pid) {
        let tid = pid.as_raw() as u32;
        let Some(info) = syscall_info(pid) else {
            self.resume(pid, None);
            return;
        };
        match info.op {
            libc::PTRACE_SYSCALL_INFO_ENTRY | libc::PTRACE_SYSCALL_INFO_SECCOMP => {
                let seccomp_stop = info.op == libc::PTRACE_SYSCALL_INFO_SECCOMP;
                // SAFETY: the kernel filled the member of the union that `op` names; `nr` and
                // `args` are at the same place in both.
                let (nr, args) = unsafe {
                    if seccomp_stop {
                        (info.u.seccomp.nr, info.u.seccomp.args)
                    } else {
                        (info.u.entry.nr, info.u.entry.args)
                    }
                };
                let call = Syscall {
                    pid: tid,
                    arch: info.arch,
                    nr: nr as i32,
                    args,
                };
                if self.tracees.get(tid).is_some_and(|t| t.starting) && !is_execve(&call) {
                    self.delivery.stats.runc_calls += 1;
                    self.resume(pid, None);
                    return;
                }
                let admission = match self.delivery.sink.admit(&call) {
                    // The tracee is stopped: its pid stays its own until it is resumed.
                    Admission::Continue => self
                        .delivery
                        .sink
                        .admit_arguments(&call, &TaskMemory { tid }),
                    deny => deny,
                };
                if let Admission::Deny(errno) = admission {
                    // At a seccomp stop the result can be set at once; at a syscall-entry stop
                    // the kernel overwrites it, so it is set at the exit stop.
                    let result = seccomp_stop.then_some(-i64::from(errno));
                    if skip_call(pid, result).is_ok() {
                        self.delivery.stats.denied += 1;
                        if let (false, Some(t)) = (seccomp_stop, self.tracees.get_mut(tid)) {
                            t.deny = Some(errno);
                        }
                    }
                }
                self.resume(pid, None);
                self.delivery.stats.syscalls += 1;
                self.delivery.sink.observe(&call);
            }
            libc::PTRACE_SYSCALL_INFO_EXIT => {
                if let Some(errno) = self.tracees.get_mut(tid).and_then(|t| t.deny.take()) {
                    let _ = set_result(pid, -i64::from(errno));
                }
                self.resume(pid, None);
            }
            _ => self.resume(pid, None),
        }
    }

    /// Resumes a stopped tracee: container threads to their next syscall stop, runc's to their
    /// next event. A tracee gone meanwhile (ESRCH) is reported by waitpid.
    fn resume(&mut self, pid: Pid, signal: Option<Signal>) {
        let side = self.tracees.get(pid.as_raw() as u32).map(|t| t.side);
        let resumed = match (side, self.config.stops) {
            (Some(Side::Container), PtraceStops::Syscall) => ptrace::syscall(pid, signal),
            _ => ptrace::cont(pid, signal),
        };
        if let Err(e) = resumed {
            if e != Errno::ESRCH {
                self.delivery.stats.errors += 1;
                log::warn!("cannot resume tracee {pid}: {e}");
            }
        }
    }

    /// Stops tracing: interrupts every tracee and detaches it at its next stop. Tracees that do
    /// not stop within a second are left to the kernel, which detaches them when the tracer exits.
    fn detach_all(&mut self) {
        let tids: Vec<u32> = self.tracees.tids().collect();
        if tids.is_empty() {
            return;
        }
        for &tid in &tids {
            let _ = ptrace::interrupt(Pid::from_raw(tid as i32));
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while !self.tracees.is_empty() && Instant::now() < deadline {
            match waitpid(
                None::<Pid>,
                Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG),
            ) {
                Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(1)),
                Ok(WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)) => {
                    self.tracees.gone(pid.as_raw() as u32);
                }
                Ok(status) => {
                    let Some(pid) = status.pid() else { continue };
                    let signal = match status {
                        WaitStatus::Stopped(_, s) => Some(s),
                        _ => None,
                    };
                    let tid = pid.as_raw() as u32;
                    if let Some(errno) = self.tracees.get_mut(tid).and_then(|t| t.deny.take()) {
                        let _ = set_result(pid, -i64::from(errno));
                    }
                    if ptrace::detach(pid, signal).is_ok() {
                        self.delivery.stats.detached += 1;
                    }
                    self.tracees.gone(tid);
                }
                Err(_) => break,
            }
        }
        log::info!(
            "detached from {} threads; {} left to the kernel",
            self.delivery.stats.detached,
            self.tracees.len()
        );
        self.tracees.clear();
        self.delivery.stats.tracees = 0;
    }
}

/// `waitpid` polls before the blocking one: a stop that comes within them is taken without the
/// tracer going to sleep, and so without the wake-up of an idle vCPU, which costs tens of µs on a
/// VM. Measured on `hack/bench/ptrace-floor.c`: 88 → 25 µs per traced call; 100 polls are about
/// 50 µs of spinning after each stop at most.
const SPIN_POLLS: u32 = 100;

/// The next stop of any tracee: polled for a while, then waited for.
fn next_stop() -> nix::Result<WaitStatus> {
    for _ in 0..SPIN_POLLS {
        match waitpid(
            None::<Pid>,
            Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG),
        ) {
            Ok(WaitStatus::StillAlive) => std::hint::spin_loop(),
            other => return other,
        }
    }
    waitpid(None::<Pid>, Some(WaitPidFlag::__WALL))
}

/// `PTRACE_GET_SYSCALL_INFO` (Linux 5.3): which stop this is, and the call's arch and number.
fn syscall_info(pid: Pid) -> Option<libc::ptrace_syscall_info> {
    // SAFETY: an all-zero ptrace_syscall_info is a valid value (plain integers and a union of them).
    let mut info: libc::ptrace_syscall_info = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::ptrace_syscall_info>();
    // SAFETY: the kernel writes at most `size` bytes into `info`, which lives for the call.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_SYSCALL_INFO,
            pid.as_raw(),
            size,
            &mut info as *mut libc::ptrace_syscall_info,
        )
    };
    (rc > 0).then_some(info)
}

/// `execve` or `execveat`, the calls that end a process's start-up. runc's init is a 64-bit Go
/// program, so only the x86_64 numbers matter.
fn is_execve(call: &Syscall) -> bool {
    call.arch == AUDIT_ARCH_X86_64
        && (call.nr == libc::SYS_execve as i32 || call.nr == libc::SYS_execveat as i32)
}

/// Makes the call at this entry or seccomp stop not run: its number becomes -1 (and its result
/// `result`, if given).
fn skip_call(pid: Pid, result: Option<i64>) -> nix::Result<()> {
    let mut regs = ptrace::getregs(pid)?;
    regs.orig_rax = u64::MAX;
    if let Some(result) = result {
        regs.rax = result as u64;
    }
    ptrace::setregs(pid, regs)
}

/// Sets the result of the call at this exit stop.
fn set_result(pid: Pid, value: i64) -> nix::Result<()> {
    let mut regs = ptrace::getregs(pid)?;
    regs.rax = value as u64;
    ptrace::setregs(pid, regs)
}
