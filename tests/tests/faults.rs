//! Faults: a monitor killed with SIGKILL, an events file that cannot be written, a full disk while
//! a profile is saved, runc killed in the middle of `create`, and containers that restart.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ids_e2e::bundle::Bundle;
use ids_e2e::dockerd::Dockerd;
use ids_e2e::procs::{monitor_pid, monitors_under};
use ids_e2e::{ids_runc, run, wait_until};

/// A workload that makes a few thousand calls and ends.
const WORK: &str =
    "for i in 1 2 3; do ls /bin >/dev/null; cat /etc/passwd >/dev/null; done; echo done";

fn profile_calls(path: &Path) -> u64 {
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    p["training"]["calls"].as_u64().unwrap()
}

fn kill_monitor(d: &Dockerd, id: &str) {
    let pid = monitor_pid(d, id);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(
            format!("/proc/{pid}/stat")
        )
        .map_or(true, |s| s.contains(") Z "))),
        "monitor {pid} survived SIGKILL"
    );
}

fn died_events(d: &Dockerd, id: &str) -> Vec<serde_json::Value> {
    d.events_of(id)
        .into_iter()
        .filter(|e| e["kind"] == "monitor-died")
        .collect()
}

/// What the container sees once the keeper is killed (its monitor dies with it): every notified
/// call fails with ENOSYS. A busy shell cannot fork, open or sleep: it dies of it, or loops on
/// unable to fork, as the calls that fail first decide. Either way the first command that looks
/// (here `delete`) reports the dead monitor, once.
#[test]
fn a_busy_container_fails_without_its_monitor_and_delete_reports_it() {
    let d = Dockerd::start(&ids_runc());
    let id = d
        .run("busybox")
        .mode("learn")
        .sh("while true; do cat /etc/hostname >/dev/null || echo call-failed; sleep 0.1; done")
        .detached();
    assert!(d.inspect(&id).is_some(), "monitor answers while it runs");
    kill_monitor(&d, &id);
    let failed = |logs: &str| {
        // A static glibc program whose first mmap fails says so in its own words.
        logs.contains("Function not implemented") || logs.contains("Cannot allocate")
    };
    assert!(
        wait_until(Duration::from_secs(30), || failed(&d.logs(&id))),
        "a busy container went on without its monitor: {}",
        d.logs(&id)
    );
    d.docker_ok(&["rm", "-f", &id]);
    let died = died_events(&d, &id);
    assert_eq!(died.len(), 1, "{:?}", d.events_of(&id));
    assert_eq!(died[0]["action"], "none");
    assert_eq!(d.state_dir(&id), None, "state dir left behind");
}

/// A quiet container (no calls) would run on unmonitored: `inspect` reports the dead monitor and
/// kills the container, once.
#[test]
fn a_killed_monitor_is_reported_and_its_container_killed() {
    let d = Dockerd::start(&ids_runc());
    let id = d
        .run("busybox")
        .mode("learn")
        .cmd(&["sleep", "300"])
        .detached();
    assert!(d.inspect(&id).is_some(), "monitor answers while it runs");
    // Only once sleep sleeps: a monitor killed while the process still starts fails its calls.
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", &id]);
    assert!(
        wait_until(Duration::from_secs(20), || std::fs::read_to_string(
            format!("/proc/{pid}/syscall")
        )
        .is_ok_and(|s| s.starts_with("35 ") || s.starts_with("230 "))),
        "sleep never slept"
    );
    kill_monitor(&d, &id);
    let out = run(&mut d.ids_runc(&["inspect", &id]));
    assert!(!out.status.success(), "inspect of a dead monitor succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("monitor") && err.contains("died") && err.contains("killed"),
        "{err}"
    );
    assert!(
        d.wait_exited(&id, Duration::from_secs(20)),
        "the container of a dead monitor still runs"
    );
    assert_eq!(d.exit_code(&id), 137);
    let _ = run(&mut d.ids_runc(&["inspect", &id]));
    d.docker_ok(&["rm", &id]);
    let died = died_events(&d, &id);
    assert_eq!(died.len(), 1, "{:?}", d.events_of(&id));
    assert_eq!(died[0]["action"], "killed");
    assert_eq!(d.state_dir(&id), None, "state dir left behind");
}

