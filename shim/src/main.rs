//! ids-runc: an OCI runtime that wraps runc and puts a system-call intrusion detector on every
//! container it launches. Every runc command line is accepted; the few commands that need ids-runc's
//! work are handled here, and everything goes on to the real runc.

mod commands;
mod config;
mod container;
mod exposition;
mod monitor_process;
mod runc;
mod terminal_text;

use std::ffi::OsString;

use config::host::HostConfig;
use runc::args::RuncArgs;
use runc::Runc;

/// Printed after runc's own help, so that tools reading runc's help find its first lines first.
const HELP: &str = "\
IDS-RUNC:
   This runc is ids-runc, an OCI runtime that wraps runc and watches each container's system calls.
   Every runc command and flag is passed to the real runc, found through IDS_RUNC_RUNTIME, the
   \"runtime\" key of /etc/ids-runc/config.json, PATH, or the standard directories.

   ids-runc profile <train|eval|show|diff|merge|compare|list|rm|export> ...
   ids-runc inspect <container-id>
   ids-runc metrics [--textfile FILE.prom]
   ids-runc events [--follow] [container-id]
   ids-runc report <container-id> [-o report.svg]
   ids-runc unload-ebpf
";

fn main() {
    restore_sigpipe();
    let args = RuncArgs::parse(std::env::args_os().skip(1).collect());
    let code = dispatch(&args).unwrap_or_else(|err| {
        runc::log::report_error(&args.global, &err);
        1
    });
    std::process::exit(code);
}

fn dispatch(args: &RuncArgs) -> anyhow::Result<i32> {
    let command = args.command().map(|c| c.to_string_lossy().into_owned());
    let host = HostConfig::load()?;
    match command.as_deref() {
        Some("profile") => return commands::profile::main(words_after_command(args), &host),
        Some("inspect") => {
            return commands::inspect::main(
                words_after_command(args),
                args.global.root.as_deref(),
                &host,
            )
        }
        Some("metrics") => return commands::metrics::main(words_after_command(args), &host),
        Some("monitor") => return commands::monitor::main(words_after_command(args)),
        Some("exec-guard") => return commands::exec::guard_main(words_after_command(args)),
        Some("report") => return commands::report::main(words_after_command(args), &host),
        Some("unload-ebpf") => {
            return commands::unload_ebpf::main(words_after_command(args), &host)
        }
        Some("events") if !commands::events::is_runc_events(args) => {
            return commands::events::main(words_after_command(args), &host)
        }
        _ => {}
    }
    let runc = Runc::locate(&host)?;
    match command.as_deref() {
        None if args.global.version => commands::version::run(&runc),
        None | Some("help") | Some("h") if args.positional.is_empty() => {
            let code = runc.run(&args.words)?;
            print!("\n{HELP}");
            Ok(code)
        }
        Some("features") => commands::features::run(&runc, &args.words),
        Some("create") | Some("run") if !args.asks_help() && !args.global.help => {
            commands::create::run(&runc, args, &host)
        }
        Some("delete") => commands::delete::run(&runc, args, &host),
        Some("exec") => commands::exec::run(&runc, args, &host),
        _ => Err(runc.exec(&args.words)),
    }
}

fn words_after_command(args: &RuncArgs) -> Vec<OsString> {
    args.command_at
        .map(|at| args.words[at + 1..].to_vec())
        .unwrap_or_default()
}

/// Rust ignores SIGPIPE at start-up. A CLI should die quietly when its reader goes away
/// (`ids-runc --version | head -1`), and an ignored signal would stay ignored in the runc we exec.
fn restore_sigpipe() {
    // SAFETY: setting a signal to its default disposition has no memory-safety preconditions; no
    // handler is installed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
