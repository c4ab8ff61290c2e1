//! `ids-runc unload-ebpf`: frees the ebpf monitor's program. It stays loaded, pinned in
//! `/run/ids-runc/bpf` but attached to nothing, between ebpf containers, so that the next one
//! starts without loading and verifying it again. Refused while a container uses it.

use std::ffi::OsString;

use crate::config::host::HostConfig;
use crate::monitor_process::kernel;

pub fn main(words: Vec<OsString>, host: &HostConfig) -> anyhow::Result<i32> {
    anyhow::ensure!(
        words.is_empty(),
        "ids-runc unload-ebpf takes no arguments (got {words:?})"
    );
    let setup = kernel::setup(host.kernel_btf.as_deref())?;
    if setup.unload()? {
        println!("the ebpf monitor's program is unloaded");
        Ok(0)
    } else {
        eprintln!("ids-runc: the ebpf monitor's program is in use by a container; not unloaded");
        Ok(1)
    }
}
