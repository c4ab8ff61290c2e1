//! Opening a path that someone else chose, confined to a directory: `openat2` resolves every
//! component (links included) against the directory, so the result is a file inside it or an
//! error, never a host file reached through `..` or a link.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// Opens `path` (relative, or absolute meaning "from `dir`" under `RESOLVE_IN_ROOT`) below `dir`
/// with `flags`, resolved as `resolve` says.
pub fn open(dir: &Path, path: &Path, flags: OFlag, resolve: ResolveFlag) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(Mode::empty())
        .resolve(resolve | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let dir_fd = nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: `open` returned a fresh fd that nothing else owns.
    let dir_fd = unsafe { OwnedFd::from_raw_fd(dir_fd) };
    let fd = openat2(dir_fd.as_raw_fd(), path, how)?;
    // SAFETY: `openat2` returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
