//! `ids-runc profile merge`: one profile from several trained with the same window and monitor.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use ids_monitor::profile::Profile;

use super::stem;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Profiles to merge (same window and monitor).
    #[arg(required = true)]
    profiles: Vec<PathBuf>,
    /// Where to write the merged profile.
    #[arg(short, long)]
    output: PathBuf,
    /// Name of the merged profile (default: the output file's stem).
    #[arg(long)]
    name: Option<String>,
}

pub fn run(a: MergeArgs) -> Result<i32> {
    let profiles = a
        .profiles
        .iter()
        .map(|p| Profile::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let name = a.name.unwrap_or_else(|| stem(&a.output));
    let merged = Profile::merge(&name, &profiles).context("cannot merge these profiles")?;
    merged.save(&a.output)?;
    println!(
        "{}: {} profiles, {} bags, {} syscalls",
        a.output.display(),
        profiles.len(),
        merged.normal_db.len(),
        merged.syscalls.len()
    );
    Ok(0)
}
