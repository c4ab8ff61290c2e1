//! Resources through a private dockerd: a profile learns what files a container writes and what
//! programs it runs; in detection a file written in a directory never written to, or a program
//! never run, is an `unseen-resource` event naming it, denied (EPERM) or killed.

use ids_e2e::bundle::Bundle;
use ids_e2e::dockerd::Dockerd;
use ids_e2e::ids_runc;

/// What the service does every time: writes its log in /tmp, reads /etc/passwd, runs a program.
const NORMAL: &str = "for i in 1 2 3; do echo $i > /tmp/app.log.$i; cat /etc/passwd >/dev/null; \
                      /opt/tools/true; done; echo done";

/// An image `tools` with a copy of busybox as `/opt/tools/{true,uname}`: programs the shell must
/// exec by their path (busybox's shell runs its own applets without exec).
fn import_tools(d: &Dockerd) {
    let bundle = Bundle::new(&["sh"]);
    let rootfs = bundle.rootfs();
    let tools = rootfs.join("opt/tools");
    std::fs::create_dir_all(&tools).unwrap();
    let busybox = std::fs::canonicalize(rootfs.join("bin/busybox")).unwrap();
    for name in ["true", "uname"] {
        std::fs::copy(&busybox, tools.join(name)).unwrap();
    }
    d.import("tools:latest", &rootfs);
}

fn learn(d: &Dockerd, name: &str, monitor: &str) -> serde_json::Value {
    for _ in 0..3 {
        let out = d
            .run("tools")
            .rm()
            .mode("learn")
            .monitor(monitor)
            .profile(name)
            .sh(NORMAL)
            .ok();
        assert_eq!(out, "done");
    }
    let path = d.profile_dir().join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn detect(
    d: &Dockerd,
    (name, monitor): (&str, &str),
    action: &str,
    script: &str,
) -> (i64, String, String) {
    let id = d
        .run("tools")
        .mode("detect")
        .monitor(monitor)
        .profile(name)
        .action(action)
        .sh(script)
        .detached();
    assert!(
        d.wait_exited(&id, std::time::Duration::from_secs(30)),
        "container did not finish"
    );
    (d.exit_code(&id), id.clone(), d.logs(&id))
}

fn unseen_resources(d: &Dockerd, id: &str) -> Vec<serde_json::Value> {
    d.events_of(id)
        .into_iter()
        .filter(|e| e["kind"] == "unseen-resource")
        .collect()
}

#[test]
fn a_write_in_a_directory_never_written_to_is_killed_and_named() {
    let d = Dockerd::start(&ids_runc());
    import_tools(&d);
    let profile = learn(&d, "writer", "seccomp-notify");
    let resources = &profile["resources"];
    assert!(
        resources["write"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == "/tmp/app.log.#"),
        "{resources}"
    );
    assert!(
        resources["exec"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == "/opt/tools/true"),
        "{resources}"
    );

    let (code, id, logs) = detect(
        &d,
        ("writer", "seccomp-notify"),
        "kill",
        &format!("{NORMAL}; echo 5 > /tmp/app.log.5"),
    );
    assert_eq!(code, 0, "normal work was stopped: {logs}");
    assert!(d.events_of(&id).is_empty(), "{:?}", d.events_of(&id));

    let (code, id, logs) = detect(
        &d,
        ("writer", "seccomp-notify"),
        "kill",
        &format!("{NORMAL}; echo pwned > /etc/cron.evil; echo survived"),
    );
    assert_eq!(code, 137, "not killed: {logs}");
    assert!(!logs.contains("survived"), "{logs}");
    let events = unseen_resources(&d, &id);
    assert_eq!(events.len(), 1, "{:?}", d.events_of(&id));
    assert_eq!(events[0]["action"], "killed");
    assert_eq!(events[0]["resource"], "write /etc/cron.evil");
    assert!(events[0]["tid"].as_u64().is_some());

    let out = d.ids_runc(&["events", &id]).output().unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.contains("unseen-resource") && line.contains("resource=write /etc/cron.evil"),
        "{line}"
    );
}

#[test]
fn a_program_never_run_is_denied_and_with_kill_killed() {
    program_never_run("seccomp-notify");
}

#[test]
fn a_program_never_run_is_denied_and_killed_under_ptrace() {
    program_never_run("ptrace");
}

fn program_never_run(monitor: &str) {
    let d = Dockerd::start(&ids_runc());
    import_tools(&d);
    learn(&d, "runner", monitor);
    let profile = ("runner", monitor);

    let script = format!("{NORMAL}; /opt/tools/uname; echo \"uname=$?\"; echo survived");
    let (code, id, logs) = detect(&d, profile, "anomaly=log,unseen=deny", &script);
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("survived"), "{logs}");
    assert!(logs.contains("uname=126"), "the exec failed: {logs}");
    assert!(!logs.contains("Linux"), "uname ran: {logs}");
    let events = unseen_resources(&d, &id);
    assert_eq!(events.len(), 1, "{:?}", d.events_of(&id));
    assert_eq!(events[0]["action"], "denied");
    assert_eq!(events[0]["resource"], "exec /opt/tools/uname");
    assert_eq!(events[0]["syscalls"][0], "execve");
    assert_eq!(events[0]["monitor"], monitor);

    let (code, id, logs) = detect(&d, profile, "kill", &script);
    assert_eq!(code, 137, "not killed: {logs}");
    assert!(!logs.contains("survived"), "{logs}");
    let events = unseen_resources(&d, &id);
    assert_eq!(events[0]["action"], "killed");
    assert_eq!(events[0]["resource"], "exec /opt/tools/uname");
}