#[test]
fn a_monitor_killed_after_its_container_stopped_is_reported_by_delete() {
    let d = Dockerd::start(&ids_runc());
    let id = d
        .run("busybox")
        .mode("learn")
        .cmd(&["sleep", "300"])
        .detached();
    kill_monitor(&d, &id);
    d.docker_ok(&["rm", "-f", &id]);
    assert_eq!(died_events(&d, &id).len(), 1, "{:?}", d.events_of(&id));
    assert_eq!(d.state_dir(&id), None, "state dir left behind");
}

#[test]
fn a_monitor_that_ends_with_its_container_is_not_reported_dead() {
    let d = Dockerd::start(&ids_runc());
    let id = d.run("busybox").mode("learn").sh(WORK).detached();
    assert!(d.wait_exited(&id, Duration::from_secs(30)));
    d.docker_ok(&["rm", &id]);
    assert!(
        d.events_of(&id).iter().all(|e| e["kind"] != "monitor-died"),
        "{:?}",
        d.events_of(&id)
    );
}

#[test]
fn an_unwritable_events_file_does_not_stop_the_monitor() {
    let d = Dockerd::start(&ids_runc());
    // /dev/full opens and fails every write with ENOSPC. A database of 5 bags fills at once, so
    // the monitor has an event (database-full) to write.
    d.set_host_config(serde_json::json!({
        "events_path": "/dev/full",
        "max_database_entries": 5,
    }));
    let id = d
        .run("busybox")
        .mode("learn")
        .profile("full")
        .sh(&format!("{WORK}; sleep 2; {WORK}; sleep 300"))
        .detached();
    let counters = wait_for_counters(&d, &id, |c| c["guard"]["event_errors"].as_u64() > Some(0));
    assert_eq!(counters["detector"]["database_size"], 5, "{counters}");
    assert!(counters["detector"]["rejected_bags"].as_u64() > Some(0));
    assert_eq!(
        counters["guard"]["events"],
        counters["guard"]["event_errors"]
    );
    d.docker_ok(&["rm", "-f", &id]);
    let profile = d.profile_dir().join("full.json");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&profile).expect("profile saved")).unwrap();
    assert_eq!(saved["normal_db"].as_array().unwrap().len(), 5);
}

#[test]
fn a_full_database_writes_one_event() {
    let d = Dockerd::start(&ids_runc());
    d.set_host_config(serde_json::json!({ "max_database_entries": 5 }));
    let out = d
        .run("busybox")
        .rm()
        .mode("learn")
        .sh(&format!("{WORK}; {WORK}; {WORK}"))
        .ok();
    assert!(out.ends_with("done"), "{out}");
    let full: Vec<_> = d
        .events()
        .into_iter()
        .filter(|e| e["kind"] == "database-full")
        .collect();
    assert_eq!(full.len(), 1, "{:?}", d.events());
}

/// Polls `inspect` until `ready` holds; panics with the last counters otherwise.
fn wait_for_counters(
    d: &Dockerd,
    id: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let ok = wait_until(Duration::from_secs(30), || {
        last = d.inspect(id).unwrap_or_default();
        ready(&last)
    });
    assert!(ok, "counters never got there: {last}");
    last
}

/// A tmpfs of `size` mounted at `at`; the daemon's Drop unmounts everything below its dir.
fn mount_tmpfs(at: &Path, size: &str) {
    std::fs::create_dir_all(at).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some(format!("size={size},mode=0755").as_str()),
    )
    .unwrap_or_else(|e| panic!("mount tmpfs on {}: {e}", at.display()));
}

/// Fills the filesystem of `dir` to the last block.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let out = run(Command::new("sh").arg("-c").arg(format!(
        "dd if=/dev/zero of='{}' bs=4k 2>/dev/null; sync",
        filler.display()
    )));
    let _ = out;
    filler
}

