//! `ids-runc profile rm NAME`: removes a profile from the host store.
//!
//! A container that learns into the profile would write it again at its next save (with what it
//! learnt since its previous one), so while one runs `rm` refuses, naming it, unless `--force`.
//! Containers detecting with the profile run with their own copy (in their state dir) and go on.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;

use super::store;
use crate::config::host::HostConfig;
use crate::container::state_dir::StateDir;
use crate::monitor_process::health::live_monitor_pid;
use crate::monitor_process::launch::Launch;

#[derive(Args, Debug)]
pub struct RmArgs {
    /// The profile's name in the store.
    name: String,
    /// Remove it even while a container learns into it (its next save starts it again).
    #[arg(long)]
    force: bool,
}

pub fn run(a: RmArgs, host: &HostConfig) -> Result<i32> {
    let path = store::existing(&a.name, host)?;
    let learners = learners_of(&path, &host.state_root());
    if !learners.is_empty() {
        let which = format!(
            "container{} {} learn{} into profile {}",
            if learners.len() == 1 { "" } else { "s" },
            learners.join(", "),
            if learners.len() == 1 { "s" } else { "" },
            a.name
        );
        anyhow::ensure!(
            a.force,
            "{which}: its next save would write the profile again; stop it first, or use --force"
        );
        eprintln!("ids-runc profile rm: {which}; removed anyway (--force)");
    }
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    Ok(0)
}

/// Containers whose monitor runs and learns into `profile`.
fn learners_of(profile: &Path, state_root: &Path) -> Vec<String> {
    let Ok(dirs) = std::fs::read_dir(state_root) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = dirs
        .filter_map(|d| Some(StateDir::at(&d.ok()?.path())))
        .filter(|state| {
            Launch::read(state.path()).is_ok_and(|l| l.save_to.as_deref() == Some(profile))
                && live_monitor_pid(state).is_some()
        })
        .map(|state| state.container_id())
        .collect();
    ids.sort();
    ids
}
