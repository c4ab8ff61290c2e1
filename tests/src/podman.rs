//! A private podman for one test: its own storage, run and tmp roots, cgroupfs and a file events
//! backend, so nothing is shared with the host's podman or other tests. Its containers live in
//! runc's default root (`/run/runc`): the cleanup podman 4.3 runs when a container exits calls
//! `delete` without `--runtime-flag root=...`, so a private runc root would strand them. ids-runc is registered by the containers.conf
//! snippet of `deploy/podman/`, pointed at a wrapper that gives ids-runc this test's host config
//! and records each call. Dropping it removes every container it made, kills any monitor left
//! under its state root, unmounts what it left and deletes its directories, also when the test
//! panics.
//!
//! Podman calls the runtime for `kill` and `delete` with no PATH at all; the wrapper adds nothing,
//! so ids-runc must find runc by itself, and records whether PATH was set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{assert_ok, bundle::Bundle, run, stdout, workspace};

pub struct Podman {
    dir: PathBuf,
    /// Short, because socket paths below it must stay under 108 bytes.
    state_root: PathBuf,
}

impl Podman {
    /// A podman with ids-runc registered (as runtime `ids-runc`) and a local `busybox` image.
    pub fn new(ids_runc: &Path) -> Self {
        crate::require_root();
        let dir = tempfile::Builder::new()
            .prefix("ids-podman-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let state_root = tempfile::Builder::new()
            .prefix("ids-p-")
            .tempdir_in("/run")
            .expect("state root in /run")
            .keep();
        let podman = Podman { dir, state_root };
        podman.write_runtime_wrapper(ids_runc);
        podman.write_containers_conf();
        std::fs::write(
            podman.host_config_path(),
            serde_json::json!({
                "state_dir": podman.state_root,
                "profile_dir": podman.profile_dir(),
                "events_path": podman.events_path(),
                "runs_dir": podman.dir.join("runs"),
            })
            .to_string(),
        )
        .expect("write ids-runc host config");
        let bundle = Bundle::new(&["sh"]);
        let out = run(Command::new("sh").arg("-c").arg(format!(
            "tar -C '{}' -c . | {} import -c 'CMD [\"sh\"]' - busybox",
            bundle.rootfs().display(),
            podman.command_line()
        )));
        assert_ok(&out, "podman import busybox");
        podman
    }

    /// The runtime podman runs: ids-runc with this test's host config, each call recorded with
    /// whether its caller exported a PATH.
    fn write_runtime_wrapper(&self, ids_runc: &Path) {
        let wrapper = self.dir.join("ids-runc-runtime");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\n\
                 if /usr/bin/env | /bin/grep -q '^PATH='; then p=set; else p=none; fi\n\
                 printf 'PATH=%s %s\\n' \"$p\" \"$*\" >> '{calls}'\n\
                 IDS_RUNC_CONFIG='{config}' exec '{bin}' \"$@\"\n",
                calls = self.calls_path().display(),
                config = self.host_config_path().display(),
                bin = ids_runc.display(),
            ),
        )
        .expect("write runtime wrapper");
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod runtime wrapper");
    }

    /// `deploy/podman/containers.conf` as shipped, with the runtime path pointed at the wrapper.
    fn write_containers_conf(&self) {
        let shipped = std::fs::read_to_string(workspace().join("deploy/podman/containers.conf"))
            .expect("read deploy/podman/containers.conf");
        assert!(
            shipped.contains("\"/usr/local/bin/ids-runc\""),
            "deploy/podman/containers.conf no longer registers /usr/local/bin/ids-runc"
        );
        let conf = shipped.replace(
            "\"/usr/local/bin/ids-runc\"",
            &format!("\"{}\"", self.dir.join("ids-runc-runtime").display()),
        );
        std::fs::write(self.dir.join("containers.conf"), conf).expect("write containers.conf");
    }

    fn calls_path(&self) -> PathBuf {
        self.dir.join("runtime-calls.log")
    }

    pub fn host_config_path(&self) -> PathBuf {
        self.dir.join("ids-runc.json")
    }

    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    pub fn profile_dir(&self) -> PathBuf {
        self.dir.join("profiles")
    }

    pub fn events_path(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    /// Every event ids-runc wrote for this podman's containers.
    pub fn events(&self) -> Vec<serde_json::Value> {
        crate::read_events(&self.events_path())
    }

    /// The runtime calls podman made, one line each: `PATH=set|none <args>`.
    pub fn runtime_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.calls_path())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn global_args(&self) -> Vec<String> {
        vec![
            format!("--root={}", self.dir.join("storage").display()),
            format!("--runroot={}", self.dir.join("run").display()),
            format!("--tmpdir={}", self.dir.join("tmp").display()),
            "--cgroup-manager=cgroupfs".into(),
            "--events-backend=file".into(),
        ]
    }

    /// The podman command line, for a shell pipeline.
    fn command_line(&self) -> String {
        format!(
            "CONTAINERS_CONF='{}' podman {}",
            self.dir.join("containers.conf").display(),
            self.global_args().join(" ")
        )
    }

    /// A podman command bound to this instance.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .args(self.global_args())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    pub fn podman(&self, args: &[&str]) -> Output {
        run(&mut self.command(args))
    }

    /// Runs podman and asserts success; returns trimmed stdout.
    #[track_caller]
    pub fn podman_ok(&self, args: &[&str]) -> String {
        let out = self.podman(args);
        assert_ok(&out, &format!("podman {}", args.join(" ")));
        stdout(&out)
    }

    /// The ids of this podman's containers that runc still has (`None` if runc cannot say).
    pub fn runc_containers(&self) -> Option<Vec<String>> {
        let out = Command::new("runc")
            .args(["list", "--format", "json"])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        // `null` when runc has no container at all.
        let list: Option<Vec<serde_json::Value>> = serde_json::from_slice(&out.stdout).ok()?;
        let storage = self.dir.join("storage");
        Some(
            list.unwrap_or_default()
                .iter()
                .filter(|c| {
                    c["bundle"]
                        .as_str()
                        .is_some_and(|b| Path::new(b).starts_with(&storage))
                })
                .filter_map(|c| Some(c["id"].as_str()?.to_owned()))
                .collect(),
        )
    }

    /// What is left of ids-runc's state for this podman's containers.
    pub fn state_left(&self) -> Vec<String> {
        std::fs::read_dir(&self.state_root)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        // A failed test may leave a container podman lost track of, or a monitor behind.
        for id in self.runc_containers().unwrap_or_default() {
            let _ = Command::new("runc")
                .args(["delete", "--force", &id])
                .output();
        }
        for pid in crate::procs::monitors_under(&self.state_root) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.podman(&["rmi", "--all", "--force"]);
        crate::dockerd::unmount_below(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.state_root);
    }
}
