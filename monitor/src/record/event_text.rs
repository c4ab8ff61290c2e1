//! An event as one line of text for people (syslog's message, Falco's `output`). The container
//! chooses its process names and profile names, so every control character is escaped: a line
//! stays one line, and a terminal that shows it takes no orders from it.

use std::fmt::Write;

use super::events::Event;

/// `unseen-syscall killed container=… profile=… mode=detect monitor=seccomp-notify syscalls=socket
/// pid=… tid=… process=…`, with only the fields the event has.
pub fn summary(event: &Event) -> String {
    let mut s = format!(
        "{} {} container={} profile={} mode={} monitor={}",
        event.kind.name(),
        event.action.name(),
        printable(&event.container),
        printable(&event.profile),
        event.mode,
        monitor_name(event),
    );
    if let Some(epoch) = event.epoch {
        let _ = write!(s, " epoch={epoch}");
    }
    if let Some(m) = event.mismatches {
        let _ = write!(s, " mismatches={m}");
    }
    if let Some(w) = event.windows {
        let _ = write!(s, " windows={w}");
    }
    if let Some(t) = event.threshold {
        let _ = write!(s, " threshold={t}");
    }
    if let Some(nats) = event.surprise {
        let _ = write!(s, " surprise={nats:.1}");
    }
    if !event.syscalls.is_empty() {
        let _ = write!(s, " syscalls={}", event.syscalls.join(","));
    }
    if let Some(resource) = &event.resource {
        let _ = write!(s, " resource={}", printable(resource));
    }
    if let Some(pid) = event.pid {
        let _ = write!(s, " pid={pid}");
    }
    if let Some(tid) = event.tid {
        let _ = write!(s, " tid={tid}");
    }
    if let Some(process) = &event.process {
        let _ = write!(s, " process={}", printable(process));
    }
    if let Some(waited) = event.waited_ms {
        let _ = write!(s, " waited_ms={waited}");
    }
    if let Some(message) = &event.message {
        let _ = write!(s, " message={}", printable(message));
    }
    s
}

/// The monitor as the events file names it (`seccomp-notify`).
fn monitor_name(event: &Event) -> String {
    match serde_json::to_value(event.monitor) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{:?}", event.monitor),
    }
}

/// `text` with every control character (C0, DEL, C1) and the line and paragraph separators as
/// `\u{…}`.
pub fn printable(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            let _ = write!(s, "\\u{{{:x}}}", u32::from(c));
        } else {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MonitorKind;
    use crate::mode::Mode;
    use crate::record::events::EventKind;

    #[test]
    fn a_hostile_process_name_stays_on_one_line() {
        let mut e = Event::now(
            "c1",
            "p",
            Mode::Detect,
            MonitorKind::SeccompNotify,
            EventKind::UnseenSyscall,
        );
        e.process = Some("x\n\u{1b}[2J\u{9b}".into());
        e.syscalls = vec!["socket".into()];
        let s = summary(&e);
        assert!(!s.chars().any(char::is_control), "{s}");
        assert!(s.contains("process=x\\u{a}\\u{1b}[2J\\u{9b}"), "{s}");
        assert!(
            s.starts_with("unseen-syscall none container=c1 profile=p mode=detect"),
            "{s}"
        );
        assert!(s.contains("syscalls=socket"), "{s}");
    }
}
