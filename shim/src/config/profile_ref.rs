//! What a profile setting (`io.ids-runc.profile`, `IDS_RUNC_PROFILE`) may name, and how the file it
//! names is opened.
//!
//! The setting comes from whoever runs the container or from the image (an image's `ENV` lands in
//! the container's env, indistinguishable from `docker run -e`), and the host acts on it as root.
//! So it names either
//! - a profile of the host store, by a plain name (`[A-Za-z0-9_.-]`, not starting with `.`, at
//!   most [`MAX_NAME_LEN`] bytes): `<profile_dir>/<name>.json`, read and written, never through a
//!   link; or
//! - an absolute path inside one of the directories the host config lists in
//!   `profile_path_dirs`: read only (for detection), resolved beneath that directory.
//!
//! Anything else is refused, and the error names the setting it came from.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use ids_monitor::profile::Profile;
use nix::errno::Errno;
use nix::fcntl::{OFlag, ResolveFlag};

use crate::config::found_profile::FoundProfile;
use crate::config::host::HostConfig;

/// Longest profile name: `.<name>.json.<pid>.<nanos>.<n>.tmp`, the store's temp file, must stay
/// within a file name's 255 bytes.
pub const MAX_NAME_LEN: usize = 200;

/// A profile a setting names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileRef {
    /// `<profile_dir>/<name>.json`.
    Store(String),
    /// An absolute path below `dir`, a directory the host config lists.
    Listed { dir: PathBuf, path: PathBuf },
}

/// Whether `name` may name a profile of the store, and if not why.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an empty profile name".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "a profile name of {} bytes (at most {MAX_NAME_LEN})",
            name.len()
        ));
    }
    if name.starts_with('.') {
        return Err(format!(
            "{name:?} starts with '.' (names of the store's own temp files)"
        ));
    }
    if let Some(b) = name
        .bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || b"_.-".contains(b)))
    {
        return Err(format!(
            "{:?} has {:?}: a profile name is made of [A-Za-z0-9_.-]",
            name.escape_debug().to_string(),
            char::from(b)
        ));
    }
    Ok(())
}

impl ProfileRef {
    /// What `value` names on this host, or why it names nothing.
    pub fn parse(value: &str, host: &HostConfig) -> Result<ProfileRef, String> {
        if !value.starts_with('/') {
            check_name(value).map_err(|e| {
                format!("{e}; a profile is named by its name in the store or by an absolute path")
            })?;
            return Ok(ProfileRef::Store(value.to_owned()));
        }
        let path = Path::new(value);
        let listed = || {
            let dirs: Vec<String> = host
                .profile_path_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            if dirs.is_empty() {
                "none".to_owned()
            } else {
                dirs.join(", ")
            }
        };
        if value.contains('\0') {
            return Err(format!(
                "{:?} has a NUL byte",
                value.escape_debug().to_string()
            ));
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(format!("{value:?} has a '..' component"));
        }
        let dir = host
            .profile_path_dirs
            .iter()
            .find(|dir| path.starts_with(dir) && path != dir.as_path())
            .ok_or_else(|| {
                format!(
                    "{value:?} is outside the directories the host config lists in \
                     profile_path_dirs ({}); a container's settings name absolute paths only \
                     there (or a profile of the store by name)",
                    listed()
                )
            })?;
        Ok(ProfileRef::Listed {
            dir: dir.clone(),
            path: path.to_owned(),
        })
    }

    /// A profile of the store.
    pub fn store(name: &str) -> Result<ProfileRef, String> {
        check_name(name)?;
        Ok(ProfileRef::Store(name.to_owned()))
    }

    /// The file, for messages and for saving.
    pub fn path(&self, host: &HostConfig) -> PathBuf {
        match self {
            ProfileRef::Store(name) => host.profile_dir().join(format!("{name}.json")),
            ProfileRef::Listed { path, .. } => path.clone(),
        }
    }

