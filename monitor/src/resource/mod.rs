//! What a container touches, learnt beside the bags: files it writes, files it reads, programs it
//! runs, sockets it makes, addresses it binds, listens on and connects to, permissions it
//! changes. A few calls carry these in their arguments ([`call`]); the guard reads them from the
//! caller's memory before the call runs, generalises paths ([`path`]) and learns them into a
//! [`ResourceSet`] ([`set`]) that the profile carries. In detection a resource outside the set is
//! an `unseen-resource` event, with the same actions as an unseen syscall.
//!
//! Everything here is read from the container: hostile input. Paths are bounded
//! ([`path::MAX_PATH`]), the set is bounded ([`set::MAX_RESOURCES`]), nothing read is used to open
//! anything on the host, and whoever prints one escapes it.

pub mod call;
pub mod kind;
pub mod path;
pub mod set;

pub use call::{ResourceCalls, Scratch};
pub use kind::ResourceKind;
pub use set::{Learnt, ResourceSet};
