//! The program on the host: loaded and attached by the first container's monitor, pinned in
//! ids-runc's own bpffs so it outlives every monitor process, unpinned (and so detached and freed)
//! when the last container leaves. Every step runs under one lock file, so a container that
//! registers never meets a program that another monitor is taking down.

use std::fs::File;
use std::io::Read;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, MapHandle};
use nix::fcntl::{Flock, FlockArg};
use nix::mount::MsFlags;
use nix::sys::statfs::{statfs, FsType};

use crate::abi::{Container, NR_TABLE};
use crate::Error;

/// The skeleton libbpf-cargo generates (build.rs): generated code, not held to our lints.
mod skel {
    #![allow(
        clippy::all,
        clippy::pedantic,
        clippy::undocumented_unsafe_blocks,
        missing_docs,
        unsafe_op_in_unsafe_fn
    )]
    include!(concat!(env!("OUT_DIR"), "/bosc.skel.rs"));
}

/// Where the host's program is pinned: ids-runc's own bpffs instance, private to it.
pub const DEFAULT_PIN_DIR: &str = "/run/ids-runc/bpf";
/// The running kernel's BTF.
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Maps other monitors open, and the programs' links; unpinning them all frees the program.
const MAPS: [&str; 5] = ["containers", "bags", "rings", "limits", "syms"];
const LINKS: [&str; 2] = ["sys_enter", "sched_process_fork"];

/// `BTF_MAGIC`, the first two bytes of a BTF file (little-endian).
const BTF_MAGIC: u16 = 0xEB9F;

/// Where the program lives and what it is loaded with.
#[derive(Debug, Clone)]
pub struct Setup {
    pin_dir: PathBuf,
    btf: PathBuf,
    symbols: Vec<u16>,
}

impl Setup {
    /// The program pinned in `pin_dir` (a bpffs is mounted there if none is), relocated against
    /// the BTF at `btf`, mapping syscall numbers to the user-space alphabet's symbols:
    /// `symbols[arch * NR_TABLE + nr]` for arch 0 = x86_64, 1 = x86, 2 = x32, `NO_SYM` if unknown.
    pub fn new(pin_dir: &Path, btf: &Path, symbols: Vec<u16>) -> Result<Setup, Error> {
        if symbols.len() != 3 * NR_TABLE {
            return Err(Error::Unsupported(format!(
                "the symbol table has {} entries, the kernel program takes {}",
                symbols.len(),
                3 * NR_TABLE
            )));
        }
        Ok(Setup {
            pin_dir: pin_dir.to_path_buf(),
            btf: btf.to_path_buf(),
            symbols,
        })
    }

    /// Whether the program is loaded (pinned) now.
    pub fn is_loaded(&self) -> bool {
        LINKS.iter().any(|l| self.pin_dir.join(l).exists())
    }
}

/// The host-wide maps a registration works on.
#[derive(Debug)]
pub(crate) struct Maps {
    pub containers: MapHandle,
    pub bags: MapHandle,
    pub rings: MapHandle,
    pub limits: MapHandle,
}

/// The exclusive lock on the host's program, held while it is loaded, joined or left.
pub(crate) struct HostLock {
    _lock: Flock<File>,
}

/// Takes the host lock (`<pin dir>.lock`).
pub(crate) fn lock(setup: &Setup) -> Result<HostLock, Error> {
    let path = setup.pin_dir.with_extension("lock");
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::file(parent))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::file(&path))?;
    let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| Error::File {
        path,
        source: e.into(),
    })?;
    Ok(HostLock { _lock: lock })
}

/// The host's maps: the pinned program's, or a program loaded, attached and pinned now. The
/// caller holds the lock.
pub(crate) fn open_or_load(setup: &Setup, _lock: &HostLock) -> Result<Maps, Error> {
    check_btf(&setup.btf)?;
    mount_bpffs(&setup.pin_dir)?;
    if !setup.is_loaded() {
        if let Err(e) = load(setup) {
            unpin_all(&setup.pin_dir);
            return Err(e);
        }
    }
    let open = |name: &str| {
        MapHandle::from_pinned_path(setup.pin_dir.join(name))
            .map_err(Error::kernel(format!("pinned map {name}")))
    };
    let maps = Maps {
        containers: open("containers")?,
        bags: open("bags")?,
        rings: open("rings")?,
        limits: open("limits")?,
    };
    check_compatible(setup, &maps, &open("syms")?)?;
    Ok(maps)
}

