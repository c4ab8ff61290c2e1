//! The workload the profile tests learn and judge: a busybox shell doing the same few things every
//! time, and something it never does.

use std::time::Duration;

use crate::dockerd::Dockerd;

/// The normal workload: what the container does every time.
pub const NORMAL: &str = "for i in 1 2 3 4 5; do ls /bin >/dev/null; cat /etc/passwd >/dev/null; \
                      echo $i >/dev/null; done; echo done";
/// Something it never did: read the shadow file, then listen on a socket.
pub const ANOMALOUS: &str = "cat /etc/shadow >/dev/null; nc -l -p 8080 -w 1; echo survived";

/// Listens on a socket, which the normal workload never does: under `unseen=deny` it fails and the
/// container goes on.
pub const LISTENS: &str = "nc -l -p 8080 -w 1; echo \"nc=$?\"; echo survived";

/// The container of [`LISTENS`] went on after its call was refused.
#[track_caller]
pub fn assert_listen_refused(code: i64, logs: &str) {
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("survived"), "{logs}");
    assert!(
        logs.contains("Operation not permitted") || logs.contains("nc=1"),
        "{logs}"
    );
}

/// Learns profile `name` from three runs of the normal workload under `monitor`.
pub fn learn(d: &Dockerd, name: &str, monitor: &str) {
    for _ in 0..3 {
        let out = d
            .run("busybox")
            .rm()
            .mode("learn")
            .monitor(monitor)
            .profile(name)
            .sh(NORMAL)
            .ok();
        assert_eq!(out, "done");
    }
    let path = d.profile_dir().join(format!("{name}.json"));
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("learned profile saved")).unwrap();
    assert_eq!(profile["name"], name);
    assert!(
        profile["training"]["calls"].as_u64().unwrap() > 1000,
        "{}",
        profile["training"]
    );
    assert!(profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "execve"));
}

/// Runs `script` detached under `monitor` and `action`, waits for it to end, returns (exit code, id, logs).
pub fn detect(
    d: &Dockerd,
    name: &str,
    monitor: &str,
    action: &str,
    script: &str,
) -> (i64, String, String) {
    let id = d
        .run("busybox")
        .mode("detect")
        .monitor(monitor)
        .profile(name)
        .action(action)
        .sh(script)
        .detached();
    assert!(
        d.wait_exited(&id, Duration::from_secs(30)),
        "container did not finish"
    );
    let code = d.exit_code(&id);
    let logs = d.logs(&id);
    (code, id, logs)
}
