//! What the host makes mandatory (host config `mandatory`), whatever the container, its image or
//! its profile ask for.
//!
//! Annotations and env are set by whoever runs the container, and an image can carry both a
//! profile (`/etc/ids-runc/profile.json`, with its policy) and env (`ENV IDS_RUNC_MODE=off`). A
//! host that must not let those weaken monitoring names a mode every container runs in, and an
//! action each rule is at least as strict as.

use ids_monitor::policy::{AnomalyAction, Policy, UnseenSyscallAction};
use serde::Deserialize;

use ids_monitor::mode::Mode;

/// Host config `mandatory`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mandatory {
    /// Every container runs in this mode; annotations, env and profiles cannot change it.
    pub mode: Option<Mode>,
    /// The least strict action allowed, as for `IDS_RUNC_ACTION` (`log`, `kill`, `deny`,
    /// `anomaly=…,unseen=…`): each rule of a container's policy is raised to at least this.
    pub action: Option<String>,
}

impl Mandatory {
    /// The mode every container must run in, and where that comes from, if the host sets one.
    pub fn mode(&self) -> Option<(Mode, String)> {
        Some((self.mode?, "host config mandatory.mode".into()))
    }
}

/// How strict an unseen-syscall action is: ignore < log < deny < kill.
fn unseen_rank(a: UnseenSyscallAction) -> u8 {
    match a {
        UnseenSyscallAction::Ignore => 0,
        UnseenSyscallAction::Log => 1,
        UnseenSyscallAction::Deny => 2,
        UnseenSyscallAction::Kill => 3,
    }
}

fn anomaly_rank(a: AnomalyAction) -> u8 {
    match a {
        AnomalyAction::Log => 0,
        AnomalyAction::Kill => 1,
    }
}

/// `policy` with each rule raised to at least `floor`'s.
pub fn at_least(policy: Policy, floor: Policy) -> Policy {
    Policy {
        on_anomaly: if anomaly_rank(floor.on_anomaly) > anomaly_rank(policy.on_anomaly) {
            floor.on_anomaly
        } else {
            policy.on_anomaly
        },
        on_unseen_syscall: if unseen_rank(floor.on_unseen_syscall)
            > unseen_rank(policy.on_unseen_syscall)
        {
            floor.on_unseen_syscall
        } else {
            policy.on_unseen_syscall
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ids_detector::alphabet::Alphabet;
    use ids_detector::detector::Detector;
    use ids_monitor::backend::MonitorKind;
    use ids_monitor::profile::Profile;
    use std::path::Path;

    /// A host whose store holds profile `p` with `policy`, and a bundle dir without a rootfs.
    fn host_with_profile(
        dir: &Path,
        policy: Policy,
        mandatory: Mandatory,
    ) -> (HostConfig, tempfile::TempDir) {
        let mut d = Detector::new(Default::default());
        let read = Alphabet::system().sym_by_name("read").unwrap();
        for _ in 0..20 {
            d.observe(1, read);
        }
        let store = dir.join("profiles");
        std::fs::create_dir_all(&store).unwrap();
        Profile::from_detector("p", MonitorKind::SeccompNotify, policy, &d, 1)
            .save(&store.join("p.json"))
            .unwrap();
        let host = HostConfig {
            profile_dir: Some(store),
            mandatory: Some(mandatory),
            ..HostConfig::default()
        };
        (host, tempfile::tempdir().unwrap())
    }

    fn select(host: &HostConfig, bundle: &Path, env: &[&str]) -> anyhow::Result<Selection> {
        let spec = serde_json::json!({"process": {"env": env}});
        crate::config::selection::select(&spec, bundle, "c1", host)
    }

    use crate::config::host::HostConfig;
    use crate::config::selection::Selection;

    #[test]
    fn a_mandatory_action_overrides_a_weaker_profile_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let weak = policy(AnomalyAction::Log, UnseenSyscallAction::Ignore);
        let mandatory = Mandatory {
            mode: None,
            action: Some("kill".into()),
        };
        let (host, bundle) = host_with_profile(dir.path(), weak, mandatory);
        let s = select(
            &host,
            bundle.path(),
            &["IDS_RUNC_PROFILE=p", "IDS_RUNC_ACTION=log"],
        )
        .unwrap();
        assert_eq!(s.mode, Mode::Detect);
        assert_eq!(
            s.policy,
            policy(AnomalyAction::Kill, UnseenSyscallAction::Kill)
        );
    }

    #[test]
    fn a_mandatory_mode_cannot_be_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        let mandatory = Mandatory {
            mode: Some(Mode::Detect),
            action: None,
        };
        let (host, bundle) = host_with_profile(dir.path(), Policy::default(), mandatory);
        let s = select(
            &host,
            bundle.path(),
            &["IDS_RUNC_PROFILE=p", "IDS_RUNC_MODE=off"],
        )
        .unwrap();
        assert_eq!(s.mode, Mode::Detect);
        assert_eq!(s.mode_source, "host config mandatory.mode");
        // Without a profile to detect with, create fails: the container does not run unjudged.
        let err = select(&host, bundle.path(), &["IDS_RUNC_MODE=off"]).unwrap_err();
        assert!(err.to_string().contains("needs a profile"), "{err}");
    }

    fn policy(on_anomaly: AnomalyAction, on_unseen_syscall: UnseenSyscallAction) -> Policy {
        Policy {
            on_anomaly,
            on_unseen_syscall,
        }
    }

    #[test]
    fn a_floor_raises_weaker_rules_and_keeps_stricter_ones() {
        use AnomalyAction as A;
        use UnseenSyscallAction as U;
        let floor = policy(A::Kill, U::Deny);
        assert_eq!(at_least(policy(A::Log, U::Ignore), floor), floor);
        assert_eq!(at_least(policy(A::Log, U::Log), floor), floor);
        assert_eq!(
            at_least(policy(A::Kill, U::Kill), floor),
            policy(A::Kill, U::Kill),
            "kill is stricter than deny"
        );
        assert_eq!(
            at_least(policy(A::Log, U::Kill), policy(A::Log, U::Log)),
            policy(A::Log, U::Kill)
        );
    }
}
