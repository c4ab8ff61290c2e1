//! The bag of system calls: how many times each syscall occurs in the window.
//!
//! A bag is identified by a [`BagId`], a 64-bit hash of the multiset that is updated in O(1) when a
//! call enters or leaves the window: the sum over syscalls of a pseudo-random value per
//! (syscall, count). Adding a call to syscall `s` seen `c` times replaces the term for `(s, c)` by the
//! one for `(s, c + 1)`. The database stores the bag itself ([`SortedBag`]) next to its id, so
//! profiles stay readable and a hash collision is caught when a bag is inserted.

use std::fmt;

use crate::alphabet::{Alphabet, Sym};
use crate::window::Window;

/// The identity of a bag (a hash of the multiset of calls), cheap to update and to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BagId(pub u64);

/// The term a syscall seen `count` times contributes to a bag's id; 0 for an absent syscall, so a
/// bag's id depends only on the syscalls it holds. splitmix64 makes the terms look independent.
#[inline]
fn term(sym: Sym, count: u8) -> u64 {
    if count == 0 {
        return 0;
    }
    let mut z = (u64::from(sym.0) << 8 | u64::from(count)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Per-syscall counts of a window plus the running id. Adding or removing a call is O(1).
#[derive(Debug, Clone)]
pub struct Bag {
    counts: Box<[u8]>,
    id: u64,
    len: usize,
}

impl Bag {
    /// An empty bag over an alphabet of `symbols` syscalls.
    pub fn new(symbols: usize) -> Bag {
        Bag {
            counts: vec![0; symbols].into_boxed_slice(),
            id: 0,
            len: 0,
        }
    }

    /// Counts one more call to `sym`.
    #[inline]
    pub fn add(&mut self, sym: Sym) {
        let c = &mut self.counts[sym.index()];
        self.id = self
            .id
            .wrapping_sub(term(sym, *c))
            .wrapping_add(term(sym, *c + 1));
        *c += 1;
        self.len += 1;
    }

    /// Counts one call to `sym` less (it must be in the bag).
    #[inline]
    pub fn remove(&mut self, sym: Sym) {
        let c = &mut self.counts[sym.index()];
        debug_assert!(*c > 0, "removing a syscall that is not in the bag");
        self.id = self
            .id
            .wrapping_sub(term(sym, *c))
            .wrapping_add(term(sym, *c - 1));
        *c -= 1;
        self.len -= 1;
    }

    /// The bag's identity.
    #[inline]
    pub fn id(&self) -> BagId {
        BagId(self.id)
    }

    /// The id this bag would have with one call to `sym` fewer (`sym` must be in the bag).
    #[inline]
    pub fn id_without(&self, sym: Sym) -> BagId {
        let c = self.counts[sym.index()];
        BagId(
            self.id
                .wrapping_sub(term(sym, c))
                .wrapping_add(term(sym, c - 1)),
        )
    }

    /// How many times `sym` is in the bag.
    pub fn count(&self, sym: Sym) -> u8 {
        self.counts[sym.index()]
    }

    /// Total number of calls in the bag.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the bag holds no call.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A bag stored canonically: its calls sorted by symbol (a multiset). This is what the normal
/// database keeps and what a profile writes, as `name: count` pairs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SortedBag(Box<[Sym]>);

impl SortedBag {
    /// The bag of the calls in a window.
    pub fn from_calls(calls: impl IntoIterator<Item = Sym>) -> SortedBag {
        let mut v: Vec<Sym> = calls.into_iter().collect();
        v.sort_unstable();
        SortedBag(v.into_boxed_slice())
    }

    /// The bag from `(syscall, count)` pairs.
    pub fn from_counts(counts: impl IntoIterator<Item = (Sym, u8)>) -> SortedBag {
        SortedBag::from_calls(
            counts
                .into_iter()
                .flat_map(|(s, c)| std::iter::repeat_n(s, usize::from(c))),
        )
    }

    /// The same id a [`Bag`] holding these calls has.
    pub fn id(&self) -> BagId {
        let mut id = 0u64;
        for (sym, count) in self.counts() {
            id = id.wrapping_add(term(sym, count));
        }
        BagId(id)
    }

    /// Whether a live bag holds exactly these calls (the collision check, without allocating).
    pub fn matches(&self, bag: &Bag) -> bool {
        self.len() == bag.len() && self.counts().all(|(sym, count)| bag.count(sym) == count)
    }

    /// `(syscall, count)` pairs, by increasing symbol.
    pub fn counts(&self) -> impl Iterator<Item = (Sym, u8)> + '_ {
        self.0.chunk_by(|a, b| a == b).map(|run| {
            let count = u8::try_from(run.len()).expect("bag counts fit a window of at most 64");
            (run[0], count)
        })
    }

    /// The calls, sorted by symbol.
    pub fn calls(&self) -> &[Sym] {
        &self.0
    }

    /// Number of calls in the bag.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the bag is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Heap bytes this bag takes (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.0)
    }

    /// A printable form, `{name: count, ...}`, with names from the alphabet.
    pub fn display<'a>(&'a self, alphabet: &'a Alphabet) -> impl fmt::Display + 'a {
        DisplayBag(self, alphabet)
    }

    /// The bag as a person reads it in an alarm: `openat×4 read×3 close×2 socket`, the most
    /// frequent call first (ties by name), a count only where it is more than one.
    pub fn multiset(&self, alphabet: &Alphabet) -> String {
        let mut counts: Vec<(&str, u8)> = self
            .counts()
            .map(|(sym, count)| (alphabet.name(sym), count))
            .collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let words: Vec<String> = counts
            .into_iter()
            .map(|(name, count)| match count {
                1 => name.to_string(),
                n => format!("{name}×{n}"),
            })
            .collect();
        words.join(" ")
    }
}

struct DisplayBag<'a>(&'a SortedBag, &'a Alphabet);

impl fmt::Display for DisplayBag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (sym, count)) in self.0.counts().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {count}", self.1.name(sym))?;
        }
        f.write_str("}")
    }
}

