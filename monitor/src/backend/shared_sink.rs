//! One sink fed by two loops: the ebpf monitor's ring-buffer loop, and a notify loop that answers,
//! before they run, the calls the container's seccomp filter sends up (the syscalls the profile
//! never saw, see [`add_notify_unseen`](super::seccomp_merge::add_notify_unseen)). Each loop
//! gets its own view of the sink, behind one lock; the notify loop is rarely called, so the lock
//! is rarely contended.

use std::sync::{Arc, Mutex, MutexGuard};

use ids_detector::alphabet::Sym;
use ids_detector::bag::SortedBag;
use ids_detector::detector::Verdict;
use ids_detector::epoch::EpochEnd;

use super::ebpf::{KernelCounters, KernelSink};
use super::sink::{Admission, Syscall, SyscallSink};
use super::Handover;

/// The sink both loops share.
pub struct SharedSink<S>(Arc<Mutex<S>>);

impl<S: KernelSink> SharedSink<S> {
    pub fn new(sink: S) -> Self {
        SharedSink(Arc::new(Mutex::new(sink)))
    }

    /// The view the ring-buffer loop delivers to.
    pub fn kernel_side(&self) -> KernelSide<S> {
        KernelSide(Arc::clone(&self.0))
    }

    /// The view the notify loop delivers to.
    pub fn unseen_side(&self) -> UnseenSide<S> {
        UnseenSide(Arc::clone(&self.0))
    }

    /// The sink, once both views are dropped (their loops are over).
    pub fn into_inner(self) -> Option<S> {
        Arc::into_inner(self.0).map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A panic in one loop must not stop the other from judging.
fn lock<S>(sink: &Mutex<S>) -> MutexGuard<'_, S> {
    sink.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the ring-buffer loop sees. Its handover is dropped: the notify loop's handovers (runc's
/// init, then each `runc exec`) are the ones that start and end runc's start-up rule.
pub struct KernelSide<S>(Arc<Mutex<S>>);

impl<S: KernelSink> SyscallSink for KernelSide<S> {
    fn observe(&mut self, call: &Syscall) {
        lock(&self.0).observe(call);
    }

    fn inspect(&self) -> serde_json::Value {
        lock(&self.0).inspect()
    }
}

impl<S: KernelSink> KernelSink for KernelSide<S> {
    fn on_kernel_epoch(&mut self, verdict: &Verdict, unknown: &[(u32, &[Sym])]) -> Vec<u64> {
        lock(&self.0).on_kernel_epoch(verdict, unknown)
    }
    fn on_kernel_unseen(&mut self, tid: u32, sym: Sym) {
        lock(&self.0).on_kernel_unseen(tid, sym);
    }
    fn on_kernel_new_bag(&mut self, bag: SortedBag) {
        lock(&self.0).on_kernel_new_bag(bag);
    }
    fn on_kernel_training_epoch(&mut self, end: EpochEnd) {
        lock(&self.0).on_kernel_training_epoch(end);
    }
    fn learning(&self) -> bool {
        lock(&self.0).learning()
    }
    fn known_syscalls(&self) -> Vec<Sym> {
        lock(&self.0).known_syscalls()
    }
    fn on_kernel_totals(&mut self, totals: &KernelCounters, frequencies: &[(u64, u64)]) {
        lock(&self.0).on_kernel_totals(totals, frequencies);
    }
    fn admit_unseen(&mut self, call: &Syscall) -> Admission {
        lock(&self.0).admit_unseen(call)
    }
}

/// What the notify loop sees: handovers, and calls to admit. A call let through is the kernel's
/// to count, so nothing is observed here.
pub struct UnseenSide<S>(Arc<Mutex<S>>);

impl<S: KernelSink> SyscallSink for UnseenSide<S> {
    fn on_handover(&mut self, handover: &Handover) {
        lock(&self.0).on_handover(handover);
    }

    fn admit(&mut self, call: &Syscall) -> Admission {
        lock(&self.0).admit_unseen(call)
    }

    fn observe(&mut self, _call: &Syscall) {}

    fn inspect(&self) -> serde_json::Value {
        lock(&self.0).inspect()
    }
}
