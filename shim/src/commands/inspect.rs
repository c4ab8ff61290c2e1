//! `ids-runc inspect ID`: the monitor's live counters, as JSON.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::config::host::HostConfig;
use crate::container::state_dir::StateDir;

#[derive(Debug, Parser)]
#[command(
    name = "ids-runc inspect",
    about = "Print a monitored container's live counters as JSON"
)]
pub struct InspectArgs {
    /// The container (full id or a unique prefix).
    id: String,
}

/// `runc_root`: the global `--root`, to tell apart two containers of one id under two runc roots.
pub fn main(
    words: Vec<std::ffi::OsString>,
    runc_root: Option<&Path>,
    host: &HostConfig,
) -> anyhow::Result<i32> {
    let args = InspectArgs::try_parse_from(
        std::iter::once(std::ffi::OsString::from("ids-runc inspect")).chain(words),
    )?;
    let state = StateDir::find(&host.state_root(), runc_root, &args.id)?;
    let doc = match ids_monitor::backend::control::request(
        &state.control_socket(),
        ids_monitor::backend::control::INSPECT,
        Duration::from_secs(5),
    ) {
        Ok(doc) => doc,
        Err(e) => {
            if let Some(death) = crate::monitor_process::health::check(&state, "inspect", true) {
                anyhow::bail!("container {}: {death}", state.container_id());
            }
            return Err(e).with_context(|| format!("cannot reach the monitor of {}", args.id));
        }
    };
    // The document holds what the container chose (its profile's name): escaped for a terminal.
    let text = serde_json::to_string_pretty(&doc)?;
    println!("{}", crate::terminal_text::escape_json(&text));
    Ok(0)
}
