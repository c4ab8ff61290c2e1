//! Whether a container is monitored, and how: read from its bundle's config.json.
//!
//! First match wins: the OCI annotation `io.ids-runc.mode`, then `IDS_RUNC_MODE` in the container's
//! environment (docker 20.10 has no `--annotation`, so `docker run -e IDS_RUNC_MODE=learn` must
//! work). Without either, the container runs unmonitored, exactly as under runc.

use std::fmt;
use std::str::FromStr;

pub const MODE_ANNOTATION: &str = "io.ids-runc.mode";
pub const MODE_ENV: &str = "IDS_RUNC_MODE";

/// What the monitor does with a container's system calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not monitored: runc runs the container unchanged.
    Off,
    /// Monitored, but nothing is judged: every call is answered CONTINUE and counted. The floor
    /// against which the detector's cost is measured.
    Null,
    /// Build the normal database.
    Learn,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Mode::Off),
            "null" => Ok(Mode::Null),
            "learn" => Ok(Mode::Learn),
            other => Err(format!(
                "unknown mode {other:?} (expected off, null or learn)"
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Off => "off",
            Mode::Null => "null",
            Mode::Learn => "learn",
        })
    }
}

/// The chosen mode and where it came from (for error messages and events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub mode: Mode,
    pub source: String,
}

/// Reads the selection from a bundle's config.json. A value that is not a mode is an error naming
/// where it came from: a typo must not silently leave a container unmonitored.
pub fn select(spec: &serde_json::Value) -> anyhow::Result<Selection> {
    let from_annotation = spec["annotations"][MODE_ANNOTATION]
        .as_str()
        .map(|v| (v.to_owned(), format!("annotation {MODE_ANNOTATION}")));
    let from_env = || {
        spec["process"]["env"]
            .as_array()?
            .iter()
            .filter_map(|e| e.as_str()?.strip_prefix(MODE_ENV)?.strip_prefix('='))
            .next_back()
            .map(|v| (v.to_owned(), format!("env {MODE_ENV}")))
    };
    match from_annotation.or_else(from_env) {
        Some((value, source)) => {
            let mode = value
                .parse()
                .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
            Ok(Selection { mode, source })
        }
        None => Ok(Selection {
            mode: Mode::Off,
            source: "default".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotation_wins_over_env() {
        let spec = json!({
            "annotations": { "io.ids-runc.mode": "null" },
            "process": { "env": ["PATH=/bin", "IDS_RUNC_MODE=learn"] }
        });
        let s = select(&spec).unwrap();
        assert_eq!(s.mode, Mode::Null);
        assert!(s.source.contains("annotation"));
    }

    #[test]
    fn env_is_read_when_no_annotation() {
        let spec = json!({ "process": { "env": ["IDS_RUNC_MODE=learn"] } });
        assert_eq!(select(&spec).unwrap().mode, Mode::Learn);
    }

    #[test]
    fn nothing_means_off() {
        assert_eq!(select(&json!({})).unwrap().mode, Mode::Off);
        let spec = json!({ "process": { "env": ["IDS_RUNC_MODEX=learn"] } });
        assert_eq!(select(&spec).unwrap().mode, Mode::Off);
    }

    #[test]
    fn a_typo_is_an_error_naming_its_source() {
        let spec = json!({ "process": { "env": ["IDS_RUNC_MODE=lern"] } });
        let err = select(&spec).unwrap_err().to_string();
        assert!(err.contains("IDS_RUNC_MODE") && err.contains("lern"), "{err}");
    }
}
