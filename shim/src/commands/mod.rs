//! One file per subcommand that ids-runc handles itself; everything else goes straight to runc.

pub mod features;
pub mod profile;
pub mod version;
