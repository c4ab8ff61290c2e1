//! The notification each notify fd has received and not yet answered, in a page the monitor
//! shares with its keeper.
//!
//! The kernel offers a notification to RECV once: once received it waits for an answer (SEND) from
//! whoever holds the fd, and no later RECV returns it. A monitor killed between the two would leave
//! that thread of the container waiting for ever, although the keeper still holds the fd. So the
//! loop writes each received id into its fd's slot here (one store, no system call), and the
//! monitor that takes over answers the id it finds (see `keeper_link`). An id that was answered
//! already gets ENOENT, harmlessly: a filter never reuses an id.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots in the page: notify fds one container can have open at once (init, plus one per `runc
/// exec` while its process lives).
pub const SLOTS: usize = 512;
const SIZE: usize = SLOTS * std::mem::size_of::<u64>();

/// The shared page, mapped; the memfd behind it is passed to the next monitor.
pub struct InFlight {
    slots: NonNull<AtomicU64>,
    memfd: OwnedFd,
}

impl InFlight {
    /// A new, zeroed page (the keeper makes it once).
    pub fn create() -> io::Result<InFlight> {
        // SAFETY: the name is a valid NUL-terminated string; the flags ask for a close-on-exec fd.
        let fd = unsafe { libc::memfd_create(c"ids-runc-in-flight".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create just returned this fd; nothing else owns it.
        let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ftruncate on an fd we own, to a small positive size.
        if unsafe { libc::ftruncate(memfd.as_raw_fd(), SIZE as libc::off_t) } < 0 {
            return Err(io::Error::last_os_error());
        }
        InFlight::map(memfd)
    }

    /// Maps the page of `memfd` (a monitor, from the fd its keeper passed on).
    pub fn map(memfd: OwnedFd) -> io::Result<InFlight> {
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat writes a whole stat into the buffer on success, which is checked.
        if unsafe { libc::fstat(memfd.as_raw_fd(), stat.as_mut_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstat succeeded, so the stat is initialised.
        if unsafe { stat.assume_init() }.st_size != SIZE as libc::off_t {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the in-flight fd is not a page of notification slots",
            ));
        }
        // SAFETY: maps SIZE bytes of a file that has that size, shared, at an address the kernel
        // picks; the result is checked before use.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                memfd.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let slots = NonNull::new(addr.cast::<AtomicU64>())
            .ok_or_else(|| io::Error::other("mmap returned a null page"))?;
        Ok(InFlight { slots, memfd })
    }

    fn slot(&self, slot: usize) -> &AtomicU64 {
        assert!(slot < SLOTS, "in-flight slot {slot} out of range");
        // SAFETY: the mapping holds SLOTS page-aligned u64s, which AtomicU64 may alias, for as long
        // as self lives; `slot` is in range.
        unsafe { &*self.slots.as_ptr().add(slot) }
    }

    /// Notes that notification `id` of the fd in `slot` was received.
    pub fn record(&self, slot: usize, id: u64) {
        self.slot(slot).store(id, Ordering::Relaxed);
    }

    /// The last notification received on the fd in `slot` (0: none).
    pub fn last(&self, slot: usize) -> u64 {
        self.slot(slot).load(Ordering::Relaxed)
    }

    /// Empties `slot` for the next fd.
    pub fn clear(&self, slot: usize) {
        self.record(slot, 0);
    }
}

// SAFETY: the page is only touched through atomics, and the mapping lives as long as the value,
// whichever thread owns or shares it.
unsafe impl Send for InFlight {}
// SAFETY: as above: `&InFlight` gives access to atomics only.
unsafe impl Sync for InFlight {}

impl AsFd for InFlight {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.memfd.as_fd()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, which nothing borrows any more.
        unsafe {
            libc::munmap(self.slots.as_ptr().cast(), SIZE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_mapping_sees_what_the_first_recorded() {
        let keeper = InFlight::create().unwrap();
        let dup = keeper.as_fd().try_clone_to_owned().unwrap();
        let monitor = InFlight::map(dup).unwrap();
        monitor.record(3, 0xfeed);
        assert_eq!(keeper.last(3), 0xfeed);
        assert_eq!(keeper.last(4), 0);
        keeper.clear(3);
        assert_eq!(monitor.last(3), 0);
    }

    #[test]
    fn refuses_an_fd_of_another_size() {
        let file = tempfile::tempfile().unwrap();
        assert!(InFlight::map(file.into()).is_err());
    }
}
