//! Backends: how a container's system calls are taken out of the kernel and handed, one by one, to
//! a [`SyscallSink`] (the guard). Each backend is a loop on one thread that owns the sink; it also
//! answers the container's control socket from that loop, so `inspect` never races the sink.
//!
//! - [`notify`]: seccomp user notification. runc installs a filter whose ALLOW rules were turned
//!   into NOTIFY ([`seccomp_merge`]) and hands the notify fd of each process it starts to the
//!   monitor's listener.
//! - [`ptrace`]: the monitor seizes the process about to exec runc and follows it into the
//!   container; every call of a container thread stops it.
//!
//! Both tell the sink of a new container process with the same narrow [`Handover`], and share
//! [`Delivery`] (sink, counters, control socket) and the [`Backend`] trait, so the caller has one
//! loop for all of them. `watcher` wakes a loop blocked in the kernel when the control socket or
//! the stop check needs it; [`control`] is the socket itself. Nothing here imports the guard, the
//! profile or the records: a backend knows only the sink's trait.

pub mod control;
pub mod ebpf;
pub mod memory;
pub mod notify;
pub mod ptrace;
pub mod seccomp_merge;
pub mod shared_sink;
pub mod sink;
mod watcher;

use serde::{Deserialize, Serialize};

use control::ControlServer;
use sink::{RunEnd, SyscallSink};

/// Which monitor takes the calls (and which one a profile was learnt with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MonitorKind {
    /// seccomp user notification: sees every syscall but those of
    /// [`seccomp_merge::NEVER_NOTIFIED`] (`write`, which runc refuses to notify;
    /// `rt_sigreturn`, which crashes the task if notified; the Go runtime's scheduling calls, which
    /// can hang runc's init before the monitor has the notify fd).
    SeccompNotify,
    /// ptrace: sees every syscall.
    Ptrace,
    /// Recorded traces (strace, datasets): sees what the trace holds.
    Offline,
    /// The detector in the kernel (`ids-ebpf`): sees every syscall that passes the container's
    /// seccomp profile.
    Ebpf,
}

impl MonitorKind {
    /// The syscalls this monitor cannot see, sorted.
    pub fn invisible_syscalls(self) -> &'static [&'static str] {
        match self {
            MonitorKind::SeccompNotify => &seccomp_merge::NEVER_NOTIFIED,
            MonitorKind::Ptrace | MonitorKind::Offline | MonitorKind::Ebpf => &[],
        }
    }

    /// Calls a profile learnt with `learnt_with` never saw and this monitor does: the guard counts
    /// them but keeps them out of the windows, so the windows are the ones the profile was made of
    /// (a seccomp-notify profile under ptrace: `write`, `rt_sigreturn`, ...).
    pub fn blind_spots_of(self, learnt_with: MonitorKind) -> Vec<&'static str> {
        let running = self.invisible_syscalls();
        learnt_with
            .invisible_syscalls()
            .iter()
            .filter(|c| !running.contains(c))
            .copied()
            .collect()
    }

    /// Calls a profile learnt with `learnt_with` saw and this monitor cannot: windows with them
    /// will never match (a ptrace profile under seccomp notify).
    pub fn cannot_see_for(self, learnt_with: MonitorKind) -> Vec<&'static str> {
        learnt_with.blind_spots_of(self)
    }
}

/// What runc is doing for a process that reaches the monitor, as runc's state calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `create` or `run`: the process is the container's init.
    Creating,
    /// `exec`: the process runs the exec'd command in a running container.
    Running,
}

impl Origin {
    /// The word runc's state uses (`creating`, `running`).
    pub fn parse(word: &str) -> Option<Origin> {
        match word {
            "creating" => Some(Origin::Creating),
            "running" => Some(Origin::Running),
            _ => None,
        }
    }

    pub fn status(self) -> &'static str {
        match self {
            Origin::Creating => "creating",
            Origin::Running => "running",
        }
    }
}

/// A new process of the container now reports to the monitor (its notify fd was handed over, or
/// ptrace saw runc start it). Until it calls `execve`, its calls are runc's, not the container's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handover {
    /// The process, in the monitor's pid namespace.
    pub pid: u32,
    pub origin: Origin,
}

/// What every backend's loop keeps besides its own machinery: the sink it delivers to, its
/// counters, and the control socket it answers from the same thread.
pub struct Delivery<S, T> {
    pub sink: S,
    pub stats: T,
    pub control: Option<ControlServer>,
}

impl<S: SyscallSink, T: Serialize> Delivery<S, T> {
    pub fn new(sink: S, stats: T) -> Self {
        Delivery {
            sink,
            stats,
            control: None,
        }
    }

    /// What `inspect` answers.
    pub fn inspect(&self) -> serde_json::Value {
        inspect_document(&self.sink, &self.stats)
    }
}

/// What `inspect` answers for a backend: the sink's document with the loop's counters under
/// `"supervisor"`. Apart from [`Delivery`] for a loop that lends its control socket out while it
/// answers.
pub fn inspect_document(sink: &impl SyscallSink, stats: &impl Serialize) -> serde_json::Value {
    let stats = serde_json::to_value(stats).unwrap_or_default();
    match sink.inspect() {
        serde_json::Value::Object(mut doc) => {
            doc.insert("supervisor".into(), stats);
            serde_json::Value::Object(doc)
        }
        other => serde_json::json!({ "sink": other, "supervisor": stats }),
    }
}

/// A way of watching one container: a loop that delivers its calls to a sink until the container
/// is gone. Notify and ptrace implement it; the caller runs any of them the same way.
pub trait Backend: Sized {
    type Sink: SyscallSink;
    type Stats: Serialize;
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether a container process can wait for this monitor before the monitor knows it exists:
    /// under seccomp notify, runc's init can make a notified call before runc hands its fd over,
    /// and then waits forever. The caller watches for that while no handover has come.
    const START_CAN_STICK: bool;

    fn delivery(&self) -> &Delivery<Self::Sink, Self::Stats>;
    fn delivery_mut(&mut self) -> &mut Delivery<Self::Sink, Self::Stats>;
    fn into_delivery(self) -> Delivery<Self::Sink, Self::Stats>;

    /// Runs until every process handed over is gone, `should_stop` says so (checked now and
    /// then), or no handover came within the configured time.
    fn run(&mut self, should_stop: impl FnMut() -> bool) -> Result<RunEnd, Self::Error>;

    /// Also answers requests on `control`, from the same loop.
    fn with_control(mut self, control: ControlServer) -> Self {
        self.delivery_mut().control = Some(control);
        self
    }

    /// The loop's counters so far.
    fn stats(&self) -> &Self::Stats {
        &self.delivery().stats
    }

    fn sink(&self) -> &Self::Sink {
        &self.delivery().sink
    }

    /// The sink, with everything it observed, once the loop is over.
    fn into_sink(self) -> Self::Sink {
        self.into_delivery().sink
    }

    /// What `inspect` answers.
    fn inspect(&self) -> serde_json::Value {
        self.delivery().inspect()
    }
}
