//! The back-off scorer's model: which syscall followed which context in training, and how often.
//!
//! The paper's rule asks only whether a window's bag was seen. This model asks how surprising a
//! call is given what came before it: its surprisal −ln P(call | context), where the context is
//! the bag of the W calls before it, backing off to the one call before it and then to no context
//! at all (PPM method C). A context that was seen but never followed by this call multiplies in an
//! escape probability, distinct followers / (followers + distinct followers), so an unseen bag is
//! not simply "unknown": the call is judged by the smaller context that was seen. A call no context
//! knows gets the escape of every level spread over the whole alphabet.
//!
//! Lookups are at most two hash probes per level and three levels: O(1) per call, no allocation.

use std::collections::HashMap;

use crate::alphabet::Sym;
use crate::bag::{BagId, SlidingBag};
use crate::fast_hash::FastHash;

/// What came before a call in its stream: the bag of the W calls before it (once there were W)
/// and the call right before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Before {
    pub bag: Option<BagId>,
    pub last: Option<Sym>,
}

impl Before {
    /// The context of the next call pushed to `live`.
    #[inline]
    pub fn next_in(live: &SlidingBag) -> Before {
        let window = live.window();
        Before {
            bag: window.is_full().then(|| live.bag().id()),
            last: window.newest(),
        }
    }
}

/// How often a context was followed by anything, and by how many distinct syscalls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    total: u32,
    distinct: u32,
}

impl Counts {
    /// Counts `n` more sightings of a follower that had been seen `before` times.
    fn add(&mut self, before: u32, n: u32) {
        self.total = self.total.saturating_add(n);
        self.distinct += u32::from(before == 0 && n > 0);
    }

    /// P(follower seen `n` times), and the escape probability; None if the context was never seen.
    #[inline]
    fn denominator(&self) -> Option<f64> {
        (self.total > 0).then(|| f64::from(self.total) + f64::from(self.distinct))
    }
}

/// Follower counts after bags of W calls and after single calls.
#[derive(Debug, Clone, Default)]
pub struct Followers {
    after_bag: HashMap<(BagId, Sym), u32, FastHash>,
    bags: HashMap<BagId, Counts, FastHash>,
    after_call: HashMap<(Sym, Sym), u32, FastHash>,
    /// Indexed by the previous call.
    calls: Box<[Counts]>,
    /// How often each syscall followed any call (the context-free level), by syscall.
    overall: Box<[u32]>,
    overall_context: Counts,
}

impl Followers {
    /// An empty model over an alphabet of `symbols` syscalls.
    pub fn new(symbols: usize) -> Followers {
        Followers {
            calls: vec![Counts::default(); symbols].into_boxed_slice(),
            overall: vec![0; symbols].into_boxed_slice(),
            ..Followers::default()
        }
    }

    /// Counts `n` more times `sym` came right after the W calls whose bag is `bag`.
    pub fn add_after_bag(&mut self, bag: BagId, sym: Sym, n: u32) {
        let count = self.after_bag.entry((bag, sym)).or_default();
        self.bags.entry(bag).or_default().add(*count, n);
        *count = count.saturating_add(n);
    }

    /// Counts `n` more times `sym` came right after `last` (and so `n` more context-free sightings
    /// of `sym`: the context-free level is the sum of this one, so a profile need not store it).
    pub fn add_after_call(&mut self, last: Sym, sym: Sym, n: u32) {
        let count = self.after_call.entry((last, sym)).or_default();
        self.calls[last.index()].add(*count, n);
        *count = count.saturating_add(n);
        let overall = &mut self.overall[sym.index()];
        self.overall_context.add(*overall, n);
        *overall = overall.saturating_add(n);
    }

    /// Counts one call after its context; the bag level only if `keep_bag` (a context bag the
    /// normal database could not keep could not be saved with its followers either).
    pub fn learn(&mut self, before: Before, sym: Sym, keep_bag: bool) {
        if let Some(bag) = before.bag.filter(|_| keep_bag) {
            self.add_after_bag(bag, sym, 1);
        }
        if let Some(last) = before.last {
            self.add_after_call(last, sym, 1);
        }
    }

    /// −ln P(`sym` | the bag of the W calls before it, the call before it), in nats. Either
    /// context may be absent (the first calls of a stream).
    #[inline]
    pub fn surprisal(&self, before: Before, sym: Sym) -> f64 {
        let mut escape = 1.0;
        if let Some((bag, c)) = before.bag.and_then(|b| Some((b, *self.bags.get(&b)?))) {
            if let Some(d) = c.denominator() {
                match self.after_bag.get(&(bag, sym)) {
                    Some(&n) => return -(escape * f64::from(n) / d).ln(),
                    None => escape *= f64::from(c.distinct) / d,
                }
            }
        }
        if let Some(last) = before.last {
            let c = self.calls[last.index()];
            if let Some(d) = c.denominator() {
                match self.after_call.get(&(last, sym)) {
                    Some(&n) => return -(escape * f64::from(n) / d).ln(),
                    None => escape *= f64::from(c.distinct) / d,
                }
            }
        }
        if let Some(d) = self.overall_context.denominator() {
            let n = self.overall[sym.index()];
            if n > 0 {
                return -(escape * f64::from(n) / d).ln();
            }
            escape *= f64::from(self.overall_context.distinct) / d;
        }
        -(escape / self.overall.len().max(1) as f64).ln()
    }

