//! The kernel program, loaded for real: a test process in its own cgroup makes a known sequence of
//! system calls, and the kernel's bags, mismatches and verdicts are compared with the user-space
//! detector's on the same stream. Needs root and a kernel with BTF (as CI has).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;

use ids_detector::alphabet::{Alphabet, Arch, Sym};
use ids_detector::bag::SortedBag;
use ids_detector::detector::{Detector, TrainingRecord, Verdict};
use ids_detector::normal_db::NormalDb;
use ids_detector::parameters::{self, Parameters, StreamMode, Training};
use ids_ebpf::cgroup::Populated;
use ids_ebpf::{unregister_cgroup, Error, OnUnseen, Record, Registration, Spec};

mod support;
use support::Fixture;

// x86_64 numbers of calls that take no argument and change nothing.
const GETPID: u32 = 39;
const GETPPID: u32 = 110;
const GETUID: u32 = 102;
const GETGID: u32 = 104;
const GETEUID: u32 = 107;
const GETEGID: u32 = 108;
const SCHED_YIELD: u32 = 24;
const GETPGRP: u32 = 111;
const FORK: u32 = 57;
const EXIT_GROUP: u32 = 231;
const EXECVE: u32 = 59;

fn sym(nr: u32) -> Sym {
    Alphabet::system().sym(Arch::X86_64, nr).unwrap()
}

fn execve_syms() -> [u16; 2] {
    let a = Alphabet::system();
    [
        a.sym_by_name("execve").unwrap().0,
        a.sym_by_name("execveat").unwrap().0,
    ]
}

/// The helper program (tests/calls.c), compiled once per test run.
fn helper() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("ids-ebpf-calls-{}", std::process::id()));
        let status = Command::new("clang")
            .args(["-O2", "-static", "-nostdlib", "-fno-stack-protector", "-o"])
            .arg(&out)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/calls.c"))
            .status()
            .expect("clang runs (hack/setup.sh --deps installs it)");
        assert!(status.success(), "compiling tests/calls.c");
        out
    })
}

/// Runs the helper in `cgroup` with words (calls, `thread`, `end`).
fn run_words_in(cgroup: &Path, words: &[&str]) -> ExitStatus {
    let mut command = Command::new(helper());
    command.args(words);
    support::join_before_exec(&mut command, cgroup);
    command.status().unwrap()
}

/// Runs the helper in `cgroup`: it joins the cgroup before its execve, so everything until then
/// is "starting" (runc's, in a container), and the calls after it are judged.
fn run_in(cgroup: &Path, calls: &[u32]) -> ExitStatus {
    let mut command = Command::new(helper());
    command.args(calls.iter().map(|c| c.to_string()));
    support::join_before_exec(&mut command, cgroup);
    command.status().unwrap()
}

/// What the kernel judges for a run of the helper: its execve, the calls, its exit_group.
fn stream(calls: &[u32]) -> Vec<Sym> {
    std::iter::once(EXECVE)
        .chain(calls.iter().copied())
        .chain(std::iter::once(EXIT_GROUP))
        .map(sym)
        .collect()
}

/// A deterministic call sequence over a few syscalls, with runs and repetitions (xorshift).
fn sequence(seed: u64, len: usize, alphabet: &[u32]) -> Vec<u32> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize]
        })
        .collect()
}

fn params(window: usize, epoch: u32, threshold: parameters::Threshold) -> Parameters {
    Parameters {
        window,
        epoch,
        threshold,
        stream: StreamMode::PerThread,
        training: Training::default(),
        ..Parameters::default()
    }
}

fn spec<'a>(
    p: &Parameters,
    limits: &'a [u32],
    learn: bool,
    kill: bool,
    bags: &'a [(u64, u64)],
) -> Spec<'a> {
    Spec {
        window: p.window,
        epoch: p.epoch,
        limits,
        learn,
        kill,
        execve: execve_syms(),
        start_level: 0,
        per_container: p.stream == StreamMode::PerContainer,
        known: &[],
        on_unseen: OnUnseen::Ignore,
        invisible: &[],
        bags,
        capacity: 10_000,
        continuous: false,
    }
}

