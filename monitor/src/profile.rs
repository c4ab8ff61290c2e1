//! The profile: what a container's normal behaviour is and what to do when it is not, as a JSON file.
//!
//! A profile is written by training (offline from traces, or live) and read by the monitor when a
//! container starts. It is meant to be read, reviewed and diffed by people: syscalls are stored by
//! name, bags as `{"name": count}` objects, and every list is sorted. Loading validates everything;
//! an error names the file, the field and why. `profiles/README.md` documents the format.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::alphabet::{Alphabet, Sym};
use crate::bag::SortedBag;
use crate::detector::{Detector, TrainingRecord};
use crate::normal_db::{Insertion, NormalDb};
use crate::parameters::Parameters;
use crate::provenance::Provenance;

/// The format version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Larger profile files are refused rather than read into memory (wherever they come from: the
/// host store, a path given by the container's settings, the image).
pub const MAX_FILE_SIZE: u64 = 64 << 20;

/// A profile file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// What the profile describes (an image, a service).
    pub name: String,
    /// The monitor whose view of the syscalls the database reflects.
    pub monitor: Monitor,
    /// Window, epoch, threshold, streams, training settings.
    pub parameters: Parameters,
    /// What to do on an anomaly or an unseen syscall.
    pub policy: Policy,
    /// Every syscall seen in training, sorted by name.
    pub syscalls: Vec<String>,
    /// What training saw.
    pub training: TrainingStats,
    /// The normal database: each bag seen in training with its frequency, sorted by bag.
    pub normal_db: Vec<DbRecord>,
    /// Which workloads learnt it (live learning records it; absent in older profiles).
    #[serde(default, skip_serializing_if = "Provenance::is_empty")]
    pub provenance: Provenance,
}

/// The kind of monitor a profile was made with, and what it cannot see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    pub kind: MonitorKind,
    /// Syscalls this monitor never reports, sorted by name; they are absent from the database.
    pub invisible_syscalls: Vec<String>,
}

/// Where the syscalls come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MonitorKind {
    /// seccomp user notification: sees every syscall but those of
    /// [`crate::seccomp_merge::NEVER_NOTIFIED`] (`write`, which runc refuses to notify;
    /// `rt_sigreturn`, which crashes the task if notified; the Go runtime's scheduling calls, which
    /// can hang runc's init before the monitor has the notify fd).
    SeccompNotify,
    /// ptrace: sees every syscall.
    Ptrace,
    /// Recorded traces (strace, datasets): sees what the trace holds.
    Offline,
}

impl MonitorKind {
    /// The syscalls this monitor cannot see, sorted.
    pub fn invisible_syscalls(self) -> &'static [&'static str] {
        match self {
            MonitorKind::SeccompNotify => &crate::seccomp_merge::NEVER_NOTIFIED,
            MonitorKind::Ptrace | MonitorKind::Offline => &[],
        }
    }

    /// The [`Monitor`] record of this kind.
    pub fn monitor(self) -> Monitor {
        Monitor {
            kind: self,
            invisible_syscalls: self
                .invisible_syscalls()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// What to do about a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub on_anomaly: AnomalyAction,
    pub on_unseen_syscall: UnseenSyscallAction,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            on_anomaly: AnomalyAction::Log,
            on_unseen_syscall: UnseenSyscallAction::Log,
        }
    }
}

/// Action on an anomalous epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyAction {
    /// Write an event.
    Log,
    /// Write an event and kill the container.
    Kill,
}

/// Action on a syscall never seen in training, before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnseenSyscallAction {
    /// Let it run; only the bag statistics see it.
    Ignore,
    /// Let it run and write an event.
    Log,
    /// Kill the container.
    Kill,
    /// Fail the call with EPERM and write an event.
    Deny,
}

