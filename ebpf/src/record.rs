//! What the kernel tells user space about a container, through its ring buffer.

use std::os::fd::{AsRawFd, RawFd};

use crate::abi::{self, MAX_WINDOW};
use crate::Error;

/// The calls of one window, oldest first, as symbols of the user-space alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    len: u8,
    calls: [u16; MAX_WINDOW],
}

impl Window {
    /// The calls, oldest first.
    pub fn calls(&self) -> &[u16] {
        &self.calls[..usize::from(self.len)]
    }
}

/// One message from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Learning: a window whose bag the kernel did not know; the bag is known from now on.
    NewBag {
        pid: u32,
        tid: u32,
        bag: u64,
        window: Window,
    },
    /// Detection: one of the first unknown windows of epoch `epoch`.
    Unknown {
        pid: u32,
        tid: u32,
        epoch: u64,
        bag: u64,
        window: Window,
    },
    /// Detection: a call of a syscall the profile never saw (the first of each, or every one
    /// when the kernel kills for it).
    Unseen { pid: u32, tid: u32, sym: u16 },
    /// An epoch that had unknown windows (learning: new bags) ended with the call of `tid`; if it
    /// was anomalous and the action is kill, the kernel has sent that process SIGKILL.
    Epoch {
        pid: u32,
        tid: u32,
        index: u64,
        windows: u32,
        mismatches: u32,
        anomalous: bool,
    },
}

impl Record {
    /// Decodes a ring-buffer sample; None for one this build does not know.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let r = abi::Record::from_bytes(bytes)?;
        let window = || {
            let len = u8::try_from(r.len)
                .ok()
                .filter(|&l| usize::from(l) <= MAX_WINDOW)?;
            Some(Window {
                len,
                calls: r.calls,
            })
        };
        Some(match r.kind {
            abi::RECORD_NEW_BAG => Record::NewBag {
                pid: r.pid,
                tid: r.tid,
                bag: r.bag,
                window: window()?,
            },
            abi::RECORD_UNKNOWN => Record::Unknown {
                pid: r.pid,
                tid: r.tid,
                epoch: r.epoch,
                bag: r.bag,
                window: window()?,
            },
            abi::RECORD_EPOCH => Record::Epoch {
                pid: r.pid,
                tid: r.tid,
                index: r.epoch,
                windows: r.windows,
                mismatches: r.mismatches,
                anomalous: r.anomalous != 0,
            },
            abi::RECORD_UNSEEN => Record::Unseen {
                pid: r.pid,
                tid: r.tid,
                sym: r.calls[0],
            },
            _ => return None,
        })
    }
}

/// The reader of a container's ring buffer, calling back for each record.
pub struct Records<'a> {
    ring: libbpf_rs::RingBuffer<'a>,
}

impl<'a> Records<'a> {
    pub(crate) fn new(
        ring: &'a libbpf_rs::MapHandle,
        mut on_record: impl FnMut(Record) + 'a,
    ) -> Result<Records<'a>, Error> {
        let mut builder = libbpf_rs::RingBufferBuilder::new();
        builder
            .add(ring, move |bytes: &[u8]| {
                match Record::decode(bytes) {
                    Some(record) => on_record(record),
                    None => log::warn!("ignored a ring record of {} bytes", bytes.len()),
                }
                0
            })
            .map_err(Error::kernel("ring buffer"))?;
        Ok(Records {
            ring: builder.build().map_err(Error::kernel("ring buffer"))?,
        })
    }

    /// Hands over the records there are, without waiting.
    pub fn consume(&self) -> Result<(), Error> {
        self.ring.consume().map_err(Error::kernel("ring buffer"))
    }
}

impl AsRawFd for Records<'_> {
    /// An fd that polls readable when records wait (for the monitor's own poll loop).
    fn as_raw_fd(&self) -> RawFd {
        self.ring.epoll_fd()
    }
}
