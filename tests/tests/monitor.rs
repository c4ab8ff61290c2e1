//! The seccomp-notify monitor on real containers, through a private dockerd: syscalls reach it from
//! `docker run` and `docker exec`, it survives storms, signals and pauses without hanging the
//! container, Docker's own seccomp profile stays in force, and nothing is left after `docker rm`.

use std::time::Duration;

use ids_e2e::dockerd::Dockerd;
use ids_e2e::{assert_ok, ids_runc, monitor_pids, wait_until};

fn syscall_count(doc: &serde_json::Value, name: &str) -> u64 {
    doc["syscalls"][name].as_u64().unwrap_or(0)
}

/// A busybox image that also has the multi-threaded `storm` fixture at /bin/storm.
fn import_storm_image(d: &Dockerd) {
    ids_e2e::import_with_fixture(d, "storm:latest", "storm");
}

#[test]
fn run_and_exec_feed_the_same_monitor() {
    let d = Dockerd::start(&ids_runc());
    d.run("busybox")
        .name("watched")
        .mode("learn")
        .sh("while true; do ls / >/dev/null; sleep 0.2; done")
        .detached();
    let id = d.id_of("watched");
    assert!(
        wait_until(Duration::from_secs(10), || d
            .inspect(&id)
            .is_some_and(|doc| syscall_count(&doc, "execve") > 0
                && doc["detector"]["windows"].as_u64() > Some(0))),
        "inspect never showed execve and a window after it"
    );
    let before = d.inspect(&id).unwrap();
    assert_eq!(before["mode"], "learn");
    assert_eq!(before["supervisor"]["handovers"], 1);
    assert!(syscall_count(&before, "getdents64") > 0, "{before}");
    assert!(before["detector"]["windows"].as_u64().unwrap() > 0);

    let out = d.docker_ok(&[
        "exec",
        "watched",
        "sh",
        "-c",
        "echo exec-ran; uname -n >/dev/null",
    ]);
    assert_eq!(out, "exec-ran");
    let after = d.inspect(&id).unwrap();
    assert_eq!(
        after["supervisor"]["handovers"], 2,
        "exec not handed over: {after}"
    );
    assert!(syscall_count(&after, "uname") > syscall_count(&before, "uname"));
    assert!(after["detector"]["calls"].as_u64() > before["detector"]["calls"].as_u64());
}

#[test]
fn storm_signals_and_pause_never_hang_the_container() {
    let d = Dockerd::start(&ids_runc());
    import_storm_image(&d);
    d.run("storm")
        .name("storm")
        .mode("learn")
        .cmd(&["storm", "8"])
        .detached();
    let id = d.id_of("storm");
    let calls = || {
        d.inspect(&id)
            .map(|doc| doc["supervisor"]["notifications"].as_u64().unwrap_or(0))
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(10), || calls() > 10_000),
        "storm not seen"
    );

    d.docker_ok(&["kill", "-s", "STOP", "storm"]);
    std::thread::sleep(Duration::from_millis(300));
    d.docker_ok(&["kill", "-s", "CONT", "storm"]);
    let resumed = calls();
    assert!(
        wait_until(Duration::from_secs(10), || calls() > resumed + 1000),
        "stalled after SIGCONT"
    );

    d.docker_ok(&["pause", "storm"]);
    assert_eq!(d.status("storm"), "paused");
    let paused = d
        .inspect(&id)
        .expect("monitor answers while the container is paused");
    d.docker_ok(&["unpause", "storm"]);
    let at_unpause = paused["supervisor"]["notifications"].as_u64().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || calls() > at_unpause + 1000),
        "stalled after unpause"
    );

    let out = d.docker_ok(&["exec", "storm", "storm", "2", "1"]);
    assert!(
        out.parse::<u64>().unwrap() > 0,
        "exec'd storm made no calls: {out}"
    );

    // SIGKILL while every thread is inside a notified syscall: the container must go, the
    // monitor must see it go.
    d.docker_ok(&["kill", "-s", "KILL", "storm"]);
    assert!(
        d.wait_exited("storm", Duration::from_secs(15)),
        "container did not exit after SIGKILL"
    );
    let state = d.state_root().join(&id);
    assert!(
        wait_until(Duration::from_secs(10), || monitor_pids(&state).is_empty()),
        "monitor still running after its container died"
    );
}

#[test]
fn dockers_seccomp_profile_stays_in_force() {
    let d = Dockerd::start(&ids_runc());
    // unshare(CLONE_NEWUSER) needs no capability: only Docker's default profile refuses it.
    let unconfined = d
        .run("busybox")
        .rm()
        .option("--security-opt")
        .option("seccomp=unconfined")
        .mode("learn")
        .cmd(&["unshare", "-U", "true"])
        .output();
    assert_ok(&unconfined, "unshare -U without Docker's profile");
    let confined = d
        .run("busybox")
        .rm()
        .mode("learn")
        .cmd(&["unshare", "-U", "true"])
        .output();
    assert_eq!(confined.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&confined.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&confined.stderr)
    );
}

#[test]
fn nothing_is_left_after_docker_rm() {
    let d = Dockerd::start(&ids_runc());
    d.run("busybox")
        .name("short")
        .mode("learn")
        .cmd(&["sleep", "300"])
        .detached();
    let id = d.id_of("short");
    let state = d.state_dir(&id).expect("state dir");
    assert!(state.join("seccomp.sock").exists());
    assert!(state.join("control.sock").exists());
    assert_eq!(
        monitor_pids(&state).len(),
        2,
        "one monitor per container, and its keeper"
    );
    d.docker_ok(&["rm", "-f", "short"]);
    assert!(!state.exists(), "state dir left: {}", state.display());
    assert!(
        wait_until(Duration::from_secs(5), || monitor_pids(&state).is_empty()),
        "monitor left running"
    );
    let left: Vec<_> = std::fs::read_dir(d.state_root()).unwrap().collect();
    assert!(left.is_empty(), "state root not empty: {left:?}");
    let last: serde_json::Value = serde_json::from_slice(
        &std::fs::read(d.dir().join("runs").join(format!("{id}.final.json")))
            .expect("the monitor's final state outlives its state dir"),
    )
    .unwrap();
    assert_eq!(last["state"]["supervisor"]["handovers"], 1, "{last}");
    assert!(
        last["state"]["syscalls"]["execve"].as_u64() > Some(0),
        "{last}"
    );

    // The same through `docker run --rm`, where the monitor ends before delete.
    let out = d.run("busybox").rm().mode("learn").cmd(&["echo", "x"]).ok();
    assert_eq!(out, "x");
    assert!(wait_until(Duration::from_secs(5), || std::fs::read_dir(
        d.state_root()
    )
    .unwrap()
    .next()
    .is_none()));
}

#[test]
fn an_unknown_mode_fails_create_with_a_clear_error() {
    let d = Dockerd::start(&ids_runc());
    let out = d.run("busybox").rm().mode("lern").cmd(&["true"]).output();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("IDS_RUNC_MODE") && stderr.contains("lern"),
        "{stderr}"
    );
}
