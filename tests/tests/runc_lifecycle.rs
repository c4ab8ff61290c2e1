//! A busybox container driven through ids-runc the way a container manager drives runc:
//! create → start → state → exec → kill → delete.

use std::process::{Command, Stdio};
use std::time::Duration;

use ids_e2e::{assert_ok, bundle::Bundle, ids_runc, require_root, run, stdout, wait_until};

struct Runtime {
    root: tempfile::TempDir,
}

impl Runtime {
    fn new() -> Self {
        require_root();
        Runtime {
            root: tempfile::tempdir().expect("runc root"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(ids_runc());
        cmd.arg("--root").arg(self.root.path()).args(args);
        cmd
    }

    fn status(&self, id: &str) -> Option<String> {
        let out = run(&mut self.command(&["state", id]));
        if !out.status.success() {
            return None;
        }
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).expect("state JSON");
        state["status"].as_str().map(str::to_owned)
    }
}

#[test]
fn lifecycle_create_start_state_exec_kill_delete() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sleep", "300"]);
    let id = "ids-e2e-lifecycle";
    let bundle_path = bundle.path().to_str().unwrap();

    // A created container keeps the stdio it was given open: never capture it in a pipe here.
    let status = rt
        .command(&["create", "--bundle", bundle_path, id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ids-runc create");
    assert!(status.success(), "create failed");
    assert_eq!(rt.status(id).as_deref(), Some("created"));

    assert_ok(&run(&mut rt.command(&["start", id])), "start");
    assert_eq!(rt.status(id).as_deref(), Some("running"));

    let out = run(&mut rt.command(&["exec", id, "sh", "-c", "echo exec-ok; hostname"]));
    assert_ok(&out, "exec");
    assert_eq!(stdout(&out), "exec-ok\nids-test");

    let out = run(&mut rt.command(&["ps", id]));
    assert_ok(&out, "ps");
    assert!(stdout(&out).contains("sleep"), "{}", stdout(&out));

    assert_ok(&run(&mut rt.command(&["kill", id, "KILL"])), "kill");
    assert!(
        wait_until(Duration::from_secs(10), || rt.status(id).as_deref()
            == Some("stopped")),
        "container did not stop after SIGKILL"
    );

    assert_ok(&run(&mut rt.command(&["delete", id])), "delete");
    assert_eq!(rt.status(id), None, "state still answers after delete");
}

#[test]
fn run_in_foreground_returns_the_container_exit_code() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["sh", "-c", "echo out; exit 7"]);
    let out = run(rt
        .command(&[
            "run",
            "--bundle",
            bundle.path().to_str().unwrap(),
            "ids-e2e-run",
        ])
        .stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out), "out");
}

#[test]
fn a_runc_error_keeps_runc_exit_code_and_message() {
    let rt = Runtime::new();
    let out = run(&mut rt.command(&["state", "no-such-container"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("container does not exist"));
}

/// Tools read runc's help and version by line (docker shows the runtime's version from
/// `--version`): ids-runc prints runc's lines first, unchanged, and adds its own only after them.
#[test]
fn help_and_version_start_with_runcs_own_lines() {
    for words in [
        &["--version"][..],
        &["-v"],
        &["--help"],
        &["-h"],
        &["run", "-h"],
        &["create", "--help"],
    ] {
        let runc = run(Command::new("runc").args(words));
        let ours = run(Command::new(ids_runc()).args(words));
        assert_eq!(ours.status.code(), runc.status.code(), "{words:?}");
        assert!(
            ours.stdout.starts_with(&runc.stdout),
            "{words:?}: ids-runc's output does not start with runc's:\n{}",
            String::from_utf8_lossy(&ours.stdout)
        );
    }
}
