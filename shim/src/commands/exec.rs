//! `exec`: runc runs a new process in the container. For a container under the ptrace monitor,
//! that process must be traced too: ids-runc asks the monitor to trace this very process before
//! it execs runc, and the monitor follows runc to the new process. Under seccomp notify nothing is
//! needed here (runc hands the new process's notify fd over itself), and neither for a container
//! ids-runc does not monitor.

use std::path::Path;

use anyhow::Context;
use ids_monitor::backend::MonitorKind;
use ids_monitor::backend::Origin;

use crate::config::host::HostConfig;
use crate::container::state_dir::StateDir;
use crate::monitor_process;
use crate::monitor_process::launch::Launch;
use crate::runc::args::RuncArgs;
use crate::runc::Runc;

pub fn run(runc: &Runc, args: &RuncArgs, host: &HostConfig) -> anyhow::Result<i32> {
    if let Some(id) = args.container_id().and_then(|id| id.to_str()) {
        if let Err(err) = trace_if_ptrace(id, args.global.root.as_deref(), host) {
            if !host.fail_open {
                return Err(err);
            }
            let msg = format!("{err:#}; running the process untraced because fail_open is set");
            crate::runc::log::report_warning(&args.global, &msg);
        }
    }
    Err(runc.exec(&args.words))
}

fn trace_if_ptrace(id: &str, runc_root: Option<&Path>, host: &HostConfig) -> anyhow::Result<()> {
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
    if launch.monitor != MonitorKind::Ptrace {
        return Ok(());
    }
    monitor_process::trace_me(&state, Origin::Running).with_context(|| {
        format!(
            "container {id} is watched by the ptrace monitor and the new process cannot be traced"
        )
    })
}
