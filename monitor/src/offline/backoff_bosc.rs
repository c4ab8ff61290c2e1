//! BoSC with back-off: how surprising is each call given the *bag* of the calls before it?
//!
//! The paper's rule asks only whether a window's bag was seen. This scorer learns, for bags of the
//! previous k calls at several sizes (for example k = 30, 15, 8, 4, 2, 1, 0), how often each syscall
//! followed that bag. A call scores its surprisal −ln P(call | context), where P comes from the
//! largest context seen in training, and every context that was seen but never followed by this
//! call multiplies in an escape probability (PPM method C: distinct followers / (followers +
//! distinct followers)). So an unseen bag is not simply "unknown": it falls back to the closest
//! smaller context, which generalises the way a nearest-bag search would. Optionally the context
//! also holds the last call itself, which adds a little order information.
//!
//! The cost per call is one window update and at most two hash lookups per level: O(levels), a
//! constant for a given profile.

use std::collections::HashMap;

use crate::offline::scorer::TraceScorer;
use ids_detector::alphabet::{Alphabet, Sym};
use ids_detector::bag::SlidingBag;
use ids_detector::fast_hash::FastHash;

/// How often a context was followed by anything, and by how many distinct syscalls.
#[derive(Debug, Clone, Copy, Default)]
struct ContextCounts {
    total: u32,
    distinct: u32,
}

/// The back-off BoSC scorer.
#[derive(Debug, Clone)]
pub struct BackoffBosc {
    /// Context sizes, largest first; 0 is the context-free frequency of a syscall.
    levels: Vec<usize>,
    with_last_call: bool,
    contexts: HashMap<u64, ContextCounts, FastHash>,
    followers: HashMap<u64, u32, FastHash>,
    symbols: usize,
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The running contexts of one trace: a sliding bag per level and the last call.
struct Contexts {
    bags: Vec<Option<SlidingBag>>,
    last: Option<Sym>,
}

impl BackoffBosc {
    /// A scorer over contexts of the given sizes (sorted and deduplicated here, largest first).
    pub fn new(levels: &[usize], with_last_call: bool) -> BackoffBosc {
        let mut levels = levels.to_vec();
        levels.sort_unstable_by(|a, b| b.cmp(a));
        levels.dedup();
        BackoffBosc {
            levels,
            with_last_call,
            contexts: HashMap::default(),
            followers: HashMap::default(),
            symbols: Alphabet::system().len(),
        }
    }

    fn start(&self) -> Contexts {
        Contexts {
            bags: self
                .levels
                .iter()
                .map(|&k| (k > 0).then(|| SlidingBag::new(k, self.symbols)))
                .collect(),
            last: None,
        }
    }

    /// The key of the context at `level`: the bag of (up to) the previous k calls, the level, and
    /// the last call if the scorer uses it.
    fn context_key(&self, contexts: &Contexts, level: usize) -> u64 {
        let bag = contexts.bags[level].as_ref().map_or(0, |b| b.bag().id().0);
        let last = match (self.with_last_call, contexts.last) {
            (true, Some(sym)) => u64::from(sym.0) + 1,
            _ => 0,
        };
        mix(bag ^ mix(level as u64 + 1) ^ mix(last << 20))
    }

    fn follower_key(context: u64, sym: Sym) -> u64 {
        mix(context ^ (u64::from(sym.0) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn advance(contexts: &mut Contexts, sym: Sym) {
        for bag in contexts.bags.iter_mut().flatten() {
            bag.push(sym);
        }
        contexts.last = Some(sym);
    }

    /// −ln P(sym | contexts) with back-off.
    fn surprisal(&self, contexts: &Contexts, sym: Sym) -> f64 {
        let mut escape = 1.0;
        for level in 0..self.levels.len() {
            let key = self.context_key(contexts, level);
            let Some(c) = self.contexts.get(&key) else {
                continue;
            };
            let denominator = f64::from(c.total) + f64::from(c.distinct);
            if let Some(&n) = self.followers.get(&Self::follower_key(key, sym)) {
                return -(escape * f64::from(n) / denominator).ln();
            }
            escape *= f64::from(c.distinct) / denominator;
        }
        -(escape / self.symbols as f64).ln()
    }
}

impl TraceScorer for BackoffBosc {
    fn name(&self) -> String {
        if self.with_last_call {
            "BoSC back-off, bag + last call context".to_string()
        } else {
            "BoSC back-off, bag context".to_string()
        }
    }

    fn window(&self) -> String {
        let levels: Vec<String> = self.levels.iter().map(|k| k.to_string()).collect();
        levels.join("/")
    }

    fn train(&mut self, trace: &[Sym]) {
        let mut contexts = self.start();
        for &sym in trace {
            for level in 0..self.levels.len() {
                let key = self.context_key(&contexts, level);
                let counts = self.contexts.entry(key).or_default();
                counts.total += 1;
                let n = self
                    .followers
                    .entry(Self::follower_key(key, sym))
                    .or_default();
                if *n == 0 {
                    counts.distinct += 1;
                }
                *n += 1;
            }
            Self::advance(&mut contexts, sym);
        }
    }

    fn score(&self, trace: &[Sym]) -> f64 {
        if trace.is_empty() {
            return 0.0;
        }
        let mut contexts = self.start();
        let mut total = 0.0;
        for &sym in trace {
            total += self.surprisal(&contexts, sym);
            Self::advance(&mut contexts, sym);
        }
        total / trace.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u16]) -> Vec<Sym> {
        v.iter().map(|&x| Sym(x)).collect()
    }

    #[test]
    fn a_familiar_follower_scores_lower_than_a_strange_one() {
        let mut b = BackoffBosc::new(&[2, 0], false);
        for _ in 0..10 {
            b.train(&s(&[1, 2, 3, 1, 2, 3]));
        }
        let normal = b.score(&s(&[1, 2, 3, 1, 2, 3]));
        let reordered = b.score(&s(&[1, 2, 3, 2, 1, 3]));
        let unknown = b.score(&s(&[1, 2, 3, 9, 9, 9]));
        assert!(normal < reordered, "{normal} {reordered}");
        assert!(reordered < unknown, "{reordered} {unknown}");
    }

    #[test]
    fn backs_off_to_smaller_contexts() {
        let mut b = BackoffBosc::new(&[3, 1, 0], false);
        b.train(&s(&[1, 2, 3, 4, 1, 2, 3, 4]));
        // {5,6,3} was never a context, but after 3 comes 4: the 1-call context knows it.
        let known_pair = b.score(&s(&[5, 6, 3, 4]));
        let unknown_pair = b.score(&s(&[5, 6, 3, 1]));
        assert!(known_pair < unknown_pair, "{known_pair} {unknown_pair}");
        let mut with_last = BackoffBosc::new(&[3, 1, 0], true);
        with_last.train(&s(&[1, 2, 3, 4, 1, 2, 3, 4]));
        assert!(with_last.score(&s(&[1, 2, 3, 4])) < with_last.score(&s(&[1, 3, 2, 4])));
        assert_eq!(b.window(), "3/1/0");
    }
}
