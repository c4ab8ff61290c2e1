//! runc knows a container by its `--root` and its id, and two engines may use the same id at once
//! (docker's `moby` root and a Kubernetes namespace, two test suites). Each gets its own monitor
//! and state; `inspect` finds either with `--root`, and says why it needs one without it; deleting
//! one leaves the other watched.

use std::process::{Command, Stdio};

use ids_e2e::bundle::Bundle;
use ids_e2e::private_host::PrivateHost;
use ids_e2e::procs::monitors_under;
use ids_e2e::{assert_ok, ids_runc, run};

const ID: &str = "same-id";

fn learning_bundle() -> Bundle {
    let bundle = Bundle::new(&["sleep", "300"]);
    let mut spec = bundle.config();
    spec["annotations"] = serde_json::json!({ "io.ids-runc.mode": "learn" });
    bundle.set_config(&spec);
    bundle
}

#[test]
fn one_id_under_two_runc_roots_gets_two_monitors() {
    let host = PrivateHost::new();
    let roots = [host.runc_root("a"), host.runc_root("b")];
    let bundles = [learning_bundle(), learning_bundle()];
    for (root, bundle) in roots.iter().zip(&bundles) {
        // A created container keeps the stdio it was given open: never capture it in a pipe here.
        let status = host
            .ids_runc(
                root,
                &["create", "--bundle", bundle.path().to_str().unwrap(), ID],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("ids-runc create");
        assert!(status.success(), "create under {} failed", root.display());
        assert_ok(&run(&mut host.ids_runc(root, &["start", ID])), "start");
    }
    assert_eq!(
        monitors_under(host.state_root()).len(),
        2,
        "one monitor per container"
    );

    let unrooted = run(Command::new(ids_runc())
        .env("IDS_RUNC_CONFIG", host.config())
        .args(["inspect", ID]));
    let stderr = String::from_utf8_lossy(&unrooted.stderr);
    assert!(!unrooted.status.success());
    assert!(
        stderr.contains("2 runc roots") && stderr.contains("--root"),
        "{stderr}"
    );
    for root in &roots {
        let out = run(&mut host.ids_runc(root, &["inspect", "same"]));
        assert_ok(&out, &format!("inspect by prefix under {}", root.display()));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
        assert_eq!(doc["mode"], "learn", "{doc}");
    }

    assert_ok(
        &run(&mut host.ids_runc(&roots[0], &["delete", "--force", ID])),
        "delete under a",
    );
    assert_eq!(
        monitors_under(host.state_root()).len(),
        1,
        "deleting one container stopped the other's monitor"
    );
    let out = run(&mut host.ids_runc(&roots[1], &["inspect", ID]));
    assert_ok(&out, "inspect under b after a is gone");
    let out = run(Command::new(ids_runc())
        .env("IDS_RUNC_CONFIG", host.config())
        .args(["inspect", ID]));
    assert_ok(&out, "inspect without --root once the id is unique again");

    assert_ok(
        &run(&mut host.ids_runc(&roots[1], &["delete", "--force", ID])),
        "delete under b",
    );
    host.assert_clean();
}
