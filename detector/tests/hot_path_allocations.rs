//! The detection hot path must not allocate: a monitor answers the kernel for every syscall of the
//! container, and an allocator lock or page fault there would stall the container. This test binary
//! counts every allocation of the process, so it holds a single test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ids_detector::alphabet::{Alphabet, Sym};
use ids_detector::detector::{Detector, Mode};
use ids_detector::parameters::{Parameters, Scorer, StreamMode, Threshold};

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged, so
// the system allocator's guarantees are this allocator's; counting does not touch the memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller meets `GlobalAlloc::alloc`'s contract, which is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (every allocation goes through `alloc` above) with
        // this layout, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn detection_does_not_allocate() {
    detect_without_allocating(Scorer::Bosc, 3);
    // An odd call is one surprising call (a few unknown bags for the paper's rule): above a
    // tenth of a nat per window, an epoch with one is anomalous.
    detect_without_allocating(Scorer::Backoff { surprise: 0.1 }, 0);
}

fn detect_without_allocating(scorer: Scorer, threshold: u32) {
    let alphabet = Alphabet::system();
    let syms: Vec<Sym> = [
        "openat", "read", "close", "mmap", "futex", "getpid", "execve",
    ]
    .iter()
    .map(|n| alphabet.sym_by_name(n).unwrap())
    .collect();
    let mut detector = Detector::new(Parameters {
        window: 4,
        epoch: 50,
        epoch_ms: 5,
        min_windows: 10,
        threshold: Threshold::Absolute(threshold),
        stream: StreamMode::PerThread,
        scorer,
        ..Parameters::default()
    });
    for i in 0..5_000 {
        detector.observe(i % 3, syms[i as usize % 5]);
    }
    detector.set_mode(Mode::Detect);
    // Every thread has its window before counting starts: a new thread's window is allocated once.
    let mut calls = Vec::new();
    for i in 0..20_000usize {
        // Mostly the trained cycle, sometimes a call that makes unknown bags.
        let sym = if i % 97 == 0 {
            syms[5 + i % 2]
        } else {
            syms[i % 5]
        };
        calls.push(((i % 3) as u32, sym));
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut verdicts = 0;
    let mut anomalies = 0;
    let mut by_time = 0;
    for (i, &(thread, sym)) in calls.iter().enumerate() {
        if let Some(v) = detector.observe(thread, sym) {
            verdicts += 1;
            anomalies += usize::from(v.anomalous);
        }
        // The monitor's clock: a millisecond every 7 calls, so epochs of 50 calls and epochs of
        // T = 5 ms both end.
        if i % 7 == 0 {
            if let Some(v) = detector.tick(i as u64 / 7) {
                verdicts += 1;
                by_time += 1;
                anomalies += usize::from(v.anomalous);
            }
        }
        std::hint::black_box(detector.is_known(sym));
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(
        allocations, 0,
        "observe() and tick() allocated {allocations} times with {scorer:?}"
    );
    assert!(by_time > 0 && verdicts > 400, "{by_time} of {verdicts}");
    assert!(
        detector.counters().mismatches > 0,
        "the stream had unknown bags, surprising calls"
    );
    assert!(anomalies > 0 && anomalies < verdicts, "{scorer:?}");
}
