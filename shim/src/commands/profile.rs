//! `ids-runc profile ...`: train, evaluate, show, diff and merge profiles offline, and compare
//! detectors on a labelled dataset.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use ids_detector::alphabet::{Alphabet, Arch, Sym};
use ids_detector::detector::{Detector, Mode, Verdict};
use ids_detector::parameters::{Parameters, StreamMode, Threshold, Training};
use ids_monitor::backend::MonitorKind;
use ids_monitor::offline::backoff_bosc::BackoffBosc;
use ids_monitor::offline::eval::{rates_at, rates_at_fpr, roc_auc};
use ids_monitor::offline::scorer::{ScorerMix, TraceScorer};
use ids_monitor::offline::stide::Stide;
use ids_monitor::offline::trace::{read_trace, trace_files, Trace, TraceFormat};
use ids_monitor::offline::weighted_bosc::{Grading, WeightedBosc};
use ids_monitor::policy::{AnomalyAction, Policy, UnseenSyscallAction};
use ids_monitor::profile::provenance::Provenance;
use ids_monitor::profile::Profile;
use serde::de::DeserializeOwned;

use crate::terminal_text::escape;

/// Train, evaluate and inspect bag-of-system-calls profiles.
#[derive(Parser, Debug)]
#[command(name = "ids-runc profile")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Learn a profile from normal traces.
    Train(TrainArgs),
    /// Judge traces with a profile: per-trace or per-epoch verdicts, or ROC figures on labelled
    /// normal and attack traces. Exits 1 when a trace had an anomalous epoch, 2 on errors.
    Eval(EvalArgs),
    /// Summarise a profile: parameters, policy, training, database, syscalls by frequency.
    Show(ShowArgs),
    /// Compare two profiles. Exits 1 when they differ.
    Diff(DiffArgs),
    /// Merge profiles trained with the same window into one.
    Merge(MergeArgs),
    /// Train several detectors in memory on the same traces and print one table row each (ROC AUC,
    /// detection rate at 1% and 5% false positives).
    Compare(CompareArgs),
}

#[derive(Args, Debug)]
struct TraceInput {
    /// Trace format: adfa (syscall numbers), names (one per line) or strace (`strace -f` output).
    #[arg(long, default_value = "strace")]
    format: TraceFormat,
    /// Architecture of the syscall numbers in adfa traces: x86_64, x86 or x32.
    #[arg(long, default_value = "x86_64")]
    arch: Arch,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Trace files or directories (walked recursively).
    #[arg(required = true)]
    traces: Vec<PathBuf>,
    #[command(flatten)]
    input: TraceInput,
    /// Where to write the profile.
    #[arg(short, long)]
    output: PathBuf,
    /// Profile name (default: the output file's stem).
    #[arg(long)]
    name: Option<String>,
    /// Monitor the profile is for: seccomp-notify, ptrace or offline. Syscalls that monitor cannot
    /// see are dropped from the traces.
    #[arg(long, default_value = "offline", value_parser = kebab::<MonitorKind>)]
    monitor: MonitorKind,
    /// Window size W (calls per bag).
    #[arg(short = 'w', long, default_value_t = 10)]
    window: usize,
    /// Epoch length E (calls per verdict).
    #[arg(short = 'e', long, default_value_t = 1000)]
    epoch: u32,
    /// Anomalous when more than this many windows of an epoch are unknown.
    #[arg(long, conflicts_with = "threshold_ratio")]
    threshold: Option<u32>,
    /// Anomalous when more than this fraction of an epoch's windows are unknown.
    #[arg(long, default_value_t = 0.01)]
    threshold_ratio: f64,
    /// Windows per thread or one per container: per-thread or per-container.
    #[arg(long, default_value = "per-thread", value_parser = kebab::<StreamMode>)]
    stream: StreamMode,
    /// Convergence: an epoch is stable when at least this fraction of its windows were known.
    #[arg(long, default_value_t = 0.99)]
    similarity: f64,
    /// Convergence: stable epochs in a row needed.
    #[arg(long, default_value_t = 5)]
    stable_epochs: u32,
    /// Keep learning in detection (merge the new bags of non-anomalous epochs).
    #[arg(long)]
    continuous: bool,
    /// Action on an anomalous epoch: log or kill.
    #[arg(long, default_value = "log", value_parser = kebab::<AnomalyAction>)]
    on_anomaly: AnomalyAction,
    /// Action on a syscall never seen in training: ignore, log, kill or deny.
    #[arg(long, default_value = "log", value_parser = kebab::<UnseenSyscallAction>)]
    on_unseen_syscall: UnseenSyscallAction,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// The profile.
    profile: PathBuf,
    /// Traces to judge one by one (files or directories).
    traces: Vec<PathBuf>,
    #[command(flatten)]
    input: TraceInput,
    /// Print every epoch's verdict, not one line per trace.
    #[arg(long)]
    epochs: bool,
    /// Normal traces (labelled), for ROC figures; needs --attack.
    #[arg(long, requires = "attack")]
    normal: Vec<PathBuf>,
    /// Attack traces (labelled), for ROC figures; needs --normal.
    #[arg(long, requires = "normal")]
    attack: Vec<PathBuf>,
    /// With --normal/--attack: also report rates when a trace is flagged above this fraction of
    /// unknown windows.
    #[arg(long)]
    score_threshold: Option<f64>,
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// The profile.
    profile: PathBuf,
    /// How many syscalls and bags to list.
    #[arg(long, default_value_t = 15)]
    top: usize,
}

