//! A container that brings its own seccomp agent: its seccomp section already sends notifications
//! to a listener of its own (`listenerPath` and `SCMP_ACT_NOTIFY` rules), as seccompagent or a
//! Kubernetes seccomp agent set up. The notify monitor would have to take that listener's place,
//! so such a container keeps its seccomp section exactly as it is and the ptrace monitor watches
//! it instead, with syscall stops (seccomp stops would rewrite the section too).
//!
//! A section that only half asks for notifications (a `listenerPath` and no NOTIFY action, or
//! NOTIFY with no listener) is left as it is as well: what runc makes of it — running it, or its
//! own error — is runc's answer, not ids-runc's.

/// Why the container's seccomp section must reach runc unchanged, if it must.
pub fn reason(spec: &serde_json::Value) -> Option<String> {
    let seccomp = spec.pointer("/linux/seccomp")?;
    let listener = seccomp.get("listenerPath").and_then(|p| p.as_str());
    let notifies = seccomp.get("defaultAction").and_then(|a| a.as_str()) == Some(NOTIFY)
        || seccomp
            .get("syscalls")
            .and_then(|rules| rules.as_array())
            .is_some_and(|rules| {
                rules
                    .iter()
                    .any(|rule| rule.get("action").and_then(|a| a.as_str()) == Some(NOTIFY))
            });
    match (listener, notifies) {
        (Some(path), true) if !path.is_empty() => Some(format!(
            "linux.seccomp sends notifications to the container's own agent at {path}"
        )),
        (Some(path), false) => Some(format!(
            "linux.seccomp names a listener ({path:?}) for no SCMP_ACT_NOTIFY action; left to runc"
        )),
        (_, true) => Some(
            "linux.seccomp has SCMP_ACT_NOTIFY actions and no listener; left to runc".to_owned(),
        ),
        (None, false) => None,
    }
}

const NOTIFY: &str = "SCMP_ACT_NOTIFY";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(seccomp: serde_json::Value) -> serde_json::Value {
        json!({ "linux": { "seccomp": seccomp } })
    }

    #[test]
    fn an_agent_of_its_own_is_named() {
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }]
        }));
        assert!(reason(&s).unwrap().contains("own agent at /run/agent.sock"));
    }

    #[test]
    fn half_a_notify_setup_is_left_to_runc() {
        let listener_only = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"
        }));
        assert!(reason(&listener_only).unwrap().contains("left to runc"));
        let empty_listener = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "",
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }]
        }));
        assert!(reason(&empty_listener).unwrap().contains("no listener"));
        let notify_default = spec(json!({ "defaultAction": "SCMP_ACT_NOTIFY" }));
        assert!(reason(&notify_default).is_some());
    }

    #[test]
    fn an_ordinary_profile_or_none_is_ours_to_merge() {
        let docker_like = spec(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ALLOW" }]
        }));
        assert_eq!(reason(&docker_like), None);
        assert_eq!(reason(&json!({ "process": {} })), None);
    }
}
