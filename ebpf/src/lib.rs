//! ids-runc's in-kernel monitor: the bag-of-system-calls detector as one BPF program on the raw
//! syscall-entry tracepoint, shared by every monitored container of the host.
//!
//! A container is its cgroup (v2) id. User space registers it with its parameters and its known
//! bags ([`Registration`]); the kernel keeps each thread's window in task storage, counts unknown
//! bags per epoch, kills the process that ends an anomalous epoch when told to, and tells user
//! space, through the container's ring buffer, only what is new ([`Record`]). The bag ids are the
//! user-space detector's, computed from the same symbols, so a profile loads as it is.

mod abi;
pub mod cgroup;
mod container;
mod detector;
mod error;
mod host;
mod record;

/// How deep the calling process's pid namespace is (0: the initial one), from the `NSpid` line of
/// `/proc/self/status`, which lists the pid in every namespace from the initial one down.
pub fn pid_namespace_level() -> Result<u32, Error> {
    let path = "/proc/self/status";
    let status = std::fs::read_to_string(path).map_err(Error::file(path))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|pids| pids.split_whitespace().count().saturating_sub(1) as u32)
        .ok_or_else(|| Error::Unsupported(format!("{path} has no NSpid line")))
}

pub use abi::{NO_SYM, NR_TABLE};
pub use container::{unregister_cgroup, Counters, OnUnseen, Registration, Spec};
pub use detector::{limits, symbol_table};
pub use error::Error;
pub use host::{Setup, DEFAULT_PIN_DIR, KERNEL_BTF};
pub use record::{Record, Records, Window};
