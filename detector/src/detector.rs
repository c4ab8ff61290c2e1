//! The bag-of-system-calls detector (Abed, Clancy & Levy, 2015): where an anomaly is decided.
//!
//! Every call enters its stream's window; once the window is full its bag is looked up in the normal
//! database. In learning mode unknown bags are added; in detection mode they are counted, and at the
//! end of each epoch of E calls the count is compared with the threshold and a [`Verdict`] returned.
//! A detection epoch also ends T milliseconds after its first call: the detector has no clock of
//! its own, so whoever feeds it calls [`Detector::tick`] with the time now and then (a monitor's
//! loop does so every 100 ms whether calls come or not), and a call is taken to be made at the last
//! time it was given. The detector is pure: no I/O, no syscalls, no locks. In detection mode
//! `observe` and `tick` do not allocate, except the first time a thread is seen (its window) and
//! when an epoch's new bags are merged (continuous training).

use std::collections::HashMap;

use crate::alphabet::{Alphabet, Sym};
use crate::bag::{BagId, SlidingBag, SortedBag};
use crate::epoch::{Convergence, Epoch, EpochEnd};
use crate::fast_hash::FastHash;
use crate::followers::{Before, Followers};
use crate::normal_db::{Insertion, NormalDb};
use crate::parameters::{Parameters, Scorer, StreamMode, SURPRISING_CALL};
use crate::window::{Window, MAX_WINDOW};

/// Unknown windows a verdict carries, at most: those with the most calls never seen in training,
/// the earliest first among equals. An attack's windows then outrank the ordinary noise of the same
/// epoch (a shell forking in another order than in training) in what an alarm shows.
pub const MAX_REPORTED_WINDOWS: usize = 4;
/// Calls of unknown windows held for continuous training per epoch, at most (2 MiB). A profile may
/// ask for epochs of a million 64-call windows; windows past this are judged but not merged.
pub const MAX_PENDING_CALLS: usize = 1 << 20;

/// What the detector does with a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Add every bag to the normal database.
    Learn,
    /// Count bags that are not in the database and judge each epoch.
    Detect,
}

/// The calls of one window whose bag was not in the database, oldest first.
#[derive(Debug, Clone, Copy)]
pub struct UnknownWindow {
    stream: u32,
    len: u8,
    /// Calls of the window never seen in training.
    novelty: u8,
    /// Its rank among the epoch's unknown windows (0 for the first).
    nth: u32,
    calls: [Sym; MAX_WINDOW],
}

impl UnknownWindow {
    fn capture(stream: u32, window: &Window, novelty: u8, nth: u32) -> UnknownWindow {
        let mut w = UnknownWindow {
            stream,
            len: 0,
            novelty,
            nth,
            calls: [Sym(0); MAX_WINDOW],
        };
        for (slot, sym) in w.calls.iter_mut().zip(window.calls()) {
            *slot = sym;
            w.len += 1;
        }
        w
    }

    /// Where a verdict names it: the most novel first, then in the order they came.
    fn rank(&self) -> (std::cmp::Reverse<u8>, u32) {
        (std::cmp::Reverse(self.novelty), self.nth)
    }

    /// The stream given with the call that completed the window (its thread, in either mode).
    pub fn stream(&self) -> u32 {
        self.stream
    }

    /// The calls, oldest first.
    pub fn calls(&self) -> &[Sym] {
        &self.calls[..usize::from(self.len)]
    }

    /// The window's bag.
    pub fn bag(&self) -> SortedBag {
        SortedBag::from_calls(self.calls().iter().copied())
    }
}

/// The judgement of one epoch.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// Epoch number (0 for the first epoch since the detector was built).
    pub epoch: u64,
    /// The mismatches passed the threshold.
    pub anomalous: bool,
    /// Windows of the epoch whose bag was not in the database.
    pub mismatches: u32,
    /// Windows completed in the epoch.
    pub windows: u32,
    /// The mismatch count the epoch could reach without being anomalous; with the back-off
    /// scorer, the surprise it could reach.
    pub limit: f64,
    /// With the back-off scorer, the epoch's surprise: the sum over its windows of their newest
    /// call's surprisal, in nats (anomalous above `limit`, the mean bound times the windows). Its
    /// mismatches are then its surprising calls (see [`SURPRISING_CALL`]).
    pub surprise: Option<f64>,
    unknown: [Option<UnknownWindow>; MAX_REPORTED_WINDOWS],
}

impl Verdict {
    /// A verdict another judge made on the same rules (the in-kernel monitor): the epoch's counts,
    /// its limit and its first unknown windows (at most [`MAX_REPORTED_WINDOWS`] are kept), each
    /// with its stream and its calls, oldest first.
    pub fn judged(
        epoch: u64,
        windows: u32,
        mismatches: u32,
        limit: f64,
        anomalous: bool,
        unknown: &[(u32, &[Sym])],
    ) -> Verdict {
        let mut kept = [None; MAX_REPORTED_WINDOWS];
        for (slot, (stream, calls)) in kept.iter_mut().zip(unknown) {
            let mut w = UnknownWindow {
                stream: *stream,
                len: 0,
                novelty: 0,
                nth: 0,
                calls: [Sym(0); MAX_WINDOW],
            };
            for (to, from) in w.calls.iter_mut().zip(calls.iter()) {
                *to = *from;
                w.len += 1;
            }
            *slot = Some(w);
        }
        Verdict {
            epoch,
            anomalous,
            mismatches,
            windows,
            limit,
            surprise: None,
            unknown: kept,
        }
    }

