//! The in-kernel backend: the detector itself runs in the kernel (the `ids-ebpf` crate), so no
//! call comes out; what comes out is what the kernel judged: an epoch with unknown windows (the
//! kernel has already SIGKILLed the process that ended it if the action is kill), a syscall the
//! profile never saw, a bag learning found new. The loop hands those to a [`KernelSink`] and
//! answers the control socket, until the container's cgroup is empty.
//!
//! The container is its cgroup: created here before runc's init enters it, registered with the
//! host's program, and unregistered when the container is gone (or the loop is stopped).

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ids_detector::alphabet::Sym;
use ids_detector::bag::SortedBag;
use ids_detector::detector::Verdict;
use ids_detector::epoch::EpochEnd;
use ids_detector::parameters::Threshold;
use ids_ebpf::cgroup::Populated;
use ids_ebpf::{Record, Registration, Setup, Spec};
use nix::errno::Errno;
use serde::Serialize;

use super::sink::{Admission, RunEnd, Syscall, SyscallSink};
use super::{control, Backend, Delivery, Handover, Origin};

/// What the kernel tells a sink, besides what every backend does.
pub trait KernelSink: SyscallSink {
    /// An epoch the kernel judged, with its unknown windows (the first few; with continuous
    /// training, all that a normal epoch can have). Returns the ids of the bags continuous
    /// training merged, for the kernel to know them too.
    fn on_kernel_epoch(&mut self, verdict: &Verdict, unknown: &[(u32, &[Sym])]) -> Vec<u64>;
    /// A call of a syscall the profile never saw, by thread `tid`.
    fn on_kernel_unseen(&mut self, tid: u32, sym: Sym);
    /// Learning: a bag the kernel had not seen, sent once.
    fn on_kernel_new_bag(&mut self, bag: SortedBag);
    /// Learning: an epoch ended (its mismatches: the bags new to the kernel).
    fn on_kernel_training_epoch(&mut self, end: EpochEnd);
    /// Whether the sink still learns; once it stops, the kernel detects.
    fn learning(&self) -> bool;
    /// The syscalls seen in training, which the kernel judges unseen calls by once it detects.
    fn known_syscalls(&self) -> Vec<Sym>;
    /// The container is gone: what the kernel counted for it in all, and the windows it saw of
    /// each bag it knows (bag id, windows).
    fn on_kernel_totals(&mut self, totals: &KernelCounters, frequencies: &[(u64, u64)]);
    /// A call the container's seccomp filter sent up before it runs (a syscall the profile never
    /// saw, or an exec): whether it may run. If it does, the kernel counts it.
    fn admit_unseen(&mut self, call: &Syscall) -> Admission;
}

/// Null mode: nothing is judged.
impl KernelSink for super::sink::NullSink {
    fn on_kernel_epoch(&mut self, _verdict: &Verdict, _unknown: &[(u32, &[Sym])]) -> Vec<u64> {
        Vec::new()
    }
    fn on_kernel_unseen(&mut self, _tid: u32, _sym: Sym) {}
    fn on_kernel_new_bag(&mut self, _bag: SortedBag) {}
    fn on_kernel_training_epoch(&mut self, _end: EpochEnd) {}
    fn learning(&self) -> bool {
        false
    }
    fn known_syscalls(&self) -> Vec<Sym> {
        Vec::new()
    }
    fn on_kernel_totals(&mut self, _totals: &KernelCounters, _frequencies: &[(u64, u64)]) {}
    fn admit_unseen(&mut self, _call: &Syscall) -> Admission {
        Admission::Continue
    }
}

/// How often the loop wakes without news, to check whether it should stop.
const TICK: Duration = Duration::from_millis(200);

/// The loop's counters, with the kernel's for the container.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct EbpfStats {
    pub cgroup_id: u64,
    pub records: u64,
    pub kernel: KernelCounters,
}

/// The kernel's counters for the container, as `inspect` shows them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct KernelCounters {
    pub calls: u64,
    pub windows: u64,
    pub mismatches: u64,
    pub epochs: u64,
    pub anomalies: u64,
    pub lost_records: u64,
    pub rejected_bags: u64,
    pub runc_calls: u64,
    pub unmapped_calls: u64,
    pub untracked_calls: u64,
    pub unseen_calls: u64,
}

