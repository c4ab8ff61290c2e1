//! One container in the host's program: its parameters, its known bags and its ring buffer, keyed
//! by its cgroup id.

use std::os::fd::{AsFd, AsRawFd};

use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};

use crate::abi::{self, Container, MAX_SYMS, MAX_WINDOW};
use crate::host::{self, Maps, Setup};
use crate::record::{Record, Records};
use crate::Error;

/// Bytes of each container's ring buffer (a power of two, a multiple of the page size).
const RING_BYTES: u32 = 256 * 1024;

/// What the kernel does, in detection, with a call of a syscall the profile never saw. The call
/// runs either way: refusing it before it runs takes seccomp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnseen {
    /// Nothing but counting it.
    Ignore,
    /// Send [`Record::Unseen`] the first time each such syscall is called.
    Report,
    /// SIGKILL the caller (it dies before the call returns) and send the record each time.
    Kill,
}

/// What the kernel does for a container.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// W, calls per window (1..=64).
    pub window: usize,
    /// E, calls per epoch (≥ W).
    pub epoch: u32,
    /// For an epoch of w windows (0..=E), the most unknown windows it may have and not be
    /// anomalous: the floor of the detector's threshold limit, so both sides judge alike.
    pub limits: &'a [u32],
    /// Add unknown bags (and send them) instead of counting them.
    pub learn: bool,
    /// SIGKILL the process whose call ends an anomalous epoch.
    pub kill: bool,
    /// The symbols of `execve` and `execveat`: a starting thread's first call of the container.
    pub execve: [u16; 2],
    /// How deep in pid namespaces (0: the initial one) an exec must be to start a thread: one
    /// deeper than runc's (see [`crate::pid_namespace_level`]), so that runc's init re-executing
    /// itself before it made the container's pid namespace does not count; 0: any exec.
    pub start_level: u32,
    /// One window for the whole container (the paper's), not one per thread.
    pub per_container: bool,
    /// The syscalls seen in training (their symbols).
    pub known: &'a [u16],
    pub on_unseen: OnUnseen,
    /// Symbols the kernel skips (a profile made by a monitor that could not see them).
    pub invisible: &'a [u16],
    /// The known bags (ids as the user-space detector computes them) and their frequencies.
    pub bags: &'a [(u64, u64)],
    /// Bags the container's set may hold (learning adds no new bag past it).
    pub capacity: u32,
    /// Detection: send every unknown window of an epoch that may still be judged normal (up to
    /// the limit of a full epoch), so that user space can merge them (continuous training).
    pub continuous: bool,
}

/// The container's counters, as the kernel keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls judged (or learnt), from each thread's execve on.
    pub calls: u64,
    pub windows: u64,
    /// Windows whose bag was unknown (learning: new).
    pub mismatches: u64,
    pub epochs: u64,
    pub anomalies: u64,
    /// Unknown windows so far in the epoch in progress.
    pub epoch_mismatches: u32,
    /// Records the ring buffer had no room for.
    pub lost: u64,
    /// New bags the set had no room for.
    pub rejected: u64,
    /// Calls of threads still starting (runc's).
    pub runc_calls: u64,
    /// Calls whose number the alphabet does not know.
    pub unmapped: u64,
    /// Calls of threads the kernel could not give a window.
    pub untracked: u64,
    /// Calls of syscalls the profile never saw (detection, unless ignored).
    pub unseen: u64,
}

/// A container registered with the host's program. Dropping it leaves the container in the
/// kernel (detection goes on without the monitor); [`Registration::unregister`] takes it out.
#[derive(Debug)]
pub struct Registration {
    setup: Setup,
    cgroup: u64,
    maps: Maps,
    set: MapHandle,
    ring: MapHandle,
}

