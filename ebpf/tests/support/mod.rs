//! What the kernel tests and the getppid benchmark share.

#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use ids_detector::alphabet::Alphabet;
use ids_detector::parameters::Parameters;
use ids_ebpf::{cgroup, Setup, KERNEL_BTF};

/// The alphabet's symbol table, as the kernel takes it.
pub fn symbols() -> Vec<u16> {
    ids_ebpf::symbol_table(Alphabet::system())
}

/// The kernel's limit table for the detector's threshold.
pub fn limits(p: &Parameters) -> Vec<u32> {
    ids_ebpf::limits(p)
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

/// A private bpffs (so each test has its own program) and a cgroup of its own.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub pins: PathBuf,
    pub setup: Setup,
    cgroups: Vec<PathBuf>,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_btf(Path::new(KERNEL_BTF))
    }

    pub fn with_btf(btf: &Path) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let pins = dir.path().join("bpf");
        let setup = Setup::new(&pins, btf, symbols()).unwrap();
        Fixture {
            _dir: dir,
            pins,
            setup,
            cgroups: Vec::new(),
        }
    }

    /// A new cgroup v2 and its id.
    pub fn cgroup(&mut self) -> (PathBuf, u64) {
        static N: AtomicU32 = AtomicU32::new(0);
        self.cgroup_named(&format!(
            "ids-ebpf-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// A new cgroup v2 `name` under the root of the hierarchy, and its id.
    pub fn cgroup_named(&mut self, name: &str) -> (PathBuf, u64) {
        let path = cgroup::unified_root().unwrap().join(name);
        std::fs::create_dir(&path).unwrap();
        let id = cgroup::id(&path).unwrap();
        self.cgroups.push(path.clone());
        (path, id)
    }

    pub fn pinned(&self) -> Vec<String> {
        std::fs::read_dir(&self.pins)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    // The kernel's own iterators in every bpffs instance.
                    .filter(|name| !name.ends_with(".debug"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for path in &self.cgroups {
            // runc removes the cgroups of its containers itself.
            if !path.exists() {
                continue;
            }
            // Children of the fork test may still be leaving.
            while std::fs::remove_dir(path).is_err()
                && std::fs::read_to_string(path.join("cgroup.procs")).is_ok_and(|p| !p.is_empty())
            {
                std::thread::yield_now();
            }
        }
        // Whatever a failed test left pinned goes with the mount.
        let _ = nix::mount::umount2(&self.pins, nix::mount::MntFlags::MNT_DETACH);
    }
}
