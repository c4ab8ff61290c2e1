//! A log file that many processes append whole lines to, and that logrotate may rename away at
//! any moment.
//!
//! Each line goes out in one `write` on an `O_APPEND` descriptor, so lines of several writers
//! never interleave and a file truncated under us (logrotate's `copytruncate`) is appended to at
//! its new end, never past a hole. Before each line the writer checks that its path still names
//! the file it holds open (device and inode); when logrotate has renamed it away (its default
//! `create` method) the writer opens the new file. A line written between the rename and that
//! check lands in the rotated file, which logrotate keeps: nothing is lost, and no writer needs a
//! signal. The check costs two `stat`s per line; events are rare.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct AppendFile {
    path: PathBuf,
    file: Option<File>,
}

impl AppendFile {
    /// Opened lazily, at the first line; its directory is created then.
    pub fn new(path: &Path) -> AppendFile {
        AppendFile {
            path: path.to_owned(),
            file: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `line` (which ends with a newline) in one write; `durable` flushes it to disk.
    pub fn append(&mut self, line: &[u8], durable: bool) -> io::Result<()> {
        if self.file.as_ref().is_some_and(|f| !names(&self.path, f)) {
            self.file = None;
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(self.open()?),
        };
        file.write_all(line)?;
        if durable {
            file.sync_data()?;
        }
        Ok(())
    }

    fn open(&self) -> io::Result<File> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
    }
}

/// Whether `path` names the open `file` (same device and inode): not once the file was renamed
/// away or removed. Readers that follow the file use it too.
pub fn names(path: &Path, file: &File) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_file_keeps_its_lines_and_the_next_goes_to_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log/events.jsonl");
        let mut log = AppendFile::new(&path);
        log.append(b"1\n", false).unwrap();
        std::fs::rename(&path, dir.path().join("log/events.jsonl.1")).unwrap();
        log.append(b"2\n", true).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("log/events.jsonl.1")).unwrap(),
            b"1\n"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"2\n");
    }

    #[test]
    fn a_truncated_file_is_appended_to_at_its_new_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut log = AppendFile::new(&path);
        log.append(b"first line\n", false).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        log.append(b"2\n", false).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"2\n",
            "no hole before the line"
        );
    }
}
