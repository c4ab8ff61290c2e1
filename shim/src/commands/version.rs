//! `ids-runc --version`: ours, then runc's.

use crate::runc::Runc;

pub fn run(runc: &Runc) -> anyhow::Result<i32> {
    println!("ids-runc version {}", env!("CARGO_PKG_VERSION"));
    let out = runc.output(&["--version"])?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(crate::runc::exit_code(out.status))
}
