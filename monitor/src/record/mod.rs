//! What a monitor leaves on disk, and reads back: events for people, per-epoch records for reports,
//! the SVG report drawn from both, the other places events go (syslog, Falco's format), and the file helpers they share (JSON lines, atomic writes).
//! Nothing here judges or acts; it imports no backend and no guard, only the names of the monitors.

pub mod append_file;
pub mod atomic_file;
pub mod epoch_log;
pub mod event_log;
pub mod event_sinks;
pub mod event_text;
pub mod events;
pub mod falco;
pub mod json_lines;
pub mod priority;
pub mod report;
pub mod syslog;
