//! ids-runc as a docker runtime, on a private dockerd.

use ids_e2e::dockerd::Dockerd;
use ids_e2e::{ids_runc, stdout, wait_until};
use std::time::Duration;

#[test]
fn docker_run_prints_and_goes_through_ids_runc() {
    let d = Dockerd::start(&ids_runc());
    let out = d.run("busybox").rm().cmd(&["echo", "hi"]).ok();
    assert_eq!(out, "hi");
    let calls = d.runc_calls();
    assert!(
        calls
            .iter()
            .any(|c| c.contains(" create ") && c.contains("--bundle")),
        "dockerd did not create through ids-runc: {calls:?}"
    );
    assert!(calls.iter().any(|c| c.contains(" delete ")), "{calls:?}");
}

#[test]
fn docker_run_reports_the_container_exit_code() {
    let d = Dockerd::start(&ids_runc());
    let out = d.run("busybox").rm().sh("exit 3").output();
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn docker_detached_exec_stop_rm() {
    let d = Dockerd::start(&ids_runc());
    let id = d
        .run("busybox")
        .name("ids-e2e-detached")
        .cmd(&["sleep", "300"])
        .detached();
    assert!(!id.is_empty());
    let out = d.docker_ok(&[
        "exec",
        "ids-e2e-detached",
        "sh",
        "-c",
        "echo in-exec; cat /etc/hostname",
    ]);
    assert!(out.starts_with("in-exec\n"), "{out}");
    assert!(
        d.runc_calls().iter().any(|c| c.contains(" exec ")),
        "docker exec did not go through ids-runc"
    );
    d.docker_ok(&["stop", "-t", "1", "ids-e2e-detached"]);
    assert_eq!(d.status("ids-e2e-detached"), "exited");
    d.docker_ok(&["rm", "ids-e2e-detached"]);
    let left = d.docker_ok(&["ps", "-aq"]);
    assert!(left.is_empty(), "containers left: {left}");
}

#[test]
fn docker_run_rm_leaves_nothing() {
    let d = Dockerd::start(&ids_runc());
    d.run("busybox").rm().cmd(&["true"]).ok();
    assert!(
        wait_until(Duration::from_secs(10), || stdout(
            &d.docker(&["ps", "-aq"])
        )
        .is_empty()),
        "--rm container still listed"
    );
}

#[test]
fn containerd_ctr_run_with_ids_runc_binary() {
    let d = Dockerd::start(&ids_runc());
    let image = d.dir().join("busybox.tar");
    let out = d
        .command(&["save", "-o", image.to_str().unwrap(), "busybox:latest"])
        .output()
        .expect("docker save");
    assert!(out.status.success());
    let address = d.containerd_socket();
    let address = address.to_str().unwrap();
    let ctr = |args: &[&str]| {
        std::process::Command::new("ctr")
            .args(["-a", address, "-n", "ids-e2e"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("ctr (from containerd) on PATH")
    };
    let import = ctr(&["image", "import", image.to_str().unwrap()]);
    ids_e2e::assert_ok(&import, "ctr image import");
    let ids_runc = ids_runc();
    let out = ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        ids_runc.to_str().unwrap(),
        "docker.io/library/busybox:latest",
        "ids-e2e-ctr",
        "echo",
        "hi-from-ctr",
    ]);
    ids_e2e::assert_ok(&out, "ctr run");
    assert_eq!(stdout(&out), "hi-from-ctr");
    assert!(d.runc_calls().iter().any(|c| c.contains("ids-e2e-ctr")));
    let _ = ctr(&["image", "rm", "docker.io/library/busybox:latest"]);
}
