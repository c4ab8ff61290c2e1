//! `ids-runc profile list|show|rm|export` on a host store: names resolved as `IDS_RUNC_PROFILE`
//! resolves them, bad names refused with one clear line, a profile being learnt not removed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use ids_monitor::profile::Profile;
use ids_monitor::testing::trained_profile;

const IDS_RUNC: &str = env!("CARGO_BIN_EXE_ids-runc");

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    /// A host config whose store holds `web` (converged) and `db` (not), a file that is no
    /// profile, and a save's temp file.
    fn new() -> Host {
        let host = Host {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(host.store()).unwrap();
        std::fs::write(
            host.dir.path().join("config.json"),
            serde_json::json!({
                "profile_dir": host.store(),
                "state_dir": host.state(),
            })
            .to_string(),
        )
        .unwrap();
        let mut web = trained_profile("web");
        web.training.converged_at_epoch = Some(2);
        web.save(&host.store().join("web.json")).unwrap();
        trained_profile("db")
            .save(&host.store().join("db.json"))
            .unwrap();
        std::fs::write(host.store().join("broken.json"), "{").unwrap();
        std::fs::write(host.store().join(".web.json.1.2.3.tmp"), "").unwrap();
        host
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("profiles")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(IDS_RUNC)
            .env("IDS_RUNC_CONFIG", self.dir.path().join("config.json"))
            .arg("profile")
            .args(args)
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code 2 and one line on stderr, holding `needle`.
#[track_caller]
fn fails_with(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn list_shows_every_profile_of_the_store() {
    let host = Host::new();
    let out = host.run(&["list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("NAME"), "{table}");
    let columns = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(columns(lines[1])[0], "broken");
    assert!(lines[1].contains("invalid: profile"), "{table}");
    let db = columns(lines[2]);
    let web = columns(lines[3]);
    assert_eq!(&db[2..5], ["seccomp-notify", "4", "no"], "{table}");
    assert_eq!(&web[2..5], ["seccomp-notify", "4", "yes"], "{table}");
    let size = std::fs::metadata(host.store().join("web.json"))
        .unwrap()
        .len();
    assert_eq!(web[1], size.to_string());

    let out = host.run(&["list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["broken", "db", "web"]);
    assert_eq!(rows[2]["converged"], true);
    assert_eq!(rows[2]["monitor"], "seccomp-notify");
    assert!(rows[2]["last_learnt"].as_str().unwrap().ends_with('Z'));
    assert!(rows[0]["error"].is_string());

    // A store that does not exist yet lists nothing.
    std::fs::remove_dir_all(host.store()).unwrap();
    let out = host.run(&["list"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).lines().count(), 1);
}

#[test]
fn show_finds_store_names_and_says_once_what_is_missing() {
    let host = Host::new();
    let out = host.run(&["show", "web"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains(&host.store().join("web.json").display().to_string()));
    assert!(shown.contains("converged at epoch 2"), "{shown}");

    let out = host.run(&["show", "demo-service"]);
    fails_with(&out, "no profile \"demo-service\" in the store");
    assert!(!text(&out.stderr).contains("No such file"));
    fails_with(&host.run(&["show", "../x"]), "no profile \"../x\"");
    // A path still works, and a broken file says why.
    let path = host.store().join("db.json");
    assert!(host.run(&["show", path.to_str().unwrap()]).status.success());
    fails_with(&host.run(&["show", "broken"]), "broken.json: line 1");
}

#[test]
fn export_prints_the_profile_and_the_dockerfile_line() {
    let host = Host::new();
    let out = host.run(&["export", "web"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported = Profile::parse(&text(&out.stdout), Path::new("stdout")).unwrap();
    assert_eq!(
        exported,
        Profile::load(&host.store().join("web.json")).unwrap()
    );
    assert_eq!(
        text(&out.stderr),
        "COPY web.json /etc/ids-runc/profile.json\n"
    );
    fails_with(&host.run(&["export", "nope"]), "no profile \"nope\"");
    fails_with(&host.run(&["export", "broken"]), "broken.json");
    // A link in the store is not read through, as `create` would not.
    std::os::unix::fs::symlink(
        host.store().join("web.json"),
        host.store().join("link.json"),
    )
    .unwrap();
    fails_with(&host.run(&["export", "link"]), "is a symbolic link");
    fails_with(&host.run(&["show", "link"]), "is a symbolic link");
}

/// A stand-in for the monitor of container `id` learning into `profile`: a state dir with its
/// `launch.json` and `monitor.pid`, and a live process whose command line names the state dir.
fn learner(host: &Host, id: &str, profile: &Path) -> Child {
    let state = host.state().join(format!("{id}@00000000"));
    std::fs::create_dir_all(&state).unwrap();
    let p = trained_profile("web");
    std::fs::write(
        state.join("launch.json"),
        serde_json::json!({
            "id": id, "mode": "learn", "monitor": "seccomp-notify", "profile_name": "web",
            "profile": null, "save_to": profile, "policy": p.policy,
            "parameters": p.parameters, "save_interval_secs": 30,
            "events_path": host.dir.path().join("events.jsonl"),
            "runs_dir": host.dir.path().join("runs"), "runc": "/usr/sbin/runc",
            "runc_root": null, "runc_pid": 1, "sync_wake_up": false
        })
        .to_string(),
    )
    .unwrap();
    let child = Command::new("sh")
        .args(["-c", "sleep 60; :"])
        .arg(&state)
        .spawn()
        .unwrap();
    std::fs::write(state.join("monitor.pid"), child.id().to_string()).unwrap();
    child
}

#[test]
fn rm_removes_a_profile_unless_a_container_learns_into_it() {
    let host = Host::new();
    fails_with(&host.run(&["rm", "nope"]), "no profile nope in the store");
    fails_with(&host.run(&["rm", "../x"]), "not a profile of the store");
    fails_with(&host.run(&["rm", ""]), "not a profile of the store");

    assert!(host.run(&["rm", "db"]).status.success());
    assert!(!host.store().join("db.json").exists());

    let web = host.store().join("web.json");
    let mut monitor = learner(&host, "c1", &web);
    fails_with(
        &host.run(&["rm", "web"]),
        "container c1 learns into profile web",
    );
    assert!(web.exists());
    let out = host.run(&["rm", "--force", "web"]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("removed anyway"));
    assert!(!web.exists());
    monitor.kill().unwrap();
    monitor.wait().unwrap();
}