    /// Opens the file for reading, confined to its directory (the store: no link at all);
    /// `None` if there is none.
    fn open(&self, host: &HostConfig) -> anyhow::Result<Option<File>> {
        let (dir, rel, resolve) = match self {
            ProfileRef::Store(name) => (
                host.profile_dir(),
                PathBuf::from(format!("{name}.json")),
                ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS,
            ),
            ProfileRef::Listed { dir, path } => (
                dir.clone(),
                path.strip_prefix(dir)
                    .expect("parse keeps only paths below dir")
                    .to_owned(),
                ResolveFlag::RESOLVE_BENEATH,
            ),
        };
        let shown = self.path(host);
        match crate::config::confined_open::open(
            &dir,
            &rel,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK,
            resolve,
        ) {
            Ok(fd) => Ok(Some(File::from(fd))),
            Err(Errno::ENOENT) => Ok(None),
            Err(Errno::ELOOP) => anyhow::bail!(
                "{} is a symbolic link; the store's profiles are regular files",
                shown.display()
            ),
            Err(Errno::EXDEV) => anyhow::bail!(
                "{} leads out of {} through a link",
                shown.display(),
                dir.display()
            ),
            Err(e) => Err(e).with_context(|| format!("cannot open {}", shown.display())),
        }
    }

    /// Reads and validates the profile; `None` if there is no such file.
    pub fn load(&self, host: &HostConfig) -> anyhow::Result<Option<FoundProfile>> {
        let path = self.path(host);
        let Some(file) = self.open(host)? else {
            return Ok(None);
        };
        Ok(Some(FoundProfile {
            profile: Profile::read_file(file, &path)?,
            origin: path.display().to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(store: &Path, dirs: &[&Path]) -> HostConfig {
        HostConfig {
            profile_dir: Some(store.to_owned()),
            profile_path_dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
            ..HostConfig::default()
        }
    }

    #[test]
    fn names_of_the_store() {
        for good in ["web", "demo-service", "a.b_c-1", &"x".repeat(MAX_NAME_LEN)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../etc/passwd",
            "a\0b",
            "a\u{1b}[2J",
            "café",
            "a b",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            let err = check_name(bad).unwrap_err();
            assert!(!err.contains('\u{1b}') && !err.contains('\0'), "{err}");
        }
    }

    #[test]
    fn absolute_paths_only_below_listed_directories() {
        let store = tempfile::tempdir().unwrap();
        let listed = tempfile::tempdir().unwrap();
        let h = host(store.path(), &[listed.path()]);
        let inside = listed.path().join("web.json");
        assert_eq!(
            ProfileRef::parse(inside.to_str().unwrap(), &h).unwrap(),
            ProfileRef::Listed {
                dir: listed.path().to_owned(),
                path: inside.clone()
            }
        );
        let escape = format!("{}/../x.json", listed.path().display());
        let sibling = format!("{}-evil/x.json", listed.path().display());
        for bad in [
            "/etc/passwd",
            "/tmp/pwned-abs.json",
            escape.as_str(),
            sibling.as_str(),
            listed.path().to_str().unwrap(),
            "/a\0b",
        ] {
            assert!(ProfileRef::parse(bad, &h).is_err(), "{bad}");
        }
        let err = ProfileRef::parse("/etc/x.json", &host(store.path(), &[])).unwrap_err();
        assert!(err.contains("profile_path_dirs (none)"), "{err}");
    }

    #[test]
    fn a_link_in_the_store_is_never_followed() {
        let store = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "{}").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), store.path().join("p.json"))
            .unwrap();
        let h = host(store.path(), &[]);
        let err = format!(
            "{:#}",
            ProfileRef::store("p").unwrap().load(&h).unwrap_err()
        );
        assert!(err.contains("symbolic link"), "{err}");
        assert!(ProfileRef::store("absent")
            .unwrap()
            .load(&h)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_link_out_of_a_listed_directory_is_refused() {
        let store = tempfile::tempdir().unwrap();
        let listed = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "{}").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), listed.path().join("p.json"))
            .unwrap();
        let h = host(store.path(), &[listed.path()]);
        let value = listed.path().join("p.json");
        let r = ProfileRef::parse(value.to_str().unwrap(), &h).unwrap();
        let err = format!("{:#}", r.load(&h).unwrap_err());
        assert!(err.contains("leads out of"), "{err}");
    }
}
