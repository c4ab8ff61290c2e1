//! ids-runc in front of a fake runc that records what it was given: argv order, exit codes, stdio,
//! extra fds and the missing-runc error. No root needed.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const IDS_RUNC: &str = env!("CARGO_BIN_EXE_ids-runc");

/// A fake runc in a temp dir: writes its argv (one per line) to `argv`, copies stdin to stdout,
/// reads fd 3 if `FAKE_READ_FD3` is set, and exits with `FAKE_EXIT` (default 0).
struct FakeRunc {
    dir: tempfile::TempDir,
}

impl FakeRunc {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("runc");
        let argv = dir.path().join("argv");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 : > '{argv}'\n\
                 for a in \"$@\"; do printf '%s\\n' \"$a\" >> '{argv}'; done\n\
                 if [ -n \"$FAKE_READ_FD3\" ]; then cat <&3; fi\n\
                 if [ -n \"$FAKE_CAT\" ]; then cat; fi\n\
                 if [ \"$1\" = features ]; then echo '{{\"ociVersionMin\":\"1.0.0\"}}'; fi\n\
                 if [ \"$1\" = --version ]; then printf 'runc version 9.9.9\\ncommit: abc\\n'; fi\n\
                 exit ${{FAKE_EXIT:-0}}\n",
                argv = argv.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeRunc { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("runc")
    }

    fn argv(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("argv"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A bundle whose config.json asks for no monitoring, so create/run go straight to runc.
    fn bundle(&self) -> String {
        let dir = self.dir.path().join("bundle");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), r#"{"ociVersion":"1.0.2"}"#).unwrap();
        dir.display().to_string()
    }

    fn ids_runc(&self) -> Command {
        let mut cmd = Command::new(IDS_RUNC);
        cmd.env("IDS_RUNC_RUNTIME", self.path())
            .env("IDS_RUNC_CONFIG", self.dir.path().join("no-config.json"));
        cmd
    }
}

#[test]
fn passes_every_word_in_order_including_unknown_flags() {
    let fake = FakeRunc::new();
    let words = [
        "--root",
        "/run/x",
        "--log",
        "/tmp/l.json",
        "--log-format",
        "json",
        "--systemd-cgroup",
        "--brand-new-global",
        "state",
        "--unknown=1",
        "ctr-1",
    ];
    let status = fake.ids_runc().args(words).status().unwrap();
    assert!(status.success());
    assert_eq!(fake.argv(), words);
}

#[test]
fn every_runc_command_reaches_runc() {
    let fake = FakeRunc::new();
    let bundle = fake.bundle();
    for command in [
        "create",
        "run",
        "start",
        "state",
        "kill",
        "delete",
        "exec",
        "ps",
        "list",
        "pause",
        "resume",
        "update",
        "events",
        "spec",
        "checkpoint",
        "restore",
    ] {
        let words = [
            "--root",
            "/r",
            command,
            "--some-flag",
            "--bundle",
            &bundle,
            "id",
        ];
        let status = fake
            .ids_runc()
            .args(words)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{command}");
        assert_eq!(fake.argv(), words);
    }
}

#[test]
fn returns_runc_exit_code() {
    let fake = FakeRunc::new();
    for code in [0, 1, 3, 125] {
        let status = fake
            .ids_runc()
            .env("FAKE_EXIT", code.to_string())
            .args(["kill", "x", "KILL"])
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(code));
    }
}

#[test]
fn shares_stdio_with_runc() {
    let fake = FakeRunc::new();
    let mut child = fake
        .ids_runc()
        .env("FAKE_CAT", "1")
        .args(["exec", "x", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"through\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.stdout, b"through\n");
}

#[test]
fn preserved_fds_reach_runc() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let fake = FakeRunc::new();
    let data = fake.dir.path().join("fd3-data");
    std::fs::write(&data, "from fd 3\n").unwrap();
    let file = std::fs::File::open(&data).unwrap();
    let raw = file.as_raw_fd();
    let bundle = fake.bundle();
    let mut cmd = fake.ids_runc();
    cmd.env("FAKE_READ_FD3", "1")
        .args(["run", "--preserve-fds", "1", "--bundle", &bundle, "x"])
        .stdout(Stdio::piped());
    // SAFETY: dup2 is async-signal-safe; the closure touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec: clear it explicitly in that case.
            let ok = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(raw, 3) == 3
            };
            if !ok {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from fd 3\n");
}

#[test]
fn missing_runc_is_one_clear_line_and_a_json_log_entry() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let out = Command::new(IDS_RUNC)
        .env("IDS_RUNC_RUNTIME", "/nonexistent/runc")
        .env("IDS_RUNC_CONFIG", dir.path().join("none.json"))
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "create", "--bundle", "/b", "id"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/runc"), "{stderr}");
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("/nonexistent/runc"));
    assert!(line["time"].as_str().is_some());
}

/// A runtime is called with whatever environment its caller has: podman runs `kill` and `delete`
/// with no PATH at all. runc is then found in the standard directories (Debian's is /usr/sbin).
#[test]
fn an_empty_environment_still_finds_runc() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(IDS_RUNC)
        .env_clear()
        .env("IDS_RUNC_CONFIG", dir.path().join("none.json"))
        .args(["--root"])
        .arg(dir.path())
        .args(["state", "x"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("container does not exist"),
        "runc did not answer: {stderr}"
    );
}

#[test]
fn runtime_from_host_config() {
    let fake = FakeRunc::new();
    let config = fake.dir.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({ "runtime": fake.path() }).to_string(),
    )
    .unwrap();
    let status = Command::new(IDS_RUNC)
        .env_remove("IDS_RUNC_RUNTIME")
        .env("IDS_RUNC_CONFIG", &config)
        .env("PATH", "/nonexistent")
        .args(["list"])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fake.argv(), ["list"]);
}

#[test]
fn broken_host_config_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, "{ not json").unwrap();
    let out = Command::new(IDS_RUNC)
        .env("IDS_RUNC_CONFIG", &config)
        .args(["list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&config.display().to_string()));
}

#[test]
fn runc_on_path_that_is_ids_runc_itself_is_skipped() {
    let fake = FakeRunc::new();
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(IDS_RUNC, bin.path().join("runc")).unwrap();
    let path = format!("{}:{}", bin.path().display(), fake.dir.path().display());
    let status = Command::new(bin.path().join("runc"))
        .env_remove("IDS_RUNC_RUNTIME")
        .env("IDS_RUNC_CONFIG", fake.dir.path().join("none.json"))
        .env("PATH", path)
        .args(["list"])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fake.argv(), ["list"]);
}

#[test]
fn features_adds_our_annotations() {
    let fake = FakeRunc::new();
    let out = fake.ids_runc().arg("features").output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ociVersionMin"], "1.0.0");
    assert_eq!(
        doc["annotations"]["io.github.ids-runc.version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn version_prints_runcs_then_ours() {
    let fake = FakeRunc::new();
    let out = fake.ids_runc().arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        format!(
            "runc version 9.9.9\ncommit: abc\nids-runc: {}\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(fake.argv(), ["--version"]);
}
