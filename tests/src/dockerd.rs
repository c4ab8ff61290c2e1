//! A private dockerd for one test: its own data-root, exec-root, socket and containerd, with
//! ids-runc registered as the runtime `ids-runc`, and a local `busybox` image. ids-runc runs with
//! its own host config (`IDS_RUNC_CONFIG`): state, profile store and events of this daemon live in
//! its own directories, never the host's. Dropping it removes every container it made, stops the
//! daemon (and so its containerd), unmounts what it left and deletes its directories, also when
//! the test panics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::docker_run::DockerRun;
use crate::{assert_ok, bundle::Bundle, run, stdout, wait_until};

pub struct Dockerd {
    child: Child,
    dir: PathBuf,
    calls: PathBuf,
    /// Short, because socket paths below it must stay under 108 bytes.
    state_root: PathBuf,
}

/// The docker client; Debian's matches the daemon's API, a newer one negotiates down.
fn docker_client() -> &'static str {
    if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    }
}

impl Dockerd {
    /// Starts a daemon with ids-runc registered. ids-runc reaches runc through a wrapper that
    /// records each call (`runc_calls()`), which shows the daemon really went through ids-runc.
    pub fn start(ids_runc: &Path) -> Self {
        Self::start_with(ids_runc, serde_json::json!({}))
    }

    /// Starts a daemon as [`start`](Self::start) does, with `extra` keys in its `daemon.json`
    /// (`{"live-restore": true}`); they stay across [`restart`](Self::restart).
    pub fn start_with(ids_runc: &Path, extra: serde_json::Value) -> Self {
        crate::require_root();
        let dir = tempfile::Builder::new()
            .prefix("ids-dockerd-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let calls = dir.join("runc-calls.log");
        let real_runc = which("runc").expect("runc on PATH (hack/setup.sh installs it)");
        let recorder = dir.join("runc-recorder");
        std::fs::write(
            &recorder,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
                calls.display(),
                real_runc.display()
            ),
        )
        .expect("write recorder");
        std::fs::set_permissions(
            &recorder,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod recorder");
        let state_root = tempfile::Builder::new()
            .prefix("ids-t-")
            .tempdir_in("/run")
            .expect("state root in /run")
            .keep();
        let mut config = serde_json::json!({
            "runtimes": { "ids-runc": { "path": ids_runc } },
        });
        if let (Some(base), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        std::fs::write(dir.join("daemon.json"), config.to_string()).expect("write daemon.json");
        let child = spawn(&dir, &recorder);
        let daemon = Dockerd {
            child,
            dir,
            calls,
            state_root,
        };
        daemon.set_host_config(serde_json::json!({}));
        daemon.wait_ready();
        daemon.import_busybox();
        daemon
    }

    fn wait_ready(&self) {
        let ready = wait_until(Duration::from_secs(60), || {
            self.docker(&["version"]).status.success()
        });
        assert!(ready, "dockerd did not answer within 60 s:\n{}", self.log());
    }

    /// Stops the daemon (SIGTERM: it stops its containers, as a host shutdown or a package upgrade
    /// does) and starts it again on the same directories; containers with a restart policy come
    /// back.
    pub fn restart(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let exited = wait_until(Duration::from_secs(60), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        assert!(exited, "dockerd did not stop within 60 s");
        self.child = spawn(&self.dir, &self.dir.join("runc-recorder"));
        self.wait_ready();
    }

    fn import_busybox(&self) {
        let bundle = Bundle::new(&["sh"]);
        self.import("busybox:latest", &bundle.rootfs());
    }

    /// Writes ids-runc's host config for this daemon: `extra` keys over the test defaults
    /// (this daemon's state root, profile store, events file and runs dir).
    pub fn set_host_config(&self, extra: serde_json::Value) {
        let mut config = serde_json::json!({
            "state_dir": self.state_root,
            "profile_dir": self.profile_dir(),
            "events_path": self.events_path(),
            "runs_dir": self.dir.join("runs"),
        });
        if let (Some(base), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        std::fs::write(self.dir.join("ids-runc.json"), config.to_string())
            .expect("write ids-runc host config");
    }

    pub fn host_config_path(&self) -> PathBuf {
        self.dir.join("ids-runc.json")
    }

    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    /// ids-runc's state dir of container `id`, if there is one.
    pub fn state_dir(&self, id: &str) -> Option<PathBuf> {
        crate::state_dir_in(&self.state_root, id)
    }

    pub fn profile_dir(&self) -> PathBuf {
        self.dir.join("profiles")
    }

    pub fn events_path(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    /// Every event ids-runc wrote for this daemon's containers.
    pub fn events(&self) -> Vec<serde_json::Value> {
        crate::read_events(&self.events_path())
    }

    /// The events of one container (by full id).
    pub fn events_of(&self, id: &str) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["container"] == id)
            .collect()
    }

    /// An ids-runc command that uses this daemon's host config.
    pub fn ids_runc(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::ids_runc());
        cmd.env("IDS_RUNC_CONFIG", self.host_config_path())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// `ids-runc inspect` of a container, parsed; `None` if it fails.
    pub fn inspect(&self, id: &str) -> Option<serde_json::Value> {
        let out = run(&mut self.ids_runc(&["inspect", id]));
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).expect("inspect prints JSON"))
    }

    /// The full id of a container.
    pub fn id_of(&self, name: &str) -> String {
        self.docker_ok(&["inspect", "-f", "{{.Id}}", name])
    }

    /// `docker run --runtime=ids-runc image`, to be shaped and started.
    pub fn run(&self, image: &str) -> DockerRun<'_> {
        DockerRun::new(self, image)
    }

