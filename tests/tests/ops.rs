//! What an operator runs ids-runc with for months: metrics read by a real Prometheus text-format
//! parser, events delivered to syslog and written in Falco's format, and an events file that a
//! real logrotate run rotates while a container keeps writing events.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ids_e2e::bundle::Bundle;
use ids_e2e::private_host::PrivateHost;
use ids_e2e::{assert_ok, ids_runc, run, wait_until, workspace};
use serde_json::{json, Value};

/// Small epochs over the whole container: a busy container ends many of them a second.
fn parameters() -> Value {
    json!({
        "window": 4,
        "epoch": 100,
        "threshold": {"absolute": 2},
        "stream": "per-container",
        "training": {"convergence_similarity": 0.99, "convergence_epochs": 5, "continuous": false}
    })
}

/// Adds `extra` to the host's config.
fn configure(host: &PrivateHost, extra: Value) {
    let mut config: Value = serde_json::from_slice(&std::fs::read(host.config()).unwrap()).unwrap();
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    std::fs::write(host.config(), config.to_string()).unwrap();
}

fn bundle(args: &[&str], annotations: Value) -> Bundle {
    let bundle = Bundle::new(args);
    let mut spec = bundle.config();
    spec["annotations"] = annotations;
    bundle.set_config(&spec);
    bundle
}

/// Learns profile `name` from a container that only runs `true`: anything busier is unseen.
fn learn_true(host: &PrivateHost, name: &str) {
    let learn = bundle(
        &["true"],
        json!({"io.ids-runc.mode": "learn", "io.ids-runc.profile": name}),
    );
    let (code, out) = host.run(&learn, &format!("learn-{name}"));
    assert_eq!(code, Some(0), "{out}");
    // The monitor saves when it sees the container gone, after `run` returns.
    let profile = host.dir().join(format!("profiles/{name}.json"));
    assert!(
        wait_until(Duration::from_secs(20), || profile.exists()),
        "{} was not saved",
        profile.display()
    );
}