#[derive(Args, Debug)]
struct DiffArgs {
    /// The old profile.
    a: PathBuf,
    /// The new profile.
    b: PathBuf,
    /// How many differing bags to list each way.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

#[derive(Args, Debug)]
struct MergeArgs {
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

#[derive(Args, Debug)]
struct CompareArgs {
    /// Normal traces to train on.
    #[arg(long, required = true)]
    train: Vec<PathBuf>,
    /// Normal traces held out (false positives).
    #[arg(long, required = true)]
    normal: Vec<PathBuf>,
    /// Attack traces (detections).
    #[arg(long, required = true)]
    attack: Vec<PathBuf>,
    #[command(flatten)]
    input: TraceInput,
    /// Detectors as METHOD:SIZES. bosc:W (the paper's exact bag match), bosc-mix:W+W+... (sum of
    /// the paper's score at several windows), bosc-rarity:W (surprisal of the bag), bosc-near:W
    /// (distance to the nearest known bag), bosc-backoff:K/K/.../0 and bosc-backoff-last:K/.../0
    /// (surprisal of each call given the bags of the previous K calls, backing off to smaller K),
    /// stide:K (exact sequences).
    #[arg(long = "detector", required = true)]
    detectors: Vec<String>,
}

/// Parses a kebab-case enum value the way the profile spells it.
fn kebab<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|e| e.to_string())
}

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let argv = std::iter::once(OsString::from("ids-runc profile")).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            e.print()?;
            return Ok(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a),
        Command::Show(a) => show(a),
        Command::Diff(a) => diff(a),
        Command::Merge(a) => merge(a),
        Command::Compare(a) => compare(a),
    };
    // Like diff(1): 1 answers the question (anomaly found, profiles differ), 2 means trouble, so
    // scripts can tell a finding from a failure.
    result.or_else(|e| {
        eprintln!("ids-runc profile: {e:#}");
        Ok(2)
    })
}

fn stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || "profile".to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// The symbols of syscall names (which the profile has validated).
fn syms_of(names: &[String]) -> HashSet<Sym> {
    let alphabet = Alphabet::system();
    names
        .iter()
        .filter_map(|n| alphabet.sym_by_name(n))
        .collect()
}

fn load_traces(paths: &[PathBuf], input: &TraceInput) -> Result<Vec<Trace>> {
    let files = trace_files(paths)?;
    if files.is_empty() {
        bail!("no trace files under {paths:?}");
    }
    files
        .iter()
        .map(|f| Ok(read_trace(f, input.format, input.arch)?))
        .collect()
}

