//! The keeper of a seccomp-notify monitor: the process `create` starts as the monitor, which
//! starts the real monitor as its child and starts it again when it dies.
//!
//! A container's notified calls fail with ENOSYS only once nobody holds its notify fds; while
//! someone does, they wait in the kernel for an answer. So the keeper binds the seccomp listener
//! and the control socket and lends them to the monitor it starts, which deposits every notify fd
//! runc hands it with the keeper (`ids_monitor::backend::notify::KeeperLink`). When the monitor
//! dies (SIGKILL, the OOM killer, a crash), the keeper starts another with the same sockets and
//! every fd it holds; that one reloads the profile saved last, answers the notification the dead
//! one had received and not answered, and serves the queue the container built up meanwhile. The
//! keeper writes a `monitor-restarted` event saying how long the container waited.
//!
//! The keeper holds no detector state and does nothing per system call: it sleeps in poll until a
//! deposit, a hang-up or its monitor's death. Its `oom_score_adj` is low, so that the OOM killer
//! takes the monitor first. If the keeper itself dies, its monitor is killed with it
//! (`PR_SET_PDEATHSIG`), and the container's next command reports a monitor that died, as before
//! there was a keeper (`health`). A monitor that keeps dying is given up after a few restarts.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::Pid;

use ids_monitor::backend::control::ControlServer;
use ids_monitor::backend::notify::{
    receive_deposit, HandoverListener, InFlight, KeeperLink, KeptFd,
};
use ids_monitor::record::events::{ActionTaken, Event, EventKind};

use crate::container::state_dir::StateDir;
use crate::monitor_process::launch::Launch;
use crate::monitor_process::{wait_ready, ReadyPipe, READY};

/// The keeper's `oom_score_adj`: far below the monitor's, not quite exempt.
const KEEPER_OOM_SCORE_ADJ: &str = "-999";
/// How long a monitor may take to load its profile and say ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// A monitor that dies this many times within `RESTART_WINDOW` is not started again.
const MAX_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// Longest sleep in poll: a stop signal that lands just before poll is seen this late.
const POLL_MS: u16 = 1000;

/// What a monitor started by a keeper inherits, as its command line names it (internal flags).
#[derive(Debug, Default, clap::Args)]
pub struct KeptArgs {
    /// The monitor's end of the link to its keeper: started by a keeper.
    #[arg(long, hide = true)]
    pub keeper_fd: Option<RawFd>,
    /// The in-flight page shared with the keeper.
    #[arg(long, hide = true, requires = "keeper_fd")]
    pub in_flight_fd: Option<RawFd>,
    /// The seccomp listener, bound by the keeper.
    #[arg(long, hide = true, requires = "keeper_fd")]
    pub listener_fd: Option<RawFd>,
    /// The control socket, bound by the keeper.
    #[arg(long, hide = true, requires = "keeper_fd")]
    pub control_fd: Option<RawFd>,
    /// A notify fd the keeper held for a monitor that died: `FD:SLOT:PID:ORIGIN`.
    #[arg(long, hide = true, requires = "keeper_fd")]
    pub resume: Vec<String>,
    /// Started again after a monitor died: reload the profile saved last.
    #[arg(long, hide = true, requires = "keeper_fd")]
    pub restarted: bool,
}

/// What a monitor started by a keeper took over from it.
pub struct Inherited {
    pub listener: OwnedFd,
    pub control: OwnedFd,
    pub link: KeeperLink,
    pub kept: Vec<KeptFd>,
    pub restarted: bool,
}