impl From<ids_ebpf::Counters> for KernelCounters {
    fn from(c: ids_ebpf::Counters) -> Self {
        KernelCounters {
            calls: c.calls,
            windows: c.windows,
            mismatches: c.mismatches,
            epochs: c.epochs,
            anomalies: c.anomalies,
            lost_records: c.lost,
            rejected_bags: c.rejected,
            runc_calls: c.runc_calls,
            unmapped_calls: c.unmapped,
            untracked_calls: c.untracked,
            unseen_calls: c.unseen,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error(transparent)]
    Kernel(#[from] ids_ebpf::Error),
    #[error("failed to poll the kernel's records: {0}")]
    Poll(Errno),
}

/// Watches one container through the host's kernel program.
pub struct EbpfSupervisor<S> {
    delivery: Delivery<S, EbpfStats>,
    registration: Option<Registration>,
    populated: Populated,
    cgroup_dir: PathBuf,
    threshold: Threshold,
    learning: bool,
    handover_timeout: Option<Duration>,
    /// A process has been in the cgroup.
    was_populated: bool,
    /// The sink knows the container's init.
    handed_over: bool,
    /// Unknown windows waiting for their epoch's end: (epoch, thread, calls).
    pending: Vec<(u64, u32, Vec<Sym>)>,
    /// Bags continuous training merged that the kernel does not know yet.
    merged: Vec<u64>,
    training: TrainingEpochs,
    pollfds: Vec<libc::pollfd>,
}

/// The container's cgroup, created (under the cgroup v2 root) and registered with the kernel as
/// `spec` says: from now on the kernel judges whatever enters it. Done before runc starts, so
/// that runc's init enters a watched cgroup.
pub struct Registered {
    registration: Registration,
    populated: Populated,
    cgroup_dir: PathBuf,
    learning: bool,
    threshold: Threshold,
}

impl Registered {
    /// `threshold` is the detector's, whose limits `spec` carries: it gives each verdict its
    /// limit.
    pub fn new(
        setup: &Setup,
        cgroup_dir: PathBuf,
        spec: &Spec<'_>,
        threshold: Threshold,
    ) -> Result<Self, EbpfError> {
        std::fs::create_dir_all(&cgroup_dir).map_err(|source| ids_ebpf::Error::File {
            path: cgroup_dir.clone(),
            source,
        })?;
        let id = ids_ebpf::cgroup::id(&cgroup_dir)?;
        let populated = Populated::open(&cgroup_dir)?;
        let registration = Registration::new(setup, id, spec)?;
        log::info!(
            "registered cgroup {} (id {id}) with the kernel program",
            cgroup_dir.display()
        );
        Ok(Registered {
            registration,
            populated,
            cgroup_dir,
            learning: spec.learn,
            threshold,
        })
    }

    /// The cgroup's id, which `delete` needs if the monitor is gone.
    pub fn cgroup_id(&self) -> u64 {
        self.registration.cgroup()
    }
}

impl<S: KernelSink> EbpfSupervisor<S> {
    /// Watches the registered container.
    pub fn new(sink: S, registered: Registered, handover_timeout: Option<Duration>) -> Self {
        let Registered {
            registration,
            populated,
            cgroup_dir,
            learning,
            threshold,
        } = registered;
        EbpfSupervisor {
            delivery: Delivery::new(
                sink,
                EbpfStats {
                    cgroup_id: registration.cgroup(),
                    ..EbpfStats::default()
                },
            ),
            registration: Some(registration),
            populated,
            cgroup_dir,
            threshold,
            learning,
            handover_timeout,
            was_populated: false,
            handed_over: false,
            pending: Vec::new(),
            merged: Vec::new(),
            training: TrainingEpochs::default(),
            pollfds: Vec::new(),
        }
    }

    /// The sink's handover of the container's init (pid 1 of its pid namespace), so that it can
    /// kill the container; looked for until found, whenever the kernel has news. runc's first
    /// processes in the cgroup are its own, in the host's pid namespace.
    fn hand_over(&mut self) {
        let procs =
            std::fs::read_to_string(self.cgroup_dir.join("cgroup.procs")).unwrap_or_default();
        let init = procs
            .lines()
            .filter_map(|l| l.trim().parse::<u32>().ok())
            .find(|pid| is_namespace_init(*pid));
        if let Some(pid) = init {
            self.delivery.sink.on_handover(&Handover {
                pid,
                origin: Origin::Creating,
            });
            self.handed_over = true;
        }
    }

    /// Reads what the kernel has sent and hands it to the sink, the container's init first.
    fn consume(
        &mut self,
        records: &ids_ebpf::Records<'_>,
        queue: &RefCell<Vec<Record>>,
    ) -> Result<(), EbpfError> {
        records.consume()?;
        let read = std::mem::take(&mut *queue.borrow_mut());
        if !read.is_empty() && !self.handed_over {
            self.hand_over();
        }
        self.delivery.stats.records += read.len() as u64;
        deliver(
            &mut self.delivery.sink,
            read,
            self.threshold,
            self.learning,
            &mut self.pending,
            &mut self.training,
            &mut self.merged,
        );
        Ok(())
    }

    /// The syscalls the sink knows, as the kernel numbers them.
    fn known_symbols(&self) -> Vec<u16> {
        let known = self.delivery.sink.known_syscalls();
        known.iter().map(|s| s.0).collect()
    }

    /// Continuous training: the kernel learns the bags (and syscalls) the sink merged.
    fn teach_kernel(&mut self, registration: &Registration) {
        if self.merged.is_empty() {
            return;
        }
        if let Err(e) = registration.merge(&self.merged, &self.known_symbols()) {
            log::error!("teaching the kernel {} merged bags: {e}", self.merged.len());
        }
        self.merged.clear();
    }

    fn refresh_counters(&mut self) {
        if let Some(counters) = self.registration.as_ref().and_then(|r| r.counters().ok()) {
            self.delivery.stats.kernel = counters.into();
        }
    }

    fn unregister(&mut self) {
        if let Some(registration) = self.registration.take() {
            if let Err(e) = registration.unregister() {
                log::error!("unregistering {}: {e}", self.cgroup_dir.display());
            }
        }
    }
}

/// Learning epochs the sink has been told of: the kernel sends only those with new bags.
#[derive(Debug, Default)]
struct TrainingEpochs {
    /// The next epoch the sink has not heard of.
    next: u64,
}

impl TrainingEpochs {
    /// Tells the sink of the epochs before `index` that brought no new bag.
    fn quiet_until<S: KernelSink>(&mut self, sink: &mut S, index: u64) {
        while self.next < index {
            sink.on_kernel_training_epoch(EpochEnd {
                index: self.next,
                windows: 0,
                mismatches: 0,
            });
            self.next += 1;
        }
    }
}

/// Hands the records read so far to the sink. Unknown windows wait for their epoch's end; the
/// bags the sink merges are added to `merged`.
fn deliver<S: KernelSink>(
    sink: &mut S,
    records: Vec<Record>,
    threshold: Threshold,
    learning: bool,
    pending: &mut Vec<(u64, u32, Vec<Sym>)>,
    training: &mut TrainingEpochs,
    merged: &mut Vec<u64>,
) {
    for record in records {
        match record {
            Record::NewBag { window, .. } => {
                sink.on_kernel_new_bag(SortedBag::from_calls(
                    window.calls().iter().map(|&s| Sym(s)),
                ));
            }
            Record::Unknown {
                tid, epoch, window, ..
            } => pending.push((epoch, tid, window.calls().iter().map(|&s| Sym(s)).collect())),
            Record::Unseen { tid, sym, .. } => sink.on_kernel_unseen(tid, Sym(sym)),
            Record::Epoch {
                index,
                windows,
                mismatches,
                ..
            } if learning => {
                if index < training.next {
                    // Already told as quiet: its record came after the count.
                    continue;
                }
                training.quiet_until(sink, index);
                sink.on_kernel_training_epoch(EpochEnd {
                    index,
                    windows,
                    mismatches,
                });
                training.next = index + 1;
            }
            Record::Epoch {
                index,
                windows,
                mismatches,
                anomalous,
                ..
            } => {
                let unknown: Vec<(u32, &[Sym])> = pending
                    .iter()
                    .filter(|(epoch, _, _)| *epoch == index)
                    .map(|(_, tid, calls)| (*tid, calls.as_slice()))
                    .collect();
                let verdict = Verdict::judged(
                    index,
                    windows,
                    mismatches,
                    threshold.limit(windows),
                    anomalous,
                    &unknown,
                );
                merged.extend(sink.on_kernel_epoch(&verdict, &unknown));
                pending.retain(|(epoch, _, _)| *epoch > index);
            }
        }
    }
}

impl<S: KernelSink> Backend for EbpfSupervisor<S> {
    type Sink = S;
    type Stats = EbpfStats;
    type Error = EbpfError;

    /// Nothing of the container waits for this monitor: the kernel judges without it.
    const START_CAN_STICK: bool = false;

    fn delivery(&self) -> &Delivery<S, EbpfStats> {
        &self.delivery
    }

    fn delivery_mut(&mut self) -> &mut Delivery<S, EbpfStats> {
        &mut self.delivery
    }

    fn into_delivery(mut self) -> Delivery<S, EbpfStats> {
        self.refresh_counters();
        self.unregister();
        self.delivery
    }

    fn run(&mut self, mut should_stop: impl FnMut() -> bool) -> Result<RunEnd, EbpfError> {
        let started = Instant::now();
        let queue = RefCell::new(Vec::new());
        let Some(registration) = self.registration.take() else {
            return Ok(RunEnd::Stopped);
        };
        let result = (|| {
            let records = registration.records(|r| queue.borrow_mut().push(r))?;
            loop {
                if should_stop() {
                    return Ok(RunEnd::Stopped);
                }
                let populated = self.populated.now()?;
                self.was_populated |= populated;
                if populated && !self.handed_over {
                    self.hand_over();
                }
                if !populated && self.was_populated {
                    self.consume(&records, &queue)?;
                    return Ok(RunEnd::AllHungUp);
                }
                if !self.was_populated
                    && self
                        .handover_timeout
                        .is_some_and(|limit| started.elapsed() >= limit)
                {
                    return Ok(RunEnd::HandoverTimeout);
                }
                self.pollfds.clear();
                self.pollfds.push(pollfd(records.as_raw_fd(), libc::POLLIN));
                self.pollfds
                    .push(pollfd(self.populated.as_fd().as_raw_fd(), libc::POLLPRI));
                if let Some(control) = &self.delivery.control {
                    control.push_pollfds(&mut self.pollfds);
                }
                // SAFETY: `pollfds` is a live, initialised array of `len` pollfd entries.
                let ready = unsafe {
                    libc::poll(
                        self.pollfds.as_mut_ptr(),
                        self.pollfds.len() as libc::nfds_t,
                        TICK.as_millis() as i32,
                    )
                };
                match Errno::result(ready) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(EbpfError::Poll(e)),
                }
                self.consume(&records, &queue)?;
                self.teach_kernel(&registration);
                if self.learning {
                    // Epochs without a new bag send nothing; the kernel's count says they
                    // ended (all but the last, whose record may still be on its way).
                    if let Ok(counters) = registration.counters() {
                        self.training.quiet_until(
                            &mut self.delivery.sink,
                            counters.epochs.saturating_sub(1),
                        );
                    }
                    if !self.delivery.sink.learning() {
                        registration.set_learning(false, &self.known_symbols())?;
                        self.learning = false;
                        log::info!("the kernel detects now");
                    }
                }
                if let Some(mut control) = self.delivery.control.take() {
                    let polled = self.pollfds.split_off(2);
                    control.serve(&polled, |request| self.answer(&registration, request));
                    self.delivery.control = Some(control);
                }
            }
        })();
        self.registration = Some(registration);
        if matches!(result, Ok(RunEnd::AllHungUp | RunEnd::Stopped)) {
            self.refresh_counters();
            let totals = self.delivery.stats.kernel;
            let frequencies = self
                .registration
                .as_ref()
                .and_then(|r| r.bags().ok())
                .unwrap_or_default();
            self.delivery.sink.on_kernel_totals(&totals, &frequencies);
        }
        result
    }
}

impl<S: KernelSink> EbpfSupervisor<S> {
    /// Answers a control request; the registration is the loop's while it runs.
    fn answer(&mut self, registration: &Registration, request: &str) -> serde_json::Value {
        match request.split_whitespace().next() {
            Some(control::INSPECT) => {
                if let Ok(counters) = registration.counters() {
                    self.delivery.stats.kernel = counters.into();
                }
                self.delivery.inspect()
            }
            _ => control::unknown_request(request, &[control::INSPECT]),
        }
    }
}

/// Whether `pid` is pid 1 of a pid namespace below the monitor's (the last `NSpid` entry).
fn is_namespace_init(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let pids: Vec<String> = status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))?
                .split_whitespace()
                .map(str::to_string)
                .collect();
            Some(pids.len() > 1 && pids.last().is_some_and(|p| p == "1"))
        })
        .unwrap_or(false)
}

fn pollfd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}