impl Registration {
    /// Registers the container of cgroup `cgroup`, loading the program if it is the host's first.
    pub fn new(setup: &Setup, cgroup: u64, spec: &Spec<'_>) -> Result<Registration, Error> {
        let value = container_value(spec)?;
        let lock = host::lock(setup)?;
        let maps = host::open_or_load(setup, &lock)?;
        host::attach(setup, &lock)?;
        let key = cgroup.to_ne_bytes();
        let inserted = (|| {
            let set = bag_set(spec)?;
            let limits = limit_table(spec)?;
            let ring = MapHandle::create(
                MapType::RingBuf,
                Some("ids_ring"),
                0,
                0,
                RING_BYTES,
                &create_opts(0),
            )
            .map_err(Error::kernel("ring buffer"))?;
            let fd = |m: &MapHandle| {
                u32::try_from(m.as_fd().as_raw_fd())
                    .expect("an fd is not negative")
                    .to_ne_bytes()
            };
            // The set, the ring and the limits first, the container last: the program judges a
            // container only once everything it needs is there. Each update of a map of maps
            // waits for an RCU grace period (the kernel makes sure no program still sees the old
            // value), milliseconds each on a busy host: the three wait side by side.
            let (set_fd, ring_fd, limits_fd) = (fd(&set), fd(&ring), fd(&limits));
            let updates: Vec<Result<(), libbpf_rs::Error>> = std::thread::scope(|scope| {
                let key = &key;
                [
                    (&maps.bags, set_fd),
                    (&maps.rings, ring_fd),
                    (&maps.limits, limits_fd),
                ]
                .map(|(map, value)| {
                    scope.spawn(move || map.update(key, &value, MapFlags::NO_EXIST))
                })
                .into_iter()
                .map(|update| update.join().expect("a map update does not panic"))
                .collect()
            });
            let failed = |kind| {
                updates
                    .iter()
                    .any(|u| u.as_ref().is_err_and(|e| e.kind() == kind))
            };
            if failed(libbpf_rs::ErrorKind::AlreadyExists) {
                // Another registration's entries: not ours to remove.
                return Err(Error::Unsupported(format!(
                    "cgroup {cgroup} is already monitored"
                )));
            }
            for update in updates {
                update.map_err(Error::kernel("registration"))?;
            }
            maps.containers
                .update(&key, value.as_bytes(), MapFlags::NO_EXIST)
                .map_err(Error::kernel("registration"))?;
            Ok((set, ring))
        })();
        match inserted {
            Ok((set, ring)) => Ok(Registration {
                setup: setup.clone(),
                cgroup,
                maps,
                set,
                ring,
            }),
            Err(e) => {
                if !matches!(e, Error::Unsupported(_)) {
                    remove(&maps, cgroup);
                }
                host::detach_if_unused(setup, &maps, &lock);
                Err(e)
            }
        }
    }

    /// The container's cgroup id.
    pub fn cgroup(&self) -> u64 {
        self.cgroup
    }

    /// The container's counters now.
    pub fn counters(&self) -> Result<Counters, Error> {
        let c = self.record()?;
        Ok(Counters {
            calls: c.calls,
            windows: c.windows,
            mismatches: c.mismatches,
            epochs: c.epochs,
            anomalies: c.anomalies,
            epoch_mismatches: c.epoch_mismatches,
            lost: c.lost,
            rejected: c.rejected,
            runc_calls: c.runc_calls,
            unmapped: c.unmapped,
            untracked: c.untracked,
            unseen: c.unseen,
        })
    }

    /// The bags the kernel knows for the container, with the windows learnt with each.
    pub fn bags(&self) -> Result<Vec<(u64, u64)>, Error> {
        let mut bags = Vec::new();
        for key in self.set.keys() {
            let value = self
                .set
                .lookup(&key, MapFlags::ANY)
                .map_err(Error::kernel("bag set"))?;
            // A bag deleted meanwhile (a record that found no room) is simply not there.
            if let (Ok(id), Some(Ok(frequency))) = (
                <[u8; 8]>::try_from(key.as_slice()),
                value.map(|v| <[u8; 8]>::try_from(v.as_slice())),
            ) {
                bags.push((u64::from_ne_bytes(id), u64::from_ne_bytes(frequency)));
            }
        }
        Ok(bags)
    }

    /// A reader of the container's records.
    pub fn records<'a>(&'a self, on_record: impl FnMut(Record) + 'a) -> Result<Records<'a>, Error> {
        Records::new(&self.ring, on_record)
    }

