//! The in-kernel monitor (`IDS_RUNC_MONITOR=ebpf`) on real containers, through a private dockerd:
//! learn, a quiet detection run and an attack killed; the kernel judges without the monitor
//! process; nothing stays loaded once the containers are gone.

use std::time::Duration;

use ids_e2e::dockerd::Dockerd;
use ids_e2e::workload::{learn, ANOMALOUS, NORMAL};
use ids_e2e::{ids_runc, wait_until};

#[test]
fn ebpf_learns_then_detects_and_kills() {
    let d = Dockerd::start(&ids_runc());
    learn(&d, "kernel", "ebpf");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.profile_dir().join("kernel.json")).unwrap())
            .unwrap();
    assert_eq!(profile["monitor"]["kind"], "ebpf", "{}", profile["monitor"]);
    // The kernel sees what seccomp notify cannot.
    let syscalls = profile["syscalls"].as_array().unwrap();
    assert!(syscalls.iter().any(|s| s == "write"), "{syscalls:?}");

    let (code, id, logs) = ids_e2e::workload::detect(&d, "kernel", "ebpf", "kill", NORMAL);
    assert_eq!(code, 0, "normal rerun was stopped: {logs}");
    assert_eq!(logs.trim(), "done");
    assert!(
        d.events_of(&id).is_empty(),
        "normal rerun raised {:?}",
        d.events_of(&id)
    );

    let (code, id, logs) = ids_e2e::workload::detect(&d, "kernel", "ebpf", "kill", ANOMALOUS);
    assert_eq!(code, 137, "anomalous container not killed: {logs}");
    assert!(!logs.contains("survived"), "{logs}");
    let events = d.events_of(&id);
    let e = events.first().expect("kill left no event");
    assert_eq!(e["action"], "killed");
    assert_eq!(e["monitor"], "ebpf");
    assert!(
        e["kind"] == "unseen-syscall" || e["kind"] == "anomaly",
        "{e}"
    );
    // The last container gone, the program is unloaded.
    assert!(
        wait_until(Duration::from_secs(10), || !std::path::Path::new(
            "/run/ids-runc/bpf/sys_enter"
        )
        .exists()),
        "the kernel program is still pinned"
    );
}
