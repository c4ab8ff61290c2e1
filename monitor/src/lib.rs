//! The monitor side of ids-runc: how system calls are taken out of a container (backends), how they
//! are judged (the bag-of-system-calls detector), and what is done about it (policy, events).
//!
//! Data flows one way: backend → detector → policy. The detector is pure (no I/O, no syscalls), so the
//! same code serves live containers, offline traces and benchmarks.

pub mod alphabet;
pub mod backoff_bosc;
pub mod bag;
pub mod detector;
pub mod epoch;
pub mod eval;
pub mod fast_hash;
pub mod normal_db;
pub mod parameters;
pub mod profile;
pub mod scorer;
pub mod stide;
pub mod trace;
pub mod weighted_bosc;
pub mod window;
