//! Reading a container task's memory while its call waits, the same for every backend: bytes
//! with `process_vm_readv`, a socket's bound address by taking a copy of its fd (`pidfd_getfd`)
//! and asking `getsockname`. Both need the monitor to be allowed to ptrace the task (root, here).
//! Nothing read is ever used to open anything on the host.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

use super::sink::CallerMemory;

/// `PIDFD_THREAD` (Linux 6.9): `pidfd_open` of a thread id rather than a process id.
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;

/// The memory of task `tid` (a thread id in the monitor's pid namespace).
#[derive(Debug, Clone, Copy)]
pub struct TaskMemory {
    pub tid: u32,
}

impl TaskMemory {
    /// Copies up to `buf.len()` bytes at `addr` into `buf`; how many were copied.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
        if addr == 0 || buf.is_empty() {
            return 0;
        }
        let mut local = [std::io::IoSliceMut::new(buf)];
        let len = local[0].len();
        let remote = [RemoteIoVec {
            base: addr as usize,
            len,
        }];
        process_vm_readv(Pid::from_raw(self.tid as i32), &mut local, &remote).unwrap_or(0)
    }

    /// The path of the task's directory fd `fd`, or of its working directory (`None`): the link
    /// `/proc/<tid>/fd/<fd>` or `/proc/<tid>/cwd` read, as the kernel names it from the task's own
    /// root. Only the link's text is read; nothing is opened through it.
    pub fn directory(&self, fd: Option<i32>, buf: &mut [u8]) -> Option<usize> {
        use std::io::Write;
        let mut link = [0u8; 64];
        let mut at = &mut link[..];
        match fd {
            None => write!(at, "/proc/{}/cwd\0", self.tid),
            Some(fd) => write!(at, "/proc/{}/fd/{fd}\0", self.tid),
        }
        .ok()?;
        // SAFETY: `link` holds a NUL-terminated path; the kernel writes at most `buf.len()` bytes
        // into `buf`.
        let n = unsafe {
            libc::readlink(
                link.as_ptr().cast::<libc::c_char>(),
                buf.as_mut_ptr().cast::<libc::c_char>(),
                buf.len(),
            )
        };
        usize::try_from(n).ok()
    }

    /// The local address of the task's socket `fd`, into `buf`.
    pub fn socket_name(&self, fd: u64, buf: &mut [u8]) -> Option<usize> {
        let fd = i32::try_from(fd).ok()?;
        let pidfd = pidfd_open(self.tid)?;
        // SAFETY: pidfd_getfd takes a pidfd, a fd number and flags (0) by value.
        let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
        if copy < 0 {
            return None;
        }
        // SAFETY: pidfd_getfd returned a new fd that nothing else owns.
        let copy = unsafe { OwnedFd::from_raw_fd(copy as i32) };
        let mut len = buf.len() as libc::socklen_t;
        // SAFETY: `buf` is writable for `len` bytes; the kernel writes at most that many and
        // stores the address's full length in `len`.
        let rc = unsafe {
            libc::getsockname(
                copy.as_raw_fd(),
                buf.as_mut_ptr().cast::<libc::sockaddr>(),
                &mut len,
            )
        };
        (rc == 0).then_some((len as usize).min(buf.len()))
    }
}

/// As the caller's memory, for a tracee the monitor holds stopped in its call (ptrace): its pid
/// cannot be reused before the monitor resumes it, so the call always still waits.
impl CallerMemory for TaskMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
        TaskMemory::read(self, addr, buf)
    }

    fn socket_name(&self, fd: u64, buf: &mut [u8]) -> Option<usize> {
        TaskMemory::socket_name(self, fd, buf)
    }

    fn directory(&self, fd: Option<i32>, buf: &mut [u8]) -> Option<usize> {
        TaskMemory::directory(self, fd, buf)
    }

    fn still_waiting(&self) -> bool {
        true
    }
}

/// A pidfd for thread `tid`: as a thread (Linux 6.9), else as a process (a thread group leader).
fn pidfd_open(tid: u32) -> Option<OwnedFd> {
    for flags in [PIDFD_THREAD, 0] {
        // SAFETY: pidfd_open takes a pid and flags by value.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid as libc::pid_t, flags) };
        if fd >= 0 {
            // SAFETY: pidfd_open returned a new fd that nothing else owns.
            return Some(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory_and_socket() {
        let me = TaskMemory {
            tid: nix::unistd::gettid().as_raw() as u32,
        };
        let mut text = [0u8; 32];
        text[..12].copy_from_slice(b"/etc/passwd\0");
        let mut buf = [0u8; 32];
        assert_eq!(me.read(text.as_ptr() as u64, &mut buf), 32);
        assert_eq!(buf, text);
        assert_eq!(me.read(0, &mut buf), 0, "a null pointer is not read");

        let mut dir = [0u8; 4096];
        let len = me.directory(None, &mut dir).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(&dir[..len], cwd.as_os_str().as_encoded_bytes());
        let etc = std::fs::File::open("/etc").unwrap();
        let len = me.directory(Some(etc.as_raw_fd()), &mut dir).unwrap();
        assert_eq!(&dir[..len], b"/etc");
        assert_eq!(me.directory(Some(999_999), &mut dir), None);

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut addr = [0u8; 128];
        let len = me
            .socket_name(listener.as_raw_fd() as u64, &mut addr)
            .unwrap();
        assert_eq!(len, 16);
        assert_eq!(u16::from_be_bytes([addr[2], addr[3]]), port);
    }
}
