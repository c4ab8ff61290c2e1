//! The traces a subcommand reads: their files, format and architecture.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use ids_detector::alphabet::Arch;
use ids_monitor::offline::trace::{read_trace, trace_files, Trace, TraceFormat};

#[derive(Args, Debug)]
pub struct TraceInput {
    /// Trace format: adfa (syscall numbers), names (one per line) or strace (`strace -f` output).
    #[arg(long, default_value = "strace")]
    pub format: TraceFormat,
    /// Architecture of the syscall numbers in adfa traces: x86_64, x86 or x32.
    #[arg(long, default_value = "x86_64")]
    pub arch: Arch,
}

/// Reads every trace file under `paths`; none at all is an error.
pub fn load_traces(paths: &[PathBuf], input: &TraceInput) -> Result<Vec<Trace>> {
    let files = trace_files(paths)?;
    if files.is_empty() {
        bail!("no trace files under {paths:?}");
    }
    files
        .iter()
        .map(|f| Ok(read_trace(f, input.format, input.arch)?))
        .collect()
}