/// Every record the container's ring holds now.
fn drain(reg: &Registration) -> Vec<Record> {
    let mut records = Vec::new();
    reg.records(|r| records.push(r)).unwrap().consume().unwrap();
    records
}

const NORMAL: [u32; 6] = [GETPID, GETPPID, GETUID, GETGID, GETEUID, SCHED_YIELD];

#[test]
fn learning_sends_each_new_bag_once_with_the_user_space_id_and_frequency() {
    let mut f = Fixture::new();
    let (path, id) = f.cgroup();
    let p = params(4, 16, parameters::Threshold::Absolute(0));
    let limits = support::limits(&p);
    let reg = Registration::new(&f.setup, id, &spec(&p, &limits, true, false, &[])).unwrap();

    let calls = sequence(7, 300, &NORMAL);
    assert!(run_in(&path, &calls).success());
    let records = drain(&reg);
    let counters = reg.counters().unwrap();
    let kernel_bags: BTreeMap<u64, u64> = reg.bags().unwrap().into_iter().collect();
    reg.unregister().unwrap();

    let mut d = Detector::new(p);
    let stream = stream(&calls);
    for &s in &stream {
        d.observe(1, s);
    }
    let db: BTreeMap<u64, u64> = d
        .database()
        .entries()
        .map(|(id, e)| (id.0, e.frequency))
        .collect();

    let mut sent = BTreeSet::new();
    for r in &records {
        if let Record::NewBag { bag, window, .. } = r {
            let rebuilt = SortedBag::from_calls(window.calls().iter().map(|&s| Sym(s)));
            assert_eq!(rebuilt.id().0, *bag, "the window sent rebuilds the bag");
            assert!(sent.insert(*bag), "bag {bag:#x} sent twice");
        }
    }
    assert_eq!(
        sent,
        db.keys().copied().collect(),
        "the new bags are the user-space database's"
    );
    assert_eq!(kernel_bags, db, "same bags, same frequencies");
    assert_eq!(
        counters.calls,
        stream.len() as u64,
        "calls from the execve on"
    );
    assert_eq!(counters.windows, d.counters().windows);
    assert!(
        counters.runc_calls > 0,
        "the calls before execve were not judged"
    );
    assert_eq!(
        (counters.lost, counters.unmapped, counters.untracked),
        (0, 0, 0)
    );
}

/// The kernel's verdicts, by epoch: (windows, mismatches, anomalous) and the unknown windows.
type KernelEpochs = BTreeMap<u64, ((u32, u32, bool), Vec<Vec<u16>>)>;

fn kernel_epochs(records: &[Record]) -> KernelEpochs {
    let mut epochs = KernelEpochs::new();
    for r in records {
        match *r {
            Record::Epoch {
                index,
                windows,
                mismatches,
                anomalous,
                ..
            } => epochs.entry(index).or_default().0 = (windows, mismatches, anomalous),
            Record::Unknown { epoch, window, .. } => epochs
                .entry(epoch)
                .or_default()
                .1
                .push(window.calls().to_vec()),
            Record::NewBag { .. } | Record::Unseen { .. } => panic!("{r:?} in this detection"),
        }
    }
    // Unknown windows of the epoch in progress have no verdict yet.
    epochs.retain(|_, (end, _)| end.0 > 0);
    epochs
}

fn user_epochs(verdicts: &[Verdict]) -> KernelEpochs {
    verdicts
        .iter()
        .filter(|v| v.mismatches > 0)
        .map(|v| {
            let unknown = v
                .unknown_windows()
                .map(|w| w.calls().iter().map(|s| s.0).collect())
                .collect();
            (v.epoch, ((v.windows, v.mismatches, v.anomalous), unknown))
        })
        .collect()
}

/// The kernel and user space agree on every epoch's windows, mismatches and verdict, and on how
/// many unknown windows explain it. Which ones differ by design: the kernel sends the first ones,
/// user space keeps those with the most calls never seen in training. So each window the kernel
/// sends must be one whose bag the database lacks.
fn assert_same_epochs(kernel: &KernelEpochs, user: &KernelEpochs, db: &NormalDb) {
    let counts = |e: &KernelEpochs| -> BTreeMap<u64, ((u32, u32, bool), usize)> {
        e.iter().map(|(i, (c, ws))| (*i, (*c, ws.len()))).collect()
    };
    assert_eq!(counts(kernel), counts(user));
    for (epoch, (_, windows)) in kernel {
        for window in windows {
            let bag = SortedBag::from_calls(window.iter().map(|&s| Sym(s)));
            assert!(
                !db.contains(bag.id()),
                "epoch {epoch}: the kernel explains it with a known bag {window:?}"
            );
        }
    }
}

