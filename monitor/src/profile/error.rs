//! What can be wrong with a profile, and with reading or writing its file.

use std::path::{Path, PathBuf};

/// A field of a profile that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidProfile {
    /// Path of the field, such as `parameters.window` or `normal_db[3].bag.openat`.
    pub field: String,
    pub reason: String,
}

pub(super) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> InvalidProfile {
    InvalidProfile {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Reading, parsing, validating or writing a profile file failed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    // The I/O error is part of the message and no `source`: a chain printed with `{:#}` would
    // say it twice.
    #[error("failed to read profile {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("profile {}: line {line}, column {column}: {field}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    #[error("profile {}: {error}", path.display())]
    Invalid {
        path: PathBuf,
        error: InvalidProfile,
    },
    #[error("failed to write profile {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

pub(super) fn syntax_error(path: &Path, field: String, error: serde_json::Error) -> ProfileError {
    // serde_json appends " at line L column C"; the line and column get their own place.
    let text = error.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m)
        .to_string();
    ProfileError::Syntax {
        path: path.to_path_buf(),
        line: error.line(),
        column: error.column(),
        field,
        message,
    }
}