/// Starts `bundle` as container `id` in the background.
fn start(host: &PrivateHost, bundle: &Bundle, id: &str) {
    let root = host.runc_root("main");
    let status = host
        .ids_runc(
            &root,
            &["create", "--bundle", bundle.path().to_str().unwrap(), id],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ids-runc create");
    assert!(status.success(), "create {id}");
    assert_ok(&run(&mut host.ids_runc(&root, &["start", id])), "start");
}

fn delete(host: &PrivateHost, id: &str) {
    let root = host.runc_root("main");
    assert_ok(
        &run(&mut host.ids_runc(&root, &["delete", "--force", id])),
        "delete --force",
    );
}

fn events_of(path: &Path, id: &str) -> Vec<Value> {
    ids_e2e::read_events(path)
        .into_iter()
        .filter(|e| e["container"] == id)
        .collect()
}

/// Families as Python's `prometheus_client.parser` (the Prometheus client library's own parser)
/// reads `text`: family name → (type, samples as (sample name, labels, value)).
type Families = BTreeMap<String, (String, Vec<(String, BTreeMap<String, String>, f64)>)>;

fn parse_prometheus(text: &str) -> Families {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = [f.type, [[s.name, s.labels, s.value] for s in f.samples]]
print(json.dumps(out))
"#;
    // Debian's python3-prometheus-client (hack/setup.sh) lives in the system interpreter's path.
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ok(&out, "prometheus_client.parser");
    serde_json::from_slice(&out.stdout).expect("parser output")
}

/// The value of sample `name` labelled `container=id` (or unlabelled for `None`).
fn value(families: &Families, family: &str, name: &str, id: Option<&str>) -> f64 {
    let (_, samples) = families
        .get(family)
        .unwrap_or_else(|| panic!("family {family} in {families:?}"));
    samples
        .iter()
        .find(|(n, labels, _)| n == name && labels.get("container").map(String::as_str) == id)
        .unwrap_or_else(|| panic!("{name} of {id:?} in {samples:?}"))
        .2
}

#[test]
fn metrics_parse_and_events_reach_syslog_and_falco() {
    let host = PrivateHost::new();
    let syslog_path = host.dir().join("log");
    let syslog = UnixDatagram::bind(&syslog_path).expect("bind the syslog socket");
    syslog
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // A syslog daemon: reads every datagram until told to stop and none is left.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let daemon = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut received = Vec::new();
            loop {
                match syslog.recv(&mut buf) {
                    Ok(n) => received.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    Err(_) if stop.load(std::sync::atomic::Ordering::SeqCst) => return received,
                    Err(_) => {}
                }
            }
        })
    };
    let falco_path = host.dir().join("falco.jsonl");
    configure(
        &host,
        json!({
            "parameters": parameters(),
            "syslog": {"socket": syslog_path, "facility": "local0"},
            "falco_events_path": falco_path,
        }),
    );
    learn_true(&host, "ops");
    let id = "ops-detect";
    let detect = bundle(
        &[
            "sh",
            "-c",
            "cat /etc/passwd >/dev/null; ls -l /bin >/dev/null; exec sleep 300",
        ],
        json!({"io.ids-runc.mode": "detect", "io.ids-runc.profile": "ops", "io.ids-runc.action": "log"}),
    );
    start(&host, &detect, id);
    // `ls -l /bin` alone makes hundreds of calls: several epochs end, anomalous.
    let kinds = || -> Vec<Value> {
        events_of(&host.events_path(), id)
            .into_iter()
            .map(|e| e["kind"].clone())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(20), || {
            let kinds = kinds();
            kinds.contains(&json!("unseen-syscall")) && kinds.contains(&json!("anomaly"))
        }),
        "no unseen-syscall and anomaly events: {:?}",
        host.events()
    );

    // Metrics, on stdout and in a textfile, read by a real parser.
    let out = run(Command::new(ids_runc())
        .env("IDS_RUNC_CONFIG", host.config())
        .arg("metrics"));
    assert_ok(&out, "ids-runc metrics");
    let families = parse_prometheus(&String::from_utf8_lossy(&out.stdout));
    let c = Some(id);
    assert_eq!(
        value(&families, "ids_runc_monitor_up", "ids_runc_monitor_up", c),
        1.0
    );
    assert_eq!(families["ids_runc_syscalls"].0, "counter");
    assert!(value(&families, "ids_runc_syscalls", "ids_runc_syscalls_total", c) > 0.0);
    assert!(value(&families, "ids_runc_epochs", "ids_runc_epochs_total", c) >= 1.0);
    assert!(
        value(
            &families,
            "ids_runc_anomalous_epochs",
            "ids_runc_anomalous_epochs_total",
            c
        ) >= 1.0
    );
    let unseen = value(
        &families,
        "ids_runc_unseen_syscalls",
        "ids_runc_unseen_syscalls_total",
        c,
    );
    assert!(unseen >= 1.0, "{families:?}");
    assert_eq!(
        value(&families, "ids_runc_kills", "ids_runc_kills_total", c),
        0.0
    );
    assert_eq!(
        value(
            &families,
            "ids_runc_lost_records",
            "ids_runc_lost_records_total",
            c
        ),
        0.0
    );
    value(
        &families,
        "ids_runc_monitor_cpu_seconds",
        "ids_runc_monitor_cpu_seconds_total",
        c,
    );
    assert!(
        value(
            &families,
            "ids_runc_monitor_resident_memory_bytes",
            "ids_runc_monitor_resident_memory_bytes",
            c
        ) > 1e6
    );
    let (_, samples) = &families["ids_runc_monitor_up"];
    let labels = &samples[0].1;
    assert_eq!(
        (
            labels["profile"].as_str(),
            labels["mode"].as_str(),
            labels["monitor"].as_str()
        ),
        ("ops", "detect", "seccomp-notify")
    );
    assert_eq!(
        value(
            &families,
            "ids_runc_host_monitors",
            "ids_runc_host_monitors",
            None
        ),
        1.0
    );
    assert!(
        value(
            &families,
            "ids_runc_host_runs_dir_bytes",
            "ids_runc_host_runs_dir_bytes",
            None
        ) > 0.0
    );
    let textfile = host.dir().join("textfile/ids-runc.prom");
    std::fs::create_dir_all(textfile.parent().unwrap()).unwrap();
    assert_ok(
        &run(Command::new(ids_runc())
            .env("IDS_RUNC_CONFIG", host.config())
            .args(["metrics", "--textfile"])
            .arg(&textfile)),
        "ids-runc metrics --textfile",
    );
    let from_file = parse_prometheus(&std::fs::read_to_string(&textfile).unwrap());
    assert_eq!(
        value(&from_file, "ids_runc_monitor_up", "ids_runc_monitor_up", c),
        1.0
    );

    delete(&host, id);
    let events = events_of(&host.events_path(), id);
    assert!(!events.is_empty());

    // Falco's format: one alert per event, field by field as Falco documents json_output.
    let alerts: Vec<Value> = ids_e2e::read_events(&falco_path)
        .into_iter()
        .filter(|a| a["output_fields"]["container.id"] == id)
        .collect();
    assert_eq!(alerts.len(), events.len(), "{alerts:?}");
    for (alert, event) in alerts.iter().zip(&events) {
        let keys: Vec<&String> = alert.as_object().unwrap().keys().collect();
        for key in [
            "time",
            "rule",
            "priority",
            "output",
            "output_fields",
            "source",
            "tags",
            "hostname",
        ] {
            assert!(alert.get(key).is_some(), "{key} missing in {alert}");
        }
        assert_eq!(keys.len(), 8, "{alert}");
        let time = alert["time"].as_str().unwrap();
        assert!(
            time.len() == 30 && time.ends_with('Z') && time.as_bytes()[19] == b'.',
            "RFC 3339 with nanoseconds: {time}"
        );
        assert_eq!(&time[..23], &event["time"].as_str().unwrap()[..23]);
        assert!([
            "Emergency",
            "Alert",
            "Critical",
            "Error",
            "Warning",
            "Notice",
            "Informational",
            "Debug"
        ]
        .contains(&alert["priority"].as_str().unwrap()));
        assert_eq!(
            alert["rule"],
            format!("ids-runc {}", event["kind"].as_str().unwrap())
        );
        let output = alert["output"].as_str().unwrap();
        assert!(
            output.starts_with(&format!(
                "{}: {} ",
                &time[11..29],
                alert["priority"].as_str().unwrap()
            )),
            "Falco's `%evt.time: %priority ...`: {output}"
        );
        let fields = alert["output_fields"].as_object().unwrap();
        assert!(
            fields.values().all(|v| !v.is_array() && !v.is_object()),
            "{alert}"
        );
        assert_eq!(fields["ids_runc.kind"], event["kind"]);
        assert!(fields["evt.time"].is_u64());
        assert_eq!(alert["source"], "syscall");
        assert!(alert["tags"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string));
        if event["kind"] == "unseen-syscall" {
            assert_eq!(alert["priority"], "Warning");
            assert_eq!(fields["evt.type"], event["syscalls"][0]);
        }
    }

    // Syslog: one datagram per event, facility local0 (16), the event's severity.
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let received: Vec<String> = daemon
        .join()
        .unwrap()
        .into_iter()
        .filter(|text| text.contains(&format!("container={id} ")))
        .collect();
    assert_eq!(received.len(), events.len(), "{received:?}\n{events:?}");
    for (text, event) in received.iter().zip(&events) {
        assert!(text.starts_with('<'), "{text}");
        let pri: u32 = text[1..text.find('>').unwrap()].parse().unwrap();
        assert_eq!(pri / 8, 16, "facility local0: {text}");
        assert!(text.contains(" ids-runc["), "{text}");
        assert!(text.contains(event["kind"].as_str().unwrap()), "{text}");
        if event["kind"] == "unseen-syscall" || event["kind"] == "anomaly" {
            assert_eq!(pri % 8, 4, "warning, for what was only logged: {text}");
        }
    }
    host.assert_clean();
}

