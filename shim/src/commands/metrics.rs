//! `ids-runc metrics`: every running monitor's counters, and the host's, in the Prometheus text
//! format — on stdout, or written atomically to a file for node_exporter's textfile collector
//! (`--textfile`).
//!
//! ids-runc has no daemon to scrape: each container has its own monitor, which answers on its
//! control socket. So the metrics are gathered when asked, from every state dir's control socket
//! (the `inspect` document), the monitor's `/proc` entry, the runs dir and the events file. One
//! writer for the whole host means one file that is always whole and never names a container
//! that is gone (a per-monitor file would outlive a monitor that was killed).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use serde_json::Value;

use crate::config::host::HostConfig;
use crate::container::state_dir::StateDir;
use crate::exposition::{Exposition, Kind};
use crate::monitor_process::health::live_monitor_pid;
use crate::monitor_process::launch::Launch;

/// A monitor answers from its notify loop between calls: a second is plenty.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Parser)]
#[command(
    name = "ids-runc metrics",
    about = "Print the monitors' and the host's metrics in the Prometheus text format"
)]
pub struct MetricsArgs {
    /// Write them to this file (atomically: a temp file renamed over it), for node_exporter's
    /// textfile collector (`--collector.textfile.directory`), instead of stdout.
    #[arg(long, value_name = "FILE")]
    textfile: Option<PathBuf>,
}

pub fn main(words: Vec<std::ffi::OsString>, host: &HostConfig) -> anyhow::Result<i32> {
    let args = MetricsArgs::try_parse_from(
        std::iter::once(std::ffi::OsString::from("ids-runc metrics")).chain(words),
    )?;
    let text = gather(host).text();
    match &args.textfile {
        Some(path) => {
            anyhow::ensure!(
                path.extension().is_some_and(|e| e == "prom"),
                "--textfile {}: node_exporter's textfile collector reads only files ending in .prom",
                path.display()
            );
            ids_monitor::record::atomic_file::write_atomically(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => print!("{text}"),
    }
    Ok(0)
}

fn gather(host: &HostConfig) -> Exposition {
    let mut out = Exposition::default();
    let mut monitors = 0u32;
    let mut resident = 0u64;
    for state in StateDir::all(&host.state_root()) {
        let Ok(launch) = Launch::read(state.path()) else {
            continue;
        };
        monitors += 1;
        resident += container(&mut out, &state, &launch);
    }
    host_metrics(&mut out, host, monitors, resident);
    out
}

/// One container's samples; returns its monitor's resident memory.
fn container(out: &mut Exposition, state: &StateDir, launch: &Launch) -> u64 {
    let monitor = serde_name(&launch.monitor);
    let mode = launch.mode.to_string();
    let labels = [
        ("container", launch.id.as_str()),
        ("profile", launch.profile_name.as_str()),
        ("mode", mode.as_str()),
        ("monitor", monitor.as_str()),
    ];
    let doc = ids_monitor::backend::control::request(
        &state.control_socket(),
        ids_monitor::backend::control::INSPECT,
        ANSWER_TIMEOUT,
    )
    .ok();
    out.sample(
        "ids_runc_monitor_up",
        Kind::Gauge,
        "1 if the container's monitor answered on its control socket, else 0.",
        &labels,
        f64::from(u8::from(doc.is_some())),
    );
    if let Some(doc) = &doc {
        counters(out, &labels, doc);
    }
    let Some(pid) = live_monitor_pid(state) else {
        return 0;
    };
    let processes = monitor_processes(pid);
    let cpu: Option<f64> = processes.iter().map(|&p| cpu_seconds(p)).sum();
    if let Some(cpu) = cpu {
        out.sample(
            "ids_runc_monitor_cpu_seconds_total",
            Kind::Counter,
            "CPU time (user and system) the container's monitor processes have used (the monitor, \
             and under seccomp-notify its keeper).",
            &labels,
            cpu,
        );
    }
    let resident: u64 = processes.iter().filter_map(|&p| resident_bytes(p)).sum();
    out.sample(
        "ids_runc_monitor_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory (VmRSS) of the container's monitor processes (the monitor, and under \
         seccomp-notify its keeper).",
        &labels,
        resident as f64,
    );
    resident
}

/// The process recorded as the container's monitor and its children: under seccomp-notify the
/// recorded process is the keeper, and the monitor doing the work is its child. A child is listed
/// under the thread that started it, so every thread's list is read.
fn monitor_processes(pid: i32) -> Vec<i32> {
    let mut found = vec![pid];
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        found.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok()),
        );
    }
    found
}

