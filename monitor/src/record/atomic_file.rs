//! Writing a file so that a reader sees the old content or the new, never a part: a temp file in
//! the same directory, flushed, renamed over the target, and the directory flushed.
//!
//! The directory may hold names someone else chose (a profile store that a container names
//! profiles in), so nothing here follows a link: the directory is opened once and every step is
//! relative to it; the temp file is created with `O_EXCL | O_NOFOLLOW` under a name nobody can
//! know in advance (a file or link already there is never opened, another name is tried); and
//! `rename` replaces a link at the target itself, never the file it points to.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{unlinkat, UnlinkatFlags};

/// Names tried for the temp file before giving up (each is new: time and a counter).
const TEMP_ATTEMPTS: u32 = 16;

/// Replaces `path` with `bytes` atomically. The temp file is removed if anything fails.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir_path = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let dir = open_dir(dir_path)?;
    let (tmp_name, mut file) = create_temp(&dir, name)?;
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        renameat(
            Some(dir.as_raw_fd()),
            tmp_name.as_os_str(),
            Some(dir.as_raw_fd()),
            name,
        )?;
        File::from(dir.try_clone()?).sync_all()
    })();
    if result.is_err() {
        let _ = unlinkat(
            Some(dir.as_raw_fd()),
            tmp_name.as_os_str(),
            UnlinkatFlags::NoRemoveDir,
        );
    }
    result
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: `open` returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new file `.<name>.<pid>.<nanos>.<n>.tmp` in `dir`, created here and now (never one that was
/// there before, nor the target of a link).
fn create_temp(dir: &OwnedFd, name: &std::ffi::OsStr) -> io::Result<(std::ffi::OsString, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..TEMP_ATTEMPTS {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut tmp = std::ffi::OsString::from(".");
        tmp.push(name);
        tmp.push(format!(
            ".{}.{nanos}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match openat(
            Some(dir.as_raw_fd()),
            tmp.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ) {
            // SAFETY: `openat` returned a fresh fd that nothing else owns.
            Ok(fd) => return Ok((tmp, unsafe { File::from_raw_fd(fd) })),
            Err(nix::errno::Errno::EEXIST) => last = io::Error::from(io::ErrorKind::AlreadyExists),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failure_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("x"), "keep").unwrap();
        assert!(write_atomically(&path, b"new").is_err());
        assert_eq!(fs::read(path.join("x")).unwrap(), b"keep");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_link_at_the_target_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "host file").unwrap();
        let path = dir.path().join("p.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomically(&path, b"profile").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"host file");
        assert!(!fs::symlink_metadata(&path).unwrap().is_symlink());
        assert_eq!(fs::read(&path).unwrap(), b"profile");
    }

    #[test]
    fn links_planted_where_temp_files_go_are_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "host file").unwrap();
        // Every name the old scheme (and a guess at pid-based names) would use.
        for pid in [std::process::id(), 1, 2] {
            std::os::unix::fs::symlink(&victim, dir.path().join(format!(".p.json.{pid}.tmp")))
                .unwrap();
        }
        write_atomically(&dir.path().join("p.json"), b"profile").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"host file");
        assert_eq!(fs::read(dir.path().join("p.json")).unwrap(), b"profile");
    }
}