/// Every line of the events files (current and rotated) of container `id`; a line that is not
/// whole JSON fails.
fn lines_of(files: &[PathBuf], id: &str) -> usize {
    files
        .iter()
        .map(|f| {
            read_text(f)
                .lines()
                .map(|l| {
                    serde_json::from_str::<Value>(l)
                        .unwrap_or_else(|e| panic!("{}: {e}: {l}", f.display()))
                })
                .filter(|e| e["container"] == id || e["output_fields"]["container.id"] == id)
                .count()
        })
        .sum()
}

/// A file's text; a gzip file (logrotate's `compress`) uncompressed; a missing file is empty.
fn read_text(path: &Path) -> String {
    if path.extension().is_some_and(|e| e == "gz") {
        let out = run(Command::new("gzip").arg("-dc").arg(path));
        assert_ok(&out, "gzip -dc");
        return String::from_utf8(out.stdout).unwrap();
    }
    std::fs::read_to_string(path).unwrap_or_default()
}

fn files_named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

#[test]
fn logrotate_rotates_the_events_file_while_a_container_writes_events() {
    let host = PrivateHost::new();
    let logs = host.dir().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let events_path = logs.join("events.jsonl");
    let falco_path = logs.join("falco.jsonl");
    configure(
        &host,
        json!({
            "parameters": parameters(),
            "events_path": events_path,
            "falco_events_path": falco_path,
        }),
    );
    learn_true(&host, "busy");
    let id = "ops-rotate";
    let busy = bundle(
        &["sh", "-c", "while :; do cat /etc/passwd >/dev/null; done"],
        json!({"io.ids-runc.mode": "detect", "io.ids-runc.profile": "busy", "io.ids-runc.action": "log"}),
    );
    start(&host, &busy, id);

    // The shipped config, pointed at this host's files.
    let shipped = std::fs::read_to_string(workspace().join("deploy/logrotate/ids-runc")).unwrap();
    let conf = host.dir().join("logrotate.conf");
    std::fs::write(
        &conf,
        shipped.replace("/var/log/ids-runc/", &format!("{}/", logs.display())),
    )
    .unwrap();
    let state = host.dir().join("logrotate.state");
    // Both files hold an event written since the last rotation (each is created by its writers).
    let both_written = || {
        [&events_path, &falco_path]
            .iter()
            .all(|f| lines_of(std::slice::from_ref(*f), id) > 0)
    };
    for round in 0..5 {
        assert!(
            wait_until(Duration::from_secs(20), both_written),
            "round {round}: no event since the last rotation"
        );
        let out = run(Command::new("logrotate")
            .args(["--force", "--state"])
            .arg(&state)
            .arg(&conf));
        assert_ok(&out, "logrotate --force");
    }
    assert!(
        wait_until(Duration::from_secs(20), both_written),
        "no event after the last rotation"
    );
    delete(&host, id);

    let final_state: Value = serde_json::from_slice(
        &std::fs::read(host.dir().join(format!("runs/{id}.final.json"))).expect("final.json"),
    )
    .unwrap();
    let guard = &final_state["state"]["guard"];
    assert_eq!(guard["event_errors"], 0, "{final_state}");
    let written = guard["events"].as_u64().unwrap() as usize;
    let events_files = files_named(&logs, "events.jsonl");
    let falco_files = files_named(&logs, "falco.jsonl");
    assert_eq!(events_files.len(), 6, "5 rotations: {events_files:?}");
    assert!(
        events_files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "gz")),
        "older files compressed: {events_files:?}"
    );
    assert_eq!(falco_files.len(), 6, "5 rotations: {falco_files:?}");
    for file in &events_files {
        assert!(
            lines_of(std::slice::from_ref(file), id) > 0,
            "{} holds events",
            file.display()
        );
    }
    assert_eq!(
        lines_of(&events_files, id),
        written,
        "every event in one of {events_files:?}"
    );
    assert_eq!(
        lines_of(&falco_files, id),
        written,
        "every alert in one of {falco_files:?}"
    );
    host.assert_clean();
}

