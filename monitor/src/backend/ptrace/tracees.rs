//! Every thread the ptrace monitor traces, and whose it is: runc's, or the container's.
//!
//! The monitor seizes the process that is about to exec runc (`create`, `run` or `exec`) and
//! follows every thread and child from there. runc's own processes (the runc command, the stages
//! of its init before the container's pid namespace) are only followed, never judged: they are
//! resumed with `PTRACE_CONT`. A process whose pid namespace is not the monitor's is inside the
//! container, and so is every thread and child it makes: those are syscall-traced.
//!
//! The first container process a runc process makes is a *handover*, as with seccomp notify: the
//! container's init for `create`/`run`, the exec'd process for `exec`. It is runc's init until it
//! calls `execve`, which the guard's start-up rule handles exactly as for notify.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::backend::Origin;

/// Whose a traced thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// runc's, outside the container: followed, not syscall-traced.
    Runc,
    /// Inside the container: every call goes to the sink.
    Container,
}

/// One traced thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracee {
    pub side: Side,
    pub origin: Origin,
    /// Its current call was denied at entry: at the exit stop, make it return `-errno`.
    pub deny: Option<i32>,
    /// A thread of runc's init (or of an exec'd process) before the `execve` of the container's
    /// program completed (`PTRACE_EVENT_EXEC`): its calls are runc's. Only its `execve` goes to
    /// the sink, which ends the start-up there as under seccomp notify. The other Go threads of
    /// runc's init (sysmon's `nanosleep`, say) can still make calls between that `execve` and the
    /// moment the kernel kills them for the exec: they stay runc's, since they never see the exec.
    pub starting: bool,
}

/// The traced threads, by tid.
#[derive(Debug, Default)]
pub struct Tracees {
    threads: HashMap<u32, Tracee>,
    /// Children whose first stop came before their parent's fork event.
    waiting: Vec<u32>,
    host_pid_ns: Option<PathBuf>,
}

impl Tracees {
    pub fn new() -> Tracees {
        Tracees {
            threads: HashMap::new(),
            waiting: Vec::new(),
            host_pid_ns: std::fs::read_link("/proc/self/ns/pid").ok(),
        }
    }

    pub fn len(&self) -> usize {
        self.threads.len() + self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, tid: u32) -> Option<&Tracee> {
        self.threads.get(&tid)
    }

    pub fn get_mut(&mut self, tid: u32) -> Option<&mut Tracee> {
        self.threads.get_mut(&tid)
    }

    pub fn tids(&self) -> impl Iterator<Item = u32> + '_ {
        self.threads
            .keys()
            .copied()
            .chain(self.waiting.iter().copied())
    }

    /// A process the monitor seized on request: runc's, running already.
    pub fn seized(&mut self, pid: u32, origin: Origin) {
        self.threads.insert(
            pid,
            Tracee {
                side: Side::Runc,
                origin,
                deny: None,
                starting: false,
            },
        );
    }

    /// `parent` made `child` (a fork, vfork or clone event). Returns the child's classification
    /// and whether it was waiting at its first stop (then it must be resumed now), plus whether it
    /// is a handover: the first container process of a runc process.
    pub fn born(&mut self, parent: u32, child: u32) -> Born {
        let Some(parent) = self.threads.get(&parent).copied() else {
            // The parent is unknown (it exec'd under another tid, say): the child is judged by
            // where it lives.
            return self.classify(child, Side::Runc, Origin::Running, false);
        };
        self.classify(child, parent.side, parent.origin, parent.starting)
    }

    fn classify(&mut self, child: u32, parent_side: Side, origin: Origin, starting: bool) -> Born {
        let in_container = parent_side == Side::Container || self.in_other_pid_ns(child);
        let tracee = Tracee {
            side: if in_container {
                Side::Container
            } else {
                Side::Runc
            },
            origin,
            deny: None,
            starting: false,
        };
        let handover = in_container && parent_side == Side::Runc;
        let tracee = Tracee {
            starting: handover || starting,
            ..tracee
        };
        let was_waiting = match self.waiting.iter().position(|&t| t == child) {
            Some(at) => {
                self.waiting.swap_remove(at);
                true
            }
            None => false,
        };
        self.threads.insert(child, tracee);
        Born {
            tracee,
            was_waiting,
            handover,
        }
    }

    /// The first stop of a thread the monitor has no record of: a new child whose parent's event
    /// is still to come. It waits, stopped.
    pub fn first_stop_of_unknown(&mut self, tid: u32) {
        if !self.waiting.contains(&tid) {
            self.waiting.push(tid);
        }
    }

    /// A thread exec'd: the kernel gave it the process's pid (`tid`), and `former` is gone.
    pub fn exec(&mut self, tid: u32, former: u32) {
        if former != tid {
            if let Some(t) = self.threads.remove(&former) {
                self.threads.insert(tid, t);
            }
        }
        if let Some(t) = self.threads.get_mut(&tid) {
            t.deny = None;
            t.starting = false;
        }
    }

    /// The thread is gone (exited, killed, or detached).
    pub fn gone(&mut self, tid: u32) {
        self.threads.remove(&tid);
        self.waiting.retain(|&t| t != tid);
    }

    pub fn clear(&mut self) {
        self.threads.clear();
        self.waiting.clear();
    }

    /// Whether `tid` lives in another pid namespace than the monitor: inside the container.
    fn in_other_pid_ns(&self, tid: u32) -> bool {
        let Some(host) = &self.host_pid_ns else {
            return false;
        };
        std::fs::read_link(format!("/proc/{tid}/ns/pid")).is_ok_and(|ns| &ns != host)
    }
}

