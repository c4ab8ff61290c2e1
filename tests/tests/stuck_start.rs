//! A container start that can never finish — runc's init blocked in a notified call before runc
//! hands the notify fd over — is ended by the monitor: `create` fails, an event says why, nothing
//! hangs. A stand-in for runc makes that state happen every time.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ids_e2e::bundle::Bundle;
use ids_e2e::{assert_ok, ids_runc, require_root, run};

#[test]
fn a_start_stuck_before_the_handover_fails_instead_of_hanging() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let state_root = tempfile::Builder::new()
        .prefix("ids-s-")
        .tempdir_in("/run")
        .unwrap();
    let stuck = dir.path().join("stuck");
    assert_ok(
        &run(Command::new("gcc")
            .args(["-O2", "-o"])
            .arg(&stuck)
            .arg(ids_e2e::workspace().join("tests/fixtures/stuck_notify.c"))),
        "gcc stuck_notify.c",
    );
    // create: start a child that blocks in a notified call, as runc's init did; state: the
    // container does not exist.
    let fake_runc = dir.path().join("runc");
    std::fs::write(
        &fake_runc,
        format!(
            "#!/bin/sh\nfor a; do [ \"$a\" = create ] && {{ '{}'; exit 1; }}; done\nexit 1\n",
            stuck.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake_runc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let events = dir.path().join("events.jsonl");
    let config = dir.path().join("ids-runc.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "state_dir": state_root.path(),
            "events_path": events,
            "profile_dir": dir.path().join("profiles"),
            "runs_dir": dir.path().join("runs"),
        })
        .to_string(),
    )
    .unwrap();
    let bundle = Bundle::new(&["true"]);
    let mut spec = bundle.config();
    spec["annotations"] = serde_json::json!({ "io.ids-runc.mode": "null" });
    bundle.set_config(&spec);

    let started = Instant::now();
    let mut create = Command::new(ids_runc())
        .env("IDS_RUNC_RUNTIME", &fake_runc)
        .env("IDS_RUNC_CONFIG", &config)
        .args(["--root"])
        .arg(dir.path().join("root"))
        .args(["create", "--bundle"])
        .arg(bundle.path())
        .arg("stuck-start")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = create.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = create.kill();
            let _ = Command::new("pkill")
                .arg("-9")
                .arg("-f")
                .arg(&stuck)
                .status();
            panic!("create still hanging after 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "a stuck create must fail");
    let lines = std::fs::read_to_string(&events).expect("an event explains the failed start");
    let event: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(event["kind"], "monitor-error");
    assert_eq!(event["action"], "killed");
    assert_eq!(event["syscalls"][0], "getppid");
    assert!(
        event["message"].as_str().unwrap().contains("stuck"),
        "{event}"
    );
}
