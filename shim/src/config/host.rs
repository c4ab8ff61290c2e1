//! `/etc/ids-runc/config.json`: the host's settings for ids-runc. The file is optional; every key in
//! it is optional. `IDS_RUNC_CONFIG` names another file (tests, several installs on one host).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

pub const DEFAULT_PATH: &str = "/etc/ids-runc/config.json";
pub const PATH_ENV: &str = "IDS_RUNC_CONFIG";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct HostConfig {
    /// The real runc: an absolute path.
    pub runtime: Option<PathBuf>,
    /// Where per-container state (monitor sockets, pid, log) lives; default `/run/ids-runc`.
    pub state_dir: Option<PathBuf>,
    /// If a monitored container's monitor cannot start, run the container unmonitored (and log
    /// why) instead of failing `create`. Off by default: no container runs unmonitored by surprise.
    #[serde(default)]
    pub fail_open: bool,
    /// The host store of profiles; default `/var/lib/ids-runc/profiles`.
    pub profile_dir: Option<PathBuf>,
    /// Directories whose profiles a container's settings (`io.ids-runc.profile`,
    /// `IDS_RUNC_PROFILE`) may name by absolute path, read only; default none: such a path is
    /// refused at `create` (see `profile_ref.rs`).
    #[serde(default)]
    pub profile_path_dirs: Vec<PathBuf>,
    /// Bind each profile of the store to the workload that first learnt it: a container of
    /// another image (or Kubernetes namespace) cannot extend it. Off by default (see
    /// `binding.rs`).
    #[serde(default)]
    pub bind_profiles: bool,
    /// Profiles the host binds to a workload by name: `{"web": {"image": "…", "namespace": "…"}}`.
    #[serde(default)]
    pub profile_owners: std::collections::BTreeMap<String, Owner>,
    /// The events file; default `/var/log/ids-runc/events.jsonl`.
    pub events_path: Option<PathBuf>,
    /// Where monitors keep per-epoch records of each container, for reports; default
    /// `/var/lib/ids-runc/runs`.
    pub runs_dir: Option<PathBuf>,
    /// Mode of a container that names none and has no profile; default off.
    pub default_mode: Option<ids_monitor::mode::Mode>,
    /// Monitor when nothing names one; default seccomp-notify.
    pub default_monitor: Option<String>,
    /// Action when neither the container nor its profile sets one (`log`, `kill`, `deny`, or
    /// `anomaly=…,unseen=…`); default log.
    pub default_action: Option<String>,
    /// Detector parameters for learning (window, epoch, threshold, streams, training).
    pub parameters: Option<ids_detector::parameters::Parameters>,
    /// Ask the kernel to wake the monitor synchronously (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
    /// Linux ≥ 6.6); default true. Off only to measure what it brings.
    pub sync_wake_up: Option<bool>,
    /// Seconds between two saves of a profile being learnt; default 30.
    pub save_interval_secs: Option<u64>,
    /// How the ptrace monitor stops calls: `syscall` (PTRACE_SYSCALL, the default: the container
    /// outlives its monitor) or `seccomp` (SECCOMP_RET_TRACE: one stop per call, faster, but the
    /// container's calls fail with ENOSYS once its monitor is gone).
    pub ptrace_stops: Option<ids_monitor::backend::ptrace::PtraceStops>,
    /// Bags a container's normal database may hold (about 90 bytes each); default 1,000,000.
    /// At the limit learning adds no new bag, one `database-full` event is written, and the
    /// monitor goes on (detection judges against what was learnt).
    pub max_database_entries: Option<usize>,
    /// Also send each event to syslog: `{}` for `/dev/log` (journald, rsyslog) with facility
    /// `daemon`, or `{"socket": PATH, "facility": "local0"}`; default off.
    pub syslog: Option<ids_monitor::record::syslog::SyslogConfig>,
    /// Also append each event in Falco's JSON output format to this file (for Falcosidekick and
    /// Falco's other tooling); default off.
    pub falco_events_path: Option<PathBuf>,
    /// Files of containers ended longer ago than this many days are removed from the runs dir
    /// (at `create`); default 30, 0 for never.
    pub runs_max_age_days: Option<u64>,
    /// The runs dir is kept below this many bytes by removing the files of the containers that
    /// ended first (at `create`); default 1 GiB, 0 for no limit.
    pub runs_max_bytes: Option<u64>,
    /// Where the ebpf monitor cannot run (no BTF, no CAP_BPF, a kernel that refuses the
    /// program), watch the container with this monitor instead, and write a `monitor-error`
    /// event saying why; without it such a `create` fails. Only `seccomp-notify`.
    pub fallback_monitor: Option<FallbackMonitor>,
    /// The kernel's BTF the ebpf monitor's program is relocated against; default
    /// `/sys/kernel/btf/vmlinux` (a kernel built without it can be given a BTF file made for it).
    pub kernel_btf: Option<PathBuf>,
    /// What no container, image or profile can weaken: `{"mode": …, "action": …}` (see
    /// `config/mandatory.rs`).
    pub mandatory: Option<crate::config::mandatory::Mandatory>,
    /// The file these settings come from, whether or not it exists (not a key of the file).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// Host config `fallback_monitor`: the monitor for a container that asked for ebpf where ebpf
/// cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FallbackMonitor {
    SeccompNotify,
}

