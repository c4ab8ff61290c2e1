//! Where events go besides the events file: syslog, and a file in Falco's JSON format. Chosen in
//! the host config, handed to each monitor in its launch file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::syslog::SyslogConfig;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSinks {
    /// Also send each event to syslog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syslog: Option<SyslogConfig>,
    /// Also append each event, in Falco's JSON output format, to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub falco_path: Option<PathBuf>,
}