fn train(a: TrainArgs) -> Result<i32> {
    let params = Parameters {
        window: a.window,
        epoch: a.epoch,
        threshold: a
            .threshold
            .map_or(Threshold::Ratio(a.threshold_ratio), Threshold::Absolute),
        stream: a.stream,
        training: Training {
            convergence_similarity: a.similarity,
            convergence_epochs: a.stable_epochs,
            continuous: a.continuous,
        },
    };
    if let Err(e) = params.check() {
        bail!("parameters.{}: {}", e.field, e.reason);
    }
    let invisible: HashSet<Sym> = a
        .monitor
        .invisible_syscalls()
        .iter()
        .filter_map(|n| Alphabet::system().sym_by_name(n))
        .collect();
    let files = trace_files(&a.traces)?;
    if files.is_empty() {
        bail!("no trace files under {:?}", a.traces);
    }
    let mut detector = Detector::new(params);
    for file in &files {
        let trace = read_trace(file, a.input.format, a.input.arch)?;
        detector.restart();
        for call in trace.calls.iter().filter(|c| !invisible.contains(&c.sym)) {
            detector.observe(call.stream, call.sym);
        }
    }
    let name = a.name.unwrap_or_else(|| stem(&a.output));
    let policy = Policy {
        on_anomaly: a.on_anomaly,
        on_unseen_syscall: a.on_unseen_syscall,
    };
    let profile = Profile::from_detector(&name, a.monitor, policy, &detector, files.len() as u64);
    profile
        .validate()
        .context("the trained profile is inconsistent")?;
    profile.save(&a.output)?;
    let c = detector.counters();
    let convergence = match detector.training_record().converged_at {
        Some(epoch) => format!("converged at epoch {epoch}"),
        None => "not converged (train on more traces, or lower --similarity)".to_string(),
    };
    println!(
        "{}: {} traces, {} calls, {} windows, {} bags, {} syscalls; {} epochs, {convergence}",
        a.output.display(),
        files.len(),
        c.calls,
        c.windows,
        c.db_size,
        profile.syscalls.len(),
        c.epochs,
    );
    Ok(0)
}

/// What judging one trace found.
struct TraceResult {
    windows: u64,
    unknown: u64,
    epochs: u64,
    anomalous: u64,
}

impl TraceResult {
    fn score(&self) -> f64 {
        if self.windows == 0 {
            0.0
        } else {
            self.unknown as f64 / self.windows as f64
        }
    }
}

fn judge(
    detector: &mut Detector,
    trace: &Trace,
    invisible: &HashSet<Sym>,
    mut on_verdict: impl FnMut(&Verdict),
) -> TraceResult {
    detector.restart();
    let before = detector.counters();
    let mut result = TraceResult {
        windows: 0,
        unknown: 0,
        epochs: 0,
        anomalous: 0,
    };
    for call in trace.calls.iter().filter(|c| !invisible.contains(&c.sym)) {
        if let Some(v) = detector.observe(call.stream, call.sym) {
            result.epochs += 1;
            result.anomalous += u64::from(v.anomalous);
            on_verdict(&v);
        }
    }
    let after = detector.counters();
    result.windows = after.windows - before.windows;
    result.unknown = after.mismatches - before.mismatches;
    result
}

fn eval(a: EvalArgs) -> Result<i32> {
    if a.traces.is_empty() && a.normal.is_empty() {
        bail!("give traces to judge, or --normal and --attack");
    }
    let profile = Profile::load(&a.profile)?;
    let mut detector = profile
        .detector()
        .with_context(|| format!("profile {}", a.profile.display()))?;
    // Traces are judged independently: learning from one would change the verdict on the next.
    detector.set_continuous_training(false);
    detector.set_mode(Mode::Detect);
    let invisible = syms_of(&profile.monitor.invisible_syscalls);
    let alphabet = Alphabet::system();
    let mut flagged = 0;
    let traces = if a.traces.is_empty() {
        Vec::new()
    } else {
        load_traces(&a.traces, &a.input)?
    };
    for trace in traces {
        let path = trace.path.display().to_string();
        let r = judge(&mut detector, &trace, &invisible, |v| {
            if a.epochs {
                let first = v
                    .unknown_windows()
                    .next()
                    .map(|w| format!("  first unknown bag {}", w.bag().display(alphabet)))
                    .unwrap_or_default();
                println!(
                    "{path}: epoch {}: {} {}/{} windows unknown (limit {:.1}){first}",
                    v.epoch,
                    if v.anomalous { "ANOMALY" } else { "normal " },
                    v.mismatches,
                    v.windows,
                    v.limit
                );
            }
        });
        flagged += u64::from(r.anomalous > 0);
        if !a.epochs {
            println!(
                "{:.4}  {}/{} epochs anomalous  {}/{} windows unknown  {path}",
                r.score(),
                r.anomalous,
                r.epochs,
                r.unknown,
                r.windows
            );
        }
    }
    if !a.normal.is_empty() {
        let mut scores = |paths: &[PathBuf]| -> Result<Vec<f64>> {
            Ok(load_traces(paths, &a.input)?
                .iter()
                .map(|t| judge(&mut detector, t, &invisible, |_| {}).score())
                .collect())
        };
        let normal = scores(&a.normal)?;
        let attack = scores(&a.attack)?;
        println!(
            "{} normal, {} attack traces; score = fraction of unknown windows per trace",
            normal.len(),
            attack.len()
        );
        println!("ROC AUC {:.3}", roc_auc(&normal, &attack));
        for fpr in [0.01, 0.05] {
            let r = rates_at_fpr(&normal, &attack, fpr);
            println!(
                "at {:.0}% FPR: threshold {:.4}, detection rate {:.1}%, false positives {:.2}%",
                fpr * 100.0,
                r.threshold,
                r.detection_rate * 100.0,
                r.false_positive_rate * 100.0
            );
        }
        if let Some(t) = a.score_threshold {
            let r = rates_at(&normal, &attack, t);
            println!(
                "at threshold {t}: detection rate {:.1}%, false positives {:.2}%",
                r.detection_rate * 100.0,
                r.false_positive_rate * 100.0
            );
        }
    }
    Ok(i32::from(flagged > 0))
}