/// Learns `calls` in user space: the database and the known syscalls.
fn learnt(p: Parameters, calls: &[u32]) -> (NormalDb, Vec<Sym>) {
    let mut d = Detector::new(p);
    for &s in &stream(calls) {
        d.observe(1, s);
    }
    (d.database().clone(), d.known_syscalls().collect())
}

#[test]
fn detection_counts_the_same_mismatches_per_epoch_as_the_user_space_detector() {
    let mut f = Fixture::new();
    let (path, id) = f.cgroup();
    let p = params(5, 20, parameters::Threshold::Ratio(0.25));
    let limits = support::limits(&p);
    let (db, known) = learnt(p, &sequence(11, 400, &NORMAL));
    let bags: Vec<(u64, u64)> = db.entries().map(|(id, e)| (id.0, e.frequency)).collect();
    let reg = Registration::new(&f.setup, id, &spec(&p, &limits, false, false, &bags)).unwrap();

    // Normal work with bursts of calls the training never made.
    let mut calls = sequence(12, 300, &NORMAL);
    for at in [40, 41, 42, 150, 151, 230] {
        calls[at] = [GETEGID, GETPGRP][at % 2];
    }
    assert!(run_in(&path, &calls).success());
    let records = drain(&reg);
    let counters = reg.counters().unwrap();
    reg.unregister().unwrap();

    let mut d = Detector::with_database(p, db.clone(), &known, TrainingRecord::default());
    let verdicts: Vec<Verdict> = stream(&calls)
        .into_iter()
        .filter_map(|s| d.observe(1, s))
        .collect();
    let user = user_epochs(&verdicts);
    assert!(!user.is_empty(), "the test stream has unknown bags");
    assert!(user.values().any(|((_, _, anomalous), _)| *anomalous));
    assert_same_epochs(&kernel_epochs(&records), &user, &db);
    assert_eq!(counters.epochs, verdicts.len() as u64);
    assert_eq!(counters.mismatches, d.counters().mismatches);
    assert_eq!(counters.anomalies, d.counters().anomalies);
    assert_eq!(counters.epoch_mismatches, d.counters().epoch_mismatches);
}

#[test]
fn an_anomalous_epoch_with_kill_kills_the_process_from_the_kernel() {
    let mut f = Fixture::new();
    let (path, id) = f.cgroup();
    let p = params(4, 12, parameters::Threshold::Absolute(2));
    let limits = support::limits(&p);
    // The first epoch (execve and 11 calls) is what was learnt, the second is full of unknown
    // bags; the calls after it must never run.
    let mut calls = sequence(4, 11, &NORMAL);
    let (db, _) = learnt(p, &calls);
    let bags: Vec<(u64, u64)> = db.entries().map(|(id, e)| (id.0, e.frequency)).collect();
    let reg = Registration::new(&f.setup, id, &spec(&p, &limits, false, true, &bags)).unwrap();

    calls.extend([GETPGRP, GETEGID].repeat(6));
    calls.extend(sequence(5, 100, &NORMAL));
    let status = run_in(&path, &calls);
    let records = drain(&reg);
    let counters = reg.counters().unwrap();
    reg.unregister().unwrap();

    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert_eq!(counters.anomalies, 1);
    assert_eq!(counters.epochs, 2, "killed at the end of the second epoch");
    let ended: Vec<(u64, bool)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Epoch {
                index, anomalous, ..
            } => Some((*index, *anomalous)),
            _ => None,
        })
        .collect();
    assert_eq!(ended.last(), Some(&(1, true)), "{ended:?}");
    assert_eq!(ended.iter().filter(|(_, a)| *a).count(), 1);
}

