//! `create` and `run`: decide how the container is monitored, start its monitor, point the
//! container's seccomp profile at it (or, for the ptrace monitor, have it trace this process),
//! then hand the very same command line to runc.
//!
//! No container runs unmonitored by surprise: if it should be monitored and anything on the way
//! fails (a malformed profile, a monitor that cannot start), `create` fails with the reason —
//! unless the host config says `"fail_open": true`: then the container runs unmonitored, and the
//! reason goes to the runtime log and the events file.

use std::time::Duration;

use anyhow::Context;
use ids_monitor::backend::ptrace::PtraceStops;
use ids_monitor::backend::MonitorKind;
use ids_monitor::backend::Origin;
use ids_monitor::record::events::{ActionTaken, Event, EventKind};

use crate::config::host::{FallbackMonitor, HostConfig};
use crate::config::selection::{self, Selection};
use crate::container::bundle::BundleConfig;
use crate::container::own_agent;
use crate::container::runs_retention::{self, Retention};
use crate::container::state_dir::StateDir;
use crate::monitor_process;
use crate::monitor_process::launch::{self, Launch};
use crate::runc::args::RuncArgs;
use crate::runc::Runc;
use ids_detector::parameters::{Parameters, Scorer};
use ids_monitor::mode::Mode;

/// How long the monitor may take to bind its sockets.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_SAVE_INTERVAL_SECS: u64 = 30;

pub fn run(runc: &Runc, args: &RuncArgs, host: &HostConfig) -> anyhow::Result<i32> {
    let id = args
        .container_id()
        .and_then(|id| id.to_str())
        .context("no container id given")?;
    let bundle = args.bundle().context("cannot tell the bundle directory")?;
    let config = BundleConfig::load(&bundle, &host.state_root())?;
    let state = StateDir::new(&host.state_root(), args.global.root.as_deref(), id)?;
    prune_runs(host, id);
    let monitored = selection::select(&config.spec, &bundle, id, host)
        .inspect_err(|err| record_refused_learning(host, id, err))
        .with_context(|| format!("{}", config.path().display()))
        .and_then(|selection| {
            if selection.mode == Mode::Off {
                return Ok(false);
            }
            start_monitor(runc, args, id, host, &config, &state, &selection).with_context(|| {
                format!(
                    "container {id} is to be monitored ({} {}) and its monitor could not start",
                    selection.mode_source, selection.mode
                )
            })
        });
    match monitored {
        // What an earlier create on this bundle wrote must not reach runc.
        Ok(false) if config.undone => config.restore()?,
        Ok(_) => {}
        Err(err) if host.fail_open => {
            let _ = state.remove();
            let msg = format!("{err:#}; running it unmonitored because fail_open is set");
            crate::runc::log::report_warning(&args.global, &msg);
            record_fail_open(host, id, &msg);
            config.restore()?;
        }
        Err(err) => {
            let _ = state.remove();
            return Err(err);
        }
    }
    Err(runc.exec(&args.words))
}

