//! Whether a container is monitored, how, and against which profile — read from its bundle.
//!
//! Each setting (mode, profile, monitor, action) is taken from the first place that has it:
//! 1. the OCI annotations `io.ids-runc.mode|profile|monitor|action`;
//! 2. the container's env `IDS_RUNC_MODE|PROFILE|MONITOR|ACTION` (docker 20.10 has no
//!    `--annotation`, so `docker run -e` must work);
//! 3. a profile shipped in the image at `/etc/ids-runc/profile.json` (read inside the rootfs,
//!    never following a link out of it);
//! 4. the host store `<profile_dir>/<name>.json` (name: the container id unless one is given);
//! 5. the defaults of the host config.
//!
//! A profile found in 3 or 4 without any mode given means `detect`. A value that is not valid is an
//! error naming where it came from: a typo must never leave a container unmonitored silently.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ids_monitor::backend::MonitorKind;
use ids_monitor::policy::{AnomalyAction, Policy, UnseenSyscallAction};

use crate::config::found_profile::{self, FoundProfile};
use crate::config::host::HostConfig;
use crate::config::image_profile;
use crate::config::mandatory::Mandatory;
use ids_monitor::mode::Mode;

const ANNOTATION_PREFIX: &str = "io.ids-runc.";
const ENV_PREFIX: &str = "IDS_RUNC_";

/// Everything the monitor of one container needs to know.
#[derive(Debug, Clone)]
pub struct Selection {
    pub mode: Mode,
    /// Where the mode came from, for messages.
    pub mode_source: String,
    pub monitor: MonitorKind,
    /// The profile's name in events, and the store name a learned profile is saved under.
    pub profile_name: String,
    /// The profile to detect with (detect mode), or to go on learning from (learn mode).
    pub profile: Option<FoundProfile>,
    /// Where a learned profile is written (learn modes).
    pub save_to: Option<PathBuf>,
    pub policy: Policy,
}

/// One setting: its value and where it came from.
struct Setting {
    value: String,
    source: String,
}

impl Setting {
    /// An error about this setting, naming where it came from.
    fn error(&self, reason: String) -> anyhow::Error {
        anyhow::anyhow!("{}: {reason}", self.source)
    }
}

fn setting(spec: &serde_json::Value, key: &str) -> Option<Setting> {
    let annotation = format!("{ANNOTATION_PREFIX}{key}");
    if let Some(v) = spec["annotations"][&annotation].as_str() {
        return Some(Setting {
            value: v.to_owned(),
            source: format!("annotation {annotation}"),
        });
    }
    let env = format!("{ENV_PREFIX}{}", key.to_ascii_uppercase());
    spec["process"]["env"]
        .as_array()?
        .iter()
        .filter_map(|e| e.as_str()?.strip_prefix(env.as_str())?.strip_prefix('='))
        .next_back()
        .map(|v| Setting {
            value: v.to_owned(),
            source: format!("env {env}"),
        })
}

/// A profile named by a setting: an absolute path, or a name in the host store.
fn profile_path(value: &str, host: &HostConfig) -> Result<PathBuf, String> {
    if value.starts_with('/') {
        return Ok(PathBuf::from(value));
    }
    let ok = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        return Err(format!(
            "{value:?} is neither an absolute path nor a profile name ([A-Za-z0-9_.-])"
        ));
    }
    Ok(host.profile_dir().join(format!("{value}.json")))
}

fn parse_monitor(value: &str) -> Result<MonitorKind, String> {
    match value {
        "seccomp" | "notify" | "seccomp-notify" => Ok(MonitorKind::SeccompNotify),
        "ptrace" => Ok(MonitorKind::Ptrace),
        "ebpf" => Ok(MonitorKind::Ebpf),
        other => Err(format!(
            "unknown monitor {other:?} (expected seccomp-notify, ptrace or ebpf)"
        )),
    }
}

/// An action setting: `log`, `kill` and `deny` set both rules at once (`deny` fails unseen
/// syscalls with EPERM and logs anomalies); `anomaly=kill,unseen=deny` sets them one by one.
fn parse_action(value: &str, base: Policy) -> Result<Policy, String> {
    let anomaly = |v: &str| match v {
        "log" => Ok(AnomalyAction::Log),
        "kill" => Ok(AnomalyAction::Kill),
        other => Err(format!(
            "unknown anomaly action {other:?} (expected log or kill)"
        )),
    };
    let unseen = |v: &str| match v {
        "ignore" => Ok(UnseenSyscallAction::Ignore),
        "log" => Ok(UnseenSyscallAction::Log),
        "kill" => Ok(UnseenSyscallAction::Kill),
        "deny" => Ok(UnseenSyscallAction::Deny),
        other => Err(format!(
            "unknown unseen-syscall action {other:?} (expected ignore, log, kill or deny)"
        )),
    };
    match value {
        "log" => Ok(Policy {
            on_anomaly: AnomalyAction::Log,
            on_unseen_syscall: UnseenSyscallAction::Log,
        }),
        "kill" => Ok(Policy {
            on_anomaly: AnomalyAction::Kill,
            on_unseen_syscall: UnseenSyscallAction::Kill,
        }),
        "deny" => Ok(Policy {
            on_anomaly: AnomalyAction::Log,
            on_unseen_syscall: UnseenSyscallAction::Deny,
        }),
        list => {
            let mut policy = base;
            for part in list.split(',') {
                match part.split_once('=') {
                    Some(("anomaly", v)) => policy.on_anomaly = anomaly(v)?,
                    Some(("unseen", v)) => policy.on_unseen_syscall = unseen(v)?,
                    _ => {
                        return Err(format!(
                            "unknown action {part:?} (expected log, kill, deny, or \
                             anomaly=log|kill,unseen=ignore|log|kill|deny)"
                        ))
                    }
                }
            }
            Ok(policy)
        }
    }
}

