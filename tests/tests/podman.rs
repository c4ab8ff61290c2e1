//! ids-runc as a podman runtime (registered by `deploy/podman/containers.conf`), on a private
//! podman: run, `-d`, exec, stop, rm, `--rm`, and learn -> detect -> kill, with nothing left in
//! runc's state, ids-runc's state root or the process table afterwards.

use std::time::Duration;

use ids_e2e::podman::Podman;
use ids_e2e::procs::monitors_under;
use ids_e2e::workload::{ANOMALOUS, NORMAL};
use ids_e2e::{ids_runc, wait_until};

/// `podman run` words before the image: ids-runc, no network (nothing to configure), `env`.
fn run_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--runtime", "ids-runc", "--network", "none"];
    args.extend_from_slice(extra);
    args
}

#[track_caller]
fn assert_nothing_left(p: &Podman) {
    let containers = p.podman_ok(&["ps", "--all", "--quiet"]);
    assert!(containers.is_empty(), "podman still lists {containers}");
    assert_eq!(
        p.runc_containers(),
        Some(vec![]),
        "runc still has containers"
    );
    assert!(
        wait_until(Duration::from_secs(10), || monitors_under(p.state_root())
            .is_empty()),
        "monitors still running: {:?}",
        monitors_under(p.state_root())
    );
    assert_eq!(p.state_left(), Vec::<String>::new(), "ids-runc state left");
}

#[test]
fn podman_run_detach_exec_stop_rm_leave_nothing() {
    let p = Podman::new(&ids_runc());

    let mut args = run_args(&["--rm"]);
    args.extend(["busybox", "echo", "hi"]);
    assert_eq!(p.podman_ok(&args), "hi");

    // A learning container: monitored, so its monitor must come and go with it.
    let mut args = run_args(&["-d", "--name", "d1", "-e", "IDS_RUNC_MODE=learn"]);
    args.extend(["busybox", "sleep", "300"]);
    p.podman_ok(&args);
    assert_eq!(
        monitors_under(p.state_root()).len(),
        1,
        "d1 is not monitored"
    );
    let out = p.podman_ok(&["exec", "d1", "sh", "-c", "echo in-exec; cat /etc/hostname"]);
    assert!(out.starts_with("in-exec\n"), "{out}");
    p.podman_ok(&["stop", "--time", "1", "d1"]);
    assert_eq!(
        p.podman_ok(&["inspect", "--format", "{{.State.Status}}", "d1"]),
        "exited"
    );
    // Podman passes no image name, so what d1 learnt is under its container id.
    let d1 = p.podman_ok(&["inspect", "--format", "{{.Id}}", "d1"]);
    assert!(p.profile_dir().join(format!("{d1}.json")).is_file());
    assert!(!p.profile_dir().join("busybox.json").exists());
    p.podman_ok(&["rm", "d1"]);

    // Removed while running.
    let mut args = run_args(&["-d", "--name", "d2", "-e", "IDS_RUNC_MODE=learn"]);
    args.extend(["busybox", "sleep", "300"]);
    p.podman_ok(&args);
    p.podman_ok(&["rm", "--force", "--time", "1", "d2"]);

    let mut args = run_args(&["--rm", "-e", "IDS_RUNC_MODE=learn"]);
    args.extend(["busybox", "true"]);
    p.podman_ok(&args);

    assert_nothing_left(&p);
    let calls = p.runtime_calls();
    for command in ["create ", "exec ", "kill ", "delete "] {
        assert!(
            calls.iter().any(|c| c.contains(command)),
            "podman never ran `{command}` through ids-runc: {calls:#?}"
        );
    }
    // What broke `podman stop` and `rm` before: runtime calls with no PATH at all.
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("PATH=none") && c.contains("delete ")),
        "podman called delete with a PATH this time, so the empty-PATH case went untested: \
         {calls:#?}"
    );
}

#[test]
fn podman_learn_detect_kill() {
    let p = Podman::new(&ids_runc());
    for _ in 0..3 {
        let mut args = run_args(&[
            "--rm",
            "-e",
            "IDS_RUNC_MODE=learn",
            "-e",
            "IDS_RUNC_PROFILE=pm",
        ]);
        args.extend(["busybox", "sh", "-c", NORMAL]);
        assert_eq!(p.podman_ok(&args), "done");
    }
    assert!(
        p.profile_dir().join("pm.json").is_file(),
        "learning saved no profile"
    );

    let detect = |script: &str| -> (String, i64) {
        let mut args = run_args(&[
            "-d",
            "-e",
            "IDS_RUNC_MODE=detect",
            "-e",
            "IDS_RUNC_PROFILE=pm",
            "-e",
            "IDS_RUNC_ACTION=kill",
        ]);
        args.extend(["busybox", "sh", "-c", script]);
        let id = p.podman_ok(&args);
        assert!(
            wait_until(Duration::from_secs(60), || p.podman_ok(&[
                "inspect",
                "--format",
                "{{.State.Status}}",
                &id
            ]) == "exited"),
            "container {id} did not finish"
        );
        let code = p
            .podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", &id])
            .parse()
            .expect("exit code");
        (id, code)
    };

    let (normal, code) = detect(NORMAL);
    assert_eq!(code, 0, "normal work was stopped: {:#?}", p.events());
    let (attack, code) = detect(&format!("{NORMAL}; {ANOMALOUS}"));
    assert_eq!(code, 137, "the anomaly was not killed: {:#?}", p.events());
    let events = p.events();
    assert!(
        events
            .iter()
            .all(|e| e["container"] != normal.as_str() || e["action"] != "killed"),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["container"] == attack.as_str() && e["action"] == "killed"),
        "no kill event for {attack}: {events:#?}"
    );

    p.podman_ok(&["rm", &normal, &attack]);
    assert_nothing_left(&p);
}
