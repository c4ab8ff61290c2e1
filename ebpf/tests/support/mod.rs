//! What the kernel tests and the getppid benchmark share.

#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use ids_ebpf::{NO_SYM, NR_TABLE};
use ids_monitor::alphabet::{Alphabet, Arch};

/// The alphabet's symbol table, as the kernel takes it.
pub fn symbols() -> Vec<u16> {
    let a = Alphabet::system();
    let mut table = vec![NO_SYM; 3 * NR_TABLE];
    for (i, arch) in [Arch::X86_64, Arch::X86, Arch::X32].into_iter().enumerate() {
        for nr in 0..NR_TABLE {
            if let Some(sym) = a.sym(arch, nr as u32) {
                table[i * NR_TABLE + nr] = sym.0;
            }
        }
    }
    table
}

/// Makes `command`'s process join `cgroup` (v2) between its fork and its exec.
pub fn join_before_exec(command: &mut Command, cgroup: &Path) {
    let procs = CString::new(
        cgroup
            .join("cgroup.procs")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .expect("a path has no NUL");
    // SAFETY: the closure runs in the child between fork and exec and calls only async-signal-safe
    // functions (open, write, close) on memory prepared before the fork.
    unsafe {
        command.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
}
