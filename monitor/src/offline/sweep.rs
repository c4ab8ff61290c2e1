//! Sweeping the detector's parameters over labelled traces, to choose defaults by measurement: for
//! each window W, epoch length E and threshold, how many attack traces have an anomalous epoch and
//! how many normal traces and normal epochs are flagged.
//!
//! Each trace is judged as a container doing only that and then falling quiet: its calls go through
//! the live detector (the same `observe`), and at its end the epoch in progress is ended as the
//! time bound would end it, under the same `min_windows` rule. A trace whose calls carry times
//! (`strace -ttt`) is also given the clock as a monitor gives it, every 100 ms of trace time, so
//! its epochs end after E calls or T milliseconds as they would live. The database is learnt once
//! per window and per stream mode; E, T and the threshold do not change what is learnt.

use ids_detector::detector::{Detector, Mode, TrainingRecord};
use ids_detector::followers::Followers;
use ids_detector::normal_db::NormalDb;
use ids_detector::parameters::{Parameters, Scorer, StreamMode, Threshold};

use crate::offline::trace::Trace;

/// One point of the sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    pub window: usize,
    pub epoch: u32,
    /// T, milliseconds (only traces with times have epochs ended by it before their end).
    pub epoch_ms: u32,
    /// Anomalous above this share of an epoch's windows unknown (the paper's rule).
    pub ratio: f64,
    /// With the back-off scorer instead: anomalous above this mean surprisal per window, nats.
    pub surprise: Option<f64>,
}

/// What one setting did on the labelled traces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub setting: Setting,
    /// Attack traces with at least one anomalous epoch, of all attack traces.
    pub attacks_detected: f64,
    /// Normal traces with at least one anomalous epoch, of all normal traces.
    pub normal_traces_flagged: f64,
    /// Anomalous epochs of the normal traces, of all their judged epochs.
    pub normal_epochs_flagged: f64,
    /// Epochs judged on the normal traces.
    pub normal_epochs: u64,
}

/// The grid to sweep and what stays fixed.
#[derive(Debug, Clone)]
pub struct Grid {
    pub windows: Vec<usize>,
    pub epochs: Vec<u32>,
    /// Values of T (each above 0).
    pub times_ms: Vec<u32>,
    pub ratios: Vec<f64>,
    /// Bounds of the back-off scorer to try (mean nats per window); if any, the back-off scorer
    /// is swept instead of the paper's rule, and `ratios` are not used.
    pub surprises: Vec<f64>,
    pub stream: StreamMode,
    pub min_windows: u32,
}

/// Verdicts of one trace: epochs judged and how many were anomalous.
#[derive(Debug, Clone, Copy, Default)]
struct Judged {
    epochs: u64,
    anomalous: u64,
}

/// What training at one window left: the detector's database, syscalls and record.
struct Learnt {
    db: NormalDb,
    known: Vec<ids_detector::alphabet::Sym>,
    followers: Followers,
    record: TrainingRecord,
}

fn learn(train: &[Trace], params: Parameters) -> Learnt {
    let mut d = Detector::new(params);
    d.set_mode(Mode::Learn);
    for trace in train {
        d.restart();
        for call in &trace.calls {
            d.observe(call.stream, call.sym);
        }
    }
    Learnt {
        db: d.database().clone(),
        known: d.known_syscalls().collect(),
        followers: d.followers().clone(),
        record: d.training_record(),
    }
}

/// How often a monitor gives the detector the time.
const CLOCK_EVERY_MS: u64 = 100;

/// Judges a trace as a container of its own that falls quiet at its end. `clock` is the detector's
/// time, moved on past each trace's end by more than T, so that traces do not share an epoch.
fn judge(d: &mut Detector, trace: &Trace, clock: &mut u64) -> Judged {
    let mut judged = Judged::default();
    let mut count = |v: ids_detector::detector::Verdict| {
        judged.epochs += 1;
        judged.anomalous += u64::from(v.anomalous);
    };
    d.restart();
    d.tick(*clock);
    let first = trace.calls.iter().find_map(|c| c.at_ms);
    let (mut now, mut ticked) = (*clock, *clock);
    for call in &trace.calls {
        if let (Some(at), Some(first)) = (call.at_ms, first) {
            now = now.max(*clock + at.saturating_sub(first));
            if now >= ticked + CLOCK_EVERY_MS {
                ticked = now;
                if let Some(v) = d.tick(now) {
                    count(v);
                }
            }
        }
        if let Some(v) = d.observe(call.stream, call.sym) {
            count(v);
        }
    }
    let end = now + u64::from(d.parameters().epoch_ms);
    if let Some(v) = d.tick(end) {
        count(v);
    }
    *clock = end + 1;
    judged
}