/// Works out the selection for container `id` from its bundle's `spec`.
pub fn select(
    spec: &serde_json::Value,
    bundle: &Path,
    id: &str,
    host: &HostConfig,
) -> anyhow::Result<Selection> {
    let explicit_mode = match host.mandatory.as_ref().and_then(Mandatory::mode) {
        Some(mandatory) => Some(mandatory),
        None => setting(spec, "mode")
            .map(|s| {
                s.value
                    .parse::<Mode>()
                    .map(|m| (m, s.source.clone()))
                    .map_err(|e| s.error(e))
            })
            .transpose()?,
    };
    if explicit_mode.as_ref().is_some_and(|(m, _)| *m == Mode::Off) {
        return Ok(off(id));
    }

    let explicit_profile = setting(spec, "profile")
        .map(|s| {
            profile_path(&s.value, host)
                .map(|p| (p, s.value.clone()))
                .map_err(|e| s.error(e))
        })
        .transpose()?;

    // The profile detection would use: named, else shipped in the image, else the store's.
    let store_default = host.profile_dir().join(format!("{id}.json"));
    let found = match &explicit_profile {
        Some((path, _)) => path
            .exists()
            .then(|| found_profile::load(path))
            .transpose()?,
        None => match image_profile::read(bundle, spec)? {
            Some(found) => Some(found),
            None => store_default
                .exists()
                .then(|| found_profile::load(&store_default))
                .transpose()?,
        },
    };

    let (mode, mode_source) = match explicit_mode {
        Some(m) => m,
        None => match (&found, host.default_mode) {
            (Some(f), _) => (Mode::Detect, format!("profile {}", f.origin)),
            (None, Some(m)) => (m, "host config default_mode".into()),
            (None, None) => return Ok(off(id)),
        },
    };
    if mode == Mode::Off {
        return Ok(off(id));
    }

    let profile_name = match (&explicit_profile, &found) {
        (Some((_, value)), _) if !value.starts_with('/') => value.clone(),
        (_, Some(f)) => f.profile.name.clone(),
        _ => id.to_owned(),
    };
    let save_to = match mode {
        Mode::Learn | Mode::LearnDetect => Some(match &explicit_profile {
            Some((path, _)) => path.clone(),
            None => host.profile_dir().join(format!("{id}.json")),
        }),
        _ => None,
    };
    let profile = match mode {
        // Learning extends what earlier runs learnt under the same name.
        Mode::Learn => match &save_to {
            Some(path) if path.exists() => Some(found_profile::load(path)?),
            _ => None,
        },
        Mode::Detect => Some(found.with_context(|| {
            format!(
                "mode detect ({mode_source}) needs a profile, and none was found: {}",
                match &explicit_profile {
                    Some((path, _)) => format!("{} does not exist", path.display()),
                    None => format!(
                        "no {} in the image and no {}",
                        image_profile::PATH_IN_IMAGE,
                        store_default.display()
                    ),
                }
            )
        })?),
        _ => None,
    };

    let monitor = match setting(spec, "monitor") {
        Some(s) => parse_monitor(&s.value).map_err(|e| s.error(e))?,
        None => match &profile {
            Some(p) => p.profile.monitor.kind,
            None => match &host.default_monitor {
                Some(m) => parse_monitor(m)
                    .map_err(|e| anyhow::anyhow!("host config default_monitor: {e}"))?,
                None => MonitorKind::SeccompNotify,
            },
        },
    };
    anyhow::ensure!(
        monitor != MonitorKind::Offline,
        "profile {profile_name}: it comes from recorded traces and names no monitor to run; \
         set io.ids-runc.monitor (seccomp-notify or ptrace)"
    );

    let base = match &profile {
        Some(p) => p.profile.policy,
        None => match &host.default_action {
            Some(a) => parse_action(a, Policy::default())
                .map_err(|e| anyhow::anyhow!("host config default_action: {e}"))?,
            None => Policy::default(),
        },
    };
    let policy = match setting(spec, "action") {
        Some(s) => parse_action(&s.value, base).map_err(|e| s.error(e))?,
        None => base,
    };
    let policy = match host.mandatory.as_ref().and_then(|m| m.action.as_deref()) {
        Some(floor) => crate::config::mandatory::at_least(
            policy,
            parse_action(floor, Policy::default())
                .map_err(|e| anyhow::anyhow!("host config mandatory.action: {e}"))?,
        ),
        None => policy,
    };

    Ok(Selection {
        mode,
        mode_source,
        monitor,
        profile_name,
        profile,
        save_to,
        policy,
    })
}

