//! The real runc: where it is, and how a call is handed to it; its command line (`args`) and the
//! log it shares with ids-runc (`log`).

pub mod args;
pub mod log;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::config::host::HostConfig;

pub const RUNTIME_ENV: &str = "IDS_RUNC_RUNTIME";

/// The runc that ids-runc drives.
#[derive(Debug, Clone)]
pub struct Runc {
    pub path: PathBuf,
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Where runc is looked for after PATH. A runtime is called with whatever environment its caller
/// has: podman runs `kill` and `delete` with no PATH at all, and runc itself needs none.
const STANDARD_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// PATH's directories, then the standard ones. Relative entries (an empty PATH is one) are
/// skipped: which runc runs must not depend on the caller's working directory.
fn search_dirs(path: &std::ffi::OsStr) -> Vec<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .chain(STANDARD_DIRS.iter().map(PathBuf::from))
        .collect()
}

/// Whether `path` is this very binary (ids-runc installed as `runc`, or linked to it).
fn is_self(path: &Path) -> bool {
    match (std::fs::canonicalize(path), std::env::current_exe()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl Runc {
    /// Finds runc: `IDS_RUNC_RUNTIME`, then the config's `runtime`, then a `runc` that is not
    /// ids-runc itself on PATH or in the standard directories. The error names everything that
    /// was tried.
    pub fn locate(config: &HostConfig) -> anyhow::Result<Self> {
        if let Some(env) = std::env::var_os(RUNTIME_ENV).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(&env);
            anyhow::ensure!(
                is_executable(&path) && !is_self(&path),
                "runc not found: {RUNTIME_ENV}={} is not an executable runc",
                path.display()
            );
            return Ok(Runc { path });
        }
        if let Some(path) = &config.runtime {
            let source = config
                .source
                .as_deref()
                .unwrap_or(Path::new(crate::config::host::DEFAULT_PATH));
            anyhow::ensure!(
                is_executable(path) && !is_self(path),
                "runc not found: \"runtime\": {} in {} is not an executable runc",
                path.display(),
                source.display()
            );
            return Ok(Runc { path: path.clone() });
        }
        let search = std::env::var_os("PATH").unwrap_or_default();
        search_dirs(&search)
            .iter()
            .map(|dir| dir.join("runc"))
            .find(|p| is_executable(p) && !is_self(p))
            .map(|path| Runc { path })
            .with_context(|| {
                format!(
                    "runc not found: {RUNTIME_ENV} is not set, no \"runtime\" in {}, and no runc \
                     other than ids-runc on PATH ({}) or in {}",
                    config
                        .source
                        .as_deref()
                        .unwrap_or(Path::new(crate::config::host::DEFAULT_PATH))
                        .display(),
                    search.to_string_lossy(),
                    STANDARD_DIRS.join(":")
                )
            })
    }

    fn command(&self, words: &[OsString]) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.args(words);
        cmd
    }

    /// Replaces this process with runc: same pid, stdio, extra fds, signals and exit code, which is
    /// what "pass it through" means to a caller that waits on us or passes fds with `--preserve-fds`.
    pub fn exec(&self, words: &[OsString]) -> anyhow::Error {
        let err = self.command(words).exec();
        anyhow::Error::new(err).context(format!("cannot run {}", self.path.display()))
    }

    /// Runs runc as a child with our stdio and returns its exit code (for commands ids-runc has work
    /// to do after, such as `delete`).
    pub fn run(&self, words: &[OsString]) -> anyhow::Result<i32> {
        let status = self
            .command(words)
            .status()
            .with_context(|| format!("cannot run {}", self.path.display()))?;
        Ok(exit_code(status))
    }

    /// Whether runc (with `--root root`) still has container `id`. If runc cannot be asked, the
    /// answer is yes: callers remove state only for containers that are surely gone.
    pub fn knows(&self, root: Option<&Path>, id: &str) -> bool {
        self.output_in(root, &["state", id])
            .map(|out| out.status.success())
            .unwrap_or(true)
    }

    /// Runs `runc [--root ROOT] WORDS` on a container's state and captures its output.
    pub fn output_in(
        &self,
        root: Option<&Path>,
        words: &[&str],
    ) -> anyhow::Result<std::process::Output> {
        let mut cmd = Command::new(&self.path);
        if let Some(root) = root {
            cmd.arg("--root").arg(root);
        }
        cmd.args(words)
            .output()
            .with_context(|| format!("cannot run {}", self.path.display()))
    }

    /// Runs runc and captures its stdout (for `features`, `--version`).
    pub fn output(&self, words: &[&str]) -> anyhow::Result<std::process::Output> {
        Command::new(&self.path)
            .args(words)
            .output()
            .with_context(|| format!("cannot run {}", self.path.display()))
    }
}

/// The exit code a shell would report: the code, or 128 + the signal that ended the process.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_path_searches_the_standard_dirs_and_never_the_working_directory() {
        let standard: Vec<PathBuf> = STANDARD_DIRS.iter().map(PathBuf::from).collect();
        assert_eq!(search_dirs(std::ffi::OsStr::new("")), standard);
        let dirs = search_dirs(std::ffi::OsStr::new("bin:/opt/runc::/usr/sbin"));
        assert_eq!(dirs[0], Path::new("/opt/runc"));
        assert_eq!(dirs[1], Path::new("/usr/sbin"));
        assert_eq!(&dirs[2..], &standard[..]);
    }
}
