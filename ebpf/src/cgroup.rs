//! Containers are told apart by their cgroup (v2) id: where that hierarchy is, and a cgroup's id.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// Where the cgroup v2 hierarchy is mounted: `/sys/fs/cgroup` on a unified host,
/// `/sys/fs/cgroup/unified` on a hybrid one (as Docker's cgroupfs driver sets it up).
pub fn unified_root() -> Result<PathBuf, Error> {
    let mountinfo = "/proc/self/mountinfo";
    let text = std::fs::read_to_string(mountinfo).map_err(Error::file(mountinfo))?;
    text.lines()
        .find_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER
            let (fields, tail) = line.split_once(" - ")?;
            let fstype = tail.split(' ').next()?;
            let mountpoint = fields.split(' ').nth(4)?;
            (fstype == "cgroup2").then(|| PathBuf::from(mountpoint))
        })
        .ok_or_else(|| {
            Error::Unsupported(
                "the ebpf monitor tells containers apart by their cgroup v2, and no cgroup2 hierarchy is mounted".to_string(),
            )
        })
}

/// The id `bpf_get_current_cgroup_id()` returns for tasks of the cgroup at `path` (on cgroup v2,
/// the inode number of its directory).
pub fn id(path: &Path) -> Result<u64, Error> {
    Ok(std::fs::metadata(path).map_err(Error::file(path))?.ino())
}

/// Whether a cgroup holds any process, from its `cgroup.events`. The file's fd polls with POLLPRI
/// when that changes, so a monitor's loop learns of a container's first process (runc's init
/// entering) and of its end (the last process gone) without reading it in between.
#[derive(Debug)]
pub struct Populated {
    path: PathBuf,
    events: File,
}

impl Populated {
    /// Watches the cgroup at `dir`.
    pub fn open(dir: &Path) -> Result<Populated, Error> {
        let path = dir.join("cgroup.events");
        let events = File::open(&path).map_err(Error::file(&path))?;
        Ok(Populated { path, events })
    }

    /// Whether a process is in the cgroup (or one of its descendants) now.
    pub fn now(&self) -> Result<bool, Error> {
        let mut buf = [0u8; 256];
        let n = self
            .events
            .read_at(&mut buf, 0)
            .map_err(Error::file(&self.path))?;
        let text = String::from_utf8_lossy(&buf[..n]);
        text.lines()
            .find_map(|l| l.strip_prefix("populated "))
            .map(|v| v.trim() == "1")
            .ok_or_else(|| Error::File {
                path: self.path.clone(),
                source: std::io::Error::other("no populated line"),
            })
    }
}

impl AsFd for Populated {
    /// Polls with POLLPRI when the cgroup's population changes.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.events.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unified_hierarchy_is_found_and_has_ids() {
        let root = unified_root().unwrap();
        assert!(root.join("cgroup.procs").exists(), "{}", root.display());
        assert!(id(&root).unwrap() > 0);
    }
}
