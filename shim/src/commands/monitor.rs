//! `ids-runc monitor` (started by `create`, not by people): one container's monitor process.
//!
//! It reads `launch.json` from the state dir, binds the seccomp listener and the control socket,
//! says `ready` on its readiness fd, then serves every notify fd runc hands over (init, then one
//! per `exec`) until no task of the container is left. It never ends on its own before that: a
//! monitor that dies breaks its container. At the end it saves what it learnt.
//!
//! Under seccomp notify the process `create` starts is the monitor's keeper
//! (`monitor_process::keeper`), which binds the sockets and starts this command again as its child
//! with the sockets and the notify fds it keeps: that child is the monitor proper, and is started
//! again if it dies.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use ids_detector::alphabet::Alphabet;
use ids_detector::detector::Detector;
use ids_ebpf::{OnUnseen, Spec};
use ids_monitor::backend::control::ControlServer;
use ids_monitor::backend::ebpf::{EbpfSupervisor, KernelSink, Registered};
use ids_monitor::backend::notify::{
    HandoverListener, KeeperLink, KeptFd, NotifySupervisor, SupervisorConfig,
};
use ids_monitor::backend::ptrace::{TraceConfig, TraceSupervisor};
use ids_monitor::backend::shared_sink::SharedSink;
use ids_monitor::backend::sink::{NullSink, RunEnd};
use ids_monitor::backend::{Backend, MonitorKind};
use ids_monitor::guard::{Guard, GuardMode, GuardSettings};
use ids_monitor::policy::{AnomalyAction, UnseenSyscallAction};
use ids_monitor::profile::Profile;
use ids_monitor::record::epoch_log::EpochLog;
use ids_monitor::record::events::{ActionTaken, Event, EventKind};

use crate::container::state_dir::StateDir;
use crate::monitor_process::keeper::{self, Inherited, KeptArgs};
use crate::monitor_process::launch::Launch;
use crate::monitor_process::stuck_init;
use crate::monitor_process::{ReadyPipe, READY};
use crate::runc::Runc;
use ids_monitor::mode::Mode;

/// While no notify fd has been handed over, look this often for a runc init stuck in a notified
/// call (see `stuck_init`); one found twice in a row, this far apart, is killed.
const HANDOVER_CHECK: Duration = Duration::from_secs(5);
/// If runc never hands over a notify fd, `create` failed: give up after this long.
const HANDOVER_GIVE_UP: Duration = Duration::from_secs(600);

#[derive(Debug, Parser)]
#[command(
    name = "ids-runc monitor",
    about = "Run one container's monitor (started by create)"
)]
pub struct MonitorArgs {
    /// The container's state directory, with its launch.json.
    #[arg(long)]
    state_dir: PathBuf,
    /// Write `ready` (or why not) to this fd once listening, then close it.
    #[arg(long)]
    ready_fd: Option<i32>,
    #[command(flatten)]
    kept: KeptArgs,
}

pub fn main(words: Vec<std::ffi::OsString>) -> anyhow::Result<i32> {
    let args = MonitorArgs::try_parse_from(
        std::iter::once(std::ffi::OsString::from("ids-runc monitor")).chain(words),
    )?;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    // A client that hangs up on the control socket must not kill the monitor.
    // SAFETY: ignoring a signal installs no handler and has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let ready = args.ready_fd.map(ReadyPipe::take);
    if args.kept.keeper_fd.is_none() {
        if let Ok(launch) = Launch::read(&args.state_dir) {
            if launch.monitor == MonitorKind::SeccompNotify {
                return keeper::keep(&StateDir::at(&args.state_dir), &launch, ready);
            }
        }
    }
    let prepared = args
        .kept
        .take()
        .and_then(|inherited| prepare(&args.state_dir, inherited));
    match prepared {
        Ok(prepared) => {
            if let Some(ready) = ready {
                ready.send(READY);
            }
            serve(prepared)
        }
        Err(err) => {
            log::error!("{err:#}");
            if let Some(ready) = ready {
                ready.send(&format!("{err:#}"));
            }
            Err(err)
        }
    }
}

struct Prepared {
    launch: Launch,
    state: StateDir,
    /// The seccomp listener runc hands notify fds to; none for the ptrace monitor.
    listener: Option<HandoverListener>,
    control: ControlServer,
    guard: Option<Guard>,
    /// The ebpf monitor's container, registered with the kernel before runc starts.
    kernel: Option<Registered>,
    /// The link to this monitor's keeper and the notify fds taken over from it.
    keeper: Option<(KeeperLink, Vec<KeptFd>)>,
    /// The process recorded as the container's monitor: this one, or its keeper.
    recorded_as: u32,
}

