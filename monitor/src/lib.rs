//! The monitor side of ids-runc: how system calls are taken out of a container (backends), how they
//! are judged (the bag-of-system-calls detector), and what is done about it (policy, events).
//!
//! Data flows one way: backend → detector → policy. The detector is pure (no I/O, no syscalls), so the
//! same code serves live containers, offline traces and benchmarks.

pub mod atomic_file;
pub mod control;
pub mod notify;
pub mod seccomp_merge;
