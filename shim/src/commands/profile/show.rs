//! `ids-runc profile show`: a profile's parameters, policy, training and most frequent syscalls and
//! bags.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::Args;
use ids_detector::parameters::{Scorer, Threshold};
use ids_monitor::profile::provenance::Provenance;
use ids_monitor::profile::Profile;
use ids_monitor::resource::ResourceKind;

use super::{bag_text, store};
use crate::config::host::HostConfig;
use crate::terminal_text::escape;

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The profile: its name in the store (as `IDS_RUNC_PROFILE` names it), or a file's path.
    profile: String,
    /// How many syscalls and bags to list.
    #[arg(long, default_value_t = 15)]
    top: usize,
}

pub fn run(a: ShowArgs, host: &HostConfig) -> Result<i32> {
    let (path, p) = store::load(&a.profile, host)?;
    let params = &p.parameters;
    println!(
        "profile    {} ({})",
        escape(&p.name),
        escape(&path.display().to_string())
    );
    println!(
        "monitor    {} (cannot see: {})",
        serde_json::to_value(p.monitor.kind)?
            .as_str()
            .unwrap_or("?"),
        if p.monitor.invisible_syscalls.is_empty() {
            "nothing".to_string()
        } else {
            p.monitor.invisible_syscalls.join(", ")
        }
    );
    println!(
        "parameters window {}, epoch {} calls or {}, threshold {}, streams {}, convergence ≥{} for {} epochs, continuous training {}",
        params.window,
        params.epoch,
        match params.epoch_ms {
            0 => "no time bound".to_string(),
            ms => format!("{ms} ms (judged from {} windows)", params.min_windows),
        },
        match (params.scorer, params.threshold) {
            (Scorer::Backoff { surprise }, _) => {
                format!("> {surprise} nats mean surprisal per window (back-off scorer)")
            }
            (Scorer::Bosc, Threshold::Absolute(n)) => format!("> {n} unknown windows"),
            (Scorer::Bosc, Threshold::Ratio(r)) => format!("> {}% unknown windows", r * 100.0),
        },
        serde_json::to_value(params.stream)?.as_str().unwrap_or("?"),
        params.training.convergence_similarity,
        params.training.convergence_epochs,
        if params.training.continuous { "on" } else { "off" }
    );
    println!(
        "policy     on anomaly {}, on unseen syscall {}",
        serde_json::to_value(p.policy.on_anomaly)?
            .as_str()
            .unwrap_or("?"),
        serde_json::to_value(p.policy.on_unseen_syscall)?
            .as_str()
            .unwrap_or("?")
    );
    let t = &p.training;
    println!(
        "training   {} traces, {} calls, {} windows, {} epochs, {}",
        t.traces,
        t.calls,
        t.windows,
        t.epochs,
        match (t.converged_at_epoch, t.last_similarity) {
            (Some(e), _) => format!("converged at epoch {e}"),
            (None, Some(s)) => format!("not converged (last similarity {s:.4})"),
            (None, None) => "not converged".to_string(),
        }
    );
    for line in learnt_by_lines(&p.provenance) {
        println!("{}", escape(&line));
    }
    let total: u64 = p.normal_db.iter().map(|r| r.frequency).sum();
    let once = p.normal_db.iter().filter(|r| r.frequency == 1).count();
    println!(
        "database   {} bags, {} windows, {} bags seen once",
        p.normal_db.len(),
        total,
        once
    );
    if !p.followers.is_empty() {
        let after_bags: usize = p.followers.after_bags.iter().map(|a| a.next.len()).sum();
        let after_calls: usize = p.followers.after_calls.values().map(|n| n.len()).sum();
        println!(
            "followers  {after_bags} (bag, next call) pairs over {} bags, {after_calls} (call, next call) pairs",
            p.followers.after_bags.len()
        );
    }
    // Calls per syscall, estimated from the bags: each window holds W calls.
    let mut calls: BTreeMap<&str, u64> = p.syscalls.iter().map(|s| (s.as_str(), 0)).collect();
    for r in &p.normal_db {
        for (name, &count) in &r.bag {
            *calls.entry(name).or_default() += u64::from(count) * r.frequency;
        }
    }
    let mut by_frequency: Vec<(&str, u64)> = calls.into_iter().collect();
    by_frequency.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    let slots = (total * params.window as u64).max(1) as f64;
    println!(
        "\n{} syscalls by share of windowed calls:",
        by_frequency.len()
    );
    for (name, n) in by_frequency.iter().take(a.top) {
        println!("  {:>6.2}%  {}", *n as f64 * 100.0 / slots, escape(name));
    }
    if by_frequency.len() > a.top {
        let rest: Vec<&str> = by_frequency[a.top..].iter().map(|x| x.0).collect();
        println!("  also: {}", escape(&rest.join(" ")));
    }
    for line in resource_lines(&p, a.top) {
        println!("{line}");
    }
    let mut bags: Vec<_> = p.normal_db.iter().collect();
    bags.sort_by(|x, y| y.frequency.cmp(&x.frequency).then(x.bag.cmp(&y.bag)));
    println!("\nmost frequent bags:");
    for r in bags.iter().take(a.top) {
        println!("  {:>8}  {}", r.frequency, bag_text(&r.bag));
    }
    Ok(0)
}

/// Who learnt the profile, one line per workload (the store records it; see `provenance.rs`).
fn learnt_by_lines(provenance: &Provenance) -> Vec<String> {
    provenance
        .learnt_by
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "{} {}: {} runs, {} to {}, last containers {}",
                if i == 0 { "learnt by " } else { "          " },
                l.workload.describe(),
                l.runs,
                l.first,
                l.last,
                l.containers.join(" ")
            )
        })
        .collect()
}

/// The resources the profile learnt, per kind (`*`: any name in that directory or family), escaped:
/// every name was read from a container.
fn resource_lines(p: &Profile, top: usize) -> Vec<String> {
    let Some(set) = &p.resources else {
        return vec!["\nresources  none learnt (not judged)".to_string()];
    };
    let top = top.max(1);
    let mut lines = vec![format!("\nresources  {} learnt:", set.len())];
    for kind in ResourceKind::ALL {
        let keys: Vec<String> = set.keys(kind).collect();
        if keys.is_empty() {
            continue;
        }
        let shown: Vec<String> = keys
            .iter()
            .take(top)
            .map(|k| escape(k).into_owned())
            .collect();
        let mut line = format!("  {:<8} {}", kind.name(), shown.join("  "));
        if keys.len() > top {
            line += &format!("  (and {} more)", keys.len() - top);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use ids_monitor::resource::ResourceSet;

    #[test]
    fn resources_are_listed_per_kind_and_escaped() {
        let mut p = Profile::from_detector(
            "p",
            ids_monitor::backend::MonitorKind::SeccompNotify,
            Default::default(),
            &ids_detector::detector::Detector::new(Default::default()),
            1,
        );
        assert_eq!(
            resource_lines(&p, 15),
            ["\nresources  none learnt (not judged)"]
        );
        let mut set = ResourceSet::default();
        set.learn(ResourceKind::Write, "/tmp/\u{1b}]0;owned\u{7}");
        set.learn(ResourceKind::Exec, "/bin/sh");
        set.learn(ResourceKind::Exec, "/bin/true");
        p.resources = Some(set);
        let lines = resource_lines(&p, 1);
        assert_eq!(lines[0], "\nresources  3 learnt:");
        assert_eq!(lines[1], "  write    /tmp/\\x1b]0;owned\\x07");
        assert_eq!(lines[2], "  exec     /bin/sh  (and 1 more)");
    }
}
