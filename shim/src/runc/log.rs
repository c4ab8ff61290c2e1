//! Errors reported the way runc reports them, so containerd and docker show them to the user.
//!
//! The containerd shim passes `--log <bundle>/log.json --log-format json` and, when a runtime call
//! fails, shows the last `"level":"error"` line of that file. An error of ids-runc itself therefore
//! goes to stderr (for a person) and, in JSON mode, is appended to the log file (for the shim).

use std::io::Write;

use crate::runc::args::{GlobalOpts, LogFormat};

#[derive(serde::Serialize)]
struct LogLine<'a> {
    level: &'a str,
    msg: &'a str,
    time: String,
}

/// Reports a fatal error of ids-runc: one line on stderr, and a JSON line in `--log` when the log
/// format is JSON. A log file that cannot be written does not hide the error on stderr.
pub fn report_error(global: &GlobalOpts, err: &anyhow::Error) {
    let msg = format!("{err:#}");
    eprintln!("ids-runc: {msg}");
    append_json(global, "error", &msg);
}

/// Reports something the user must know that does not stop the call (a container run unmonitored
/// because the host fails open).
pub fn report_warning(global: &GlobalOpts, msg: &str) {
    eprintln!("ids-runc: warning: {msg}");
    append_json(global, "warning", msg);
}

fn append_json(global: &GlobalOpts, level: &str, msg: &str) {
    if global.log_format != LogFormat::Json {
        return;
    }
    let Some(path) = &global.log else { return };
    let line = LogLine {
        level,
        msg,
        time: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
    };
    let Ok(mut text) = serde_json::to_string(&line) else {
        return;
    };
    text.push('\n');
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        eprintln!("ids-runc: cannot append to log {}: {e}", path.display());
    }
}
