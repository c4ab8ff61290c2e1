//! `/run/ids-runc/<id>@<root key>/`: what ids-runc keeps for one container while it exists — the
//! sockets the monitor listens on, its pid and its log. Only root can enter it (0700), so nothing
//! inside the container, and no other user, can reach the monitor.
//!
//! runc knows a container by its `--root` and its id: two engines (docker's `moby` root and a
//! Kubernetes namespace, or two test suites) may use the same id at once. So the directory is
//! named by both: the id, `@`, and eight hex digits of a hash of runc's root. `@` is no character
//! of an id, so the name splits back unambiguously.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

pub const DEFAULT_ROOT: &str = "/run/ids-runc";

/// Runc limits ids to this length too, and a unix socket path must stay under 108 bytes.
const MAX_ID_LEN: usize = 64;

/// runc's state root when it is given no `--root` (as root).
const RUNC_DEFAULT_ROOT: &str = "/run/runc";

/// Separates the id from the root key in a state dir's name.
const ROOT_KEY_SEPARATOR: char = '@';

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

/// Eight hex digits naming runc's root (FNV-1a over its absolute path): stable across builds and
/// versions of ids-runc, because a state dir outlives the binary that made it.
fn root_key(runc_root: Option<&Path>) -> String {
    let root = runc_root.unwrap_or(Path::new(RUNC_DEFAULT_ROOT));
    // `/run/runc/` and `/run/runc` are one root: rebuilding from components drops the slash.
    let root: PathBuf = std::path::absolute(root)
        .unwrap_or_else(|_| root.to_path_buf())
        .components()
        .collect();
    let hash = root
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0x811c_9dc5_u32, |h, &b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
    format!("{hash:08x}")
}

impl StateDir {
    /// The state dir of container `id` of the runc whose `--root` is `runc_root` (`None`: runc's
    /// default).
    pub fn new(root: &Path, runc_root: Option<&Path>, id: &str) -> anyhow::Result<Self> {
        check_id(id)?;
        Ok(StateDir {
            path: root.join(format!("{id}{ROOT_KEY_SEPARATOR}{}", root_key(runc_root))),
        })
    }

    /// The state dir at `path`, as `create` named it (the monitor is given the path).
    pub fn at(path: &Path) -> Self {
        StateDir {
            path: path.to_path_buf(),
        }
    }

    /// The container `given` names (its id or a unique prefix) among the state dirs under `root`,
    /// of runc root `runc_root` if one is given. An id known under two runc roots must be told
    /// apart with `--root`.
    pub fn find(root: &Path, runc_root: Option<&Path>, given: &str) -> anyhow::Result<Self> {
        let key = runc_root.map(|r| root_key(Some(r)));
        let dirs: Vec<(String, String)> = std::fs::read_dir(root)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter_map(|name| {
                        let (id, k) = name.rsplit_once(ROOT_KEY_SEPARATOR)?;
                        Some((id.to_owned(), k.to_owned()))
                    })
                    .filter(|(_, k)| key.as_ref().is_none_or(|key| key == k))
                    .collect()
            })
            .unwrap_or_default();
        let id = super::reference::resolve(
            given,
            dirs.iter().map(|(id, _)| id.clone()),
            &format!("monitor state in {}", root.display()),
        )?;
        let mut found: Vec<StateDir> = dirs
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(i, k)| StateDir::at(&root.join(format!("{i}{ROOT_KEY_SEPARATOR}{k}"))))
            .collect();
        if found.len() > 1 {
            let dirs: Vec<String> = found.iter().map(|d| d.path.display().to_string()).collect();
            anyhow::bail!(
                "container {id} exists under {} runc roots (state dirs {}): name its runc root \
                 with --root",
                dirs.len(),
                dirs.join(", ")
            );
        }
        Ok(found.remove(0))
    }

    /// Every container's state dir under `root`, of any runc root; none if there is no root.
    pub fn all(root: &Path) -> Vec<StateDir> {
        let mut dirs: Vec<StateDir> = std::fs::read_dir(root)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| {
                        e.file_name()
                            .to_str()
                            .is_some_and(|n| n.contains(ROOT_KEY_SEPARATOR))
                    })
                    .map(|e| StateDir::at(&e.path()))
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort_by(|a, b| a.path.cmp(&b.path));
        dirs
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

    /// The id of the container this directory is for.
    pub fn container_id(&self) -> String {
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        match name.rsplit_once(ROOT_KEY_SEPARATOR) {
            Some((id, _)) => id.to_owned(),
            None => name.into_owned(),
        }
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
        for bad in ["", ".", "..", "a/b", "../x", &"x".repeat(65), "a b", "a@b"] {
            assert!(StateDir::new(root, None, bad).is_err(), "{bad:?} accepted");
        }
        let ok = StateDir::new(root, None, "3f2a_b-c.d").unwrap();
        let socket = ok.seccomp_socket();
        assert_eq!(socket.parent().unwrap().parent().unwrap(), root);
        assert!(
            socket
                .to_str()
                .unwrap()
                .starts_with("/run/ids-runc/3f2a_b-c.d@"),
            "{socket:?}"
        );
        // The longest id under the default root still makes a valid socket path.
        let longest = StateDir::new(root, None, &"f".repeat(64)).unwrap();
        assert!(longest.control_socket().as_os_str().len() < 108);
    }

    #[test]
    fn create_is_owner_only_and_replaces_leftovers() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::new(root.path(), None, "c1").unwrap();
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

    #[test]
    fn one_id_under_two_runc_roots_gets_two_dirs_found_by_id_or_prefix() {
        let root = tempfile::tempdir().unwrap();
        let moby = Path::new("/run/docker/runtime-runc/moby");
        let default = StateDir::new(root.path(), None, "web1").unwrap();
        assert_eq!(
            default.path(),
            StateDir::new(root.path(), Some(Path::new("/run/runc/")), "web1")
                .unwrap()
                .path(),
            "no --root is runc's default root"
        );
        let docker = StateDir::new(root.path(), Some(moby), "web1").unwrap();
        assert_ne!(default.path(), docker.path());

        docker.create().unwrap();
        assert_eq!(
            StateDir::find(root.path(), None, "we").unwrap().path(),
            docker.path()
        );
        default.create().unwrap();
        let err = StateDir::find(root.path(), None, "web1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2 runc roots") && err.contains("--root"),
            "{err}"
        );
        let found = StateDir::find(root.path(), Some(moby), "web").unwrap();
        assert_eq!(found.path(), docker.path());
        assert_eq!(found.container_id(), "web1");
        assert!(StateDir::find(root.path(), None, "db").is_err());
    }
}