    /// Switches between learning (unknown bags are added) and detection against the bags known
    /// now, and the syscalls `known` (those of the bags learnt). The epoch in progress starts
    /// over, as in the user-space detector.
    pub fn set_learning(&self, learn: bool, known: &[u16]) -> Result<(), Error> {
        let mut c = self.record()?;
        c.flags = if learn {
            c.flags | abi::FLAG_LEARN
        } else {
            c.flags & !abi::FLAG_LEARN
        };
        c.known = [0; MAX_SYMS / 64];
        set_bits(&mut c.known, known)?;
        // Counters the program bumps between the read and this write lose those bumps; a switch
        // happens once per container.
        c.epoch_calls = 0;
        c.epoch_windows = 0;
        c.epoch_mismatches = 0;
        self.write_record(&c)
    }

    /// The container's map value, read under its lock.
    fn record(&self) -> Result<Container, Error> {
        let bytes = self
            .maps
            .containers
            .lookup(&self.cgroup.to_ne_bytes(), MapFlags::LOCK)
            .map_err(Error::kernel("container"))?
            .ok_or_else(|| {
                Error::Unsupported(format!("cgroup {} is not registered", self.cgroup))
            })?;
        Container::from_bytes(&bytes)
            .ok_or_else(|| Error::Unsupported("container record of the wrong size".to_string()))
    }

    fn write_record(&self, c: &Container) -> Result<(), Error> {
        self.maps
            .containers
            .update(
                &self.cgroup.to_ne_bytes(),
                c.as_bytes(),
                MapFlags::LOCK | MapFlags::EXIST,
            )
            .map_err(Error::kernel("container"))
    }

    /// Continuous training: adds bags user space merged to the container's set, and makes the
    /// syscalls `known` (all those known now) known, if that changes them. Calls the program
    /// counts for the container between the read and the write of its record are lost (it
    /// happens only when a merged bag brings a syscall never seen before).
    pub fn merge(&self, bags: &[u64], known: &[u16]) -> Result<(), Error> {
        for id in bags {
            match self
                .set
                .update(&id.to_ne_bytes(), &1u64.to_ne_bytes(), MapFlags::NO_EXIST)
            {
                Ok(()) => {}
                Err(e) if e.kind() == libbpf_rs::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::kernel("bag set")(e)),
            }
        }
        let mut c = self.record()?;
        let mut now = [0; MAX_SYMS / 64];
        set_bits(&mut now, known)?;
        if now == c.known {
            return Ok(());
        }
        c.known = now;
        self.write_record(&c)
    }

    /// Takes the container out of the kernel; the last container's leaving detaches the program.
    pub fn unregister(self) -> Result<(), Error> {
        let lock = host::lock(&self.setup)?;
        remove(&self.maps, self.cgroup);
        host::detach_if_unused(&self.setup, &self.maps, &lock);
        Ok(())
    }
}

/// Takes the container of cgroup `cgroup` out of the kernel without its [`Registration`] (its
/// monitor died; `delete` cleans up), detaching the program if it was the last. Nothing to do if
/// the program is not loaded.
pub fn unregister_cgroup(setup: &Setup, cgroup: u64) -> Result<(), Error> {
    let lock = host::lock(setup)?;
    if !setup.is_loaded() {
        return Ok(());
    }
    let maps = host::open(setup, &lock)?;
    remove(&maps, cgroup);
    host::detach_if_unused(setup, &maps, &lock);
    Ok(())
}

