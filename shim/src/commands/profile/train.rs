//! `ids-runc profile train`: learn a profile from normal traces.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use ids_detector::alphabet::{Alphabet, Sym};
use ids_detector::detector::Detector;
use ids_detector::parameters::{
    Parameters, Scorer, StreamMode, Threshold, Training, DEFAULT_SURPRISE,
};
use ids_monitor::backend::MonitorKind;
use ids_monitor::offline::trace::{read_trace, trace_files};
use ids_monitor::policy::{AnomalyAction, Policy, UnseenSyscallAction};
use ids_monitor::profile::Profile;
use serde::de::DeserializeOwned;

use super::stem;
use super::trace_input::TraceInput;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Trace files or directories (walked recursively).
    #[arg(required = true)]
    traces: Vec<PathBuf>,
    #[command(flatten)]
    input: TraceInput,
    /// Where to write the profile.
    #[arg(short, long)]
    output: PathBuf,
    /// Profile name (default: the output file's stem).
    #[arg(long)]
    name: Option<String>,
    /// Monitor the profile is for: seccomp-notify, ptrace or offline. Syscalls that monitor cannot
    /// see are dropped from the traces.
    #[arg(long, default_value = "offline", value_parser = kebab::<MonitorKind>)]
    monitor: MonitorKind,
    /// Window size W (calls per bag).
    #[arg(short = 'w', long, default_value_t = 10)]
    window: usize,
    /// Epoch length E (calls per verdict).
    #[arg(short = 'e', long, default_value_t = 1000)]
    epoch: u32,
    /// Epoch time bound T in milliseconds (detection ends an epoch after E calls or T, whichever
    /// comes first); 0 for none.
    #[arg(long, default_value_t = ids_detector::parameters::DEFAULT_EPOCH_MS)]
    epoch_ms: u32,
    /// An epoch ended by time with fewer windows is carried into the next.
    #[arg(long, default_value_t = ids_detector::parameters::DEFAULT_MIN_WINDOWS)]
    min_windows: u32,
    /// Anomalous when more than this many windows of an epoch are unknown.
    #[arg(long, conflicts_with = "threshold_ratio")]
    threshold: Option<u32>,
    /// Anomalous when more than this fraction of an epoch's windows are unknown.
    #[arg(long, default_value_t = 0.01)]
    threshold_ratio: f64,
    /// Windows per thread or one per container: per-thread or per-container.
    #[arg(long, default_value = "per-thread", value_parser = kebab::<StreamMode>)]
    stream: StreamMode,
    /// Convergence: an epoch is stable when at least this fraction of its windows were known.
    #[arg(long, default_value_t = 0.99)]
    similarity: f64,
    /// Convergence: stable epochs in a row needed.
    #[arg(long, default_value_t = 5)]
    stable_epochs: u32,
    /// What a mismatch is: an unknown bag (`bosc`, the paper) or a surprising call (`backoff`,
    /// surprising above `--surprise` nats), which also learns what followed each bag.
    #[arg(long = "scorer", default_value = "bosc", value_parser = ["bosc", "backoff"])]
    scorer_name: String,
    /// With `--scorer backoff`: a call is surprising when −ln of its probability is above this.
    #[arg(long, default_value_t = DEFAULT_SURPRISE)]
    surprise: f64,
    /// Keep learning in detection (merge the new bags of non-anomalous epochs).
    #[arg(long)]
    continuous: bool,
    /// Action on an anomalous epoch: log or kill.
    #[arg(long, default_value = "log", value_parser = kebab::<AnomalyAction>)]
    on_anomaly: AnomalyAction,
    /// Action on a syscall never seen in training: ignore, log, kill or deny.
    #[arg(long, default_value = "log", value_parser = kebab::<UnseenSyscallAction>)]
    on_unseen_syscall: UnseenSyscallAction,
}

/// Parses a kebab-case enum value the way the profile spells it.
pub(super) fn kebab<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|e| e.to_string())
}

pub fn run(a: TrainArgs) -> Result<i32> {
    let params = Parameters {
        window: a.window,
        epoch: a.epoch,
        epoch_ms: a.epoch_ms,
        min_windows: a.min_windows,
        threshold: a
            .threshold
            .map_or(Threshold::Ratio(a.threshold_ratio), Threshold::Absolute),
        scorer: if a.scorer_name == "backoff" {
            Scorer::Backoff {
                surprise: a.surprise,
            }
        } else {
            Scorer::Bosc
        },
        stream: a.stream,
        training: Training {
            convergence_similarity: a.similarity,
            convergence_epochs: a.stable_epochs,
            continuous: a.continuous,
        },
    };
    if let Err(e) = params.check() {
        bail!("parameters.{}: {}", e.field, e.reason);
    }
    let invisible: HashSet<Sym> = a
        .monitor
        .invisible_syscalls()
        .iter()
        .filter_map(|n| Alphabet::system().sym_by_name(n))
        .collect();
    let files = trace_files(&a.traces)?;
    if files.is_empty() {
        bail!("no trace files under {:?}", a.traces);
    }
    let mut detector = Detector::new(params);
    for file in &files {
        let trace = read_trace(file, a.input.format, a.input.arch)?;
        detector.restart();
        for call in trace.calls.iter().filter(|c| !invisible.contains(&c.sym)) {
            detector.observe(call.stream, call.sym);
        }
    }
    let name = a.name.unwrap_or_else(|| stem(&a.output));
    let policy = Policy {
        on_anomaly: a.on_anomaly,
        on_unseen_syscall: a.on_unseen_syscall,
    };
    let profile = Profile::from_detector(&name, a.monitor, policy, &detector, files.len() as u64);
    profile
        .validate()
        .context("the trained profile is inconsistent")?;
    profile.save(&a.output)?;
    let c = detector.counters();
    let convergence = match detector.training_record().converged_at {
        Some(epoch) => format!("converged at epoch {epoch}"),
        None => "not converged (train on more traces, or lower --similarity)".to_string(),
    };
    println!(
        "{}: {} traces, {} calls, {} windows, {} bags, {} syscalls; {} epochs, {convergence}",
        a.output.display(),
        files.len(),
        c.calls,
        c.windows,
        c.db_size,
        profile.syscalls.len(),
        c.epochs,
    );
    Ok(0)
}