    /// A few unknown windows of the epoch, the most novel first (see [`MAX_REPORTED_WINDOWS`]).
    pub fn unknown_windows(&self) -> impl Iterator<Item = &UnknownWindow> {
        self.unknown.iter().flatten()
    }
}

/// Counters for inspection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls observed, in any mode.
    pub calls: u64,
    /// Complete windows.
    pub windows: u64,
    /// Windows whose bag was unknown (in detection).
    pub mismatches: u64,
    /// Epochs finished.
    pub epochs: u64,
    /// Epochs judged anomalous.
    pub anomalies: u64,
    /// Bags added by continuous training.
    pub merged_bags: u64,
    /// New bags not added because the database was full (see [`Detector::set_database_limit`]).
    pub rejected_bags: u64,
    /// Distinct bags in the normal database.
    pub db_size: usize,
    /// Mismatches so far in the current epoch.
    pub epoch_mismatches: u32,
    /// Threads with a window (per-thread streams).
    pub streams: usize,
}

/// What training saw, kept in the profile.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrainingRecord {
    /// Calls learnt.
    pub calls: u64,
    /// Windows learnt.
    pub windows: u64,
    /// Training epochs finished.
    pub epochs: u64,
    /// The epoch at which the convergence rule was met.
    pub converged_at: Option<u64>,
    /// Similarity of the last training epoch.
    pub last_similarity: Option<f64>,
}

/// Bags first seen in the current detection epoch, held until the epoch is judged (continuous
/// training merges them only if it is not anomalous). Preallocated for a full epoch.
#[derive(Debug, Clone, Default)]
struct Pending {
    calls: Vec<Sym>,
    window: usize,
}

impl Pending {
    fn with_capacity(epoch: u32, window: usize) -> Pending {
        Pending {
            calls: Vec::with_capacity((epoch as usize * window).min(MAX_PENDING_CALLS)),
            window,
        }
    }

    #[inline]
    fn push(&mut self, window: &Window) {
        if self.calls.len() + self.window <= self.calls.capacity() {
            self.calls.extend(window.calls());
        }
    }

    fn bags(&self) -> impl Iterator<Item = SortedBag> + '_ {
        self.calls
            .chunks_exact(self.window)
            .map(|c| SortedBag::from_calls(c.iter().copied()))
    }
}

/// The bag-of-system-calls detector.
#[derive(Debug, Clone)]
pub struct Detector {
    params: Parameters,
    mode: Mode,
    alphabet: &'static Alphabet,
    db: NormalDb,
    /// What followed each context in training, for the back-off scorer (learnt only with it).
    followers: Followers,
    /// The surprise of the epoch in progress (back-off scorer), nats.
    epoch_surprise: f64,
    /// The surprise of every window judged so far (back-off scorer), nats.
    surprise_total: f64,
    /// Bags the database may hold; learning adds no new bag past it.
    db_limit: usize,
    /// Indexed by symbol: the syscall was seen in training.
    known: Box<[bool]>,
    container: SlidingBag,
    threads: HashMap<u32, SlidingBag, FastHash>,
    epoch: Epoch,
    convergence: Convergence,
    pending: Pending,
    unknown: [Option<UnknownWindow>; MAX_REPORTED_WINDOWS],
    counters: Counters,
    training: TrainingRecord,
    /// The last time [`Detector::tick`] was given (milliseconds, the caller's origin).
    clock_ms: u64,
}

impl Detector {
    /// A detector with an empty database, in learning mode. The parameters must pass
    /// [`Parameters::check`].
    pub fn new(params: Parameters) -> Detector {
        Detector::with_database(params, NormalDb::new(), &[], TrainingRecord::default())
    }

    /// A detector with a database learnt earlier (from a profile), in detection mode.
    pub fn with_database(
        params: Parameters,
        db: NormalDb,
        known: &[Sym],
        training: TrainingRecord,
    ) -> Detector {
        assert_eq!(params.check(), Ok(()), "detector parameters out of range");
        let alphabet = Alphabet::system();
        let mut known_table = vec![false; alphabet.len()].into_boxed_slice();
        for sym in known {
            known_table[sym.index()] = true;
        }
        let mode = if db.is_empty() {
            Mode::Learn
        } else {
            Mode::Detect
        };
        let mut convergence = Convergence::new(
            params.training.convergence_similarity,
            params.training.convergence_epochs,
        );
        if let Some(at) = training.converged_at {
            convergence.mark_converged(at);
        }
        let pending = if params.training.continuous {
            Pending::with_capacity(params.epoch, params.window)
        } else {
            Pending::default()
        };
        Detector {
            params,
            mode,
            alphabet,
            container: SlidingBag::new(params.window, alphabet.len()),
            threads: HashMap::default(),
            db,
            followers: Followers::new(alphabet.len()),
            epoch_surprise: 0.0,
            surprise_total: 0.0,
            db_limit: usize::MAX,
            known: known_table,
            epoch: Epoch::new(params.epoch),
            convergence,
            pending,
            unknown: [None; MAX_REPORTED_WINDOWS],
            counters: Counters::default(),
            training,
            clock_ms: 0,
        }
    }

    /// The detector with the back-off scorer's model learnt earlier (from a profile).
    pub fn with_followers(mut self, followers: Followers) -> Detector {
        self.followers = followers;
        self
    }

    /// The surprise of every window judged since the detector was built, nats (0 with the
    /// paper's rule): with [`Counters::windows`], a trace's mean surprisal.
    pub fn surprise_total(&self) -> f64 {
        self.surprise_total
    }

