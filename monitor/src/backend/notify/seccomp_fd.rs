//! The ioctls of a seccomp notify fd, called directly.
//!
//! libseccomp's `ScmpNotifReq::receive`/`ScmpNotifResp::respond` are not used on the notify path:
//! each call mallocs and frees a request buffer, retries EINTR itself (so it cannot be counted),
//! and libseccomp 2.5 reports every ioctl failure as ECANCELED unless its process-wide
//! `API_SYSRAWRC` attribute is set, which hides the ENOENT of a target that died.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use crate::backend::memory::TaskMemory;
use crate::backend::sink::CallerMemory;

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6): the kernel wakes the supervisor and switches to
/// it on the same CPU, instead of going through the scheduler, for each notification.
const SYNC_WAKE_UP: u64 = 1;

/// Takes the oldest pending notification of `fd`. Blocks if there is none, so call it after poll
/// reported POLLIN, from the only thread that receives on `fd`.
pub(crate) fn receive(fd: BorrowedFd<'_>, req: &mut libc::seccomp_notif) -> Result<(), Errno> {
    // SAFETY: an all-zero seccomp_notif is a valid value (plain integers), and the kernel refuses a
    // RECV buffer that is not zeroed.
    *req = unsafe { std::mem::zeroed() };
    // SAFETY: `req` is a live, exclusively borrowed seccomp_notif, the size the request code encodes.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            req as *mut libc::seccomp_notif,
        )
    };
    Errno::result(rc).map(drop)
}

/// Answers notification `id`: CONTINUE when `errno` is 0, else fail the call with `-errno`.
pub(crate) fn respond(fd: BorrowedFd<'_>, id: u64, errno: i32) -> Result<(), Errno> {
    let resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: -errno,
        flags: if errno == 0 {
            libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32
        } else {
            0
        },
    };
    // SAFETY: `resp` is a live seccomp_notif_resp, the size the request code encodes; the kernel
    // only reads it.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &resp as *const libc::seccomp_notif_resp,
        )
    };
    Errno::result(rc).map(drop)
}

/// Whether notification `id` of `fd` still waits for its answer (`SECCOMP_IOCTL_NOTIF_ID_VALID`):
/// its task has not died or been interrupted, so its pid is still that task's.
pub(crate) fn still_waiting(fd: BorrowedFd<'_>, id: u64) -> bool {
    // SAFETY: `id` is a live u64, the size the request code encodes; the kernel only reads it.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &id as *const u64,
        )
    };
    rc == 0
}

/// The caller of a notification: its memory, read by pid, and whether it still waits.
pub(crate) struct CallerOf<'fd> {
    pub fd: BorrowedFd<'fd>,
    pub id: u64,
    pub task: TaskMemory,
}

impl CallerMemory for CallerOf<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
        self.task.read(addr, buf)
    }

    fn socket_name(&self, fd: u64, buf: &mut [u8]) -> Option<usize> {
        self.task.socket_name(fd, buf)
    }

    fn directory(&self, fd: Option<i32>, buf: &mut [u8]) -> Option<usize> {
        self.task.directory(fd, buf)
    }

    fn still_waiting(&self) -> bool {
        still_waiting(self.fd, self.id)
    }
}

/// Asks for synchronous wake-ups on `fd`. `Ok(false)` when the kernel is older than 6.6 and has
/// no such flag (EINVAL from a kernel that knows SET_FLAGS but not the flag, ENOTTY from one that
/// knows neither).
pub(crate) fn enable_sync_wake_up(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    // SAFETY: SET_FLAGS takes the flags by value in the argument register, not through a pointer.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SYNC_WAKE_UP,
        )
    };
    match Errno::result(rc) {
        Ok(_) => Ok(true),
        Err(Errno::EINVAL | Errno::ENOTTY) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    /// The request code is `_IOW('!', 4, __u64)`; a wrong size or direction would make every
    /// kernel answer ENOTTY and the flag would silently never be set.
    #[test]
    fn set_flags_request_code_is_iow_bang_4_u64() {
        let expected = nix::request_code_write!(b'!', 4, std::mem::size_of::<u64>());
        assert_eq!(libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, expected);
        assert_eq!(libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, 0x4008_2104);
    }

    #[test]
    fn recv_and_send_request_codes_match_the_kernel_structs() {
        let recv = nix::request_code_readwrite!(b'!', 0, 80);
        let send = nix::request_code_readwrite!(b'!', 1, 24);
        assert_eq!(std::mem::size_of::<libc::seccomp_notif>(), 80);
        assert_eq!(libc::SECCOMP_IOCTL_NOTIF_RECV, recv);
        assert_eq!(libc::SECCOMP_IOCTL_NOTIF_SEND, send);
    }
}
