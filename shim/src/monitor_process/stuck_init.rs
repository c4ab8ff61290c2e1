//! A container start that can never finish: runc's init blocked in a notified system call before
//! runc has handed the notify fd to the monitor.
//!
//! runc 1.1's init (Go) keeps running after it loads the seccomp filter and before runc passes the
//! notify fd on; a notified call in that window waits for an answer that only the monitor could
//! give, and the monitor does not have the fd yet (see `seccomp_merge::NEVER_NOTIFIED` for the calls
//! kept out of notification for this reason). The monitor therefore looks, while it has no
//! handover, for a child of the runc that creates the container with a thread waiting in
//! `seccomp_do_user_notification`; if that is still so a while later, it kills that process, so
//! that `create` fails with an error instead of hanging forever.

use std::path::Path;

/// The kernel function a task waits in while its notified system call is unanswered.
const NOTIFY_WAIT: &str = "seccomp_do_user_notification";

/// A process blocked in a notified call, and the syscall number it waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckInit {
    pub pid: i32,
    pub syscall: i64,
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

/// The first thread of `pid` waiting in a notified call, with its syscall number.
fn notified_wait(pid: i32) -> Option<i64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.filter_map(|t| t.ok()).find_map(|task| {
        let dir = task.path();
        let wchan = std::fs::read_to_string(dir.join("wchan")).ok()?;
        if !wchan.starts_with(NOTIFY_WAIT) {
            return None;
        }
        std::fs::read_to_string(dir.join("syscall"))
            .ok()?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// A child of `runc_pid` blocked in a notified call, if there is one.
pub fn find(runc_pid: i32) -> Option<StuckInit> {
    std::fs::read_dir(Path::new("/proc"))
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_of(pid) == Some(runc_pid))
        .find_map(|pid| notified_wait(pid).map(|syscall| StuckInit { pid, syscall }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parents_and_finds_nothing_stuck_here() {
        let me = std::process::id() as i32;
        assert_eq!(parent_of(me), Some(nix::unistd::getppid().as_raw()));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert_eq!(parent_of(child.id() as i32), Some(me));
        assert_eq!(find(me), None, "a sleeping child is not in a notified call");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