#[test]
fn a_full_disk_keeps_the_old_profile_intact() {
    let d = Dockerd::start(&ids_runc());
    mount_tmpfs(&d.profile_dir(), "256k");
    let learn = |script: &str| {
        d.run("busybox")
            .rm()
            .mode("learn")
            .profile("kept")
            .sh(script)
            .ok()
    };
    assert_eq!(learn(WORK), "done");
    let path = d.profile_dir().join("kept.json");
    let before = std::fs::read(&path).expect("first profile saved");
    fill(&d.profile_dir());
    // New behaviour, so the profile to save is bigger than the one on disk.
    assert_eq!(
        learn(&format!(
            "nc -l -p 8080 -w 1; ps >/dev/null; df >/dev/null; {WORK}"
        )),
        "done"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the old profile changed"
    );
    let leftovers: Vec<_> = std::fs::read_dir(d.profile_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "kept.json" && n != "filler")
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    let errors: Vec<_> = d
        .events()
        .into_iter()
        .filter(|e| e["kind"] == "monitor-error")
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e["message"].as_str().unwrap_or("").contains("kept.json")),
        "no event for the failed save: {:?}",
        d.events()
    );
    // With room again, the next run saves and extends it.
    std::fs::remove_file(d.profile_dir().join("filler")).unwrap();
    assert_eq!(learn(WORK), "done");
    assert!(
        profile_calls(&path) > {
            let p: serde_json::Value = serde_json::from_slice(&before).unwrap();
            p["training"]["calls"].as_u64().unwrap()
        }
    );
}

/// runc, for ids-runc: `create` stops before doing anything (the test kills it there); every other
/// command is the real runc.
fn stalling_runc(dir: &Path) -> PathBuf {
    let script = dir.join("stalling-runc");
    std::fs::write(
        &script,
        "#!/bin/sh\nfor w in \"$@\"; do [ \"$w\" = create ] && { echo stalled > \"$STALL_MARK\"; exec sleep 300; }; done\nexec runc \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script
}

#[test]
fn runc_killed_mid_create_leaves_no_state() {
    ids_e2e::require_root();
    let bundle = Bundle::new(&["true"]);
    let mut spec = bundle.config();
    spec["annotations"] = serde_json::json!({"io.ids-runc.mode": "learn"});
    bundle.set_config(&spec);
    let work = tempfile::tempdir().unwrap();
    let state_root = tempfile::Builder::new()
        .prefix("ids-t-")
        .tempdir_in("/run")
        .unwrap();
    let runc_root = work.path().join("runc-root");
    let config = work.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "state_dir": state_root.path(),
            "profile_dir": work.path().join("profiles"),
            "events_path": work.path().join("events.jsonl"),
            "runs_dir": work.path().join("runs"),
        })
        .to_string(),
    )
    .unwrap();
    let mark = work.path().join("stalled");
    let ids = |args: &[&str]| {
        let mut cmd = Command::new(ids_runc());
        cmd.env("IDS_RUNC_CONFIG", &config)
            .env("IDS_RUNC_RUNTIME", stalling_runc(work.path()))
            .env("STALL_MARK", &mark)
            .arg("--root")
            .arg(&runc_root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    for (id, then_delete) in [("ids-midcreate-1", false), ("ids-midcreate-2", true)] {
        let _ = std::fs::remove_file(&mark);
        let mut create = ids(&["create", "--bundle", bundle.path().to_str().unwrap(), id])
            .env("IDS_RUNC_MODE", "learn")
            .spawn()
            .unwrap();
        assert!(
            wait_until(Duration::from_secs(20), || mark.exists()),
            "create never reached runc"
        );
        let state = ids_e2e::state_dir_in(state_root.path(), id).expect("no state dir made");
        assert!(state.join("monitor.pid").exists(), "no monitor started");
        create.kill().unwrap();
        create.wait().unwrap();
        if then_delete {
            // What a container manager does after a failed create.
            let _ = ids(&["delete", "--force", id]).status();
        }
        assert!(
            wait_until(Duration::from_secs(60), || !state.exists()),
            "state dir {} left after runc was killed",
            state.display()
        );
        assert!(
            wait_until(Duration::from_secs(10), || monitors_under(
                state_root.path()
            )
            .is_empty()),
            "monitor left running"
        );
    }
    // The bundle's config.json is the rewritten one; the original is kept beside it.
    assert!(bundle.path().join("config.ids-runc.orig.json").exists());
}

#[test]
fn docker_restart_gives_a_new_monitor_and_keeps_learning() {
    let d = Dockerd::start(&ids_runc());
    let id = d
        .run("busybox")
        .mode("learn")
        .profile("restarted")
        .sh(&format!("{WORK}; sleep 300"))
        .detached();
    let profile = d.profile_dir().join("restarted.json");
    wait_for_counters(&d, &id, |c| c["detector"]["calls"].as_u64() > Some(500));
    let first = monitor_pid(&d, &id);
    d.docker_ok(&["restart", "-t", "1", &id]);
    let first_calls = profile_calls(&profile);
    assert!(wait_until(Duration::from_secs(20), || d
        .inspect(&id)
        .is_some()));
    let second = monitor_pid(&d, &id);
    assert_ne!(first, second, "restart kept the old monitor");
    assert!(!Path::new(&format!("/proc/{first}")).exists() || first == second);
    wait_for_counters(&d, &id, |c| c["detector"]["calls"].as_u64() > Some(500));
    d.docker_ok(&["stop", "-t", "1", &id]);
    assert!(
        profile_calls(&profile) > first_calls,
        "the second run did not extend the profile"
    );
    assert_eq!(monitors_under(d.state_root()), Vec::<i32>::new());
    d.docker_ok(&["rm", &id]);
}

#[test]
fn restart_always_gives_a_new_monitor_each_time_and_keeps_learning() {
    let d = Dockerd::start(&ids_runc());
    let id = d
        .run("busybox")
        .option("--restart=always")
        .mode("learn")
        .profile("always")
        .sh(&format!("{WORK}; exit 1"))
        .detached();
    let profile = d.profile_dir().join("always.json");
    let restarts = || -> u64 {
        d.docker_ok(&["inspect", "-f", "{{.RestartCount}}", &id])
            .parse()
            .unwrap()
    };
    let mut seen = Vec::new();
    assert!(
        wait_until(Duration::from_secs(90), || {
            if profile.exists() {
                let calls = profile_calls(&profile);
                if seen.last() != Some(&calls) {
                    seen.push(calls);
                }
            }
            restarts() >= 3 && seen.len() >= 3
        }),
        "restarts {} profile sizes {seen:?}",
        restarts()
    );
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "each run extends the profile: {seen:?}"
    );
    d.docker_ok(&["rm", "-f", &id]);
    assert!(wait_until(Duration::from_secs(10), || monitors_under(
        d.state_root()
    )
    .is_empty()));
    let left: Vec<_> = std::fs::read_dir(d.state_root()).unwrap().collect();
    assert!(left.is_empty(), "state left: {left:?}");
}