fn show(a: ShowArgs) -> Result<i32> {
    let p = Profile::load(&a.profile)?;
    let params = &p.parameters;
    println!(
        "profile    {} ({})",
        escape(&p.name),
        escape(&a.profile.display().to_string())
    );
    println!(
        "monitor    {} (cannot see: {})",
        serde_json::to_value(p.monitor.kind)?
            .as_str()
            .unwrap_or("?"),
        if p.monitor.invisible_syscalls.is_empty() {
            "nothing".to_string()
        } else {
            p.monitor.invisible_syscalls.join(", ")
        }
    );
    println!(
        "parameters window {}, epoch {}, threshold {}, streams {}, convergence ≥{} for {} epochs, continuous training {}",
        params.window,
        params.epoch,
        match params.threshold {
            Threshold::Absolute(n) => format!("> {n} unknown windows"),
            Threshold::Ratio(r) => format!("> {}% unknown windows", r * 100.0),
        },
        serde_json::to_value(params.stream)?.as_str().unwrap_or("?"),
        params.training.convergence_similarity,
        params.training.convergence_epochs,
        if params.training.continuous { "on" } else { "off" }
    );
    println!(
        "policy     on anomaly {}, on unseen syscall {}",
        serde_json::to_value(p.policy.on_anomaly)?
            .as_str()
            .unwrap_or("?"),
        serde_json::to_value(p.policy.on_unseen_syscall)?
            .as_str()
            .unwrap_or("?")
    );
    let t = &p.training;
    println!(
        "training   {} traces, {} calls, {} windows, {} epochs, {}",
        t.traces,
        t.calls,
        t.windows,
        t.epochs,
        match (t.converged_at_epoch, t.last_similarity) {
            (Some(e), _) => format!("converged at epoch {e}"),
            (None, Some(s)) => format!("not converged (last similarity {s:.4})"),
            (None, None) => "not converged".to_string(),
        }
    );
    for line in learnt_by_lines(&p.provenance) {
        println!("{}", escape(&line));
    }
    let total: u64 = p.normal_db.iter().map(|r| r.frequency).sum();
    let once = p.normal_db.iter().filter(|r| r.frequency == 1).count();
    println!(
        "database   {} bags, {} windows, {} bags seen once",
        p.normal_db.len(),
        total,
        once
    );
    // Calls per syscall, estimated from the bags: each window holds W calls.
    let mut calls: BTreeMap<&str, u64> = p.syscalls.iter().map(|s| (s.as_str(), 0)).collect();
    for r in &p.normal_db {
        for (name, &count) in &r.bag {
            *calls.entry(name).or_default() += u64::from(count) * r.frequency;
        }
    }
    let mut by_frequency: Vec<(&str, u64)> = calls.into_iter().collect();
    by_frequency.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    let slots = (total * params.window as u64).max(1) as f64;
    println!(
        "\n{} syscalls by share of windowed calls:",
        by_frequency.len()
    );
    for (name, n) in by_frequency.iter().take(a.top) {
        println!("  {:>6.2}%  {}", *n as f64 * 100.0 / slots, escape(name));
    }
    if by_frequency.len() > a.top {
        let rest: Vec<&str> = by_frequency[a.top..].iter().map(|x| x.0).collect();
        println!("  also: {}", escape(&rest.join(" ")));
    }
    let mut bags: Vec<_> = p.normal_db.iter().collect();
    bags.sort_by(|x, y| y.frequency.cmp(&x.frequency).then(x.bag.cmp(&y.bag)));
    println!("\nmost frequent bags:");
    for r in bags.iter().take(a.top) {
        println!("  {:>8}  {}", r.frequency, bag_text(&r.bag));
    }
    Ok(0)
}

