//! The mode a container runs in, as the host config, annotations and env spell it, and as events
//! record it. The guard runs the three monitored modes that judge or learn (`GuardMode`); the
//! detector has only two phases, learning and detecting (`ids_detector::detector::Mode`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What the monitor does with a container's system calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Not monitored: runc runs the container unchanged.
    Off,
    /// Monitored, nothing judged: every call answered CONTINUE and counted. The floor against
    /// which the detector's cost is measured.
    Null,
    /// Build the normal database and save it as a profile.
    Learn,
    /// Judge against a profile.
    Detect,
    /// Learn until the profile converges, save it, then detect.
    LearnDetect,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Mode::Off),
            "null" => Ok(Mode::Null),
            "learn" => Ok(Mode::Learn),
            "detect" => Ok(Mode::Detect),
            "learn-detect" => Ok(Mode::LearnDetect),
            other => Err(format!(
                "unknown mode {other:?} (expected off, learn, detect, learn-detect or null)"
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
            Mode::Detect => "detect",
            Mode::LearnDetect => "learn-detect",
        })
    }
}
