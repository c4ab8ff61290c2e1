//! `ids-runc profile export NAME`: prints a profile, to be shipped in an image, and on stderr the
//! Dockerfile line that puts it where ids-runc looks in every image it starts
//! (`/etc/ids-runc/profile.json`): a container of that image then detects with it by itself.

use std::path::Path;

use anyhow::Result;
use clap::Args;

use super::store;
use crate::config::host::HostConfig;
use crate::config::image_profile::PATH_IN_IMAGE;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The profile: its name in the store, or a file's path.
    profile: String,
}

pub fn run(a: ExportArgs, host: &HostConfig) -> Result<i32> {
    // Validated as `create` will validate it in the image, and printed as ids-runc writes it.
    let (path, profile) = store::load(&a.profile, host)?;
    print!("{}", profile.to_json());
    eprintln!("{}", dockerfile_line(&path));
    Ok(0)
}

/// The `COPY` of the exported file (saved in the build context under the store file's name).
fn dockerfile_line(path: &Path) -> String {
    let file = path
        .file_name()
        .map_or_else(|| "profile.json".into(), |f| f.to_string_lossy());
    format!(
        "COPY {} {PATH_IN_IMAGE}",
        crate::terminal_text::escape(&file)
    )
}
