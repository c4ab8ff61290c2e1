//! A profile from what a detector learnt, and a detector from a profile: names in the file,
//! symbols in the detector.

use std::collections::{BTreeMap, HashMap};

use ids_detector::alphabet::{Alphabet, Sym};
use ids_detector::bag::{BagId, SortedBag};
use ids_detector::detector::{Detector, TrainingRecord};
use ids_detector::normal_db::{Insertion, NormalDb};

use super::error::invalid;
use super::{
    DbRecord, FollowerRecord, InvalidProfile, Monitor, Profile, TrainingStats, FORMAT_VERSION,
};
use crate::backend::MonitorKind;
use crate::policy::Policy;
use ids_detector::followers::Followers;

impl Profile {
    /// A profile of what a detector has learnt.
    pub fn from_detector(
        name: &str,
        monitor: MonitorKind,
        policy: Policy,
        detector: &Detector,
        traces: u64,
    ) -> Profile {
        let alphabet = Alphabet::system();
        let mut profile = Profile::from_empty(name, monitor, policy, detector);
        profile.normal_db = detector
            .database()
            .entries()
            .map(|(_, e)| DbRecord {
                frequency: e.frequency,
                bag: named_counts(&e.bag, alphabet),
            })
            .collect();
        profile.normal_db.sort_by(|a, b| a.bag.cmp(&b.bag));
        profile.followers = FollowerRecord::of(detector, None);
        let t = detector.training_record();
        profile.training = TrainingStats {
            traces,
            calls: t.calls,
            windows: t.windows,
            epochs: t.epochs,
            converged_at_epoch: t.converged_at,
            last_similarity: t.last_similarity,
        };
        profile
    }

    /// What `detector` learnt since `before` (an earlier snapshot of it), as a profile: the bags
    /// whose frequency grew, by how much, and the training counts in between. Only those bags are
    /// turned into named counts, so a save costs what changed, not the whole database.
    pub fn increment_from_detector(
        name: &str,
        monitor: MonitorKind,
        policy: Policy,
        detector: &Detector,
        before: &Snapshot,
    ) -> Profile {
        let alphabet = Alphabet::system();
        let mut profile = Profile::from_empty(name, monitor, policy, detector);
        profile.normal_db = detector
            .database()
            .entries()
            .filter_map(|(id, e)| {
                let earlier = before.frequencies.get(&id).copied().unwrap_or(0);
                let grown = e.frequency.saturating_sub(earlier);
                (grown > 0).then(|| DbRecord {
                    frequency: grown,
                    bag: named_counts(&e.bag, alphabet),
                })
            })
            .collect();
        profile.normal_db.sort_by(|a, b| a.bag.cmp(&b.bag));
        profile.followers = FollowerRecord::of(detector, Some(&before.followers));
        let (t, b) = (detector.training_record(), &before.training);
        profile.training = TrainingStats {
            traces: 0,
            calls: t.calls.saturating_sub(b.calls),
            windows: t.windows.saturating_sub(b.windows),
            epochs: t.epochs.saturating_sub(b.epochs),
            converged_at_epoch: t.converged_at,
            last_similarity: t.last_similarity,
        };
        profile
    }

    /// A profile of `detector`'s syscalls and parameters, with no bags and no training.
    fn from_empty(
        name: &str,
        monitor: MonitorKind,
        policy: Policy,
        detector: &Detector,
    ) -> Profile {
        let alphabet = Alphabet::system();
        let mut syscalls: Vec<String> = detector
            .known_syscalls()
            .map(|s| alphabet.name(s).to_string())
            .collect();
        syscalls.sort();
        Profile {
            format_version: FORMAT_VERSION,
            name: name.to_string(),
            monitor: Monitor::of(monitor),
            parameters: *detector.parameters(),
            policy,
            syscalls,
            training: TrainingStats::default(),
            normal_db: Vec::new(),
            followers: FollowerRecord::default(),
            provenance: Default::default(),
            resources: None,
        }
    }

    /// A detector in detection mode with this profile's parameters and database.
    pub fn detector(&self) -> Result<Detector, InvalidProfile> {
        self.validate()?;
        let alphabet = Alphabet::system();
        let mut db = NormalDb::new();
        for (i, record) in self.normal_db.iter().enumerate() {
            let bag = self.resolve_bag(i, record, alphabet)?;
            if db.insert(bag, record.frequency) == Insertion::Collision {
                return Err(invalid(
                    format!("normal_db[{i}].bag"),
                    "has the same 64-bit id as another bag (hash collision)",
                ));
            }
        }
        let known: Vec<Sym> = self
            .syscalls
            .iter()
            .filter_map(|n| alphabet.sym_by_name(n))
            .collect();
        let record = TrainingRecord {
            calls: self.training.calls,
            windows: self.training.windows,
            epochs: self.training.epochs,
            converged_at: self.training.converged_at_epoch,
            last_similarity: self.training.last_similarity,
        };
        Ok(Detector::with_database(self.parameters, db, &known, record)
            .with_followers(self.followers.model()))
    }

    /// Bags of the database, resolved to symbols, with their frequencies (the profile must be
    /// valid).
    pub fn bags(&self) -> Result<Vec<(SortedBag, u64)>, InvalidProfile> {
        let alphabet = Alphabet::system();
        self.normal_db
            .iter()
            .enumerate()
            .map(|(i, r)| Ok((self.resolve_bag(i, r, alphabet)?, r.frequency)))
            .collect()
    }

    fn resolve_bag(
        &self,
        i: usize,
        record: &DbRecord,
        alphabet: &Alphabet,
    ) -> Result<SortedBag, InvalidProfile> {
        let mut counts = Vec::with_capacity(record.bag.len());
        for (name, &count) in &record.bag {
            let sym = alphabet
                .sym_by_name(name)
                .ok_or_else(|| invalid(format!("normal_db[{i}].bag.{name}"), "unknown syscall"))?;
            counts.push((sym, count));
        }
        Ok(SortedBag::from_counts(counts))
    }
}

/// Each bag's frequency and the training counts of a detector at one moment: what a later
/// [`Profile::increment_from_detector`] is measured from. Ids and counts only, not named bags.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    frequencies: HashMap<BagId, u64>,
    followers: Followers,
    training: TrainingRecord,
}

impl Snapshot {
    pub fn of(detector: &Detector) -> Snapshot {
        Snapshot {
            frequencies: detector
                .database()
                .entries()
                .map(|(id, e)| (id, e.frequency))
                .collect(),
            followers: detector.followers().clone(),
            training: detector.training_record(),
        }
    }
}

fn named_counts(bag: &SortedBag, alphabet: &Alphabet) -> BTreeMap<String, u8> {
    bag.counts()
        .map(|(s, c)| (alphabet.name(s).to_string(), c))
        .collect()
}