/// The map value of a container, or why the kernel cannot take it.
fn container_value(spec: &Spec<'_>) -> Result<Container, Error> {
    let bad = |what: String| Err(Error::Unsupported(what));
    if !(1..=MAX_WINDOW).contains(&spec.window) {
        return bad(format!(
            "the ebpf monitor takes windows of 1 to {MAX_WINDOW} calls, not {}",
            spec.window
        ));
    }
    let window = u32::try_from(spec.window).expect("at most MAX_WINDOW");
    if spec.epoch < window {
        return bad(format!(
            "an epoch of {} calls is shorter than the window ({window})",
            spec.epoch
        ));
    }
    if spec.limits.len() != spec.epoch as usize + 1 {
        return bad(format!(
            "{} limits for an epoch of {} calls, which needs one per window count (0..={})",
            spec.limits.len(),
            spec.epoch,
            spec.epoch
        ));
    }
    if spec.bags.len() > spec.capacity as usize || spec.capacity == 0 {
        return bad(format!(
            "the profile has {} bags and the kernel set may hold {}",
            spec.bags.len(),
            spec.capacity
        ));
    }
    let mut c = Container::zeroed();
    c.window = window;
    c.epoch = spec.epoch;
    c.flags =
        if spec.learn { abi::FLAG_LEARN } else { 0 } | if spec.kill { abi::FLAG_KILL } else { 0 };
    if spec.per_container {
        c.flags |= abi::FLAG_SHARED;
    }
    if spec.continuous {
        c.flags |= abi::FLAG_CONTINUOUS;
    }
    c.flags |= match spec.on_unseen {
        OnUnseen::Ignore => 0,
        OnUnseen::Report => abi::FLAG_UNSEEN,
        OnUnseen::Kill => abi::FLAG_UNSEEN | abi::FLAG_UNSEEN_KILL,
    };
    [c.execve, c.execveat] = spec.execve;
    c.start_level = u64::from(spec.start_level);
    set_bits(&mut c.invisible, spec.invisible)?;
    set_bits(&mut c.known, spec.known)?;
    Ok(c)
}

/// Sets the bit of each symbol.
fn set_bits(bits: &mut [u64; MAX_SYMS / 64], syms: &[u16]) -> Result<(), Error> {
    for &sym in syms {
        let sym = usize::from(sym);
        if sym >= MAX_SYMS {
            return Err(Error::Unsupported(format!(
                "symbol {sym} is past the kernel's {MAX_SYMS}"
            )));
        }
        bits[sym / 64] |= 1 << (sym % 64);
    }
    Ok(())
}

fn create_opts(flags: u32) -> libbpf_rs::libbpf_sys::bpf_map_create_opts {
    libbpf_rs::libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_rs::libbpf_sys::bpf_map_create_opts>() as _,
        map_flags: flags,
        ..Default::default()
    }
}

/// The container's set of known bags, filled with the profile's.
fn bag_set(spec: &Spec<'_>) -> Result<MapHandle, Error> {
    let set = MapHandle::create(
        MapType::Hash,
        Some("ids_bags"),
        8,
        8,
        spec.capacity,
        &create_opts(libbpf_rs::libbpf_sys::BPF_F_NO_PREALLOC),
    )
    .map_err(|e| {
        Error::Unsupported(format!(
            "the kernel refused a set of {} bags: {e}",
            spec.capacity
        ))
    })?;
    for (id, frequency) in spec.bags {
        set.update(&id.to_ne_bytes(), &frequency.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| Error::Unsupported(format!("loading the profile's bags: {e}")))?;
    }
    Ok(set)
}

/// The container's limit per window count.
fn limit_table(spec: &Spec<'_>) -> Result<MapHandle, Error> {
    let entries = u32::try_from(spec.limits.len()).expect("checked: epoch + 1");
    let table = MapHandle::create(
        MapType::Array,
        Some("ids_limits"),
        4,
        4,
        entries,
        &create_opts(libbpf_rs::libbpf_sys::BPF_F_INNER_MAP),
    )
    .map_err(Error::kernel("limit table"))?;
    let keys: Vec<u8> = (0..entries).flat_map(u32::to_ne_bytes).collect();
    let values: Vec<u8> = spec.limits.iter().flat_map(|l| l.to_ne_bytes()).collect();
    table
        .update_batch(&keys, &values, entries, MapFlags::ANY, MapFlags::ANY)
        .map_err(Error::kernel("limit table"))?;
    Ok(table)
}

/// Takes a container's entries out of the host maps, the container first (so the program stops
/// judging it before its set and ring go).
fn remove(maps: &Maps, cgroup: u64) {
    let key = cgroup.to_ne_bytes();
    for (name, map) in [
        ("containers", &maps.containers),
        ("bags", &maps.bags),
        ("rings", &maps.rings),
        ("limits", &maps.limits),
    ] {
        if let Err(e) = map.delete(&key) {
            if e.kind() != libbpf_rs::ErrorKind::NotFound {
                log::error!("removing cgroup {cgroup} from {name}: {e}");
            }
        }
    }
}
