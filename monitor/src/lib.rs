//! The monitor side of ids-runc: how system calls are taken out of a container (backends), how they
//! are judged (the bag-of-system-calls detector), and what is done about it (policy, events).
//!
//! Data flows one way: backend → detector → policy. The detector is pure (no I/O, no syscalls), so the
//! same code serves live containers, offline traces and benchmarks.

pub mod alphabet;
pub mod atomic_file;
pub mod backoff_bosc;
pub mod bag;
pub mod control;
pub mod detector;
pub mod epoch;
pub mod epoch_log;
pub mod eval;
pub mod events;
pub mod fast_hash;
pub mod guard;
pub mod json_lines;
pub mod normal_db;
pub mod notify;
pub mod parameters;
pub mod policy;
pub mod profile;
pub mod provenance;
pub mod ptrace;
pub mod report;
pub mod scorer;
pub mod seccomp_merge;
pub mod sink;
pub mod startup;
pub mod stide;
pub mod trace;
mod watcher;
pub mod weighted_bosc;
pub mod window;