/// Training statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingStats {
    /// Traces (offline) or containers (live) trained on.
    pub traces: u64,
    pub calls: u64,
    pub windows: u64,
    pub epochs: u64,
    /// The training epoch at which the convergence rule was met, if it was.
    pub converged_at_epoch: Option<u64>,
    /// Similarity (fraction of known windows) of the last training epoch.
    pub last_similarity: Option<f64>,
}

/// One entry of the normal database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbRecord {
    /// Windows with this bag seen in training (> 0).
    pub frequency: u64,
    /// Syscall name → count in the window; the counts add up to the window size.
    pub bag: BTreeMap<String, u8>,
}

/// A field of a profile that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidProfile {
    /// Path of the field, such as `parameters.window` or `normal_db[3].bag.openat`.
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> InvalidProfile {
    InvalidProfile {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Reading, parsing, validating or writing a profile file failed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("failed to read profile {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("profile {}: line {line}, column {column}: {field}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    #[error("profile {}: {error}", path.display())]
    Invalid {
        path: PathBuf,
        error: InvalidProfile,
    },
    #[error("failed to write profile {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

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
        let mut syscalls: Vec<String> = detector
            .known_syscalls()
            .map(|s| alphabet.name(s).to_string())
            .collect();
        syscalls.sort();
        let normal_db = detector
            .database()
            .entries()
            .map(|(_, e)| DbRecord {
                frequency: e.frequency,
                bag: named_counts(&e.bag, alphabet),
            })
            .collect();
        let t = detector.training_record();
        let mut profile = Profile {
            format_version: FORMAT_VERSION,
            name: name.to_string(),
            monitor: monitor.monitor(),
            parameters: *detector.parameters(),
            policy,
            syscalls,
            training: TrainingStats {
                traces,
                calls: t.calls,
                windows: t.windows,
                epochs: t.epochs,
                converged_at_epoch: t.converged_at,
                last_similarity: t.last_similarity,
            },
            normal_db,
            provenance: Provenance::default(),
        };
        profile.normal_db.sort_by(|a, b| a.bag.cmp(&b.bag));
        profile
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
        Ok(Detector::with_database(self.parameters, db, &known, record))
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

    /// Checks that the profile is consistent: ranges, names, bag sizes, no duplicates.
    pub fn validate(&self) -> Result<(), InvalidProfile> {
        if self.format_version != FORMAT_VERSION {
            return Err(invalid(
                "format_version",
                format!(
                    "this ids-runc reads version {FORMAT_VERSION}, got {}",
                    self.format_version
                ),
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
            let mut size = 0usize;
            for (name, &count) in &record.bag {
                let field = format!("normal_db[{i}].bag.{name}");
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
                    format!("normal_db[{i}].bag"),
                    format!("counts add up to {size}, but the window is {window}"),
                ));
            }
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

    /// Parses and validates profile text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Profile, ProfileError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let profile: Profile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = match e.path().to_string() {
                f if f == "." => "(top level)".to_string(),
                f => f,
            };
            syntax_error(path, field, e.into_inner())
        })?;
        de.end()
            .map_err(|e| syntax_error(path, "(after the profile)".to_string(), e))?;
        profile.validate().map_err(|error| ProfileError::Invalid {
            path: path.to_path_buf(),
            error,
        })?;
        Ok(profile)
    }

    /// Reads and validates a profile file. It must be a regular file (opened without blocking, so
    /// a FIFO cannot hang the caller) of at most [`MAX_FILE_SIZE`] bytes.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let read_error = |source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(read_error)?;
        Profile::read_file(file, path)
    }

    /// Reads and validates a profile from a file already open (the caller chose how to open it:
    /// without following links, beneath a directory); `path` names it in errors. It must be a
    /// regular file of at most [`MAX_FILE_SIZE`] bytes.
    pub fn read_file(file: fs::File, path: &Path) -> Result<Profile, ProfileError> {
        let read_error = |source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = file.metadata().map_err(read_error)?;
        if !meta.is_file() {
            return Err(read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} bytes; profiles larger than {MAX_FILE_SIZE} bytes are refused",
                    meta.len()
                ),
            )));
        }
        let mut text = String::new();
        file.take(MAX_FILE_SIZE + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        if text.len() as u64 > MAX_FILE_SIZE {
            return Err(read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("grew past {MAX_FILE_SIZE} bytes while it was read"),
            )));
        }
        Profile::parse(&text, path)
    }

    /// The profile as pretty JSON.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a profile always serialises");
        text.push('\n');
        text
    }

    /// Writes the profile atomically: a temporary file in the same directory, flushed to disk, then
    /// renamed over `path`, and the directory flushed, so a reader sees the old or the new profile
    /// and never half of one, even across a crash.
    pub fn save(&self, path: &Path) -> Result<(), ProfileError> {
        crate::atomic_file::write_atomically(path, self.to_json().as_bytes()).map_err(|source| {
            ProfileError::Write {
                path: path.to_path_buf(),
                source,
            }
        })
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

    /// Merges profiles trained on the same parameters: union of the databases (frequencies added),
    /// of the syscalls, and sums of the training statistics. Name, policy and parameters come from
    /// the first profile.
    pub fn merge(name: &str, profiles: &[Profile]) -> Result<Profile, InvalidProfile> {
        let first = profiles
            .first()
            .ok_or_else(|| invalid("(profiles)", "nothing to merge"))?;
        let mut bags: BTreeMap<&BTreeMap<String, u8>, u64> = BTreeMap::new();
        let mut syscalls = BTreeSet::new();
        let mut training = TrainingStats::default();
        let mut all_converged = true;
        let mut provenance = Provenance::default();
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
            syscalls.extend(p.syscalls.iter().cloned());
            training.traces = training.traces.saturating_add(p.training.traces);
            training.calls = training.calls.saturating_add(p.training.calls);
            training.windows = training.windows.saturating_add(p.training.windows);
            training.epochs = training.epochs.saturating_add(p.training.epochs);
            all_converged &= p.training.converged_at_epoch.is_some();
            provenance.absorb(&p.provenance);
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
            provenance,
        };
        merged.validate()?;
        Ok(merged)
    }

    /// Frequency per bag, keyed by the bag's named counts.
    pub fn frequencies(&self) -> HashMap<&BTreeMap<String, u8>, u64> {
        self.normal_db
            .iter()
            .map(|r| (&r.bag, r.frequency))
            .collect()
    }
}

