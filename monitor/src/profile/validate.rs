//! The checks every profile passes before it is used: ranges, names, bag sizes, order.

use std::collections::{BTreeMap, BTreeSet};

use ids_detector::alphabet::Alphabet;
use ids_detector::parameters::Scorer;

use super::error::invalid;
use super::{InvalidProfile, Profile, FORMAT_VERSION, OLDEST_FORMAT_VERSION};

impl Profile {
    /// Checks that the profile is consistent: ranges, names, bag sizes, no duplicates.
    pub fn validate(&self) -> Result<(), InvalidProfile> {
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&self.format_version) {
            return Err(invalid(
                "format_version",
                format!(
                    "this ids-runc reads versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}, got {}",
                    self.format_version
                ),
            ));
        }
        if self.format_version < 2 && self.resources.is_some() {
            return Err(invalid(
                "resources",
                "format version 1 has no resources; write version 2",
            ));
        }
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        self.parameters
            .check()
            .map_err(|e| invalid(format!("parameters.{}", e.field), e.reason))?;
        let alphabet = Alphabet::system();
        let invisible = sorted_known_names(
            "monitor.invisible_syscalls",
            &self.monitor.invisible_syscalls,
            alphabet,
        )?;
        for needed in self.monitor.kind.invisible_syscalls() {
            if !invisible.contains(needed) {
                return Err(invalid(
                    "monitor.invisible_syscalls",
                    format!(
                        "a {:?} monitor cannot see {needed}; it must be listed",
                        self.monitor.kind
                    ),
                ));
            }
        }
        let syscalls = sorted_known_names("syscalls", &self.syscalls, alphabet)?;
        if let Some(name) = syscalls.iter().find(|n| invisible.contains(*n)) {
            return Err(invalid(
                "syscalls",
                format!("{name} is listed but the monitor cannot see it"),
            ));
        }
        let window = self.parameters.window;
        let mut previous: Option<&BTreeMap<String, u8>> = None;
        for (i, record) in self.normal_db.iter().enumerate() {
            if record.frequency == 0 {
                return Err(invalid(
                    format!("normal_db[{i}].frequency"),
                    "must be at least 1",
                ));
            }
            validate_bag(
                &format!("normal_db[{i}].bag"),
                &record.bag,
                &syscalls,
                window,
            )?;
            if let Some(prev) = previous {
                if prev >= &record.bag {
                    return Err(invalid(
                        format!("normal_db[{i}].bag"),
                        "bags must be sorted and unique (this one repeats or precedes the previous)",
                    ));
                }
            }
            previous = Some(&record.bag);
        }
        self.followers.validate(&syscalls, window)?;
        if matches!(self.parameters.scorer, Scorer::Backoff { .. })
            && self.followers.is_empty()
            && !self.normal_db.is_empty()
        {
            return Err(invalid(
                "parameters.scorer",
                "is backoff, but the profile has no followers to judge by: train it with the \
                 backoff scorer",
            ));
        }
        let t = &self.training;
        if t.windows > t.calls {
            return Err(invalid(
                "training.windows",
                format!(
                    "cannot exceed training.calls ({}), got {}",
                    t.calls, t.windows
                ),
            ));
        }
        if let Some(s) = t.last_similarity {
            if !(0.0..=1.0).contains(&s) {
                return Err(invalid(
                    "training.last_similarity",
                    format!("must be in [0, 1], got {s}"),
                ));
            }
        }
        Ok(())
    }
}

fn sorted_known_names<'a>(
    field: &str,
    names: &'a [String],
    alphabet: &Alphabet,
) -> Result<BTreeSet<&'a str>, InvalidProfile> {
    let mut set = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        if alphabet.sym_by_name(name).is_none() {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!("unknown syscall {name:?}"),
            ));
        }
        if set.last().is_some_and(|last: &&str| *last >= name.as_str()) {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!("names must be sorted and unique; {name:?} is out of order or repeated"),
            ));
        }
        set.insert(name.as_str());
    }
    Ok(set)
}

/// A bag as a profile writes it (`field` names it in errors): each count at least 1, each
/// syscall one of the profile's `syscalls`, the counts adding up to the window.
pub(super) fn validate_bag(
    field: &str,
    bag: &BTreeMap<String, u8>,
    syscalls: &BTreeSet<&str>,
    window: usize,
) -> Result<(), InvalidProfile> {
    let mut size = 0usize;
    for (name, &count) in bag {
        let field = format!("{field}.{name}");
        if count == 0 {
            return Err(invalid(field, "count must be at least 1"));
        }
        if !syscalls.contains(name.as_str()) {
            return Err(invalid(field, "syscall is not in `syscalls`"));
        }
        size += usize::from(count);
    }
    if size != window {
        return Err(invalid(
            field,
            format!("counts add up to {size}, but the window is {window}"),
        ));
    }
    Ok(())
}