#[test]
fn a_child_of_the_container_is_judged_from_its_first_call() {
    let mut f = Fixture::new();
    let (path, id) = f.cgroup();
    let p = params(3, 1000, parameters::Threshold::Absolute(0));
    let limits = support::limits(&p);
    let reg = Registration::new(&f.setup, id, &spec(&p, &limits, true, false, &[])).unwrap();

    // After the fork both processes make the last three calls and exit.
    let calls = [GETPID, GETPPID, FORK, GETUID, GETGID, GETEUID];
    assert!(run_in(&path, &calls).success());
    while std::fs::read_to_string(path.join("cgroup.procs")).is_ok_and(|p| !p.is_empty()) {
        std::thread::yield_now();
    }
    let counters = reg.counters().unwrap();
    reg.unregister().unwrap();
    // execve + 6 calls + exit_group in the parent; 3 calls + exit_group in the child.
    assert_eq!(counters.calls, 8 + 4);
}

#[test]
fn the_last_container_leaving_detaches_the_program_and_unload_frees_it() {
    let mut f = Fixture::new();
    let (_, first) = f.cgroup();
    let (_, second) = f.cgroup();
    let p = params(4, 16, parameters::Threshold::Absolute(0));
    let limits = support::limits(&p);
    let a = Registration::new(&f.setup, first, &spec(&p, &limits, true, false, &[])).unwrap();
    let b = Registration::new(&f.setup, second, &spec(&p, &limits, true, false, &[])).unwrap();
    let again =
        Registration::new(&f.setup, first, &spec(&p, &limits, true, false, &[])).unwrap_err();
    assert!(again.to_string().contains("already monitored"), "{again}");
    let link = libbpf_rs::Link::open(f.pins.join("sys_enter")).unwrap();
    let link_id = link.info().unwrap().id;
    drop(link);

    a.unregister().unwrap();
    assert!(f.setup.is_attached(), "one container is left");
    b.unregister().unwrap();
    assert!(!f.setup.is_attached(), "nothing attached");
    // SAFETY: a plain syscall wrapper; the fd it may return is closed at once.
    let fd = unsafe { libbpf_rs::libbpf_sys::bpf_link_get_fd_by_id(link_id) };
    if fd >= 0 {
        // SAFETY: the fd was just returned to this process and is closed once.
        unsafe { libc::close(fd) };
    }
    assert!(fd < 0, "the link {link_id} is gone");

    // The program stays loaded: the next container attaches it again.
    assert!(f.setup.is_loaded());
    let c = Registration::new(&f.setup, first, &spec(&p, &limits, true, false, &[])).unwrap();
    assert!(f.setup.is_attached());
    assert!(!f.setup.unload().unwrap(), "a container still uses it");
    assert!(f.setup.is_attached());
    c.unregister().unwrap();
    assert!(f.setup.unload().unwrap());
    assert_eq!(f.pinned(), Vec::<String>::new(), "nothing pinned");
}

#[test]
fn a_kernel_without_btf_fails_closed_with_one_line() {
    for btf in [
        Path::new("/nonexistent/vmlinux"),
        Path::new("/proc/self/status"),
    ] {
        let mut f = Fixture::with_btf(btf);
        let (_, id) = f.cgroup();
        let p = params(4, 16, parameters::Threshold::Absolute(0));
        let limits = support::limits(&p);
        let e = Registration::new(&f.setup, id, &spec(&p, &limits, true, false, &[])).unwrap_err();
        assert!(matches!(e, Error::NoBtf { .. }), "{e:?}");
        let line = e.to_string();
        assert!(
            !line.contains('\n')
                && line.contains("BTF")
                && line.contains(&btf.display().to_string()),
            "{line}"
        );
        assert_eq!(f.pinned(), Vec::<String>::new());
    }
}