    /// What followed each context in training (empty unless the scorer is back-off).
    pub fn followers(&self) -> &Followers {
        &self.followers
    }

    /// Feeds one call of `stream` (the tid in per-thread mode; ignored in per-container mode).
    /// Returns the verdict when this call ends a detection epoch.
    #[inline]
    pub fn observe(&mut self, stream: u32, sym: Sym) -> Option<Verdict> {
        self.counters.calls += 1;
        let live = match self.params.stream {
            StreamMode::PerContainer => &mut self.container,
            StreamMode::PerThread => {
                let (window, symbols) = (self.params.window, self.alphabet.len());
                self.threads
                    .entry(stream)
                    .or_insert_with(|| SlidingBag::new(window, symbols))
            }
        };
        // The back-off scorer's context, before this call enters the window; the paper's rule
        // needs none.
        let before = match self.params.scorer {
            Scorer::Bosc => Before::default(),
            Scorer::Backoff { .. } => Before::next_in(live),
        };
        let id = live.push(sym);
        match self.mode {
            Mode::Learn => {
                self.known[sym.index()] = true;
                if let Scorer::Backoff { .. } = self.params.scorer {
                    let keep_bag = before.bag.is_some_and(|b| self.db.contains(b));
                    self.followers.learn(before, sym, keep_bag);
                }
                self.training.calls = self.training.calls.saturating_add(1);
                if id.is_some() {
                    self.training.windows = self.training.windows.saturating_add(1);
                    self.counters.windows += 1;
                    let new = match self.db.learn(live, self.db_limit) {
                        Insertion::New => true,
                        Insertion::Full => {
                            self.counters.rejected_bags += 1;
                            true
                        }
                        Insertion::Existing | Insertion::Collision => false,
                    };
                    self.epoch.window(new);
                }
                let end = self.epoch.call(self.clock_ms)?;
                self.end_training_epoch(end);
                None
            }
            Mode::Detect => {
                if let Some(id) = id {
                    self.counters.windows += 1;
                    let (scorer, db) = (self.params.scorer, &self.db);
                    let judged = judge_window(scorer, db, &self.followers, id, before, sym);
                    let mismatch = judged.mismatch;
                    self.epoch_surprise += judged.surprise;
                    self.surprise_total += judged.surprise;
                    self.epoch.window(mismatch);
                    if mismatch {
                        self.counters.mismatches += 1;
                        let window = live.window();
                        let novelty = window.calls().filter(|s| !self.known[s.index()]).count();
                        let nth = self.epoch.mismatches() - 1;
                        keep_unknown(&mut self.unknown, stream, window, novelty, nth);
                        if self.params.training.continuous {
                            self.pending.push(live.window());
                        }
                    }
                }
                let end = self.epoch.call(self.clock_ms)?;
                Some(self.judge(end))
            }
        }
    }

    /// How the window `id`, completed by `sym` after `before`, is judged under the profile's
    /// scorer.
    #[inline]
    pub fn judge_window(&self, id: BagId, before: Before, sym: Sym) -> WindowJudgement {
        let scorer = self.params.scorer;
        judge_window(scorer, &self.db, &self.followers, id, before, sym)
    }

    /// Whether an epoch of these counts passes the threshold (the paper's, on mismatches; the
    /// back-off scorer's, on surprise).
    fn exceeds(&self, mismatches: u32, surprise: f64, windows: u32) -> bool {
        match self.params.scorer {
            Scorer::Bosc => self.params.threshold.is_exceeded(mismatches, windows),
            Scorer::Backoff { .. } => surprise > self.limit(windows),
        }
    }

    /// What an epoch of `windows` windows may reach: mismatches, or surprise (nats).
    fn limit(&self, windows: u32) -> f64 {
        match self.params.scorer {
            Scorer::Bosc => self.params.threshold.limit(windows),
            Scorer::Backoff { surprise } => surprise * f64::from(windows),
        }
    }

    /// Tells the detector the time (milliseconds, from any origin, never going back). In detection,
    /// ends the epoch in progress if it began T ([`Parameters::epoch_ms`]) or more before and has
    /// enough windows to be judged (see [`Parameters::min_windows`]), and returns its verdict;
    /// otherwise the epoch goes on. Training epochs are ended by calls only.
    pub fn tick(&mut self, now_ms: u64) -> Option<Verdict> {
        self.clock_ms = now_ms;
        let bound = u64::from(self.params.epoch_ms);
        if self.mode != Mode::Detect || bound == 0 || self.epoch.age_ms(now_ms) < bound {
            return None;
        }
        let (windows, mismatches) = (self.epoch.windows(), self.epoch.mismatches());
        let min = self.params.min_windows;
        let judgeable = windows >= min || self.exceeds(mismatches, self.epoch_surprise, min);
        if !judgeable {
            return None;
        }
        let end = self.epoch.end();
        Some(self.judge(end))
    }

    fn end_training_epoch(&mut self, end: EpochEnd) {
        self.counters.epochs += 1;
        self.training.epochs = self.training.epochs.saturating_add(1);
        self.convergence.epoch_end(end);
        self.training.converged_at = self.convergence.converged_at();
        self.training.last_similarity = self.convergence.last_similarity();
    }

