//! `ids-runc profile ...`: train, evaluate, show, diff and merge profiles offline.

use std::ffi::OsString;

pub fn main(_args: Vec<OsString>) -> anyhow::Result<i32> {
    anyhow::bail!("ids-runc profile: not built yet")
}
