//! `ids-runc report ID [-o FILE]`: the container's anomaly score per epoch, with the threshold and
//! its events, as an SVG chart.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use ids_monitor::record::atomic_file::write_atomically;

use crate::config::host::HostConfig;
use crate::container::reference;

const EPOCHS_SUFFIX: &str = ".epochs.jsonl";

#[derive(Debug, Parser)]
#[command(
    name = "ids-runc report",
    about = "Render a container's anomaly score per epoch as SVG"
)]
pub struct ReportArgs {
    /// The container (full id or a unique prefix).
    id: String,
    /// Where to write the SVG (default: <id>.svg in the current directory).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn main(words: Vec<std::ffi::OsString>, host: &HostConfig) -> anyhow::Result<i32> {
    let args = ReportArgs::try_parse_from(
        std::iter::once(std::ffi::OsString::from("ids-runc report")).chain(words),
    )?;
    let runs = host.runs_dir();
    let id = reference::resolve(
        &args.id,
        reference::names_in(&runs, EPOCHS_SUFFIX),
        &format!("epoch record in {}", runs.display()),
    )?;
    let epochs = ids_monitor::record::epoch_log::read(&runs.join(format!("{id}{EPOCHS_SUFFIX}")))
        .map_err(anyhow::Error::msg)?;
    let events: Vec<_> = ids_monitor::record::events::read_all(&host.events_path())
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .filter(|e| e.container == id)
        .collect();
    let svg = ids_monitor::record::report::svg(&id, &epochs, &events);
    let output = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{id}.svg")));
    write_atomically(&output, svg.as_bytes())
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "{}: {} epochs, {} anomalous, {} events",
        output.display(),
        epochs.len(),
        epochs.iter().filter(|e| e.anomalous).count(),
        events.len()
    );
    Ok(0)
}
