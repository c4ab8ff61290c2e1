//! Epochs: the detector judges calls in blocks of E (or of T milliseconds, whichever ends first), by
//! counting the windows whose bag is unknown.

/// The counters of the epoch in progress.
#[derive(Debug, Clone, Default)]
pub struct Epoch {
    length: u32,
    index: u64,
    calls: u32,
    windows: u32,
    mismatches: u32,
    /// The clock (milliseconds, the caller's origin) when the epoch's first call came.
    opened_ms: u64,
}

/// A finished epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEnd {
    /// 0 for the first epoch.
    pub index: u64,
    /// Windows that completed during the epoch.
    pub windows: u32,
    /// Of those, windows whose bag was not in the database.
    pub mismatches: u32,
}

impl Epoch {
    /// Epochs of `length` calls.
    pub fn new(length: u32) -> Epoch {
        Epoch {
            length,
            ..Epoch::default()
        }
    }

    /// Counts a completed window, and whether its bag was unknown.
    #[inline]
    pub fn window(&mut self, mismatch: bool) {
        self.windows += 1;
        self.mismatches += u32::from(mismatch);
    }

    /// Counts a call (after its window, if any) made at `now_ms` or a little later; returns the
    /// epoch if this call ended it.
    #[inline]
    pub fn call(&mut self, now_ms: u64) -> Option<EpochEnd> {
        if self.calls == 0 {
            self.opened_ms = now_ms;
        }
        self.calls += 1;
        if self.calls < self.length {
            return None;
        }
        Some(self.end())
    }

    /// Ends the epoch in progress, whatever its length.
    pub fn end(&mut self) -> EpochEnd {
        let end = EpochEnd {
            index: self.index,
            windows: self.windows,
            mismatches: self.mismatches,
        };
        self.index += 1;
        self.calls = 0;
        self.windows = 0;
        self.mismatches = 0;
        end
    }

    /// Milliseconds since the epoch's first call, at `now_ms`; 0 while it has no call.
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        if self.calls == 0 {
            0
        } else {
            now_ms.saturating_sub(self.opened_ms)
        }
    }

    /// Windows so far in the current epoch.
    pub fn windows(&self) -> u32 {
        self.windows
    }

    /// Mismatches so far in the current epoch.
    pub fn mismatches(&self) -> u32 {
        self.mismatches
    }

    /// Calls so far in the current epoch.
    pub fn calls(&self) -> u32 {
        self.calls
    }

    /// Epochs finished.
    pub fn finished(&self) -> u64 {
        self.index
    }

    /// Drops the current epoch's counts (on a change of mode), keeping the epoch numbering.
    pub fn restart(&mut self) {
        self.calls = 0;
        self.windows = 0;
        self.mismatches = 0;
    }
}

/// The paper's stopping rule for training: the database has stopped changing once enough epochs in a
/// row brought (almost) nothing new.
///
/// An epoch's similarity is the fraction of its windows whose bag was already in the database, i.e.
/// one minus the relative change the epoch made to the database. It is O(1) per epoch and does not
/// drift towards 1 as the database grows, as a ratio of database sizes would.
#[derive(Debug, Clone, Default)]
pub struct Convergence {
    similarity: f64,
    epochs: u32,
    streak: u32,
    last: Option<f64>,
    converged_at: Option<u64>,
}

impl Convergence {
    /// Converged after `epochs` epochs in a row with similarity ≥ `similarity`.
    pub fn new(similarity: f64, epochs: u32) -> Convergence {
        Convergence {
            similarity,
            epochs,
            ..Convergence::default()
        }
    }

    /// Takes a finished training epoch (its mismatches are the bags new to the database).
    pub fn epoch_end(&mut self, end: EpochEnd) {
        let similarity = if end.windows == 0 {
            1.0
        } else {
            1.0 - f64::from(end.mismatches) / f64::from(end.windows)
        };
        self.last = Some(similarity);
        if similarity >= self.similarity {
            self.streak += 1;
        } else {
            self.streak = 0;
        }
        if self.streak >= self.epochs && self.converged_at.is_none() {
            self.converged_at = Some(end.index);
        }
    }

    /// Restores a convergence recorded in a profile.
    pub fn mark_converged(&mut self, epoch: u64) {
        self.converged_at = Some(epoch);
    }

    /// True once the rule was met (it stays met).
    pub fn converged(&self) -> bool {
        self.converged_at.is_some()
    }

    /// The epoch at which training converged.
    pub fn converged_at(&self) -> Option<u64> {
        self.converged_at
    }

    /// Similarity of the last finished epoch.
    pub fn last_similarity(&self) -> Option<f64> {
        self.last
    }

    /// Stable epochs in a row so far.
    pub fn streak(&self) -> u32 {
        self.streak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_ends_every_e_calls_with_its_counts() {
        let mut e = Epoch::new(3);
        e.window(true);
        assert_eq!(e.call(0), None);
        e.window(false);
        assert_eq!(e.call(0), None);
        assert_eq!(e.mismatches(), 1);
        e.window(true);
        let end = e.call(0).unwrap();
        assert_eq!(
            end,
            EpochEnd {
                index: 0,
                windows: 3,
                mismatches: 2
            }
        );
        assert_eq!(e.mismatches(), 0);
        e.call(0);
        e.call(0);
        assert_eq!(e.call(0).unwrap().index, 1);
        assert_eq!(e.finished(), 2);
    }

    #[test]
    fn an_epochs_age_runs_from_its_first_call() {
        let mut e = Epoch::new(100);
        assert_eq!(e.age_ms(5_000), 0, "no call yet");
        e.call(1_000);
        e.call(1_400);
        assert_eq!(e.age_ms(1_900), 900);
        let end = e.end();
        assert_eq!((end.index, e.calls(), e.age_ms(9_000)), (0, 0, 0));
        e.call(9_000);
        assert_eq!(e.age_ms(9_250), 250);
    }

    fn end(index: u64, windows: u32, mismatches: u32) -> EpochEnd {
        EpochEnd {
            index,
            windows,
            mismatches,
        }
    }

    #[test]
    fn converges_after_k_stable_epochs_in_a_row() {
        let mut c = Convergence::new(0.9, 2);
        c.epoch_end(end(0, 100, 50));
        c.epoch_end(end(1, 100, 5));
        assert!(!c.converged());
        c.epoch_end(end(2, 100, 20));
        assert_eq!(c.streak(), 0, "an unstable epoch breaks the streak");
        c.epoch_end(end(3, 100, 10));
        assert!(!c.converged());
        c.epoch_end(end(4, 100, 0));
        assert!(c.converged());
        assert_eq!(c.converged_at(), Some(4));
        c.epoch_end(end(5, 100, 90));
        assert!(c.converged(), "convergence is not undone");
        assert!((c.last_similarity().unwrap() - 0.1).abs() < 1e-9);
    }
}