fn prepare(state_dir: &Path, inherited: Option<Inherited>) -> anyhow::Result<Prepared> {
    let launch = Launch::read(state_dir)?;
    let state = StateDir::at(state_dir);
    let restarted = inherited.as_ref().is_some_and(|i| i.restarted);
    let guard = match GuardMode::of(launch.mode) {
        Some(mode) => Some(guard(&launch, mode, restarted)?),
        None => None,
    };
    if let Some(inherited) = inherited {
        // The keeper's low score is not this process's: the OOM killer must take this one first.
        // (Raising it needs no privilege; a keeper that could not lower its own left it as is.)
        let oom_score_adj = std::fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok());
        if oom_score_adj.is_some_and(|adj| adj < 0) {
            if let Err(e) = std::fs::write("/proc/self/oom_score_adj", "0") {
                log::warn!("cannot reset the monitor's oom_score_adj: {e}");
            }
        }
        let Inherited {
            listener,
            control,
            link,
            kept,
            ..
        } = inherited;
        return Ok(Prepared {
            listener: Some(HandoverListener::inherit(
                listener,
                &state.seccomp_socket(),
                0,
            )),
            control: ControlServer::inherit(control, &state.control_socket())?,
            launch,
            state,
            guard,
            kernel: None,
            keeper: Some((link, kept)),
            recorded_as: nix::unistd::getppid().as_raw() as u32,
        });
    }
    let listener = match launch.monitor {
        MonitorKind::Ptrace => None,
        MonitorKind::Ebpf if !launch.unseen_through_seccomp() => None,
        _ => Some(HandoverListener::bind(&state.seccomp_socket(), 0)?),
    };
    let kernel = match launch.monitor {
        MonitorKind::Ebpf => {
            let registered = register(&launch, guard.as_ref())?;
            state.record_cgroup_id(registered.cgroup_id())?;
            Some(registered)
        }
        _ => None,
    };
    let control = ControlServer::bind(&state.control_socket())?;
    state.record_monitor_pid(std::process::id())?;
    Ok(Prepared {
        launch,
        state,
        listener,
        control,
        guard,
        kernel,
        keeper: None,
        recorded_as: std::process::id(),
    })
}

/// The ebpf monitor: the container's cgroup, registered with the host's kernel program with what
/// the guard judges by (the profile's bags, syscalls and parameters, the policy).
fn register(launch: &Launch, guard: Option<&Guard>) -> anyhow::Result<Registered> {
    let cgroup = launch
        .cgroup
        .clone()
        .context("launch.json names no cgroup for the ebpf monitor")?;
    let on_unseen = match launch.policy.on_unseen_syscall {
        UnseenSyscallAction::Ignore => OnUnseen::Ignore,
        UnseenSyscallAction::Log => OnUnseen::Report,
        UnseenSyscallAction::Kill => OnUnseen::Kill,
        // The seccomp filter refuses what it sends up; the kernel reports the few calls it cannot
        // send up (see `seccomp_merge::NEVER_NOTIFIED`), which run.
        UnseenSyscallAction::Deny => OnUnseen::Report,
    };
    let alphabet = Alphabet::system();
    let sym = |name: &str| alphabet.sym_by_name(name).map_or(u16::MAX, |s| s.0);
    let (params, bags, known, invisible, learn) = match guard {
        Some(guard) => {
            let d = guard.detector();
            let bags: Vec<(u64, u64)> = d
                .database()
                .entries()
                .map(|(id, e)| (id.0, e.frequency))
                .collect();
            let known: Vec<u16> = d.known_syscalls().map(|s| s.0).collect();
            let invisible: Vec<u16> = guard
                .blind_to()
                .iter()
                .map(|n| sym(n))
                .filter(|&s| s != u16::MAX)
                .collect();
            let learn = d.mode() == ids_detector::detector::Mode::Learn;
            (*d.parameters(), bags, known, invisible, learn)
        }
        None => (launch.parameters, Vec::new(), Vec::new(), Vec::new(), false),
    };
    if guard.is_some() && !learn && params.epoch_ms > 0 {
        log::warn!(
            "the ebpf monitor judges epochs of {} calls only: the time bound of {} ms is not \
             applied, so a container that falls quiet is judged at its next calls",
            params.epoch,
            params.epoch_ms
        );
    }
    let limits = ids_ebpf::limits(&params);
    let continuous = guard.is_some() && params.training.continuous;
    // The kernel's set grows only while learning or with continuous training; otherwise it holds
    // the profile's bags, and a set sized for them is much cheaper to create (the kernel zeroes
    // a bucket per entry: some 40 ms for the default million, at every start).
    let capacity = if learn || continuous {
        launch.max_database_entries.max(bags.len())
    } else {
        bags.len()
    };
    let spec = Spec {
        window: params.window,
        epoch: params.epoch,
        limits: &limits,
        learn,
        kill: guard.is_some() && launch.policy.on_anomaly == AnomalyAction::Kill,
        execve: [sym("execve"), sym("execveat")],
        start_level: ids_ebpf::pid_namespace_level()? + 1,
        per_container: params.stream == ids_detector::parameters::StreamMode::PerContainer,
        known: &known,
        on_unseen: if guard.is_some() {
            on_unseen
        } else {
            OnUnseen::Ignore
        },
        invisible: &invisible,
        bags: &bags,
        continuous,
        capacity: u32::try_from(capacity.max(1)).unwrap_or(u32::MAX),
    };
    Ok(Registered::new(
        &crate::monitor_process::kernel::setup(launch.kernel_btf.as_deref())?,
        cgroup,
        &spec,
        params.threshold,
    )?)
}

