//! A container's monitor process, seen from the shim: what `create` tells it (`launch`), whether
//! it still lives (`health`), the start it must not let hang (`stuck_init`), and, here, starting
//! it: `ids-runc monitor ...`, detached from the caller (its own session, stdin from /dev/null,
//! stdout and stderr to its log in the state dir, none of the caller's fds), and waiting until it
//! listens.
//!
//! Readiness travels over a pipe that the monitor gets as fd 3: it writes `ready` once its sockets
//! are bound, or the reason it cannot start, and closes it. runc must not be called before that:
//! runc connects to the listener during `create` and fails if nobody listens.

pub mod health;
pub mod keeper;
pub mod kernel;
pub mod launch;
pub mod stuck_init;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use ids_monitor::backend::Origin;

use crate::container::state_dir::StateDir;

/// The fd number the monitor reads its readiness pipe from.
pub const READY_FD: i32 = 3;
pub const READY: &str = "ready";

/// Starts the monitor of the container whose state dir (with its `launch.json`) is `state`, and
/// waits up to `timeout` for it to listen. Returns its pid.
pub fn start(state: &StateDir, timeout: Duration) -> anyhow::Result<u32> {
    let exe =
        std::env::current_exe().context("cannot find the ids-runc binary to start the monitor")?;
    let log_path = state.monitor_log();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open monitor log {}", log_path.display()))?;
    let (ready_read, ready_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("cannot create readiness pipe")?;

    let mut cmd = Command::new(exe);
    cmd.arg("monitor")
        .arg("--state-dir")
        .arg(state.path())
        .arg("--ready-fd")
        .arg(READY_FD.to_string());
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().context("cannot dup monitor log")?)
        .stderr(log);
    let write_fd = ready_write.as_raw_fd();
    // SAFETY: only async-signal-safe calls (setsid, dup2, fcntl, close_range) run between fork and
    // exec, and they touch no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let moved = if write_fd == READY_FD {
                libc::fcntl(READY_FD, libc::F_SETFD, 0)
            } else {
                libc::dup2(write_fd, READY_FD)
            };
            if moved < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Whatever the caller let us inherit (the shim's pipes, preserved fds) must not keep
            // living in a process that outlives the container.
            libc::close_range(
                (READY_FD + 1) as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            );
            Ok(())
        });
    }
    let child = cmd.spawn().context("cannot start the monitor process")?;
    drop(ready_write);
    let pid = child.id();
    match wait_ready(ready_read, timeout) {
        Ok(()) => Ok(pid),
        Err(err) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            Err(err.context(format!("monitor log: {}", log_path.display())))
        }
    }
}

fn wait_ready(pipe: OwnedFd, timeout: Duration) -> anyhow::Result<()> {
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(&pipe),
        PollFlags::POLLIN,
    )];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let n = poll(&mut fds, PollTimeout::from(ms)).context("cannot wait for the monitor")?;
    anyhow::ensure!(n > 0, "the monitor did not get ready within {timeout:?}");
    let mut message = String::new();
    std::fs::File::from(pipe)
        .read_to_string(&mut message)
        .context("cannot read the monitor's readiness")?;
    let message = message.trim();
    match message {
        READY => Ok(()),
        "" => anyhow::bail!("the monitor exited before it listened"),
        reason => anyhow::bail!("the monitor could not start: {reason}"),
    }
}

/// The write end of a readiness pipe, taken over from the fd number the starter gave.
pub struct ReadyPipe(std::fs::File);

impl ReadyPipe {
    pub fn take(fd: i32) -> Self {
        use std::os::fd::FromRawFd;
        // SAFETY: the starter passes the pipe's write end as this fd and nothing else in this
        // process owns it; taking ownership closes it exactly once. Close-on-exec keeps it out of
        // the processes this one starts: the starter must see it close when this one ends.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            ReadyPipe(std::fs::File::from_raw_fd(fd))
        }
    }

    /// Writes `message` (`ready`, or why not) and closes the pipe.
    pub fn send(mut self, message: &str) {
        use std::io::Write;
        let _ = writeln!(self.0, "{message}");
    }
}

/// How long the ptrace monitor may take to seize a process it is asked to trace.
const TRACE_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the container's ptrace monitor to trace this process, which is about to exec runc for
/// `create`/`run` (`Origin::Creating`) or `exec` (`Origin::Running`). From the answer on, this
/// process and every child runc makes are traced.
pub fn trace_me(state: &StateDir, origin: Origin) -> anyhow::Result<()> {
    let socket = state.control_socket();
    let request = format!(
        "{} {} {}",
        ids_monitor::backend::control::TRACE,
        std::process::id(),
        origin.status()
    );
    let answer = ids_monitor::backend::control::request(&socket, &request, TRACE_TIMEOUT)
        .context("the container's ptrace monitor does not answer")?;
    match answer.get("traced") {
        Some(_) => Ok(()),
        None => anyhow::bail!(
            "the container's ptrace monitor refused to trace runc: {}",
            answer
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("no reason given")
        ),
    }
}
