//! The layouts the kernel program shares with user space (`src/bpf/bosc.h`), in Rust.

/// The detector's largest window.
pub const MAX_WINDOW: usize = 64;
/// Symbols the kernel's per-thread counts cover.
pub const MAX_SYMS: usize = 1024;
/// Syscall numbers per architecture in the symbol table.
pub const NR_TABLE: usize = 1024;
/// The symbol of a syscall number the alphabet does not know.
pub const NO_SYM: u16 = 0xffff;
/// The program's `ABI_VERSION`, kept in the symbol map after the tables.
pub const ABI_VERSION: u16 = 2;

pub const FLAG_LEARN: u32 = 1;
pub const FLAG_KILL: u32 = 2;
pub const FLAG_UNSEEN: u32 = 4;
pub const FLAG_UNSEEN_KILL: u32 = 8;
pub const FLAG_SHARED: u32 = 16;
pub const FLAG_CONTINUOUS: u32 = 32;

pub const RECORD_NEW_BAG: u32 = 1;
pub const RECORD_UNKNOWN: u32 = 2;
pub const RECORD_EPOCH: u32 = 3;
pub const RECORD_UNSEEN: u32 = 4;

/// `struct container`: a container's parameters, epoch in progress, counters and shared window. Every field is
/// an integer and the layout has no padding, so it can be viewed as bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Container {
    pub window: u32,
    pub epoch: u32,
    pub flags: u32,
    pub execve: u16,
    pub execveat: u16,
    pub start_level: u64,
    pub invisible: [u64; MAX_SYMS / 64],
    pub known: [u64; MAX_SYMS / 64],
    pub lock: u32,
    pub epoch_calls: u32,
    pub epoch_windows: u32,
    pub epoch_mismatches: u32,
    pub epoch_index: u64,
    pub calls: u64,
    pub windows: u64,
    pub mismatches: u64,
    pub epochs: u64,
    pub anomalies: u64,
    pub lost: u64,
    pub rejected: u64,
    pub runc_calls: u64,
    pub unmapped: u64,
    pub untracked: u64,
    pub unseen: u64,
    pub doomed: u64,
    pub reported: [u64; MAX_SYMS / 64],
    pub shared: Window,
}

/// `struct window`: the last W calls and the id of their bag.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub id: u64,
    pub len: u32,
    pub next: u32,
    pub ring: [u16; MAX_WINDOW],
    pub counts: [u8; MAX_SYMS],
}

/// `struct record`: one message of a container's ring buffer.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Record {
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    pub len: u32,
    pub bag: u64,
    pub epoch: u64,
    pub windows: u32,
    pub mismatches: u32,
    pub anomalous: u32,
    pub pad: u32,
    pub calls: [u16; MAX_WINDOW],
}

impl Container {
    /// A container with every field zero.
    pub fn zeroed() -> Container {
        // SAFETY: every field is an integer or an array of integers, for which zero is valid.
        unsafe { std::mem::zeroed() }
    }

    /// The value as the map stores it.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Container` is `repr(C)` with integer fields only and no padding (the size test
        // checks the sum of the fields), so all its bytes are initialised.
        unsafe {
            std::slice::from_raw_parts(
                (self as *const Container).cast::<u8>(),
                std::mem::size_of::<Container>(),
            )
        }
    }

    /// The value read back from the map.
    pub fn from_bytes(bytes: &[u8]) -> Option<Container> {
        (bytes.len() == std::mem::size_of::<Container>()).then(|| {
            // SAFETY: the length was checked, any bit pattern is a valid `Container`, and
            // `read_unaligned` does not need the slice to be aligned.
            unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<Container>()) }
        })
    }
}

impl Record {
    /// A record as the ring buffer delivers it.
    pub fn from_bytes(bytes: &[u8]) -> Option<Record> {
        (bytes.len() >= std::mem::size_of::<Record>()).then(|| {
            // SAFETY: the length was checked, any bit pattern is a valid `Record`, and
            // `read_unaligned` does not need the slice to be aligned.
            unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<Record>()) }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_no_padding_and_match_the_c_header() {
        // 4 * 3 + 2 * 2 + 8 + 128 * 2 + 4 * 4 + 8 * 13 + 128, then the window: 8 + 4 * 2 + 128 + 1024
        assert_eq!(std::mem::size_of::<Window>(), 1168);
        assert_eq!(std::mem::size_of::<Container>(), 528 + 1168);
        assert_eq!(std::mem::offset_of!(Container, lock), 280);
        assert_eq!(std::mem::offset_of!(Container, epoch_index), 296);
        // 4 * 4 + 8 * 2 + 4 * 4 + 2 * 64
        assert_eq!(std::mem::size_of::<Record>(), 176);
        assert_eq!(std::mem::offset_of!(Record, calls), 48);
    }

    #[test]
    fn a_container_round_trips_through_bytes() {
        let mut c = Container::zeroed();
        c.window = 10;
        c.anomalies = 3;
        let back = Container::from_bytes(c.as_bytes()).unwrap();
        assert_eq!((back.window, back.anomalies), (10, 3));
        assert!(Container::from_bytes(&[0; 3]).is_none());
    }
}
