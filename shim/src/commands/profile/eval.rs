//! `ids-runc profile eval`: judge traces with a profile, per trace or per epoch, or give ROC
//! figures on labelled normal and attack traces.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use ids_detector::alphabet::{Alphabet, Sym};
use ids_detector::detector::{Detector, Mode, Verdict};
use ids_detector::parameters::Scorer;
use ids_monitor::offline::eval::{rates_at, rates_at_fpr, roc_auc};
use ids_monitor::offline::trace::Trace;
use ids_monitor::profile::Profile;

use super::trace_input::{load_traces, TraceInput};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The profile.
    profile: PathBuf,
    /// Traces to judge one by one (files or directories).
    traces: Vec<PathBuf>,
    #[command(flatten)]
    input: TraceInput,
    /// Print every epoch's verdict, not one line per trace.
    #[arg(long)]
    epochs: bool,
    /// Normal traces (labelled), for ROC figures; needs --attack.
    #[arg(long, requires = "attack")]
    normal: Vec<PathBuf>,
    /// Attack traces (labelled), for ROC figures; needs --normal.
    #[arg(long, requires = "normal")]
    attack: Vec<PathBuf>,
    /// With --normal/--attack: also report rates when a trace is flagged above this score (its
    /// fraction of unknown windows; with the back-off scorer, its mean surprisal in nats).
    #[arg(long)]
    score_threshold: Option<f64>,
}

/// The symbols of syscall names (which the profile has validated).
fn syms_of(names: &[String]) -> HashSet<Sym> {
    let alphabet = Alphabet::system();
    names
        .iter()
        .filter_map(|n| alphabet.sym_by_name(n))
        .collect()
}

/// What judging one trace found.
struct TraceResult {
    windows: u64,
    unknown: u64,
    /// With the back-off scorer, the windows' surprise (nats), which scores the trace.
    surprise: Option<f64>,
    epochs: u64,
    anomalous: u64,
}

impl TraceResult {
    fn score(&self) -> f64 {
        if self.windows == 0 {
            0.0
        } else {
            self.surprise.unwrap_or(self.unknown as f64) / self.windows as f64
        }
    }
}

fn judge(
    detector: &mut Detector,
    trace: &Trace,
    invisible: &HashSet<Sym>,
    mut on_verdict: impl FnMut(&Verdict),
) -> TraceResult {
    detector.restart();
    let before = detector.counters();
    let surprise_before = detector.surprise_total();
    let mut result = TraceResult {
        windows: 0,
        unknown: 0,
        surprise: None,
        epochs: 0,
        anomalous: 0,
    };
    for call in trace.calls.iter().filter(|c| !invisible.contains(&c.sym)) {
        if let Some(v) = detector.observe(call.stream, call.sym) {
            result.epochs += 1;
            result.anomalous += u64::from(v.anomalous);
            on_verdict(&v);
        }
    }
    let after = detector.counters();
    result.windows = after.windows - before.windows;
    result.unknown = after.mismatches - before.mismatches;
    if let Scorer::Backoff { .. } = detector.parameters().scorer {
        result.surprise = Some(detector.surprise_total() - surprise_before);
    }
    result
}

pub fn run(a: EvalArgs) -> Result<i32> {
    if a.traces.is_empty() && a.normal.is_empty() {
        bail!("give traces to judge, or --normal and --attack");
    }
    let profile = Profile::load(&a.profile)?;
    let mut detector = profile
        .detector()
        .with_context(|| format!("profile {}", a.profile.display()))?;
    // Traces are judged independently: learning from one would change the verdict on the next.
    detector.set_continuous_training(false);
    detector.set_mode(Mode::Detect);
    let invisible = syms_of(&profile.monitor.invisible_syscalls);
    let alphabet = Alphabet::system();
    let mut flagged = 0;
    let traces = if a.traces.is_empty() {
        Vec::new()
    } else {
        load_traces(&a.traces, &a.input)?
    };
    for trace in traces {
        let path = trace.path.display().to_string();
        let r = judge(&mut detector, &trace, &invisible, |v| {
            if a.epochs {
                let first = v
                    .unknown_windows()
                    .next()
                    .map(|w| format!("  first unknown bag {}", w.bag().display(alphabet)))
                    .unwrap_or_default();
                println!(
                    "{path}: epoch {}: {} {}/{} windows unknown (limit {:.1}){first}",
                    v.epoch,
                    if v.anomalous { "ANOMALY" } else { "normal " },
                    v.mismatches,
                    v.windows,
                    v.limit
                );
            }
        });
        flagged += u64::from(r.anomalous > 0);
        if !a.epochs {
            println!(
                "{:.4}  {}/{} epochs anomalous  {}/{} windows unknown  {path}",
                r.score(),
                r.anomalous,
                r.epochs,
                r.unknown,
                r.windows
            );
        }
    }
    if !a.normal.is_empty() {
        let mut scores = |paths: &[PathBuf]| -> Result<Vec<f64>> {
            Ok(load_traces(paths, &a.input)?
                .iter()
                .map(|t| judge(&mut detector, t, &invisible, |_| {}).score())
                .collect())
        };
        let normal = scores(&a.normal)?;
        let attack = scores(&a.attack)?;
        let score = match profile.parameters.scorer {
            Scorer::Bosc => "fraction of unknown windows",
            Scorer::Backoff { .. } => "mean surprisal of the windows (nats)",
        };
        println!(
            "{} normal, {} attack traces; score = {score} per trace",
            normal.len(),
            attack.len()
        );
        println!("ROC AUC {:.3}", roc_auc(&normal, &attack));
        for fpr in [0.01, 0.05] {
            let r = rates_at_fpr(&normal, &attack, fpr);
            println!(
                "at {:.0}% FPR: threshold {:.4}, detection rate {:.1}%, false positives {:.2}%",
                fpr * 100.0,
                r.threshold,
                r.detection_rate * 100.0,
                r.false_positive_rate * 100.0
            );
        }
        if let Some(t) = a.score_threshold {
            let r = rates_at(&normal, &attack, t);
            println!(
                "at threshold {t}: detection rate {:.1}%, false positives {:.2}%",
                r.detection_rate * 100.0,
                r.false_positive_rate * 100.0
            );
        }
    }
    Ok(i32::from(flagged > 0))
}
