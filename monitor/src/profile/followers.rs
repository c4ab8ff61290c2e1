//! The back-off scorer's model in a profile: which syscall came right after each bag and after
//! each syscall in training, by name, as people read the rest of the file.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ids_detector::alphabet::{Alphabet, Sym};
use ids_detector::bag::{BagId, SortedBag};
use ids_detector::detector::Detector;
use ids_detector::followers::Followers;
use serde::{Deserialize, Serialize};

use super::error::invalid;
use super::validate::validate_bag;
use super::InvalidProfile;

/// Syscall name → how often it came next.
pub type NextCounts = BTreeMap<String, u32>;

/// The calls that came after one bag of W calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterBag {
    /// Syscall name → count in the window; the counts add up to the window size.
    pub bag: BTreeMap<String, u8>,
    /// The calls that came right after those W calls, each with how often.
    pub next: NextCounts,
}

/// What the back-off scorer learnt (`parameters.scorer` `backoff`); empty otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowerRecord {
    /// Sorted by bag, each bag once.
    #[serde(default)]
    pub after_bags: Vec<AfterBag>,
    /// Syscall name → the calls that came right after it.
    #[serde(default)]
    pub after_calls: BTreeMap<String, NextCounts>,
}

impl FollowerRecord {
    pub fn is_empty(&self) -> bool {
        self.after_bags.is_empty() && self.after_calls.is_empty()
    }

    /// What `detector` learnt, less what `before` had (counts that did not grow are left out).
    pub fn of(detector: &Detector, before: Option<&Followers>) -> FollowerRecord {
        let alphabet = Alphabet::system();
        let name = |s: Sym| alphabet.name(s).to_string();
        let model = detector.followers();
        let mut bags: HashMap<BagId, NextCounts> = HashMap::new();
        for (bag, sym, n) in model.after_bags() {
            let grown = n.saturating_sub(before.map_or(0, |b| b.count_after_bag(bag, sym)));
            if grown > 0 {
                bags.entry(bag).or_default().insert(name(sym), grown);
            }
        }
        let mut after_bags: Vec<AfterBag> = bags
            .into_iter()
            .filter_map(|(id, next)| {
                // The detector learns followers only of bags its database keeps.
                let bag = detector.database().bag(id)?;
                let bag = bag.counts().map(|(s, c)| (name(s), c)).collect();
                Some(AfterBag { bag, next })
            })
            .collect();
        after_bags.sort_by(|a, b| a.bag.cmp(&b.bag));
        let mut after_calls: BTreeMap<String, NextCounts> = BTreeMap::new();
        for (last, sym, n) in model.after_calls() {
            let grown = n.saturating_sub(before.map_or(0, |b| b.count_after_call(last, sym)));
            if grown > 0 {
                after_calls
                    .entry(name(last))
                    .or_default()
                    .insert(name(sym), grown);
            }
        }
        FollowerRecord {
            after_bags,
            after_calls,
        }
    }

    /// Both records' counts added (saturating: profiles are input).
    pub fn absorb(&mut self, other: &FollowerRecord) {
        let mut bags: BTreeMap<BTreeMap<String, u8>, NextCounts> =
            std::mem::take(&mut self.after_bags)
                .into_iter()
                .map(|a| (a.bag, a.next))
                .collect();
        for a in &other.after_bags {
            add_counts(bags.entry(a.bag.clone()).or_default(), &a.next);
        }
        self.after_bags = bags
            .into_iter()
            .map(|(bag, next)| AfterBag { bag, next })
            .collect();
        for (last, next) in &other.after_calls {
            add_counts(self.after_calls.entry(last.clone()).or_default(), next);
        }
    }

    /// Checks names (known, in `syscalls`), counts (at least 1), bag sizes and order; errors
    /// name the field under `followers`.
    pub fn validate(&self, syscalls: &BTreeSet<&str>, window: usize) -> Result<(), InvalidProfile> {
        let check_next = |field: String, next: &NextCounts| {
            for (name, &n) in next {
                let field = format!("{field}.{name}");
                if !syscalls.contains(name.as_str()) {
                    return Err(invalid(field, "syscall is not in `syscalls`"));
                }
                if n == 0 {
                    return Err(invalid(field, "count must be at least 1"));
                }
            }
            Ok(())
        };
        for (i, a) in self.after_bags.iter().enumerate() {
            validate_bag(
                &format!("followers.after_bags[{i}].bag"),
                &a.bag,
                syscalls,
                window,
            )?;
            if i > 0 && self.after_bags[i - 1].bag >= a.bag {
                return Err(invalid(
                    format!("followers.after_bags[{i}].bag"),
                    "bags must be sorted and unique (this one repeats or precedes the previous)",
                ));
            }
            check_next(format!("followers.after_bags[{i}].next"), &a.next)?;
        }
        for (last, next) in &self.after_calls {
            if !syscalls.contains(last.as_str()) {
                return Err(invalid(
                    format!("followers.after_calls.{last}"),
                    "syscall is not in `syscalls`",
                ));
            }
            check_next(format!("followers.after_calls.{last}"), next)?;
        }
        Ok(())
    }

