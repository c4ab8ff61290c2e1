//! The in-kernel monitor (`IDS_RUNC_MONITOR=ebpf`) on real containers, through a private dockerd:
//! learn, a quiet detection run and an attack killed; an unseen syscall refused or killed before it
//! runs; the kernel judges without the monitor process; nothing stays attached once the containers
//! are gone.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use ids_e2e::bundle::Bundle;
use ids_e2e::dockerd::Dockerd;
use ids_e2e::private_host::PrivateHost;
use ids_e2e::workload::{assert_listen_refused, learn, ANOMALOUS, LISTENS, NORMAL};
use ids_e2e::{ids_runc, monitor_pids, wait_until, workspace};

/// The host has one kernel program for every ebpf container: tests that look at what is attached
/// take turns.
static HOST: Mutex<()> = Mutex::new(());

fn host_to_myself() -> std::sync::MutexGuard<'static, ()> {
    HOST.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn ebpf_learns_then_detects_and_kills() {
    let _host = host_to_myself();
    let d = Dockerd::start(&ids_runc());
    learn(&d, "kernel", "ebpf");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.profile_dir().join("kernel.json")).unwrap())
            .unwrap();
    assert_eq!(profile["monitor"]["kind"], "ebpf", "{}", profile["monitor"]);
    // The kernel sees what seccomp notify cannot.
    let syscalls = profile["syscalls"].as_array().unwrap();
    assert!(syscalls.iter().any(|s| s == "write"), "{syscalls:?}");
    // The kernel counted every window of every bag, as the user-space detector does.
    let frequencies: u64 = profile["normal_db"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["frequency"].as_u64().unwrap())
        .sum();
    assert_eq!(
        Some(frequencies),
        profile["training"]["windows"].as_u64(),
        "{}",
        profile["training"]
    );

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
    // The last container gone, nothing is attached (the loaded program may stay pinned).
    assert!(
        wait_until(Duration::from_secs(10), || !std::path::Path::new(
            "/run/ids-runc/bpf/sys_enter"
        )
        .exists()),
        "the kernel program is still attached"
    );
}

#[test]
fn the_kernel_kills_an_attack_after_the_monitor_died() {
    let _host = host_to_myself();
    let d = Dockerd::start(&ids_runc());
    // A service that waits: learnt with its sleep.
    for _ in 0..3 {
        let out = d
            .run("busybox")
            .rm()
            .mode("learn")
            .monitor("ebpf")
            .profile("orphaned")
            .sh(&format!("{NORMAL}; sleep 0.2; echo slept"))
            .ok();
        assert!(out.ends_with("slept"), "{out}");
    }
    // The attack below is killed for its unseen `socket`; a start-up epoch with two bags the three
    // short learning runs missed (W=6, E=200 by default) must not end the service before it.
    let path = d.profile_dir().join("orphaned.json");
    let mut profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    profile["parameters"]["threshold"] = serde_json::json!({"ratio": 0.2});
    std::fs::write(&path, serde_json::to_vec_pretty(&profile).unwrap()).unwrap();
    d.run("busybox")
        .name("orphan")
        .mode("detect")
        .monitor("ebpf")
        .profile("orphaned")
        .action("kill")
        .sh(&format!("{NORMAL}; sleep 600"))
        .detached();
    let id = d.id_of("orphan");
    let state = d.state_dir(&id).expect("state dir");
    let monitors = monitor_pids(&state);
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitors[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || monitor_pids(&state).is_empty()),
        "monitor survived SIGKILL"
    );
    // Nobody in user space watches now; the kernel still does.
    let attack = d.docker(&["exec", "orphan", "sh", "-c", ANOMALOUS]);
    assert_eq!(attack.status.code(), Some(137), "{attack:?}");
    assert!(!String::from_utf8_lossy(&attack.stdout).contains("survived"));
    d.docker_ok(&["rm", "-f", "orphan"]);
    assert!(
        wait_until(Duration::from_secs(10), || !state.exists()),
        "state dir left after rm"
    );
    assert!(
        wait_until(Duration::from_secs(10), || !std::path::Path::new(
            "/run/ids-runc/bpf/sys_enter"
        )
        .exists()),
        "delete left the dead monitor's container in the kernel"
    );
}