    /// Every (bag, follower, count), in no particular order.
    pub fn after_bags(&self) -> impl Iterator<Item = (BagId, Sym, u32)> + '_ {
        self.after_bag.iter().map(|(&(b, s), &n)| (b, s, n))
    }

    /// Every (call, follower, count), in no particular order.
    pub fn after_calls(&self) -> impl Iterator<Item = (Sym, Sym, u32)> + '_ {
        self.after_call.iter().map(|(&(l, s), &n)| (l, s, n))
    }

    /// How often `sym` followed the bag `bag` (0 if never).
    pub fn count_after_bag(&self, bag: BagId, sym: Sym) -> u32 {
        self.after_bag.get(&(bag, sym)).copied().unwrap_or(0)
    }

    /// How often `sym` followed `last` (0 if never).
    pub fn count_after_call(&self, last: Sym, sym: Sym) -> u32 {
        self.after_call.get(&(last, sym)).copied().unwrap_or(0)
    }

    /// True when nothing was learnt.
    pub fn is_empty(&self) -> bool {
        self.after_call.is_empty() && self.after_bag.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bag::SlidingBag;

    /// Learns a stream as the detector does: each call after the bag of the W calls before it.
    fn learn(f: &mut Followers, w: usize, calls: &[u16]) {
        let mut live = SlidingBag::new(w, 16);
        for &c in calls {
            f.learn(Before::next_in(&live), Sym(c), true);
            live.push(Sym(c));
        }
    }

    fn mean(f: &Followers, w: usize, calls: &[u16]) -> f64 {
        let mut live = SlidingBag::new(w, 16);
        let mut total = 0.0;
        for &c in calls {
            total += f.surprisal(Before::next_in(&live), Sym(c));
            live.push(Sym(c));
        }
        total / calls.len() as f64
    }

    #[test]
    fn familiar_calls_surprise_less_than_reordered_ones_and_unknown_ones_most() {
        let mut f = Followers::new(16);
        let normal: Vec<u16> = [1, 2, 3].repeat(20);
        learn(&mut f, 2, &normal);
        let familiar = mean(&f, 2, &[1, 2, 3, 1, 2, 3]);
        let reordered = mean(&f, 2, &[1, 2, 3, 2, 1, 3]);
        let unknown = mean(&f, 2, &[1, 2, 3, 9, 9, 9]);
        assert!(familiar < reordered, "{familiar} {reordered}");
        assert!(reordered < unknown, "{reordered} {unknown}");
        let none = Before::default();
        assert!(f.surprisal(none, Sym(9)) > f.surprisal(none, Sym(1)));
    }

    #[test]
    fn an_unseen_bag_backs_off_to_the_call_before() {
        let mut f = Followers::new(16);
        learn(&mut f, 3, &[1, 2, 3, 4, 1, 2, 3, 4]);
        // The bag {5, 6, 3} was never a context, but 4 always came after 3.
        let bag = SlidingBag::new(3, 16);
        let mut unseen = bag.clone();
        for c in [5, 6, 3] {
            unseen.push(Sym(c));
        }
        let before = Before::next_in(&unseen);
        assert_eq!(before.last, Some(Sym(3)));
        let known_pair = f.surprisal(before, Sym(4));
        let unknown_pair = f.surprisal(before, Sym(1));
        assert!(known_pair < unknown_pair, "{known_pair} {unknown_pair}");
        // After 3, 4 came twice and nothing else: P = 2 / (2 + 1) with method C.
        assert!((known_pair - 1.5f64.ln()).abs() < 1e-9, "{known_pair}");
    }

    #[test]
    fn counts_add_up_and_the_context_free_level_is_their_sum() {
        let mut f = Followers::new(16);
        f.add_after_call(Sym(1), Sym(2), 3);
        f.add_after_call(Sym(4), Sym(2), 2);
        f.add_after_call(Sym(4), Sym(5), 5);
        assert_eq!(f.count_after_call(Sym(4), Sym(2)), 2);
        assert_eq!(f.overall[2], 5);
        assert_eq!(
            f.overall_context,
            Counts {
                total: 10,
                distinct: 2
            }
        );
        assert_eq!(
            f.calls[4],
            Counts {
                total: 7,
                distinct: 2
            }
        );
        f.add_after_bag(BagId(7), Sym(2), u32::MAX);
        f.add_after_bag(BagId(7), Sym(2), 1);
        assert_eq!(f.count_after_bag(BagId(7), Sym(2)), u32::MAX, "saturates");
    }
}
