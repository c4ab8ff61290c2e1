//! The ptrace backend: traces a container's threads with `PTRACE_SYSCALL` and hands each call to
//! the same [`SyscallSink`](crate::backend::sink::SyscallSink) as the notify backend.
//!
//! It sees every call, `write` and `rt_sigreturn` included (the notify backend cannot), and it
//! needs no change to the container's seccomp profile. It costs more per call (two stops), and a
//! process inside the container cannot use ptrace itself: its threads are traced already, so its
//! `PTRACE_ATTACH`/`PTRACE_TRACEME` fail with EPERM.
//!
//! How the monitor gets hold of the container: ids-runc, just before it execs runc for `create`,
//! `run` or `exec`, asks the monitor on the control socket to `trace` its own pid; the monitor
//! seizes it and follows runc's children from there (see `tracees`).

mod supervisor;
mod tracees;

pub use supervisor::{TraceConfig, TraceError, TraceStats, TraceSupervisor};

/// How the ptrace monitor stops a container's calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PtraceStops {
    /// `PTRACE_SYSCALL`: a stop at each call's entry and exit. Needs nothing of the container's
    /// seccomp profile, and a container whose monitor stops or dies goes on, unwatched.
    #[default]
    Syscall,
    /// `SECCOMP_RET_TRACE` rules in the container's seccomp profile (ALLOW → TRACE) and
    /// `PTRACE_O_TRACESECCOMP`: one stop per call, and only for calls the profile lets through.
    /// Faster; but with no tracer attached a TRACE'd call fails with ENOSYS, so a container whose
    /// monitor stops or dies breaks, as under seccomp notify.
    Seccomp,
}
