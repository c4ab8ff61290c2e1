//! The ptrace monitor (`IDS_RUNC_MONITOR=ptrace`) on real containers, through a private dockerd:
//! learn and detect, docker exec/stop/pause/kill on a traced container, threads and forks without
//! hangs, and a program that uses ptrace itself.

use std::time::Duration;

use ids_e2e::dockerd::Dockerd;
use ids_e2e::workload::{learn, ANOMALOUS, NORMAL};
use ids_e2e::{ids_runc, import_with_fixture, monitor_pids, wait_until};

fn syscalls_seen(d: &Dockerd, id: &str) -> u64 {
    d.inspect(id)
        .map(|doc| doc["supervisor"]["syscalls"].as_u64().unwrap_or(0))
        .unwrap_or(0)
}

#[test]
fn ptrace_learns_then_detects_and_kills() {
    let d = Dockerd::start(&ids_runc());
    learn(&d, "traced", "ptrace");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.profile_dir().join("traced.json")).unwrap())
            .unwrap();
    assert_eq!(
        profile["monitor"]["kind"], "ptrace",
        "{}",
        profile["monitor"]
    );
    // ptrace sees what seccomp notify cannot.
    let syscalls = profile["syscalls"].as_array().unwrap();
    assert!(syscalls.iter().any(|s| s == "write"), "{syscalls:?}");

    let (code, id, logs) = ids_e2e::workload::detect(&d, "traced", "ptrace", "kill", NORMAL);
    assert_eq!(code, 0, "normal rerun was stopped: {logs}");
    assert_eq!(logs.trim(), "done");
    assert!(
        d.events_of(&id).is_empty(),
        "normal rerun raised {:?}",
        d.events_of(&id)
    );

    let (code, id, logs) = ids_e2e::workload::detect(&d, "traced", "ptrace", "kill", ANOMALOUS);
    assert_eq!(code, 137, "anomalous container not killed: {logs}");
    assert!(!logs.contains("survived"), "{logs}");
    let events = d.events_of(&id);
    let e = events.first().expect("kill left no event");
    assert_eq!(e["action"], "killed");
    assert_eq!(e["monitor"], "ptrace");
    assert!(
        ["unseen-syscall", "unseen-resource", "anomaly"].contains(&e["kind"].as_str().unwrap()),
        "{e}"
    );
}

#[test]
fn a_seccomp_notify_profile_works_under_ptrace() {
    let d = Dockerd::start(&ids_runc());
    learn(&d, "notify-made", "seccomp-notify");
    // ptrace sees write, rt_sigreturn and the rest that notify could not: they are set aside, so
    // the normal workload stays quiet, and the anomaly is still caught.
    let (code, id, logs) = ids_e2e::workload::detect(&d, "notify-made", "ptrace", "kill", NORMAL);
    assert_eq!(code, 0, "normal run under ptrace was stopped: {logs}");
    assert!(d.events_of(&id).is_empty(), "{:?}", d.events_of(&id));
    let (code, _, logs) = ids_e2e::workload::detect(&d, "notify-made", "ptrace", "kill", ANOMALOUS);
    assert_eq!(code, 137, "{logs}");
}