#[test]
fn learn_detect_switches_the_kernel_to_detection() {
    let _host = host_to_myself();
    let d = Dockerd::start(&ids_runc());
    d.run("busybox")
        .name("switching")
        .mode("learn-detect")
        .monitor("ebpf")
        .profile("switching")
        .action("kill")
        .sh(&format!("while true; do {NORMAL} >/dev/null; done"))
        .detached();
    let id = d.id_of("switching");
    assert!(
        wait_until(Duration::from_secs(90), || d
            .events_of(&id)
            .iter()
            .any(|e| e["kind"] == "mode-switch")),
        "training never converged: {:?}",
        d.events_of(&id)
    );
    assert!(d.profile_dir().join("switching.json").exists());
    // inspect answers from the monitor, with the kernel's counters.
    let doc = d.inspect(&id).expect("inspect");
    assert_eq!(doc["mode"], "detect", "{doc}");
    assert!(
        doc["supervisor"]["kernel"]["calls"].as_u64().unwrap_or(0) > 1000,
        "{doc}"
    );
    let attack = d.docker(&["exec", "switching", "sh", "-c", ANOMALOUS]);
    assert_eq!(attack.status.code(), Some(137), "{attack:?}");
    d.docker_ok(&["rm", "-f", "switching"]);
}

/// What the monitor of container `id` counted last (`<runs_dir>/<id>.final.json`), once it ended.
fn final_state(d: &Dockerd, id: &str) -> serde_json::Value {
    let path = d.dir().join("runs").join(format!("{id}.final.json"));
    assert!(
        wait_until(Duration::from_secs(10), || path.exists()),
        "{} never written",
        path.display()
    );
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn an_unseen_syscall_is_refused_or_killed_before_it_runs() {
    let _host = host_to_myself();
    let d = Dockerd::start(&ids_runc());
    learn(&d, "unseen", "ebpf");
    let (code, id, logs) =
        ids_e2e::workload::detect(&d, "unseen", "ebpf", "anomaly=log,unseen=deny", LISTENS);
    assert_listen_refused(code, &logs);
    let events = d.events_of(&id);
    assert!(
        events.iter().any(|e| e["action"] == "denied"
            && e["kind"] == "unseen-syscall"
            && e["syscalls"][0] == "socket"
            && e["monitor"] == "ebpf"),
        "no denial of socket: {events:?}"
    );
    let state = final_state(&d, &id);
    assert!(
        state["state"]["guard"]["denied"].as_u64().unwrap_or(0) >= 1,
        "{state}"
    );

    // With kill the kernel kills the caller at sys_enter: it dies before the call returns, and
    // nothing waits for the monitor (the seccomp filter is left as it is).
    let (code, id, logs) = ids_e2e::workload::detect(
        &d,
        "unseen",
        "ebpf",
        "anomaly=log,unseen=kill",
        "nc -l -p 8080 -w 1; echo survived",
    );
    assert_eq!(code, 137, "{logs}");
    assert!(!logs.contains("survived"), "{logs}");
    let events = d.events_of(&id);
    // nc's first call the profile never saw (alarm, for -w) is the one that kills.
    assert!(
        events.iter().any(|e| e["action"] == "killed"
            && e["kind"] == "unseen-syscall"
            && e["syscalls"][0] == "alarm"),
        "no kill for nc's alarm: {events:?}"
    );
}

/// A busybox bundle that asks for the ebpf monitor, learning profile `profile`.
fn ebpf_bundle(script: &str, profile: &str) -> Bundle {
    let bundle = Bundle::new(&["sh", "-c", script]);
    let mut config = bundle.config();
    let env = config["process"]["env"]
        .as_array_mut()
        .expect("process.env");
    for setting in [
        "IDS_RUNC_MONITOR=ebpf".to_string(),
        "IDS_RUNC_MODE=learn".to_string(),
        format!("IDS_RUNC_PROFILE={profile}"),
    ] {
        env.push(setting.into());
    }
    bundle.set_config(&config);
    bundle
}

/// Adds `keys` to the host's config.
fn with_host_keys(host: &PrivateHost, keys: serde_json::Value) {
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(host.config()).unwrap()).unwrap();
    for (key, value) in keys.as_object().unwrap() {
        config[key] = value.clone();
    }
    std::fs::write(host.config(), config.to_string()).unwrap();
}

