//! ids-runc: an OCI runtime that wraps runc and puts a system-call intrusion detector on every
//! container it launches.

mod commands;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().map(|a| a == "profile").unwrap_or(false) {
        match commands::profile::main(args[1..].to_vec()) {
            Ok(code) => std::process::exit(code),
            Err(e) => {
                eprintln!("ids-runc: {e:#}");
                std::process::exit(1);
            }
        }
    }
    println!("ids-runc");
}
