//! Per-epoch records of one container (`<runs_dir>/<id>.epochs.jsonl`), for `ids-runc report`.
//! Buffered: a record costs a small formatted write into memory; the buffer reaches the file when
//! the guard flushes it (about once a second while calls flow, and at the end).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::json_lines::ReadError;

/// One judged epoch, kept for reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: u64,
    pub mismatches: u32,
    pub windows: u32,
    pub threshold: f64,
    /// With the back-off scorer, the epoch's surprise (nats, summed over its windows): the
    /// threshold then bounds it, and the mismatches are its surprising calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surprise: Option<f64>,
    pub anomalous: bool,
    /// Milliseconds since the Unix epoch when the epoch ended.
    pub at_ms: u64,
}

pub struct EpochLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EpochLog {
    /// Creates (truncates) the file, and its directory.
    pub fn create(path: &Path) -> io::Result<EpochLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(EpochLog {
            path: path.to_owned(),
            out: BufWriter::with_capacity(64 << 10, File::create(path)?),
        })
    }

    /// Opens the file a monitor that died was writing, to go on at its end. A record it was
    /// cut off in the middle of is dropped, so every line stays a record.
    pub fn resume(path: &Path) -> io::Result<EpochLog> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut text = Vec::new();
        io::Read::read_to_end(&mut file, &mut text)?;
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        file.set_len(whole as u64)?;
        io::Seek::seek(&mut file, io::SeekFrom::Start(whole as u64))?;
        Ok(EpochLog {
            path: path.to_owned(),
            out: BufWriter::with_capacity(64 << 10, file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record(&mut self, record: &EpochRecord) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, record).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reads a file written by [`EpochLog`]; a line that is not a record is an error naming it.
pub fn read(path: &Path) -> Result<Vec<EpochRecord>, ReadError> {
    super::json_lines::read_all(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs/c.epochs.jsonl");
        let mut log = EpochLog::create(&path).unwrap();
        let r = EpochRecord {
            epoch: 1,
            mismatches: 2,
            windows: 3,
            threshold: 4.5,
            surprise: Some(7.5),
            anomalous: false,
            at_ms: 6,
        };
        log.record(&r).unwrap();
        log.record(&r).unwrap();
        log.flush().unwrap();
        assert_eq!(read(&path).unwrap(), vec![r, r]);
    }

    #[test]
    fn resuming_drops_a_record_cut_short_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.epochs.jsonl");
        let r = EpochRecord {
            epoch: 1,
            mismatches: 0,
            windows: 3,
            threshold: 4.5,
            surprise: None,
            anomalous: false,
            at_ms: 6,
        };
        let mut log = EpochLog::create(&path).unwrap();
        log.record(&r).unwrap();
        log.flush().unwrap();
        drop(log);
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"{\"epoch\":2,\"mism");
        std::fs::write(&path, text).unwrap();
        let mut log = EpochLog::resume(&path).unwrap();
        log.record(&EpochRecord { epoch: 2, ..r }).unwrap();
        log.flush().unwrap();
        assert_eq!(read(&path).unwrap(), vec![r, EpochRecord { epoch: 2, ..r }]);
    }
}
