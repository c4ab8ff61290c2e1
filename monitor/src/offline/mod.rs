//! Scoring recorded traces instead of live containers: reading strace and dataset traces, the
//! scorers compared with the bag-of-system-calls detector (STIDE, weighted and back-off BoSC), and
//! the detection-rate arithmetic of an evaluation. Pure like the detector, but reads files; nothing
//! live imports it.

pub mod backoff_bosc;
pub mod eval;
pub mod scorer;
pub mod stide;
pub mod sweep;
pub mod trace;
pub mod weighted_bosc;