/// The guard of `launch`; a monitor `restarted` after a death goes on from the profile saved last.
fn guard(launch: &Launch, mode: GuardMode, restarted: bool) -> anyhow::Result<Guard> {
    let saved = launch.saved_profile().filter(|_| restarted);
    if let Some(path) = saved {
        log::info!("reloading the profile saved last, {}", path.display());
    }
    let (mut detector, profile_monitor, resources) = match saved.or(launch.profile.as_deref()) {
        Some(path) => {
            let profile = Profile::load(path)?;
            let detector = profile
                .detector()
                .with_context(|| format!("profile {}", path.display()))?;
            (detector, profile.monitor.kind, profile.resources)
        }
        None => {
            anyhow::ensure!(launch.mode != Mode::Detect, "detect mode without a profile");
            (Detector::new(launch.parameters), launch.monitor, None)
        }
    };
    let blind_to = blind_to(launch, profile_monitor);
    detector.set_database_limit(launch.max_database_entries);
    let settings = GuardSettings {
        container: launch.id.clone(),
        profile_name: launch.profile_name.clone(),
        mode,
        monitor: launch.monitor,
        profile_monitor,
        blind_to,
        policy: launch.policy,
        save_to: launch.save_to.clone(),
        save_every: Duration::from_secs(launch.save_interval_secs.max(1)),
        provenance: launch.provenance.clone().unwrap_or_default(),
    };
    let epochs_path = launch.runs_dir.join(format!("{}.epochs.jsonl", launch.id));
    let epochs = if restarted {
        EpochLog::resume(&epochs_path)
    } else {
        EpochLog::create(&epochs_path)
    };
    let epochs = epochs.with_context(|| format!("cannot create {}", epochs_path.display()))?;
    Ok(Guard::new(settings, detector, launch.event_log())
        .with_epoch_log(epochs)
        .with_resources(resources))
}

/// A profile made with another monitor than the one running: calls only this monitor sees are
/// set aside (a seccomp-notify profile under ptrace works as learnt); calls only the profile's
/// monitor saw cannot be brought back (a ptrace profile under seccomp notify has windows with
/// `write` in them that will never match), so that is warned about, in the log and the events.
fn blind_to(launch: &Launch, profile_monitor: MonitorKind) -> Vec<String> {
    let missing = launch.monitor.cannot_see_for(profile_monitor);
    if !missing.is_empty() {
        let message = format!(
            "profile {} was learnt with the {profile_monitor:?} monitor, which sees {}; the \
             {:?} monitor cannot, so windows with them will not match and detection will \
             report false anomalies: learn the profile again with this monitor",
            launch.profile_name,
            missing.join(", "),
            launch.monitor
        );
        log::warn!("{message}");
        let mut event = launch_event(launch, EventKind::MonitorError);
        event.action = ActionTaken::None;
        event.message = Some(message);
        if let Err(e) = launch.event_log().write(&event, false) {
            log::error!("{e}");
        }
    }
    let blind = launch.monitor.blind_spots_of(profile_monitor);
    if !blind.is_empty() {
        log::info!(
            "profile {} was learnt with the {profile_monitor:?} monitor: ignoring {} under {:?}",
            launch.profile_name,
            blind.join(", "),
            launch.monitor
        );
    }
    blind.into_iter().map(String::from).collect()
}