/// Writes `<id>.epochs.jsonl` and `<id>.final.json` in `runs`, last written `days` ago.
fn old_run(runs: &Path, id: &str, days: u64) {
    let when = std::time::SystemTime::now() - Duration::from_secs(days * 86_400);
    for suffix in [".epochs.jsonl", ".final.json"] {
        let path = runs.join(format!("{id}{suffix}"));
        std::fs::write(&path, "{}\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
}

#[test]
fn create_prunes_the_runs_dir_but_not_a_running_containers_files() {
    let host = PrivateHost::new();
    configure(&host, json!({"runs_max_age_days": 7}));
    let runs = host.dir().join("runs");
    let sleeper = bundle(
        &["sleep", "300"],
        json!({"io.ids-runc.mode": "learn", "io.ids-runc.profile": "sleeper"}),
    );
    start(&host, &sleeper, "running");
    assert!(wait_until(Duration::from_secs(10), || runs
        .join("running.epochs.jsonl")
        .exists()));
    old_run(&runs, "running", 30);
    old_run(&runs, "ended-long-ago", 30);
    old_run(&runs, "ended-yesterday", 1);
    std::fs::write(runs.join("notes.txt"), "not ids-runc's").unwrap();

    let other = bundle(&["true"], json!({}));
    let (code, out) = host.run(&other, "next");
    assert_eq!(code, Some(0), "{out}");

    let mut left: Vec<String> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "ended-yesterday.epochs.jsonl",
            "ended-yesterday.final.json",
            "notes.txt",
            "running.epochs.jsonl",
            "running.final.json"
        ]
    );
    delete(&host, "running");
    host.assert_clean();
}

#[test]
fn events_follow_goes_on_in_the_new_file_after_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let config = dir.path().join("config.json");
    std::fs::write(&config, json!({"events_path": events}).to_string()).unwrap();
    let event = |n: u32| {
        format!(
            "{}\n",
            json!({"time": "2026-11-29T23:00:00.000Z", "container": format!("c{n}"),
                   "profile": "p", "mode": "detect", "monitor": "seccomp-notify",
                   "kind": "anomaly", "action": "logged", "epoch": n})
        )
    };
    let append = |n: u32| {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&events)
            .unwrap()
            .write_all(event(n).as_bytes())
            .unwrap();
    };
    append(1);
    let mut follower = Command::new(ids_runc())
        .env("IDS_RUNC_CONFIG", &config)
        .args(["events", "--follow", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ids-runc events --follow");
    let stdout = follower.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(4)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(Duration::from_millis(500));
    append(2);
    std::fs::rename(&events, dir.path().join("events.jsonl.1")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    append(3);
    append(4);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !reader.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let lines = reader.join().unwrap();
    let epochs: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["epoch"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(epochs, [1, 2, 3, 4], "{lines:?}");
}