#[test]
fn dockerd_restarted_while_monitored_containers_run() {
    let mut d = Dockerd::start(&ids_runc());
    let run = |name: &str, restart: &str| {
        d.run("busybox")
            .option(&format!("--restart={restart}"))
            .name(name)
            .mode("learn")
            .profile(name)
            .sh(&format!("{WORK}; sleep 600"))
            .detached()
    };
    let always = run("always", "always");
    let once = run("once", "no");
    for id in [&always, &once] {
        wait_for_counters(&d, id, |c| c["detector"]["calls"].as_u64() > Some(500));
    }
    let old = [monitor_pid(&d, &always), monitor_pid(&d, &once)];
    d.restart();
    for pid in old {
        assert!(
            wait_until(Duration::from_secs(20), || !Path::new(&format!(
                "/proc/{pid}"
            ))
            .exists()),
            "monitor {pid} outlived dockerd's restart"
        );
    }
    // The one with a restart policy is back, with a new monitor that extends its profile.
    let profile = d.profile_dir().join("always.json");
    let saved = profile_calls(&profile);
    wait_for_counters(&d, &always, |c| c["detector"]["calls"].as_u64() > Some(500));
    assert_eq!(
        monitors_under(d.state_root()),
        vec![monitor_pid(&d, &always)]
    );
    assert_eq!(d.status(&once), "exited");
    assert!(
        d.state_dir(&once).is_none(),
        "state of a stopped container left"
    );
    assert!(d.profile_dir().join("once.json").exists());
    d.docker_ok(&["stop", "-t", "1", &always]);
    assert!(profile_calls(&profile) > saved);
    d.docker_ok(&["rm", &always, &once]);
    assert!(wait_until(Duration::from_secs(10), || monitors_under(
        d.state_root()
    )
    .is_empty()));
}
