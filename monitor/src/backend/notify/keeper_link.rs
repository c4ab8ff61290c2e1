//! The link between a seccomp-notify monitor and its keeper, the small parent process that holds
//! every notify fd of the container besides the monitor, so that a monitor that dies (SIGKILL, the
//! OOM killer) can be started again without the container noticing more than a wait.
//!
//! While anyone holds a notify fd, the filter's notifications wait for an answer; only when the
//! last holder closes it do the container's notified calls fail with ENOSYS. So the monitor
//! deposits each fd runc hands it with the keeper at once (SCM_RIGHTS over a SOCK_SEQPACKET
//! socketpair, with the fd's in-flight slot and the process it belongs to), and the keeper passes
//! every fd it holds to the monitor it starts after a death ([`KeptFd::to_arg`]).

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use super::in_flight::{InFlight, SLOTS};
use super::listener::check_is_seccomp_notify_fd;
use crate::backend::{Handover, Origin};

/// A deposit's text: `SLOT PID ORIGIN`.
const MAX_DEPOSIT: usize = 64;

/// Why a kept fd could not be taken over.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("kept notify fd {0:?} is not FD:SLOT:PID:creating|running")]
    BadArg(String),
    #[error("kept fd {fd} is {target}, not a seccomp notify fd")]
    NotSeccompFd { fd: RawFd, target: String },
}

/// A notify fd the keeper holds: the fd, its slot in the in-flight page, and the process runc
/// handed it over for.
#[derive(Debug)]
pub struct KeptFd {
    pub fd: OwnedFd,
    pub slot: usize,
    pub handover: Handover,
}

impl KeptFd {
    /// How the keeper names it on the next monitor's command line (the fd number is inherited).
    pub fn to_arg(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.fd.as_raw_fd(),
            self.slot,
            self.handover.pid,
            self.handover.origin.status()
        )
    }

    /// Reads what [`to_arg`](Self::to_arg) wrote: the inherited fd number, slot and handover.
    pub fn parse_arg(arg: &str) -> Result<(RawFd, usize, Handover), LinkError> {
        let bad = || LinkError::BadArg(arg.to_string());
        let mut parts = arg.split(':');
        let mut next = || parts.next().ok_or_else(bad);
        let fd: RawFd = next()?.parse().map_err(|_| bad())?;
        let slot: usize = next()?.parse().map_err(|_| bad())?;
        let pid: u32 = next()?.parse().map_err(|_| bad())?;
        let origin = Origin::parse(next()?).ok_or_else(bad)?;
        if fd < 0 || slot >= SLOTS || parts.next().is_some() {
            return Err(bad());
        }
        Ok((fd, slot, Handover { pid, origin }))
    }

    /// A kept fd this process inherited, once it is checked to be a notify fd.
    pub fn inherited(fd: OwnedFd, slot: usize, handover: Handover) -> Result<KeptFd, LinkError> {
        check_is_seccomp_notify_fd(fd.as_fd()).map_err(|target| LinkError::NotSeccompFd {
            fd: fd.as_raw_fd(),
            target,
        })?;
        Ok(KeptFd { fd, slot, handover })
    }
}

/// The monitor's end of the link: where it deposits fds, and the in-flight page it records in.
pub struct KeeperLink {
    socket: OwnedFd,
    in_flight: InFlight,
    used: Vec<bool>,
}

impl KeeperLink {
    pub fn new(socket: OwnedFd, in_flight: InFlight) -> KeeperLink {
        KeeperLink {
            socket,
            in_flight,
            used: vec![false; SLOTS],
        }
    }

