//! The bundle's config.json and the one change ids-runc makes to it: the container's seccomp
//! profile gets NOTIFY rules and a listener path, or, for the ptrace monitor's seccomp stops,
//! TRACE rules (the merge rules live in the monitor crate).
//! The file is replaced atomically; the original is kept beside it as `config.ids-runc.orig.json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ids_monitor::backend::seccomp_merge::{add_notify, add_notify_unseen, add_trace};
use ids_monitor::record::atomic_file::write_atomically;
use oci_spec::runtime::LinuxSeccomp;

pub const ORIGINAL_NAME: &str = "config.ids-runc.orig.json";

pub struct BundleConfig {
    path: PathBuf,
    /// The container's configuration as the manager wrote it (every field kept, known or not).
    pub spec: serde_json::Value,
    /// An earlier create's change was undone in `spec` but is still in the file: unless this
    /// create rewrites the file, `put_back` must, or runc reads the old change.
    pub undone: bool,
}

impl BundleConfig {
    /// Reads `<bundle>/config.json`. If an earlier create on this bundle already rewrote it, our
    /// change (the seccomp section) is undone from the original kept beside it, and everything
    /// else is taken as it is now, so edits made since are kept and the rewrite is never applied
    /// on top of itself.
    pub fn load(bundle: &Path, state_root: &Path) -> anyhow::Result<Self> {
        let path = bundle.join("config.json");
        let mut spec = read_json(&path)?;
        let original = bundle.join(ORIGINAL_NAME);
        let notify_rewrite = spec["linux"]["seccomp"]["listenerPath"]
            .as_str()
            .is_some_and(|p| Path::new(p).starts_with(state_root));
        if original.exists() {
            let original = read_json(&original)?;
            if !notify_rewrite && !is_trace_rewrite(&spec, &original) {
                return Ok(BundleConfig {
                    path,
                    spec,
                    undone: false,
                });
            }
            let seccomp = original
                .pointer("/linux/seccomp")
                .cloned()
                .unwrap_or_default();
            if let Some(linux) = spec["linux"].as_object_mut() {
                if seccomp.is_null() {
                    linux.remove("seccomp");
                } else {
                    linux.insert("seccomp".into(), seccomp);
                }
            }
            // A `linux` section we created only to hold the seccomp profile goes too.
            let created = original.get("linux").is_none()
                && spec["linux"].as_object().is_some_and(|l| l.is_empty());
            if let (true, Some(doc)) = (created, spec.as_object_mut()) {
                doc.remove("linux");
            }
        }
        let undone = original.exists();
        Ok(BundleConfig { path, spec, undone })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The spec with every system call the container's seccomp profile lets through sent to the
    /// listener at `listener`.
    pub fn with_notify(&self, listener: &Path) -> anyhow::Result<serde_json::Value> {
        let merged = add_notify(self.seccomp()?.as_ref(), listener)
            .with_context(|| format!("{}: linux.seccomp", self.path.display()))?;
        self.with_seccomp(merged)
    }

    /// The spec with the calls the container's seccomp profile lets through notified to the
    /// listener at `listener` if their syscall is not in `seen` (the ebpf monitor judges the
    /// others in the kernel).
    pub fn with_notify_unseen(
        &self,
        listener: &Path,
        seen: &BTreeSet<String>,
    ) -> anyhow::Result<serde_json::Value> {
        let merged = add_notify_unseen(self.seccomp()?.as_ref(), listener, seen)
            .with_context(|| format!("{}: linux.seccomp", self.path.display()))?;
        self.with_seccomp(merged)
    }

    /// The spec with every system call the container's seccomp profile lets through made a
    /// ptrace stop (`SCMP_ACT_TRACE`).
    pub fn with_trace(&self) -> anyhow::Result<serde_json::Value> {
        let merged = add_trace(self.seccomp()?.as_ref())
            .with_context(|| format!("{}: linux.seccomp", self.path.display()))?;
        self.with_seccomp(merged)
    }

    fn seccomp(&self) -> anyhow::Result<Option<LinuxSeccomp>> {
        match &self.spec["linux"]["seccomp"] {
            serde_json::Value::Null => Ok(None),
            v => Ok(Some(serde_json::from_value(v.clone()).with_context(
                || {
                    format!(
                        "{}: linux.seccomp is not a valid seccomp profile",
                        self.path.display()
                    )
                },
            )?)),
        }
    }

    fn with_seccomp(&self, seccomp: LinuxSeccomp) -> anyhow::Result<serde_json::Value> {
        let mut spec = self.spec.clone();
        let linux = spec
            .as_object_mut()
            .with_context(|| format!("{}: not a JSON object", self.path.display()))?
            .entry("linux")
            .or_insert_with(|| serde_json::json!({}));
        let linux = linux
            .as_object_mut()
            .with_context(|| format!("{}: linux is not an object", self.path.display()))?;
        linux.insert("seccomp".into(), serde_json::to_value(seccomp)?);
        Ok(spec)
    }

    /// Keeps the original beside config.json (once), then replaces config.json with `spec`.
    pub fn rewrite(&self, spec: &serde_json::Value) -> anyhow::Result<()> {
        let original = self.original_path();
        if !original.exists() {
            write_atomically(&original, &serde_json::to_vec_pretty(&self.spec)?).with_context(
                || format!("cannot keep the original config as {}", original.display()),
            )?;
        }
        write_atomically(&self.path, &serde_json::to_vec(spec)?)
            .with_context(|| format!("cannot rewrite {}", self.path.display()))
    }

    /// Puts the original config back (when the monitor could not start and the host fails open).
    pub fn restore(&self) -> anyhow::Result<()> {
        write_atomically(&self.path, &serde_json::to_vec(&self.spec)?)
            .with_context(|| format!("cannot restore {}", self.path.display()))
    }

    fn original_path(&self) -> PathBuf {
        self.path.with_file_name(ORIGINAL_NAME)
    }
}

/// Whether `spec`'s seccomp section is what the ptrace monitor's seccomp stops make of the
/// `original`'s (it has no listener path to tell it by).
fn is_trace_rewrite(spec: &serde_json::Value, original: &serde_json::Value) -> bool {
    let Some(current) = spec.pointer("/linux/seccomp") else {
        return false;
    };
    let before: Option<LinuxSeccomp> = match original.pointer("/linux/seccomp") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => match serde_json::from_value(v.clone()) {
            Ok(seccomp) => Some(seccomp),
            Err(_) => return false,
        },
    };
    add_trace(before.as_ref())
        .ok()
        .and_then(|traced| serde_json::to_value(traced).ok())
        .is_some_and(|traced| &traced == current)
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bundle_with(spec: serde_json::Value) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), spec.to_string()).unwrap();
        dir
    }

    #[test]
    fn rewrite_keeps_unknown_fields_and_the_original() {
        let spec =
            json!({ "ociVersion": "1.0.2", "x-unknown": {"a": 1}, "process": {"args": ["sh"]} });
        let dir = bundle_with(spec.clone());
        let root = Path::new("/run/ids-runc");
        let config = BundleConfig::load(dir.path(), root).unwrap();
        let listener = root.join("c1/seccomp.sock");
        let new = config.with_notify(&listener).unwrap();
        config.rewrite(&new).unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(written["x-unknown"], json!({"a": 1}));
        assert_eq!(
            written["linux"]["seccomp"]["listenerPath"],
            listener.to_str().unwrap()
        );
        let kept: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(ORIGINAL_NAME)).unwrap())
                .unwrap();
        assert_eq!(kept, spec);
        let again = BundleConfig::load(dir.path(), root).unwrap();
        assert_eq!(again.spec, spec, "a second create starts from the original");

        // An edit made after the rewrite is kept; only the seccomp section is undone.
        let mut edited = written.clone();
        edited["process"]["args"] = json!(["true"]);
        std::fs::write(dir.path().join("config.json"), edited.to_string()).unwrap();
        let again = BundleConfig::load(dir.path(), root).unwrap();
        assert_eq!(again.spec["process"]["args"], json!(["true"]));
        assert!(again.spec.get("linux").is_none(), "{}", again.spec);
    }

    #[test]
    fn a_trace_rewrite_is_undone_by_the_next_create() {
        let spec = json!({ "ociVersion": "1.0.2", "process": {"args": ["sh"]} });
        let dir = bundle_with(spec.clone());
        let root = Path::new("/run/ids-runc");
        let config = BundleConfig::load(dir.path(), root).unwrap();
        config.rewrite(&config.with_trace().unwrap()).unwrap();
        let again = BundleConfig::load(dir.path(), root).unwrap();
        assert_eq!(again.spec, spec, "TRACE rules left for the next create");
        // A seccomp section someone else wrote since is theirs, and kept.
        let theirs = json!({ "ociVersion": "1.0.2", "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}} });
        std::fs::write(dir.path().join("config.json"), theirs.to_string()).unwrap();
        let again = BundleConfig::load(dir.path(), root).unwrap();
        assert_eq!(again.spec, theirs);
    }

    #[test]
    fn broken_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{ broken").unwrap();
        let err = format!(
            "{:#}",
            BundleConfig::load(dir.path(), Path::new("/run/x"))
                .err()
                .unwrap()
        );
        assert!(err.contains("config.json"), "{err}");
    }

    #[test]
    fn bad_seccomp_section_names_the_file_and_field() {
        let dir = bundle_with(json!({ "linux": { "seccomp": { "defaultAction": 7 } } }));
        let config = BundleConfig::load(dir.path(), Path::new("/run/x")).unwrap();
        let err = format!(
            "{:#}",
            config
                .with_notify(Path::new("/run/x/c/s.sock"))
                .unwrap_err()
        );
        assert!(
            err.contains("config.json") && err.contains("linux.seccomp"),
            "{err}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Whatever config.json holds, loading and rewriting it succeeds or fails; never panics.
        #[test]
        fn any_config_is_rewritten_or_refused(
            linux in proptest::prop_oneof![
                proptest::strategy::Just(serde_json::Value::Null),
                proptest::strategy::Just(serde_json::json!([])),
                proptest::strategy::Just(serde_json::json!("x")),
                proptest::strategy::Just(serde_json::json!({})),
                proptest::strategy::Just(serde_json::json!({"seccomp": null})),
                proptest::strategy::Just(serde_json::json!({"seccomp": 3})),
                proptest::strategy::Just(serde_json::json!({"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}})),
                proptest::strategy::Just(serde_json::json!({"seccomp": {"defaultAction": "SCMP_ACT_NOTIFY"}})),
                proptest::strategy::Just(serde_json::json!({"seccomp": {"defaultAction": "SCMP_ACT_ERRNO",
                    "listenerPath": "/run/x/c/seccomp.sock", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}})),
                proptest::strategy::Just(serde_json::json!({"seccomp": {"listenerPath": "/run/x/c/seccomp.sock"}})),
            ],
            top in proptest::prop_oneof![
                proptest::strategy::Just(true),
                proptest::strategy::Just(false),
            ],
            keep_original in proptest::bool::ANY,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let spec = if top {
                let mut s = serde_json::json!({"ociVersion": "1.0.2"});
                if !linux.is_null() {
                    s["linux"] = linux.clone();
                }
                s
            } else {
                linux.clone()
            };
            std::fs::write(dir.path().join("config.json"), spec.to_string()).unwrap();
            if keep_original {
                std::fs::write(dir.path().join(ORIGINAL_NAME), linux.to_string()).unwrap();
            }
            let root = Path::new("/run/x");
            if let Ok(config) = BundleConfig::load(dir.path(), root) {
                if let Ok(new) = config.with_notify(&root.join("c/seccomp.sock")) {
                    config.rewrite(&new).unwrap();
                    let again = BundleConfig::load(dir.path(), root).unwrap();
                    let _ = again.with_notify(&root.join("c/seccomp.sock"));
                }
            }
        }
    }
}
