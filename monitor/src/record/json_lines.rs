//! Files of one JSON document per line (events, epoch records): read back whole.

use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A JSON-lines file could not be read back: the file, or one of its lines.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error("{}:{line}: {source}", path.display())]
    Line {
        path: PathBuf,
        /// Counted from 1.
        line: usize,
        source: serde_json::Error,
    },
}

/// Every line of `path` as a `T`; a missing file has none. A line that is not a `T` is an error
/// naming the file and the line.
pub fn read_all<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, ReadError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ReadError::File {
                path: path.to_owned(),
                source,
            })
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|source| ReadError::Line {
                path: path.to_owned(),
                line: n + 1,
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_has_no_lines_and_blank_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.jsonl");
        assert!(read_all::<u32>(&path).unwrap().is_empty());
        std::fs::write(&path, "1\n\n  \n2\n").unwrap();
        assert_eq!(read_all::<u32>(&path).unwrap(), vec![1, 2]);
    }

    #[test]
    fn a_bad_line_is_named_by_path_and_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.jsonl");
        std::fs::write(&path, "1\n\nx\n").unwrap();
        match read_all::<u32>(&path).unwrap_err() {
            ReadError::Line { path: p, line, .. } => assert_eq!((p, line), (path, 3)),
            other => panic!("{other}"),
        }
    }
}
