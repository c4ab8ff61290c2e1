//! `ids-runc events [--follow] [ID]`: the events file, readably.
//!
//! runc has an `events` command too (container stats), which the containerd shim calls as
//! `events --stats ID` or `events --interval=Ns ID`, always with global flags such as `--root`.
//! Those calls go to runc; `is_runc_events` tells them apart.

use std::io::{BufRead, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use clap::Parser;
use ids_monitor::record::append_file::names;
use ids_monitor::record::events::Event;

use crate::config::host::HostConfig;
use crate::runc::args::RuncArgs;
use crate::terminal_text::{escape, escape_json};

#[derive(Debug, Parser)]
#[command(
    name = "ids-runc events",
    about = "Print ids-runc's events (anomalies, unseen syscalls, mode switches, monitor errors)"
)]
pub struct EventsArgs {
    /// Keep printing events as they are written.
    #[arg(short, long)]
    follow: bool,
    /// Print the raw JSON lines.
    #[arg(long)]
    json: bool,
    /// Only events of this container (full id or a prefix).
    id: Option<String>,
}

/// Whether an `events` command line is runc's (stats) rather than ours.
pub fn is_runc_events(args: &RuncArgs) -> bool {
    let global = args.command_at.is_some_and(|at| at > 0);
    global
        || args
            .flags
            .iter()
            .any(|f| matches!(f.name.as_str(), "stats" | "interval"))
}

pub fn main(words: Vec<std::ffi::OsString>, host: &HostConfig) -> anyhow::Result<i32> {
    let args = EventsArgs::try_parse_from(
        std::iter::once(std::ffi::OsString::from("ids-runc events")).chain(words),
    )?;
    let path = host.events_path();
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && args.follow => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "ids-runc: no events yet ({} does not exist)",
                path.display()
            );
            return Ok(0);
        }
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    let mut offset = 0u64;
    loop {
        if let Some(f) = &mut file {
            offset = print_from(f, offset, &path, &args)?;
            if args.follow && !names(&path, f) {
                // Rotated (renamed away, as logrotate does): the old file is read to its end —
                // once more after the new one is opened, for a line a writer put there just
                // before it noticed — and the new one from its start.
                let next = std::fs::File::open(&path).ok();
                print_from(f, offset, &path, &args)?;
                file = next;
                offset = 0;
                continue;
            }
        } else {
            file = std::fs::File::open(&path).ok();
            offset = 0;
        }
        if !args.follow {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Prints the complete lines from `offset` on; returns where it stopped.
fn print_from(
    file: &mut std::fs::File,
    offset: u64,
    path: &Path,
    args: &EventsArgs,
) -> anyhow::Result<u64> {
    let len = file.metadata()?.len();
    let start = if len < offset { 0 } else { offset };
    file.seek(SeekFrom::Start(start))?;
    let mut reader = std::io::BufReader::new(file);
    let mut pos = start;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            return Ok(pos);
        }
        pos += n as u64;
        let event: Event = match serde_json::from_str(line.trim_end()) {
            Ok(e) => e,
            Err(e) => {
                eprintln!(
                    "ids-runc: {}: skipping a line that is not an event: {e}",
                    path.display()
                );
                continue;
            }
        };
        if args
            .id
            .as_ref()
            .is_some_and(|id| !event.container.starts_with(id.as_str()))
        {
            continue;
        }
        if args.json {
            print!("{}", escape_json(&line));
        } else {
            println!("{}", readable(&event));
        }
    }
}

/// One line per event. An anomaly says who did it (thread, its name, its program) and what was new:
/// its unknown bags as multisets, most frequent call first.
fn readable(e: &Event) -> String {
    let short: String = e.container.chars().take(12).collect();
    let mut text = format!(
        "{}  {short}  {:<14} {:<8} profile={} mode={}",
        e.time,
        e.kind.name(),
        e.action.name(),
        e.profile,
        e.mode
    );
    if let (Some(epoch), Some(m), Some(t)) = (e.epoch, e.mismatches, e.threshold) {
        // The back-off scorer bounds the epoch's surprise; its mismatches are surprising calls.
        let what = if e.surprise.is_some() {
            "surprising_calls"
        } else {
            "unknown_bags"
        };
        text += &format!(" epoch={epoch} {what}={m}");
        if let Some(w) = e.windows {
            text += &format!("/{w}");
        }
        if let Some(nats) = e.surprise {
            text += &format!(" surprise={nats:.1}");
        }
        text += &format!(" threshold={t:.1}");
    }
    if let Some(r) = &e.resource {
        text += &format!(" resource={r}");
    }
    if e.unseen_bags.is_empty() && !e.syscalls.is_empty() {
        text += &format!(" syscalls={}", e.syscalls.join(","));
    }
    if let Some(pid) = e.pid {
        text += &format!(" pid={pid}");
    }
    if let Some(tid) = e.tid {
        text += &format!(" tid={tid}");
    }
    if let Some(p) = &e.process {
        text += &format!(" process={p}");
    }
    if let Some(x) = &e.exe {
        text += &format!(" exe={x}");
    }
    if !e.unseen_bags.is_empty() {
        text += " new:";
        for bag in &e.unseen_bags {
            text += &format!(" [{bag}]");
        }
    }
    if let Some(m) = &e.message {
        text += &format!(" — {m}");
    }
    // Every field may hold what a container chose (its process names and programs, its profile's
    // name, paths in messages): the line is escaped whole, newlines included, so it stays one line.
    escape(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ids_monitor::backend::MonitorKind;
    use ids_monitor::record::events::EventKind;

    #[test]
    fn what_a_container_chose_is_printed_escaped() {
        let mut e = Event::now(
            "c1",
            "p\u{1b}[2J",
            ids_monitor::mode::Mode::Detect,
            MonitorKind::SeccompNotify,
            EventKind::UnseenSyscall,
        );
        e.process = Some("\u{1b}]0;owned\u{7}".into());
        e.exe = Some("/bin/x\nfake line".into());
        e.message = Some("path /x\u{9b}31m".into());
        e.resource = Some("write /tmp/\u{1b}[2Jx".into());
        e.unseen_bags = vec!["read×9 \u{1b}[1A".into()];
        let text = readable(&e);
        assert!(!text.chars().any(|c| c.is_control()), "{text:?}");
        assert!(text.contains("process=\\x1b]0;owned\\x07"), "{text}");
        assert!(text.contains("exe=/bin/x\\x0afake line"), "{text}");
        assert!(text.contains("profile=p\\x1b[2J"), "{text}");
        assert!(text.contains("resource=write /tmp/\\x1b[2Jx"), "{text}");
        assert!(text.contains(" new: [read×9 \\x1b[1A]"), "{text}");
    }
}
