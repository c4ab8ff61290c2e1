//! Profiles named after the image: `docker run` containers of one image that name no profile learn
//! into one profile named from the image (dockerd's record of what was run), together, without
//! losing each other's bags; the next container of the image detects with it by itself; the store
//! commands see it; and an exported profile, installed by the line `export` prints, ships in an
//! image.

use std::time::Duration;

use ids_e2e::bundle::Bundle;
use ids_e2e::dockerd::Dockerd;
use ids_e2e::{assert_ok, ids_runc, run, wait_until};

/// Busy for a few seconds, so both containers learn (and save, every second) at the same time.
const WORK: &str =
    "for i in $(seq 30); do ls -R /bin /etc >/dev/null; cat /etc/passwd >/dev/null; \
                    sleep 0.1; done; echo done";

/// Windows the container's monitor learnt, from the counters it wrote when it ended.
fn learnt_windows(d: &Dockerd, id: &str) -> u64 {
    let path = d.dir().join("runs").join(format!("{id}.final.json"));
    assert!(
        wait_until(Duration::from_secs(30), || path.exists()),
        "{} never written",
        path.display()
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    doc["state"]["detector"]["windows"]
        .as_u64()
        .unwrap_or_else(|| panic!("no windows in {doc}"))
}

fn stored(d: &Dockerd) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(d.profile_dir().join("busybox.json")).unwrap()).unwrap()
}

fn windows_in(profile: &serde_json::Value) -> u64 {
    profile["normal_db"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["frequency"].as_u64().unwrap())
        .sum()
}

#[test]
fn learning_containers_of_one_image_grow_one_profile_named_after_it() {
    let d = Dockerd::start(&ids_runc());
    d.set_host_config(serde_json::json!({ "save_interval_secs": 1 }));
    let ids: Vec<String> = (0..2)
        .map(|_| d.run("busybox").mode("learn").sh(WORK).detached())
        .collect();
    for id in &ids {
        assert!(
            d.wait_exited(id, Duration::from_secs(120)),
            "{id} still runs"
        );
        assert_eq!(d.logs(id).trim(), "done");
        d.docker_ok(&["rm", id]);
    }
    let total: u64 = ids.iter().map(|id| learnt_windows(&d, id)).sum();
    // Each monitor's last save is done before it ends; one of them may end a moment later.
    assert!(
        wait_until(Duration::from_secs(30), || windows_in(&stored(&d)) == total),
        "stored {} windows, the containers learnt {total}",
        windows_in(&stored(&d))
    );

    let names: Vec<String> = std::fs::read_dir(d.profile_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["busybox.json"],
        "one profile, named after the image"
    );
    let profile = stored(&d);
    assert_eq!(profile["name"], "busybox");
    assert_eq!(profile["training"]["traces"], 2);
    assert_eq!(profile["training"]["windows"], total);
    let learner = &profile["provenance"]["learnt_by"][0];
    assert_eq!(learner["engine"], "docker");
    assert_eq!(learner["runs"], 2);
    let mut containers: Vec<String> = learner["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    containers.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(containers, expected);

    // The next container of the image, naming nothing, detects with it.
    let id = d.run("busybox").cmd(&["sleep", "300"]).detached();
    let doc = d.inspect(&id).expect("a monitor runs");
    assert_eq!(
        (doc["mode"].as_str(), doc["profile"].as_str()),
        (Some("detect"), Some("busybox"))
    );
    d.docker_ok(&["rm", "-f", &id]);

    // The store commands see it.
    let out = run(&mut d.ids_runc(&["profile", "list", "--json"]));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["name"], "busybox", "{rows}");
    assert_eq!(rows[0]["monitor"], "seccomp-notify");

    // Exported and installed in another image as `export` says: its containers detect with it.
    let out = run(&mut d.ids_runc(&["profile", "export", "busybox"]));
    assert_ok(&out, "profile export");
    let line = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let target = line
        .strip_prefix("COPY busybox.json /")
        .unwrap_or_else(|| panic!("{line}"));
    let bundle = Bundle::new(&["sh"]);
    let installed = bundle.rootfs().join(target);
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    std::fs::write(&installed, &out.stdout).unwrap();
    d.import("shipped:1", &bundle.rootfs());
    let id = d.run("shipped:1").cmd(&["sleep", "300"]).detached();
    let doc = d.inspect(&id).expect("a monitor runs");
    assert_eq!(
        (doc["mode"].as_str(), doc["profile"].as_str()),
        (Some("detect"), Some("busybox"))
    );
    d.docker_ok(&["rm", "-f", &id]);
    assert!(!d.profile_dir().join("shipped_1.json").exists());

    let out = run(&mut d.ids_runc(&["profile", "rm", "busybox"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!d.profile_dir().join("busybox.json").exists());
}