    fn judge(&mut self, end: EpochEnd) -> Verdict {
        self.counters.epochs += 1;
        let surprise = std::mem::take(&mut self.epoch_surprise);
        let anomalous = self.exceeds(end.mismatches, surprise, end.windows);
        self.counters.anomalies += u64::from(anomalous);
        if self.params.training.continuous {
            if !anomalous {
                // A merged bag's syscalls become known too: the database and the set of
                // trained syscalls must agree (a profile saved from this detector is checked
                // for that), and the unseen-syscall policy should stop firing on them.
                for &sym in &self.pending.calls {
                    self.known[sym.index()] = true;
                }
                for bag in self.pending.bags() {
                    if self.db.len() >= self.db_limit && !self.db.contains(bag.id()) {
                        self.counters.rejected_bags += 1;
                    } else if self.db.insert(bag, 1) == Insertion::New {
                        self.counters.merged_bags += 1;
                    }
                }
            }
            self.pending.calls.clear();
        }
        let mut unknown = std::mem::take(&mut self.unknown);
        // The empty slots last.
        unknown.sort_unstable_by_key(|w| (w.is_none(), w.map(|w| w.rank())));
        Verdict {
            epoch: end.index,
            anomalous,
            mismatches: end.mismatches,
            windows: end.windows,
            limit: self.limit(end.windows),
            surprise: match self.params.scorer {
                Scorer::Bosc => None,
                Scorer::Backoff { .. } => Some(surprise),
            },
            unknown,
        }
    }

    /// Adds a bag another learner found new (the in-kernel monitor sends each once), with the
    /// windows it was seen in; its syscalls become known. Counts as learning, as
    /// [`Detector::observe`] does.
    pub fn learn_bag(&mut self, bag: SortedBag, frequency: u64) -> Insertion {
        for &sym in bag.calls() {
            self.known[sym.index()] = true;
        }
        if self.db.len() >= self.db_limit && !self.db.contains(bag.id()) {
            self.counters.rejected_bags += 1;
            return Insertion::Full;
        }
        let inserted = self.db.insert(bag, frequency);
        self.counters.merged_bags += u64::from(inserted == Insertion::New);
        inserted
    }

    /// Counts calls and windows another learner went through (the in-kernel monitor counts them
    /// itself), as [`Detector::observe`] counts its own.
    pub fn learnt_elsewhere(&mut self, calls: u64, windows: u64) {
        self.training.calls = self.training.calls.saturating_add(calls);
        self.training.windows = self.training.windows.saturating_add(windows);
        self.counters.calls += calls;
        self.counters.windows += windows;
    }

    /// A training epoch another learner finished (its mismatches: the bags new to the database),
    /// for the convergence rule, as if [`Detector::observe`] had ended it.
    pub fn training_epoch(&mut self, end: EpochEnd) {
        self.end_training_epoch(end);
    }

    /// The unknown window of the epoch in progress that its verdict would name first, if any.
    pub fn leading_unknown(&self) -> Option<&UnknownWindow> {
        self.unknown.iter().flatten().min_by_key(|w| w.rank())
    }

    /// Whether a syscall was ever seen in training; a backend may act on an unseen one before
    /// letting it run.
    #[inline]
    pub fn is_known(&self, sym: Sym) -> bool {
        self.known[sym.index()]
    }

    /// Drops the window of a thread that exited.
    pub fn forget_stream(&mut self, stream: u32) {
        self.threads.remove(&stream);
    }

    /// Forgets every thread's window; each starts filling again at its next call.
    pub fn reset_streams(&mut self) {
        self.threads.clear();
    }

    /// Drops every window and the epoch in progress (between offline traces): the next call starts
    /// a fresh stream and a fresh epoch.
    pub fn restart(&mut self) {
        self.threads.clear();
        self.container.reset();
        self.epoch.restart();
        self.epoch_surprise = 0.0;
        self.unknown = [None; MAX_REPORTED_WINDOWS];
        self.pending.calls.clear();
    }

    /// Switches between learning and detection. The epoch in progress starts over, so a verdict
    /// never mixes calls judged under two modes.
    pub fn set_mode(&mut self, mode: Mode) {
        if mode != self.mode {
            self.mode = mode;
            self.epoch.restart();
            self.epoch_surprise = 0.0;
            self.unknown = [None; MAX_REPORTED_WINDOWS];
            self.pending.calls.clear();
        }
    }

    /// Caps the normal database at `limit` bags. Past it, learning and continuous training still
    /// count the bags they know but add no new one ([`Counters::rejected_bags`] counts those), and
    /// detection goes on against what is there. A database loaded bigger than the limit keeps its
    /// bags.
    pub fn set_database_limit(&mut self, limit: usize) {
        self.db_limit = limit;
    }

    /// Bags the database may hold.
    pub fn database_limit(&self) -> usize {
        self.db_limit
    }

    /// Whether a new bag was turned away because the database was full.
    #[inline]
    pub fn database_full(&self) -> bool {
        self.counters.rejected_bags > 0
    }

    /// Turns continuous training (merging the new bags of non-anomalous epochs) on or off.
    pub fn set_continuous_training(&mut self, on: bool) {
        // It merges bags, not the back-off scorer's followers (so its parameters refuse it).
        let on = on && self.params.scorer.is_bosc();
        self.params.training.continuous = on;
        if on && self.pending.calls.capacity() == 0 {
            self.pending = Pending::with_capacity(self.params.epoch, self.params.window);
        }
        self.pending.calls.clear();
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether training met the convergence rule.
    pub fn converged(&self) -> bool {
        self.convergence.converged()
    }

    /// Counters for inspection.
    /// Threads with a window (per-thread streams).
    pub fn streams(&self) -> usize {
        self.threads.len()
    }

    pub fn counters(&self) -> Counters {
        Counters {
            db_size: self.db.len(),
            epoch_mismatches: self.epoch.mismatches(),
            streams: self.streams(),
            ..self.counters
        }
    }

    /// The parameters in force.
    pub fn parameters(&self) -> &Parameters {
        &self.params
    }

    /// The normal database.
    pub fn database(&self) -> &NormalDb {
        &self.db
    }

    /// The syscalls seen in training.
    pub fn known_syscalls(&self) -> impl Iterator<Item = Sym> + '_ {
        self.known
            .iter()
            .enumerate()
            .filter(|(_, k)| **k)
            .map(|(i, _)| Sym(u16::try_from(i).expect("symbols fit u16")))
    }

