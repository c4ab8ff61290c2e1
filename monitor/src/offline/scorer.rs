//! Offline scoring of whole traces, the interface shared by the BoSC detector, its variants and the
//! STIDE baseline so a benchmark can compare them on the same data.

use ids_detector::alphabet::{Alphabet, Sym};
use ids_detector::bag::SlidingBag;
use ids_detector::detector::{Detector, Mode};
use ids_detector::followers::Before;
use ids_detector::parameters::Scorer;

/// A detector that learns from traces and gives each trace an anomaly score (higher = more
/// anomalous).
pub trait TraceScorer {
    /// Name for tables: says the method (BoSC, STIDE) and the variant.
    fn name(&self) -> String;
    /// Window, sequence or context lengths, for tables.
    fn window(&self) -> String;
    /// Learns one normal trace.
    fn train(&mut self, trace: &[Sym]);
    /// Scores one trace.
    fn score(&self, trace: &[Sym]) -> f64;
}

/// Several scorers at once (for example the paper's rule at several windows): the trace score is
/// the sum of theirs.
pub struct ScorerMix(pub Vec<Box<dyn TraceScorer>>);

impl TraceScorer for ScorerMix {
    fn name(&self) -> String {
        let mut names: Vec<String> = self.0.iter().map(|s| s.name()).collect();
        names.dedup();
        format!("sum of {}", names.join(", "))
    }

    fn window(&self) -> String {
        let windows: Vec<String> = self.0.iter().map(|s| s.window()).collect();
        windows.join("+")
    }

    fn train(&mut self, trace: &[Sym]) {
        for s in &mut self.0 {
            s.train(trace);
        }
    }

    fn score(&self, trace: &[Sym]) -> f64 {
        self.0.iter().map(|s| s.score(trace)).sum()
    }
}

/// The live detector's rule applied per trace as one epoch: with the paper's scorer, the fraction
/// of the trace's windows whose bag is not in the database; with back-off, the mean surprisal of
/// its windows; 0 for a trace shorter than the window.
impl TraceScorer for Detector {
    fn name(&self) -> String {
        match self.parameters().scorer {
            Scorer::Bosc => "BoSC exact match (paper)".to_string(),
            Scorer::Backoff { .. } => "BoSC back-off, live (epoch surprise)".to_string(),
        }
    }

    fn window(&self) -> String {
        self.parameters().window.to_string()
    }

    fn train(&mut self, trace: &[Sym]) {
        self.set_mode(Mode::Learn);
        self.restart();
        for &sym in trace {
            self.observe(0, sym);
        }
        self.restart();
    }

    fn score(&self, trace: &[Sym]) -> f64 {
        let mut live = SlidingBag::new(self.parameters().window, Alphabet::system().len());
        let backoff = matches!(self.parameters().scorer, Scorer::Backoff { .. });
        let (mut windows, mut unknown) = (0u64, 0.0);
        for &sym in trace {
            let before = Before::next_in(&live);
            if let Some(id) = live.push(sym) {
                windows += 1;
                let judged = self.judge_window(id, before, sym);
                unknown += if backoff {
                    judged.surprise
                } else {
                    f64::from(u8::from(judged.mismatch))
                };
            }
        }
        if windows == 0 {
            0.0
        } else {
            unknown / windows as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ids_detector::parameters::{Parameters, StreamMode};

    #[test]
    fn detector_scores_the_fraction_of_unknown_windows() {
        let mut d = Detector::new(Parameters {
            window: 2,
            stream: StreamMode::PerContainer,
            ..Parameters::default()
        });
        let s = |v: &[u16]| v.iter().map(|&x| Sym(x)).collect::<Vec<_>>();
        d.train(&s(&[1, 2, 3]));
        d.train(&s(&[3, 4]));
        // {2,3} from the first trace; {3,4}; not {3,3}: traces do not run into each other.
        assert_eq!(d.score(&s(&[3, 2, 1])), 0.0);
        assert_eq!(
            d.score(&s(&[4, 3, 1, 3])),
            2.0 / 3.0,
            "{{4,3}} known; {{3,1}} unknown, and counted again as {{1,3}}"
        );
        assert_eq!(d.score(&s(&[3, 3])), 1.0);
        assert_eq!(d.score(&s(&[9])), 0.0, "shorter than a window");
    }
}