/// Starts the container's monitor and points the container at it. True if config.json was
/// rewritten.
fn start_monitor(
    runc: &Runc,
    args: &RuncArgs,
    id: &str,
    host: &HostConfig,
    config: &BundleConfig,
    state: &StateDir,
    selection: &Selection,
) -> anyhow::Result<bool> {
    // The notify monitor needs the container's seccomp profile pointed at it; the ptrace monitor
    // leaves it alone and traces runc itself, from this process on.
    // With PTRACE_SYSCALL stops there is nothing to rewrite; with seccomp stops, its ALLOW
    // rules become TRACE rules. A container with its own seccomp agent keeps its profile as it is:
    // unless ebpf (which touches it only for unseen=deny) was chosen, ptrace with syscall stops
    // watches it.
    let chosen = match selection.monitor {
        MonitorKind::Ebpf => ebpf_or_fallback(host, id, selection)?,
        other => other,
    };
    let own_agent = own_agent::reason(&config.spec).filter(|_| chosen != MonitorKind::Ebpf);
    let (monitor, ptrace_stops) = match own_agent {
        Some(_) => (MonitorKind::Ptrace, PtraceStops::Syscall),
        None => (chosen, host.ptrace_stops.unwrap_or_default()),
    };
    let new_spec = match monitor {
        MonitorKind::Ptrace => {
            let checked = ensure_own_pid_namespace(&config.spec, own_agent.is_none());
            let checked = match &own_agent {
                Some(reason) => checked
                    .with_context(|| format!("{reason}, so only the ptrace monitor can watch it")),
                None => checked,
            };
            checked.with_context(|| format!("{}", config.path().display()))?;
            match ptrace_stops {
                PtraceStops::Syscall => None,
                PtraceStops::Seccomp => Some(config.with_trace()?),
            }
        }
        // The kernel judges the calls that pass the container's profile, which stays as it is
        // unless unseen calls must be refused before they run: then the calls of syscalls the
        // profile never saw are notified to the monitor.
        MonitorKind::Ebpf => {
            let parameters = host.parameters.unwrap_or_default();
            ensure_kernel_can_score(selection.profile.as_ref(), &parameters)?;
            ensure_own_pid_namespace(&config.spec, true)
                .with_context(|| format!("{}", config.path().display()))?;
            match &selection.profile {
                Some(found)
                    if launch::unseen_through_seccomp(
                        monitor,
                        selection.mode,
                        true,
                        &selection.policy,
                    ) =>
                {
                    if let Some(reason) = own_agent::reason(&config.spec) {
                        anyhow::bail!(
                            "{reason}, so the ebpf monitor cannot refuse unseen syscalls before they \
                             run: use unseen=log"
                        );
                    }
                    let seen = found.profile.syscalls.iter().cloned().collect();
                    Some(config.with_notify_unseen(&state.seccomp_socket(), &seen)?)
                }
                _ => None,
            }
        }
        _ => Some(config.with_notify(&state.seccomp_socket())?),
    };
    state.create()?;
    let profile = match &selection.profile {
        Some(found) => {
            let path = state.path().join(launch::PROFILE_NAME);
            found
                .profile
                .save(&path)
                .with_context(|| format!("cannot copy profile {}", found.origin))?;
            Some(path)
        }
        None => None,
    };
    Launch {
        id: id.to_owned(),
        mode: selection.mode,
        monitor,
        profile_name: selection.profile_name.clone(),
        profile,
        save_to: selection.save_to.clone(),
        provenance: selection.provenance.clone(),
        policy: selection.policy,
        parameters: host.parameters.unwrap_or_default(),
        save_interval_secs: host
            .save_interval_secs
            .unwrap_or(DEFAULT_SAVE_INTERVAL_SECS),
        events_path: host.events_path(),
        event_sinks: host.event_sinks(),
        runs_dir: host.runs_dir(),
        runc: runc.path.clone(),
        runc_root: args.global.root.clone(),
        runc_pid: std::process::id(),
        sync_wake_up: host.sync_wake_up.unwrap_or(true),
        ptrace_stops,
        cgroup: match monitor {
            MonitorKind::Ebpf => Some(container_cgroup(
                &config.spec,
                id,
                args.global.systemd_cgroup,
            )?),
            _ => None,
        },
        kernel_btf: host.kernel_btf.clone(),
        max_database_entries: host.max_database_entries(),
    }
    .write(state.path())?;
    let pid = monitor_process::start(state, READY_TIMEOUT)?;
    let attached = new_spec
        .as_ref()
        .map_or(Ok(()), |spec| config.rewrite(spec))
        .and_then(|()| match monitor {
            MonitorKind::Ptrace => monitor_process::trace_me(state, Origin::Creating),
            _ => Ok(()),
        });
    if let Err(err) = attached {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        return Err(err);
    }
    if let Some(reason) = own_agent {
        record_monitor_chosen(host, id, selection, &reason);
    }
    Ok(new_spec.is_some())
}

