//! dockerd with `"live-restore": true`, restarted while monitored containers run: the containers
//! and their monitors go on untouched, the daemon finds them again, new `docker exec`s are
//! watched, and `docker rm -f` still cleans up.

use std::time::Duration;

use ids_e2e::dockerd::Dockerd;
use ids_e2e::procs::{assert_nothing_left, monitor_pid, serving_monitor};
use ids_e2e::workload::learn;
use ids_e2e::{ids_runc, wait_until};

/// Runs until killed, now and then.
const STEADY: &str = "while true; do ls /bin >/dev/null; cat /etc/passwd >/dev/null; \
                      sleep 0.2; done";

fn calls(d: &Dockerd, id: &str) -> u64 {
    d.inspect(id)
        .and_then(|c| c["detector"]["calls"].as_u64())
        .unwrap_or(0)
}

#[test]
fn live_restore_keeps_monitored_containers_running_and_watched() {
    let mut d = Dockerd::start_with(&ids_runc(), serde_json::json!({ "live-restore": true }));
    let monitors = ["seccomp-notify", "ptrace"];
    let ids: Vec<String> = monitors
        .iter()
        .map(|monitor| {
            let profile = format!("steady-{monitor}");
            learn(&d, &profile, monitor);
            d.run("busybox")
                .mode("detect")
                .monitor(monitor)
                .profile(&profile)
                .action("log")
                .sh(STEADY)
                .detached()
        })
        .collect();
    let before: Vec<(String, i32, i32)> = ids
        .iter()
        .map(|id| {
            assert!(
                wait_until(Duration::from_secs(20), || calls(&d, id) > 0),
                "not monitored"
            );
            let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", id]);
            (pid, monitor_pid(&d, id), serving_monitor(&d, id))
        })
        .collect();

    d.restart();

    for ((id, monitor), (pid, recorded, serving)) in ids.iter().zip(monitors).zip(&before) {
        assert_eq!(d.status(id), "running", "{monitor}");
        assert_eq!(
            &d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", id]),
            pid,
            "{monitor}: the same container process"
        );
        assert_eq!(
            monitor_pid(&d, id),
            *recorded,
            "{monitor}: the same monitor"
        );
        assert_eq!(serving_monitor(&d, id), *serving, "{monitor}");
        let seen = calls(&d, id);
        assert!(
            wait_until(Duration::from_secs(20), || calls(&d, id) > seen),
            "{monitor}: its calls are no longer seen"
        );
        // A process started through the restarted daemon is watched too.
        let _ = d.docker(&["exec", id, "nc", "-l", "-p", "8080", "-w", "1"]);
        assert!(
            wait_until(Duration::from_secs(10), || d.events_of(id).iter().any(
                |e| e["kind"] == "unseen-syscall" && e["syscalls"][0] == "socket"
            )),
            "{monitor}: {:?}",
            d.events_of(id)
        );
        assert!(
            d.events_of(id)
                .iter()
                .all(|e| e["kind"] != "monitor-died" && e["kind"] != "monitor-restarted"),
            "{monitor}: {:?}",
            d.events_of(id)
        );
    }

    for id in &ids {
        d.docker_ok(&["rm", "-f", id]);
        assert_eq!(d.state_dir(id), None, "state dir left behind");
    }
    assert_nothing_left(&d);
}
