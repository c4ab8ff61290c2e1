//! The per-call cost of the kernel program, for hack/bench-ebpf.sh: a getppid loop (the static
//! program hack/bench/getppid.c, which prints nanoseconds per call) run natively with no program
//! loaded, in a monitored cgroup (learning, then detecting against what was learnt), and outside
//! any monitored cgroup while the program is attached. One line per round:
//! `native learn detect outside` in ns per call.
//!
//!   getppid_cost GETPPID_BINARY CALLS ROUNDS

use std::path::Path;
use std::process::Command;

use ids_detector::alphabet::Alphabet;
use ids_detector::parameters::Parameters;
use ids_ebpf::{cgroup, OnUnseen, Registration, Setup, Spec, DEFAULT_PIN_DIR, KERNEL_BTF};

#[path = "../tests/support/mod.rs"]
mod support;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, binary, calls, rounds] = &args[..] else {
        return Err("usage: getppid_cost GETPPID_BINARY CALLS ROUNDS".into());
    };
    let rounds: u32 = rounds.parse()?;
    let setup = Setup::new(
        &Path::new(DEFAULT_PIN_DIR).with_file_name("bpf-bench"),
        Path::new(KERNEL_BTF),
        support::symbols(),
    )?;
    let group = cgroup::unified_root()?.join(format!("ids-ebpf-bench-{}", std::process::id()));
    std::fs::create_dir(&group)?;
    let id = cgroup::id(&group)?;
    let a = Alphabet::system();
    let execve = [
        a.sym_by_name("execve").ok_or("no execve")?.0,
        a.sym_by_name("execveat").ok_or("no execveat")?.0,
    ];
    // The product's default parameters.
    let p = Parameters::default();
    let limits = support::limits(&p);
    let run = |inside: bool| -> Result<String, Box<dyn std::error::Error>> {
        let mut command = Command::new(binary);
        command.arg(calls);
        if inside {
            support::join_before_exec(&mut command, &group);
        }
        let out = command.output()?;
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    };
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        for _ in 0..rounds {
            let native = run(false)?;
            let mut spec = Spec {
                window: p.window,
                epoch: p.epoch,
                limits: &limits,
                learn: true,
                kill: false,
                execve,
                start_level: 0,
                per_container: false,
                known: &[],
                on_unseen: OnUnseen::Ignore,
                invisible: &[],
                bags: &[],
                capacity: 10_000,
                continuous: false,
            };
            let learning = Registration::new(&setup, id, &spec)?;
            let learn = run(true)?;
            let bags = learning.bags()?;
            learning.unregister()?;
            spec.learn = false;
            spec.bags = &bags;
            let detecting = Registration::new(&setup, id, &spec)?;
            let detect = run(true)?;
            let outside = run(false)?;
            let counters = detecting.counters()?;
            detecting.unregister()?;
            if counters.anomalies > 0 {
                return Err(format!("the detect run was judged anomalous: {counters:?}").into());
            }
            println!("{native} {learn} {detect} {outside}");
        }
        Ok(())
    })();
    std::fs::remove_dir(&group)?;
    result
}
