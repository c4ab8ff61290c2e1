//! `ids-runc events`: reads the events file named by the host config, readably or as JSON, for
//! one container or all; and a runc-style `events` call still reaches runc.

use std::process::Command;

const IDS_RUNC: &str = env!("CARGO_BIN_EXE_ids-runc");

fn event(container: &str, kind: &str, action: &str) -> String {
    serde_json::json!({
        "time": "2026-11-27T22:52:50.271Z", "container": container, "profile": "web",
        "mode": "detect", "monitor": "seccomp-notify", "kind": kind, "action": action,
        "syscalls": ["socket"], "pid": 42
    })
    .to_string()
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        format!(
            "{}\n{}\n",
            event("aaaa1111", "unseen-syscall", "killed"),
            event("bbbb2222", "anomaly", "logged")
        ),
    )
    .unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({ "events_path": events }).to_string(),
    )
    .unwrap();
    (dir, config)
}

#[test]
fn prints_events_readably_and_filters_by_container() {
    let (_dir, config) = setup();
    let out = Command::new(IDS_RUNC)
        .env("IDS_RUNC_CONFIG", &config)
        .arg("events")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("unseen-syscall")
            && text.contains("killed")
            && text.contains("syscalls=socket")
    );

    let out = Command::new(IDS_RUNC)
        .env("IDS_RUNC_CONFIG", &config)
        .args(["events", "--json", "bbbb"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    let e: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(e["container"], "bbbb2222");
}

#[test]
fn runcs_own_events_call_goes_to_runc() {
    let (dir, config) = setup();
    let fake = dir.path().join("runc");
    let argv = dir.path().join("argv");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" > '{}'\n", argv.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let status = Command::new(IDS_RUNC)
        .env("IDS_RUNC_CONFIG", &config)
        .env("IDS_RUNC_RUNTIME", &fake)
        .args(["--root", "/r", "events", "--stats", "ctr"])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&argv).unwrap().trim(),
        "--root /r events --stats ctr"
    );
}
