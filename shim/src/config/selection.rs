//! Whether a container is monitored, how, and against which profile — read from its bundle.
//!
//! Each setting (mode, profile, monitor, action) is taken from the first place that has it:
//! 1. the OCI annotations `io.ids-runc.mode|profile|monitor|action`;
//! 2. the container's env `IDS_RUNC_MODE|PROFILE|MONITOR|ACTION` (docker 20.10 has no
//!    `--annotation`, so `docker run -e` must work);
//! 3. a profile shipped in the image at `/etc/ids-runc/profile.json` (read inside the rootfs,
//!    never following a link out of it);
//! 4. the host store `<profile_dir>/<name>.json` (name: the one given, else made from the image's
//!    name where the engine tells it, else the container id; see `default_name`);
//! 5. the defaults of the host config.
//!
//! A profile found in 3 or 4 without any mode given means `detect`. A value that is not valid is an
//! error naming where it came from: a typo must never leave a container unmonitored silently.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ids_monitor::backend::MonitorKind;
use ids_monitor::mode::Mode;
use ids_monitor::policy::{AnomalyAction, Policy, UnseenSyscallAction};
use ids_monitor::profile::provenance::Provenance;

use crate::config::default_name;
use crate::config::found_profile::FoundProfile;
use crate::config::host::HostConfig;
use crate::config::image_profile;
use crate::config::mandatory::Mandatory;
use crate::config::profile_ref::ProfileRef;

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
    /// Where a learned profile is written (learn modes): always in the store.
    pub save_to: Option<PathBuf>,
    /// Who learnt the profile, this container included (learn modes): saved with it.
    pub provenance: Option<Provenance>,
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
            ProfileRef::parse(&s.value, host)
                .map(|r| (r, s.source.clone()))
                .map_err(|e| s.error(e))
        })
        .transpose()?;

    // Learning never even reads a file outside the store.
    if let (Some((mode, _)), Some((ProfileRef::Listed { path, .. }, source))) =
        (&explicit_mode, &explicit_profile)
    {
        if matches!(mode, Mode::Learn | Mode::LearnDetect) {
            return Err(read_only(source, path, host));
        }
    }

    // The store name learning defaults to: the image's, where the engine names it, else the
    // container id (an id that cannot name a profile gives none).
    let workload = crate::config::workload::of(spec, id);
    let image = crate::config::workload::image_name(spec, id, &workload);
    let default_name = default_name::of(image.as_deref(), id);
    let store_default = default_name
        .as_ref()
        .map(|d| ProfileRef::Store(d.name.clone()));
    // The profile detection would use: named, else shipped in the image, else the store's under
    // the default name, else the store's under the container id.
    let by_id = ProfileRef::store(id)
        .ok()
        .filter(|r| Some(r) != store_default.as_ref());
    let found = match &explicit_profile {
        Some((r, source)) => r.load(host).with_context(|| source.clone())?,
        None => match image_profile::read(bundle, spec)? {
            Some(found) => Some(found),
            None => {
                let mut found = None;
                for r in store_default.iter().chain(by_id.iter()) {
                    found = r.load(host)?;
                    if found.is_some() {
                        break;
                    }
                }
                found
            }
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
    let learning = matches!(mode, Mode::Learn | Mode::LearnDetect);
    let env_may_learn = host
        .mandatory
        .as_ref()
        .is_none_or(Mandatory::learn_from_env);
    if learning && !env_may_learn {
        // Env holds the image's ENV; podman also copies the image's annotations into the
        // container's (measured with podman 4.3), so there annotations are the image's word too.
        let podman = spec["annotations"]["io.container.manager"] == "libpod";
        let from_image = std::iter::once(mode_source.as_str())
            .chain(explicit_profile.as_ref().map(|(_, s)| s.as_str()))
            .find(|s| s.starts_with("env ") || (podman && s.starts_with("annotation ")));
        if let Some(source) = from_image {
            anyhow::bail!(
                "{source}: this host does not let env (nor, under podman, annotations) choose \
                 what is learnt: an image sets them (host config mandatory.learn_from_env is \
                 false)"
            );
        }
    }

    let profile_name = match (&explicit_profile, &found) {
        (Some((ProfileRef::Store(name), _)), _) => name.clone(),
        (_, Some(f)) => f.profile.name.clone(),
        _ => default_name
            .as_ref()
            .map_or_else(|| id.to_owned(), |d| d.name.clone()),
    };
    // Learnt profiles are written to the store only.
    let learn_into = match (learning, &explicit_profile) {
        (false, _) => None,
        (true, Some((r @ ProfileRef::Store(_), _))) => Some(r.clone()),
        (true, Some((ProfileRef::Listed { path, .. }, source))) => {
            return Err(read_only(source, path, host))
        }
        (true, None) => Some(store_default.clone().with_context(|| {
            format!(
                "container id {id:?} cannot name the profile it learns; set \
                 io.ids-runc.profile or IDS_RUNC_PROFILE"
            )
        })?),
    };
    let save_to = learn_into.as_ref().map(|r| r.path(host));
    // What earlier runs learnt under that name, which learning extends.
    let learnt = match &learn_into {
        Some(r) => r.load(host)?,
        None => None,
    };
    let provenance = match &learn_into {
        Some(ProfileRef::Store(name)) => {
            let existing = learnt.as_ref().map(|f| &f.profile.provenance);
            crate::config::binding::check(host, name, existing, &workload).map_err(|refused| {
                let source = match (&explicit_profile, &default_name) {
                    (Some((_, s)), _) => s.clone(),
                    (None, Some(d)) => format!("the default profile name, from {}", d.from),
                    (None, None) => "the container id".to_owned(),
                };
                anyhow::Error::new(refused).context(source)
            })?;
            let mut provenance = existing.cloned().unwrap_or_default();
            let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            provenance.record(&workload, id, &now.to_string());
            Some(provenance)
        }
        _ => None,
    };
    let profile = match mode {
        Mode::Learn => learnt,
        Mode::Detect => Some(found.with_context(|| {
            format!(
                "mode detect ({mode_source}) needs a profile, and none was found: {}",
                match &explicit_profile {
                    Some((r, _)) => format!("{} does not exist", r.path(host).display()),
                    None => format!(
                        "no {} in the image and no {}",
                        image_profile::PATH_IN_IMAGE,
                        store_default
                            .iter()
                            .chain(by_id.iter())
                            .map(|r| r.path(host).display().to_string())
                            .collect::<Vec<_>>()
                            .join(" nor ")
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
        provenance,
        policy,
    })
}

/// Learning named a profile outside the store (`source` named it).
fn read_only(source: &str, path: &Path, host: &HostConfig) -> anyhow::Error {
    anyhow::anyhow!(
        "{source}: {} is read only: learnt profiles are written only to the profile store ({}); \
         name a profile of the store instead",
        path.display(),
        host.profile_dir().display()
    )
}

fn off(id: &str) -> Selection {
    Selection {
        mode: Mode::Off,
        mode_source: "default".into(),
        monitor: MonitorKind::SeccompNotify,
        profile_name: id.to_owned(),
        profile: None,
        save_to: None,
        provenance: None,
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
    fn learning_defaults_to_the_image_name_the_engine_passes() {
        let store = tempfile::tempdir().unwrap();
        let bundle = no_bundle();
        let h = host(store.path());
        let spec = json!({
            "annotations": { "io.kubernetes.cri.image-name": "docker.io/library/web:1.4" },
            "process": { "env": ["IDS_RUNC_MODE=learn"] }
        });
        let s = select(&spec, bundle.path(), "c1", &h).unwrap();
        assert_eq!(s.profile_name, "docker.io_library_web_1.4");
        let path = store.path().join("docker.io_library_web_1.4.json");
        assert_eq!(s.save_to.as_ref(), Some(&path));
        // Once learnt, another container of the image detects with it by itself.
        ids_monitor::testing::trained_profile("docker.io_library_web_1.4")
            .save(&path)
            .unwrap();
        let spec = json!({
            "annotations": { "io.kubernetes.cri.image-name": "docker.io/library/web:1.4" }
        });
        let s = select(&spec, bundle.path(), "c2", &h).unwrap();
        assert_eq!(s.mode, Mode::Detect);
        assert_eq!(s.profile_name, "docker.io_library_web_1.4");
        // Podman passes no image name (its annotations may come from the image): the id.
        let spec = json!({
            "annotations": {
                "io.container.manager": "libpod",
                "io.kubernetes.cri.image-name": "docker.io/library/web:1.4"
            },
            "process": { "env": ["IDS_RUNC_MODE=learn"] }
        });
        let s = select(&spec, bundle.path(), "c3", &h).unwrap();
        assert_eq!(s.save_to, Some(store.path().join("c3.json")));
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
    fn hostile_profile_settings_are_refused_naming_their_source() {
        let store = tempfile::tempdir().unwrap();
        let bundle = no_bundle();
        let h = host(store.path());
        let long = format!("IDS_RUNC_PROFILE={}", "a".repeat(10_000));
        for env in [
            "IDS_RUNC_PROFILE=/etc/ids-pwned",
            "IDS_RUNC_PROFILE=/tmp/pwned-abs.json",
            "IDS_RUNC_PROFILE=/root/.ssh/authorized_keys",
            "IDS_RUNC_PROFILE=a/b",
            "IDS_RUNC_PROFILE=..",
            "IDS_RUNC_PROFILE=../../etc/x",
            "IDS_RUNC_PROFILE=x\u{0}y",
            "IDS_RUNC_PROFILE=.hidden",
            "IDS_RUNC_PROFILE=",
            long.as_str(),
        ] {
            for mode in ["learn", "detect", "learn-detect"] {
                let spec = json!({ "process": { "env": [format!("IDS_RUNC_MODE={mode}"), env] } });
                let err = format!("{:#}", select(&spec, bundle.path(), "c1", &h).unwrap_err());
                assert!(err.starts_with("env IDS_RUNC_PROFILE: "), "{env}: {err}");
            }
        }
        let spec = json!({
            "annotations": { "io.ids-runc.profile": "/etc/passwd" },
            "process": { "env": ["IDS_RUNC_MODE=detect"] }
        });
        let err = format!("{:#}", select(&spec, bundle.path(), "c1", &h).unwrap_err());
        assert!(err.starts_with("annotation io.ids-runc.profile: "), "{err}");
        assert_eq!(std::fs::read_dir(store.path()).unwrap().count(), 0);
    }

    #[test]
    fn listed_directories_are_read_only() {
        let store = tempfile::tempdir().unwrap();
        let listed = tempfile::tempdir().unwrap();
        let bundle = no_bundle();
        let h = HostConfig {
            profile_path_dirs: vec![listed.path().to_owned()],
            ..host(store.path())
        };
        let path = listed.path().join("web.json");
        let spec = json!({ "process": { "env": [
            "IDS_RUNC_MODE=learn", format!("IDS_RUNC_PROFILE={}", path.display())
        ] } });
        let err = format!("{:#}", select(&spec, bundle.path(), "c1", &h).unwrap_err());
        assert!(err.contains("read only"), "{err}");
        let spec = json!({ "process": { "env": [
            "IDS_RUNC_MODE=detect", format!("IDS_RUNC_PROFILE={}", path.display())
        ] } });
        let err = format!("{:#}", select(&spec, bundle.path(), "c1", &h).unwrap_err());
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn a_host_can_forbid_learning_from_env() {
        let store = tempfile::tempdir().unwrap();
        let bundle = no_bundle();
        let h = HostConfig {
            mandatory: Some(crate::config::mandatory::Mandatory {
                learn_from_env: Some(false),
                ..Default::default()
            }),
            default_mode: Some(Mode::Learn),
            ..host(store.path())
        };
        for env in ["IDS_RUNC_MODE=learn", "IDS_RUNC_PROFILE=web"] {
            let spec = json!({ "process": { "env": [env] } });
            let err = format!("{:#}", select(&spec, bundle.path(), "c1", &h).unwrap_err());
            assert!(err.contains("learn_from_env"), "{env}: {err}");
        }
        // Under podman an image's annotations reach the container's.
        let spec = json!({ "annotations": {
            "io.container.manager": "libpod", "io.ids-runc.mode": "learn"
        } });
        let err = format!("{:#}", select(&spec, bundle.path(), "c1", &h).unwrap_err());
        assert!(err.starts_with("annotation io.ids-runc.mode"), "{err}");
        // The host's own default still learns, into the container's own profile.
        let s = select(&json!({}), bundle.path(), "c1", &h).unwrap();
        assert_eq!(s.save_to, Some(store.path().join("c1.json")));
    }

    #[test]
    fn learning_records_who_learns() {
        let store = tempfile::tempdir().unwrap();
        let bundle = no_bundle();
        let spec = json!({
            "annotations": { "io.kubernetes.cri.image-name": "web:1" },
            "process": { "env": ["IDS_RUNC_MODE=learn", "IDS_RUNC_PROFILE=web"] }
        });
        let s = select(&spec, bundle.path(), "c1", &host(store.path())).unwrap();
        let p = s.provenance.unwrap();
        assert_eq!(p.learnt_by[0].workload.image.as_deref(), Some("web:1"));
        assert_eq!(p.learnt_by[0].containers, ["c1"]);
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