/// An event about this container that no guard wrote (there may be none, in null mode).
fn launch_event(launch: &Launch, kind: EventKind) -> Event {
    Event::now(
        &launch.id,
        &launch.profile_name,
        launch.mode,
        launch.monitor,
        kind,
    )
}

fn serve(prepared: Prepared) -> anyhow::Result<i32> {
    let Prepared {
        launch,
        state,
        listener,
        control,
        guard,
        kernel,
        keeper,
        recorded_as,
    } = prepared;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install signal handlers")?;
    }
    log::info!(
        "monitoring container {} in mode {} with the {:?} monitor (profile {})",
        launch.id,
        launch.mode,
        launch.monitor,
        launch.profile_name
    );
    let end = match guard {
        Some(guard) => {
            let (end, mut guard) = watch(listener, kernel, keeper, guard, control, &launch, &stop)?;
            guard.save_learned();
            guard.flush();
            end
        }
        None => {
            watch(
                listener,
                kernel,
                keeper,
                NullSink::default(),
                control,
                &launch,
                &stop,
            )?
            .0
        }
    };
    finish(&launch, &state, recorded_as, end, &stop);
    Ok(0)
}

/// Watches the container with its backend until it is gone: the kernel's records if it was
/// registered with the ebpf program, seccomp notify if there is a listener, else ptrace. Returns
/// why it ended, and the sink with all it saw.
fn watch<S: KernelSink + Send>(
    listener: Option<HandoverListener>,
    kernel: Option<Registered>,
    keeper: Option<(KeeperLink, Vec<KeptFd>)>,
    sink: S,
    control: ControlServer,
    launch: &Launch,
    stop: &AtomicBool,
) -> anyhow::Result<(RunEnd, S)> {
    if let Some(registered) = kernel {
        if let Some(listener) = listener {
            return watch_with_unseen(listener, registered, sink, control, launch, stop);
        }
        let backend = EbpfSupervisor::new(sink, registered, Some(HANDOVER_CHECK));
        return supervise(backend, control, launch, stop);
    }
    match listener {
        Some(listener) => {
            let config = SupervisorConfig {
                sync_wake_up: launch.sync_wake_up,
                handover_timeout: Some(HANDOVER_CHECK),
                ..SupervisorConfig::default()
            };
            let mut backend = NotifySupervisor::new(listener, sink, config);
            if let Some((link, kept)) = keeper {
                backend = backend.with_keeper(link, kept);
            }
            supervise(backend, control, launch, stop)
        }
        None => {
            let config = TraceConfig {
                handover_timeout: Some(HANDOVER_CHECK),
                stops: launch.ptrace_stops,
                ..TraceConfig::default()
            };
            supervise(TraceSupervisor::new(sink, config), control, launch, stop)
        }
    }
}

/// The ebpf monitor whose container's seccomp filter sends up the calls of syscalls the profile
/// never saw: a notify loop, on its own thread, answers them before they run, while the
/// ring-buffer loop takes what the kernel judged; both deliver to the same sink. The notify loop
/// stops once the ring-buffer loop has seen the container's cgroup empty (no task uses the filter
/// any more) or the monitor is asked to stop.
fn watch_with_unseen<S: KernelSink + Send>(
    listener: HandoverListener,
    registered: Registered,
    sink: S,
    control: ControlServer,
    launch: &Launch,
    stop: &AtomicBool,
) -> anyhow::Result<(RunEnd, S)> {
    let shared = SharedSink::new(sink);
    let config = SupervisorConfig {
        sync_wake_up: launch.sync_wake_up,
        // Rare calls: no need for the fast path's wake-up signal on this second thread.
        fast_path: false,
        // runc's init can stick in a notified call before the handover, as under the notify
        // monitor: watched for the same way.
        handover_timeout: Some(HANDOVER_CHECK),
        ..SupervisorConfig::default()
    };
    let mut unseen = NotifySupervisor::new(listener, shared.unseen_side(), config);
    let kernel = EbpfSupervisor::new(shared.kernel_side(), registered, Some(HANDOVER_CHECK));
    let kernel_done = AtomicBool::new(false);
    let (watched, unseen_end) = std::thread::scope(|scope| {
        let notify = scope.spawn(|| {
            let end = run_watching_start(&mut unseen, launch, || {
                stop.load(Ordering::Relaxed) || kernel_done.load(Ordering::Relaxed)
            });
            log::info!(
                "unseen-call loop ends ({end:?}): {}",
                serde_json::to_string(&unseen.inspect()).unwrap_or_default()
            );
            drop(unseen);
            end
        });
        let watched = supervise(kernel, control, launch, stop);
        kernel_done.store(true, Ordering::Relaxed);
        (watched, notify.join())
    });
    let (end, kernel_side) = watched?;
    drop(kernel_side);
    match unseen_end {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => log::error!("the unseen-call loop failed: {e}"),
        Err(_) => log::error!("the unseen-call loop panicked"),
    }
    let sink = shared
        .into_inner()
        .context("the sink is still held by a loop")?;
    Ok((end, sink))
}

