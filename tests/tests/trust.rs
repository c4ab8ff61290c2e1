//! What an image (its `ENV`, which lands in the container's env) and whoever runs a container can
//! make the host do with profiles: nothing outside the profile store, nothing to a profile bound
//! to another workload; and what they name shows escaped on the operator's terminal.

use std::path::{Path, PathBuf};
use std::process::Command;

use ids_e2e::bundle::Bundle;
use ids_e2e::dockerd::Dockerd;
use ids_e2e::{assert_ok, ids_runc, import_with_fixture, require_root, run};

/// A host file that no container may change: its path and content.
struct Victim {
    dir: tempfile::TempDir,
}

impl Victim {
    fn new() -> Victim {
        let dir = tempfile::Builder::new()
            .prefix("ids-victim-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("victim.json"), "host file\n").unwrap();
        Victim { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("victim.json")
    }

    /// The victim is untouched and nothing else appeared beside it.
    #[track_caller]
    fn assert_untouched(&self) {
        assert_eq!(std::fs::read(self.path()).unwrap(), b"host file\n");
        let names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim.json"], "files beside the victim");
    }
}

/// The store's files (no temp file is left either).
fn store_files(d: &Dockerd) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d.profile_dir())
        .map(|dir| {
            dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn an_image_cannot_make_the_host_write_or_read_outside_the_store() {
    let d = Dockerd::start(&ids_runc());
    let victim = Victim::new();
    let pwned = format!("/etc/ids-runc-e2e-pwned-{}.json", std::process::id());
    let victim_path = victim.path().display().to_string();
    let dotdot = format!("{}/../x.json", victim.dir.path().display());
    let long = "a".repeat(300);
    let values = [
        pwned.as_str(),
        victim_path.as_str(),
        "/root/.ids-runc-e2e-pwned",
        dotdot.as_str(),
        "a/b",
        "../../../../etc/passwd",
        "..",
        ".hidden",
        long.as_str(),
    ];
    let bundle = Bundle::new(&["sh"]);
    for (i, value) in values.iter().enumerate() {
        for mode in ["learn", "detect"] {
            let image = format!("hostile-{mode}-{i}");
            d.import_with(
                &image,
                &bundle.rootfs(),
                &[
                    &format!("ENV IDS_RUNC_MODE={mode}"),
                    &format!("ENV IDS_RUNC_PROFILE={value}"),
                ],
            );
            let out = d.run(&image).rm().cmd(&["true"]).output();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{value} ({mode}) ran");
            assert!(
                stderr.contains("env IDS_RUNC_PROFILE: "),
                "{value} ({mode}): the error names the variable: {stderr}"
            );
        }
    }
    assert!(!Path::new(&pwned).exists(), "{pwned} was created");
    assert!(!Path::new("/root/.ids-runc-e2e-pwned").exists());
    victim.assert_untouched();
    assert_eq!(store_files(&d), Vec::<String>::new());

    // The host may list a directory of profiles: read there, never written.
    d.set_host_config(serde_json::json!({ "profile_path_dirs": [victim.dir.path()] }));
    let out = d
        .run("busybox")
        .rm()
        .mode("learn")
        .profile(&victim_path)
        .cmd(&["true"])
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("read only"),
        "{stderr}"
    );
    victim.assert_untouched();
}

#[test]
fn a_link_in_the_store_is_never_followed() {
    let d = Dockerd::start(&ids_runc());
    let victim = Victim::new();
    std::fs::create_dir_all(d.profile_dir()).unwrap();
    let planted = d.profile_dir().join("planted.json");
    std::os::unix::fs::symlink(victim.path(), &planted).unwrap();
    for mode in ["learn", "detect"] {
        let out = d
            .run("busybox")
            .rm()
            .mode(mode)
            .profile("planted")
            .cmd(&["true"])
            .output();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("symbolic link"),
            "{mode}: {stderr}"
        );
    }
    victim.assert_untouched();

    // A link planted while a container learns: the save replaces the link, not its target.
    let id = d
        .run("busybox")
        .mode("learn")
        .profile("later")
        .sh("ls / >/dev/null; sleep 600")
        .detached();
    let later = d.profile_dir().join("later.json");
    std::os::unix::fs::symlink(victim.path(), &later).unwrap();
    d.docker_ok(&["stop", "-t", "1", &id]);
    victim.assert_untouched();
    let meta = std::fs::symlink_metadata(&later).unwrap();
    assert!(meta.is_file(), "the learnt profile replaced the link");
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&later).unwrap()).unwrap();
    assert_eq!(profile["name"], "later");
    assert_eq!(store_files(&d), ["later.json", "planted.json"]);
}