/// Who learnt the profile, one line per workload (the store records it; see `provenance.rs`).
fn learnt_by_lines(provenance: &Provenance) -> Vec<String> {
    provenance
        .learnt_by
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "{} {}: {} runs, {} to {}, last containers {}",
                if i == 0 { "learnt by " } else { "          " },
                l.workload.describe(),
                l.runs,
                l.first,
                l.last,
                l.containers.join(" ")
            )
        })
        .collect()
}

fn bag_text(bag: &BTreeMap<String, u8>) -> String {
    let parts: Vec<String> = bag.iter().map(|(n, c)| format!("{n}:{c}")).collect();
    format!("{{{}}}", escape(&parts.join(" ")))
}

fn diff(a: DiffArgs) -> Result<i32> {
    let pa = Profile::load(&a.a)?;
    let pb = Profile::load(&a.b)?;
    let mut differs = false;
    let mut line = |what: &str, x: String, y: String| {
        if x != y {
            differs = true;
            println!("{what}: {} -> {}", escape(&x), escape(&y));
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

fn merge(a: MergeArgs) -> Result<i32> {
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

fn scorer(spec: &str) -> Result<Box<dyn TraceScorer>> {
    let (method, sizes) = spec
        .split_once(':')
        .with_context(|| format!("detector {spec:?}: expected METHOD:W"))?;
    let sizes = sizes
        .split(['+', '/'])
        .map(|w| {
            let w: usize = w
                .parse()
                .with_context(|| format!("detector {spec:?}: bad window {w:?}"))?;
            if w > 64 {
                bail!("detector {spec:?}: windows are at most 64");
            }
            Ok(w)
        })
        .collect::<Result<Vec<usize>>>()?;
    let single = || match sizes[..] {
        [w] if w >= 1 => Ok(w),
        _ => bail!("detector {spec:?}: {method} takes one window of at least 1"),
    };
    let paper = |w: usize| -> Box<dyn TraceScorer> {
        Box::new(Detector::new(Parameters {
            window: w,
            epoch: 1000.max(w as u32),
            stream: StreamMode::PerContainer,
            ..Parameters::default()
        }))
    };
    Ok(match method {
        "bosc" => paper(single()?),
        "bosc-mix" if sizes.iter().all(|&w| w >= 1) => {
            Box::new(ScorerMix(sizes.iter().map(|&w| paper(w)).collect()))
        }
        "bosc-rarity" => Box::new(WeightedBosc::new(single()?, Grading::Rarity)),
        "bosc-near" => Box::new(WeightedBosc::new(single()?, Grading::Neighbourhood)),
        "bosc-backoff" => Box::new(BackoffBosc::new(&sizes, false)),
        "bosc-backoff-last" => Box::new(BackoffBosc::new(&sizes, true)),
        "stide" => Box::new(Stide::new(single()?)),
        _ => bail!("detector {spec:?}: unknown method {method:?} or bad windows"),
    })
}

fn compare(a: CompareArgs) -> Result<i32> {
    let mut scorers = a
        .detectors
        .iter()
        .map(|s| scorer(s))
        .collect::<Result<Vec<_>>>()?;
    let syms = |paths: &[PathBuf]| -> Result<Vec<Vec<Sym>>> {
        Ok(load_traces(paths, &a.input)?
            .iter()
            .map(Trace::syms)
            .collect())
    };
    let train = syms(&a.train)?;
    let normal = syms(&a.normal)?;
    let attack = syms(&a.attack)?;
    println!(
        "train {} traces, normal {} traces, attack {} traces; score per trace\n",
        train.len(),
        normal.len(),
        attack.len()
    );
    println!("| detector | window | AUC | DR @ 1% FPR | DR @ 5% FPR |");
    println!("|---|---|---|---|---|");
    for s in &mut scorers {
        for t in &train {
            s.train(t);
        }
        let ns: Vec<f64> = normal.iter().map(|t| s.score(t)).collect();
        let at: Vec<f64> = attack.iter().map(|t| s.score(t)).collect();
        let dr = |fpr| rates_at_fpr(&ns, &at, fpr).detection_rate * 100.0;
        println!(
            "| {} | {} | {:.3} | {:.1}% | {:.1}% |",
            s.name(),
            s.window(),
            roc_auc(&ns, &at),
            dr(0.01),
            dr(0.05)
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> i32 {
        main(args.iter().map(OsString::from).collect()).unwrap()
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
