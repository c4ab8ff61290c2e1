//! The normal database: every bag seen in training, with how often it was seen.

use std::collections::HashMap;

use crate::bag::{BagId, SlidingBag, SortedBag};
use crate::fast_hash::FastHash;

/// One bag of the database and its training frequency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbEntry {
    pub bag: SortedBag,
    pub frequency: u64,
}

/// What inserting a bag did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insertion {
    /// The bag was not in the database.
    New,
    /// The bag was there; its frequency grew.
    Existing,
    /// Another bag has the same id (a 64-bit hash collision); the database kept the first one.
    Collision,
    /// The bag was not in the database, which holds as many bags as it may: it was not added.
    Full,
}

/// Bag → frequency, looked up by [`BagId`] in O(1).
#[derive(Debug, Clone, Default)]
pub struct NormalDb {
    entries: HashMap<BagId, DbEntry, FastHash>,
    total: u64,
    collisions: u64,
}

impl NormalDb {
    /// An empty database.
    pub fn new() -> NormalDb {
        NormalDb::default()
    }

    /// Whether a bag was seen in training (the hot-path question).
    #[inline]
    pub fn contains(&self, id: BagId) -> bool {
        self.entries.contains_key(&id)
    }

    /// How often a bag was seen in training (0 if never).
    #[inline]
    pub fn frequency(&self, id: BagId) -> u64 {
        self.entries.get(&id).map_or(0, |e| e.frequency)
    }

    /// The bag with this id, if it is in the database.
    pub fn bag(&self, id: BagId) -> Option<&SortedBag> {
        self.entries.get(&id).map(|e| &e.bag)
    }

    /// Counts `frequency` more sightings of a bag (loading a profile, merging, continuous training).
    pub fn insert(&mut self, bag: SortedBag, frequency: u64) -> Insertion {
        let id = bag.id();
        match self.entries.get_mut(&id) {
            Some(entry) if entry.bag == bag => {
                // Frequencies come from profiles, which are input: they saturate, never wrap.
                entry.frequency = entry.frequency.saturating_add(frequency);
                self.total = self.total.saturating_add(frequency);
                Insertion::Existing
            }
            Some(_) => {
                self.collisions += 1;
                Insertion::Collision
            }
            None => {
                self.entries.insert(id, DbEntry { bag, frequency });
                self.total = self.total.saturating_add(frequency);
                Insertion::New
            }
        }
    }

    /// Counts one sighting of the bag of a live window. The canonical form is built only for a new
    /// bag, and a known id is checked against the stored bag without allocating. A new bag is not
    /// added once the database holds `limit` bags.
    pub fn learn(&mut self, live: &SlidingBag, limit: usize) -> Insertion {
        let id = live.bag().id();
        let full = self.entries.len() >= limit;
        match self.entries.get_mut(&id) {
            Some(entry) if entry.bag.matches(live.bag()) => {
                entry.frequency = entry.frequency.saturating_add(1);
                self.total = self.total.saturating_add(1);
                Insertion::Existing
            }
            Some(_) => {
                self.collisions += 1;
                Insertion::Collision
            }
            None if full => Insertion::Full,
            None => {
                let bag = live.sorted_bag();
                self.entries.insert(id, DbEntry { bag, frequency: 1 });
                self.total = self.total.saturating_add(1);
                Insertion::New
            }
        }
    }

    /// Number of distinct bags.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no bag was learnt.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of all frequencies (windows learnt).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Hash collisions seen on insert.
    pub fn collisions(&self) -> u64 {
        self.collisions
    }

    /// The entries in a stable order (by bag), for profiles and reports.
    pub fn sorted_entries(&self) -> Vec<&DbEntry> {
        let mut v: Vec<&DbEntry> = self.entries.values().collect();
        v.sort_unstable_by(|a, b| a.bag.cmp(&b.bag));
        v
    }

    /// Entries in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (BagId, &DbEntry)> {
        self.entries.iter().map(|(id, e)| (*id, e))
    }

    /// Approximate bytes of memory per entry: the hash-table slot (with its control byte, and the
    /// table's spare capacity spread over the entries) plus the bag's heap block as glibc's malloc
    /// sizes it (an 8-byte header, rounded up to 16 bytes, at least 32).
    pub fn bytes_per_entry(&self) -> f64 {
        if self.entries.is_empty() {
            return 0.0;
        }
        let slot = std::mem::size_of::<(BagId, DbEntry)>() + 1;
        let table = self.entries.capacity() * slot;
        let heap: usize = self
            .entries
            .values()
            .map(|e| ((e.bag.heap_bytes() + 8).div_ceil(16) * 16).max(32))
            .sum();
        (table + heap) as f64 / self.entries.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alphabet::Sym;

    #[test]
    fn learning_counts_frequencies_per_bag() {
        let mut db = NormalDb::new();
        let mut live = SlidingBag::new(2, 8);
        let mut results = Vec::new();
        for s in [1, 2, 1, 2, 3] {
            if live.push(Sym(s)).is_some() {
                results.push(db.learn(&live, usize::MAX));
            }
        }
        // Windows: {1,2} {1,2} {1,2} {2,3}.
        use Insertion::*;
        assert_eq!(results, [New, Existing, Existing, New]);
        assert_eq!(db.len(), 2);
        assert_eq!(db.total(), 4);
        let both = SortedBag::from_calls([Sym(1), Sym(2)]);
        assert_eq!(db.frequency(both.id()), 3);
        assert!(db.contains(SortedBag::from_calls([Sym(3), Sym(2)]).id()));
        assert!(!db.contains(SortedBag::from_calls([Sym(3), Sym(3)]).id()));
    }

    #[test]
    fn insert_adds_to_an_existing_bag() {
        let mut db = NormalDb::new();
        let bag = SortedBag::from_calls([Sym(4), Sym(5)]);
        assert_eq!(db.insert(bag.clone(), 2), Insertion::New);
        assert_eq!(db.insert(bag.clone(), 3), Insertion::Existing);
        assert_eq!(db.frequency(bag.id()), 5);
        let sorted = db.sorted_entries();
        assert_eq!(sorted.len(), 1);
        assert_eq!(sorted[0].bag, bag);
        assert!(db.bytes_per_entry() > 0.0);
    }
}
