//! The detector's parameters, as a profile stores them.

use serde::{Deserialize, Serialize};

use crate::window::MAX_WINDOW;

// The defaults come from a sweep of W, E, T and the threshold over strace recordings of the
// MySQL bench (MariaDB learnt under mysqlslap, then ten sqlmap sessions twice; README, "Choosing
// the defaults"): W=6, E=200, above 1% was the setting that detected every attack session with the
// fewest normal epochs flagged, and it kept that place at every T tried. The paper's W=10, E=1000
// stays a profile setting.

/// Calls per window by default (the paper used 10).
pub const DEFAULT_WINDOW: usize = 6;
/// Calls per epoch by default (the paper used 1000): a short attack fills a larger share of a
/// short epoch, so a few unknown bags are enough to pass the threshold.
pub const DEFAULT_EPOCH: u32 = 200;
/// Longest epoch a profile may ask for (keeps the continuous-training buffers bounded).
pub const MAX_EPOCH: u32 = 1_000_000;
/// T by default: a detection epoch also ends 250 ms after its first call, so a quiet container
/// is judged within about a third of a second of what it did (T plus the monitor's 100 ms clock),
/// not when its next calls come.
pub const DEFAULT_EPOCH_MS: u32 = 250;
/// Longest time bound a profile may ask for: a day.
pub const MAX_EPOCH_MS: u32 = 86_400_000;
/// Fewest windows an epoch ended by time is judged on by default (see [`Parameters::min_windows`]).
pub const DEFAULT_MIN_WINDOWS: u32 = 100;

/// When an epoch is anomalous: its count of windows whose bag is not in the normal database
/// exceeds this threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Threshold {
    /// More than this many mismatched windows in an epoch.
    Absolute(u32),
    /// More than this fraction (0..=1) of the epoch's windows mismatched.
    Ratio(f64),
}

impl Threshold {
    /// The mismatch count an epoch of `windows` windows may reach without being anomalous.
    #[inline]
    pub fn limit(&self, windows: u32) -> f64 {
        match *self {
            Threshold::Absolute(n) => f64::from(n),
            Threshold::Ratio(r) => r * f64::from(windows),
        }
    }

    /// Whether `mismatches` out of `windows` passes the threshold.
    #[inline]
    pub fn is_exceeded(&self, mismatches: u32, windows: u32) -> bool {
        f64::from(mismatches) > self.limit(windows)
    }
}

/// The surprisal (nats) above which the back-off scorer calls a call surprising, and a verdict
/// counts and shows its window: the model gave the call less than a 1% chance.
pub const SURPRISING_CALL: f64 = 4.605_170_185_988_091;
/// The back-off scorer's bound on an epoch's mean surprisal per window by default, nats: e^1.5 ≈
/// 4.5, so an epoch is anomalous when its calls were, on average, less predictable than one of
/// four or five equally likely next calls. A principle, not a fit (no attack traces chose it).
/// On the MySQL sweep no bound made this scorer competitive with the paper's rule (1.5 detected
/// 55% of the attack traces, 1.0 flagged 95% of the normal ones), so it is not the default.
pub const DEFAULT_SURPRISE: f64 = 1.5;

/// How a window is judged.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Scorer {
    /// The paper's rule: a window mismatches when its bag is not in the normal database.
    #[default]
    Bosc,
    /// Each window scores its newest call's surprisal −ln P given the bag of the W calls before
    /// it (backing off to the call before it, then to none; see `followers`), and an epoch is
    /// anomalous when its mean surprisal per window is above `surprise`; `threshold` is not
    /// used. Its mismatches are its surprising calls ([`SURPRISING_CALL`]), which explain it.
    Backoff {
        /// Nats per window (the mean of −ln of the probability the model gave each call), above 0.
        surprise: f64,
    },
}

impl Scorer {
    /// The paper's rule.
    pub fn is_bosc(&self) -> bool {
        *self == Scorer::Bosc
    }
}

/// Which calls share a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamMode {
    /// One window per thread: a thread's bags are not mixed with its siblings' scheduling order.
    PerThread,
    /// One interleaved window for the whole container, as in the paper.
    PerContainer,
}

