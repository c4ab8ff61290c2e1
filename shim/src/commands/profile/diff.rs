//! `ids-runc profile diff`: what differs between two profiles; exits 1 when anything does.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use ids_monitor::profile::Profile;

use super::bag_text;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The old profile.
    a: PathBuf,
    /// The new profile.
    b: PathBuf,
    /// How many differing bags to list each way.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

pub fn run(a: DiffArgs) -> Result<i32> {
    let pa = Profile::load(&a.a)?;
    let pb = Profile::load(&a.b)?;
    let mut differs = false;
    let mut line = |what: &str, x: String, y: String| {
        if x != y {
            differs = true;
            println!("{what}: {x} -> {y}");
        }
    };
    line("name", pa.name.clone(), pb.name.clone());
    line(
        "monitor",
        serde_json::to_string(&pa.monitor)?,
        serde_json::to_string(&pb.monitor)?,
    );
    line(
        "parameters",
        serde_json::to_string(&pa.parameters)?,
        serde_json::to_string(&pb.parameters)?,
    );
    line(
        "policy",
        serde_json::to_string(&pa.policy)?,
        serde_json::to_string(&pb.policy)?,
    );
    let sa: BTreeSet<&String> = pa.syscalls.iter().collect();
    let sb: BTreeSet<&String> = pb.syscalls.iter().collect();
    let only = |x: &BTreeSet<&String>, y: &BTreeSet<&String>| -> Vec<String> {
        x.difference(y).map(|s| s.to_string()).collect()
    };
    for (sign, names) in [("-", only(&sa, &sb)), ("+", only(&sb, &sa))] {
        if !names.is_empty() {
            differs = true;
            println!("syscalls {sign} {}", names.join(" "));
        }
    }
    let fa = pa.frequencies();
    let fb = pb.frequencies();
    let mut gone: Vec<_> = fa.iter().filter(|(b, _)| !fb.contains_key(*b)).collect();
    let mut new: Vec<_> = fb.iter().filter(|(b, _)| !fa.contains_key(*b)).collect();
    let common = fa.keys().filter(|b| fb.contains_key(*b)).count();
    gone.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
    new.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
    println!(
        "bags: {} in common, {} only in {}, {} only in {}",
        common,
        gone.len(),
        a.a.display(),
        new.len(),
        a.b.display()
    );
    for (sign, list) in [("-", &gone), ("+", &new)] {
        for (bag, f) in list.iter().take(a.top) {
            println!("  {sign} {f:>8}  {}", bag_text(bag));
        }
    }
    differs |= !gone.is_empty() || !new.is_empty();
    Ok(i32::from(differs))
}
