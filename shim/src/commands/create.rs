//! `create` and `run`: start the container's monitor, point the container's seccomp profile at
//! it, then hand the very same command line to runc.
//!
//! No container runs unmonitored by surprise: if it should be monitored and the monitor cannot
//! start, `create` fails, unless the host config says `"fail_open": true`, in which case the
//! container runs unmonitored and the reason is logged.

use std::time::Duration;

use anyhow::Context;

use crate::bundle::BundleConfig;
use crate::host_config::HostConfig;
use crate::monitor_process::{self, MonitorLaunch};
use crate::runc::Runc;
use crate::runc_args::RuncArgs;
use crate::selection::{self, Mode};
use crate::state_dir::StateDir;

/// How long the monitor may take to bind its sockets.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(runc: &Runc, args: &RuncArgs, host: &HostConfig) -> anyhow::Result<i32> {
    let id = args
        .container_id()
        .and_then(|id| id.to_str())
        .context("no container id given")?;
    let bundle = args.bundle().context("cannot tell the bundle directory")?;
    let config = BundleConfig::load(&bundle, &host.state_root())?;
    let selection = selection::select(&config.spec)
        .with_context(|| format!("{}", config.path().display()))?;
    if selection.mode == Mode::Off {
        return Err(runc.exec(&args.words));
    }
    let state = StateDir::new(&host.state_root(), id)?;
    if let Err(err) = monitor(runc, args, id, &config, &state, selection.mode) {
        let _ = state.remove();
        let err = err.context(format!(
            "container {id} needs a monitor ({} {}) and it could not start",
            selection.source, selection.mode
        ));
        if !host.fail_open {
            return Err(err);
        }
        crate::runc_log::report_warning(
            &args.global,
            &format!("{err:#}; running it unmonitored because fail_open is set"),
        );
        config.restore()?;
    }
    Err(runc.exec(&args.words))
}

fn monitor(
    runc: &Runc,
    args: &RuncArgs,
    id: &str,
    config: &BundleConfig,
    state: &StateDir,
    mode: Mode,
) -> anyhow::Result<()> {
    let spec = config.with_notify(&state.seccomp_socket())?;
    state.create()?;
    let mode = mode.to_string();
    let launch = MonitorLaunch {
        id,
        state,
        mode: &mode,
        runc: &runc.path,
        runc_root: args.global.root.clone(),
    };
    let pid = monitor_process::start(&launch, READY_TIMEOUT)?;
    if let Err(err) = config.rewrite(&spec) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        return Err(err);
    }
    Ok(())
}
