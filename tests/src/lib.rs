//! Helpers for the end-to-end tests: the ids-runc binary, busybox bundles, a private dockerd, the
//! `docker run --runtime=ids-runc` of a test, a private podman, and a private host config for
//! ids-runc called directly.
//!
//! These tests drive real runc, dockerd and containerd, so they need root; they fail (not skip)
//! without it, because a skipped end-to-end test would pass while checking nothing.

pub mod bundle;
pub mod docker_run;
pub mod dockerd;
pub mod podman;
pub mod private_host;
pub mod procs;
pub mod workload;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The workspace root (where `hack/` is).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The ids-runc binary under test: `IDS_RUNC_BIN`, else the one cargo built beside these tests.
pub fn ids_runc() -> PathBuf {
    if let Some(bin) = std::env::var_os("IDS_RUNC_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let bin = target.join(profile).join("ids-runc");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p ids-runc) or set IDS_RUNC_BIN",
        bin.display()
    );
    bin
}

/// Fails the test unless we are root: runc, dockerd and seccomp listeners need it.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "end-to-end tests need root (they run runc and dockerd)"
    );
}

/// Runs a command and returns its output; panics with the command line if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Stdout as a trimmed string.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Asserts success, showing stdout and stderr otherwise.
#[track_caller]
pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every event in an ids-runc events file (none if it does not exist yet).
pub fn read_events(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("event line is JSON"))
        .collect()
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Imports `image`: busybox plus the fixture `tests/fixtures/<fixture>.c`, built static, at
/// `/bin/<fixture>`.
pub fn import_with_fixture(d: &dockerd::Dockerd, image: &str, fixture: &str) {
    let bundle = bundle::Bundle::new(&["sh"]);
    let source = workspace().join(format!("tests/fixtures/{fixture}.c"));
    let out = run(Command::new("gcc")
        .args(["-O2", "-static", "-pthread", "-o"])
        .arg(bundle.rootfs().join("bin").join(fixture))
        .arg(&source));
    assert_ok(&out, &format!("gcc -static {fixture}.c"));
    d.import(image, &bundle.rootfs());
}

/// ids-runc's state dir of container `id` under `state_root`, if there is one. Its name is the
/// id, `@` and a key of runc's root.
pub fn state_dir_in(state_root: &std::path::Path, id: &str) -> Option<PathBuf> {
    std::fs::read_dir(state_root)
        .ok()?
        .filter_map(|e| e.ok())
        .find(|e| {
            e.file_name()
                .to_str()
                .and_then(|name| name.rsplit_once('@'))
                .is_some_and(|(name_id, _)| name_id == id)
        })
        .map(|e| e.path())
}

/// The pids of the processes whose command line names `state_dir`: its monitor.
pub fn monitor_pids(state_dir: &std::path::Path) -> Vec<i32> {
    let needle = state_dir.as_os_str().as_encoded_bytes().to_vec();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|&b| b == 0).any(|a| a.starts_with(&needle)))
                .unwrap_or(false)
        })
        .collect()
}