    /// A container's status: `created`, `running`, `paused`, `exited`, ….
    pub fn status(&self, name: &str) -> String {
        self.docker_ok(&["inspect", "-f", "{{.State.Status}}", name])
    }

    /// Whether the container has exited within `timeout`.
    pub fn wait_exited(&self, name: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.status(name) == "exited")
    }

    /// The exit code of an exited container.
    pub fn exit_code(&self, name: &str) -> i64 {
        self.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", name])
            .parse()
            .expect("docker gives the exit code as a number")
    }

    /// What the container wrote: its trimmed stdout, then its stderr.
    pub fn logs(&self, name: &str) -> String {
        let logs = self.docker(&["logs", name]);
        format!("{}{}", stdout(&logs), String::from_utf8_lossy(&logs.stderr))
    }

    /// Imports `rootfs` as image `name` (with `sh` as its command).
    pub fn import(&self, name: &str, rootfs: &Path) {
        self.import_with(name, rootfs, &[]);
    }

    /// Imports `rootfs` as image `name` with `sh` as its command and Dockerfile `changes`
    /// (`ENV K=V`, ...).
    pub fn import_with(&self, name: &str, rootfs: &Path, changes: &[&str]) {
        let changes: String = changes.iter().map(|c| format!(" -c '{c}'")).collect();
        let out = run(Command::new("sh").arg("-c").arg(format!(
            "tar -C '{}' -c . | {} -H unix://{} import -c 'CMD [\"sh\"]'{changes} - '{name}'",
            rootfs.display(),
            docker_client(),
            self.socket().display()
        )));
        assert_ok(&out, &format!("docker import {name}"));
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// The containerd socket of this daemon's own containerd.
    pub fn containerd_socket(&self) -> PathBuf {
        self.dir.join("exec/containerd/containerd.sock")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A docker client command bound to this daemon.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(docker_client());
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        run(&mut self.command(args))
    }

    /// Runs docker and asserts success; returns trimmed stdout.
    #[track_caller]
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert_ok(&out, &format!("docker {}", args.join(" ")));
        stdout(&out)
    }

    /// The runc calls ids-runc made on behalf of this daemon, one line each.
    pub fn runc_calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        let ids = stdout(&self.docker(&["ps", "-aq"]));
        for id in ids.split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let exited = wait_until(Duration::from_secs(30), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        unmount_below(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.state_root);
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts dockerd on the directories of `dir`, with ids-runc reaching runc through `recorder`.
fn spawn(dir: &Path, recorder: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("dockerd.log"))
        .expect("dockerd log");
    Command::new("dockerd")
        .arg("--config-file")
        .arg(dir.join("daemon.json"))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("dockerd.pid"))
        .arg("-H")
        .arg(format!("unix://{}", dir.join("docker.sock").display()))
        .args([
            "--iptables=false",
            "--ip-masq=false",
            "--bridge=none",
            "--userland-proxy=false",
            "--log-level=warn",
        ])
        .env("IDS_RUNC_RUNTIME", recorder)
        .env("IDS_RUNC_CONFIG", dir.join("ids-runc.json"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .spawn()
        .expect("start dockerd (hack/setup.sh installs docker.io)")
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Unmounts every mount below `dir`, deepest first (a daemon killed hard leaves overlay and shm
/// mounts behind, and a mounted directory cannot be removed).
pub fn unmount_below(dir: &Path) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
    }
}