/// Runs the sweep: every window × epoch × ratio of `grid`, learnt on `train`, judged on `normal`
/// and `attack`.
pub fn sweep(train: &[Trace], normal: &[Trace], attack: &[Trace], grid: &Grid) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let thresholds: Vec<(f64, Option<f64>)> = if grid.surprises.is_empty() {
        grid.ratios.iter().map(|&r| (r, None)).collect()
    } else {
        grid.surprises.iter().map(|&s| (0.0, Some(s))).collect()
    };
    let scorer = |surprise: Option<f64>| {
        surprise.map_or(Scorer::Bosc, |surprise| Scorer::Backoff { surprise })
    };
    for &window in &grid.windows {
        let base = Parameters {
            window,
            epoch: Parameters::default().epoch.max(window as u32),
            min_windows: grid.min_windows,
            stream: grid.stream,
            scorer: scorer(thresholds.first().and_then(|t| t.1)),
            ..Parameters::default()
        };
        let learnt = learn(train, base);
        let thresholds = &thresholds;
        let points = grid.epochs.iter().flat_map(|&e| {
            grid.times_ms
                .iter()
                .flat_map(move |&t| thresholds.iter().map(move |&r| (e, t, r)))
        });
        for (epoch, epoch_ms, (ratio, surprise)) in points {
            let params = Parameters {
                epoch: epoch.max(window as u32),
                // The end of a trace ends its epoch (see `judge`), so T is at least 1.
                epoch_ms: epoch_ms.max(1),
                threshold: Threshold::Ratio(ratio),
                scorer: scorer(surprise),
                ..base
            };
            let mut d =
                Detector::with_database(params, learnt.db.clone(), &learnt.known, learnt.record)
                    .with_followers(learnt.followers.clone());
            let mut clock = 0;
            let normal_judged: Vec<Judged> = normal
                .iter()
                .map(|t| judge(&mut d, t, &mut clock))
                .collect();
            let attacks_detected = attack
                .iter()
                .filter(|t| judge(&mut d, t, &mut clock).anomalous > 0)
                .count();
            let normal_epochs: u64 = normal_judged.iter().map(|j| j.epochs).sum();
            let flagged_epochs: u64 = normal_judged.iter().map(|j| j.anomalous).sum();
            let flagged_traces = normal_judged.iter().filter(|j| j.anomalous > 0).count();
            outcomes.push(Outcome {
                setting: Setting {
                    window,
                    epoch: params.epoch,
                    epoch_ms: params.epoch_ms,
                    ratio,
                    surprise,
                },
                attacks_detected: share(attacks_detected as u64, attack.len() as u64),
                normal_traces_flagged: share(flagged_traces as u64, normal.len() as u64),
                normal_epochs_flagged: share(flagged_epochs, normal_epochs),
                normal_epochs,
            });
        }
    }
    outcomes
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::trace::Call;
    use ids_detector::alphabet::Sym;

    fn trace(calls: &[u16]) -> Trace {
        Trace {
            path: "t".into(),
            calls: calls
                .iter()
                .map(|&s| Call {
                    stream: 1,
                    sym: Sym(s),
                    at_ms: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_stricter_threshold_catches_more_and_flags_more() {
        let cycle: Vec<u16> = [1, 2, 3].repeat(40);
        let train = [trace(&cycle)];
        // Normal: the cycle with one odd pair; attack: the cycle with a burst of new calls.
        let mut odd = cycle.clone();
        odd[60] = 2;
        let mut burst = cycle.clone();
        burst.splice(50..50, [7, 8, 9, 7, 8, 9]);
        let grid = Grid {
            windows: vec![3],
            epochs: vec![1000],
            times_ms: vec![1000],
            ratios: vec![0.0, 0.05],
            surprises: Vec::new(),
            stream: StreamMode::PerThread,
            min_windows: 10,
        };
        let out = sweep(
            &train,
            &[trace(&cycle), trace(&odd)],
            &[trace(&burst)],
            &grid,
        );
        assert_eq!(out.len(), 2);
        let (any, five) = (&out[0], &out[1]);
        assert_eq!(any.setting.ratio, 0.0);
        assert_eq!(any.attacks_detected, 1.0);
        assert_eq!(any.normal_traces_flagged, 0.5, "the odd pair is flagged");
        assert_eq!(
            any.normal_epochs, 2,
            "one epoch per trace, ended by its end"
        );
        assert_eq!(five.attacks_detected, 1.0, "8 of 124 windows unknown");
        assert_eq!(five.normal_traces_flagged, 0.0, "3 of 118 windows unknown");
    }

    #[test]
    fn the_backoff_scorer_is_swept_over_its_bounds() {
        let cycle: Vec<u16> = [1, 2, 3, 4].repeat(30);
        let mut burst = cycle.clone();
        burst.splice(50..50, [7, 8, 9, 7, 8, 9]);
        let grid = Grid {
            windows: vec![3],
            epochs: vec![1000],
            times_ms: vec![1000],
            ratios: vec![0.0],
            surprises: vec![0.5, 50.0],
            stream: StreamMode::PerThread,
            min_windows: 10,
        };
        let out = sweep(&[trace(&cycle)], &[trace(&cycle)], &[trace(&burst)], &grid);
        assert_eq!(out.len(), 2, "the bounds replace the ratios");
        assert_eq!(out[0].setting.surprise, Some(0.5));
        assert_eq!(
            (out[0].attacks_detected, out[0].normal_traces_flagged),
            (1.0, 0.0)
        );
        assert_eq!(out[1].attacks_detected, 0.0, "no trace is that surprising");
    }

    #[test]
    fn a_timed_trace_has_its_epochs_ended_by_t() {
        let cycle: Vec<u16> = [1, 2, 3].repeat(40);
        // One call every 10 ms: 1.2 s of calls, three epochs of 500 ms (the last one at the end).
        let mut timed = trace(&cycle);
        for (i, call) in timed.calls.iter_mut().enumerate() {
            call.at_ms = Some(5_000 + 10 * i as u64);
        }
        let grid = Grid {
            windows: vec![3],
            epochs: vec![1000],
            times_ms: vec![500, 5000],
            ratios: vec![0.05],
            surprises: Vec::new(),
            stream: StreamMode::PerThread,
            min_windows: 10,
        };
        let out = sweep(&[trace(&cycle)], &[timed], &[], &grid);
        assert_eq!(out[0].setting.epoch_ms, 500);
        assert_eq!(out[0].normal_epochs, 3);
        assert_eq!(
            out[1].normal_epochs, 1,
            "T beyond the trace: its end ends its only epoch"
        );
        assert_eq!(out[0].normal_epochs_flagged, 0.0);
    }
}
