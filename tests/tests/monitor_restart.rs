//! A seccomp-notify monitor killed under a busy container, through a private dockerd: its keeper
//! starts another, the container's calls wait instead of failing (a `docker exec` made meanwhile
//! too), detection goes on, and one `monitor-restarted` event says so.

use std::time::Duration;

use ids_e2e::dockerd::Dockerd;
use ids_e2e::procs::{assert_nothing_left, kept_monitor, monitor_pid};
use ids_e2e::workload::learn;
use ids_e2e::{ids_runc, wait_until};

/// Never ends; says so whenever a call fails (a shell that cannot fork also says "can't").
const BUSY: &str = "while true; do ls /bin >/dev/null || echo call-failed; \
                    cat /etc/passwd >/dev/null || echo call-failed; done";

fn notifications(d: &Dockerd, id: &str) -> u64 {
    d.inspect(id)
        .and_then(|c| c["supervisor"]["notifications"].as_u64())
        .unwrap_or(0)
}

fn restarts(d: &Dockerd, id: &str) -> Vec<serde_json::Value> {
    d.events_of(id)
        .into_iter()
        .filter(|e| e["kind"] == "monitor-restarted")
        .collect()
}

fn signal(pid: i32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
}

#[test]
fn a_killed_monitor_is_restarted_and_its_busy_container_never_notices() {
    let d = Dockerd::start(&ids_runc());
    learn(&d, "busy", "seccomp-notify");
    let id = d
        .run("busybox")
        .mode("detect")
        .profile("busy")
        .action("log")
        .sh(BUSY)
        .detached();
    assert!(
        wait_until(Duration::from_secs(30), || notifications(&d, &id) > 5000),
        "the container never got busy"
    );
    let keeper = monitor_pid(&d, &id);
    let first = kept_monitor(keeper).expect("the keeper keeps a monitor");
    // Stopped first, so that a `docker exec` comes while nobody serves: runc hands its fd over
    // into the listener's backlog, and its process waits with the rest.
    signal(first, nix::sys::signal::Signal::SIGSTOP);
    let exec = std::thread::scope(|scope| {
        let exec = scope.spawn(|| d.docker(&["exec", &id, "sh", "-c", "echo exec-ok"]));
        std::thread::sleep(Duration::from_secs(2));
        signal(first, nix::sys::signal::Signal::SIGKILL);
        exec.join().unwrap()
    });
    assert_eq!(
        String::from_utf8_lossy(&exec.stdout).trim(),
        "exec-ok",
        "{}",
        String::from_utf8_lossy(&exec.stderr)
    );

    let second = || kept_monitor(keeper).filter(|&p| p != first);
    assert!(
        wait_until(Duration::from_secs(10), || second().is_some()),
        "no new monitor"
    );
    // The new monitor took the fd over and serves the calls that waited and those after.
    assert!(
        wait_until(Duration::from_secs(20), || notifications(&d, &id) > 5000),
        "the container's calls are not served after the restart: {:?} {:?}",
        d.inspect(&id),
        d.events_of(&id)
    );
    let c = d.inspect(&id).unwrap();
    assert_eq!(c["supervisor"]["resumed"], 1, "{c}");
    assert_eq!(c["supervisor"]["refused_handovers"], 0, "{c}");
    assert!(
        c["supervisor"]["handovers"].as_u64() >= Some(2),
        "the exec's fd was not taken from the backlog: {c}"
    );
    assert_eq!(
        monitor_pid(&d, &id),
        keeper,
        "the keeper stays the recorded monitor"
    );

    // Detection works with the new monitor: a process that listens on a socket is caught.
    let _ = d.docker(&["exec", &id, "nc", "-l", "-p", "8080", "-w", "1"]);
    assert!(
        wait_until(Duration::from_secs(10), || d.events_of(&id).iter().any(
            |e| e["kind"] == "unseen-syscall" && e["syscalls"][0] == "socket"
        )),
        "{:?}",
        d.events_of(&id)
    );

    assert_eq!(d.status(&id), "running");
    let logs = d.logs(&id);
    for failure in ["call-failed", "can't", "Function not implemented"] {
        assert!(!logs.contains(failure), "a call failed: {logs}");
    }
    let restarted = restarts(&d, &id);
    assert_eq!(restarted.len(), 1, "{:?}", d.events_of(&id));
    let event = &restarted[0];
    assert!(event["waited_ms"].as_u64().is_some(), "{event}");
    let message = event["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("pid {first}")) && message.contains("SIGKILL"),
        "{message}"
    );
    assert!(
        d.events_of(&id).iter().all(|e| e["kind"] != "monitor-died"),
        "{:?}",
        d.events_of(&id)
    );

    d.docker_ok(&["rm", "-f", &id]);
    assert_eq!(restarts(&d, &id).len(), 1, "one event per restart");
    assert_nothing_left(&d);
}

/// A learning container's monitor, killed: the next one goes on from the profile saved last.
#[test]
fn a_restarted_monitor_goes_on_from_the_profile_saved_last() {
    let d = Dockerd::start(&ids_runc());
    d.set_host_config(serde_json::json!({ "save_interval_secs": 1 }));
    let id = d
        .run("busybox")
        .mode("learn")
        .profile("kept")
        // Long enough for saves (looked for every 4096 calls, once a second has passed).
        .sh(
            "i=0; while [ $i -lt 300 ]; do ls /bin >/dev/null; cat /etc/passwd >/dev/null; \
             i=$((i+1)); done; echo learnt; sleep 600",
        )
        .detached();
    let path = d.profile_dir().join("kept.json");
    let saved_bags = || -> usize {
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|p| p["normal_db"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(60), || d.logs(&id).contains("learnt")),
        "the workload never ended"
    );
    assert!(saved_bags() > 0, "nothing saved while learning");
    let keeper = monitor_pid(&d, &id);
    let first = kept_monitor(keeper).expect("the keeper keeps a monitor");
    signal(first, nix::sys::signal::Signal::SIGKILL);
    assert!(
        wait_until(Duration::from_secs(10), || restarts(&d, &id).len() == 1),
        "{:?}",
        d.events_of(&id)
    );
    let message = restarts(&d, &id)[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("reloaded the profile saved last"),
        "{message}"
    );
    // The container sleeps: whatever the new monitor's database holds, it read from the file.
    let c = d.inspect(&id).expect("the new monitor answers");
    assert_eq!(
        c["detector"]["database_size"].as_u64(),
        Some(saved_bags() as u64),
        "{c}"
    );
    d.docker_ok(&["rm", "-f", &id]);
    assert_nothing_left(&d);
}
