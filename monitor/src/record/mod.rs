//! What a monitor leaves on disk, and reads back: events for people, per-epoch records for reports,
//! the SVG report drawn from both, and the file helpers they share (JSON lines, atomic writes).
//! Nothing here judges or acts; it imports no backend and no guard, only the names of the monitors.

pub mod atomic_file;
pub mod epoch_log;
pub mod events;
pub mod json_lines;
pub mod report;