/// A window and its bag, kept in step: the state of one stream of calls (a thread or a container).
#[derive(Debug, Clone)]
pub struct SlidingBag {
    window: Window,
    bag: Bag,
}

impl SlidingBag {
    /// An empty window of `window` calls over an alphabet of `symbols` syscalls.
    pub fn new(window: usize, symbols: usize) -> SlidingBag {
        SlidingBag {
            window: Window::new(window),
            bag: Bag::new(symbols),
        }
    }

    /// Pushes a call; once the window is full, returns the id of the bag of the last W calls.
    #[inline]
    pub fn push(&mut self, sym: Sym) -> Option<BagId> {
        if let Some(old) = self.window.push(sym) {
            self.bag.remove(old);
        }
        self.bag.add(sym);
        self.window.is_full().then(|| self.bag.id())
    }

    /// The window (calls in order).
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// The bag of the window.
    pub fn bag(&self) -> &Bag {
        &self.bag
    }

    /// The window's bag in canonical form (allocates; for training and reports, not the hot path).
    pub fn sorted_bag(&self) -> SortedBag {
        SortedBag::from_calls(self.window.calls())
    }

    /// Starts over with an empty window, keeping the buffers.
    pub fn reset(&mut self) {
        for sym in self.window.drain() {
            self.bag.remove(sym);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multiset_reads_most_frequent_first() {
        let a = Alphabet::system();
        let sym = |n| a.sym_by_name(n).unwrap();
        let bag = SortedBag::from_counts([
            (sym("socket"), 1),
            (sym("close"), 2),
            (sym("read"), 3),
            (sym("openat"), 4),
            (sym("bind"), 1),
        ]);
        assert_eq!(bag.multiset(a), "openat×4 read×3 close×2 bind socket");
    }

    #[test]
    fn id_depends_on_the_multiset_not_the_order() {
        let mut a = Bag::new(10);
        let mut b = Bag::new(10);
        for s in [1, 2, 2, 3] {
            a.add(Sym(s));
        }
        for s in [2, 3, 1, 2] {
            b.add(Sym(s));
        }
        assert_eq!(a.id(), b.id());
        assert_eq!(a.count(Sym(2)), 2);
        b.remove(Sym(2));
        assert_ne!(a.id(), b.id());
        b.add(Sym(2));
        assert_eq!(a.id(), b.id());
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn removing_everything_gives_the_empty_bag_id() {
        let mut a = Bag::new(4);
        a.add(Sym(3));
        a.add(Sym(0));
        a.remove(Sym(3));
        a.remove(Sym(0));
        assert_eq!(a.id(), BagId(0));
        assert!(a.is_empty());
    }

    #[test]
    fn counts_distinguish_repetitions() {
        let one = SortedBag::from_calls([Sym(1), Sym(1), Sym(2)]);
        let other = SortedBag::from_calls([Sym(1), Sym(2), Sym(2)]);
        assert_ne!(one.id(), other.id());
    }

    #[test]
    fn sliding_bag_matches_the_bag_of_the_last_w_calls() {
        let mut s = SlidingBag::new(3, 10);
        assert_eq!(s.push(Sym(1)), None);
        assert_eq!(s.push(Sym(2)), None);
        let first = s.push(Sym(3)).unwrap();
        assert_eq!(first, SortedBag::from_calls([Sym(3), Sym(1), Sym(2)]).id());
        let second = s.push(Sym(1)).unwrap();
        assert_eq!(second, SortedBag::from_calls([Sym(2), Sym(3), Sym(1)]).id());
        assert_eq!(s.bag().count(Sym(1)), 1);
        assert_eq!(
            s.sorted_bag(),
            SortedBag::from_counts([(Sym(1), 1), (Sym(2), 1), (Sym(3), 1)])
        );
        s.reset();
        assert!(s.bag().is_empty());
        assert_eq!(s.push(Sym(4)), None);
    }

    #[test]
    fn sorted_bag_counts_runs() {
        let b = SortedBag::from_calls([Sym(5), Sym(1), Sym(5), Sym(5)]);
        let counts: Vec<(u16, u8)> = b.counts().map(|(s, c)| (s.0, c)).collect();
        assert_eq!(counts, [(1, 1), (5, 3)]);
        assert_eq!(b.len(), 4);
        let a = Alphabet::system();
        let rw = SortedBag::from_counts([
            (a.sym_by_name("read").unwrap(), 2),
            (a.sym_by_name("write").unwrap(), 1),
        ]);
        let text = rw.display(a).to_string();
        assert!(
            text.contains("read: 2") && text.contains("write: 1"),
            "{text}"
        );
    }
}
