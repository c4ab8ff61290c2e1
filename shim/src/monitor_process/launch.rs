//! `launch.json` in the state dir: everything `create` decided that the monitor must know. Written
//! by `create` before the monitor starts; read by the monitor once.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ids_detector::parameters::Parameters;
use ids_monitor::backend::ptrace::PtraceStops;
use ids_monitor::backend::MonitorKind;
use ids_monitor::policy::{Policy, UnseenSyscallAction};
use ids_monitor::profile::provenance::Provenance;
use ids_monitor::record::atomic_file::write_atomically;
use ids_monitor::record::event_log::EventLog;
use ids_monitor::record::event_sinks::EventSinks;
use serde::{Deserialize, Serialize};

use ids_monitor::mode::Mode;

pub const FILE_NAME: &str = "launch.json";
/// The profile detection runs with, copied into the state dir (it may come from the image).
pub const PROFILE_NAME: &str = "profile.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    pub id: String,
    pub mode: Mode,
    pub monitor: MonitorKind,
    pub profile_name: String,
    /// The profile to detect with.
    pub profile: Option<PathBuf>,
    /// Where to save a learned profile.
    pub save_to: Option<PathBuf>,
    /// Who learnt the profile, this container included; saved with it.
    #[serde(default)]
    pub provenance: Option<Provenance>,
    pub policy: Policy,
    /// Detector parameters when learning from nothing.
    pub parameters: Parameters,
    pub save_interval_secs: u64,
    pub events_path: PathBuf,
    /// Where events go besides the events file (host config `syslog`, `falco_events_path`).
    /// Left out when there are none, so an ids-runc without sinks reads the file as before.
    #[serde(default, skip_serializing_if = "no_sinks")]
    pub event_sinks: EventSinks,
    pub runs_dir: PathBuf,
    /// The real runc and its --root, to tell whether the container still exists.
    pub runc: PathBuf,
    pub runc_root: Option<PathBuf>,
    /// The runc that creates the container (ids-runc's pid, which runc keeps across exec).
    pub runc_pid: u32,
    pub sync_wake_up: bool,
    /// How the ptrace monitor stops calls.
    #[serde(default)]
    pub ptrace_stops: PtraceStops,
    /// The ebpf monitor: the container's cgroup (v2) directory, where runc will put it.
    #[serde(default)]
    pub cgroup: Option<PathBuf>,
    /// The ebpf monitor: the kernel's BTF (host config `kernel_btf`), if not the default.
    #[serde(default)]
    pub kernel_btf: Option<PathBuf>,
    /// Bags the normal database may hold (host config `max_database_entries`).
    #[serde(default = "default_max_database_entries")]
    pub max_database_entries: usize,
}

fn no_sinks(sinks: &EventSinks) -> bool {
    *sinks == EventSinks::default()
}

fn default_max_database_entries() -> usize {
    crate::config::host::DEFAULT_MAX_DATABASE_ENTRIES
}

/// Whether the ebpf monitor needs the container's seccomp filter to send it the calls of syscalls
/// the profile never saw, before they run: only detection against a profile can tell them, and
/// only `deny` must keep the call from running. The kernel logs such a call as it runs, and kills
/// its caller at `sys_enter` (it dies before the call returns) without the monitor: a notified
/// call would wait for a monitor that may be dead.
pub fn unseen_through_seccomp(
    monitor: MonitorKind,
    mode: Mode,
    has_profile: bool,
    policy: &Policy,
) -> bool {
    monitor == MonitorKind::Ebpf
        && mode == Mode::Detect
        && has_profile
        && policy.on_unseen_syscall == UnseenSyscallAction::Deny
}

impl Launch {
    /// See [`unseen_through_seccomp`].
    pub fn unseen_through_seccomp(&self) -> bool {
        unseen_through_seccomp(
            self.monitor,
            self.mode,
            self.profile.is_some(),
            &self.policy,
        )
    }

    pub fn write(&self, state_dir: &Path) -> anyhow::Result<()> {
        let path = state_dir.join(FILE_NAME);
        write_atomically(&path, &serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The events file and the other sinks this container's events go to.
    pub fn event_log(&self) -> EventLog {
        EventLog::new(&self.events_path).with_sinks(&self.event_sinks)
    }

    /// The profile this container's learning saved last, if it learns and has saved: what a
    /// monitor started again after a death goes on from.
    pub fn saved_profile(&self) -> Option<&Path> {
        let learns = matches!(self.mode, Mode::Learn | Mode::LearnDetect);
        self.save_to
            .as_deref()
            .filter(|path| learns && path.exists())
    }

    pub fn read(state_dir: &Path) -> anyhow::Result<Launch> {
        let path = state_dir.join(FILE_NAME);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("invalid {}", path.display()))
    }
}