#[test]
fn a_nul_in_the_env_fails_create_naming_the_variable() {
    require_root();
    let store = tempfile::tempdir().unwrap();
    let config = store.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "profile_dir": store.path().join("profiles"),
            "state_dir": store.path().join("state"),
            "events_path": store.path().join("events.jsonl"),
        })
        .to_string(),
    )
    .unwrap();
    let bundle = Bundle::new(&["true"]);
    let mut spec = bundle.config();
    spec["process"]["env"] = serde_json::json!([
        "PATH=/bin",
        "IDS_RUNC_MODE=learn",
        "IDS_RUNC_PROFILE=/etc/x\u{0}y"
    ]);
    bundle.set_config(&spec);
    let root = tempfile::tempdir().unwrap();
    let out = run(Command::new(ids_runc())
        .env("IDS_RUNC_CONFIG", &config)
        .arg("--root")
        .arg(root.path())
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg("ids-e2e-nul"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ran");
    assert!(
        stderr.contains("env IDS_RUNC_PROFILE: ") && stderr.contains("NUL"),
        "{stderr}"
    );
    assert!(!store.path().join("profiles").exists());
}

/// The profile `name` of the store, parsed.
fn stored(d: &Dockerd, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(d.profile_dir().join(format!("{name}.json"))).unwrap())
        .unwrap()
}