#[test]
fn a_profile_too_large_for_the_kernel_is_refused_with_the_reason() {
    let mut f = Fixture::new();
    let (_, id) = f.cgroup();
    let p = params(4, 16, parameters::Threshold::Absolute(0));
    let limits = support::limits(&p);
    let bags = [(1, 1), (2, 1), (3, 1)];
    let mut s = spec(&p, &limits, false, false, &bags);
    s.limits = &limits[1..];
    let e = Registration::new(&f.setup, id, &s).unwrap_err().to_string();
    assert!(e.contains("limits for an epoch of 16 calls"), "{e}");
    s.limits = &limits;
    s.capacity = 2;
    let e = Registration::new(&f.setup, id, &s).unwrap_err().to_string();
    assert!(e.contains("3 bags") && e.contains("may hold 2"), "{e}");
    s.capacity = u32::MAX;
    let e = Registration::new(&f.setup, id, &s).unwrap_err().to_string();
    assert!(e.contains("refused a set of"), "{e}");
    assert!(!f.setup.is_attached(), "a failed first container detaches");
}

#[test]
fn detection_goes_on_in_the_kernel_when_the_monitor_is_gone() {
    let mut f = Fixture::new();
    let (path, id) = f.cgroup();
    let p = params(4, 12, parameters::Threshold::Absolute(2));
    let limits = support::limits(&p);
    let mut calls = sequence(8, 11, &NORMAL);
    let (db, _) = learnt(p, &calls);
    let bags: Vec<(u64, u64)> = db.entries().map(|(id, e)| (id.0, e.frequency)).collect();
    // The monitor's end: every fd it held is closed, nothing is unregistered.
    drop(Registration::new(&f.setup, id, &spec(&p, &limits, false, true, &bags)).unwrap());

    calls.extend([GETPGRP, GETEGID].repeat(6));
    calls.extend(sequence(9, 100, &NORMAL));
    let status = run_in(&path, &calls);
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");

    // `delete` cleans up after the dead monitor.
    unregister_cgroup(&f.setup, id).unwrap();
    assert!(!f.setup.is_attached());
    unregister_cgroup(&f.setup, id).unwrap();
}

#[test]
fn twenty_containers_at_once_then_nothing_left() {
    let mut f = Fixture::new();
    let ids: Vec<u64> = (0..20).map(|_| f.cgroup().1).collect();
    let p = params(4, 16, parameters::Threshold::Absolute(0));
    let limits = &support::limits(&p);
    let setup = &f.setup;
    std::thread::scope(|s| {
        let workers: Vec<_> = ids
            .iter()
            .map(|&id| {
                s.spawn(move || {
                    let reg =
                        Registration::new(setup, id, &spec(&p, limits, true, false, &[])).unwrap();
                    // Registered: the program is loaded, whoever loaded it.
                    assert!(setup.is_loaded());
                    reg
                })
            })
            .collect();
        let regs: Vec<Registration> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        for reg in regs {
            s.spawn(move || reg.unregister().unwrap());
        }
    });
    assert!(!f.setup.is_attached());
    assert!(f.setup.unload().unwrap());
    assert_eq!(f.pinned(), Vec::<String>::new());
}

#[test]
fn learning_switches_to_detection_in_place() {
    let mut f = Fixture::new();
    let (path, id) = f.cgroup();
    let p = params(4, 16, parameters::Threshold::Absolute(0));
    let limits = support::limits(&p);
    let reg = Registration::new(&f.setup, id, &spec(&p, &limits, true, false, &[])).unwrap();
    let calls = sequence(21, 200, &NORMAL);
    assert!(run_in(&path, &calls).success());
    let learnt = reg.bags().unwrap().len();
    assert!(learnt > 0);

    reg.set_learning(false, &[]).unwrap();
    let before = reg.counters().unwrap();
    assert!(run_in(&path, &calls).success());
    let same = reg.counters().unwrap();
    assert_eq!(
        same.mismatches, before.mismatches,
        "what was learnt is known"
    );
    assert!(run_in(&path, &[GETPGRP, GETEGID].repeat(10)).success());
    let after = reg.counters().unwrap();
    assert!(after.mismatches > same.mismatches);
    assert_eq!(reg.bags().unwrap().len(), learnt, "detection adds no bag");
    reg.unregister().unwrap();
}

#[test]
fn populated_follows_the_processes_of_the_cgroup() {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;

    let mut f = Fixture::new();
    let (path, _) = f.cgroup();
    let watch = Populated::open(&path).unwrap();
    assert!(!watch.now().unwrap());
    let mut command = Command::new("sleep");
    command.arg("0.2");
    support::join_before_exec(&mut command, &path);
    let mut child = command.spawn().unwrap();
    assert!(watch.now().unwrap());
    child.wait().unwrap();
    // The kernel updates the file once the last task is gone; its fd says when.
    while watch.now().unwrap() {
        let mut fds = [PollFd::new(watch.as_fd(), PollFlags::POLLPRI)];
        poll(&mut fds, PollTimeout::NONE).unwrap();
    }
}

