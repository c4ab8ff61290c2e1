//! Containers are told apart by their cgroup (v2) id: where that hierarchy is, and a cgroup's id.

use std::os::unix::fs::MetadataExt;
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