#[test]
fn exec_stop_pause_and_kill_on_a_traced_container() {
    let d = Dockerd::start(&ids_runc());
    d.run("busybox")
        .name("traced")
        .mode("learn")
        .monitor("ptrace")
        .sh("while true; do ls / >/dev/null; sleep 0.1; done")
        .detached();
    let id = d.id_of("traced");
    assert!(
        wait_until(Duration::from_secs(10), || syscalls_seen(&d, &id) > 100),
        "no syscalls traced"
    );
    let before = d.inspect(&id).unwrap();
    assert_eq!(before["monitor"], "ptrace");
    assert_eq!(before["supervisor"]["handovers"], 1, "{before}");

    let out = d.docker_ok(&["exec", "traced", "sh", "-c", "echo exec-ran; uname -n"]);
    assert!(out.starts_with("exec-ran"), "{out}");
    let after = d.inspect(&id).unwrap();
    assert_eq!(
        after["supervisor"]["handovers"], 2,
        "exec not traced: {after}"
    );
    assert!(
        after["syscalls"]["uname"].as_u64().unwrap_or(0)
            > before["syscalls"]["uname"].as_u64().unwrap_or(0),
        "{after}"
    );

    // SIGSTOP leaves the container stopped (a group stop), SIGCONT resumes it.
    d.docker_ok(&["kill", "-s", "STOP", "traced"]);
    std::thread::sleep(Duration::from_millis(300));
    let stopped = syscalls_seen(&d, &id);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        syscalls_seen(&d, &id) < stopped + 20,
        "the container kept running through SIGSTOP"
    );
    d.docker_ok(&["kill", "-s", "CONT", "traced"]);
    let resumed = syscalls_seen(&d, &id);
    assert!(
        wait_until(Duration::from_secs(10), || syscalls_seen(&d, &id)
            > resumed + 100),
        "stalled after SIGCONT"
    );

    d.docker_ok(&["pause", "traced"]);
    assert_eq!(d.status("traced"), "paused");
    assert!(d.inspect(&id).is_some(), "monitor must answer while paused");
    d.docker_ok(&["unpause", "traced"]);
    let unpaused = syscalls_seen(&d, &id);
    assert!(
        wait_until(Duration::from_secs(10), || syscalls_seen(&d, &id)
            > unpaused + 100),
        "stalled after unpause"
    );

    d.docker_ok(&["stop", "-t", "1", "traced"]);
    assert_eq!(d.status("traced"), "exited");
    d.docker_ok(&["start", "traced"]);
    assert!(
        wait_until(Duration::from_secs(10), || syscalls_seen(&d, &id) > 100),
        "restarted container not traced"
    );
    d.docker_ok(&["kill", "traced"]);
    assert!(
        d.wait_exited("traced", Duration::from_secs(15)),
        "container did not exit after docker kill"
    );
    let state = d.state_root().join(&id);
    assert!(
        wait_until(Duration::from_secs(10), || monitor_pids(&state).is_empty()),
        "monitor still running after its container died"
    );
    d.docker_ok(&["rm", "traced"]);
    assert!(!state.exists(), "state dir left after rm");
}

