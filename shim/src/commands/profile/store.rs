//! How the profile commands find a profile: by its name in the host store, as
//! `IDS_RUNC_PROFILE` names one, or by a file's path.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ids_monitor::profile::Profile;

use crate::config::host::HostConfig;
use crate::config::profile_ref::{check_name, ProfileRef};

/// The profile `given` names, read and validated, and its file: `<profile_dir>/<given>.json` if
/// `given` is a store name and that profile exists (opened as `create` opens it: never through a
/// link), else the file at path `given`.
pub fn load(given: &str, host: &HostConfig) -> anyhow::Result<(PathBuf, Profile)> {
    if let Ok(r) = ProfileRef::store(given) {
        if let Some(found) = r.load(host)? {
            return Ok((r.path(host), found.profile));
        }
    }
    let path = PathBuf::from(given);
    if std::fs::symlink_metadata(&path).is_ok() {
        let profile = Profile::load(&path)?;
        return Ok((path, profile));
    }
    anyhow::bail!(
        "no profile {:?} in the store ({}) and no file of that path",
        crate::terminal_text::escape(given),
        host.profile_dir().display()
    )
}

/// The file of store profile `name`, which must exist.
pub fn existing(name: &str, host: &HostConfig) -> anyhow::Result<PathBuf> {
    check_name(name).map_err(|e| anyhow::anyhow!("not a profile of the store: {e}"))?;
    let path = ProfileRef::Store(name.to_owned()).path(host);
    match std::fs::symlink_metadata(&path) {
        Ok(_) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "no profile {name} in the store ({}); `ids-runc profile list` lists them",
            host.profile_dir().display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot stat {}", path.display())),
    }
}

/// The store's profiles: `(name, path)` of every `<name>.json` whose name is a store name, sorted.
pub fn entries(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut found = Vec::new();
    for entry in read {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let file = entry.file_name();
        // Names starting with '.' are the store's own (temp files, the lock).
        let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".json")) else {
            continue;
        };
        if check_name(name).is_ok() {
            found.push((name.to_owned(), entry.path()));
        }
    }
    found.sort();
    Ok(found)
}