/// Runs the backend until its container is gone, or until asked to stop (seccomp notify then
/// closes its fds, ptrace detaches). Until the first handover it wakes every `HANDOVER_CHECK`: it
/// gives up once runc, which hands over or asks to be traced, is gone or has taken too long, and,
/// where a start can stick (see [`Backend::START_CAN_STICK`]), kills a runc init found stuck twice
/// in a row so that `create` fails instead of hanging.
fn supervise<B: Backend>(
    backend: B,
    control: ControlServer,
    launch: &Launch,
    stop: &AtomicBool,
) -> anyhow::Result<(RunEnd, B::Sink)> {
    let mut backend = backend.with_control(control);
    let end = run_watching_start(&mut backend, launch, || stop.load(Ordering::Relaxed))?;
    log_end(launch, end, &backend.inspect());
    Ok((end, backend.into_sink()))
}

/// Runs the backend until it ends otherwise than for want of a handover: see [`supervise`].
fn run_watching_start<B: Backend>(
    backend: &mut B,
    launch: &Launch,
    mut should_stop: impl FnMut() -> bool,
) -> Result<RunEnd, B::Error> {
    let started = std::time::Instant::now();
    let mut suspect = None;
    loop {
        let end = backend.run(&mut should_stop)?;
        if end != RunEnd::HandoverTimeout {
            return Ok(end);
        }
        let runc_alive = Path::new(&format!("/proc/{}", launch.runc_pid)).exists();
        if !runc_alive || started.elapsed() >= HANDOVER_GIVE_UP {
            log::warn!("nothing was handed over; runc is gone or gave up");
            return Ok(end);
        }
        if B::START_CAN_STICK {
            let found = stuck_init::find(launch.runc_pid as i32);
            match found {
                Some(stuck) if suspect == Some(stuck) => {
                    stuck_init::kill(launch, stuck, "create");
                    return Ok(end);
                }
                _ => suspect = found,
            }
        }
    }
}

/// Logs the monitor's last counters and keeps them in `<runs_dir>/<id>.final.json`: the state
/// dir, log included, goes with `delete`.
fn log_end(launch: &Launch, end: RunEnd, doc: &serde_json::Value) {
    log::info!(
        "monitor ends ({end:?}): {}",
        serde_json::to_string(doc).unwrap_or_default()
    );
    let path = launch.runs_dir.join(format!("{}.final.json", launch.id));
    let written = std::fs::create_dir_all(&launch.runs_dir).and_then(|()| {
        ids_monitor::record::atomic_file::write_atomically(
            &path,
            &serde_json::to_vec_pretty(
                &serde_json::json!({ "end": format!("{end:?}"), "state": doc }),
            )
            .unwrap_or_default(),
        )
    });
    if let Err(e) = written {
        log::error!("cannot write {}: {e}", path.display());
    }
}

/// After the loop: a container that no longer exists (run without --keep, or a create that failed)
/// has nobody left to call delete, so the monitor removes its state itself — but only while the
/// directory is still its own: a new container with the same id (`docker restart`, a rerun of
/// `runc run`) may already have replaced it.
///
/// `delete` asks the monitor to stop (SIGTERM) once runc has deleted the container, and waits for
/// it: the wait must end as soon as it is asked to, not after the next look at runc.
fn finish(launch: &Launch, state: &StateDir, recorded_as: u32, end: RunEnd, stop: &AtomicBool) {
    if end == RunEnd::Stopped {
        return;
    }
    let own = || state.recorded_monitor_pid() == Some(recorded_as as i32);
    let runc = Runc {
        path: launch.runc.clone(),
    };
    for _ in 0..100 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if !runc.knows(launch.runc_root.as_deref(), &launch.id) {
            if own() {
                let _ = state.remove();
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
