//! What a monitor backend (seccomp notify, ptrace) delivers, and to what: each system call of a
//! container as a [`Syscall`], to a [`SyscallSink`] (the guard, or a counter in tests and
//! benchmarks). The backends differ in how they stop a call; the sink does not care.

use std::collections::HashMap;
use std::time::Instant;

use libseccomp::{ScmpArch, ScmpSyscall};

use super::Handover;

/// `AUDIT_ARCH_X86_64`: what the kernel reports for a 64-bit (and an x32) x86 system call.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`: what the kernel reports for a 32-bit x86 system call.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64`.
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `AUDIT_ARCH_ARM`.
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// One system call of a container, as the kernel reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Syscall {
    /// The calling thread, as a tid in the monitor's pid namespace.
    pub pid: u32,
    /// The `AUDIT_ARCH_*` value of the calling convention.
    pub arch: u32,
    /// The syscall number in that convention (x32 numbers carry bit 30).
    pub nr: i32,
    /// Its six argument registers, as the kernel reported them (pointers into the caller's memory
    /// for paths and addresses: read them through [`CallerMemory`]).
    pub args: [u64; 6],
}

/// The memory of the task whose call waits, as the backend can reach it. What is read there is
/// the caller's to change at any time (another thread can rewrite a path after it was read and
/// before the kernel reads it): good enough to detect with, never a sandbox.
pub trait CallerMemory {
    /// Copies up to `buf.len()` bytes at `addr` of the caller into `buf`; how many were copied
    /// (fewer at an unmapped page, 0 when nothing could be read).
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize;
    /// The local address of the caller's socket `fd` (`getsockname`), into `buf`; its length.
    fn socket_name(&self, fd: u64, buf: &mut [u8]) -> Option<usize>;
    /// The path of the caller's directory fd `fd`, or of its working directory (`None`), as the
    /// caller sees it (the kernel's name for it, from the caller's root), into `buf`; its length.
    fn directory(&self, fd: Option<i32>, buf: &mut [u8]) -> Option<usize>;
    /// Whether the call read from still waits for the answer. Under seccomp notify the task may
    /// have died and its pid been reused between the notification and the read, and then what was
    /// read is another process's: nothing read may be acted on unless this says yes after reading.
    fn still_waiting(&self) -> bool;
}

/// What the sink wants done with a system call before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Let the call run.
    Continue,
    /// Fail the call with this (positive) errno without running it.
    Deny(i32),
}

/// Why a backend's `run` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// At least one process was handed over (a notify fd, a traced process), and none is left:
    /// no task is left to monitor.
    AllHungUp,
    /// The stop condition said so. With seccomp notify, fds still open are closed when the
    /// supervisor is dropped, and tasks still using them then get ENOSYS from every notified call:
    /// stop only a container that is gone. The ptrace backend detaches and the container goes on.
    Stopped,
    /// No handover arrived within `handover_timeout`.
    HandoverTimeout,
}

/// Where a monitor backend delivers system calls. Called on the supervisor's only thread, once per
/// call: `admit` runs while the calling thread waits, `observe` while the container's next calls
/// wait, so neither may do I/O or allocate.
pub trait SyscallSink {
    /// A new process of the container (init, or a `runc exec`) now reports to the monitor.
    fn on_handover(&mut self, _handover: &Handover) {}
    /// A process handed over to a monitor that died reports to this one: it has started long
    /// since, unless it is still runc's (rare; its calls are then judged as the container's).
    fn on_resume(&mut self, _handover: &Handover) {}
    /// Decides, before the call runs, whether it may.
    fn admit(&mut self, _call: &Syscall) -> Admission {
        Admission::Continue
    }
    /// Decides, before the call runs and after `admit` let it, from what its arguments name (a
    /// path, a program, a port). Sinks that do not look at arguments let every call run.
    fn admit_arguments(&mut self, _call: &Syscall, _memory: &dyn CallerMemory) -> Admission {
        Admission::Continue
    }
    /// Takes the call into account; called after the kernel has been told to go on.
    fn observe(&mut self, call: &Syscall);
    /// The time, given by the backend's loop at least every `stop_check_interval` whether calls
    /// come or not: what ends an epoch of a container that has fallen quiet.
    fn on_clock(&mut self, _now: Instant) {}
    /// The sink's live state, for `ids-runc inspect`.
    fn inspect(&self) -> serde_json::Value;
}

/// Answers CONTINUE and counts: the floor for benchmarks of the notify path.
#[derive(Debug, Default)]
pub struct NullSink {
    /// System calls observed.
    pub observed: u64,
}

impl SyscallSink for NullSink {
    fn observe(&mut self, _call: &Syscall) {
        self.observed += 1;
    }

    fn inspect(&self) -> serde_json::Value {
        serde_json::json!({ "observed": self.observed })
    }
}

/// Counts calls per (architecture, number); its `inspect` names them.
#[derive(Debug)]
pub struct CountingSink {
    counts: HashMap<(u32, i32), u64>,
    handovers: Vec<Handover>,
}

/// Distinct (arch, nr) pairs a container can produce stay below this, so `observe` never grows the
/// map after construction.
const DISTINCT_SYSCALLS: usize = 4096;

impl Default for CountingSink {
    fn default() -> Self {
        Self {
            counts: HashMap::with_capacity(DISTINCT_SYSCALLS),
            handovers: Vec::new(),
        }
    }
}

impl CountingSink {
    /// How often a syscall called `name` was observed, in any calling convention.
    pub fn count_of(&self, name: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((arch, nr), _)| syscall_name(*arch, *nr).as_deref() == Some(name))
            .map(|(_, count)| count)
            .sum()
    }

    /// All calls observed.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The handovers received so far, in order.
    pub fn handovers(&self) -> &[Handover] {
        &self.handovers
    }
}

impl SyscallSink for CountingSink {
    fn on_handover(&mut self, handover: &Handover) {
        self.handovers.push(*handover);
    }

    fn observe(&mut self, call: &Syscall) {
        *self.counts.entry((call.arch, call.nr)).or_insert(0) += 1;
    }

    fn inspect(&self) -> serde_json::Value {
        let mut by_name = serde_json::Map::new();
        for (&(arch, nr), &count) in &self.counts {
            let name = syscall_name(arch, nr).unwrap_or_else(|| format!("{arch:#x}:{nr}"));
            let total = by_name.get(&name).and_then(|v| v.as_u64()).unwrap_or(0) + count;
            by_name.insert(name, total.into());
        }
        serde_json::json!({ "total": self.total(), "syscalls": by_name })
    }
}

/// The name libseccomp gives a system call, or `None` for an architecture or number it does not
/// know. Allocates: for reports, not for the notify path.
pub fn syscall_name(arch: u32, nr: i32) -> Option<String> {
    let arch = match arch {
        AUDIT_ARCH_X86_64 if nr & 0x4000_0000 != 0 => ScmpArch::X32,
        AUDIT_ARCH_X86_64 => ScmpArch::X8664,
        AUDIT_ARCH_I386 => ScmpArch::X86,
        AUDIT_ARCH_AARCH64 => ScmpArch::Aarch64,
        AUDIT_ARCH_ARM => ScmpArch::Arm,
        _ => return None,
    };
    ScmpSyscall::from(nr).get_name_by_arch(arch).ok()
}
