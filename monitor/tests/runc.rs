//! The notify supervisor with real runc: a busybox bundle whose seccomp section went through
//! `add_notify`, run under `runc run` (and `runc exec`) while the supervisor serves it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::is_root;
use ids_monitor::backend::control::{self, ControlServer, INSPECT};
use ids_monitor::backend::notify::{
    HandoverListener, NotifySupervisor, SupervisorConfig, SupervisorStats,
};
use ids_monitor::backend::seccomp_merge::add_notify;
use ids_monitor::backend::sink::{CountingSink, RunEnd, SyscallSink};
use ids_monitor::backend::Backend;
use oci_spec::runtime::LinuxSeccomp;

/// Longest a runc command of these tests may take; `timeout` then kills runc (SIGKILL: runc
/// forwards SIGTERM to the container's init, which a shell as pid 1 ignores).
const RUNC_TIMEOUT_SECS: u32 = 30;
const DOCKER_DEFAULT: &str = include_str!("fixtures/docker-default-seccomp.json");

struct Bundle {
    dir: tempfile::TempDir,
    id: String,
}

impl Bundle {
    /// A busybox bundle running `args`, its seccomp section `seccomp` merged with the monitor's.
    fn new(name: &str, args: &[&str], seccomp: Option<LinuxSeccomp>, extra_caps: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/test-bundle.sh");
        let status = Command::new(script)
            .arg(dir.path().join("bundle"))
            .args(args)
            .stdout(Stdio::null())
            .status()
            .expect("run hack/test-bundle.sh");
        assert!(status.success(), "hack/test-bundle.sh failed");
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let bundle = Self {
            id: format!("ids-{name}-{}", std::process::id()),
            dir,
        };
        let merged = add_notify(seccomp.as_ref(), &bundle.listener_path()).unwrap();
        let config_path = bundle.path().join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        config["linux"]["seccomp"] = serde_json::to_value(merged).unwrap();
        for cap in extra_caps {
            for set in ["bounding", "effective", "permitted"] {
                config["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push((*cap).into());
            }
        }
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        bundle
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn listener_path(&self) -> PathBuf {
        self.dir.path().join("state/notify.sock")
    }

    fn control_path(&self) -> PathBuf {
        self.dir.path().join("state/control.sock")
    }

    /// runc with its own state root, so tests do not see each other's containers.
    fn runc(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(["--signal=KILL", &RUNC_TIMEOUT_SECS.to_string(), "runc"])
            .arg("--root")
            .arg(self.dir.path().join("runc-root"))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Kills the container and waits until runc has deleted it.
    fn stop(&self) {
        let _ = self.runc(&["kill", &self.id, "KILL"]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let deleted = self.runc(&["delete", &self.id]).output();
            if deleted.is_ok_and(|out| out.status.success()) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn run(&self) -> Output {
        self.runc(&["run", "--bundle"])
            .arg(self.path())
            .arg(&self.id)
            .output()
            .expect("run runc")
    }
}

impl Drop for Bundle {
    /// A container left by a failed test is killed, so it neither lingers nor keeps its tempdir.
    fn drop(&mut self) {
        let _ = self
            .runc(&["delete", "--force", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

struct Served {
    end: RunEnd,
    sink: CountingSink,
    stats: SupervisorStats,
}

/// Binds the listener (and control socket) now, before runc needs it, and serves on a thread
/// until the container is gone or `stop` is set.
fn serve(bundle: &Bundle, stop: Arc<AtomicBool>) -> mpsc::Receiver<Served> {
    let listener = HandoverListener::bind(&bundle.listener_path(), 0).unwrap();
    let control = ControlServer::bind(&bundle.control_path()).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let config = SupervisorConfig {
            handover_timeout: Some(Duration::from_secs(RUNC_TIMEOUT_SECS.into())),
            ..SupervisorConfig::default()
        };
        let mut supervisor =
            NotifySupervisor::new(listener, CountingSink::default(), config).with_control(control);
        let end = supervisor.run(|| stop.load(Ordering::Relaxed)).unwrap();
        let stats = supervisor.stats().clone();
        let _ = tx.send(Served {
            end,
            sink: supervisor.into_sink(),
            stats,
        });
    });
    rx
}

/// The supervisor's result, or a failure (after stopping it) if it has not ended in time.
fn finished(rx: &mpsc::Receiver<Served>, stop: &AtomicBool) -> Served {
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(served) => served,
        Err(e) => {
            stop.store(true, Ordering::Relaxed);
            panic!("supervisor still running 10 s after the container exited: {e}");
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_container_without_a_profile_runs_to_completion_and_every_call_reaches_the_sink() {
    if !is_root("a_container_without_a_profile_runs_to_completion_and_every_call_reaches_the_sink")
    {
        return;
    }
    let bundle = Bundle::new("noprofile", &["sh", "-c", "echo hi; ls /"], None, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let rx = serve(&bundle, stop.clone());
    let started = Instant::now();
    let out = bundle.run();
    let served = finished(&rx, &stop);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "runc: {:?} {}; monitor: {:?} {:?}",
        out.status,
        text(&out.stderr),
        served.end,
        served.stats
    );
    assert!(
        stdout.starts_with("hi\n") && stdout.contains("bin"),
        "{stdout}"
    );
    assert_eq!(served.end, RunEnd::AllHungUp);
    assert_eq!(served.stats.handovers, 1);
    for name in ["execve", "openat", "getdents64", "newfstatat"] {
        assert!(
            served.sink.count_of(name) > 0,
            "{name} not seen: {}",
            served.sink.inspect()
        );
    }
    assert_eq!(served.sink.count_of("write"), 0);
    eprintln!(
        "container ran in {:?}; {} calls, {:?}",
        started.elapsed(),
        served.sink.total(),
        served.stats
    );
}

/// Many processes of one container at once, each `runc exec` with its own notify fd, all served by
/// the one loop. (Not `cmd &` in sh: sh catches SIGCHLD without SA_RESTART, and under notify its
/// fork can then fail with EINTR, which the notify_child tests pin down.)
#[test]
fn concurrent_execs_each_with_their_own_fd_are_all_served() {
    if !is_root("concurrent_execs_each_with_their_own_fd_are_all_served") {
        return;
    }
    const THREADS: usize = 6;
    const EXECS_PER_THREAD: usize = 3;
    let bundle = Arc::new(Bundle::new("storm", &["sleep", "60"], None, &[]));
    let stop = Arc::new(AtomicBool::new(false));
    let rx = serve(&bundle, stop.clone());
    let started = bundle
        .runc(&["run", "--detach", "--bundle"])
        .arg(bundle.path())
        .arg(&bundle.id)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(started.success(), "runc run --detach: {started:?}");
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let bundle = bundle.clone();
            thread::spawn(move || {
                (0..EXECS_PER_THREAD)
                    .map(|_| {
                        let out = bundle
                            .runc(&["exec", &bundle.id, "ls", "-R", "/bin"])
                            .output()
                            .unwrap();
                        (out.status.success(), text(&out.stderr))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    bundle.stop();
    let served = finished(&rx, &stop);
    for (ok, stderr) in &results {
        assert!(ok, "runc exec: {stderr}; monitor: {:?}", served.stats);
    }
    assert_eq!(served.end, RunEnd::AllHungUp);
    assert_eq!(
        served.stats.handovers,
        1 + (THREADS * EXECS_PER_THREAD) as u64
    );
    assert_eq!(served.stats.errors, 0, "{:?}", served.stats);
    assert!(served.sink.count_of("getdents64") >= (THREADS * EXECS_PER_THREAD) as u64);
    eprintln!("execs: {} calls, {:?}", served.sink.total(), served.stats);
}

#[test]
fn dockers_default_profile_still_denies_what_it_denies() {
    if !is_root("dockers_default_profile_still_denies_what_it_denies") {
        return;
    }
    let script = "unshare -m true && echo unshare=allowed || echo unshare=denied";
    let docker: LinuxSeccomp = serde_json::from_str(DOCKER_DEFAULT).unwrap();
    // CAP_SYS_ADMIN, so that only seccomp can be what refuses unshare.
    let caps = ["CAP_SYS_ADMIN"];
    for (profile, expected) in [(None, "unshare=allowed"), (Some(docker), "unshare=denied")] {
        let with_profile = profile.is_some();
        let bundle = Bundle::new("docker", &["sh", "-c", script], profile, &caps);
        let stop = Arc::new(AtomicBool::new(false));
        let rx = serve(&bundle, stop.clone());
        let out = bundle.run();
        let served = finished(&rx, &stop);
        assert!(
            out.status.success(),
            "runc: {:?} {}; monitor: {:?} {:?}",
            out.status,
            text(&out.stderr),
            served.end,
            served.stats
        );
        assert_eq!(
            text(&out.stdout).trim(),
            expected,
            "docker profile: {with_profile}"
        );
        if with_profile {
            assert!(
                text(&out.stderr).contains("Operation not permitted"),
                "{}",
                text(&out.stderr)
            );
            assert_eq!(
                served.sink.count_of("unshare"),
                0,
                "ERRNO'd calls are not notified"
            );
        } else {
            assert_eq!(served.sink.count_of("unshare"), 1);
        }
        assert_eq!(served.end, RunEnd::AllHungUp);
        assert!(served.sink.count_of("execve") > 0);
    }
}

#[test]
fn runc_exec_hands_over_a_second_fd_to_the_same_monitor() {
    if !is_root("runc_exec_hands_over_a_second_fd_to_the_same_monitor") {
        return;
    }
    let bundle = Bundle::new("exec", &["sleep", "30"], None, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let rx = serve(&bundle, stop.clone());
    let out = bundle
        .runc(&["run", "--detach", "--bundle"])
        .arg(bundle.path())
        .arg(&bundle.id)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success(), "runc run --detach: {out:?}");
    let exec = bundle
        .runc(&["exec", &bundle.id, "sh", "-c", "echo exec-ok; hostname"])
        .output()
        .unwrap();
    let live = control::request(&bundle.control_path(), INSPECT, Duration::from_secs(5));
    bundle.stop();
    let served = finished(&rx, &stop);

    assert!(exec.status.success(), "runc exec: {}", text(&exec.stderr));
    assert_eq!(text(&exec.stdout), "exec-ok\nids-test\n");
    let live = live.unwrap();
    assert_eq!(live["supervisor"]["handovers"], 2, "{live}");
    assert_eq!(served.end, RunEnd::AllHungUp);
    assert_eq!(served.stats.handovers, 2);
    let statuses: Vec<&str> = served
        .sink
        .handovers()
        .iter()
        .map(|h| h.origin.status())
        .collect();
    assert_eq!(statuses, ["creating", "running"]);
}
