//! The seccomp user-notification backend: takes a container's system calls out of the kernel and
//! hands each one to a [`SyscallSink`](crate::backend::sink::SyscallSink) (the guard, or a counter
//! in tests and benchmarks).
//!
//! runc hands the notify fd of each process it starts (init, then one per `runc exec`) to the
//! [`HandoverListener`]; the [`NotifySupervisor`] answers every notification, CONTINUE unless the
//! sink says otherwise, and only then tells the sink, so the container waits as little as possible.
//!
//! A monitor started by a keeper ([`KeeperLink`]) deposits every fd with it, so that a monitor
//! that dies is replaced and the container's calls wait meanwhile instead of failing.

mod in_flight;
mod keeper_link;
mod listener;
mod seccomp_fd;
mod supervisor;

pub use in_flight::InFlight;
pub use keeper_link::{receive_deposit, KeeperLink, KeptFd, LinkError};

pub use listener::{
    ContainerProcessState, ContainerState, HandedOverFd, HandoverListener, ListenerError,
};
pub use supervisor::{NotifySupervisor, SupervisorConfig, SupervisorError, SupervisorStats};
