//! `ids-runc profile sweep`: the detector's parameters swept over labelled traces, one table row per
//! window × epoch length × threshold (see `ids_monitor::offline::sweep`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use ids_detector::parameters::{
    StreamMode, DEFAULT_EPOCH_MS, DEFAULT_MIN_WINDOWS, MAX_EPOCH, MAX_EPOCH_MS,
};
use ids_detector::window::MAX_WINDOW;
use ids_monitor::offline::sweep::{sweep, Grid};

use super::trace_input::{load_traces, TraceInput};

#[derive(Args, Debug)]
pub struct SweepArgs {
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
    /// Windows W to try.
    #[arg(long, value_delimiter = ',', default_values_t = [6, 8, 10, 12, 15])]
    windows: Vec<usize>,
    /// Epoch lengths E to try (calls; a trace's end also ends its epoch, as the time bound would).
    #[arg(long, value_delimiter = ',', default_values_t = [100, 200, 500, 1000])]
    epochs: Vec<u32>,
    /// Time bounds T to try, milliseconds (above 0). Only traces whose calls carry times
    /// (`strace -ttt`) see epochs ended by T before their end.
    #[arg(long, value_delimiter = ',', default_values_t = [DEFAULT_EPOCH_MS])]
    times: Vec<u32>,
    /// Thresholds to try: anomalous above this share of an epoch's windows unknown (0: any).
    #[arg(long, value_delimiter = ',', default_values_t = [0.0, 0.005, 0.01, 0.02, 0.05])]
    ratios: Vec<f64>,
    /// Sweep the back-off scorer instead of the paper's rule, at these bounds: anomalous above
    /// this mean surprisal per window, nats (--ratios is then not used).
    #[arg(long, value_delimiter = ',')]
    surprises: Vec<f64>,
    /// Fewest windows an epoch ended by its trace's end is judged on (see the profile format).
    #[arg(long, default_value_t = DEFAULT_MIN_WINDOWS)]
    min_windows: u32,
    /// Windows per thread or one per container: per-thread or per-container.
    #[arg(long, default_value = "per-thread", value_parser = super::train::kebab::<StreamMode>)]
    stream: StreamMode,
}

pub fn run(a: SweepArgs) -> Result<i32> {
    if let Some(w) = a.windows.iter().find(|w| !(1..=MAX_WINDOW).contains(*w)) {
        bail!("--windows: {w} is not between 1 and {MAX_WINDOW}");
    }
    if let Some(e) = a.epochs.iter().find(|e| !(1..=MAX_EPOCH).contains(*e)) {
        bail!("--epochs: {e} is not between 1 and {MAX_EPOCH}");
    }
    if let Some(t) = a.times.iter().find(|t| !(1..=MAX_EPOCH_MS).contains(*t)) {
        bail!("--times: {t} is not between 1 and {MAX_EPOCH_MS}");
    }
    if let Some(r) = a.ratios.iter().find(|r| !(0.0..1.0).contains(*r)) {
        bail!("--ratios: {r} is not in [0, 1)");
    }
    if let Some(s) = a.surprises.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        bail!("--surprises: {s} is not a number of nats above 0");
    }
    let train = load_traces(&a.train, &a.input)?;
    let normal = load_traces(&a.normal, &a.input)?;
    let attack = load_traces(&a.attack, &a.input)?;
    println!(
        "train {} traces, normal {} traces, attack {} traces; {:?} windows, epochs ended by E calls, \
         T (traces with times) or the trace's end (judged from {} windows)\n",
        train.len(),
        normal.len(),
        attack.len(),
        a.stream,
        a.min_windows
    );
    println!(
        "| W | E | T | anomalous above | attacks detected | normal traces flagged | normal epochs flagged |"
    );
    println!("|---|---|---|---|---|---|---|");
    let grid = Grid {
        windows: a.windows,
        epochs: a.epochs,
        times_ms: a.times,
        ratios: a.ratios,
        surprises: a.surprises,
        stream: a.stream,
        min_windows: a.min_windows,
    };
    for o in sweep(&train, &normal, &attack, &grid) {
        let s = o.setting;
        println!(
            "| {} | {} | {} ms | {} | {:.1}% | {:.1}% | {:.2}% of {} |",
            s.window,
            s.epoch,
            s.epoch_ms,
            if let Some(nats) = s.surprise {
                format!("mean {nats} nats (back-off)")
            } else if s.ratio == 0.0 {
                "any unknown bag".to_string()
            } else {
                format!("{}%", s.ratio * 100.0)
            },
            o.attacks_detected * 100.0,
            o.normal_traces_flagged * 100.0,
            o.normal_epochs_flagged * 100.0,
            o.normal_epochs
        );
    }
    Ok(0)
}