/// The ebpf monitor if this kernel can run its program (loaded now if it is not yet, so that the
/// monitor only registers the container); else the host's `fallback_monitor`, with a
/// `monitor-error` event saying why, or the reason as `create`'s error.
fn ebpf_or_fallback(
    host: &HostConfig,
    id: &str,
    selection: &Selection,
) -> anyhow::Result<MonitorKind> {
    let loaded = monitor_process::kernel::setup(host.kernel_btf.as_deref())
        .and_then(|setup| Ok(setup.load()?));
    let Err(err) = loaded else {
        return Ok(MonitorKind::Ebpf);
    };
    let Some(FallbackMonitor::SeccompNotify) = host.fallback_monitor else {
        return Err(err);
    };
    let fallback = MonitorKind::SeccompNotify;
    let mut event = Event::now(
        id,
        &selection.profile_name,
        selection.mode,
        fallback,
        EventKind::MonitorError,
    );
    event.action = ActionTaken::None;
    event.message = Some(format!(
        "{err:#}; watched by the seccomp-notify monitor instead (host config fallback_monitor)"
    ));
    log::warn!("{}", event.message.as_deref().unwrap_or_default());
    if let Err(e) = host.event_log().write(&event, true) {
        eprintln!("ids-runc: {e}");
    }
    Ok(fallback)
}

/// Where runc will put the container in the cgroup v2 hierarchy, as the config asks.
fn container_cgroup(
    spec: &serde_json::Value,
    id: &str,
    systemd: bool,
) -> anyhow::Result<std::path::PathBuf> {
    let path = spec.pointer("/linux/cgroupsPath").and_then(|p| p.as_str());
    Ok(
        ids_ebpf::cgroup::unified_root()?
            .join(ids_ebpf::cgroup::container_path(path, id, systemd)?),
    )
}

/// The in-kernel monitor judges windows by the paper's rule only (exact bag match, counted per
/// epoch): a profile, or the host's parameters for a new one, asking for another scorer cannot run
/// in it, and is refused before the container starts rather than judged by a rule it did not ask
/// for.
fn ensure_kernel_can_score(
    profile: Option<&crate::config::found_profile::FoundProfile>,
    host: &Parameters,
) -> anyhow::Result<()> {
    let (scorer, origin) = match profile {
        Some(found) => (found.profile.parameters.scorer, found.origin.clone()),
        None => (host.scorer, "the host config's parameters".to_string()),
    };
    match scorer {
        Scorer::Bosc => Ok(()),
        Scorer::Backoff { .. } => anyhow::bail!(
            "{origin} asks for the backoff scorer, which the ebpf monitor cannot run (the kernel \
             judges by exact bag match only): use the seccomp-notify or ptrace monitor, or \
             parameters.scorer \"bosc\""
        ),
    }
}

/// The ptrace and ebpf monitors tell the container's processes from runc's by their pid
/// namespace. `suggest_notify`: whether the seccomp-notify monitor is a way out (not for a
/// container with its own seccomp agent).
fn ensure_own_pid_namespace(spec: &serde_json::Value, suggest_notify: bool) -> anyhow::Result<()> {
    let has_pid_ns = spec
        .pointer("/linux/namespaces")
        .and_then(|n| n.as_array())
        .is_some_and(|namespaces| {
            namespaces
                .iter()
                .any(|ns| ns.get("type").and_then(|t| t.as_str()) == Some("pid"))
        });
    anyhow::ensure!(
        has_pid_ns,
        "the ptrace and ebpf monitors need the container in a pid namespace of its own \
         (linux.namespaces has no \"pid\"; docker --pid=host?){}",
        if suggest_notify {
            "; use the seccomp-notify monitor"
        } else {
            ""
        }
    );
    Ok(())
}