impl KeptArgs {
    /// Takes over the fds the keeper passed, if this monitor was started by one.
    pub fn take(&self) -> anyhow::Result<Option<Inherited>> {
        let Some(keeper_fd) = self.keeper_fd else {
            return Ok(None);
        };
        let missing = |flag: &str| anyhow::anyhow!("a monitor started by a keeper needs --{flag}");
        let in_flight = self.in_flight_fd.ok_or_else(|| missing("in-flight-fd"))?;
        let listener = self.listener_fd.ok_or_else(|| missing("listener-fd"))?;
        let control = self.control_fd.ok_or_else(|| missing("control-fd"))?;
        let in_flight =
            InFlight::map(inherit(in_flight)).context("cannot map the in-flight page")?;
        let mut kept = Vec::with_capacity(self.resume.len());
        for arg in &self.resume {
            let (fd, slot, handover) = KeptFd::parse_arg(arg)?;
            kept.push(KeptFd::inherited(inherit(fd), slot, handover)?);
        }
        Ok(Some(Inherited {
            listener: inherit(listener),
            control: inherit(control),
            link: KeeperLink::new(inherit(keeper_fd), in_flight),
            kept,
            restarted: self.restarted,
        }))
    }
}

fn inherit(fd: RawFd) -> OwnedFd {
    // SAFETY: the keeper passes each of these fds once, open, to this process only, and names it
    // once on the command line; nothing else in this process owns it. Making it close-on-exec
    // keeps it from whatever this process starts.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        OwnedFd::from_raw_fd(fd)
    }
}

/// The sockets and the link the keeper lends to every monitor it starts.
struct Lent {
    listener: OwnedFd,
    control: OwnedFd,
    link_monitor: OwnedFd,
    link_keeper: OwnedFd,
    in_flight: InFlight,
}

/// A running monitor, with a pidfd that becomes readable when it ends.
struct Monitor {
    child: Child,
    pidfd: OwnedFd,
}

/// Why the wait on the monitor ended.
enum Ended {
    /// It ended on its own with success (its container is gone), or after the keeper was asked
    /// to stop.
    Done(ExitStatus),
    /// It died while its container may still run.
    Died(ExitStatus, Instant),
}

/// A monitor just started, and what it said: `ready`, or why not.
struct Spawned {
    monitor: Monitor,
    ready: Result<(), String>,
}

/// The deaths of the last `RESTART_WINDOW`.
#[derive(Default)]
struct Deaths(VecDeque<Instant>);

impl Deaths {
    /// Counts a death at `at`; false once there were too many to start the monitor again.
    fn may_restart(&mut self, at: Instant) -> bool {
        self.0.push_back(at);
        while self
            .0
            .front()
            .is_some_and(|t| at.duration_since(*t) > RESTART_WINDOW)
        {
            self.0.pop_front();
        }
        if self.0.len() > MAX_RESTARTS {
            log::error!(
                "the monitor died {} times within {RESTART_WINDOW:?}; not starting it again",
                self.0.len()
            );
            return false;
        }
        true
    }
}

