//! ids-runc called directly, as a container engine calls runc, with a host config of its own: a
//! state root, profile store, events file and runs dir for one test, and runc roots below its
//! directory. Dropping it deletes every container left in those runc roots and kills every
//! monitor left under the state root, also when the test panics.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::bundle::Bundle;
use crate::procs::monitors_under;
use crate::{ids_runc, require_root, run, stdout, wait_until};

/// Runc roots are directories of the host's directory named with this prefix.
const RUNC_ROOT_PREFIX: &str = "runc";

pub struct PrivateHost {
    dir: tempfile::TempDir,
    /// Short, because socket paths below it must stay under 108 bytes.
    state_root: tempfile::TempDir,
}

impl PrivateHost {
    pub fn new() -> Self {
        require_root();
        let dir = tempfile::tempdir().expect("temp dir");
        let state_root = tempfile::Builder::new()
            .prefix("ids-h-")
            .tempdir_in("/run")
            .expect("state root in /run");
        let host = PrivateHost { dir, state_root };
        std::fs::write(
            host.config(),
            serde_json::json!({
                "state_dir": host.state_root.path(),
                "events_path": host.events_path(),
                "profile_dir": host.dir().join("profiles"),
                "runs_dir": host.dir().join("runs"),
            })
            .to_string(),
        )
        .expect("write ids-runc host config");
        host
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_root(&self) -> &Path {
        self.state_root.path()
    }

    pub fn config(&self) -> PathBuf {
        self.dir().join("ids-runc.json")
    }

    pub fn events_path(&self) -> PathBuf {
        self.dir().join("events.jsonl")
    }

    pub fn events(&self) -> Vec<serde_json::Value> {
        crate::read_events(&self.events_path())
    }

    /// The runc root `runc-<name>` of this host.
    pub fn runc_root(&self, name: &str) -> PathBuf {
        self.dir().join(format!("{RUNC_ROOT_PREFIX}-{name}"))
    }

    /// `ids-runc --root <runc root> ARGS` with this host's config and no stdio.
    pub fn ids_runc(&self, runc_root: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(ids_runc());
        cmd.env("IDS_RUNC_CONFIG", self.config())
            .arg("--root")
            .arg(runc_root)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// `ids-runc run` of `bundle` in the foreground under runc root `main`: (exit code, stdout
    /// and stderr).
    pub fn run(&self, bundle: &Bundle, id: &str) -> (Option<i32>, String) {
        let out = run(&mut self.ids_runc(
            &self.runc_root("main"),
            &[
                "run",
                "--bundle",
                bundle.path().to_str().expect("UTF-8 bundle path"),
                id,
            ],
        ));
        let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    }

    /// Nothing of ids-runc left once the containers are gone: no monitor, no state dir.
    #[track_caller]
    pub fn assert_clean(&self) {
        assert!(
            wait_until(Duration::from_secs(10), || monitors_under(
                self.state_root()
            )
            .is_empty()),
            "monitors left: {:?}",
            monitors_under(self.state_root())
        );
        assert!(
            wait_until(Duration::from_secs(10), || std::fs::read_dir(
                self.state_root()
            )
            .map(|mut entries| entries.next().is_none())
            .unwrap_or(true)),
            "state left in {}",
            self.state_root().display()
        );
    }
}

impl Default for PrivateHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PrivateHost {
    fn drop(&mut self) {
        let roots = std::fs::read_dir(self.dir())
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .starts_with(RUNC_ROOT_PREFIX)
                    })
                    .map(|e| e.path())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for root in roots {
            let listed = Command::new("runc")
                .arg("--root")
                .arg(&root)
                .args(["list", "-q"])
                .output();
            for id in listed.map(|out| stdout(&out)).unwrap_or_default().lines() {
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(&root)
                    .args(["delete", "--force", id])
                    .output();
            }
        }
        for pid in monitors_under(self.state_root()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
