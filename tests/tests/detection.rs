//! What detection reports and when, through a private dockerd: epochs bounded in time judge a
//! container that falls quiet, and an anomaly says what was new and who did it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ids_e2e::dockerd::Dockerd;
use ids_e2e::ids_runc;
use ids_e2e::workload::{self, NORMAL};

/// Learns profile `name` from the normal workload, then rewrites it so that only anomalous epochs
/// are reported (unseen syscalls are ignored, anomalies logged), epochs are ended by time
/// (T = `epoch_ms`; E far beyond what the container makes), and `min_windows` windows suffice.
fn learn_timed_profile(d: &Dockerd, name: &str, epoch_ms: u64, min_windows: u64) {
    workload::learn(d, name, "seccomp-notify");
    let path = d.profile_dir().join(format!("{name}.json"));
    let mut profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    profile["policy"] = serde_json::json!({"on_anomaly": "log", "on_unseen_syscall": "ignore"});
    profile["parameters"]["epoch"] = 1_000_000.into();
    profile["parameters"]["epoch_ms"] = epoch_ms.into();
    profile["parameters"]["min_windows"] = min_windows.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&profile).unwrap()).unwrap();
}

/// Whether an anomaly event names one of `syscalls`.
fn names_any(event: &serde_json::Value, syscalls: &[&str]) -> bool {
    event["kind"] == "anomaly"
        && event["syscalls"]
            .as_array()
            .is_some_and(|names| names.iter().any(|n| syscalls.iter().any(|s| n == s)))
}

/// The first anomaly event of container `id` that names one of `syscalls`, waiting up to
/// `patience` for it.
fn first_anomaly(
    d: &Dockerd,
    id: &str,
    syscalls: &[&str],
    patience: Duration,
) -> Option<serde_json::Value> {
    let until = SystemTime::now() + patience;
    while SystemTime::now() < until {
        if let Some(e) = d.events_of(id).into_iter().find(|e| names_any(e, syscalls)) {
            return Some(e);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// Milliseconds since the epoch of an event's RFC 3339 time.
fn event_ms(event: &serde_json::Value) -> u128 {
    let time = humantime::parse_rfc3339(event["time"].as_str().unwrap()).unwrap();
    time.duration_since(UNIX_EPOCH).unwrap().as_millis()
}

#[test]
fn a_quiet_containers_attack_is_reported_within_t() {
    let d = Dockerd::start(&ids_runc());
    let epoch_ms: u64 = 1000;
    learn_timed_profile(&d, "quiet", epoch_ms, 20);
    // Normal work, a pause, the attack (a listening socket), then nothing but a long sleep: no
    // call comes after the attack to end its epoch.
    let script = format!(
        "{NORMAL}; sleep 2; nc -l -p 8080 -w 1 2>/dev/null; echo attack-ended $(date +%s); sleep 60"
    );
    let id = d
        .run("busybox")
        .mode("detect")
        .profile("quiet")
        .sh(&script)
        .detached();
    let listening = ["socket", "bind", "listen"];
    let event = first_anomaly(&d, &id, &listening, Duration::from_secs(40));
    let logs = d.logs(&id);
    d.docker_ok(&["rm", "-f", &id]);
    let event = event.unwrap_or_else(|| {
        panic!(
            "no anomaly named the listening socket; logs: {logs}; events: {:?}",
            d.events_of(&id)
        )
    });
    let ended_s: u128 = logs
        .lines()
        .find_map(|l| l.strip_prefix("attack-ended "))
        .unwrap_or_else(|| panic!("the attack did not end: {logs}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {logs:?}"));
    // `date +%s` rounds down: the attack ended before ended_s + 1.
    let bound = (ended_s + 1) * 1000 + u128::from(epoch_ms) + 1000;
    assert!(
        event_ms(&event) <= bound,
        "reported at {} ms, more than T + 1 s after the attack ended ({} s): {event}",
        event_ms(&event),
        ended_s
    );
}