    /// What training saw.
    pub fn training_record(&self) -> TrainingRecord {
        self.training
    }

    /// Whether a bag is in the database (offline scoring).
    #[inline]
    pub fn knows_bag(&self, id: BagId) -> bool {
        self.db.contains(id)
    }
}

/// How one window was judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowJudgement {
    /// Its bag is unknown (the paper), or its newest call surprising (back-off).
    pub mismatch: bool,
    /// Its newest call's surprisal, nats (back-off; 0 with the paper's rule).
    pub surprise: f64,
}

/// [`Detector::judge_window`], on the parts of the detector it reads (so `observe` can ask it
/// while it holds a stream's window).
#[inline]
fn judge_window(
    scorer: Scorer,
    db: &NormalDb,
    followers: &Followers,
    id: BagId,
    before: Before,
    sym: Sym,
) -> WindowJudgement {
    match scorer {
        Scorer::Bosc => WindowJudgement {
            mismatch: !db.contains(id),
            surprise: 0.0,
        },
        Scorer::Backoff { .. } => {
            let surprise = followers.surprisal(before, sym);
            WindowJudgement {
                mismatch: surprise > SURPRISING_CALL,
                surprise,
            }
        }
    }
}

/// Keeps an unknown window among the reported ones if there is room, or if it has more calls never
/// seen in training than the least novel one kept (which it replaces; the latest among equals).
#[inline]
fn keep_unknown(
    kept: &mut [Option<UnknownWindow>; MAX_REPORTED_WINDOWS],
    stream: u32,
    window: &Window,
    novelty: usize,
    nth: u32,
) {
    let novelty = u8::try_from(novelty).unwrap_or(u8::MAX);
    let slot = match kept.iter().position(Option::is_none) {
        Some(free) => free,
        None => {
            let least = kept
                .iter()
                .enumerate()
                .filter_map(|(i, w)| w.map(|w| (w.novelty, std::cmp::Reverse(w.nth), i)))
                .min();
            match least {
                Some((n, _, i)) if n < novelty => i,
                _ => return,
            }
        }
    };
    kept[slot] = Some(UnknownWindow::capture(stream, window, novelty, nth));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parameters::{Threshold, Training};

    fn params(window: usize, epoch: u32, threshold: Threshold, stream: StreamMode) -> Parameters {
        Parameters {
            window,
            epoch,
            epoch_ms: 0,
            min_windows: 1,
            threshold,
            scorer: Scorer::Bosc,
            stream,
            training: Training {
                convergence_similarity: 0.99,
                convergence_epochs: 2,
                continuous: false,
            },
        }
    }

    #[test]
    fn the_backoff_scorer_judges_an_epochs_surprise_and_shows_its_surprising_calls() {
        let judge = |scorer| {
            let mut d = Detector::new(Parameters {
                scorer,
                ..params(3, 9, Threshold::Absolute(0), StreamMode::PerContainer)
            });
            feed(&mut d, 0, &[1, 2, 3, 4].repeat(25));
            d.set_mode(Mode::Detect);
            d.restart();
            let normal = feed(&mut d, 0, &[1, 2, 3, 4, 1, 2, 3, 4, 1]);
            // One call never seen, then the trained cycle again.
            let odd = feed(&mut d, 0, &[2, 3, 4, 9, 1, 2, 3, 4, 1]);
            (normal[0], odd[0], d)
        };
        let (normal, odd, _) = judge(Scorer::Bosc);
        assert_eq!((normal.mismatches, normal.anomalous), (0, false));
        assert_eq!(odd.mismatches, 3, "every window holding the 9 is unknown");
        let backoff = Scorer::Backoff {
            surprise: crate::parameters::DEFAULT_SURPRISE,
        };
        let (normal, odd, d) = judge(backoff);
        assert_eq!((normal.mismatches, normal.anomalous), (0, false));
        // Only the 9 surprises: after it, 1 is an ordinary call (backing off to no context) and
        // 2 always came after 1 (backing off to the call before).
        assert_eq!((odd.mismatches, odd.anomalous), (1, true));
        let (quiet, loud) = (normal.surprise.unwrap(), odd.surprise.unwrap());
        assert!(quiet < normal.limit && loud > odd.limit, "{quiet} {loud}");
        assert_eq!(odd.limit, 9.0 * crate::parameters::DEFAULT_SURPRISE);
        let calls: Vec<u16> = odd
            .unknown_windows()
            .next()
            .unwrap()
            .calls()
            .iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(
            calls,
            [3, 4, 9],
            "the verdict shows the window ending in the surprise"
        );
        let bag = SortedBag::from_calls([Sym(2), Sym(3), Sym(4)]).id();
        assert_eq!(d.followers().count_after_bag(bag, Sym(1)), 24);
        assert_eq!(d.followers().count_after_call(Sym(4), Sym(1)), 24);
        assert!(d.database().contains(bag));
    }

    fn feed(d: &mut Detector, stream: u32, calls: &[u16]) -> Vec<Verdict> {
        calls
            .iter()
            .filter_map(|&s| d.observe(stream, Sym(s)))
            .collect()
    }

    #[test]
    fn another_judges_verdicts_and_bags_read_as_the_detectors_own() {
        let v = Verdict::judged(3, 10, 2, 1.0, true, &[(7, &[Sym(1), Sym(2)][..])]);
        assert!(v.anomalous);
        let w: Vec<_> = v.unknown_windows().collect();
        assert_eq!(
            (w.len(), w[0].stream(), w[0].calls()),
            (1, 7, &[Sym(1), Sym(2)][..])
        );
        let mut d = Detector::new(params(2, 4, Threshold::Absolute(0), StreamMode::PerThread));
        let bag = SortedBag::from_calls([Sym(5), Sym(6)]);
        assert_eq!(d.learn_bag(bag.clone(), 3), Insertion::New);
        assert_eq!(d.learn_bag(bag.clone(), 1), Insertion::Existing);
        assert_eq!(d.database().frequency(bag.id()), 4);
        assert!(d.is_known(Sym(6)));
        d.learnt_elsewhere(100, 90);
        for index in 0..5 {
            d.training_epoch(EpochEnd {
                index,
                windows: 20,
                mismatches: 0,
            });
        }
        let t = d.training_record();
        assert_eq!((t.calls, t.windows, t.epochs), (100, 90, 5));
        assert!(d.converged());
    }

    #[test]
    fn learns_bags_then_flags_an_epoch_with_unknown_bags() {
        let mut d = Detector::new(params(
            3,
            6,
            Threshold::Absolute(1),
            StreamMode::PerContainer,
        ));
        assert_eq!(d.mode(), Mode::Learn);
        let normal = [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3];
        assert!(
            feed(&mut d, 0, &normal).is_empty(),
            "no verdict while learning"
        );
        // Bags {1,2,3} only (every window of a 3-cycle holds each call once).
        assert_eq!(d.counters().db_size, 1);
        assert!(d.is_known(Sym(2)));
        assert!(!d.is_known(Sym(4)));

        d.set_mode(Mode::Detect);
        d.restart();
        let v = feed(&mut d, 0, &[1, 2, 3, 1, 2, 3]);
        assert_eq!(v.len(), 1);
        assert!(!v[0].anomalous);
        assert_eq!((v[0].windows, v[0].mismatches), (4, 0));

        // 4 and 5 make three unknown windows ({2,3,4}, {3,4,5}, {4,5,1}); the limit is 1.
        let v = feed(&mut d, 0, &[4, 5, 1, 2, 3, 1]);
        assert_eq!(v.len(), 1);
        assert!(v[0].anomalous);
        assert_eq!(v[0].mismatches, 4, "{{5,1,2}} is unknown too");
        assert_eq!(v[0].limit, 1.0);
        let first: Vec<u16> = v[0]
            .unknown_windows()
            .next()
            .unwrap()
            .calls()
            .iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(
            first,
            [3, 4, 5],
            "two calls never seen in training, the first such"
        );
        let novel: Vec<Vec<u16>> = v[0]
            .unknown_windows()
            .map(|w| w.calls().iter().map(|s| s.0).collect())
            .collect();
        assert_eq!(novel, [[3, 4, 5], [4, 5, 1], [2, 3, 4], [5, 1, 2]]);
        let c = d.counters();
        assert_eq!((c.anomalies, c.mismatches, c.epoch_mismatches), (1, 4, 0));
    }

    #[test]
    fn ratio_threshold_scales_with_the_windows_of_the_epoch() {
        let mut d = Detector::new(params(
            2,
            10,
            Threshold::Ratio(0.2),
            StreamMode::PerContainer,
        ));
        feed(&mut d, 0, &[1, 2, 1, 2, 1, 2, 1, 2, 1, 2]);
        d.set_mode(Mode::Detect);
        // Windows 9 (the stream carries on); one unknown bag {2,3} and {3,1}: 2 ≤ 0.2 × 10? limit 2.
        let v = feed(&mut d, 0, &[1, 2, 3, 1, 2, 1, 2, 1, 2, 1]);
        assert_eq!(v[0].windows, 10);
        assert_eq!(v[0].mismatches, 2);
        assert!(!v[0].anomalous);
        assert!((v[0].limit - 2.0).abs() < 1e-9);
    }

    /// A detector that learnt the cycle 1, 2, 3 with windows of 2, epochs of 1000 calls or
    /// `epoch_ms`, judged on at least `min_windows` windows, anomalous past 10% unknown.
    fn timed(epoch_ms: u32, min_windows: u32) -> Detector {
        let mut d = Detector::new(Parameters {
            epoch_ms,
            min_windows,
            ..params(2, 1000, Threshold::Ratio(0.1), StreamMode::PerContainer)
        });
        feed(&mut d, 0, &[1, 2, 3, 1, 2, 3, 1]);
        d.set_mode(Mode::Detect);
        d.restart();
        d
    }

    #[test]
    fn a_short_backoff_epoch_is_judged_early_only_when_its_surprise_already_passes() {
        let mut d = Detector::new(Parameters {
            epoch_ms: 1000,
            min_windows: 20,
            scorer: Scorer::Backoff { surprise: 1.0 },
            ..params(2, 1000, Threshold::Ratio(0.1), StreamMode::PerContainer)
        });
        feed(&mut d, 0, &[1, 2, 3].repeat(30));
        d.set_mode(Mode::Detect);
        d.restart();
        d.tick(0);
        feed(&mut d, 0, &[1, 2, 3, 1, 2]);
        assert!(d.tick(1500).is_none(), "4 familiar windows: carried");
        // Two calls never seen: over 20 nats, past the bound of an epoch of 20 windows.
        feed(&mut d, 0, &[8, 9]);
        let v = d.tick(1600).expect("judged at once");
        assert!(v.anomalous && v.surprise.unwrap() > 20.0, "{v:?}");
        assert_eq!((v.windows, v.limit), (6, 6.0));
    }

    #[test]
    fn a_quiet_epoch_is_judged_t_after_its_first_call() {
        let mut d = timed(1000, 4);
        assert!(d.tick(10_000).is_none(), "no call, no epoch");
        feed(&mut d, 0, &[1, 2, 3, 1, 2, 3]);
        assert!(d.tick(10_999).is_none(), "younger than T");
        let v = d.tick(11_000).expect("judged at T");
        assert_eq!((v.epoch, v.windows, v.mismatches), (0, 5, 0));
        assert!(!v.anomalous);
        // Then the container makes an odd call and falls silent: the verdict comes from the
        // clock, not from further calls.
        d.tick(20_000);
        feed(&mut d, 0, &[1, 1, 2, 2, 3, 3, 1, 1, 2]);
        assert!(d.tick(20_500).is_none());
        let v = d.tick(21_000).expect("judged at T");
        assert!(v.anomalous, "{v:?}");
        assert_eq!((v.epoch, v.windows, v.mismatches), (1, 9, 4));
        assert_eq!(v.limit, 0.9, "a share of the windows the epoch had");
        assert_eq!(d.counters().epochs, 2);
    }

    #[test]
    fn an_epoch_of_too_few_windows_is_carried_into_the_next() {
        let mut d = timed(1000, 20);
        feed(&mut d, 0, &[1, 2, 3, 1, 2, 2]);
        // 5 windows, 1 unknown ({2,2}): 20% of 5, but 1 is not past 10% of 20 windows.
        assert!(d.tick(5_000).is_none(), "carried");
        d.tick(6_000);
        feed(&mut d, 0, &[3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
        let v = d
            .tick(6_100)
            .expect("20 windows now, the epoch is long past T");
        assert_eq!((v.epoch, v.windows, v.mismatches), (0, 21, 1));
        assert!(!v.anomalous);
        // Past the threshold of a minimum-size epoch, a short epoch is judged at once.
        feed(&mut d, 0, &[2, 2, 2, 1, 1, 1]);
        let v = d.tick(7_200).expect("4 unknown windows > 10% of 20");
        assert!(v.anomalous);
        assert_eq!((v.windows, v.mismatches), (6, 4));
    }

    #[test]
    fn e_calls_end_an_epoch_before_t_and_training_ignores_the_clock() {
        let mut d = Detector::new(Parameters {
            epoch_ms: 1000,
            ..params(2, 4, Threshold::Absolute(0), StreamMode::PerContainer)
        });
        d.tick(0);
        feed(&mut d, 0, &[1, 2, 3]);
        assert!(d.tick(60_000).is_none(), "learning: no verdict");
        feed(&mut d, 0, &[1]);
        assert_eq!(
            d.training_record().epochs,
            1,
            "four calls, however long they took"
        );
        d.set_mode(Mode::Detect);
        d.tick(60_000);
        let v = feed(&mut d, 0, &[2, 3, 1, 2]);
        assert_eq!(v.len(), 1, "E calls within T end the epoch");
        assert!(d.tick(70_000).is_none(), "the next epoch has no call yet");
        let mut untimed = timed(0, 1);
        feed(&mut untimed, 0, &[1, 2, 3]);
        assert!(untimed.tick(u64::MAX).is_none(), "T = 0: calls only");
    }

    #[test]
    fn per_thread_streams_keep_separate_windows() {
        let p = params(2, 100, Threshold::Absolute(0), StreamMode::PerThread);
        let mut d = Detector::new(p);
        // Each thread alternates its own pair; interleaved they would form mixed bags.
        for _ in 0..5 {
            d.observe(1, Sym(1));
            d.observe(2, Sym(3));
            d.observe(1, Sym(2));
            d.observe(2, Sym(4));
        }
        assert_eq!(d.counters().db_size, 2, "{{1,2}} and {{3,4}} only");
        assert_eq!(d.counters().streams, 2);
        d.forget_stream(1);
        assert_eq!(d.counters().streams, 1);

        let mut c = Detector::new(Parameters {
            stream: StreamMode::PerContainer,
            ..p
        });
        for _ in 0..5 {
            c.observe(1, Sym(1));
            c.observe(2, Sym(3));
            c.observe(1, Sym(2));
            c.observe(2, Sym(4));
        }
        assert_eq!(
            c.counters().db_size,
            4,
            "interleaving mixes the threads' calls"
        );
    }

    #[test]
    fn training_converges_when_epochs_stop_adding_bags() {
        let mut d = Detector::new(params(
            2,
            4,
            Threshold::Absolute(0),
            StreamMode::PerContainer,
        ));
        feed(&mut d, 0, &[1, 2, 3, 4]);
        assert!(!d.converged());
        feed(&mut d, 0, &[5, 6, 7, 8]);
        assert!(!d.converged());
        // Repeating what was seen adds nothing: two stable epochs in a row converge.
        feed(&mut d, 0, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(!d.converged(), "{{8,1}} was new");
        feed(&mut d, 0, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(d.converged());
        let t = d.training_record();
        assert_eq!(t.epochs, 6);
        assert_eq!(t.converged_at, Some(4), "epochs 3 and 4 added nothing");
        assert_eq!(t.last_similarity, Some(1.0));
    }

    #[test]
    fn continuous_training_merges_only_normal_epochs() {
        let mut d = Detector::new(params(
            2,
            4,
            Threshold::Absolute(1),
            StreamMode::PerContainer,
        ));
        feed(&mut d, 0, &[1, 2, 1, 2, 1, 2, 1, 2]);
        d.set_mode(Mode::Detect);
        d.set_continuous_training(true);
        d.restart();
        // One unknown bag {2,3}: at the limit, not anomalous → merged.
        let v = feed(&mut d, 0, &[1, 2, 3, 3]);
        assert_eq!(v[0].mismatches, 2, "{{2,3}} and {{3,3}}");
        assert!(v[0].anomalous);
        assert!(!d.knows_bag(SortedBag::from_calls([Sym(2), Sym(3)]).id()));
        d.restart();
        let v = feed(&mut d, 0, &[1, 2, 3, 1]);
        assert_eq!(v[0].mismatches, 2, "{{2,3}} and {{3,1}}");
        assert!(v[0].anomalous);
        d.restart();
        let v = feed(&mut d, 0, &[1, 2, 1, 4]);
        assert_eq!(v[0].mismatches, 1);
        assert!(!v[0].anomalous);
        assert!(d.knows_bag(SortedBag::from_calls([Sym(1), Sym(4)]).id()));
        assert_eq!(d.counters().merged_bags, 1);
        assert!(d.is_known(Sym(4)), "a merged bag's syscalls are learnt");
        assert!(!d.is_known(Sym(3)), "calls of anomalous epochs are not");

        d.set_continuous_training(false);
        d.restart();
        let v = feed(&mut d, 0, &[1, 2, 1, 5]);
        assert!(!v[0].anomalous);
        assert!(!d.knows_bag(SortedBag::from_calls([Sym(1), Sym(5)]).id()));
    }

    #[test]
    fn unknown_windows_are_bounded() {
        let mut d = Detector::new(params(
            1,
            20,
            Threshold::Absolute(0),
            StreamMode::PerContainer,
        ));
        feed(&mut d, 0, &[1; 20]);
        d.set_mode(Mode::Detect);
        let calls: Vec<u16> = (2..22).collect();
        let v = feed(&mut d, 0, &calls);
        assert_eq!(v[0].mismatches, 20);
        assert_eq!(v[0].unknown_windows().count(), MAX_REPORTED_WINDOWS);
    }

    #[test]
    fn an_attacks_windows_outrank_earlier_noise_in_the_verdict() {
        let mut d = Detector::new(params(
            2,
            40,
            Threshold::Absolute(0),
            StreamMode::PerContainer,
        ));
        feed(&mut d, 0, &[1, 2, 3, 1, 2, 3, 1, 2, 3, 1]);
        d.set_mode(Mode::Detect);
        d.restart();
        // Known calls in an odd order first (six unknown windows), then a call never seen.
        let v = feed(
            &mut d,
            0,
            &[
                1, 1, 2, 2, 3, 3, 1, 1, 9, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1,
                2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1,
            ],
        );
        let kept: Vec<Vec<u16>> = v[0]
            .unknown_windows()
            .map(|w| w.calls().iter().map(|s| s.0).collect())
            .collect();
        assert_eq!(kept, [[1, 9], [9, 1], [1, 1], [2, 2]]);
    }

    #[test]
    fn a_full_database_takes_no_new_bag_and_detection_goes_on() {
        let mut d = Detector::new(params(
            1,
            100,
            Threshold::Absolute(0),
            StreamMode::PerContainer,
        ));
        d.set_database_limit(3);
        feed(&mut d, 0, &[1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
        assert_eq!(d.counters().db_size, 3, "bags {{1}}, {{2}}, {{3}}");
        assert_eq!(d.counters().rejected_bags, 4, "4 and 5, twice each");
        assert!(d.database_full());
        d.set_mode(Mode::Detect);
        let v = feed(&mut d, 0, &[1; 99]);
        assert!(v.is_empty());
        let v = feed(&mut d, 0, &[4]);
        assert_eq!(
            v[0].mismatches, 1,
            "a bag turned away is unknown to detection"
        );
    }

    #[test]
    fn continuous_training_respects_the_database_limit() {
        let mut d = Detector::new(params(
            1,
            4,
            Threshold::Absolute(2),
            StreamMode::PerContainer,
        ));
        feed(&mut d, 0, &[1, 1, 1, 1]);
        d.set_mode(Mode::Detect);
        d.set_continuous_training(true);
        d.set_database_limit(2);
        let v = feed(&mut d, 0, &[2, 3, 1, 1]);
        assert!(!v[0].anomalous);
        assert_eq!(d.counters().db_size, 2);
        assert_eq!(
            (d.counters().merged_bags, d.counters().rejected_bags),
            (1, 1)
        );
    }

    #[test]
    fn the_continuous_training_buffer_is_bounded() {
        let mut p = params(64, 1_000_000, Threshold::Ratio(0.5), StreamMode::PerThread);
        p.training.continuous = true;
        let d = Detector::new(p);
        assert_eq!(d.pending.calls.capacity(), MAX_PENDING_CALLS);
    }
}