/// What [`Tracees::born`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Born {
    pub tracee: Tracee,
    pub was_waiting: bool,
    pub handover: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_of_container_processes_are_the_containers_and_no_handover() {
        let mut t = Tracees::new();
        t.seized(100, Origin::Creating);
        // A child in the monitor's own pid namespace (this test's): runc's.
        let me = std::process::id();
        let born = t.born(100, me);
        assert_eq!(born.tracee.side, Side::Runc);
        assert!(!born.handover);
        t.get_mut(me).unwrap().side = Side::Container;
        let grandchild = t.born(me, 4_000_001);
        assert_eq!(grandchild.tracee.side, Side::Container);
        assert!(
            !grandchild.handover,
            "only runc's first container process is"
        );
        assert_eq!(grandchild.tracee.origin, Origin::Creating);
    }

    #[test]
    fn a_child_whose_first_stop_came_first_waits_then_is_resumed() {
        let mut t = Tracees::new();
        t.seized(100, Origin::Running);
        t.first_stop_of_unknown(200);
        assert_eq!(t.len(), 2);
        let born = t.born(100, 200);
        assert!(born.was_waiting);
        assert_eq!(t.len(), 2);
        t.gone(200);
        t.gone(100);
        assert!(t.is_empty());
    }

    #[test]
    fn a_handover_and_its_threads_are_starting_until_the_exec() {
        let mut t = Tracees::new();
        t.seized(100, Origin::Creating);
        // Pretend pid 200 is runc's init in the container's pid namespace.
        t.threads.insert(
            200,
            Tracee {
                side: Side::Container,
                origin: Origin::Creating,
                deny: None,
                starting: true,
            },
        );
        let thread = t.born(200, 201);
        assert!(thread.tracee.starting, "a Go thread of runc's init");
        t.exec(200, 200);
        assert!(!t.get(200).unwrap().starting);
        assert!(
            t.get(201).unwrap().starting,
            "killed by the exec, never the container's"
        );
        let child = t.born(200, 300);
        assert!(
            !child.tracee.starting,
            "the program's children are the container's"
        );
    }

    #[test]
    fn exec_by_a_thread_moves_it_to_the_process_id() {
        let mut t = Tracees::new();
        t.seized(100, Origin::Creating);
        t.born(100, 101);
        t.exec(100, 101);
        assert!(t.get(101).is_none());
        assert!(t.get(100).is_some());
        assert_eq!(Origin::parse("running"), Some(Origin::Running));
        assert_eq!(Origin::parse("x"), None);
    }
}