/// Runs the keeper of the container of `state`: says `ready` on `ready` once its first monitor
/// listens, then keeps a monitor running until the container is gone.
pub fn keep(state: &StateDir, launch: &Launch, ready: Option<ReadyPipe>) -> anyhow::Result<i32> {
    let (lent, first) = match start(state) {
        Ok(started) => started,
        Err(err) => {
            if let Some(ready) = ready {
                ready.send(&format!("{err:#}"));
            }
            return Err(err);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install signal handlers")?;
    }
    let Spawned {
        mut monitor,
        ready: said,
    } = first;
    if let Some(ready) = ready {
        ready.send(match &said {
            Ok(()) => READY,
            Err(e) => e.as_str(),
        });
    }
    if said.is_err() {
        let _ = kill(Pid::from_raw(monitor.child.id() as i32), Signal::SIGKILL);
        let _ = monitor.child.wait();
        return Ok(1);
    }
    let mut kept: Vec<KeptFd> = Vec::new();
    let mut deaths = Deaths::default();
    loop {
        let (status, died_at) = match watch(&mut monitor, &lent, &mut kept, &stop)? {
            Ended::Done(status) => return Ok(status.code().unwrap_or(0)),
            Ended::Died(status, died_at) => (status, died_at),
        };
        let old = monitor.child.id();
        log::error!("the monitor (pid {old}) died: {}", describe(status));
        if !deaths.may_restart(died_at) {
            return Ok(1);
        }
        // A monitor that cannot even be started (no memory to fork, say) counts as a death.
        let next = loop {
            match spawn(state, &lent, &kept, true) {
                Ok(next) => break next,
                Err(e) => {
                    log::error!("{e:#}");
                    if !deaths.may_restart(Instant::now()) {
                        return Ok(1);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        monitor = next.monitor;
        match next.ready {
            Ok(()) => report_restart(launch, old, &monitor, &kept, died_at, status),
            Err(e) => log::error!("the monitor started again is not ready: {e}"),
        }
    }
}

/// Binds the sockets, records this process as the container's monitor, and starts the first
/// monitor.
fn start(state: &StateDir) -> anyhow::Result<(Lent, Spawned)> {
    let listener = HandoverListener::bind(&state.seccomp_socket(), 0)?
        .into_socket()
        .context("cannot hand the seccomp listener on")?;
    let control = ControlServer::bind(&state.control_socket())?
        .into_socket()
        .context("cannot hand the control socket on")?;
    let (link_monitor, link_keeper) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("cannot create the keeper's link")?;
    let in_flight = InFlight::create().context("cannot create the in-flight page")?;
    state.record_monitor_pid(std::process::id())?;
    // Lowering it takes CAP_SYS_RESOURCE, which root may lack (in a user namespace, say).
    if let Err(e) = std::fs::write("/proc/self/oom_score_adj", KEEPER_OOM_SCORE_ADJ) {
        log::warn!("cannot lower the keeper's oom_score_adj to {KEEPER_OOM_SCORE_ADJ}: {e}");
    }
    let lent = Lent {
        listener,
        control,
        link_monitor,
        link_keeper,
        in_flight,
    };
    let first = spawn(state, &lent, &[], false)?;
    Ok((lent, first))
}

/// Starts a monitor with the lent sockets and the `kept` fds, and waits until it says it is ready
/// (or why not).
fn spawn(
    state: &StateDir,
    lent: &Lent,
    kept: &[KeptFd],
    restarted: bool,
) -> anyhow::Result<Spawned> {
    let exe = std::env::current_exe().context("cannot find the ids-runc binary")?;
    let (ready_read, ready_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .context("cannot create the readiness pipe")?;
    let mut passed: Vec<RawFd> = vec![
        ready_write.as_raw_fd(),
        lent.listener.as_raw_fd(),
        lent.control.as_raw_fd(),
        lent.link_monitor.as_raw_fd(),
        lent.in_flight.as_fd().as_raw_fd(),
    ];
    passed.extend(kept.iter().map(|k| k.fd.as_raw_fd()));
    let mut cmd = Command::new(exe);
    cmd.arg("monitor")
        .arg("--state-dir")
        .arg(state.path())
        .arg("--ready-fd")
        .arg(passed[0].to_string())
        .arg("--listener-fd")
        .arg(passed[1].to_string())
        .arg("--control-fd")
        .arg(passed[2].to_string())
        .arg("--keeper-fd")
        .arg(passed[3].to_string())
        .arg("--in-flight-fd")
        .arg(passed[4].to_string());
    for k in kept {
        cmd.arg("--resume").arg(k.to_arg());
    }
    if restarted {
        cmd.arg("--restarted");
    }
    // stdout and stderr stay the keeper's: the monitor's log.
    cmd.stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls (prctl, fcntl) run between fork and exec, on fds this
    // process owns, with no allocation.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            for &fd in &passed {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start the monitor")?;
    drop(ready_write);
    let pidfd = match pidfd_open(child.id()) {
        Ok(pidfd) => pidfd,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e).context("cannot watch the monitor");
        }
    };
    let ready = wait_ready(ready_read, READY_TIMEOUT).map_err(|e| format!("{e:#}"));
    Ok(Spawned {
        monitor: Monitor { child, pidfd },
        ready,
    })
}

fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd (close-on-exec); nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sleeps until the monitor ends, taking its deposits and dropping the fds whose tasks are all
/// gone meanwhile. A stop request is passed on to the monitor.
fn watch(
    monitor: &mut Monitor,
    lent: &Lent,
    kept: &mut Vec<KeptFd>,
    stop: &AtomicBool,
) -> anyhow::Result<Ended> {
    let mut stopping = false;
    loop {
        if !stopping && stop.load(Ordering::Relaxed) {
            stopping = true;
            let _ = kill(Pid::from_raw(monitor.child.id() as i32), Signal::SIGTERM);
        }
        let mut fds = Vec::with_capacity(kept.len() + 2);
        fds.push(nix::poll::PollFd::new(
            monitor.pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        ));
        fds.push(nix::poll::PollFd::new(
            lent.link_keeper.as_fd(),
            nix::poll::PollFlags::POLLIN,
        ));
        // No POLLIN: a notification is the monitor's business; only the hang-up is the keeper's.
        fds.extend(
            kept.iter()
                .map(|k| nix::poll::PollFd::new(k.fd.as_fd(), nix::poll::PollFlags::empty())),
        );
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(POLL_MS)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("the keeper cannot poll"),
        }
        let hung_up: Vec<bool> = fds[2..]
            .iter()
            .map(|f| {
                f.revents().is_some_and(|r| {
                    r.intersects(nix::poll::PollFlags::POLLHUP | nix::poll::PollFlags::POLLERR)
                })
            })
            .collect();
        let ended = fds[0].revents().is_some_and(|r| !r.is_empty());
        drop(fds);
        let mut index = 0;
        kept.retain(|_| {
            index += 1;
            !hung_up[index - 1]
        });
        take_deposits(lent, kept);
        if ended {
            let died_at = Instant::now();
            let status = monitor.child.wait().context("cannot reap the monitor")?;
            // Deposits sent just before the end are still in the socket.
            take_deposits(lent, kept);
            if stopping || stop.load(Ordering::Relaxed) || status.success() {
                return Ok(Ended::Done(status));
            }
            return Ok(Ended::Died(status, died_at));
        }
    }
}

fn take_deposits(lent: &Lent, kept: &mut Vec<KeptFd>) {
    loop {
        match receive_deposit(lent.link_keeper.as_fd()) {
            Ok(Some(deposit)) => {
                // A slot the monitor reuses belongs to a fd that hung up.
                kept.retain(|k| k.slot != deposit.slot);
                kept.push(deposit);
            }
            Ok(None) => return,
            Err(e) => {
                log::error!("{e}");
                return;
            }
        }
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.signal(), status.code()) {
        (Some(signal), _) => match Signal::try_from(signal) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {signal}"),
        },
        (None, Some(code)) => format!("exit status {code}"),
        (None, None) => "ended".to_string(),
    }
}

fn report_restart(
    launch: &Launch,
    old: u32,
    monitor: &Monitor,
    kept: &[KeptFd],
    died_at: Instant,
    status: ExitStatus,
) {
    let waited = died_at.elapsed();
    let reloaded = match launch.saved_profile() {
        Some(path) => format!(", reloaded the profile saved last at {}", path.display()),
        None => String::new(),
    };
    let message = format!(
        "the monitor (pid {old}) died ({}); its keeper started pid {}, which took over {} notify \
         fds{reloaded}; the container's monitored calls waited {} ms",
        describe(status),
        monitor.child.id(),
        kept.len(),
        waited.as_millis()
    );
    log::warn!("{message}");
    let mut event = Event::now(
        &launch.id,
        &launch.profile_name,
        launch.mode,
        launch.monitor,
        EventKind::MonitorRestarted,
    );
    event.action = ActionTaken::None;
    event.message = Some(message);
    event.waited_ms = Some(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX));
    if let Err(e) = launch.event_log().write(&event, true) {
        log::error!("{e}");
    }
}