/// Unpins the program if no container uses it any more; true if it did. The caller holds the lock.
pub(crate) fn unload_if_unused(setup: &Setup, maps: &Maps, _lock: &HostLock) -> bool {
    if maps.containers.keys().next().is_some() {
        return false;
    }
    unpin_all(&setup.pin_dir);
    true
}

fn check_btf(path: &Path) -> Result<(), Error> {
    let no_btf = |reason: String| Error::NoBtf {
        path: path.to_path_buf(),
        reason,
    };
    let mut magic = [0u8; 2];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| no_btf(format!("cannot be read ({e})")))?;
    if u16::from_le_bytes(magic) != BTF_MAGIC {
        return Err(no_btf("is not BTF".to_string()));
    }
    Ok(())
}

fn mount_bpffs(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(Error::file(dir))?;
    let fs = statfs(dir).map_err(|e| Error::File {
        path: dir.to_path_buf(),
        source: e.into(),
    })?;
    if fs.filesystem_type() == FsType(libc::BPF_FS_MAGIC as _) {
        return Ok(());
    }
    nix::mount::mount(
        Some("bpf"),
        dir,
        Some("bpf"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0700"),
    )
    .map_err(|e| Error::File {
        path: dir.to_path_buf(),
        source: std::io::Error::other(format!("mounting a bpffs: {e}")),
    })
}

fn load(setup: &Setup) -> Result<(), Error> {
    let mut builder = skel::BoscSkelBuilder::default();
    builder
        .obj_builder
        .btf_custom_path(&setup.btf)
        .map_err(Error::kernel("BTF path"))?;
    let mut object = MaybeUninit::uninit();
    let open = builder.open(&mut object).map_err(Error::kernel("object"))?;
    let mut skel = open.load().map_err(Error::kernel("program"))?;
    for (nr, sym) in setup.symbols.iter().enumerate() {
        let key = u32::try_from(nr).expect("the table is 3 * NR_TABLE long");
        skel.maps
            .syms
            .update(&key.to_ne_bytes(), &sym.to_ne_bytes(), MapFlags::ANY)
            .map_err(Error::kernel("symbol table"))?;
    }
    let dir = &setup.pin_dir;
    let maps = &mut skel.maps;
    for (name, map) in [
        ("containers", &mut maps.containers),
        ("bags", &mut maps.bags),
        ("rings", &mut maps.rings),
        ("limits", &mut maps.limits),
        ("syms", &mut maps.syms),
    ] {
        map.pin(dir.join(name))
            .map_err(Error::kernel(format!("pin of map {name}")))?;
    }
    let progs = &skel.progs;
    for (name, prog) in [
        ("sys_enter", &progs.sys_enter),
        ("sched_process_fork", &progs.sched_process_fork),
    ] {
        let mut link = prog
            .attach()
            .map_err(Error::kernel(format!("attach of {name}")))?;
        link.pin(dir.join(name))
            .map_err(Error::kernel(format!("pin of link {name}")))?;
    }
    log::info!(
        "loaded the ebpf monitor's program, pinned in {}",
        dir.display()
    );
    Ok(())
}

/// A program pinned by another build must agree on the container layout and on the symbols, or
/// the bag ids of the two sides would differ.
fn check_compatible(setup: &Setup, maps: &Maps, syms: &MapHandle) -> Result<(), Error> {
    let incompatible = |why: String| Error::Incompatible {
        dir: setup.pin_dir.clone(),
        why,
    };
    let size = maps.containers.value_size() as usize;
    if size != std::mem::size_of::<Container>() {
        return Err(incompatible(format!(
            "its container record has {size} bytes, this build's {}",
            std::mem::size_of::<Container>()
        )));
    }
    for (nr, sym) in setup.symbols.iter().enumerate() {
        let key = u32::try_from(nr).expect("the table is 3 * NR_TABLE long");
        let pinned = syms
            .lookup(&key.to_ne_bytes(), MapFlags::ANY)
            .map_err(Error::kernel("symbol table"))?;
        if pinned.as_deref() != Some(&sym.to_ne_bytes()[..]) {
            return Err(incompatible(format!(
                "its symbol table differs at entry {nr}"
            )));
        }
    }
    Ok(())
}

/// Removes every pin: the links' (which detaches the programs) and the maps'.
fn unpin_all(dir: &Path) {
    for name in LINKS.iter().chain(MAPS.iter()) {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::error!("unpinning {}: {e}", path.display()),
        }
    }
}