#[test]
fn without_btf_create_fails_with_one_line_or_falls_back_to_seccomp_notify() {
    let host = PrivateHost::new();
    let btf = "/nonexistent/vmlinux";
    with_host_keys(&host, serde_json::json!({ "kernel_btf": btf }));
    let bundle = ebpf_bundle("echo watched", "fallback");
    let (code, out) = host.run(&bundle, "no-btf");
    assert_ne!(code, Some(0), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("BTF"))
        .unwrap_or_else(|| panic!("no line says what is missing: {out}"));
    assert!(line.contains(btf), "{line}");
    assert!(!out.contains("watched"), "the container ran: {out}");

    with_host_keys(
        &host,
        serde_json::json!({ "fallback_monitor": "seccomp-notify" }),
    );
    let (code, out) = host.run(&bundle, "fell-back");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "watched");
    let events = host.events();
    let error = events
        .iter()
        .find(|e| e["kind"] == "monitor-error" && e["container"] == "fell-back")
        .unwrap_or_else(|| panic!("no monitor-error event: {events:#?}"));
    assert_eq!(error["monitor"], "seccomp-notify");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("BTF") && message.contains(btf),
        "{message}"
    );
    // Watched all the same, by the seccomp-notify monitor.
    let path = host.dir().join("profiles/fallback.json");
    assert!(
        wait_until(Duration::from_secs(10), || path.exists()),
        "no profile learnt: {events:#?}"
    );
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(profile["monitor"]["kind"], "seccomp-notify");
    host.assert_clean();
}

/// The libc-free helper of the kernel tests (`ebpf/tests/calls.c`), built into `rootfs`: it makes
/// exactly the calls named on its command line, then exit_group.
fn helper_in(rootfs: &Path) -> &'static str {
    let status = Command::new("cc")
        .args(["-O2", "-static", "-nostdlib", "-fno-stack-protector", "-o"])
        .arg(rootfs.join("calls"))
        .arg(workspace().join("ebpf/tests/calls.c"))
        .status()
        .expect("cc");
    assert!(status.success(), "compiling ebpf/tests/calls.c");
    "/calls"
}

/// A learnt profile's bags and their frequencies, in a stable order.
fn bags_of(path: &Path) -> Vec<String> {
    assert!(
        wait_until(Duration::from_secs(10), || path.exists()),
        "{} not saved",
        path.display()
    );
    let profile: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut bags: Vec<String> = profile["normal_db"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.to_string())
        .collect();
    bags.sort();
    bags
}

#[test]
fn ebpf_and_seccomp_notify_learn_the_same_bags() {
    let _host = host_to_myself();
    let host = PrivateHost::new();
    // A single-threaded stream of calls both monitors see (none of those notify cannot), in an
    // irregular but fixed order: many bags, most of them seen more than once.
    let (getpid, getppid, getuid, getgid, geteuid, getpgrp) = (39, 110, 102, 104, 107, 111);
    let alphabet = [getpid, getppid, getuid, getgid, geteuid, getpgrp];
    let mut state = 7u32;
    let stream: Vec<String> = (0..400)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            alphabet[(state >> 16) as usize % 3 + usize::from(state.is_multiple_of(7)) * 3]
                .to_string()
        })
        .collect();
    let mut learnt = Vec::new();
    for monitor in ["seccomp-notify", "ebpf"] {
        let bundle = Bundle::new(&["true"]);
        let helper = helper_in(&bundle.rootfs());
        let mut config = bundle.config();
        let mut args = vec![helper.to_string()];
        args.extend(stream.iter().cloned());
        config["process"]["args"] = args.into();
        let env = config["process"]["env"]
            .as_array_mut()
            .expect("process.env");
        for setting in [
            format!("IDS_RUNC_MONITOR={monitor}"),
            "IDS_RUNC_MODE=learn".to_string(),
            format!("IDS_RUNC_PROFILE=same-{monitor}"),
        ] {
            env.push(setting.into());
        }
        bundle.set_config(&config);
        let (code, out) = host.run(&bundle, &format!("same-{monitor}"));
        assert_eq!(code, Some(0), "{monitor}: {out}");
        learnt.push(bags_of(
            &host.dir().join(format!("profiles/same-{monitor}.json")),
        ));
    }
    assert!(learnt[0].len() > 20, "{:?}", learnt[0]);
    assert_eq!(learnt[0], learnt[1], "seccomp-notify, then ebpf");
    host.assert_clean();
}
