//! When the guard writes what it holds: the learnt profile (now and then while learning, at the
//! switch to detection, at the end) and the buffered epoch records (about once a second while calls
//! flow, and at the end). The clock is read once every `CLOCK_EVERY` calls, not per call.

use std::time::{Duration, Instant};

use ids_detector::detector::Mode;

use super::Guard;
use crate::profile::shared_save::Saver;
use crate::profile::Profile;
use crate::record::events::{ActionTaken, EventKind};

/// Calls between two looks at the clock for the periodic save.
pub(super) const CLOCK_EVERY: u32 = 4096;
/// How often buffered epoch records reach their file while calls flow.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl Guard {
    /// Writes out what is buffered; called now and then and at the end.
    pub fn flush(&mut self) {
        if let Some(log) = &mut self.epochs {
            if let Err(e) = log.flush() {
                self.counters.epoch_log_errors += 1;
                log::error!("cannot write {}: {e}", log.path().display());
            }
        }
    }

    /// The profile learnt so far (or the one detection runs with, grown by continuous training).
    pub fn profile(&self) -> Profile {
        let mut profile = Profile::from_detector(
            &self.settings.profile_name,
            self.settings.profile_monitor,
            self.settings.policy,
            &self.detector,
            1,
        );
        profile.provenance = self.settings.provenance.clone();
        profile.resources = self.resources().cloned();
        profile
    }

    /// Saves the learnt profile if this guard learns; called periodically and at the end. What
    /// was learnt since the last save is added to the stored profile, which other containers may
    /// be learning into too.
    pub fn save_learned(&mut self) {
        let Some(shared) = self.shared_save.as_mut() else {
            return;
        };
        if self.detector.counters().windows == 0 && self.detector.database().is_empty() {
            return;
        }
        self.last_save = Instant::now();
        let saver = Saver {
            profile_name: &self.settings.profile_name,
            monitor: self.settings.profile_monitor,
            policy: self.settings.policy,
            provenance: &self.settings.provenance,
            container: &self.settings.container,
            resources: self.resources.set.as_ref(),
        };
        match shared.save(&self.detector, saver) {
            Ok(_) => {
                self.counters.saves += 1;
                log::info!(
                    "saved profile {} to {}",
                    self.settings.profile_name,
                    shared.path().display()
                );
            }
            Err(e) => {
                self.counters.save_errors += 1;
                let mut event = self.event(EventKind::MonitorError);
                event.message = Some(e.to_string());
                self.emit(event, false);
            }
        }
    }

    pub(super) fn switch_to_detect(&mut self) {
        self.save_learned();
        self.detector.set_mode(Mode::Detect);
        let mut event = self.event(EventKind::ModeSwitch);
        event.action = ActionTaken::Logged;
        event.message = Some(format!(
            "training converged after {} epochs ({} bags); detecting now",
            self.detector.training_record().epochs,
            self.detector.database().len()
        ));
        self.emit(event, false);
    }

    pub(super) fn tick(&mut self) {
        self.clock_countdown -= 1;
        if self.clock_countdown > 0 {
            return;
        }
        self.clock_countdown = CLOCK_EVERY;
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.last_flush = Instant::now();
            self.flush();
        }
        if self.detector.mode() == Mode::Learn
            && self.last_save.elapsed() >= self.settings.save_every
        {
            self.save_learned();
        }
    }
}
