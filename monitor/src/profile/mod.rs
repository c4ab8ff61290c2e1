//! The profile: what a container's normal behaviour is and what to do when it is not, as a JSON file.
//!
//! A profile is written by training (offline from traces, or live) and read by the monitor when a
//! container starts. It is meant to be read, reviewed and diffed by people: syscalls are stored by
//! name, bags as `{"name": count}` objects, and every list is sorted. Loading validates everything;
//! an error names the file, the field and why. `profiles/README.md` documents the format.
//!
//! This file holds the format's types; `io.rs` reads and writes files, `validate.rs` checks a
//! profile, `merge.rs` joins profiles, `detector.rs` converts between a profile and the
//! detector's database, and `shared_save.rs` saves a learner's profile into the store without
//! losing what other learners of the same profile saved.

mod detector;
mod error;
mod followers;
mod io;
mod merge;
pub mod provenance;
pub mod shared_save;
mod validate;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::backend::MonitorKind;
use crate::policy::Policy;
use crate::resource::ResourceSet;
use ids_detector::parameters::Parameters;
use provenance::Provenance;

pub use detector::Snapshot;
pub use error::{InvalidProfile, ProfileError};
pub use followers::{AfterBag, FollowerRecord};

/// The format version this code writes. Version 2 added `resources`; version 1 files (without
/// them) still load, and detect with the bags alone.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this code reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// Larger profile files are refused rather than read into memory (wherever they come from: the
/// host store, a path given by the container's settings, the image).
pub const MAX_FILE_SIZE: u64 = 64 << 20;

/// A profile file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// What the profile describes (an image, a service).
    pub name: String,
    /// The monitor whose view of the syscalls the database reflects.
    pub monitor: Monitor,
    /// Window, epoch, threshold, streams, training settings.
    pub parameters: Parameters,
    /// What to do on an anomaly or an unseen syscall.
    pub policy: Policy,
    /// Every syscall seen in training, sorted by name.
    pub syscalls: Vec<String>,
    /// What training saw.
    pub training: TrainingStats,
    /// The normal database: each bag seen in training with its frequency, sorted by bag.
    pub normal_db: Vec<DbRecord>,
    /// What came right after each bag and each syscall in training: the back-off scorer's model,
    /// learnt only with it (`parameters.scorer` `backoff`). Absent: none learnt.
    #[serde(default, skip_serializing_if = "FollowerRecord::is_empty")]
    pub followers: FollowerRecord,
    /// Which workloads learnt it (live learning records it; absent in older profiles).
    #[serde(default, skip_serializing_if = "Provenance::is_empty")]
    pub provenance: Provenance,
    /// What the container touched in training: files written and read, programs run, sockets,
    /// addresses, permission changes (format 2). Absent: none were learnt (an offline profile, a
    /// format 1 file), and detection judges none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSet>,
}

/// The kind of monitor a profile was made with, and what it cannot see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    pub kind: MonitorKind,
    /// Syscalls this monitor never reports, sorted by name; they are absent from the database.
    pub invisible_syscalls: Vec<String>,
}