/// When training is finished, and whether detection keeps learning.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// An epoch is stable when the fraction of its windows whose bag was already known is at least
    /// this (0..=1); the paper uses 0.99.
    pub convergence_similarity: f64,
    /// Training has converged after this many stable epochs in a row.
    pub convergence_epochs: u32,
    /// In detection, merge the new bags of every non-anomalous epoch into the database.
    pub continuous: bool,
}

impl Default for Training {
    fn default() -> Training {
        Training {
            convergence_similarity: 0.99,
            // 5,000 stable calls, as the paper's 5 epochs of 1000: with the default E of 200, 5
            // epochs were 1,000 calls, and a learn-detect container switched to detection before
            // its loop was learnt.
            convergence_epochs: 25,
            continuous: false,
        }
    }
}

/// Everything that shapes the detector's decisions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// W: calls per window (1..=64).
    pub window: usize,
    /// E: calls per epoch (W..=1,000,000).
    pub epoch: u32,
    /// T: in detection, an epoch also ends this many milliseconds after its first call, whichever
    /// of E calls and T comes first; 0 for no time bound. Training epochs are E calls only, so the
    /// convergence rule compares epochs of one size. Profiles written before T existed get the
    /// default.
    #[serde(default = "default_epoch_ms")]
    pub epoch_ms: u32,
    /// An epoch ended by time with fewer windows than this is carried into the next (its counts
    /// go on), unless its mismatches already pass the threshold of an epoch of this many windows:
    /// a handful of windows is too few to judge a share on, and however the carried epoch goes on,
    /// it could not come back under the threshold. Epochs of E calls are always judged.
    #[serde(default = "default_min_windows")]
    pub min_windows: u32,
    /// Mismatches per epoch that make it anomalous (the paper's scorer; the back-off scorer has
    /// its own bound).
    pub threshold: Threshold,
    /// What a window's verdict is: an unknown bag (the paper, and profiles written before the
    /// setting) or a call's surprise. Not written for the paper's rule, so its profiles stay as
    /// readable by earlier versions as before.
    #[serde(default, skip_serializing_if = "Scorer::is_bosc")]
    pub scorer: Scorer,
    /// Windows per thread or per container.
    pub stream: StreamMode,
    /// Convergence and continuous-training settings.
    pub training: Training,
}

fn default_epoch_ms() -> u32 {
    DEFAULT_EPOCH_MS
}

fn default_min_windows() -> u32 {
    DEFAULT_MIN_WINDOWS
}

impl Default for Parameters {
    fn default() -> Parameters {
        Parameters {
            window: DEFAULT_WINDOW,
            epoch: DEFAULT_EPOCH,
            epoch_ms: DEFAULT_EPOCH_MS,
            min_windows: DEFAULT_MIN_WINDOWS,
            threshold: Threshold::Ratio(0.01),
            scorer: Scorer::Bosc,
            stream: StreamMode::PerThread,
            training: Training::default(),
        }
    }
}

/// A parameter outside its range: the field (relative to `parameters`) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadParameter {
    pub field: &'static str,
    pub reason: String,
}

