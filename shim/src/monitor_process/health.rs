//! A monitor that died before its container: noticed by whoever looks next (`inspect`, `delete`).
//!
//! A container whose monitor is gone cannot run correctly: every notified call fails with ENOSYS
//! (the kernel's answer when nobody holds the notify fd), and a `runc exec` finds no listener.
//! Under the ptrace monitor with syscall stops it runs on, but unwatched, which no one asked for.
//! So the policy is: the first command that notices writes one `monitor-died` event and kills the
//! container if it still runs (the event says which), and `inspect` fails saying so.
//!
//! A monitor that ended normally (its container's every task exited) writes
//! `<runs_dir>/<id>.final.json` before it exits; one that was killed did not. A dead pid without a
//! final record written since the monitor started is a monitor that died.

use std::path::PathBuf;

use ids_monitor::backend::ptrace::PtraceStops;
use ids_monitor::backend::MonitorKind;
use ids_monitor::record::events::{ActionTaken, Event, EventKind};

use crate::container::state_dir::StateDir;
use crate::monitor_process::launch::Launch;
use crate::runc::Runc;

/// Marks, in the state dir, that the death was reported (one event, however many look).
const REPORTED: &str = "monitor-died";

/// What was found about a dead monitor, and what was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    pub pid: i32,
    /// What the container went through without its monitor.
    pub meanwhile: &'static str,
    /// The container was running and has been killed.
    pub killed: bool,
}

impl std::fmt::Display for Death {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the monitor (pid {}) died before its container; {}",
            self.pid, self.meanwhile
        )?;
        if self.killed {
            write!(f, "; the container was killed")?;
        }
        Ok(())
    }
}

/// Whether the monitor recorded in `state` runs: its pid is alive and still our monitor of this
/// state dir (pids get reused).
pub fn live_monitor_pid(state: &StateDir) -> Option<i32> {
    let pid = state.recorded_monitor_pid()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let dir = state.path().as_os_str().as_encoded_bytes();
    cmdline
        .split(|&b| b == 0)
        .any(|arg| arg == dir)
        .then_some(pid)
}

fn final_record(launch: &Launch) -> PathBuf {
    launch.runs_dir.join(format!("{}.final.json", launch.id))
}

/// The recorded monitor pid if that monitor died without ending normally.
fn dead_monitor(state: &StateDir, launch: &Launch) -> Option<i32> {
    let pid = state.recorded_monitor_pid()?;
    if live_monitor_pid(state).is_some() {
        return None;
    }
    let started = std::fs::metadata(state.monitor_pid())
        .ok()?
        .modified()
        .ok()?;
    let ended_normally = std::fs::metadata(final_record(launch))
        .and_then(|m| m.modified())
        .is_ok_and(|ended| ended >= started);
    (!ended_normally).then_some(pid)
}

/// Whether runc still has the container with tasks in it (created, running or paused).
fn has_tasks(runc: &Runc, launch: &Launch) -> bool {
    let Ok(out) = runc.output_in(launch.runc_root.as_deref(), &["state", &launch.id]) else {
        return false;
    };
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    matches!(
        state["status"].as_str(),
        Some("created" | "running" | "paused")
    )
}

/// Checks the monitor of the container of `state`; if it died, reports it (once) and, when
/// `kill` is set and the container still has tasks, kills the container. `None` if the monitor
/// runs, ended normally, or there is no monitor to check.
pub fn check(state: &StateDir, noticed_by: &str, kill: bool) -> Option<Death> {
    let launch = Launch::read(state.path()).ok()?;
    let pid = dead_monitor(state, &launch)?;
    let runc = Runc {
        path: launch.runc.clone(),
    };
    // Claimed before the kill: the kill makes the containerd shim call `delete`, whose own check
    // must not report the death first, as if nobody had killed anything.
    let first = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(state.path().join(REPORTED))
        .is_ok();
    let mut killed = false;
    // Under the ebpf monitor the kernel goes on judging (and killing) without the monitor: the
    // container is not broken, only unwatched by user space.
    let kill = kill && launch.monitor != MonitorKind::Ebpf;
    if kill && has_tasks(&runc, &launch) {
        killed = runc
            .output_in(launch.runc_root.as_deref(), &["kill", &launch.id, "KILL"])
            .is_ok_and(|o| o.status.success());
    }
    let meanwhile = match (launch.monitor, launch.ptrace_stops) {
        (MonitorKind::Ptrace, PtraceStops::Syscall) => {
            "the kernel detached the container, which ran on unwatched"
        }
        (MonitorKind::Ebpf, _) => {
            "the kernel went on judging the container; its events and learning stopped"
        }
        _ => "the container's monitored system calls fail with ENOSYS",
    };
    let death = Death {
        pid,
        meanwhile,
        killed,
    };
    if first {
        let mut event = Event::now(
            &launch.id,
            &launch.profile_name,
            launch.mode,
            launch.monitor,
            EventKind::MonitorDied,
        );
        event.action = if killed {
            ActionTaken::Killed
        } else {
            ActionTaken::None
        };
        event.message = Some(format!("{death} (noticed by {noticed_by})"));
        if let Err(e) = launch.event_log().write(&event, true) {
            log::error!("{e}");
        }
    }
    Some(death)
}