/// Host config `profile_owners.<name>`: the workload that alone may extend that profile (see
/// `binding.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    /// The image's name or id (digest; under docker the image id, `docker inspect -f {{.Image}}`).
    pub image: Option<String>,
    pub namespace: Option<String>,
}

/// Default of `max_database_entries`: about 90 MB of bags per container.
pub const DEFAULT_MAX_DATABASE_ENTRIES: usize = 1_000_000;

impl HostConfig {
    pub fn max_database_entries(&self) -> usize {
        self.max_database_entries
            .unwrap_or(DEFAULT_MAX_DATABASE_ENTRIES)
    }

    pub fn profile_dir(&self) -> PathBuf {
        self.profile_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/lib/ids-runc/profiles"))
    }

    pub fn events_path(&self) -> PathBuf {
        self.events_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(ids_monitor::record::events::DEFAULT_PATH))
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.runs_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/lib/ids-runc/runs"))
    }

    /// Where events go besides the events file.
    pub fn event_sinks(&self) -> ids_monitor::record::event_sinks::EventSinks {
        ids_monitor::record::event_sinks::EventSinks {
            syslog: self.syslog.clone(),
            falco_path: self.falco_events_path.clone(),
        }
    }

    /// The events file and every other place the host config sends events.
    pub fn event_log(&self) -> ids_monitor::record::event_log::EventLog {
        ids_monitor::record::event_log::EventLog::new(&self.events_path())
            .with_sinks(&self.event_sinks())
    }

    pub fn state_root(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::container::state_dir::DEFAULT_ROOT))
    }

    /// Reads the config named by `IDS_RUNC_CONFIG`, else the default path. A missing file is an empty
    /// config; a file that cannot be read or parsed is an error naming it.
    pub fn load() -> anyhow::Result<Self> {
        let path = std::env::var_os(PATH_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
        Self::load_from(&path)
    }

    pub fn load_from(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    source: Some(path.to_owned()),
                    ..Self::default()
                })
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut config: HostConfig = serde_json::from_str(&text)
            .with_context(|| format!("invalid ids-runc config {}", path.display()))?;
        if let Some(dir) = config.profile_path_dirs.iter().find(|d| !d.is_absolute()) {
            anyhow::bail!(
                "invalid ids-runc config {}: profile_path_dirs: {} is not an absolute path",
                path.display(),
                dir.display()
            );
        }
        config.source = Some(path.to_owned());
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_empty_config() {
        let c = HostConfig::load_from(Path::new("/nonexistent/ids-runc.json")).unwrap();
        assert!(c.runtime.is_none());
    }

    #[test]
    fn bad_file_names_itself_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"runtim": "/usr/bin/runc"}"#).unwrap();
        let err = format!("{:#}", HostConfig::load_from(&path).unwrap_err());
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("runtim"), "{err}");
    }

    #[test]
    fn listed_profile_directories_must_be_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"profile_path_dirs": ["/srv/profiles", "rel"]}"#).unwrap();
        let err = format!("{:#}", HostConfig::load_from(&path).unwrap_err());
        assert!(err.contains("profile_path_dirs: rel"), "{err}");
    }

    #[test]
    fn reads_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"runtime": "/opt/runc"}"#).unwrap();
        let c = HostConfig::load_from(&path).unwrap();
        assert_eq!(c.runtime, Some(PathBuf::from("/opt/runc")));
    }

    #[test]
    fn database_limit_has_a_default_and_can_be_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert_eq!(
            HostConfig::load_from(&path).unwrap().max_database_entries(),
            DEFAULT_MAX_DATABASE_ENTRIES
        );
        std::fs::write(&path, r#"{"max_database_entries": 500}"#).unwrap();
        assert_eq!(
            HostConfig::load_from(&path).unwrap().max_database_entries(),
            500
        );
    }
}
