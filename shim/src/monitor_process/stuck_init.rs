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
//!
//! `runc exec` has the same window for the process it starts, and the monitor cannot tell which
//! runc is starting one, so `exec` leaves a small watcher behind it (`watch_exec`). The process
//! `runc exec` starts stays its child for its whole life when not detached, and a busy process is
//! often caught waiting for an answer, so the watcher only judges runc's init, named
//! `runc:[2:INIT]` until it execs the process, and must find it stuck at every look for a while.

use std::path::Path;
use std::time::{Duration, Instant};

use ids_detector::alphabet::{Alphabet, Arch};
use ids_monitor::record::events::{ActionTaken, Event, EventKind};

use crate::monitor_process::launch::Launch;

/// The kernel function a task waits in while its notified system call is unanswered.
const NOTIFY_WAIT: &str = "seccomp_do_user_notification";
/// What runc's init calls itself (`/proc/PID/comm`) until it execs the container's process.
const RUNC_INIT: &str = "runc:[";
/// How often the exec watcher looks, and how long runc's init must look stuck at every look.
const EXEC_LOOK_EVERY: Duration = Duration::from_secs(1);
const EXEC_STUCK_FOR: Duration = Duration::from_secs(5);
/// A `runc exec` that has not started its process by then failed on its own.
const EXEC_GIVE_UP: Duration = Duration::from_secs(600);

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

fn children_of(runc_pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(Path::new("/proc")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_of(pid) == Some(runc_pid))
        .collect()
}

/// A child of `runc_pid` blocked in a notified call, if there is one.
pub fn find(runc_pid: i32) -> Option<StuckInit> {
    children_of(runc_pid)
        .into_iter()
        .find_map(|pid| notified_wait(pid).map(|syscall| StuckInit { pid, syscall }))
}

/// Whether `pid` is runc's init: `Some(false)` once it has exec'd, `None` if it is gone.
fn is_runc_init(pid: i32) -> Option<bool> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.starts_with(RUNC_INIT))
}

/// Watches the `runc exec` of pid `runc_pid` until it has started its process (its init has
/// exec'd it), is gone, or its init is found stuck in a notified call at every look for
/// `EXEC_STUCK_FOR`: that init is killed, so that `exec` fails instead of hanging.
pub fn watch_exec(launch: &Launch, runc_pid: i32) {
    let me = std::process::id() as i32;
    let started = Instant::now();
    let mut suspect: Option<(StuckInit, Instant)> = None;
    // runc's inits seen so far: one that no longer is has exec'd the process. (Any other child
    // proves nothing: runc's own children are not named until they run its init code.)
    let mut inits: Vec<i32> = Vec::new();
    while Path::new(&format!("/proc/{runc_pid}")).exists() && started.elapsed() < EXEC_GIVE_UP {
        if inits.iter().any(|&pid| is_runc_init(pid) == Some(false)) {
            return;
        }
        let children: Vec<i32> = children_of(runc_pid)
            .into_iter()
            .filter(|&pid| pid != me)
            .collect();
        for &pid in &children {
            if !inits.contains(&pid) && is_runc_init(pid) == Some(true) {
                inits.push(pid);
            }
        }
        let found = children.into_iter().find_map(|pid| {
            notified_wait(pid)
                .filter(|_| is_runc_init(pid) == Some(true))
                .map(|syscall| StuckInit { pid, syscall })
        });
        suspect = match (found, suspect) {
            (Some(now), Some((before, since))) if now == before => {
                if since.elapsed() >= EXEC_STUCK_FOR {
                    kill(launch, now, "exec");
                    return;
                }
                Some((before, since))
            }
            (found, _) => found.map(|s| (s, Instant::now())),
        };
        std::thread::sleep(EXEC_LOOK_EVERY);
    }
}

/// Kills a runc init that can never go on, so that `command` (`create`, `exec`) fails instead of
/// hanging, and says why in the log and the events.
pub fn kill(launch: &Launch, stuck: StuckInit, command: &str) {
    let call = Alphabet::system()
        .sym(Arch::X86_64, stuck.syscall as u32)
        .map(|s| Alphabet::system().name(s).to_string())
        .unwrap_or_else(|| format!("syscall {}", stuck.syscall));
    let message = format!(
        "{command} stuck: runc init (pid {}) waits in a notified {call} that nobody can answer \
         before runc hands the notify fd over; killed it so that {command} fails instead of \
         hanging",
        stuck.pid
    );
    log::error!("{message}");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(stuck.pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let mut event = Event::now(
        &launch.id,
        &launch.profile_name,
        launch.mode,
        launch.monitor,
        EventKind::MonitorError,
    );
    event.action = ActionTaken::Killed;
    event.pid = Some(stuck.pid as u32);
    event.syscalls = vec![call];
    event.message = Some(message);
    if let Err(e) = launch.event_log().write(&event, true) {
        log::error!("{e}");
    }
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