/// The counters of an `inspect` document. Under the ebpf monitor the kernel counts calls,
/// epochs, anomalies and unseen calls; elsewhere the monitor does.
fn counters(out: &mut Exposition, labels: &[(&str, &str)], doc: &Value) {
    let kernel = &doc["supervisor"]["kernel"];
    let either =
        |kernel_key: &str, own: &Value| kernel[kernel_key].as_u64().or_else(|| own.as_u64());
    let calls = kernel["calls"].as_u64().or_else(|| match &doc["syscalls"] {
        Value::Object(by_name) => Some(by_name.values().filter_map(Value::as_u64).sum()),
        _ => doc["observed"].as_u64(),
    });
    let detector = &doc["detector"];
    let guard = &doc["guard"];
    let rows: [(&'static str, &'static str, Option<u64>); 9] = [
        (
            "ids_runc_syscalls_total",
            "System calls of the container the monitor has seen (runc's own before the program starts included).",
            calls,
        ),
        (
            "ids_runc_epochs_total",
            "Epochs the detector has judged.",
            either("epochs", &detector["epochs"]),
        ),
        (
            "ids_runc_anomalous_epochs_total",
            "Epochs found anomalous.",
            either("anomalies", &detector["anomalies"]),
        ),
        (
            "ids_runc_unseen_syscalls_total",
            "Calls of a system call never seen in training.",
            either("unseen_calls", &guard["unseen_calls"]),
        ),
        (
            "ids_runc_denied_syscalls_total",
            "Calls the monitor made fail (action deny, or kill).",
            guard["denied"].as_u64(),
        ),
        (
            "ids_runc_kills_total",
            "Times the monitor killed the container.",
            guard["kills"].as_u64(),
        ),
        (
            "ids_runc_events_total",
            "Events the monitor wrote.",
            guard["events"].as_u64(),
        ),
        (
            "ids_runc_event_errors_total",
            "Events that could not be written to every sink.",
            guard["event_errors"].as_u64(),
        ),
        (
            "ids_runc_lost_records_total",
            "Records the kernel could not hand the ebpf monitor (its ring buffer was full); 0 for the other monitors.",
            Some(kernel["lost_records"].as_u64().unwrap_or(0)),
        ),
    ];
    for (name, help, value) in rows {
        if let Some(value) = value {
            out.sample(name, Kind::Counter, help, labels, value as f64);
        }
    }
    if let Some(bags) = detector["database_size"].as_u64() {
        out.sample(
            "ids_runc_normal_database_bags",
            Kind::Gauge,
            "Bags in the container's normal database.",
            labels,
            bags as f64,
        );
    }
}

fn host_metrics(out: &mut Exposition, host: &HostConfig, monitors: u32, resident: u64) {
    out.sample(
        "ids_runc_host_monitors",
        Kind::Gauge,
        "Containers with a monitor (a state dir) on this host.",
        &[],
        f64::from(monitors),
    );
    out.sample(
        "ids_runc_host_monitor_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory of all monitor processes on this host.",
        &[],
        resident as f64,
    );
    let (files, bytes) = dir_usage(&host.runs_dir());
    out.sample(
        "ids_runc_host_runs_dir_files",
        Kind::Gauge,
        "Files in the runs dir (epoch records and last counters of containers).",
        &[],
        files as f64,
    );
    out.sample(
        "ids_runc_host_runs_dir_bytes",
        Kind::Gauge,
        "Bytes in the runs dir, which create keeps below runs_max_bytes.",
        &[],
        bytes as f64,
    );
    let events = std::fs::metadata(host.events_path()).map_or(0, |m| m.len());
    out.sample(
        "ids_runc_host_events_file_bytes",
        Kind::Gauge,
        "Size of the events file (logrotate keeps it bounded).",
        &[],
        events as f64,
    );
}

fn dir_usage(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    // Dot files are ids-runc's own bookkeeping (the retention lock), not containers' records.
    entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .fold((0, 0), |(n, b), m| (n + 1, b + m.len()))
}

/// utime + stime of `/proc/<pid>/stat`, in seconds.
fn cpu_seconds(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything: count after it.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) as f64 / ticks as f64)
}

/// VmRSS of `/proc/<pid>/status`, in bytes.
fn resident_bytes(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A value's name as the JSON files spell it (`seccomp-notify`).
fn serde_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keepers_monitor_child_is_counted_with_it() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        let found = monitor_processes(me);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found[0], me);
        assert!(found.contains(&(child.id() as i32)), "{found:?}");
    }

    #[test]
    fn own_process_has_cpu_and_memory() {
        let pid = std::process::id() as i32;
        assert!(cpu_seconds(pid).is_some());
        assert!(resident_bytes(pid).unwrap() > 0);
    }

    #[test]
    fn counters_come_from_the_kernel_under_ebpf() {
        let mut out = Exposition::default();
        let doc = serde_json::json!({
            "syscalls": {"read": 2, "openat": 3},
            "detector": {"epochs": 1, "anomalies": 0, "database_size": 7},
            "guard": {"unseen_calls": 1, "denied": 0, "kills": 0, "events": 1, "event_errors": 0},
            "supervisor": {"kernel": {"calls": 50, "epochs": 4, "anomalies": 2, "unseen_calls": 3, "lost_records": 9}}
        });
        counters(&mut out, &[("container", "c")], &doc);
        let text = out.text();
        for line in [
            "ids_runc_syscalls_total{container=\"c\"} 50",
            "ids_runc_epochs_total{container=\"c\"} 4",
            "ids_runc_anomalous_epochs_total{container=\"c\"} 2",
            "ids_runc_unseen_syscalls_total{container=\"c\"} 3",
            "ids_runc_lost_records_total{container=\"c\"} 9",
            "ids_runc_normal_database_bags{container=\"c\"} 7",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        let mut out = Exposition::default();
        counters(
            &mut out,
            &[],
            &serde_json::json!({"syscalls": {"read": 2, "openat": 3}}),
        );
        assert!(
            out.text().contains("ids_runc_syscalls_total 5\n"),
            "{}",
            out.text()
        );
    }
}
