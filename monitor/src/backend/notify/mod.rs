//! The seccomp user-notification backend: takes a container's system calls out of the kernel and
//! hands each one to a [`SyscallSink`](crate::backend::sink::SyscallSink) (the guard, or a counter
//! in tests and benchmarks).
//!
//! runc hands the notify fd of each process it starts (init, then one per `runc exec`) to the
//! [`HandoverListener`]; the [`NotifySupervisor`] answers every notification, CONTINUE unless the
//! sink says otherwise, and only then tells the sink, so the container waits as little as possible.

mod listener;
mod seccomp_fd;
mod supervisor;

pub use listener::{
    ContainerProcessState, ContainerState, HandedOverFd, HandoverListener, ListenerError,
};
pub use supervisor::{NotifySupervisor, SupervisorConfig, SupervisorError, SupervisorStats};