    /// The detector's model (the record must be valid).
    pub fn model(&self) -> Followers {
        let alphabet = Alphabet::system();
        let sym = |name: &str| alphabet.sym_by_name(name);
        let mut model = Followers::new(alphabet.len());
        for a in &self.after_bags {
            let bag = SortedBag::from_counts(a.bag.iter().filter_map(|(n, &c)| Some((sym(n)?, c))));
            for (name, &n) in &a.next {
                if let Some(next) = sym(name) {
                    model.add_after_bag(bag.id(), next, n);
                }
            }
        }
        for (last, next) in &self.after_calls {
            for (name, &n) in next {
                if let (Some(last), Some(next)) = (sym(last), sym(name)) {
                    model.add_after_call(last, next, n);
                }
            }
        }
        model
    }
}

fn add_counts(into: &mut NextCounts, from: &NextCounts) {
    for (name, &n) in from {
        let count = into.entry(name.clone()).or_default();
        *count = count.saturating_add(n);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ids_detector::detector::Mode;
    use ids_detector::parameters::{Parameters, Scorer, StreamMode, DEFAULT_SURPRISE};

    use super::*;
    use crate::backend::MonitorKind;
    use crate::policy::Policy;
    use crate::profile::{Profile, Snapshot};

    fn syms(names: &[&str]) -> Vec<Sym> {
        names
            .iter()
            .map(|n| Alphabet::system().sym_by_name(n).unwrap())
            .collect()
    }

    fn learner() -> Detector {
        Detector::new(Parameters {
            window: 3,
            epoch: 6,
            scorer: Scorer::Backoff {
                surprise: DEFAULT_SURPRISE,
            },
            stream: StreamMode::PerContainer,
            ..Parameters::default()
        })
    }

    fn feed(d: &mut Detector, calls: &[Sym]) -> Vec<ids_detector::detector::Verdict> {
        calls.iter().filter_map(|&s| d.observe(0, s)).collect()
    }

    fn profile(d: &Detector) -> Profile {
        Profile::from_detector("f", MonitorKind::SeccompNotify, Policy::default(), d, 1)
    }

    #[test]
    fn followers_round_trip_through_the_file_and_judge_as_before() {
        let cycle = syms(&["openat", "read", "lseek", "close"]);
        let mut d = learner();
        feed(&mut d, &cycle.repeat(10));
        let p = profile(&d);
        let after_read = &p.followers.after_calls["read"];
        assert_eq!(after_read, &NextCounts::from([("lseek".to_string(), 10)]));
        assert_eq!(
            p.followers.after_bags.len(),
            4,
            "every 3-call bag of the cycle"
        );
        let text = p.to_json();
        let loaded = Profile::parse(&text, Path::new("p.json")).unwrap();
        assert_eq!(loaded, p);
        let mut live = loaded.detector().unwrap();
        d.set_mode(Mode::Detect);
        d.restart();
        let odd = syms(&["openat", "read", "execve", "close", "openat", "read"]);
        for calls in [&cycle.repeat(2)[..6], &odd[..]] {
            let (a, b) = (feed(&mut d, calls), feed(&mut live, calls));
            assert_eq!(
                (a[0].surprise, a[0].anomalous),
                (b[0].surprise, b[0].anomalous)
            );
        }
        assert!(feed(&mut live, &odd)[0].anomalous);
    }

    #[test]
    fn merge_and_increments_add_the_counts() {
        let cycle = syms(&["openat", "read", "lseek", "close"]);
        let mut d = learner();
        feed(&mut d, &cycle.repeat(5));
        let first = profile(&d);
        let before = Snapshot::of(&d);
        feed(&mut d, &cycle.repeat(3));
        let increment = Profile::increment_from_detector(
            "f",
            MonitorKind::SeccompNotify,
            Policy::default(),
            &d,
            &before,
        );
        assert_eq!(increment.followers.after_calls["read"]["lseek"], 3);
        let merged = Profile::merge("f", &[first, increment]).unwrap();
        assert_eq!(
            merged.followers,
            profile(&d).followers,
            "the parts add up to the whole"
        );
    }

    #[test]
    fn bad_followers_are_refused_naming_the_field() {
        let mut d = learner();
        feed(
            &mut d,
            &syms(&["openat", "read", "lseek", "close"]).repeat(3),
        );
        let good = profile(&d);
        let field = |p: &Profile| p.validate().unwrap_err().field;
        let mut p = good.clone();
        p.followers
            .after_calls
            .get_mut("read")
            .unwrap()
            .insert("execve".into(), 1);
        assert_eq!(field(&p), "followers.after_calls.read.execve");
        let mut p = good.clone();
        p.followers.after_bags[0].next.insert("read".into(), 0);
        assert_eq!(field(&p), "followers.after_bags[0].next.read");
        let mut p = good.clone();
        p.followers.after_bags[1].bag = p.followers.after_bags[0].bag.clone();
        assert_eq!(field(&p), "followers.after_bags[1].bag");
        let mut p = good.clone();
        p.followers = FollowerRecord::default();
        assert_eq!(field(&p), "parameters.scorer");
        p.parameters.scorer = Scorer::Bosc;
        assert_eq!(p.validate(), Ok(()), "the paper's rule needs no followers");
    }
}
