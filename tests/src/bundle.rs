//! Busybox OCI bundles made by `hack/test-bundle.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{assert_ok, run, workspace};

/// A bundle in a temp dir, removed on drop.
pub struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    /// A bundle whose process runs `args`.
    pub fn new(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ids-bundle-")
            .tempdir()
            .expect("temp dir");
        let out = run(Command::new(workspace().join("hack/test-bundle.sh"))
            .arg(dir.path())
            .args(args));
        assert_ok(&out, "hack/test-bundle.sh");
        Bundle { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    pub fn config(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.config_path()).expect("read config.json"))
            .expect("config.json is JSON")
    }

    pub fn set_config(&self, config: &serde_json::Value) {
        std::fs::write(
            self.config_path(),
            serde_json::to_vec_pretty(config).expect("serialise config"),
        )
        .expect("write config.json");
    }
}
