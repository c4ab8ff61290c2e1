//! One file per subcommand that ids-runc handles itself; everything else goes straight to runc.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod inspect;
pub mod metrics;
pub mod monitor;
pub mod profile;
pub mod report;
pub mod unload_ebpf;
pub mod version;
