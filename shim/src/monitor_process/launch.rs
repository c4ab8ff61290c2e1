//! `launch.json` in the state dir: everything `create` decided that the monitor must know. Written
//! by `create` before the monitor starts; read by the monitor once.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ids_detector::parameters::Parameters;
use ids_monitor::backend::ptrace::PtraceStops;
use ids_monitor::backend::MonitorKind;
use ids_monitor::policy::Policy;
use ids_monitor::profile::provenance::Provenance;
use ids_monitor::record::atomic_file::write_atomically;
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
    /// Bags the normal database may hold (host config `max_database_entries`).
    #[serde(default = "default_max_database_entries")]
    pub max_database_entries: usize,
}

fn default_max_database_entries() -> usize {
    crate::config::host::DEFAULT_MAX_DATABASE_ENTRIES
}

impl Launch {
    pub fn write(&self, state_dir: &Path) -> anyhow::Result<()> {
        let path = state_dir.join(FILE_NAME);
        write_atomically(&path, &serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))
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
