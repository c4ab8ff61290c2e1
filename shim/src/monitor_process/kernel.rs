//! The host's kernel program for the ebpf monitor, where ids-runc pins it and with the BTF the
//! host config names: `create` asks it whether the ebpf monitor can run here, the monitor
//! registers its container with it, `delete` takes a dead monitor's container out of it, and
//! `ids-runc unload-ebpf` frees it.

use std::path::Path;

use ids_detector::alphabet::Alphabet;
use ids_ebpf::{Setup, DEFAULT_PIN_DIR, KERNEL_BTF};

/// The program pinned in `/run/ids-runc/bpf`, relocated against `btf` (default: the running
/// kernel's).
pub fn setup(btf: Option<&Path>) -> anyhow::Result<Setup> {
    Ok(Setup::new(
        Path::new(DEFAULT_PIN_DIR),
        btf.unwrap_or(Path::new(KERNEL_BTF)),
        ids_ebpf::symbol_table(Alphabet::system()),
    )?)
}