    /// Gives the keeper a reference to `fd` (the same open file, not a copy of its state), under a
    /// free slot, which it returns.
    pub(crate) fn deposit(&mut self, fd: BorrowedFd<'_>, handover: &Handover) -> io::Result<usize> {
        let slot =
            self.used.iter().position(|used| !used).ok_or_else(|| {
                io::Error::other(format!("all {SLOTS} in-flight slots are taken"))
            })?;
        let text = format!("{slot} {} {}", handover.pid, handover.origin.status());
        let fds = [fd.as_raw_fd()];
        sendmsg::<()>(
            self.socket.as_raw_fd(),
            &[IoSlice::new(text.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(io::Error::from)?;
        self.take_slot(slot);
        Ok(slot)
    }

    /// Marks `slot` as the slot of a fd taken over from the keeper.
    pub(crate) fn take_slot(&mut self, slot: usize) {
        self.used[slot] = true;
    }

    /// The fd of `slot` hung up: the slot is free again.
    pub(crate) fn release(&mut self, slot: usize) {
        self.used[slot] = false;
        self.in_flight.clear(slot);
    }

    /// Notes the notification just received on the fd of `slot`.
    pub(crate) fn record(&self, slot: usize, id: u64) {
        self.in_flight.record(slot, id);
    }

    /// The notification the previous monitor received last on the fd of `slot` (0: none).
    pub(crate) fn in_flight(&self, slot: usize) -> u64 {
        self.in_flight.last(slot)
    }
}

/// The keeper's end: takes one deposit if there is one. `Ok(None)` when there is none now, or
/// the monitor's end is closed (it died; its deposits sent before are still read first).
pub fn receive_deposit(socket: BorrowedFd<'_>) -> io::Result<Option<KeptFd>> {
    let mut buf = [0u8; MAX_DEPOSIT];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = match recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(msg) => msg,
        Err(nix::errno::Errno::EAGAIN) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut fd = None;
    for received in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(raw) = received {
            for raw in raw {
                // SAFETY: SCM_RIGHTS just installed this fd in this process; nothing else owns it.
                fd = Some(unsafe { OwnedFd::from_raw_fd(raw) });
            }
        }
    }
    let len = msg.bytes;
    if len == 0 && fd.is_none() {
        return Ok(None);
    }
    let text = std::str::from_utf8(&buf[..len]).unwrap_or_default();
    let bad = || io::Error::other(format!("malformed deposit {text:?} from the monitor"));
    let mut words = text.split(' ');
    let slot: usize = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let pid: u32 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    let origin = words.next().and_then(Origin::parse).ok_or_else(bad)?;
    let fd = fd.ok_or_else(bad)?;
    if slot >= SLOTS {
        return Err(bad());
    }
    Ok(Some(KeptFd {
        fd,
        slot,
        handover: Handover { pid, origin },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

    #[test]
    fn a_kept_fd_round_trips_through_its_argument() {
        let file = tempfile::tempfile().unwrap();
        let kept = KeptFd {
            fd: file.into(),
            slot: 7,
            handover: Handover {
                pid: 42,
                origin: Origin::Running,
            },
        };
        let (fd, slot, handover) = KeptFd::parse_arg(&kept.to_arg()).unwrap();
        assert_eq!(fd, kept.fd.as_raw_fd());
        assert_eq!((slot, handover), (7, kept.handover));
        for bad in [
            "",
            "3:1:2",
            "3:1:2:stopped",
            "3:999:2:running",
            "-1:1:2:running",
        ] {
            assert!(KeptFd::parse_arg(bad).is_err(), "{bad}");
        }
        let Err(LinkError::NotSeccompFd { .. }) =
            KeptFd::inherited(kept.fd, kept.slot, kept.handover)
        else {
            panic!("a plain file taken for a notify fd");
        };
    }

    #[test]
    fn deposits_reach_the_keeper_with_their_fd_and_slot() {
        let (monitor, keeper) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let mut link = KeeperLink::new(monitor, InFlight::create().unwrap());
        assert!(receive_deposit(keeper.as_fd()).unwrap().is_none());
        let file = tempfile::tempfile().unwrap();
        let handover = Handover {
            pid: 9,
            origin: Origin::Creating,
        };
        assert_eq!(link.deposit(file.as_fd(), &handover).unwrap(), 0);
        assert_eq!(link.deposit(file.as_fd(), &handover).unwrap(), 1);
        link.release(0);
        assert_eq!(link.deposit(file.as_fd(), &handover).unwrap(), 0);
        let first = receive_deposit(keeper.as_fd()).unwrap().unwrap();
        assert_eq!((first.slot, first.handover), (0, handover));
        assert_eq!(
            std::fs::read_link(format!("/proc/self/fd/{}", first.fd.as_raw_fd())).unwrap(),
            std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap()
        );
        assert_eq!(receive_deposit(keeper.as_fd()).unwrap().unwrap().slot, 1);
        assert_eq!(receive_deposit(keeper.as_fd()).unwrap().unwrap().slot, 0);
        drop(link);
        assert!(receive_deposit(keeper.as_fd()).unwrap().is_none());
    }
}