#[test]
fn a_fork_storm_is_followed_into_every_process() {
    let mut f = Fixture::new();
    let (path, id) = f.cgroup();
    let p = params(3, 1000, parameters::Threshold::Absolute(0));
    let limits = support::limits(&p);
    let reg = Registration::new(&f.setup, id, &spec(&p, &limits, true, false, &[])).unwrap();

    // Six forks in a row make 64 processes; each makes the calls after its fork, then exits.
    let forks = 6;
    let mut calls = vec![FORK; forks];
    calls.push(GETPID);
    assert!(run_in(&path, &calls).success());
    while std::fs::read_to_string(path.join("cgroup.procs")).is_ok_and(|p| !p.is_empty()) {
        std::thread::yield_now();
    }
    let counters = reg.counters().unwrap();
    reg.unregister().unwrap();
    // The first process: execve, the forks, getpid, exit_group. A child of fork i (2^(i-1) of
    // them) makes the forks after it, getpid and exit_group.
    let children: u64 = (1..=forks as u32)
        .map(|i| 2u64.pow(i - 1) * (forks as u64 - u64::from(i) + 2))
        .sum();
    assert_eq!(counters.calls, forks as u64 + 3 + children);
    assert_eq!(counters.untracked, 0);
}

#[test]
fn each_thread_has_its_own_window() {
    let mut f = Fixture::new();
    let (path, id) = f.cgroup();
    let p = params(3, 1000, parameters::Threshold::Absolute(0));
    let limits = support::limits(&p);
    let reg = Registration::new(&f.setup, id, &spec(&p, &limits, true, false, &[])).unwrap();

    // The main thread: getpid ×3, a thread (getuid ×4, exit), which it waits for with futex,
    // getppid ×3.
    let words = [
        "39", "39", "39", "thread", "102", "102", "102", "102", "end", "110", "110", "110",
    ];
    assert!(run_words_in(&path, &words).success());
    let bags: BTreeSet<u64> = reg.bags().unwrap().into_iter().map(|(id, _)| id).collect();
    reg.unregister().unwrap();

    let a = Alphabet::system();
    let bag = |names: &[&str]| {
        SortedBag::from_calls(names.iter().map(|n| a.sym_by_name(n).unwrap()))
            .id()
            .0
    };
    assert!(
        bags.contains(&bag(&["getuid", "getuid", "getuid"])),
        "the thread's own window"
    );
    assert!(bags.contains(&bag(&["getuid", "getuid", "exit"])));
    assert!(bags.contains(&bag(&["getppid", "getppid", "getppid"])));
    // No window mixes the two threads' calls, however they were scheduled.
    for mixed in [
        ["getpid", "getuid", "getuid"],
        ["getuid", "getuid", "getppid"],
        ["getuid", "exit", "getppid"],
    ] {
        assert!(!bags.contains(&bag(&mixed)), "{mixed:?}");
    }
}

#[test]
fn an_unseen_syscall_is_reported_once_or_its_caller_killed_before_it_returns() {
    let mut f = Fixture::new();
    let p = params(4, 1000, parameters::Threshold::Absolute(999));
    let limits = support::limits(&p);
    let calls = sequence(31, 50, &NORMAL);
    let (db, known) = learnt(p, &calls);
    let bags: Vec<(u64, u64)> = db.entries().map(|(id, e)| (id.0, e.frequency)).collect();
    let known: Vec<u16> = known.iter().map(|s| s.0).collect();
    let mut attack = calls.clone();
    attack.extend([GETPGRP, GETPID, GETPGRP, GETPID]);

    let (path, id) = f.cgroup();
    let mut s = spec(&p, &limits, false, false, &bags);
    s.known = &known;
    s.on_unseen = OnUnseen::Report;
    let reg = Registration::new(&f.setup, id, &s).unwrap();
    assert!(run_in(&path, &attack).success());
    let records = drain(&reg);
    let counters = reg.counters().unwrap();
    reg.unregister().unwrap();
    let getpgrp = sym(GETPGRP).0;
    let unseen: Vec<u16> = records
        .iter()
        .filter_map(|r| match r {
            Record::Unseen { sym, .. } => Some(*sym),
            _ => None,
        })
        .collect();
    assert_eq!(unseen, [getpgrp], "reported once");
    assert_eq!(counters.unseen, 2);

    let (path, id) = f.cgroup();
    s.on_unseen = OnUnseen::Kill;
    let reg = Registration::new(&f.setup, id, &s).unwrap();
    let status = run_in(&path, &attack);
    let counters = reg.counters().unwrap();
    reg.unregister().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    // execve, the normal calls and the first getpgrp: nothing after it.
    assert_eq!(counters.calls, calls.len() as u64 + 2);
    assert_eq!(counters.unseen, 1);
}

