//! Joining profiles trained on the same parameters into one.

use std::collections::{BTreeMap, BTreeSet};

use super::error::invalid;
use super::{DbRecord, InvalidProfile, Profile, TrainingStats, FORMAT_VERSION};

impl Profile {
    /// Merges profiles trained on the same parameters: union of the databases (frequencies added),
    /// of the syscalls and of the resources, and sums of the training statistics. Name, policy and
    /// parameters come from the first profile. Resources are kept only if every profile learnt
    /// them: a part that learnt none says nothing of what its runs touched, and judging without it
    /// would flag what it did.
    pub fn merge(name: &str, profiles: &[Profile]) -> Result<Profile, InvalidProfile> {
        let first = profiles
            .first()
            .ok_or_else(|| invalid("(profiles)", "nothing to merge"))?;
        let mut bags: BTreeMap<&BTreeMap<String, u8>, u64> = BTreeMap::new();
        let mut syscalls = BTreeSet::new();
        let mut training = TrainingStats::default();
        let mut all_converged = true;
        let mut provenance = super::provenance::Provenance::default();
        let mut resources = Some(crate::resource::ResourceSet::default());
        let mut followers = super::FollowerRecord::default();
        for (i, p) in profiles.iter().enumerate() {
            if p.parameters.window != first.parameters.window {
                return Err(invalid(
                    format!("(profile {i}).parameters.window"),
                    format!(
                        "is {}, but the first profile's is {}; bags of different sizes cannot merge",
                        p.parameters.window, first.parameters.window
                    ),
                ));
            }
            if p.monitor != first.monitor {
                return Err(invalid(
                    format!("(profile {i}).monitor"),
                    "differs from the first profile's; their databases see different syscalls",
                ));
            }
            // Counts saturate: a profile is input, and two of them may add up past u64::MAX.
            for r in &p.normal_db {
                let f = bags.entry(&r.bag).or_default();
                *f = f.saturating_add(r.frequency);
            }
            followers.absorb(&p.followers);
            syscalls.extend(p.syscalls.iter().cloned());
            training.traces = training.traces.saturating_add(p.training.traces);
            training.calls = training.calls.saturating_add(p.training.calls);
            training.windows = training.windows.saturating_add(p.training.windows);
            training.epochs = training.epochs.saturating_add(p.training.epochs);
            all_converged &= p.training.converged_at_epoch.is_some();
            provenance.absorb(&p.provenance);
            resources = match (resources, &p.resources) {
                (Some(mut all), Some(these)) => {
                    all.absorb(these);
                    Some(all)
                }
                _ => None,
            };
        }
        // A merged database converged only if every part did; the epoch number is the total.
        training.converged_at_epoch = all_converged.then_some(training.epochs);
        let merged = Profile {
            format_version: FORMAT_VERSION,
            name: name.to_string(),
            monitor: first.monitor.clone(),
            parameters: first.parameters,
            policy: first.policy,
            syscalls: syscalls.into_iter().collect(),
            training,
            normal_db: bags
                .into_iter()
                .map(|(bag, frequency)| DbRecord {
                    frequency,
                    bag: bag.clone(),
                })
                .collect(),
            followers,
            provenance,
            resources,
        };
        merged.validate()?;
        Ok(merged)
    }
}
