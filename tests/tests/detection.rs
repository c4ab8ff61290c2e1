//! What detection reports and when, through a private dockerd: epochs bounded in time judge a
//! container that falls quiet, and an anomaly says what was new and who did it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ids_e2e::dockerd::Dockerd;
use ids_e2e::ids_runc;
use ids_e2e::workload::NORMAL;

/// The normal workload, then a pause, ending with the time (whole seconds) it printed. The pause
/// lets the normal work's epoch end by time, so what follows the printed time is judged in an
/// epoch of its own: the attack's unknown bags are then a share of its own windows, not of the
/// whole workload's (with short windows, a new call makes few unknown bags).
fn normal_then_time() -> String {
    format!("{NORMAL}; sleep 2; echo at $(date +%s)")
}

/// Learns profile `name` from three runs of [`normal_then_time`], then rewrites it so that only
/// anomalous epochs are reported (unseen syscalls are ignored, anomalies logged), epochs are ended
/// by time (T = `epoch_ms`; E far beyond what the container makes), and `min_windows` windows
/// suffice.
fn learn_timed_profile(d: &Dockerd, name: &str, epoch_ms: u64, min_windows: u64) {
    for _ in 0..3 {
        let out = d
            .run("busybox")
            .rm()
            .mode("learn")
            .profile(name)
            .sh(&normal_then_time())
            .ok();
        assert!(out.contains("done"), "{out}");
    }
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
    // The learnt work, which ends by printing the time, then the attack: a backdoor listening on
    // a port, which blocks in accept. No call comes after it to end its epoch.
    let script = format!("{}; nc -l -p 8080 2>/dev/null", normal_then_time());
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
        .find_map(|l| l.strip_prefix("at "))
        .unwrap_or_else(|| panic!("no time printed: {logs}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {logs:?}"));
    // `date +%s` rounds down, and the attack follows at once: its last call (accept) came before
    // ended_s + 1.
    let bound = (ended_s + 1) * 1000 + u128::from(epoch_ms) + 1000;
    assert!(
        event_ms(&event) <= bound,
        "reported at {} ms, more than T + 1 s after the attack ({} s): {event}",
        event_ms(&event),
        ended_s
    );

    // What was new, and who did it, in words: the unknown bags as multisets and the process.
    let bags: Vec<&str> = event["unseen_bags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert!(
        bags.iter().any(|b| b
            .split(' ')
            .any(|w| w.starts_with("socket") || w.starts_with("bind"))),
        "{event}"
    );
    assert!(
        bags.iter().all(|b| !b.contains('{') && !b.contains(':')),
        "multisets, not maps: {bags:?}"
    );
    assert_eq!(event["process"], "nc", "{event}");
    assert!(
        event["exe"]
            .as_str()
            .is_some_and(|x| x.ends_with("busybox")),
        "{event}"
    );
    let out = d.ids_runc(&["events", &id]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(" anomaly ") && l.contains(" process=nc "))
        .unwrap_or_else(|| panic!("no line names nc: {text}"));
    assert!(line.contains(" new: ["), "{line}");
    assert!(line.contains(" exe="), "{line}");
}
