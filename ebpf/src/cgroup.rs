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

/// Where runc puts a container in the cgroup hierarchy, relative to its root, as runc reads the
/// config's `linux.cgroupsPath`: with the cgroupfs driver an absolute path (`/docker/<id>`), by
/// default `/<container id>`; with the systemd driver (`runc --systemd-cgroup`)
/// `slice:prefix:name`, the scope `prefix-name.scope` under the slice's nested path
/// (`a-b.slice` is `a.slice/a-b.slice`), by default `system.slice:runc:<container id>`.
pub fn container_path(
    cgroups_path: Option<&str>,
    container: &str,
    systemd: bool,
) -> Result<PathBuf, Error> {
    let bad = |why: &str| {
        Err(Error::Unsupported(format!(
            "linux.cgroupsPath {:?}: {why}",
            cgroups_path.unwrap_or_default()
        )))
    };
    let plain = |p: &str| p.split('/').all(|c| c != "..");
    if !systemd {
        let path = cgroups_path.filter(|p| !p.is_empty());
        let path = path.map_or_else(|| format!("/{container}"), str::to_string);
        if !path.starts_with('/') {
            return bad("the ebpf monitor takes only absolute cgroupfs paths");
        }
        if !plain(&path) {
            return bad("'..' is not allowed");
        }
        return Ok(PathBuf::from(path.trim_start_matches('/')));
    }
    let words = cgroups_path.filter(|p| !p.is_empty()).unwrap_or("");
    let (slice, prefix, name) = match words.split(':').collect::<Vec<_>>()[..] {
        [""] => ("system.slice", "runc", container),
        [slice, prefix, name] => (slice, prefix, name),
        _ => return bad("expected slice:prefix:name with the systemd driver"),
    };
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let Some(stem) = slice.strip_suffix(".slice") else {
        return bad("the slice must end in .slice");
    };
    if ![stem, prefix, name]
        .iter()
        .all(|w| plain(w) && !w.contains('/'))
    {
        return bad("a word holds '/' or '..'");
    }
    let mut path = PathBuf::new();
    let mut nested = String::new();
    for part in stem.split('-').filter(|p| !p.is_empty()) {
        if !nested.is_empty() {
            nested.push('-');
        }
        nested.push_str(part);
        path.push(format!("{nested}.slice"));
    }
    path.push(if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    });
    Ok(path)
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

    /// Whether a process is in the cgroup (or one of its descendants) now. A cgroup removed
    /// since (runc removes a container's when it is deleted) holds none.
    pub fn now(&self) -> Result<bool, Error> {
        let mut buf = [0u8; 256];
        let n = match self.events.read_at(&mut buf, 0) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(false),
            Err(e) => return Err(Error::file(&self.path)(e)),
        };
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

    #[test]
    fn container_paths_follow_runcs_drivers() {
        let path = |p: Option<&str>, systemd| {
            container_path(p, "c1", systemd).map(|p| p.display().to_string())
        };
        assert_eq!(path(Some("/docker/abc"), false).unwrap(), "docker/abc");
        assert_eq!(path(None, false).unwrap(), "c1");
        assert_eq!(
            path(Some("system.slice:docker:abc"), true).unwrap(),
            "system.slice/docker-abc.scope"
        );
        assert_eq!(
            path(Some("kubepods-besteffort-pod1.slice:cri-containerd:abc"), true).unwrap(),
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope"
        );
        assert_eq!(path(None, true).unwrap(), "system.slice/runc-c1.scope");
        for (bad, systemd) in [
            ("docker/abc", false),
            ("/docker/../etc", false),
            ("a:b", true),
            ("x:docker:abc", true),
            ("system.slice:docker:../x", true),
        ] {
            let e = path(Some(bad), systemd).unwrap_err().to_string();
            assert!(e.contains("cgroupsPath"), "{e}");
        }
    }
}
