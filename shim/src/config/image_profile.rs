//! A profile shipped inside the image, at `/etc/ids-runc/profile.json` of the container's rootfs.
//!
//! The rootfs belongs to whoever built the image, so the file is opened with `openat2` and
//! `RESOLVE_IN_ROOT`: every path component, symlinks included, is resolved as if the rootfs were
//! `/`, so a link pointing at a host file reaches, at most, a file inside the rootfs. It must be a
//! regular file (a FIFO would block `create`), and no larger than `MAX_SIZE`.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use ids_monitor::profile::Profile;
use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::config::found_profile::FoundProfile;

pub const PATH_IN_IMAGE: &str = "/etc/ids-runc/profile.json";
/// Larger files are refused rather than read into memory (the limit of every profile load).
pub const MAX_SIZE: u64 = ids_monitor::profile::MAX_FILE_SIZE;

/// The container's rootfs: `root.path` of the spec, relative to the bundle unless absolute.
fn rootfs(bundle: &Path, spec: &serde_json::Value) -> PathBuf {
    let root = spec["root"]["path"].as_str().unwrap_or("rootfs");
    bundle.join(root)
}

fn open_in_root(dir: &Path, path: &str, flags: OFlag) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(Mode::empty())
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let dir_fd = nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: `open` returned a fresh fd that nothing else owns.
    let dir_fd = unsafe { OwnedFd::from_raw_fd(dir_fd) };
    let fd = openat2(std::os::fd::AsRawFd::as_raw_fd(&dir_fd), path, how)?;
    // SAFETY: `openat2` returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads and validates the image's profile; `None` if the image has none.
pub fn read(bundle: &Path, spec: &serde_json::Value) -> anyhow::Result<Option<FoundProfile>> {
    let root = rootfs(bundle, spec);
    let shown = format!("{}{PATH_IN_IMAGE} (in the image)", root.display());
    let fd = match open_in_root(&root, PATH_IN_IMAGE, OFlag::O_RDONLY | OFlag::O_NONBLOCK) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("cannot open {shown}: {e}")),
    };
    let file = std::fs::File::from(fd);
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {shown}"))?;
    anyhow::ensure!(meta.is_file(), "{shown} is not a regular file");
    anyhow::ensure!(
        meta.len() <= MAX_SIZE,
        "{shown} is {} bytes; profiles larger than {MAX_SIZE} bytes are refused",
        meta.len()
    );
    let mut text = String::new();
    file.take(MAX_SIZE + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {shown}"))?;
    let profile = Profile::parse(&text, Path::new(&shown))?;
    Ok(Some(FoundProfile {
        profile,
        origin: shown,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_profile_is_none() {
        let bundle = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(bundle.path().join("rootfs/etc")).unwrap();
        assert!(read(bundle.path(), &serde_json::json!({}))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_link_out_of_the_rootfs_is_resolved_inside_it() {
        let bundle = tempfile::tempdir().unwrap();
        let host_file = bundle.path().join("host-secret.json");
        std::fs::write(&host_file, "{ this would be a parse error if read }").unwrap();
        let dir = bundle.path().join("rootfs/etc/ids-runc");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&host_file, dir.join("profile.json")).unwrap();
        assert!(read(bundle.path(), &serde_json::json!({}))
            .unwrap()
            .is_none());
        std::fs::remove_file(dir.join("profile.json")).unwrap();
        std::os::unix::fs::symlink(
            "../../../../../../host-secret.json",
            dir.join("profile.json"),
        )
        .unwrap();
        assert!(read(bundle.path(), &serde_json::json!({}))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_malformed_profile_names_the_file() {
        let bundle = tempfile::tempdir().unwrap();
        let dir = bundle.path().join("rootfs/etc/ids-runc");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("profile.json"), "{ \"format_version\": 1,").unwrap();
        let err = format!(
            "{:#}",
            read(bundle.path(), &serde_json::json!({})).unwrap_err()
        );
        assert!(err.contains("etc/ids-runc/profile.json"), "{err}");
    }

    #[test]
    fn a_fifo_does_not_block() {
        let bundle = tempfile::tempdir().unwrap();
        let dir = bundle.path().join("rootfs/etc/ids-runc");
        std::fs::create_dir_all(&dir).unwrap();
        nix::unistd::mkfifo(&dir.join("profile.json"), Mode::from_bits_truncate(0o600)).unwrap();
        let err = format!(
            "{:#}",
            read(bundle.path(), &serde_json::json!({})).unwrap_err()
        );
        assert!(err.contains("not a regular file"), "{err}");
    }
}
