//! The monitor side of ids-runc: one container's system calls, from the kernel to a verdict and an
//! action.
//!
//! ```text
//!   kernel ──► backend (notify | ptrace) ──► guard ──► detector (ids-detector crate)
//!                      ▲ Admission             │  └──► policy ──► action (deny, kill)
//!                      └───────────────────────┘  └──► record (events, epochs, profile saves)
//! ```
//!
//! A [`backend`] stops each call and hands it to a sink. The sink that matters is the
//! [`guard`], the hub: it maps the call to a symbol, sets runc's own start-up calls aside, asks
//! whether the call was ever seen in training (before it runs: the answer may deny it), asks the
//! same of the file, program or address a few calls name ([`resource`]), and feeds the call to the
//! detector; at the end of each epoch the detector returns a verdict. The [`policy`] says
//! what to do about an unseen call or an anomalous epoch; the guard does it and writes what
//! happened through [`record`]. A learning guard saves what it learnt as a [`profile`].
//!
//! Layers, each importing only those below it: the detector crate knows no kernel; [`record`],
//! [`policy`], [`profile`], [`resource`] and [`backend`] know the detector and each other's types
//! but never the guard; the guard knows them all. [`offline`] scores recorded traces with the same detector and
//! is imported by nothing live.

pub mod backend;
pub mod guard;
pub mod mode;
pub mod offline;
pub mod policy;
pub mod profile;
pub mod record;
pub mod resource;
#[cfg(any(test, feature = "fixtures"))]
pub mod testing;
