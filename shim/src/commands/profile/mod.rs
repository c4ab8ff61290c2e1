//! `ids-runc profile ...`: train, evaluate, show, diff and merge profiles offline, compare
//! detectors on a labelled dataset, and list, remove and export the profiles of the host store.
//! One file per subcommand, its arguments beside its handler.

mod compare;
mod diff;
mod eval;
mod export;
mod list;
mod merge;
mod rm;
mod scorer_spec;
mod show;
mod store;
mod sweep;
mod trace_input;
mod train;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::config::host::HostConfig;

/// Train, evaluate and inspect bag-of-system-calls profiles, and manage the host store.
#[derive(Parser, Debug)]
#[command(name = "ids-runc profile")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Learn a profile from normal traces.
    Train(train::TrainArgs),
    /// Judge traces with a profile: per-trace or per-epoch verdicts, or ROC figures on labelled
    /// normal and attack traces. Exits 1 when a trace had an anomalous epoch, 2 on errors.
    Eval(eval::EvalArgs),
    /// Summarise a profile (a name in the store, or a file): parameters, policy, training,
    /// database, syscalls by frequency.
    Show(show::ShowArgs),
    /// List the profiles of the host store: name, size, monitor, bags, converged, last learnt.
    List(list::ListArgs),
    /// Remove a profile from the host store (refused while a container learns into it).
    Rm(rm::RmArgs),
    /// Print a profile to ship in an image, and on stderr the Dockerfile line that installs it.
    Export(export::ExportArgs),
    /// Compare two profiles. Exits 1 when they differ.
    Diff(diff::DiffArgs),
    /// Merge profiles trained with the same window into one.
    Merge(merge::MergeArgs),
    /// Train several detectors in memory on the same traces and print one table row each (ROC AUC,
    /// detection rate at 1% and 5% false positives).
    Compare(compare::CompareArgs),
    /// Sweep window, epoch length and threshold over labelled traces: attack traces detected,
    /// normal traces and normal epochs flagged, one table row per setting.
    Sweep(sweep::SweepArgs),
}

pub fn main(args: Vec<OsString>, host: &HostConfig) -> Result<i32> {
    let argv = std::iter::once(OsString::from("ids-runc profile")).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            e.print()?;
            return Ok(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Show(a) => show::run(a, host),
        Command::List(a) => list::run(a, host),
        Command::Rm(a) => rm::run(a, host),
        Command::Export(a) => export::run(a, host),
        Command::Diff(a) => diff::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Sweep(a) => sweep::run(a),
    };
    // Like diff(1): 1 answers the question (anomaly found, profiles differ), 2 means trouble, so
    // scripts can tell a finding from a failure.
    result.or_else(|e| {
        eprintln!("ids-runc profile: {e:#}");
        Ok(2)
    })
}

/// The name of a profile written to `path` when none is given: the file's stem.
fn stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || "profile".to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// A bag as `{name:count ...}`.
fn bag_text(bag: &BTreeMap<String, u8>) -> String {
    let parts: Vec<String> = bag.iter().map(|(n, c)| format!("{n}:{c}")).collect();
    format!("{{{}}}", crate::terminal_text::escape(&parts.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ids_monitor::profile::Profile;

    fn run(args: &[&str]) -> i32 {
        main(
            args.iter().map(OsString::from).collect(),
            &HostConfig::default(),
        )
        .unwrap()
    }

    #[test]
    fn train_eval_diff_merge_show_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let d = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let cycle = "openat\nread\nclose\n".repeat(40);
        std::fs::create_dir(d("normal")).unwrap();
        std::fs::write(d("normal/a.txt"), &cycle).unwrap();
        std::fs::write(d("normal/b.txt"), &cycle).unwrap();
        std::fs::write(d("attack.txt"), "openat\nread\nexecve\n".repeat(40)).unwrap();
        std::fs::write(d("broken.txt"), "openat\nfrobnicate\n").unwrap();
        let train = |out: &str| {
            run(&[
                "train",
                "--format",
                "names",
                "-w",
                "3",
                "-e",
                "30",
                "--threshold",
                "2",
                "-o",
                out,
                &d("normal"),
            ])
        };
        assert_eq!(train(&d("p.json")), 0);
        assert_eq!(train(&d("q.json")), 0);
        let p = Profile::load(Path::new(&d("p.json"))).unwrap();
        assert_eq!(p.name, "p");
        assert_eq!(p.training.traces, 2);
        assert_eq!(p.normal_db.len(), 1, "a 3-cycle has one bag at W=3");

        let eval = |trace: &str| run(&["eval", "--format", "names", &d("p.json"), trace]);
        assert_eq!(eval(&d("normal/a.txt")), 0);
        assert_eq!(eval(&d("attack.txt")), 1, "an anomalous epoch exits 1");
        assert_eq!(eval(&d("broken.txt")), 2, "an unreadable trace exits 2");
        assert_eq!(
            run(&[
                "eval",
                "--format",
                "names",
                &d("p.json"),
                "--normal",
                &d("normal"),
                "--attack",
                &d("attack.txt"),
            ]),
            0
        );

        assert_eq!(
            run(&["diff", &d("p.json"), &d("q.json")]),
            1,
            "names differ"
        );
        assert_eq!(
            run(&["merge", "-o", &d("m.json"), &d("p.json"), &d("q.json")]),
            0
        );
        let m = Profile::load(Path::new(&d("m.json"))).unwrap();
        assert_eq!(m.normal_db[0].frequency, 2 * p.normal_db[0].frequency);
        assert_eq!(run(&["show", &d("m.json")]), 0);
        assert_eq!(run(&["show", &d("missing.json")]), 2);
        assert_eq!(run(&["frobnicate"]), 2, "usage errors exit 2");
    }
}
