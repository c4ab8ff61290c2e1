//! The program on the host: loaded and pinned by the first container's monitor in ids-runc's own
//! bpffs, so that it outlives every monitor process; attached (its links pinned beside it) while a
//! container is registered, and detached when the last container leaves, so that the host's
//! processes pay nothing for the syscall tracepoint while no container is watched. The loaded
//! program stays pinned for the next container, which then only attaches it: loading and
//! verifying it is most of an ebpf container's start. [`Setup::unload`] removes it. Every step
//! runs under one lock file, so a container that registers never meets a program that another
//! monitor is taking down.

use std::fs::File;
use std::io::Read;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, MapHandle, ProgramHandle};
use nix::fcntl::{Flock, FlockArg};
use nix::mount::MsFlags;
use nix::sys::statfs::{statfs, FsType};

use crate::abi::{Container, ABI_VERSION, NR_TABLE};
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

/// Maps other monitors open, the programs, and their links; unpinning them all frees the program.
const MAPS: [&str; 5] = ["containers", "bags", "rings", "limits", "syms"];
/// Each program's pin, and its link's (pinned while attached).
const PROGS: [(&str, &str); 2] = [
    ("prog_sys_enter", "sys_enter"),
    ("prog_sched_process_fork", "sched_process_fork"),
];

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
        PROGS.iter().any(|(p, _)| self.pin_dir.join(p).exists())
    }

    /// Whether the program is attached now (some container is registered).
    pub fn is_attached(&self) -> bool {
        PROGS.iter().any(|(_, l)| self.pin_dir.join(l).exists())
    }

    /// Loads and pins the program if it is not loaded yet, and checks that a pinned one is this
    /// build's: whether this kernel can run the ebpf monitor, asked before a container depends
    /// on it. Nothing is attached.
    pub fn load(&self) -> Result<(), Error> {
        let lock = lock(self)?;
        open_or_load(self, &lock).map(drop)
    }

    /// Unpins the program if no container is registered: the kernel frees it. False if a
    /// container still uses it (nothing is removed then).
    pub fn unload(&self) -> Result<bool, Error> {
        let lock = lock(self)?;
        if !self.is_loaded() {
            unpin_all(&self.pin_dir);
            return Ok(true);
        }
        let maps = open(self, &lock)?;
        if maps.containers.keys().next().is_some() {
            return Ok(false);
        }
        unpin_all(&self.pin_dir);
        Ok(true)
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

/// The host's maps: the pinned program's, or a program loaded and pinned now (not attached). The
/// caller holds the lock.
pub(crate) fn open_or_load(setup: &Setup, lock: &HostLock) -> Result<Maps, Error> {
    check_btf(&setup.btf)?;
    mount_bpffs(&setup.pin_dir)?;
    if setup.is_loaded() {
        match open(setup, lock) {
            Err(Error::Incompatible { .. }) if unused(setup) => {
                // Another build's program, left loaded after its last container: replaced.
                log::info!(
                    "replacing the unused ebpf program of another build in {}",
                    setup.pin_dir.display()
                );
                unpin_all(&setup.pin_dir);
            }
            opened => return opened,
        }
    }
    if let Err(e) = load(setup) {
        unpin_all(&setup.pin_dir);
        return Err(e);
    }
    open(setup, lock)
}

/// Whether no container is registered with the pinned program, whatever its build.
fn unused(setup: &Setup) -> bool {
    MapHandle::from_pinned_path(setup.pin_dir.join("containers"))
        .is_ok_and(|containers| containers.keys().next().is_none())
}

/// The pinned program's maps, checked to be this build's. The caller holds the lock.
pub(crate) fn open(setup: &Setup, _lock: &HostLock) -> Result<Maps, Error> {
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

/// Attaches the pinned programs, unless they are attached already. The caller holds the lock.
pub(crate) fn attach(setup: &Setup, _lock: &HostLock) -> Result<(), Error> {
    for (prog, link) in PROGS {
        let link = setup.pin_dir.join(link);
        if link.exists() {
            continue;
        }
        let handle = ProgramHandle::from_pinned_path(setup.pin_dir.join(prog))
            .map_err(Error::kernel(format!("pinned program {prog}")))?;
        // SAFETY: a plain syscall wrapper; a tracing program's attach point is in the program,
        // so no name is passed. The fd it returns is owned below.
        let fd = unsafe {
            libbpf_rs::libbpf_sys::bpf_raw_tracepoint_open(
                std::ptr::null(),
                handle.as_fd().as_raw_fd(),
            )
        };
        if fd < 0 {
            return Err(Error::Kernel {
                what: format!("attach of {prog}"),
                source: libbpf_rs::Error::from(std::io::Error::from_raw_os_error(-fd)),
            });
        }
        // SAFETY: the kernel just returned this fd, and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let path = std::ffi::CString::new(link.as_os_str().as_bytes())
            .map_err(|_| Error::Unsupported(format!("{} has a NUL byte", link.display())))?;
        // SAFETY: `fd` is a live link fd and `path` a NUL-terminated string, both alive for the
        // call.
        let pinned = unsafe { libbpf_rs::libbpf_sys::bpf_obj_pin(fd.as_raw_fd(), path.as_ptr()) };
        if pinned < 0 {
            return Err(Error::Kernel {
                what: format!("pin of link {}", link.display()),
                source: libbpf_rs::Error::from(std::io::Error::from_raw_os_error(-pinned)),
            });
        }
    }
    Ok(())
}

/// Detaches the program if no container uses it any more; true if it did. The program stays
/// loaded for the next container. The caller holds the lock.
pub(crate) fn detach_if_unused(setup: &Setup, maps: &Maps, _lock: &HostLock) -> bool {
    if maps.containers.keys().next().is_some() {
        return false;
    }
    unpin(&setup.pin_dir, PROGS.iter().map(|(_, link)| *link));
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
    for (nr, sym) in setup
        .symbols
        .iter()
        .chain(&stamp(&setup.symbols))
        .enumerate()
    {
        let key = u32::try_from(nr).expect("the table is 3 * NR_TABLE + STAMP long");
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
    let progs = &mut skel.progs;
    for (name, prog) in [
        (PROGS[0].0, &mut progs.sys_enter),
        (PROGS[1].0, &mut progs.sched_process_fork),
    ] {
        prog.pin(dir.join(name))
            .map_err(Error::kernel(format!("pin of program {name}")))?;
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
    let pinned: Vec<Option<Vec<u8>>> = (3 * NR_TABLE..3 * NR_TABLE + STAMP)
        .map(|key| {
            let key = u32::try_from(key).expect("a small table");
            syms.lookup(&key.to_ne_bytes(), MapFlags::ANY)
                .ok()
                .flatten()
        })
        .collect();
    let [version, symbols @ ..] = stamp(&setup.symbols);
    if pinned[0].as_deref() != Some(&version.to_ne_bytes()[..]) {
        return Err(incompatible(format!(
            "it is not version {ABI_VERSION} of the program"
        )));
    }
    if pinned[1..]
        .iter()
        .zip(symbols)
        .any(|(pinned, word)| pinned.as_deref() != Some(&word.to_ne_bytes()[..]))
    {
        return Err(incompatible("its symbol table differs".to_string()));
    }
    let size = maps.containers.value_size() as usize;
    if size != std::mem::size_of::<Container>() {
        return Err(incompatible(format!(
            "its container record has {size} bytes, this build's {}",
            std::mem::size_of::<Container>()
        )));
    }
    Ok(())
}

/// Entries of the symbol map after the tables: the program's version, then a 64-bit FNV-1a hash
/// of the tables in four parts, so that a build checks a pinned program in five lookups.
const STAMP: usize = 5;

fn stamp(symbols: &[u16]) -> [u16; STAMP] {
    let hash = symbols
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    let part = |i: u32| (hash >> (16 * i)) as u16;
    [ABI_VERSION, part(0), part(1), part(2), part(3)]
}

/// Removes every pin: the links' (which detaches the programs), the programs' and the maps'.
fn unpin_all(dir: &Path) {
    let progs = PROGS.iter().flat_map(|(prog, link)| [*link, *prog]);
    unpin(dir, progs.chain(MAPS));
}

fn unpin<'a>(dir: &Path, names: impl Iterator<Item = &'a str>) {
    for name in names {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::error!("unpinning {}: {e}", path.display()),
        }
    }
}
