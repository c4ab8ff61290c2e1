//! `ids-runc --version`: runc's lines, then ours. Tools parse runc's (docker shows the runtime's
//! version from the first line, and the `commit:` line after it), so ids-runc may only add after
//! them.

use std::io::Write;

use crate::runc::Runc;

pub fn run(runc: &Runc) -> anyhow::Result<i32> {
    let out = runc.output(&["--version"])?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out.stdout)?;
    writeln!(stdout, "ids-runc: {}", env!("CARGO_PKG_VERSION"))?;
    Ok(crate::runc::exit_code(out.status))
}
