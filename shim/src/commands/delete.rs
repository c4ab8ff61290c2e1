//! `delete`: runc deletes the container; then its monitor is stopped (if still there) and its state
//! directory removed, so nothing of the container is left behind.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::config::host::HostConfig;
use crate::container::state_dir::StateDir;
use crate::runc::args::RuncArgs;
use crate::runc::Runc;

/// How long a monitor may take to write its final state after its container is gone.
const MONITOR_GRACE: Duration = Duration::from_secs(5);

pub fn run(runc: &Runc, args: &RuncArgs, host: &HostConfig) -> anyhow::Result<i32> {
    let state = args
        .container_id()
        .and_then(|id| id.to_str())
        .and_then(|id| StateDir::new(&host.state_root(), args.global.root.as_deref(), id).ok());
    // A monitor that died is reported before its state goes; the container is being deleted
    // anyway, so it is not killed here.
    if let Some(state) = state.as_ref().filter(|s| s.exists()) {
        crate::monitor_process::health::check(state, "delete", false);
    }
    let code = runc.run(&args.words)?;
    let (Some(id), Some(state)) = (args.container_id().and_then(|id| id.to_str()), state) else {
        return Ok(code);
    };
    if state.exists() && (code == 0 || !runc.knows(args.global.root.as_deref(), id)) {
        stop_monitor(&state);
        // A monitor that ended normally took its container out of the kernel; one that died
        // left it there, judging a cgroup that is gone.
        if let Some(cgroup) = state.recorded_cgroup_id() {
            let unregistered = crate::monitor_process::kernel::setup(None)
                .and_then(|setup| Ok(ids_ebpf::unregister_cgroup(&setup, cgroup)?));
            if let Err(e) = unregistered {
                log::warn!("taking cgroup {cgroup} out of the kernel program: {e:#}");
            }
        }
        state.remove()?;
    }
    Ok(code)
}

/// Asks the monitor to finish (SIGTERM), and kills it if it has not within the grace period.
fn stop_monitor(state: &StateDir) {
    let Some(pid) = monitor_pid(state) else {
        return;
    };
    if kill(pid, Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = std::time::Instant::now() + MONITOR_GRACE;
    while std::time::Instant::now() < deadline {
        if kill(pid, None).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = kill(pid, Signal::SIGKILL);
}

/// The monitor's pid, if that pid still runs our monitor for this state dir (pids get reused).
fn monitor_pid(state: &StateDir) -> Option<Pid> {
    crate::monitor_process::health::live_monitor_pid(state).map(Pid::from_raw)
}