#[test]
fn a_profile_bound_to_image_a_cannot_be_extended_by_image_b() {
    let d = Dockerd::start(&ids_runc());
    d.set_host_config(serde_json::json!({ "bind_profiles": true }));
    let learn = |image: &str, name: &str| {
        d.run(image)
            .name(name)
            .mode("learn")
            .profile("svc")
            .sh("ls /bin >/dev/null; cat /etc/passwd >/dev/null 2>&1; echo done")
            .output()
    };
    assert_ok(&learn("busybox", "a1"), "learn with image A");
    let a1 = d.id_of("a1");
    let first = stored(&d, "svc");
    let by = &first["provenance"]["learnt_by"];
    assert_eq!(by[0]["engine"], "docker", "{by}");
    let image_a = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    assert_eq!(by[0]["image_id"], image_a.as_str(), "{by}");
    assert_eq!(by[0]["containers"], serde_json::json!([a1]));

    // Image B: other content (one more file); image B2: busybox's files again, with its own ENV.
    let bundle = Bundle::new(&["sh"]);
    std::fs::write(bundle.rootfs().join("tenant-b"), "b").unwrap();
    d.import("tenant-b", &bundle.rootfs());
    std::fs::remove_file(bundle.rootfs().join("tenant-b")).unwrap();
    d.import_with(
        "tenant-b2",
        &bundle.rootfs(),
        &["ENV IDS_RUNC_MODE=learn", "ENV IDS_RUNC_PROFILE=svc"],
    );
    for (image, name) in [("tenant-b", "b1"), ("tenant-b2", "b2")] {
        let out = learn(image, name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{image} extended svc");
        assert!(
            stderr.contains("env IDS_RUNC_PROFILE") && stderr.contains("bound to"),
            "{stderr}"
        );
        assert_eq!(stored(&d, "svc"), first, "svc is unchanged");
        let events = d.events_of(&d.id_of(name));
        assert!(
            events
                .iter()
                .any(|e| e["kind"] == "learn-refused" && e["profile"] == "svc"),
            "{events:?}"
        );
    }

    // Image A goes on learning.
    assert_ok(&learn("busybox", "a2"), "learn again with image A");
    let a2 = d.id_of("a2");
    let by = stored(&d, "svc")["provenance"]["learnt_by"].clone();
    assert_eq!(by.as_array().unwrap().len(), 1, "{by}");
    assert_eq!(by[0]["runs"], 2);
    assert_eq!(by[0]["containers"], serde_json::json!([a1, a2]));

    // A host can forbid learning chosen by env altogether (an image's ENV is env).
    d.set_host_config(serde_json::json!({
        "bind_profiles": true, "mandatory": { "learn_from_env": false }
    }));
    let before = stored(&d, "svc");
    let out = learn("busybox", "a3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("env IDS_RUNC_MODE: ")
            && stderr.contains("learn_from_env"),
        "{stderr}"
    );
    assert_eq!(stored(&d, "svc"), before);
}

#[test]
fn a_process_named_with_escape_sequences_shows_escaped_in_events() {
    let d = Dockerd::start(&ids_runc());
    import_with_fixture(&d, "renamer", "rename_self");
    let run_it = |mode: &str, words: &[&str]| {
        d.run("renamer")
            .rm()
            .mode(mode)
            .profile("renamer")
            .cmd(words)
            .ok()
    };
    for _ in 0..2 {
        run_it("learn", &["rename_self", "plain"]);
    }
    let evil = "\u{1b}[2J\u{1b}]0;X\u{7}";
    run_it("detect", &["rename_self", evil, "socket"]);
    let events = d.events();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "unseen-syscall" && e["process"] == evil),
        "{events:?}"
    );
    for args in [&["events"][..], &["events", "--json"][..]] {
        let out = run(&mut d.ids_runc(args));
        assert_ok(&out, "ids-runc events");
        assert!(
            !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
            "raw control characters in {args:?}: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let text = String::from_utf8(run(&mut d.ids_runc(&["events"])).stdout).unwrap();
    assert!(text.contains("process=\\x1b[2J\\x1b]0;X\\x07"), "{text}");
}

/// Whether `bytes` (UTF-8) holds a character that acts on a terminal: C0 but newline, DEL, C1.
fn has_raw_control(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes)
        .chars()
        .any(|c| c.is_control() && c != '\n')
}

#[test]
fn a_profile_named_with_escape_sequences_shows_escaped_in_inspect_and_profile_show() {
    let d = Dockerd::start(&ids_runc());
    for _ in 0..2 {
        d.run("busybox")
            .rm()
            .mode("learn")
            .profile("shipped")
            .sh("ls / >/dev/null; sleep 1")
            .ok();
    }
    // The image ships that profile under a name with ESC and CSI (U+009B, which JSON leaves raw).
    let evil = "\u{1b}]0;X\u{7}\u{9b}2J\u{202e}";
    let stored = d.profile_dir().join("shipped.json");
    let mut profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stored).unwrap()).unwrap();
    profile["name"] = serde_json::json!(evil);
    let bundle = Bundle::new(&["sh"]);
    let dir = bundle.rootfs().join("etc/ids-runc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("profile.json"), profile.to_string()).unwrap();
    d.import("shipped", &bundle.rootfs());
    let id = d.run("shipped").sh("sleep 600").detached();
    let out = run(&mut d.ids_runc(&["inspect", &id]));
    assert_ok(&out, "ids-runc inspect");
    assert!(
        !has_raw_control(&out.stdout),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["profile"], evil, "the same JSON: {doc}");

    let copy = bundle.path().join("evil.json");
    std::fs::write(&copy, profile.to_string()).unwrap();
    let out = run(&mut d.ids_runc(&["profile", "show", copy.to_str().unwrap()]));
    assert_ok(&out, "ids-runc profile show");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!has_raw_control(&out.stdout), "{text:?}");
    assert!(text.contains("\\x1b]0;X\\x07\\x9b2J\\u{202e}"), "{text}");
    d.docker_ok(&["rm", "-f", &id]);
}
