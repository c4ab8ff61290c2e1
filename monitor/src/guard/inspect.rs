//! The guard's part of `ids-runc inspect`.

use ids_detector::alphabet::Sym;

use super::Guard;

impl Guard {
    /// What `inspect` shows of the guard: calls by name, the detector's and the guard's counters,
    /// the last epochs.
    pub(super) fn inspect_document(&self) -> serde_json::Value {
        let mut syscalls: Vec<(&str, u64)> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (self.alphabet.name(Sym(i as u16)), n))
            .collect();
        syscalls.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let c = self.detector.counters();
        serde_json::json!({
            "container": self.settings.container,
            "profile": self.settings.profile_name,
            "mode": self.current_mode(),
            "monitor": self.settings.monitor,
            "syscalls": syscalls.into_iter().map(|(n, c)| (n.to_string(), c.into())).collect::<serde_json::Map<String, serde_json::Value>>(),
            "detector": {
                "calls": c.calls,
                "windows": c.windows,
                "database_size": c.db_size,
                "epochs": c.epochs,
                "current_epoch_mismatches": c.epoch_mismatches,
                "mismatches": c.mismatches,
                "anomalies": c.anomalies,
                "merged_bags": c.merged_bags,
                "rejected_bags": c.rejected_bags,
                "database_limit": self.detector.database_limit(),
                "streams": c.streams,
                "converged": self.detector.converged(),
            },
            "guard": self.counters,
            "resources": {
                "learnt": self.resources().map(|r| r.len()),
                "counters": self.resource_counters(),
            },
            "recent_epochs": self.history.iter().rev().take(20).collect::<Vec<_>>(),
        })
    }
}
