//! A hasher for keys that are already small integers or hashes (bag ids, thread ids).
//!
//! std's SipHash costs about as much as the rest of the per-call work; these keys need no protection
//! against chosen collisions (a bag id is already a 64-bit mix, and a tid is assigned by the kernel),
//! so one multiplication spreads them well enough for a hash table.

use std::hash::{BuildHasherDefault, Hasher};

/// Multiplicative (Fibonacci) hashing of one integer key.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(26);
    }
}

/// `BuildHasher` for maps keyed by [`FastHasher`]-friendly integers.
pub type FastHash = BuildHasherDefault<FastHasher>;
