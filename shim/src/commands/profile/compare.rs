//! `ids-runc profile compare`: train several detectors on the same traces and print one table row
//! each (ROC AUC, detection rate at 1% and 5% false positives).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use ids_detector::alphabet::Sym;
use ids_monitor::offline::eval::{rates_at_fpr, roc_auc};
use ids_monitor::offline::trace::Trace;

use super::scorer_spec;
use super::trace_input::{load_traces, TraceInput};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Normal traces to train on.
    #[arg(long, required = true)]
    train: Vec<PathBuf>,
    /// Normal traces held out (false positives).
    #[arg(long, required = true)]
    normal: Vec<PathBuf>,
    /// Attack traces (detections).
    #[arg(long, required = true)]
    attack: Vec<PathBuf>,
    #[command(flatten)]
    input: TraceInput,
    /// Detectors as METHOD:SIZES. bosc:W (the paper's exact bag match), bosc-mix:W+W+... (sum of
    /// the paper's score at several windows), bosc-rarity:W (surprisal of the bag), bosc-near:W
    /// (distance to the nearest known bag), bosc-backoff:K/K/.../0 and bosc-backoff-last:K/.../0
    /// (surprisal of each call given the bags of the previous K calls, backing off to smaller K),
    /// bosc-backoff-live:W (the live back-off scorer: the share of calls surprising given the bag
    /// of the W calls before, backing off to the call before), stide:K (exact sequences).
    #[arg(long = "detector", required = true)]
    detectors: Vec<String>,
}

pub fn run(a: CompareArgs) -> Result<i32> {
    let mut scorers = a
        .detectors
        .iter()
        .map(|s| scorer_spec::parse(s))
        .collect::<Result<Vec<_>>>()?;
    let syms = |paths: &[PathBuf]| -> Result<Vec<Vec<Sym>>> {
        Ok(load_traces(paths, &a.input)?
            .iter()
            .map(Trace::syms)
            .collect())
    };
    let train = syms(&a.train)?;
    let normal = syms(&a.normal)?;
    let attack = syms(&a.attack)?;
    println!(
        "train {} traces, normal {} traces, attack {} traces; score per trace\n",
        train.len(),
        normal.len(),
        attack.len()
    );
    println!("| detector | window | AUC | DR @ 1% FPR | DR @ 5% FPR |");
    println!("|---|---|---|---|---|");
    for s in &mut scorers {
        for t in &train {
            s.train(t);
        }
        let ns: Vec<f64> = normal.iter().map(|t| s.score(t)).collect();
        let at: Vec<f64> = attack.iter().map(|t| s.score(t)).collect();
        let dr = |fpr| rates_at_fpr(&ns, &at, fpr).detection_rate * 100.0;
        println!(
            "| {} | {} | {:.3} | {:.1}% | {:.1}% |",
            s.name(),
            s.window(),
            roc_auc(&ns, &at),
            dr(0.01),
            dr(0.05)
        );
    }
    Ok(0)
}
