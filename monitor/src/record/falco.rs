//! Events in Falco's JSON output format (`json_output: true`), so that Falco's tooling
//! (Falcosidekick and its outputs) takes them as they are: one object per line with `time` (RFC
//! 3339, nanoseconds, UTC), `rule`, `priority` (Falco's capitalised names), `output` (Falco's
//! `%evt.time: %priority <message>` text), `output_fields` (flat, dotted field names, scalar
//! values), plus `source`, `tags` and `hostname` as Falco 0.3x writes them.
//!
//! Field names follow Falco's where one means the same (`container.id`, `thread.tid`,
//! `proc.name`, `evt.type`); the rest are ids-runc's own, under `ids_runc.`.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::event_text::summary;
use super::events::Event;
use super::priority::Priority;

/// What Falco writes in `source` for alerts about system calls.
pub const SOURCE: &str = "syscall";

/// The rule an event stands for: `ids-runc <kind>`.
pub fn rule(event: &Event) -> String {
    format!("ids-runc {}", event.kind.name())
}

/// The Falco alert for `event`, seen on `hostname`.
pub fn alert(event: &Event, hostname: &str) -> Value {
    let when = humantime::parse_rfc3339(&event.time).unwrap_or_else(|_| SystemTime::now());
    let time = humantime::format_rfc3339_nanos(when).to_string();
    let priority = Priority::of(event).falco_name();
    // Falco's text output starts with the event's time of day, nanoseconds included.
    let clock = time.get(11..29).unwrap_or(&time);
    json!({
        "time": time,
        "rule": rule(event),
        "priority": priority,
        "output": format!("{clock}: {priority} {}", summary(event)),
        "output_fields": output_fields(event, when),
        "source": SOURCE,
        "tags": ["ids-runc", event.kind.name()],
        "hostname": hostname,
    })
}

fn output_fields(event: &Event, when: SystemTime) -> Map<String, Value> {
    let mut f = Map::new();
    let nanos = when
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    f.insert("evt.time".into(), nanos.into());
    f.insert("container.id".into(), event.container.clone().into());
    if let Some(call) = event.syscalls.first() {
        f.insert("evt.type".into(), call.clone().into());
    }
    if let Some(tid) = event.tid {
        f.insert("thread.tid".into(), tid.into());
    }
    if let Some(process) = &event.process {
        f.insert("proc.name".into(), process.clone().into());
    }
    let own = serde_json::to_value(event).unwrap_or_default();
    if let Value::Object(own) = own {
        for (key, value) in own {
            if key == "time" || key == "container" {
                continue;
            }
            // output_fields holds scalars: lists become one comma-separated string.
            let value = match value {
                Value::Array(items) => Value::String(
                    items
                        .iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                other => other,
            };
            f.insert(format!("ids_runc.{key}"), value);
        }
    }
    f
}

/// The host's name, for `hostname` (the kernel's, as Falco reports it).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MonitorKind;
    use crate::mode::Mode;
    use crate::record::events::{ActionTaken, EventKind};

    fn unseen() -> Event {
        let mut e = Event::now(
            "c1",
            "web",
            Mode::Detect,
            MonitorKind::SeccompNotify,
            EventKind::UnseenSyscall,
        );
        e.time = "2026-11-29T22:52:50.271Z".into();
        e.action = ActionTaken::Killed;
        e.syscalls = vec!["socket".into()];
        e.tid = Some(42);
        e.process = Some("sh".into());
        e
    }

    #[test]
    fn an_alert_has_falcos_fields_and_types() {
        let a = alert(&unseen(), "node-1");
        let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [
                "hostname",
                "output",
                "output_fields",
                "priority",
                "rule",
                "source",
                "tags",
                "time"
            ]
        );
        assert_eq!(a["time"], "2026-11-29T22:52:50.271000000Z");
        assert_eq!(a["priority"], "Critical");
        assert_eq!(a["rule"], "ids-runc unseen-syscall");
        assert_eq!(a["source"], "syscall");
        assert_eq!(a["hostname"], "node-1");
        let output = a["output"].as_str().unwrap();
        assert!(
            output.starts_with("22:52:50.271000000: Critical unseen-syscall killed container=c1"),
            "{output}"
        );
        let f = a["output_fields"].as_object().unwrap();
        assert_eq!(f["container.id"], "c1");
        assert_eq!(f["evt.type"], "socket");
        assert_eq!(f["thread.tid"], 42);
        assert_eq!(f["proc.name"], "sh");
        assert_eq!(f["ids_runc.profile"], "web");
        assert_eq!(f["ids_runc.action"], "killed");
        assert_eq!(f["ids_runc.syscalls"], "socket");
        assert!(
            f.values().all(|v| !v.is_array() && !v.is_object()),
            "output_fields are scalars: {a}"
        );
    }
}
