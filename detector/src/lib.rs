//! The bag-of-system-calls detector (Abed, Clancy & Levy 2015), apart from any way of getting the
//! calls.
//!
//! A stream of `(thread, syscall)` pairs goes in; a [`detector::Verdict`] comes out at the end of
//! every epoch. Syscalls are dense symbols of an [`alphabet::Alphabet`]; each thread (or the whole
//! container) has a sliding [`window::Window`] whose counts form a [`bag`]; the
//! [`normal_db::NormalDb`] holds the bags seen in training; [`epoch`] counts mismatches and decides
//! when training has converged; [`parameters`] are the knobs a profile stores.
//!
//! This crate does no I/O and makes no system call of its own: it depends on no system library, so
//! the same code judges live containers (whatever monitor feeds it), recorded traces and benchmark
//! streams, and the build proves that it knows no kernel.

pub mod alphabet;
pub mod bag;
pub mod detector;
pub mod epoch;
pub mod fast_hash;
pub mod followers;
pub mod normal_db;
pub mod parameters;
mod syscall_table;
pub mod window;