fn off(id: &str) -> Selection {
    Selection {
        mode: Mode::Off,
        mode_source: "default".into(),
        monitor: MonitorKind::SeccompNotify,
        profile_name: id.to_owned(),
        profile: None,
        save_to: None,
        policy: Policy::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn host(dir: &Path) -> HostConfig {
        HostConfig {
            profile_dir: Some(dir.to_owned()),
            ..HostConfig::default()
        }
    }

    fn no_bundle() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        dir
    }

    #[test]
    fn annotation_wins_over_env() {
        let store = tempfile::tempdir().unwrap();
        let bundle = no_bundle();
        let spec = json!({
            "annotations": { "io.ids-runc.mode": "null" },
            "process": { "env": ["PATH=/bin", "IDS_RUNC_MODE=learn"] }
        });
        let s = select(&spec, bundle.path(), "c1", &host(store.path())).unwrap();
        assert_eq!(s.mode, Mode::Null);
        assert!(s.mode_source.contains("annotation"));
    }

    #[test]
    fn learn_saves_under_the_container_id_or_the_given_name() {
        let store = tempfile::tempdir().unwrap();
        let bundle = no_bundle();
        let spec = json!({ "process": { "env": ["IDS_RUNC_MODE=learn"] } });
        let s = select(&spec, bundle.path(), "c1", &host(store.path())).unwrap();
        assert_eq!(s.mode, Mode::Learn);
        assert_eq!(s.save_to, Some(store.path().join("c1.json")));
        let spec = json!({ "process": { "env": ["IDS_RUNC_MODE=learn", "IDS_RUNC_PROFILE=web"] } });
        let s = select(&spec, bundle.path(), "c1", &host(store.path())).unwrap();
        assert_eq!(s.save_to, Some(store.path().join("web.json")));
        assert_eq!(s.profile_name, "web");
    }

    #[test]
    fn nothing_means_off() {
        let store = tempfile::tempdir().unwrap();
        let bundle = no_bundle();
        let s = select(&json!({}), bundle.path(), "c1", &host(store.path())).unwrap();
        assert_eq!(s.mode, Mode::Off);
        let spec = json!({ "process": { "env": ["IDS_RUNC_MODEX=learn"] } });
        let s = select(&spec, bundle.path(), "c1", &host(store.path())).unwrap();
        assert_eq!(s.mode, Mode::Off);
    }

    #[test]
    fn typos_are_errors_naming_their_source() {
        let store = tempfile::tempdir().unwrap();
        let bundle = no_bundle();
        let h = host(store.path());
        for (env, needle) in [
            ("IDS_RUNC_MODE=lern", "IDS_RUNC_MODE"),
            ("IDS_RUNC_ACTION=explode", "IDS_RUNC_ACTION"),
            ("IDS_RUNC_MONITOR=bpf", "IDS_RUNC_MONITOR"),
            ("IDS_RUNC_PROFILE=../etc/x", "IDS_RUNC_PROFILE"),
        ] {
            let spec = json!({ "process": { "env": ["IDS_RUNC_MODE=learn", env] } });
            let err = format!("{:#}", select(&spec, bundle.path(), "c1", &h).unwrap_err());
            assert!(err.contains(needle), "{env}: {err}");
        }
    }

    #[test]
    fn detect_without_a_profile_says_what_was_tried() {
        let store = tempfile::tempdir().unwrap();
        let bundle = no_bundle();
        let spec = json!({ "process": { "env": ["IDS_RUNC_MODE=detect"] } });
        let err = format!(
            "{:#}",
            select(&spec, bundle.path(), "c1", &host(store.path())).unwrap_err()
        );
        assert!(
            err.contains("/etc/ids-runc/profile.json") && err.contains("c1.json"),
            "{err}"
        );
    }

    #[test]
    fn actions() {
        let base = Policy::default();
        assert_eq!(
            parse_action("kill", base).unwrap().on_anomaly,
            AnomalyAction::Kill
        );
        let p = parse_action("deny", base).unwrap();
        assert_eq!(p.on_unseen_syscall, UnseenSyscallAction::Deny);
        assert_eq!(p.on_anomaly, AnomalyAction::Log);
        let p = parse_action("anomaly=kill,unseen=ignore", base).unwrap();
        assert_eq!(p.on_anomaly, AnomalyAction::Kill);
        assert_eq!(p.on_unseen_syscall, UnseenSyscallAction::Ignore);
        assert!(parse_action("anomaly=maybe", base).is_err());
    }
}