#[test]
fn one_window_for_the_container_gives_the_user_space_bags_and_verdicts() {
    let mut f = Fixture::new();
    let p = Parameters {
        stream: StreamMode::PerContainer,
        ..params(4, 24, parameters::Threshold::Absolute(3))
    };
    let limits = support::limits(&p);

    // Learning: the same bags and frequencies.
    let (path, id) = f.cgroup();
    let reg = Registration::new(&f.setup, id, &spec(&p, &limits, true, false, &[])).unwrap();
    let training = sequence(41, 300, &NORMAL);
    assert!(run_in(&path, &training).success());
    let kernel_bags: BTreeMap<u64, u64> = reg.bags().unwrap().into_iter().collect();
    reg.unregister().unwrap();
    let (db, known) = learnt(p, &training);
    let db_bags: BTreeMap<u64, u64> = db.entries().map(|(id, e)| (id.0, e.frequency)).collect();
    assert_eq!(kernel_bags, db_bags);

    // Detection: the same verdicts.
    let (path, id) = f.cgroup();
    let bags: Vec<(u64, u64)> = db_bags.into_iter().collect();
    let reg = Registration::new(&f.setup, id, &spec(&p, &limits, false, false, &bags)).unwrap();
    let mut calls = sequence(42, 200, &NORMAL);
    calls[100] = GETPGRP;
    calls[101] = GETEGID;
    assert!(run_in(&path, &calls).success());
    let records = drain(&reg);
    reg.unregister().unwrap();
    let mut d = Detector::with_database(p, db.clone(), &known, TrainingRecord::default());
    let verdicts: Vec<Verdict> = stream(&calls)
        .into_iter()
        .filter_map(|s| d.observe(1, s))
        .collect();
    let user = user_epochs(&verdicts);
    assert!(user.values().any(|((_, _, anomalous), _)| *anomalous));
    assert_same_epochs(&kernel_epochs(&records), &user, &db);
}

#[test]
fn an_exec_shallower_than_the_start_level_leaves_the_thread_runcs() {
    let mut f = Fixture::new();
    let (path, id) = f.cgroup();
    let p = params(3, 1000, parameters::Threshold::Absolute(0));
    let limits = support::limits(&p);
    let mut s = spec(&p, &limits, true, false, &[]);
    // As runc's init re-executing itself before it made the container's pid namespace.
    s.start_level = ids_ebpf::pid_namespace_level().unwrap() + 1;
    let reg = Registration::new(&f.setup, id, &s).unwrap();
    assert!(run_in(&path, &[GETPID, GETPPID, GETUID]).success());
    let counters = reg.counters().unwrap();
    reg.unregister().unwrap();
    assert_eq!(counters.calls, 0);
    assert!(counters.runc_calls >= 5, "{counters:?}");
}

