//! Cost of the detector per system call, in detection and in training, and memory per database
//! entry. The stream is synthetic but shaped like a program: four threads each running routines
//! (fixed syscall sequences) picked at random, the scheduler switching threads between routines,
//! with a little noise so detection also meets unknown bags.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ids_detector::alphabet::{Alphabet, Sym};
use ids_detector::detector::{Detector, Mode};
use ids_detector::parameters::{Parameters, Scorer, StreamMode, DEFAULT_SURPRISE};

const BATCH: usize = 10_000;

/// A deterministic xorshift generator: the benchmark must not depend on an RNG crate or a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `len` (thread, call) pairs of a program made of 30 routines over 60 syscalls, run by 4 threads;
/// 0.5% of calls are replaced at random.
fn program_stream(len: usize, seed: u64) -> Vec<(u32, Sym)> {
    let alphabet = Alphabet::system();
    let names = [
        "read",
        "write",
        "openat",
        "close",
        "fstat",
        "mmap",
        "munmap",
        "brk",
        "futex",
        "epoll_wait",
        "epoll_ctl",
        "accept4",
        "recvfrom",
        "sendto",
        "poll",
        "lseek",
        "pread64",
        "pwrite64",
        "getpid",
        "gettid",
        "clock_gettime",
        "rt_sigprocmask",
        "rt_sigaction",
        "ioctl",
        "fcntl",
        "newfstatat",
        "getdents64",
        "madvise",
        "mprotect",
        "nanosleep",
        "select",
        "socket",
        "connect",
        "bind",
        "listen",
        "setsockopt",
        "getsockopt",
        "shutdown",
        "writev",
        "readv",
        "fsync",
        "fdatasync",
        "rename",
        "unlink",
        "mkdir",
        "statx",
        "getrandom",
        "sched_yield",
        "clone3",
        "exit",
        "wait4",
        "kill",
        "tgkill",
        "getuid",
        "geteuid",
        "dup3",
        "pipe2",
        "eventfd2",
        "timerfd_settime",
        "prctl",
    ];
    let syms: Vec<Sym> = names
        .iter()
        .map(|n| {
            alphabet
                .sym_by_name(n)
                .expect("benchmark syscall names exist")
        })
        .collect();
    let mut shape = Rng(0x5EED);
    let routines: Vec<Vec<Sym>> = (0..30)
        .map(|_| {
            (0..3 + shape.below(10))
                .map(|_| syms[shape.below(syms.len())])
                .collect()
        })
        .collect();
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let thread = rng.below(4) as u32;
        for &sym in &routines[rng.below(routines.len())] {
            let noisy = rng.below(200) == 0;
            out.push((
                thread,
                if noisy {
                    syms[rng.below(syms.len())]
                } else {
                    sym
                },
            ));
        }
    }
    out.truncate(len);
    out
}

fn trained(stream: StreamMode, scorer: Scorer) -> Detector {
    let mut d = Detector::new(Parameters {
        stream,
        scorer,
        ..Parameters::default()
    });
    for &(thread, sym) in &program_stream(500_000, 1) {
        d.observe(thread, sym);
    }
    d.set_mode(Mode::Detect);
    d
}

fn bench_detection(c: &mut Criterion) {
    let calls = program_stream(BATCH, 2);
    let mut group = c.benchmark_group("detect");
    group.throughput(Throughput::Elements(BATCH as u64));
    let backoff = Scorer::Backoff {
        surprise: DEFAULT_SURPRISE,
    };
    for (name, mode, scorer) in [
        ("per-container", StreamMode::PerContainer, Scorer::Bosc),
        ("per-thread-4", StreamMode::PerThread, Scorer::Bosc),
        (
            "per-thread-4, back-off scorer",
            StreamMode::PerThread,
            backoff,
        ),
    ] {
        let mut d = trained(mode, scorer);
        let db = d.database();
        println!(
            "{name}: database {} bags, {:.1} bytes per entry (table slot + bag on the heap)",
            db.len(),
            db.bytes_per_entry()
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut anomalies = 0u32;
                for &(thread, sym) in &calls {
                    if let Some(v) = d.observe(black_box(thread), black_box(sym)) {
                        anomalies += u32::from(v.anomalous);
                    }
                }
                anomalies
            })
        });
        let c = d.counters();
        println!(
            "{name}: {:.2}% of windows mismatched (the threshold flags {:.0}% of epochs)",
            c.mismatches as f64 * 100.0 / c.windows.max(1) as f64,
            c.anomalies as f64 * 100.0 / c.epochs.max(1) as f64
        );
    }
    group.finish();
}

fn bench_training(c: &mut Criterion) {
    let calls = program_stream(BATCH, 3);
    let mut group = c.benchmark_group("learn");
    group.throughput(Throughput::Elements(BATCH as u64));
    // Steady state: a trained database, mostly known bags, occasionally a new one.
    let mut d = trained(StreamMode::PerContainer, Scorer::Bosc);
    d.set_mode(Mode::Learn);
    group.bench_function("per-container, trained database", |b| {
        b.iter(|| {
            for &(thread, sym) in &calls {
                d.observe(thread, black_box(sym));
            }
        })
    });
    // From scratch: every new bag costs its canonical form and a table insert.
    group.bench_function("per-container, empty database", |b| {
        b.iter_batched(
            || Detector::new(Parameters::default()),
            |mut d| {
                for &(thread, sym) in &calls {
                    d.observe(thread, black_box(sym));
                }
                d
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_detection, bench_training);
criterion_main!(benches);
