//! What a container cannot do to its monitor: reach its sockets or files, stall or crash it with a
//! syscall flood or 10,000 threads; and what an image cannot do to the host's policy.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use ids_e2e::bundle::Bundle;
use ids_e2e::dockerd::Dockerd;
use ids_e2e::procs::{assert_nothing_left, import_loadbox, serving_monitor, status_field};
use ids_e2e::{ids_runc, wait_until};

#[test]
fn the_monitors_state_is_out_of_the_containers_reach() {
    let d = Dockerd::start(&ids_runc());
    let root = d.state_root().display().to_string();
    let id = d
        .run("busybox")
        .mode("learn")
        .cmd(&["sleep", "600"])
        .detached();
    // On the host: root-only, and the sockets are inside.
    let state = d.state_dir(&id).expect("state dir");
    let meta = std::fs::metadata(&state).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert_eq!(meta.uid(), 0);
    assert!(state.join("control.sock").exists() && state.join("seccomp.sock").exists());

    // From inside: the state root does not exist, no socket of ours is anywhere in the file
    // system, and only the container's own processes are in /proc.
    let script = format!(
        "ls -d '{root}' /run/ids-runc 2>&1; \
         find / -path /proc -prune -o -path /sys -prune -o \\( -name control.sock -o -name seccomp.sock -o -name monitor.pid \\) -print 2>/dev/null; \
         echo pids $(ls /proc | grep -c '^[0-9]'); \
         grep -l monitor /proc/[0-9]*/cmdline 2>/dev/null; echo end"
    );
    let out = d.docker_ok(&["exec", &id, "sh", "-c", &script]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("No such file") && lines[1].contains("No such file"),
        "{out}"
    );
    assert!(
        !out.contains("control.sock") && !out.contains("seccomp.sock") && !out.contains(".pid"),
        "{out}"
    );
    let pids: usize = lines
        .iter()
        .find_map(|l| l.strip_prefix("pids "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(pids <= 6, "the container sees {pids} processes: {out}");
    assert_eq!(lines.last(), Some(&"end"), "{out}");
    assert!(d.inspect(&id).is_some(), "the monitor still answers");
    d.docker_ok(&["rm", "-f", &id]);
    assert_nothing_left(&d);
}

#[test]
fn a_syscall_flood_does_not_stall_the_monitor() {
    let d = Dockerd::start(&ids_runc());
    import_loadbox(&d);
    let id = d
        .run("loadbox")
        .mode("learn")
        .cmd(&["getppid", "3000000"])
        .detached();
    // While the flood runs, every inspect is answered (each within inspect's own 5 s timeout),
    // and the count goes on growing between them.
    let mut seen = Vec::new();
    while d.status(&id) != "exited" && seen.len() < 5 {
        let c = d.inspect(&id);
        if d.status(&id) == "exited" {
            break;
        }
        let c = c.expect("the monitor answered inspect during the flood");
        seen.push(c["syscalls"]["getppid"].as_u64().unwrap_or(0));
    }
    assert!(
        seen.len() >= 2,
        "the flood ended before two looks: {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(d.wait_exited(&id, Duration::from_secs(120)));
    assert_eq!(d.exit_code(&id), 0);
    d.docker_ok(&["rm", &id]);
    assert_nothing_left(&d);
}

#[test]
fn ten_thousand_threads_do_not_crash_the_monitor() {
    let d = Dockerd::start(&ids_runc());
    import_loadbox(&d);
    let id = d
        .run("loadbox")
        .mode("learn")
        .sh("threads 10000 5; sleep 600")
        .detached();
    let monitor = serving_monitor(&d, &id);
    let done = wait_until(Duration::from_secs(180), || {
        d.docker_ok(&["logs", &id]).contains("ok 10000") || d.status(&id) == "exited"
    });
    assert!(done, "the threads never finished");
    assert_eq!(d.docker_ok(&["logs", &id]), "ok 10000");
    let c = d
        .inspect(&id)
        .expect("the monitor answers after 10,000 threads");
    assert_eq!(serving_monitor(&d, &id), monitor, "the same monitor");
    assert!(c["syscalls"]["getppid"].as_u64() >= Some(50_000), "{c}");
    assert!(
        c["detector"]["streams"].as_u64() <= Some(4),
        "{}",
        c["detector"]
    );
    // Bounded memory: a window per live thread, dropped at its exit (11 MiB measured in release).
    let peak_kib = status_field(monitor, "VmHWM").unwrap();
    assert!(peak_kib < 64 * 1024, "monitor peaked at {peak_kib} KiB");
    d.docker_ok(&["rm", "-f", &id]);
    assert_nothing_left(&d);
}

/// The normal workload and something it never did.
const NORMAL: &str =
    "for i in 1 2 3; do ls /bin >/dev/null; cat /etc/passwd >/dev/null; done; echo done";
const ANOMALOUS: &str = "cat /etc/shadow >/dev/null; nc -l -p 8080 -w 1; echo survived";

#[test]
fn an_image_cannot_weaken_a_mandatory_host_policy() {
    let d = Dockerd::start(&ids_runc());
    for _ in 0..3 {
        d.run("busybox")
            .rm()
            .mode("learn")
            .profile("weak")
            .sh(NORMAL)
            .ok();
    }
    // The image ships the profile with the weakest policy, and env that turns monitoring off.
    let path = d.profile_dir().join("weak.json");
    let mut profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    profile["policy"] = serde_json::json!({"on_anomaly": "log", "on_unseen_syscall": "ignore"});
    std::fs::remove_file(&path).unwrap();
    let bundle = Bundle::new(&["sh"]);
    let dir = bundle.rootfs().join("etc/ids-runc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("profile.json"), profile.to_string()).unwrap();
    d.import_with(
        "weak:latest",
        &bundle.rootfs(),
        &["ENV IDS_RUNC_MODE=off", "ENV IDS_RUNC_ACTION=log"],
    );

    // Without a mandatory policy the image's ENV turns monitoring off.
    let out = d.run("weak").rm().sh(ANOMALOUS).ok();
    assert!(out.contains("survived"), "{out}");

    d.set_host_config(serde_json::json!({
        "mandatory": {"mode": "detect", "action": "kill"}
    }));
    let out = d.run("weak").rm().sh(NORMAL).ok();
    assert_eq!(out, "done", "normal work under the mandatory policy");
    let run = d.run("weak").name("attacked").sh(ANOMALOUS).output();
    assert_eq!(
        run.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let id = d.id_of("attacked");
    let events = d.events_of(&id);
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "killed" && e["mode"] == "detect"),
        "{events:?}"
    );
}
