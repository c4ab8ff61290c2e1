//! Load, sized for CI (hack/bench-load.sh runs the full counts and measures): many monitored
//! containers at once and in a row, many `docker exec`s into one container, a thousand threads, a
//! fork storm. Afterwards nothing of ids-runc may be left: no monitor, state dir, socket or fd.

use std::time::Duration;

use ids_e2e::dockerd::Dockerd;
use ids_e2e::procs::{
    assert_nothing_left, fd_count, import_loadbox, monitor_pid, serving_monitor, status_field,
};
use ids_e2e::{ids_runc, wait_until};

/// A workload of a few thousand calls.
const WORK: &str = "ls /bin >/dev/null; cat /etc/passwd >/dev/null; echo done";

/// The counters a monitor wrote when it ended (`<runs_dir>/<id>.final.json`).
fn final_state(d: &Dockerd, id: &str) -> serde_json::Value {
    let path = d.dir().join("runs").join(format!("{id}.final.json"));
    assert!(
        wait_until(Duration::from_secs(20), || path.exists()),
        "{} never written",
        path.display()
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    doc["state"].clone()
}

#[test]
fn twenty_monitored_containers_at_once() {
    let d = Dockerd::start(&ids_runc());
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..20)
            .map(|i| {
                let d = &d;
                s.spawn(move || {
                    d.run("busybox")
                        .rm()
                        .mode("learn")
                        .profile(&format!("at-once-{i}"))
                        .sh(WORK)
                        .ok()
                })
            })
            .collect();
        for run in runs {
            assert_eq!(run.join().unwrap(), "done");
        }
    });
    for i in 0..20 {
        assert!(d.profile_dir().join(format!("at-once-{i}.json")).exists());
    }
    assert_nothing_left(&d);
}

#[test]
fn fifty_monitored_containers_in_a_row() {
    let d = Dockerd::start(&ids_runc());
    for i in 0..50 {
        let mode = if i % 2 == 0 { "learn" } else { "null" };
        let out = d
            .run("busybox")
            .rm()
            .mode(mode)
            .profile("in-a-row")
            .sh(WORK)
            .ok();
        assert_eq!(out, "done", "run {i}");
    }
    assert_nothing_left(&d);
}

#[test]
fn two_hundred_execs_leave_the_monitor_as_it_was() {
    let d = Dockerd::start(&ids_runc());
    let id = d
        .run("busybox")
        .mode("learn")
        .cmd(&["sleep", "600"])
        .detached();
    let monitor = serving_monitor(&d, &id);
    let keeper = monitor_pid(&d, &id);
    d.docker_ok(&["exec", &id, "true"]);
    let fds = fd_count(monitor);
    let keeper_fds = fd_count(keeper);
    let threads = status_field(monitor, "Threads");
    for i in 0..200 {
        let out = d.docker_ok(&["exec", &id, "sh", "-c", "echo $$ >/dev/null; echo ok"]);
        assert_eq!(out, "ok", "exec {i}");
    }
    let c = d.inspect(&id).expect("monitor answers after 200 execs");
    assert_eq!(c["supervisor"]["handovers"], 202, "{c}");
    // An exec'd process's notify fd is closed once it has hung up. Not above the count taken
    // after the first exec: that one may still have held the first exec's fd.
    assert!(
        wait_until(Duration::from_secs(10), || fd_count(monitor) <= fds),
        "monitor fds {} before, {} after",
        fds,
        fd_count(monitor)
    );
    assert_eq!(status_field(monitor, "Threads"), threads);
    // The keeper holds every notify fd too, and lets go of it the same way.
    assert!(
        wait_until(Duration::from_secs(10), || fd_count(keeper) <= keeper_fds),
        "keeper fds {} before, {} after",
        keeper_fds,
        fd_count(keeper)
    );
    d.docker_ok(&["rm", "-f", &id]);
    assert_nothing_left(&d);
}

#[test]
fn a_thousand_threads_are_followed_and_forgotten() {
    let d = Dockerd::start(&ids_runc());
    import_loadbox(&d);
    let id = d
        .run("loadbox")
        .mode("learn")
        .cmd(&["threads", "1000", "50"])
        .detached();
    assert!(d.wait_exited(&id, Duration::from_secs(120)));
    assert_eq!(d.docker_ok(&["logs", &id]), "ok 1000");
    let state = final_state(&d, &id);
    assert!(
        state["syscalls"]["getppid"].as_u64() >= Some(50_000),
        "{state}"
    );
    // Every thread ended with `exit`, which takes its window with it.
    assert!(
        state["detector"]["streams"].as_u64() <= Some(2),
        "{}",
        state["detector"]
    );
    d.docker_ok(&["rm", &id]);
    assert_nothing_left(&d);
}

#[test]
fn a_fork_storm_is_followed_to_the_end() {
    let d = Dockerd::start(&ids_runc());
    import_loadbox(&d);
    let out = d
        .run("loadbox")
        .rm()
        .mode("learn")
        .profile("storm")
        .cmd(&["forks", "500"])
        .ok();
    assert_eq!(out, "ok 500");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.profile_dir().join("storm.json")).unwrap())
            .unwrap();
    let calls = profile["training"]["calls"].as_u64().unwrap();
    assert!(calls >= 500 * 10, "{calls} calls learnt");
    assert_nothing_left(&d);
}

/// Known limit, kept as a test that shows it: a notified call waits interruptibly, so a shell's
/// `fork` (clone) cut short by its own SIGCHLD handler can fail with EINTR instead of being
/// restarted, and busybox sh gives up ("can't fork: Interrupted system call"). Intermittent: it
/// passes alone, and failed when the load tests ran two at a time. Needs
/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (runc >= 1.2, libseccomp >= 2.6) to go away.
#[test]
#[ignore = "intermittent under seccomp notify on runc 1.1: a shell's fork can fail with EINTR"]
fn a_shell_fork_storm_completes() {
    let d = Dockerd::start(&ids_runc());
    let out = d
        .run("busybox")
        .rm()
        .mode("learn")
        .sh("i=0; while [ $i -lt 300 ]; do (cat /etc/hostname >/dev/null) & i=$((i+1)); done; wait; echo done")
        .ok();
    assert_eq!(out, "done");
    assert_nothing_left(&d);
}