fn syntax_error(path: &Path, field: String, error: serde_json::Error) -> ProfileError {
    // serde_json appends " at line L column C"; the line and column get their own place.
    let text = error.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m)
        .to_string();
    ProfileError::Syntax {
        path: path.to_path_buf(),
        line: error.line(),
        column: error.column(),
        field,
        message,
    }
}

fn named_counts(bag: &SortedBag, alphabet: &Alphabet) -> BTreeMap<String, u8> {
    bag.counts()
        .map(|(s, c)| (alphabet.name(s).to_string(), c))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::Mode;
    use crate::parameters::{StreamMode, Threshold, Training};

    fn sym(name: &str) -> Sym {
        Alphabet::system().sym_by_name(name).unwrap()
    }

    fn trained() -> Detector {
        let mut d = Detector::new(Parameters {
            window: 3,
            epoch: 4,
            threshold: Threshold::Absolute(1),
            stream: StreamMode::PerThread,
            training: Training::default(),
        });
        for name in [
            "openat",
            "read",
            "read",
            "close",
            "openat",
            "read",
            "close",
            "exit_group",
        ] {
            d.observe(7, sym(name));
        }
        d
    }

    fn profile() -> Profile {
        Profile::from_detector(
            "test",
            MonitorKind::SeccompNotify,
            Policy::default(),
            &trained(),
            1,
        )
    }

    #[test]
    fn profile_reflects_the_detector() {
        let p = profile();
        assert_eq!(p.syscalls, ["close", "exit_group", "openat", "read"]);
        assert_eq!(
            p.monitor.invisible_syscalls,
            crate::seccomp_merge::NEVER_NOTIFIED
        );
        assert_eq!(p.training.calls, 8);
        assert_eq!(p.training.windows, 6);
        assert_eq!(p.training.epochs, 2);
        let total: u64 = p.normal_db.iter().map(|r| r.frequency).sum();
        assert_eq!(total, 6);
        assert!(
            p.normal_db.windows(2).all(|w| w[0].bag < w[1].bag),
            "sorted"
        );
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let p = profile();
        p.save(&path).unwrap();
        let loaded = Profile::load(&path).unwrap();
        assert_eq!(loaded, p);
        // Saving again replaces the file and leaves no temporary file behind.
        loaded.save(&path).unwrap();
        let files: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        assert_eq!(fs::read_to_string(&path).unwrap(), p.to_json());
    }

    #[test]
    fn detector_from_a_profile_knows_what_was_learnt() {
        let original = trained();
        let mut d = profile().detector().unwrap();
        assert_eq!(d.mode(), Mode::Detect);
        assert_eq!(d.counters().db_size, original.counters().db_size);
        assert!(d.is_known(sym("openat")));
        assert!(!d.is_known(sym("execve")));
        for (_, e) in original.database().entries() {
            assert_eq!(d.database().frequency(e.bag.id()), e.frequency);
        }
        let calls = ["openat", "read", "close", "getpid"];
        let verdict = calls
            .iter()
            .filter_map(|n| d.observe(1, sym(n)))
            .next()
            .unwrap();
        assert_eq!(verdict.windows, 2);
        assert_eq!(
            verdict.mismatches, 1,
            "only {{read, close, getpid}} is unknown"
        );
    }

    #[test]
    fn continuous_training_keeps_the_profile_consistent() {
        let mut d = profile().detector().unwrap();
        d.set_continuous_training(true);
        // One new bag (with a new syscall) in an epoch under the threshold gets merged.
        for name in ["openat", "read", "read", "getpid"] {
            d.observe(1, sym(name));
        }
        assert_eq!(d.counters().merged_bags, 1);
        let p = Profile::from_detector("t", MonitorKind::SeccompNotify, Policy::default(), &d, 1);
        assert_eq!(p.validate(), Ok(()));
        assert!(p.syscalls.contains(&"getpid".to_string()));
    }

    fn error_of(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v = serde_json::to_value(profile()).unwrap();
        edit(&mut v);
        let text = serde_json::to_string_pretty(&v).unwrap();
        Profile::parse(&text, Path::new("/x/y.json"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn validation_errors_name_the_file_and_the_field() {
        let e = error_of(|v| v["parameters"]["window"] = 0.into());
        assert_eq!(
            e,
            "profile /x/y.json: parameters.window: must be between 1 and 64, got 0"
        );
        let e = error_of(|v| v["parameters"]["threshold"] = serde_json::json!({"ratio": 2.0}));
        assert_eq!(
            e,
            "profile /x/y.json: parameters.threshold.ratio: must be in [0, 1), got 2"
        );
        let e = error_of(|v| v["normal_db"][0]["frequency"] = 0.into());
        assert_eq!(
            e,
            "profile /x/y.json: normal_db[0].frequency: must be at least 1"
        );
        let e = error_of(|v| v["normal_db"][1]["bag"]["nosuchcall"] = 1.into());
        assert_eq!(
            e,
            "profile /x/y.json: normal_db[1].bag.nosuchcall: syscall is not in `syscalls`"
        );
        let e = error_of(|v| v["normal_db"][0]["bag"] = serde_json::json!({"read": 2}));
        assert_eq!(
            e,
            "profile /x/y.json: normal_db[0].bag: counts add up to 2, but the window is 3"
        );
        let e = error_of(|v| v["syscalls"][0] = "zzz_unknown".into());
        assert_eq!(
            e,
            "profile /x/y.json: syscalls[0]: unknown syscall \"zzz_unknown\""
        );
        let e = error_of(|v| v["syscalls"] = serde_json::json!(["read", "close"]));
        assert!(
            e.starts_with("profile /x/y.json: syscalls[1]: names must be sorted"),
            "{e}"
        );
        let e = error_of(|v| v["monitor"]["invisible_syscalls"] = serde_json::json!(["write"]));
        assert!(
            e.starts_with("profile /x/y.json: monitor.invisible_syscalls: "),
            "{e}"
        );
        let e = error_of(|v| v["format_version"] = 2.into());
        assert_eq!(
            e,
            "profile /x/y.json: format_version: this ids-runc reads version 1, got 2"
        );
        let e = error_of(|v| {
            let first = v["normal_db"][0].clone();
            v["normal_db"].as_array_mut().unwrap().push(first);
        });
        assert!(
            e.contains("normal_db[4].bag: bags must be sorted and unique"),
            "{e}"
        );
    }

    #[test]
    fn format_errors_name_line_column_and_field() {
        let e = error_of(|v| v["parameters"]["stream"] = "per-process".into());
        assert!(e.starts_with("profile /x/y.json: line "), "{e}");
        assert!(
            e.contains(": parameters.stream: unknown variant `per-process`"),
            "{e}"
        );
        let e = error_of(|v| v["policy"]["on_error"] = "log".into());
        assert!(
            e.contains(": policy.on_error: unknown field `on_error`"),
            "{e}"
        );
        let err = Profile::parse(
            "{\n  \"format_version\": 1,\n  \"name\": \n}",
            Path::new("p.json"),
        )
        .unwrap_err();
        match err {
            ProfileError::Syntax { line, column, .. } => assert_eq!((line, column), (4, 1)),
            other => panic!("expected a syntax error, got {other}"),
        }
        let missing = Profile::load(Path::new("/nonexistent/p.json"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("failed to read profile /nonexistent/p.json: "),
            "{missing}"
        );
    }

    #[test]
    fn the_documented_example_is_a_valid_profile() {
        let readme = include_str!("../../profiles/README.md");
        let start = readme.find("```json\n").expect("README has a JSON example") + 8;
        let end = start + readme[start..].find("```").unwrap();
        let p = Profile::parse(&readme[start..end], Path::new("profiles/README.md")).unwrap();
        assert_eq!(p.normal_db.len(), 2);
        assert_eq!(p.policy.on_unseen_syscall, UnseenSyscallAction::Deny);
    }

    #[test]
    fn merge_adds_frequencies_and_unions_syscalls() {
        let a = profile();
        let mut d = Detector::new(a.parameters);
        for name in ["openat", "read", "close", "getpid"] {
            d.observe(1, sym(name));
        }
        let b = Profile::from_detector("b", MonitorKind::SeccompNotify, Policy::default(), &d, 1);
        let m = Profile::merge("m", &[a.clone(), b.clone()]).unwrap();
        assert_eq!(
            m.syscalls,
            ["close", "exit_group", "getpid", "openat", "read"]
        );
        assert_eq!(m.training.traces, 2);
        let total: u64 = m.normal_db.iter().map(|r| r.frequency).sum();
        assert_eq!(total, a.training.windows + b.training.windows);
        let mut bad = b;
        bad.parameters.window = 4;
        bad.parameters.epoch = 8;
        let e = Profile::merge("m", &[a, bad]).unwrap_err();
        assert_eq!(e.field, "(profile 1).parameters.window");
    }

    #[test]
    fn load_refuses_what_is_not_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        let file = fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_SIZE + 1).unwrap();
        let err = Profile::load(&big).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");

        let fifo = dir.path().join("fifo.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = Profile::load(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");

        let err = Profile::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");

        let ok = dir.path().join("ok.json");
        profile().save(&ok).unwrap();
        assert_eq!(Profile::load(&ok).unwrap(), profile());
    }
}
