//! A container that brings its own seccomp agent keeps it: its seccomp section reaches runc
//! unchanged, its agent answers its notifications, the ptrace monitor watches it, and an event
//! says so. The agent is runc's own `seccompagent` (built by `hack/setup.sh --runc-suite`), which
//! makes a notified `mkdir DIR` create `DIR-<listenerMetadata>` instead.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ids_e2e::bundle::Bundle;
use ids_e2e::private_host::PrivateHost;
use ids_e2e::{wait_until, workspace};

/// runc's seccompagent, listening at `socket` until dropped.
struct Agent(Child);

impl Agent {
    fn start(socket: &Path) -> Self {
        let bin = workspace().join("target/runc-suite/src/contrib/cmd/seccompagent/seccompagent");
        assert!(
            bin.exists(),
            "{} is missing: run hack/setup.sh --runc-suite",
            bin.display()
        );
        let child = Command::new(bin)
            .arg(format!("-socketfile={}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start seccompagent");
        assert!(
            wait_until(Duration::from_secs(10), || socket.exists()),
            "seccompagent did not listen"
        );
        Agent(child)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A learning busybox bundle running `script`, with `seccomp` as its seccomp section.
fn bundle(script: &str, seccomp: serde_json::Value) -> Bundle {
    let bundle = Bundle::new(&["sh", "-c", script]);
    let mut spec = bundle.config();
    spec["linux"]["seccomp"] = seccomp;
    spec["annotations"] =
        serde_json::json!({ "io.ids-runc.mode": "learn", "io.ids-runc.profile": "agent" });
    bundle.set_config(&spec);
    bundle
}

#[test]
fn a_container_keeps_its_own_seccomp_agent_and_is_traced() {
    let host = PrivateHost::new();
    let socket = host.dir().join("agent.sock");
    let _agent = Agent::start(&socket);
    let bundle = bundle(
        "mkdir /dev/shm/foo && stat /dev/shm/foo-bar >/dev/null && echo agent-answered",
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket,
            "listenerMetadata": "bar",
            "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"],
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }],
        }),
    );
    let written = std::fs::read(bundle.config_path()).unwrap();

    let (code, out) = host.run(&bundle, "own-agent");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out, "agent-answered",
        "the container's agent did not answer"
    );
    assert_eq!(
        std::fs::read(bundle.config_path()).unwrap(),
        written,
        "config.json was changed"
    );

    let events = host.events();
    let chosen = events
        .iter()
        .find(|e| e["kind"] == "monitor-chosen")
        .unwrap_or_else(|| panic!("no monitor-chosen event: {events:#?}"));
    assert_eq!(chosen["container"], "own-agent");
    assert_eq!(chosen["monitor"], "ptrace");
    let message = chosen["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("own agent at {}", socket.display())),
        "{message}"
    );
    // Watched all the same: the ptrace monitor learnt the container's calls, mkdir among them.
    // The monitor saves when the container is gone, which may be just after `run` returns.
    let path = host.dir().join("profiles/agent.json");
    assert!(
        wait_until(Duration::from_secs(10), || path.exists()),
        "no profile learnt: {events:#?}"
    );
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(profile["monitor"]["kind"], "ptrace");
    let syscalls = profile["syscalls"].as_array().unwrap();
    assert!(syscalls.iter().any(|s| s == "mkdir"), "{syscalls:?}");
    host.assert_clean();
}

#[test]
fn a_listener_with_nothing_to_notify_is_left_to_runc() {
    let host = PrivateHost::new();
    // runc runs this: no call is notified, so nobody ever connects to the listener.
    let bundle = bundle(
        "mkdir /dev/shm/foo && stat /dev/shm/foo >/dev/null && echo ran",
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": host.dir().join("nobody.sock"),
        }),
    );
    let (code, out) = host.run(&bundle, "no-notify");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "ran");
    let events = host.events();
    assert!(
        events.iter().any(|e| e["kind"] == "monitor-chosen"
            && e["message"].as_str().unwrap().contains("left to runc")),
        "{events:#?}"
    );
    host.assert_clean();
}

#[test]
fn without_a_pid_namespace_its_own_agent_fails_create_with_the_reason() {
    let host = PrivateHost::new();
    let bundle = bundle(
        "true",
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": host.dir().join("agent.sock"),
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }],
        }),
    );
    let mut spec = bundle.config();
    let namespaces = spec["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|ns| ns["type"] != "pid");
    bundle.set_config(&spec);
    let (code, out) = host.run(&bundle, "no-pid-ns");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("own agent") && out.contains("pid namespace of its own"),
        "{out}"
    );
    assert!(!out.contains("use the seccomp-notify monitor"), "{out}");
    host.assert_clean();
}
