//! `/run/ids-runc/<id>/`: what ids-runc keeps for one container while it exists — the sockets the
//! monitor listens on, its pid and its log. Only root can enter it (0700), so nothing inside the
//! container, and no other user, can reach the monitor.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

pub const DEFAULT_ROOT: &str = "/run/ids-runc";

/// Runc limits ids to this length too, and a unix socket path must stay under 108 bytes.
const MAX_ID_LEN: usize = 64;

#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

/// Container ids become directory names: refuse anything that could name another directory.
fn check_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
        && id != "."
        && id != "..";
    anyhow::ensure!(
        ok,
        "invalid container id {id:?}: use up to {MAX_ID_LEN} of [A-Za-z0-9_+.-]"
    );
    Ok(())
}

impl StateDir {
    pub fn new(root: &Path, id: &str) -> anyhow::Result<Self> {
        check_id(id)?;
        Ok(StateDir {
            path: root.join(id),
        })
    }

    /// Creates the directory (and the root), owner-only. An existing one is a leftover of a
    /// container with the same id whose delete never came: it is replaced.
    pub fn create(&self) -> anyhow::Result<()> {
        let root = self.path.parent().expect("state dir has a root");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .with_context(|| format!("cannot create state root {}", root.display()))?;
        if self.path.exists() {
            self.remove()?;
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&self.path)
            .with_context(|| format!("cannot create state dir {}", self.path.display()))?;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot chmod {}", self.path.display()))?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.path.is_dir()
    }

    /// The socket runc hands the seccomp notify fds to (`linux.seccomp.listenerPath`).
    pub fn seccomp_socket(&self) -> PathBuf {
        self.path.join("seccomp.sock")
    }

    /// The socket `ids-runc inspect` asks the monitor on.
    pub fn control_socket(&self) -> PathBuf {
        self.path.join("control.sock")
    }

    pub fn monitor_log(&self) -> PathBuf {
        self.path.join("monitor.log")
    }

    pub fn monitor_pid(&self) -> PathBuf {
        self.path.join("monitor.pid")
    }

    /// Records `pid` as the monitor of this container.
    pub fn record_monitor_pid(&self, pid: u32) -> anyhow::Result<()> {
        std::fs::write(self.monitor_pid(), format!("{pid}\n"))
            .with_context(|| format!("cannot write {}", self.monitor_pid().display()))
    }

    fn cgroup_id_file(&self) -> PathBuf {
        self.path.join("cgroup.id")
    }

    /// Records the id of the container's cgroup, registered with the kernel program (the ebpf
    /// monitor), so that `delete` can take it out if the monitor is gone.
    pub fn record_cgroup_id(&self, id: u64) -> anyhow::Result<()> {
        std::fs::write(self.cgroup_id_file(), format!("{id}\n"))
            .with_context(|| format!("cannot write {}", self.cgroup_id_file().display()))
    }

    /// The cgroup id recorded for the container, if any.
    pub fn recorded_cgroup_id(&self) -> Option<u64> {
        std::fs::read_to_string(self.cgroup_id_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The pid recorded as this container's monitor, if any.
    pub fn recorded_monitor_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.monitor_pid())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn remove(&self) -> anyhow::Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", self.path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_escape_the_root_are_refused() {
        let root = Path::new("/run/ids-runc");
        for bad in ["", ".", "..", "a/b", "../x", &"x".repeat(65), "a b"] {
            assert!(StateDir::new(root, bad).is_err(), "{bad:?} accepted");
        }
        let ok = StateDir::new(root, "3f2a_b-c.d").unwrap();
        assert_eq!(
            ok.seccomp_socket(),
            Path::new("/run/ids-runc/3f2a_b-c.d/seccomp.sock")
        );
    }

    #[test]
    fn create_is_owner_only_and_replaces_leftovers() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path(), "c1").unwrap();
        dir.create().unwrap();
        std::fs::write(dir.path().join("stale"), "x").unwrap();
        dir.create().unwrap();
        assert!(!dir.path().join("stale").exists());
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        dir.remove().unwrap();
        assert!(!dir.exists());
        dir.remove().unwrap();
    }
}
