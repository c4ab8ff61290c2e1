//! BoSC scorings that grade windows instead of counting exact mismatches, still O(1) per call.
//!
//! The paper's rule treats a bag seen once in training like one seen a million times, and a bag that
//! differs from a known one by a single call like one that shares nothing with the database. Both
//! lose information that separates attacks from normal traces:
//! - rarity: a known bag scores its surprisal −ln(frequency / windows learnt); an unknown bag scores
//!   more than the rarest known one;
//! - neighbourhood: an unknown bag that becomes a known bag's sub-bag when one call is removed (one
//!   substitution away from normal) scores less than one that does not. The check removes each
//!   distinct call of the window in turn (≤ W lookups of incrementally computed ids), so a call
//!   still costs O(W) = O(1) for a fixed window.

use std::collections::HashSet;

use crate::offline::scorer::TraceScorer;
use ids_detector::alphabet::{Alphabet, Sym};
use ids_detector::bag::{BagId, SlidingBag};
use ids_detector::fast_hash::FastHash;
use ids_detector::normal_db::NormalDb;

/// How a window is graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grading {
    /// Surprisal of known bags; unknown bags one nat above the rarest possible known bag.
    Rarity,
    /// Known 0, one substitution from a known bag 1, farther 2.
    Neighbourhood,
}

/// A BoSC trace scorer with a graded window score, averaged over the trace.
#[derive(Debug, Clone)]
pub struct WeightedBosc {
    window: usize,
    grading: Grading,
    db: NormalDb,
    /// Ids of every bag of W−1 calls contained in a known bag.
    sub_bags: HashSet<BagId, FastHash>,
    symbols: usize,
}

impl WeightedBosc {
    /// An untrained scorer over windows of `window` calls.
    pub fn new(window: usize, grading: Grading) -> WeightedBosc {
        WeightedBosc {
            window,
            grading,
            db: NormalDb::new(),
            sub_bags: HashSet::default(),
            symbols: Alphabet::system().len(),
        }
    }

    fn is_near_known(&self, live: &SlidingBag) -> bool {
        live.window()
            .calls()
            .any(|sym| self.sub_bags.contains(&live.bag().id_without(sym)))
    }

    fn grade(&self, live: &SlidingBag, id: BagId) -> f64 {
        let learnt = self.db.total().max(1) as f64;
        let frequency = self.db.frequency(id);
        let surprisal = |f: f64| (learnt / f).ln();
        match self.grading {
            Grading::Rarity if frequency > 0 => surprisal(frequency as f64),
            Grading::Rarity => surprisal(1.0) + 1.0,
            Grading::Neighbourhood if frequency > 0 => 0.0,
            Grading::Neighbourhood if self.is_near_known(live) => 1.0,
            Grading::Neighbourhood => 2.0,
        }
    }
}

impl TraceScorer for WeightedBosc {
    fn name(&self) -> String {
        match self.grading {
            Grading::Rarity => "BoSC rarity-weighted",
            Grading::Neighbourhood => "BoSC nearest-bag distance",
        }
        .to_string()
    }

    fn window(&self) -> String {
        self.window.to_string()
    }

    fn train(&mut self, trace: &[Sym]) {
        let mut live = SlidingBag::new(self.window, self.symbols);
        for &sym in trace {
            if live.push(sym).is_some() {
                self.db.learn(&live, usize::MAX);
                for s in live.window().calls() {
                    self.sub_bags.insert(live.bag().id_without(s));
                }
            }
        }
    }

    fn score(&self, trace: &[Sym]) -> f64 {
        let mut live = SlidingBag::new(self.window, self.symbols);
        let (mut windows, mut total) = (0u64, 0.0);
        for &sym in trace {
            if let Some(id) = live.push(sym) {
                windows += 1;
                total += self.grade(&live, id);
            }
        }
        if windows == 0 {
            0.0
        } else {
            total / windows as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u16]) -> Vec<Sym> {
        v.iter().map(|&x| Sym(x)).collect()
    }

    #[test]
    fn rare_bags_score_higher_than_common_ones() {
        let mut w = WeightedBosc::new(2, Grading::Rarity);
        w.train(&s(&[1, 2, 1, 2, 1, 2, 1, 2, 3]));
        let common = w.score(&s(&[1, 2]));
        let rare = w.score(&s(&[2, 3]));
        let unknown = w.score(&s(&[3, 3]));
        assert!(common < rare && rare < unknown, "{common} {rare} {unknown}");
    }

    #[test]
    fn unknown_bags_near_a_known_one_score_lower() {
        let mut w = WeightedBosc::new(3, Grading::Neighbourhood);
        w.train(&s(&[1, 2, 3]));
        assert_eq!(w.score(&s(&[3, 1, 2])), 0.0);
        assert_eq!(w.score(&s(&[1, 2, 9])), 1.0, "{{1,2}} is in {{1,2,3}}");
        assert_eq!(w.score(&s(&[7, 8, 9])), 2.0);
    }
}