#[test]
fn threads_and_forks_are_traced_without_hangs() {
    let d = Dockerd::start(&ids_runc());
    import_with_fixture(&d, "storm:latest", "storm");
    d.run("storm")
        .name("storm")
        .mode("learn")
        .monitor("ptrace")
        .cmd(&["storm", "8"])
        .detached();
    let id = d.id_of("storm");
    assert!(
        wait_until(Duration::from_secs(15), || syscalls_seen(&d, &id) > 10_000),
        "storm not traced"
    );
    d.docker_ok(&["kill", "-s", "STOP", "storm"]);
    std::thread::sleep(Duration::from_millis(200));
    d.docker_ok(&["kill", "-s", "CONT", "storm"]);
    let resumed = syscalls_seen(&d, &id);
    assert!(
        wait_until(Duration::from_secs(10), || syscalls_seen(&d, &id)
            > resumed + 1000),
        "stalled after SIGCONT"
    );
    let forks = d.docker_ok(&[
        "exec",
        "storm",
        "sh",
        "-c",
        "i=0; while [ $i -lt 100 ]; do /bin/true & i=$((i+1)); done; wait; \
         for j in 1 2 3 4 5; do (ls / | wc -l) >/dev/null; done; echo forked",
    ]);
    assert_eq!(forks, "forked");
    let out = d.docker_ok(&["exec", "storm", "storm", "4", "1"]);
    assert!(out.parse::<u64>().unwrap() > 0, "{out}");
    let doc = d.inspect(&id).unwrap();
    assert!(
        doc["syscalls"]["clone"].as_u64().unwrap_or(0) >= 100,
        "{doc}"
    );

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
fn a_program_that_uses_ptrace_fails_clearly_instead_of_hanging() {
    let d = Dockerd::start(&ids_runc());
    import_with_fixture(&d, "tracer:latest", "ptrace_inside");
    let run = |mode: &str| {
        d.run("tracer")
            .rm()
            .mode(mode)
            .monitor("ptrace")
            .cmd(&["ptrace_inside"])
            .ok()
    };
    // Unmonitored, the program can trace its children: the failure below is the monitor's doing.
    let free = run("off");
    assert!(free.contains("seize: ok"), "{free}");
    assert!(free.contains("traceme: ok"), "{free}");

    let traced = run("learn");
    assert!(
        traced.contains("seize: Operation not permitted"),
        "{traced}"
    );
    assert!(
        traced.contains("traceme: Operation not permitted"),
        "{traced}"
    );
}

#[test]
fn the_container_outlives_its_ptrace_monitor() {
    let d = Dockerd::start(&ids_runc());
    d.run("busybox")
        .name("orphan")
        .mode("learn")
        .monitor("ptrace")
        .sh("while true; do echo tick; sleep 0.05; done")
        .detached();
    let id = d.id_of("orphan");
    assert!(
        wait_until(Duration::from_secs(10), || syscalls_seen(&d, &id) > 50),
        "not traced"
    );
    let state = d.state_dir(&id).expect("state dir");
    let monitors = monitor_pids(&state);
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitors[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || monitor_pids(&state).is_empty()),
        "monitor survived SIGKILL"
    );
    let ticks = || {
        ids_e2e::stdout(&d.docker(&["logs", "orphan"]))
            .lines()
            .count()
    };
    let before = ticks();
    assert!(
        wait_until(Duration::from_secs(10), || ticks() > before + 10),
        "the container stopped when its ptrace monitor died"
    );
    assert_eq!(d.status("orphan"), "running");
    // A new process could not be traced: exec fails closed, and says why.
    let exec = d.docker(&["exec", "orphan", "true"]);
    assert!(!exec.status.success(), "exec ran untraced");
    let why = format!(
        "{}{}",
        String::from_utf8_lossy(&exec.stdout),
        String::from_utf8_lossy(&exec.stderr)
    );
    assert!(why.contains("ptrace monitor"), "{why:?}");
    d.docker_ok(&["rm", "-f", "orphan"]);
    assert!(
        wait_until(Duration::from_secs(10), || !state.exists()),
        "state dir left after rm"
    );
}

#[test]
fn seccomp_stops_learn_detect_deny_and_keep_dockers_profile() {
    let d = Dockerd::start(&ids_runc());
    d.set_host_config(serde_json::json!({ "ptrace_stops": "seccomp" }));
    learn(&d, "stops", "ptrace");
    let (code, id, logs) = ids_e2e::workload::detect(&d, "stops", "ptrace", "kill", NORMAL);
    assert_eq!(code, 0, "normal rerun was stopped: {logs}");
    assert!(d.events_of(&id).is_empty(), "{:?}", d.events_of(&id));
    let (code, id, logs) = ids_e2e::workload::detect(
        &d,
        "stops",
        "ptrace",
        "anomaly=log,unseen=deny",
        "nc -l -p 8080 -w 1; echo \"nc=$?\"; echo survived",
    );
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("survived"), "{logs}");
    assert!(logs.contains("nc=1"), "socket was not denied: {logs}");
    let events = d.events_of(&id);
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "denied" && e["syscalls"][0] == "socket"),
        "{events:?}"
    );
    // The TRACE rules are merged into Docker's profile, whose refusals stay.
    let confined = d
        .run("busybox")
        .rm()
        .mode("learn")
        .monitor("ptrace")
        .cmd(&["unshare", "-U", "true"])
        .output();
    assert_eq!(confined.status.code(), Some(1));
}