impl Monitor {
    /// The record of a monitor of this kind.
    pub fn of(kind: MonitorKind) -> Monitor {
        Monitor {
            kind,
            invisible_syscalls: kind
                .invisible_syscalls()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// Training statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingStats {
    /// Traces (offline) or containers (live) trained on.
    pub traces: u64,
    pub calls: u64,
    pub windows: u64,
    pub epochs: u64,
    /// The training epoch at which the convergence rule was met, if it was.
    pub converged_at_epoch: Option<u64>,
    /// Similarity (fraction of known windows) of the last training epoch.
    pub last_similarity: Option<f64>,
}

/// One entry of the normal database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbRecord {
    /// Windows with this bag seen in training (> 0).
    pub frequency: u64,
    /// Syscall name → count in the window; the counts add up to the window size.
    pub bag: BTreeMap<String, u8>,
}

impl Profile {
    /// Frequency per bag, keyed by the bag's named counts.
    pub fn frequencies(&self) -> HashMap<&BTreeMap<String, u8>, u64> {
        self.normal_db
            .iter()
            .map(|r| (&r.bag, r.frequency))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use ids_detector::alphabet::{Alphabet, Sym};
    use ids_detector::detector::{Detector, Mode};

    use super::*;
    use crate::policy::UnseenSyscallAction;
    use crate::testing::{trained_detector, trained_profile};

    fn sym(name: &str) -> Sym {
        Alphabet::system().sym_by_name(name).unwrap()
    }

    fn trained() -> Detector {
        trained_detector()
    }

    fn profile() -> Profile {
        trained_profile("test")
    }

    #[test]
    fn profile_reflects_the_detector() {
        let p = profile();
        assert_eq!(p.syscalls, ["close", "exit_group", "openat", "read"]);
        assert_eq!(
            p.monitor.invisible_syscalls,
            crate::backend::seccomp_merge::NEVER_NOTIFIED
        );
        assert_eq!(p.training.calls, 8);
        assert_eq!(p.training.windows, 6);
        assert_eq!(p.training.epochs, 2);
        let total: u64 = p.normal_db.iter().map(|r| r.frequency).sum();
        assert_eq!(total, 6);
        assert!(
            p.normal_db.windows(2).all(|w| w[0].bag < w[1].bag),
            "sorted"
        );
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let p = profile();
        p.save(&path).unwrap();
        let loaded = Profile::load(&path).unwrap();
        assert_eq!(loaded, p);
        // Saving again replaces the file and leaves no temporary file behind.
        loaded.save(&path).unwrap();
        let files: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        assert_eq!(fs::read_to_string(&path).unwrap(), p.to_json());
    }

    #[test]
    fn detector_from_a_profile_knows_what_was_learnt() {
        let original = trained();
        let mut d = profile().detector().unwrap();
        assert_eq!(d.mode(), Mode::Detect);
        assert_eq!(d.counters().db_size, original.counters().db_size);
        assert!(d.is_known(sym("openat")));
        assert!(!d.is_known(sym("execve")));
        for (_, e) in original.database().entries() {
            assert_eq!(d.database().frequency(e.bag.id()), e.frequency);
        }
        let calls = ["openat", "read", "close", "getpid"];
        let verdict = calls
            .iter()
            .filter_map(|n| d.observe(1, sym(n)))
            .next()
            .unwrap();
        assert_eq!(verdict.windows, 2);
        assert_eq!(
            verdict.mismatches, 1,
            "only {{read, close, getpid}} is unknown"
        );
    }

    #[test]
    fn continuous_training_keeps_the_profile_consistent() {
        let mut d = profile().detector().unwrap();
        d.set_continuous_training(true);
        // One new bag (with a new syscall) in an epoch under the threshold gets merged.
        for name in ["openat", "read", "read", "getpid"] {
            d.observe(1, sym(name));
        }
        assert_eq!(d.counters().merged_bags, 1);
        let p = Profile::from_detector("t", MonitorKind::SeccompNotify, Policy::default(), &d, 1);
        assert_eq!(p.validate(), Ok(()));
        assert!(p.syscalls.contains(&"getpid".to_string()));
    }

    fn error_of(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v = serde_json::to_value(profile()).unwrap();
        edit(&mut v);
        let text = serde_json::to_string_pretty(&v).unwrap();
        Profile::parse(&text, Path::new("/x/y.json"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn validation_errors_name_the_file_and_the_field() {
        let e = error_of(|v| v["parameters"]["window"] = 0.into());
        assert_eq!(
            e,
            "profile /x/y.json: parameters.window: must be between 1 and 64, got 0"
        );
        let e = error_of(|v| v["parameters"]["threshold"] = serde_json::json!({"ratio": 2.0}));
        assert_eq!(
            e,
            "profile /x/y.json: parameters.threshold.ratio: must be in [0, 1), got 2"
        );
        let e = error_of(|v| v["normal_db"][0]["frequency"] = 0.into());
        assert_eq!(
            e,
            "profile /x/y.json: normal_db[0].frequency: must be at least 1"
        );
        let e = error_of(|v| v["normal_db"][1]["bag"]["nosuchcall"] = 1.into());
        assert_eq!(
            e,
            "profile /x/y.json: normal_db[1].bag.nosuchcall: syscall is not in `syscalls`"
        );
        let e = error_of(|v| v["normal_db"][0]["bag"] = serde_json::json!({"read": 2}));
        assert_eq!(
            e,
            "profile /x/y.json: normal_db[0].bag: counts add up to 2, but the window is 3"
        );
        let e = error_of(|v| v["syscalls"][0] = "zzz_unknown".into());
        assert_eq!(
            e,
            "profile /x/y.json: syscalls[0]: unknown syscall \"zzz_unknown\""
        );
        let e = error_of(|v| v["syscalls"] = serde_json::json!(["read", "close"]));
        assert!(
            e.starts_with("profile /x/y.json: syscalls[1]: names must be sorted"),
            "{e}"
        );
        let e = error_of(|v| v["monitor"]["invisible_syscalls"] = serde_json::json!(["write"]));
        assert!(
            e.starts_with("profile /x/y.json: monitor.invisible_syscalls: "),
            "{e}"
        );
        let e = error_of(|v| v["format_version"] = 3.into());
        assert_eq!(
            e,
            "profile /x/y.json: format_version: this ids-runc reads versions 1 to 2, got 3"
        );
        let e = error_of(|v| {
            v["format_version"] = 1.into();
            v["resources"] = serde_json::json!({"exec": ["/bin/sh"]});
        });
        assert_eq!(
            e,
            "profile /x/y.json: resources: format version 1 has no resources; write version 2"
        );
        let e = error_of(|v| v["resources"] = serde_json::json!({"exec": [""]}));
        assert!(e.contains("resources: exec: an empty name"), "{e}");
        let e = error_of(|v| {
            let first = v["normal_db"][0].clone();
            v["normal_db"].as_array_mut().unwrap().push(first);
        });
        assert!(
            e.contains("normal_db[4].bag: bags must be sorted and unique"),
            "{e}"
        );
    }

    #[test]
    fn format_errors_name_line_column_and_field() {
        let e = error_of(|v| v["parameters"]["stream"] = "per-process".into());
        assert!(e.starts_with("profile /x/y.json: line "), "{e}");
        assert!(
            e.contains(": parameters.stream: unknown variant `per-process`"),
            "{e}"
        );
        let e = error_of(|v| v["policy"]["on_error"] = "log".into());
        assert!(
            e.contains(": policy.on_error: unknown field `on_error`"),
            "{e}"
        );
        let err = Profile::parse(
            "{\n  \"format_version\": 1,\n  \"name\": \n}",
            Path::new("p.json"),
        )
        .unwrap_err();
        match err {
            ProfileError::Syntax { line, column, .. } => assert_eq!((line, column), (4, 1)),
            other => panic!("expected a syntax error, got {other}"),
        }
        let missing = Profile::load(Path::new("/nonexistent/p.json"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("failed to read profile /nonexistent/p.json: "),
            "{missing}"
        );
    }

    #[test]
    fn the_documented_example_is_a_valid_profile() {
        let readme = include_str!("../../../profiles/README.md");
        let start = readme.find("```json\n").expect("README has a JSON example") + 8;
        let end = start + readme[start..].find("```").unwrap();
        let p = Profile::parse(&readme[start..end], Path::new("profiles/README.md")).unwrap();
        assert_eq!(p.normal_db.len(), 2);
        assert_eq!(p.policy.on_unseen_syscall, UnseenSyscallAction::Deny);
    }

    #[test]
    fn merge_adds_frequencies_and_unions_syscalls() {
        let a = profile();
        let mut d = Detector::new(a.parameters);
        for name in ["openat", "read", "close", "getpid"] {
            d.observe(1, sym(name));
        }
        let b = Profile::from_detector("b", MonitorKind::SeccompNotify, Policy::default(), &d, 1);
        let m = Profile::merge("m", &[a.clone(), b.clone()]).unwrap();
        assert_eq!(
            m.syscalls,
            ["close", "exit_group", "getpid", "openat", "read"]
        );
        assert_eq!(m.training.traces, 2);
        let total: u64 = m.normal_db.iter().map(|r| r.frequency).sum();
        assert_eq!(total, a.training.windows + b.training.windows);
        let mut bad = b;
        bad.parameters.window = 4;
        bad.parameters.epoch = 8;
        let e = Profile::merge("m", &[a, bad]).unwrap_err();
        assert_eq!(e.field, "(profile 1).parameters.window");
    }

    #[test]
    fn resources_round_trip_merge_and_old_profiles_load() {
        use crate::resource::{ResourceKind, ResourceSet};
        let dir = tempfile::tempdir().unwrap();
        let mut a = profile();
        let mut set = ResourceSet::default();
        set.learn(ResourceKind::Exec, "/bin/sh");
        set.learn(ResourceKind::Bind, "inet:3306");
        a.resources = Some(set);
        let path = dir.path().join("a.json");
        a.save(&path).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"exec\": [\n      \"/bin/sh\"\n    ]"));
        assert_eq!(Profile::load(&path).unwrap(), a);

        let mut b = profile();
        let mut set = ResourceSet::default();
        set.learn(ResourceKind::Exec, "/usr/sbin/mysqld");
        b.resources = Some(set);
        let m = Profile::merge("m", &[a.clone(), b.clone()]).unwrap();
        let merged = m.resources.unwrap();
        assert!(merged.contains(ResourceKind::Exec, "/bin/sh"));
        assert!(merged.contains(ResourceKind::Exec, "/usr/sbin/mysqld"));
        assert!(merged.contains(ResourceKind::Bind, "inet:3306"));
        b.resources = None;
        let m = Profile::merge("m", &[a, b]).unwrap();
        assert_eq!(
            m.resources, None,
            "a part that learnt none makes a set that judges none"
        );

        // A format 1 file (before resources) loads, with none.
        let mut v = serde_json::to_value(profile()).unwrap();
        v["format_version"] = 1.into();
        let old = Profile::parse(&v.to_string(), Path::new("old.json")).unwrap();
        assert_eq!(old.format_version, 1);
        assert_eq!(old.resources, None);
    }

    #[test]
    fn load_refuses_what_is_not_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        let file = fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_SIZE + 1).unwrap();
        let err = Profile::load(&big).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");

        let fifo = dir.path().join("fifo.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = Profile::load(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");

        let err = Profile::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");

        let ok = dir.path().join("ok.json");
        profile().save(&ok).unwrap();
        assert_eq!(Profile::load(&ok).unwrap(), profile());
    }
}