#[test]
fn continuous_training_hears_every_window_of_a_normal_epoch_and_the_kernel_learns_the_merge() {
    let mut f = Fixture::new();
    let (path, id) = f.cgroup();
    // At most 6 unknown windows in a normal epoch: more than the 4 sent without continuous
    // training.
    let p = params(4, 40, parameters::Threshold::Absolute(6));
    let limits = support::limits(&p);
    let normal = sequence(11, 398, &NORMAL);
    let (db, known) = learnt(p, &normal);
    let bags: Vec<(u64, u64)> = db.entries().map(|(id, e)| (id.0, e.frequency)).collect();
    let known_syms: Vec<u16> = known.iter().map(|s| s.0).collect();
    let mut s = spec(&p, &limits, false, false, &bags);
    s.known = &known_syms;
    s.continuous = true;
    let reg = Registration::new(&f.setup, id, &s).unwrap();

    // Two new calls side by side: five unknown windows, a normal epoch; a burst later: an
    // anomalous one. 400 calls in all with execve and exit_group: ten whole epochs.
    let mut calls = normal.clone();
    calls[100] = GETPGRP;
    calls[101] = GETPGRP;
    for at in 300..306 {
        calls[at] = [GETEGID, GETPGRP][at % 2];
    }
    assert!(run_in(&path, &calls).success());
    let records = drain(&reg);
    let mut sent: BTreeMap<u64, Vec<Vec<u16>>> = BTreeMap::new();
    let mut ended = BTreeMap::new();
    for r in &records {
        match r {
            Record::Unknown { epoch, window, .. } => sent
                .entry(*epoch)
                .or_default()
                .push(window.calls().to_vec()),
            Record::Epoch {
                index,
                mismatches,
                anomalous,
                ..
            } => {
                ended.insert(*index, (*mismatches, *anomalous));
            }
            _ => {}
        }
    }
    assert!(ended.values().any(|&(m, a)| m == 5 && !a), "{ended:?}");
    assert!(ended.values().any(|&(m, a)| m > 6 && a), "{ended:?}");
    for (epoch, &(mismatches, _)) in &ended {
        let windows = sent.get(epoch).map_or(0, Vec::len);
        assert_eq!(windows, (mismatches as usize).min(6), "epoch {epoch}");
    }

    // User space merges the normal epochs' bags and teaches the kernel; the same run again
    // then counts what the user-space detector with the merged database counts.
    let mut d = Detector::with_database(p, db, &known, TrainingRecord::default());
    let mut merged = Vec::new();
    for (epoch, windows) in &sent {
        if ended[epoch].1 {
            continue;
        }
        for calls in windows {
            let bag = SortedBag::from_calls(calls.iter().map(|&s| Sym(s)));
            merged.push(bag.id().0);
            d.learn_bag(bag, 1);
        }
    }
    let known_now: Vec<u16> = d.known_syscalls().map(|s| s.0).collect();
    reg.merge(&merged, &known_now).unwrap();
    let before = reg.counters().unwrap().mismatches;
    assert!(run_in(&path, &calls).success());
    let after = reg.counters().unwrap().mismatches;
    reg.unregister().unwrap();
    for s in stream(&calls) {
        d.observe(1, s);
    }
    assert_eq!(after - before, d.counters().mismatches);
    assert!(after - before < before, "the merged bags are known now");
}

#[test]
fn another_builds_program_is_refused_while_used_and_replaced_once_unused() {
    let mut f = Fixture::new();
    let (_, first) = f.cgroup();
    let (_, second) = f.cgroup();
    let p = params(4, 16, parameters::Threshold::Absolute(0));
    let limits = support::limits(&p);
    let a = Registration::new(&f.setup, first, &spec(&p, &limits, true, false, &[])).unwrap();
    // Another build: its symbols differ, so its bag ids would.
    let mut symbols = support::symbols();
    symbols.swap(0, 1);
    let other = ids_ebpf::Setup::new(&f.pins, Path::new(ids_ebpf::KERNEL_BTF), symbols).unwrap();
    let e = Registration::new(&other, second, &spec(&p, &limits, true, false, &[])).unwrap_err();
    assert!(matches!(e, Error::Incompatible { .. }), "{e:?}");
    assert!(
        f.setup.is_attached(),
        "the first build's container is still watched"
    );
    a.unregister().unwrap();
    let b = Registration::new(&other, second, &spec(&p, &limits, true, false, &[])).unwrap();
    let e = Registration::new(&f.setup, first, &spec(&p, &limits, true, false, &[])).unwrap_err();
    assert!(matches!(e, Error::Incompatible { .. }), "{e:?}");
    b.unregister().unwrap();
}