/// An attempt to extend a profile bound to another workload is an event, whatever happens next.
fn record_refused_learning(host: &HostConfig, id: &str, err: &anyhow::Error) {
    let Some(refused) = err.downcast_ref::<crate::config::binding::Refused>() else {
        return;
    };
    let mut event = Event::now(
        id,
        &refused.profile,
        Mode::Learn,
        MonitorKind::SeccompNotify,
        EventKind::LearnRefused,
    );
    event.message = Some(format!("{err:#}"));
    if let Err(e) = host.event_log().write(&event, true) {
        eprintln!("ids-runc: {e}");
    }
}

/// The events file says why a container is watched by another monitor than it asked for.
fn record_monitor_chosen(host: &HostConfig, id: &str, selection: &Selection, reason: &str) {
    let mut event = Event::now(
        id,
        &selection.profile_name,
        selection.mode,
        MonitorKind::Ptrace,
        EventKind::MonitorChosen,
    );
    event.action = ActionTaken::None;
    event.message = Some(format!(
        "watched by the ptrace monitor with syscall stops: {reason}; its seccomp section is left \
         as it is"
    ));
    if let Err(e) = host.event_log().write(&event, true) {
        eprintln!("ids-runc: {e}");
    }
}

/// The events file must show that a container that should be watched is not.
fn record_fail_open(host: &HostConfig, id: &str, msg: &str) {
    let mut event = Event::now(
        id,
        "",
        Mode::Off,
        MonitorKind::SeccompNotify,
        EventKind::MonitorError,
    );
    event.action = ActionTaken::None;
    event.message = Some(msg.to_owned());
    if let Err(e) = host.event_log().write(&event, true) {
        eprintln!("ids-runc: {e}");
    }
}

/// Applies the runs dir's retention (`runs_retention.rs`) now, a cheap moment that comes often
/// enough; a failure is logged and never fails `create`. This container's files are kept, and
/// those of every container with a state dir.
fn prune_runs(host: &HostConfig, id: &str) {
    let retention = Retention::from_config(host.runs_max_age_days, host.runs_max_bytes);
    let root = host.state_root();
    let exists =
        |run: &str| run == id || StateDir::all(&root).iter().any(|d| d.container_id() == run);
    let dir = host.runs_dir();
    match runs_retention::prune(&dir, retention, std::time::SystemTime::now(), exists) {
        Ok(pruned) if pruned.containers > 0 => log::info!(
            "pruned {}: the files of {} ended containers ({} bytes)",
            dir.display(),
            pruned.containers,
            pruned.bytes
        ),
        Ok(_) => {}
        Err(e) => log::warn!("cannot prune {}: {e}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::found_profile::FoundProfile;
    use ids_detector::parameters::DEFAULT_SURPRISE;

    #[test]
    fn the_ebpf_monitor_refuses_a_backoff_profile_in_one_line() {
        let backoff = Parameters {
            scorer: Scorer::Backoff {
                surprise: DEFAULT_SURPRISE,
            },
            ..Parameters::default()
        };
        let mut profile = ids_monitor::testing::trained_profile("svc");
        let found = |profile: &ids_monitor::profile::Profile| FoundProfile {
            profile: profile.clone(),
            origin: "profile /p/svc.json".to_string(),
        };
        assert!(ensure_kernel_can_score(Some(&found(&profile)), &backoff).is_ok());
        profile.parameters.scorer = backoff.scorer;
        let error = ensure_kernel_can_score(Some(&found(&profile)), &Parameters::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("profile /p/svc.json asks for the backoff scorer")
                && !error.contains('\n'),
            "{error}"
        );
        let error = ensure_kernel_can_score(None, &backoff)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("the host config's parameters"), "{error}");
        assert!(ensure_kernel_can_score(None, &Parameters::default()).is_ok());
    }
}
