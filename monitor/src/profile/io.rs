//! Reading and writing profile files: bounded, validated on the way in, atomic on the way out.

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::syntax_error;
use super::{Profile, ProfileError, MAX_FILE_SIZE};

impl Profile {
    /// Parses and validates profile text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Profile, ProfileError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let profile: Profile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = match e.path().to_string() {
                f if f == "." => "(top level)".to_string(),
                f => f,
            };
            syntax_error(path, field, e.into_inner())
        })?;
        de.end()
            .map_err(|e| syntax_error(path, "(after the profile)".to_string(), e))?;
        profile.validate().map_err(|error| ProfileError::Invalid {
            path: path.to_path_buf(),
            error,
        })?;
        Ok(profile)
    }

    /// Reads and validates a profile file. It must be a regular file (opened without blocking, so
    /// a FIFO cannot hang the caller) of at most [`MAX_FILE_SIZE`] bytes.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let read_error = |error| ProfileError::Read {
            path: path.to_path_buf(),
            error,
        };
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(read_error)?;
        Profile::read_file(file, path)
    }

    /// Reads and validates a profile from a file already open (the caller chose how to open it:
    /// without following links, beneath a directory); `path` names it in errors. It must be a
    /// regular file of at most [`MAX_FILE_SIZE`] bytes.
    pub fn read_file(file: fs::File, path: &Path) -> Result<Profile, ProfileError> {
        let read_error = |error| ProfileError::Read {
            path: path.to_path_buf(),
            error,
        };
        let meta = file.metadata().map_err(read_error)?;
        if !meta.is_file() {
            return Err(read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} bytes; profiles larger than {MAX_FILE_SIZE} bytes are refused",
                    meta.len()
                ),
            )));
        }
        let mut text = String::new();
        file.take(MAX_FILE_SIZE + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        if text.len() as u64 > MAX_FILE_SIZE {
            return Err(read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("grew past {MAX_FILE_SIZE} bytes while it was read"),
            )));
        }
        Profile::parse(&text, path)
    }

    /// The profile as pretty JSON.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a profile always serialises");
        text.push('\n');
        text
    }

    /// Writes the profile atomically: a temporary file in the same directory, flushed to disk, then
    /// renamed over `path`, and the directory flushed, so a reader sees the old or the new profile
    /// and never half of one, even across a crash.
    pub fn save(&self, path: &Path) -> Result<(), ProfileError> {
        crate::record::atomic_file::write_atomically(path, self.to_json().as_bytes()).map_err(
            |error| ProfileError::Write {
                path: path.to_path_buf(),
                error,
            },
        )
    }
}