impl Parameters {
    /// Checks every range and the relations between fields.
    pub fn check(&self) -> Result<(), BadParameter> {
        let bad = |field, reason: String| Err(BadParameter { field, reason });
        if !(1..=MAX_WINDOW).contains(&self.window) {
            return bad(
                "window",
                format!("must be between 1 and {MAX_WINDOW}, got {}", self.window),
            );
        }
        let w = u32::try_from(self.window).unwrap_or(u32::MAX);
        if !(w..=MAX_EPOCH).contains(&self.epoch) {
            return bad(
                "epoch",
                format!(
                    "must be between the window ({w}) and {MAX_EPOCH}, got {}",
                    self.epoch
                ),
            );
        }
        if self.epoch_ms > MAX_EPOCH_MS {
            return bad(
                "epoch_ms",
                format!(
                    "must be at most {MAX_EPOCH_MS} (a day; 0 for no time bound), got {}",
                    self.epoch_ms
                ),
            );
        }
        match self.threshold {
            Threshold::Absolute(n) if n >= self.epoch => {
                return bad(
                    "threshold.absolute",
                    format!("must be below the epoch length ({}), got {n}", self.epoch),
                );
            }
            Threshold::Ratio(r) if !(0.0..1.0).contains(&r) => {
                return bad("threshold.ratio", format!("must be in [0, 1), got {r}"));
            }
            _ => {}
        }
        if let Scorer::Backoff { surprise } = self.scorer {
            if !(surprise > 0.0 && surprise.is_finite()) {
                return bad(
                    "scorer.backoff.surprise",
                    format!("must be a number of nats above 0, got {surprise}"),
                );
            }
            if self.training.continuous {
                return bad(
                    "training.continuous",
                    "must be false with the backoff scorer: continuous training merges bags, not \
                     the followers the scorer judges by"
                        .to_string(),
                );
            }
        }
        let s = self.training.convergence_similarity;
        if !(0.0..=1.0).contains(&s) {
            return bad(
                "training.convergence_similarity",
                format!("must be in [0, 1], got {s}"),
            );
        }
        if self.training.convergence_epochs == 0 {
            return bad(
                "training.convergence_epochs",
                "must be at least 1, got 0".to_string(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_written_before_the_time_bound_get_the_defaults() {
        let old = r#"{"window":10,"epoch":1000,"threshold":{"ratio":0.01},"stream":"per-thread",
            "training":{"convergence_similarity":0.99,"convergence_epochs":5,"continuous":false}}"#;
        let p: Parameters = serde_json::from_str(old).unwrap();
        assert_eq!(
            p,
            Parameters {
                window: 10,
                epoch: 1000,
                training: Training {
                    convergence_epochs: 5,
                    ..Training::default()
                },
                ..Parameters::default()
            }
        );
        assert_eq!(
            (p.epoch_ms, p.min_windows),
            (DEFAULT_EPOCH_MS, DEFAULT_MIN_WINDOWS)
        );
        let backoff = r#"{"window":10,"epoch":1000,"threshold":{"ratio":0.01},
            "scorer":{"backoff":{"surprise":4.6}},"stream":"per-thread",
            "training":{"convergence_similarity":0.99,"convergence_epochs":5,"continuous":false}}"#;
        let p: Parameters = serde_json::from_str(backoff).unwrap();
        assert_eq!(p.scorer, Scorer::Backoff { surprise: 4.6 });
        assert_eq!(
            serde_json::from_str::<Scorer>(r#""bosc""#).unwrap(),
            Scorer::Bosc
        );
        let written = serde_json::to_string(&Parameters::default()).unwrap();
        assert!(!written.contains("scorer"), "{written}");
        let written = serde_json::to_string(&p).unwrap();
        assert!(
            written.contains(r#""scorer":{"backoff":{"surprise":4.6}}"#),
            "{written}"
        );
    }

    #[test]
    fn thresholds_are_exceeded_strictly() {
        assert!(!Threshold::Absolute(3).is_exceeded(3, 100));
        assert!(Threshold::Absolute(3).is_exceeded(4, 100));
        assert!(!Threshold::Ratio(0.05).is_exceeded(5, 100));
        assert!(Threshold::Ratio(0.05).is_exceeded(6, 100));
    }

    #[test]
    fn check_names_the_bad_field() {
        assert_eq!(Parameters::default().check(), Ok(()));
        let p = Parameters {
            window: 0,
            ..Parameters::default()
        };
        assert_eq!(p.check().unwrap_err().field, "window");
        let p = Parameters {
            epoch: 5,
            ..Parameters::default()
        };
        assert_eq!(p.check().unwrap_err().field, "epoch");
        let p = Parameters {
            threshold: Threshold::Ratio(1.5),
            ..Parameters::default()
        };
        assert_eq!(p.check().unwrap_err().field, "threshold.ratio");
        let p = Parameters {
            epoch_ms: MAX_EPOCH_MS + 1,
            ..Parameters::default()
        };
        assert_eq!(p.check().unwrap_err().field, "epoch_ms");
        let p = Parameters {
            scorer: Scorer::Backoff { surprise: -1.0 },
            ..Parameters::default()
        };
        assert_eq!(p.check().unwrap_err().field, "scorer.backoff.surprise");
        let mut p = Parameters {
            scorer: Scorer::Backoff {
                surprise: DEFAULT_SURPRISE,
            },
            ..Parameters::default()
        };
        assert_eq!(p.check(), Ok(()));
        p.training.continuous = true;
        assert_eq!(p.check().unwrap_err().field, "training.continuous");
        let mut p = Parameters::default();
        p.training.convergence_epochs = 0;
        assert_eq!(p.check().unwrap_err().field, "training.convergence_epochs");
    }
}
