//! STIDE (Forrest et al., 1996), the classic baseline: the database holds every exact sequence of k
//! consecutive calls seen in training, and a trace scores the fraction of its k-sequences not in it.

use std::collections::HashSet;

use crate::offline::scorer::TraceScorer;
use ids_detector::alphabet::Sym;

/// The STIDE detector.
#[derive(Debug, Clone)]
pub struct Stide {
    k: usize,
    sequences: HashSet<Box<[Sym]>>,
}

impl Stide {
    /// STIDE over sequences of `k` calls (k ≥ 1).
    pub fn new(k: usize) -> Stide {
        assert!(k >= 1, "STIDE sequences have at least one call");
        Stide {
            k,
            sequences: HashSet::new(),
        }
    }

    /// Distinct sequences learnt.
    pub fn len(&self) -> usize {
        self.sequences.len()
    }

    /// True before any training.
    pub fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }
}

impl TraceScorer for Stide {
    fn name(&self) -> String {
        "STIDE exact sequence".to_string()
    }

    fn window(&self) -> String {
        self.k.to_string()
    }

    fn train(&mut self, trace: &[Sym]) {
        for seq in trace.windows(self.k) {
            if !self.sequences.contains(seq) {
                self.sequences.insert(seq.into());
            }
        }
    }

    fn score(&self, trace: &[Sym]) -> f64 {
        let windows = trace.len().saturating_sub(self.k - 1);
        if windows == 0 {
            return 0.0;
        }
        let unknown = trace
            .windows(self.k)
            .filter(|s| !self.sequences.contains(*s))
            .count();
        unknown as f64 / windows as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u16]) -> Vec<Sym> {
        v.iter().map(|&x| Sym(x)).collect()
    }

    #[test]
    fn order_matters_unlike_bags() {
        let mut st = Stide::new(2);
        st.train(&s(&[1, 2, 3]));
        assert_eq!(st.len(), 2);
        assert_eq!(st.score(&s(&[1, 2, 3])), 0.0);
        assert_eq!(
            st.score(&s(&[2, 1])),
            1.0,
            "(2,1) was never seen, though {{1,2}} was"
        );
        assert_eq!(st.score(&s(&[1, 2, 1])), 0.5);
        assert_eq!(st.score(&s(&[1])), 0.0);
    }
}
