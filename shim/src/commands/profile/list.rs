//! `ids-runc profile list`: the profiles of the host store, one line each (or JSON): name, size,
//! monitor, database size, converged or not, and when it was last saved.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use ids_monitor::profile::Profile;
use serde::Serialize;

use super::store;
use crate::config::host::HostConfig;
use crate::terminal_text::escape;

#[derive(Args, Debug)]
pub struct ListArgs {
    /// One JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// One profile of the store.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    path: String,
    size: u64,
    monitor: Option<String>,
    bags: Option<usize>,
    windows: Option<u64>,
    converged: Option<bool>,
    /// When the file was last written (a learner's save), RFC 3339, UTC.
    last_learnt: Option<String>,
    /// Why the file is not a valid profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(a: ListArgs, host: &HostConfig) -> Result<i32> {
    let rows: Vec<Row> = store::entries(&host.profile_dir())?
        .into_iter()
        .map(|(name, path)| row(name, &path))
        .collect();
    if a.json {
        let text = serde_json::to_string_pretty(&rows)?;
        println!("{}", crate::terminal_text::escape_json(&text));
        return Ok(0);
    }
    println!(
        "{:<40} {:>10} {:<15} {:>8} {:<9} LAST LEARNT",
        "NAME", "SIZE", "MONITOR", "BAGS", "CONVERGED"
    );
    let dash = || "-".to_owned();
    for r in &rows {
        println!(
            "{:<40} {:>10} {:<15} {:>8} {:<9} {}",
            escape(&r.name),
            r.size,
            r.monitor.clone().unwrap_or_else(dash),
            r.bags.map_or_else(dash, |b| b.to_string()),
            r.converged
                .map_or_else(dash, |c| if c { "yes" } else { "no" }.to_owned()),
            match &r.error {
                Some(e) => format!("invalid: {}", escape(e)),
                None => r.last_learnt.clone().unwrap_or_else(dash),
            }
        );
    }
    Ok(0)
}

fn row(name: String, path: &Path) -> Row {
    let meta = std::fs::symlink_metadata(path).ok();
    let mut row = Row {
        name,
        path: path.display().to_string(),
        size: meta.as_ref().map_or(0, |m| m.len()),
        monitor: None,
        bags: None,
        windows: None,
        converged: None,
        last_learnt: meta
            .and_then(|m| m.modified().ok())
            .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        error: None,
    };
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        row.error = Some("a symbolic link; the store's profiles are regular files".into());
        return row;
    }
    match Profile::load(path) {
        Ok(p) => {
            row.monitor = serde_json::to_value(p.monitor.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            row.bags = Some(p.normal_db.len());
            row.windows = Some(p.training.windows);
            row.converged = Some(p.training.converged_at_epoch.is_some());
        }
        Err(e) => row.error = Some(e.to_string()),
    }
    row
}
