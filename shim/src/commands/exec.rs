//! `exec`: runc runs a new process in the container. For a container under the ptrace monitor,
//! that process must be traced too: ids-runc asks the monitor to trace this very process before
//! it execs runc, and the monitor follows runc to the new process. Under seccomp notify runc hands
//! the new process's notify fd over itself, but the process can stick before it does, as at
//! `create` (`monitor_process::stuck_init`): ids-runc leaves a watcher behind, `ids-runc
//! exec-guard`, that kills a runc init found stuck so that `exec` fails instead of hanging.
//! Nothing is needed for a container ids-runc does not monitor.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use clap::Parser;
use ids_monitor::backend::MonitorKind;
use ids_monitor::backend::Origin;

use crate::config::host::HostConfig;
use crate::container::state_dir::StateDir;
use crate::monitor_process;
use crate::monitor_process::launch::Launch;
use crate::monitor_process::stuck_init;
use crate::runc::args::RuncArgs;
use crate::runc::Runc;

pub fn run(runc: &Runc, args: &RuncArgs, host: &HostConfig) -> anyhow::Result<i32> {
    if let Some(id) = args.container_id().and_then(|id| id.to_str()) {
        if let Err(err) = prepare(id, args.global.root.as_deref(), host) {
            if !host.fail_open {
                return Err(err);
            }
            let msg = format!("{err:#}; running the process untraced because fail_open is set");
            crate::runc::log::report_warning(&args.global, &msg);
        }
    }
    Err(runc.exec(&args.words))
}

/// What the container's monitor needs before runc starts the process: ptrace, to trace this
/// process; seccomp notify, a watcher for a start that sticks.
fn prepare(id: &str, runc_root: Option<&Path>, host: &HostConfig) -> anyhow::Result<()> {
    // runc judges the id; one that cannot name a state dir is no container ids-runc monitors.
    let Ok(state) = StateDir::new(&host.state_root(), runc_root, id) else {
        return Ok(());
    };
    if !state.exists() {
        return Ok(());
    }
    let Ok(launch) = Launch::read(state.path()) else {
        return Ok(());
    };
    match launch.monitor {
        MonitorKind::Ptrace => {
            monitor_process::trace_me(&state, Origin::Running).with_context(|| {
                format!(
                "container {id} is watched by the ptrace monitor and the new process cannot be \
                 traced"
            )
            })
        }
        MonitorKind::SeccompNotify => {
            // The exec goes on without a watcher: a stuck start then hangs, as it did before.
            if let Err(e) = start_guard(&state) {
                log::warn!("cannot watch the exec of container {id} for a stuck start: {e:#}");
            }
            Ok(())
        }
        MonitorKind::Offline | MonitorKind::Ebpf => Ok(()),
    }
}

/// Starts `ids-runc exec-guard` for this process (the runc to be), detached, with none of the
/// caller's fds; its log goes to the monitor's.
fn start_guard(state: &StateDir) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the ids-runc binary")?;
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(state.monitor_log())
        .with_context(|| format!("cannot open {}", state.monitor_log().display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("exec-guard")
        .arg("--state-dir")
        .arg(state.path())
        .arg("--runc-pid")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    // SAFETY: only async-signal-safe calls (setsid, close_range) run between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::close_range(
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            );
            Ok(())
        });
    }
    cmd.spawn().context("cannot start ids-runc exec-guard")?;
    Ok(())
}

#[derive(Debug, Parser)]
#[command(
    name = "ids-runc exec-guard",
    about = "Watch a runc exec for a start stuck before the handover (started by exec)"
)]
struct GuardArgs {
    /// The container's state directory, with its launch.json.
    #[arg(long)]
    state_dir: PathBuf,
    /// The `runc exec` to watch.
    #[arg(long)]
    runc_pid: i32,
}

/// `ids-runc exec-guard`: watches one `runc exec` until its process has started.
pub fn guard_main(words: Vec<std::ffi::OsString>) -> anyhow::Result<i32> {
    let args = GuardArgs::try_parse_from(
        std::iter::once(std::ffi::OsString::from("ids-runc exec-guard")).chain(words),
    )?;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    let launch = Launch::read(&args.state_dir)?;
    stuck_init::watch_exec(&launch, args.runc_pid);
    Ok(0)
}
