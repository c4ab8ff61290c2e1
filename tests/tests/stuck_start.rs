//! A container start that can never finish — runc's init blocked in a notified call before runc
//! hands the notify fd over — is ended by the monitor: `create` fails, an event says why, nothing
//! hangs. The same for the process of a `runc exec`. A stand-in for runc makes that state happen
//! every time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ids_e2e::bundle::Bundle;
use ids_e2e::private_host::PrivateHost;
use ids_e2e::{assert_ok, ids_runc, require_root, run, stdout, wait_until};

/// Builds the stand-in for a stuck runc init in `dir`.
fn build_stuck(dir: &Path) -> PathBuf {
    let stuck = dir.join("stuck");
    assert_ok(
        &run(Command::new("gcc")
            .args(["-O2", "-o"])
            .arg(&stuck)
            .arg(ids_e2e::workspace().join("tests/fixtures/stuck_notify.c"))),
        "gcc stuck_notify.c",
    );
    stuck
}

/// Waits for `child` at most a minute; one still running then is killed, with the stand-ins.
fn finish_within_a_minute(mut child: Child, stuck: &Path, what: &str) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = Command::new("pkill")
                .arg("-9")
                .arg("-f")
                .arg(stuck)
                .status();
            panic!("{what} still hanging after 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_start_stuck_before_the_handover_fails_instead_of_hanging() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let state_root = tempfile::Builder::new()
        .prefix("ids-s-")
        .tempdir_in("/run")
        .unwrap();
    let stuck = build_stuck(dir.path());
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

    let create = Command::new(ids_runc())
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
    let status = finish_within_a_minute(create, &stuck, "create");
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

#[test]
fn an_exec_stuck_before_the_handover_fails_instead_of_hanging() {
    let host = PrivateHost::new();
    let stuck = build_stuck(host.dir());
    let real_runc = stdout(&run(Command::new("sh").args(["-c", "command -v runc"])));
    assert!(
        !real_runc.is_empty(),
        "runc on PATH (hack/setup.sh installs it)"
    );
    // exec: start a child that blocks in a notified call, as runc's init did; the rest is runc.
    let runc = host.dir().join("runc");
    std::fs::write(
        &runc,
        format!(
            "#!/bin/sh\nfor a; do [ \"$a\" = exec ] && {{ '{}'; exit 1; }}; done\nexec '{real_runc}' \"$@\"\n",
            stuck.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = host.runc_root("main");
    let ids_runc = |args: &[&str]| {
        let mut cmd = host.ids_runc(&root, args);
        cmd.env("IDS_RUNC_RUNTIME", &runc)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let bundle = Bundle::new(&["sleep", "300"]);
    let mut spec = bundle.config();
    spec["annotations"] = serde_json::json!({ "io.ids-runc.mode": "null" });
    bundle.set_config(&spec);
    let id = "stuck-exec";
    let bundle_path = bundle.path().to_str().unwrap();
    assert!(ids_runc(&["create", "--bundle", bundle_path, id])
        .status()
        .unwrap()
        .success());
    assert!(ids_runc(&["start", id]).status().unwrap().success());

    let exec = ids_runc(&["exec", id, "true"]).spawn().unwrap();
    let status = finish_within_a_minute(exec, &stuck, "exec");
    assert!(!status.success(), "a stuck exec must fail");
    let event = host
        .events()
        .into_iter()
        .find(|e| e["kind"] == "monitor-error")
        .expect("an event explains the failed exec");
    assert_eq!(event["action"], "killed");
    assert_eq!(event["syscalls"][0], "getppid");
    assert!(
        event["message"].as_str().unwrap().contains("exec stuck"),
        "{event}"
    );

    assert!(ids_runc(&["kill", id, "KILL"]).status().unwrap().success());
    assert!(wait_until(Duration::from_secs(10), || ids_runc(&[
        "delete", id
    ])
    .status()
    .unwrap()
    .success()));
    host.assert_clean();
}
