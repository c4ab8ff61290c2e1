//! runc's own calls inside the container, before the container's program starts.
//!
//! The seccomp filter is installed by runc's init process (Go, several threads), which then goes on
//! setting up the container — capabilities, groups, waiting for `start` — and finally `execve`s the
//! container's program; `runc exec` works the same way. Those calls are runc's, not the
//! container's: they vary with Go's scheduling from one start to the next, and they would put
//! noise into every profile and false alarms into every first epoch. So each process handed over is
//! "starting" until one of its threads calls `execve`, and its calls are not judged until then.
//!
//! Notifications carry thread ids; a new thread's process is read once from `/proc/<tid>/status`.
//! Once no handed-over process is starting, this costs one branch per call.

use std::collections::HashMap;

/// The processes handed over that have not yet exec'd the container's program.
#[derive(Debug, Default)]
pub struct Startup {
    starting: Vec<u32>,
    /// Thread → process, for threads seen while some process was starting.
    threads: HashMap<u32, u32>,
}

/// The process (thread group) of a thread, from procfs; the thread itself if that cannot be read.
fn process_of(tid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(tid)
}

impl Startup {
    /// `pid` was handed over: runc's init, or the process of a `runc exec`.
    pub fn handed_over(&mut self, pid: u32) {
        if !self.starting.contains(&pid) {
            self.starting.push(pid);
        }
    }

    /// Whether a call by `tid` is still runc's. An `execve` by a starting process ends its
    /// start-up: that call and every later one belong to the container.
    pub fn is_runc(&mut self, tid: u32, is_execve: bool) -> bool {
        if self.starting.is_empty() {
            return false;
        }
        let process = *self.threads.entry(tid).or_insert_with(|| process_of(tid));
        if !self.starting.contains(&process) {
            return false;
        }
        if is_execve {
            self.starting.retain(|&p| p != process);
            self.threads.retain(|_, p| *p != process);
            if self.starting.is_empty() {
                self.threads.clear();
            }
            return false;
        }
        true
    }

    pub fn starting(&self) -> usize {
        self.starting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_runcs_until_it_execs() {
        let me = std::process::id();
        let mut s = Startup::default();
        assert!(!s.is_runc(me, false), "nothing handed over yet");
        s.handed_over(me);
        assert!(s.is_runc(me, false));
        assert!(!s.is_runc(me, true), "the execve itself is the program's");
        assert!(!s.is_runc(me, false));
        assert_eq!(s.starting(), 0);
    }

    #[test]
    fn other_threads_of_a_starting_process_are_runcs_too() {
        let me = std::process::id();
        let mut s = Startup::default();
        s.handed_over(me);
        let mut other = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(
            !s.is_runc(other.id(), false),
            "another process is not runc's"
        );
        other.kill().unwrap();
        other.wait().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(nix::unistd::gettid().as_raw() as u32).unwrap();
            done_rx.recv().unwrap();
        });
        let live_tid = rx.recv().unwrap();
        assert!(s.is_runc(live_tid, false), "a live thread of the process");
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }
}
