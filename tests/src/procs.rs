//! What a test can see of ids-runc's processes from the host: monitors, their fds and threads,
//! and a busybox image with the load programs of `hack/bench/` built in.

use std::path::Path;
use std::process::Command;

use crate::bundle::Bundle;
use crate::dockerd::Dockerd;
use crate::{assert_ok, run, workspace};

/// Pids of the `ids-runc monitor` processes recorded for a state dir under `root` (under seccomp
/// notify the keeper, whose child the monitor proper is, is counted, not the child).
pub fn monitors_under(root: &Path) -> Vec<i32> {
    let root = root.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            args.iter().any(|a| *a == b"monitor")
                && args.iter().any(|a| a.starts_with(root))
                && !args.iter().any(|a| *a == b"--keeper-fd")
        })
        .collect()
}

/// The process that serves container `id`'s calls: the keeper's child under seccomp notify, the
/// recorded monitor itself otherwise.
pub fn serving_monitor(d: &Dockerd, id: &str) -> i32 {
    let recorded = monitor_pid(d, id);
    kept_monitor(recorded).unwrap_or(recorded)
}

/// The monitor a keeper started and keeps, if `keeper` is one.
pub fn kept_monitor(keeper: i32) -> Option<i32> {
    let children =
        std::fs::read_to_string(format!("/proc/{keeper}/task/{keeper}/children")).ok()?;
    children
        .split_whitespace()
        .filter_map(|c| c.parse::<i32>().ok())
        .find(|child| {
            std::fs::read(format!("/proc/{child}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).any(|a| a == b"--keeper-fd"))
        })
}

/// The pid recorded as the monitor of container `id`.
pub fn monitor_pid(d: &Dockerd, id: &str) -> i32 {
    let path = d
        .state_dir(id)
        .unwrap_or_else(|| panic!("no state dir for {id}"))
        .join("monitor.pid");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Open fds of a process.
pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A field of `/proc/<pid>/status` (`Threads`, `VmHWM`, `VmRSS`), as its number.
pub fn status_field(pid: i32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Imports `loadbox`: busybox plus `/bin/threads`, `/bin/forks` and `/bin/getppid` (hack/bench/*.c,
/// built static).
pub fn import_loadbox(d: &Dockerd) {
    let bundle = Bundle::new(&["sh"]);
    for program in ["threads", "forks", "getppid"] {
        let out = run(Command::new("gcc")
            .args(["-O2", "-static", "-pthread", "-o"])
            .arg(bundle.rootfs().join("bin").join(program))
            .arg(workspace().join(format!("hack/bench/{program}.c"))));
        assert_ok(&out, &format!("gcc hack/bench/{program}.c"));
    }
    d.import("loadbox:latest", &bundle.rootfs());
}

/// Asserts that nothing of ids-runc is left for this daemon: no monitor process, nothing in the
/// state root (no state dir, socket or pid file).
#[track_caller]
pub fn assert_nothing_left(d: &Dockerd) {
    let gone = crate::wait_until(std::time::Duration::from_secs(20), || {
        monitors_under(d.state_root()).is_empty()
    });
    assert!(
        gone,
        "monitors left running: {:?}",
        monitors_under(d.state_root())
    );
    let left: Vec<_> = std::fs::read_dir(d.state_root())
        .map(|r| r.filter_map(|e| Some(e.ok()?.file_name())).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the state root: {left:?}");
}
