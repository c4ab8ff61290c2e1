//! Profiles and policy through a private dockerd: learn a container's behaviour, then detect, log,
//! deny and kill; profiles shipped in images; malformed and hostile profiles.

use ids_e2e::bundle::Bundle;
use ids_e2e::dockerd::Dockerd;
use ids_e2e::ids_runc;

use ids_e2e::workload::{assert_listen_refused, ANOMALOUS, LISTENS, NORMAL};

fn learn(d: &Dockerd, name: &str) {
    ids_e2e::workload::learn(d, name, "seccomp-notify");
}

/// Learns profile `name`, then returns it as JSON with its policy replaced by `policy`.
fn learned_profile_with(d: &Dockerd, name: &str, policy: serde_json::Value) -> serde_json::Value {
    learn(d, name);
    let path = d.profile_dir().join(format!("{name}.json"));
    let mut profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    profile["policy"] = policy;
    profile
}

/// A busybox rootfs with `/etc/ids-runc/` made, ready for a profile.
fn rootfs_with_profile_dir() -> (Bundle, std::path::PathBuf) {
    let bundle = Bundle::new(&["sh"]);
    let dir = bundle.rootfs().join("etc/ids-runc");
    std::fs::create_dir_all(&dir).unwrap();
    (bundle, dir)
}

fn detect(d: &Dockerd, name: &str, action: &str, script: &str) -> (i64, String, String) {
    ids_e2e::workload::detect(d, name, "seccomp-notify", action, script)
}

#[test]
fn learn_then_detect_with_kill() {
    let d = Dockerd::start(&ids_runc());
    learn(&d, "web");

    let (code, id, logs) = detect(&d, "web", "kill", NORMAL);
    assert_eq!(code, 0, "normal rerun was stopped: {logs}");
    assert_eq!(logs.trim(), "done");
    assert!(
        d.events_of(&id).is_empty(),
        "normal rerun raised {:?}",
        d.events_of(&id)
    );

    let (code, id, logs) = detect(&d, "web", "kill", ANOMALOUS);
    assert_eq!(code, 137, "anomalous container not killed: {logs}");
    assert!(!logs.contains("survived"), "{logs}");
    let events = d.events_of(&id);
    assert!(!events.is_empty(), "kill left no event");
    let e = &events[0];
    assert_eq!(e["action"], "killed");
    assert_eq!(e["profile"], "web");
    assert_eq!(e["mode"], "detect");
    assert!(
        ["unseen-syscall", "unseen-resource", "anomaly"].contains(&e["kind"].as_str().unwrap()),
        "{e}"
    );
    assert!(e["pid"].as_u64().is_some());
}

#[test]
fn log_writes_an_event_and_the_container_goes_on() {
    let d = Dockerd::start(&ids_runc());
    learn(&d, "web");
    let (code, id, logs) = detect(&d, "web", "log", ANOMALOUS);
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("survived"), "{logs}");
    let events = d.events_of(&id);
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "unseen-syscall" && e["syscalls"][0] == "socket"),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e["action"] == "logged"), "{events:?}");
}

#[test]
fn deny_fails_the_unseen_call_and_the_container_lives() {
    let d = Dockerd::start(&ids_runc());
    learn(&d, "web");
    let (code, id, logs) = detect(&d, "web", "anomaly=log,unseen=deny", LISTENS);
    assert_listen_refused(code, &logs);
    let events = d.events_of(&id);
    let denied: Vec<_> = events.iter().filter(|e| e["action"] == "denied").collect();
    assert!(
        denied.iter().any(|e| e["syscalls"][0] == "socket"),
        "no denial of socket: {events:?}"
    );
}

#[test]
fn a_profile_shipped_in_the_image_is_used_without_any_flag() {
    let d = Dockerd::start(&ids_runc());
    let profile = learned_profile_with(
        &d,
        "shipped",
        serde_json::json!({"on_anomaly": "kill", "on_unseen_syscall": "kill"}),
    );
    let (bundle, dir) = rootfs_with_profile_dir();
    std::fs::write(dir.join("profile.json"), profile.to_string()).unwrap();
    d.import("guarded:latest", &bundle.rootfs());
    // The host store must not be what makes it work.
    std::fs::remove_file(d.profile_dir().join("shipped.json")).unwrap();

    let out = d.run("guarded").rm().sh(NORMAL).ok();
    assert_eq!(out, "done");
    let out = d.run("guarded").rm().sh(ANOMALOUS).output();
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(d
        .events()
        .iter()
        .any(|e| e["profile"] == "shipped" && e["action"] == "killed"));
}

#[test]
fn a_malformed_profile_fails_create_unless_the_host_fails_open() {
    let d = Dockerd::start(&ids_runc());
    std::fs::create_dir_all(d.profile_dir()).unwrap();
    let bad = d.profile_dir().join("broken.json");
    std::fs::write(&bad, "{\"format_version\": 1, \"name\": ").unwrap();
    let run = || {
        d.run("busybox")
            .rm()
            .mode("detect")
            .profile("broken")
            .cmd(&["echo", "ran"])
    };
    let out = run().output();
    assert!(
        !out.status.success(),
        "a container ran with a broken profile"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&bad.display().to_string()), "{stderr}");

    d.set_host_config(serde_json::json!({ "fail_open": true }));
    let out = run().ok();
    assert_eq!(out, "ran");
    let events = d.events();
    assert!(
        events.iter().any(|e| e["kind"] == "monitor-error"
            && e["message"].as_str().unwrap().contains("broken.json")),
        "{events:?}"
    );
    let state: Vec<_> = std::fs::read_dir(d.state_root()).unwrap().collect();
    assert!(
        state.is_empty(),
        "fail-open container has monitor state: {state:?}"
    );
}

#[test]
fn a_profile_link_out_of_the_rootfs_is_not_followed() {
    let d = Dockerd::start(&ids_runc());
    // A valid kill-everything profile on the host, which the image links to.
    let profile = learned_profile_with(
        &d,
        "host-only",
        serde_json::json!({"on_anomaly": "kill", "on_unseen_syscall": "kill"}),
    );
    let target = d.dir().join("host-profile.json");
    std::fs::write(&target, profile.to_string()).unwrap();
    let (bundle, dir) = rootfs_with_profile_dir();
    std::os::unix::fs::symlink(&target, dir.join("profile.json")).unwrap();
    d.import("linked:latest", &bundle.rootfs());

    let before = d.events().len();
    let out = d.run("linked").rm().sh(ANOMALOUS).ok();
    assert!(
        out.contains("survived"),
        "the host profile was applied: {out}"
    );
    assert_eq!(d.events().len(), before, "the container was monitored");
}
