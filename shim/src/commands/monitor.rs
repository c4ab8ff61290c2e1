//! `ids-runc monitor` (started by `create`, not by people): one container's monitor process.
//!
//! It binds the seccomp listener and the control socket, says `ready` on its readiness fd, then
//! serves every notify fd runc hands over (init, then one per `exec`) until no task of the
//! container is left. It never exits early on its own: a monitor that dies breaks its container.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use ids_monitor::control::ControlServer;
use ids_monitor::notify::{
    HandoverListener, NotifySupervisor, NullSink, RunEnd, SupervisorConfig,
};

use crate::monitor_process::READY;
use crate::selection::Mode;
use crate::state_dir::StateDir;

/// If runc never hands over a notify fd, `create` failed: give up after this long.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Parser)]
#[command(name = "ids-runc monitor", about = "Run one container's monitor (started by create)")]
pub struct MonitorArgs {
    /// The container id.
    #[arg(long)]
    id: String,
    /// The container's state directory.
    #[arg(long)]
    state_dir: PathBuf,
    /// What to do with the container's system calls.
    #[arg(long)]
    mode: Mode,
    /// The real runc, to tell whether the container still exists.
    #[arg(long)]
    runc: PathBuf,
    /// runc's --root for this container.
    #[arg(long)]
    runc_root: Option<PathBuf>,
    /// Write `ready` (or why not) to this fd once listening, then close it.
    #[arg(long)]
    ready_fd: Option<i32>,
    /// Do not ask the kernel for synchronous wake-ups on notify fds (for measurements).
    #[arg(long)]
    no_sync_wake_up: bool,
}

pub fn main(words: Vec<std::ffi::OsString>) -> anyhow::Result<i32> {
    let args = MonitorArgs::try_parse_from(
        std::iter::once(std::ffi::OsString::from("ids-runc monitor")).chain(words),
    )?;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    // A client that hangs up on the control socket must not kill the monitor.
    // SAFETY: ignoring a signal installs no handler and has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let ready = args.ready_fd.map(ReadyPipe::take);
    match prepare(&args) {
        Ok((listener, control)) => {
            if let Some(ready) = ready {
                ready.send(READY);
            }
            serve(&args, listener, control)
        }
        Err(err) => {
            log::error!("{err:#}");
            if let Some(ready) = ready {
                ready.send(&format!("{err:#}"));
            }
            Err(err)
        }
    }
}

fn prepare(args: &MonitorArgs) -> anyhow::Result<(HandoverListener, ControlServer)> {
    let state = state_dir(args);
    let listener = HandoverListener::bind(&state.seccomp_socket(), 0)?;
    let control = ControlServer::bind(&state.control_socket())?;
    std::fs::write(state.monitor_pid(), format!("{}\n", std::process::id()))
        .with_context(|| format!("cannot write {}", state.monitor_pid().display()))?;
    Ok((listener, control))
}

fn state_dir(args: &MonitorArgs) -> StateDir {
    StateDir::new(
        args.state_dir.parent().unwrap_or(&args.state_dir),
        &args.id,
    )
    .expect("create checked the id")
}

fn serve(
    args: &MonitorArgs,
    listener: HandoverListener,
    control: ControlServer,
) -> anyhow::Result<i32> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install signal handlers")?;
    }
    let config = SupervisorConfig {
        sync_wake_up: !args.no_sync_wake_up,
        handover_timeout: Some(HANDOVER_TIMEOUT),
        ..SupervisorConfig::default()
    };
    log::info!("monitoring container {} in mode {}", args.id, args.mode);
    let sink = NullSink::default();
    let mut supervisor = NotifySupervisor::new(listener, sink, config).with_control(control);
    let end = supervisor.run(|| stop.load(Ordering::Relaxed))?;
    log::info!(
        "monitor ends ({end:?}): {}",
        serde_json::to_string(&supervisor.inspect()).unwrap_or_default()
    );
    finish(args, end);
    Ok(0)
}

/// After the loop: a container that no longer exists (run without --keep, or a create that failed)
/// has nobody left to call delete, so the monitor removes its state itself.
fn finish(args: &MonitorArgs, end: RunEnd) {
    if end == RunEnd::Stopped {
        return;
    }
    let gone = (0..20).any(|_| {
        let gone = !container_exists(args);
        if !gone {
            std::thread::sleep(Duration::from_millis(100));
        }
        gone
    });
    if gone {
        let _ = state_dir(args).remove();
    }
}

fn container_exists(args: &MonitorArgs) -> bool {
    let mut cmd = std::process::Command::new(&args.runc);
    if let Some(root) = &args.runc_root {
        cmd.arg("--root").arg(root);
    }
    cmd.args(["state", &args.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(true)
}

/// The write end of the readiness pipe, taken over from the fd number create gave us.
struct ReadyPipe(std::fs::File);

impl ReadyPipe {
    fn take(fd: i32) -> Self {
        use std::os::fd::FromRawFd;
        // SAFETY: create passes the pipe's write end as this fd and nothing else in this process
        // owns it; taking ownership closes it exactly once.
        ReadyPipe(unsafe { std::fs::File::from_raw_fd(fd) })
    }

    fn send(mut self, message: &str) {
        use std::io::Write;
        let _ = writeln!(self.0, "{message}");
    }
}

