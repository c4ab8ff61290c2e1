//! The syscall alphabet: syscall names and their numbers on x86_64, x86 (i386) and x32.
//!
//! Profiles are stored as syscall *names*, so a profile trained on one architecture applies to a
//! process of another. The detector works on dense symbols ([`Sym`]), one per distinct name, so a bag
//! is a small array indexed by symbol. The number → name tables are data compiled into this crate
//! (`syscall_table.rs`, the kernel's own numbering as libseccomp names it), so the detector needs no
//! system library; the monitor's tests check that the tables agree with libseccomp, which builds the
//! seccomp filters from the same names.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use crate::syscall_table;

/// `AUDIT_ARCH_X86_64`, the `arch` field of `seccomp_data` for x86_64 and x32 processes.
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386`, the `arch` field of `seccomp_data` for 32-bit x86 processes.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// x32 syscalls are x86_64 syscalls with this bit set in the number (`__X32_SYSCALL_BIT`).
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Syscall numbers at or above this are not assigned on any supported architecture.
pub const MAX_NR: u32 = 1024;

/// A dense symbol for one syscall name, valid within one process (profiles store names, never
/// symbols).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(pub u16);

impl Sym {
    /// The symbol as an array index.
    #[inline]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The architectures whose syscall numbers the alphabet maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    X86,
    X32,
}

impl Arch {
    /// Every supported architecture, in the order of the alphabet's tables.
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::X86, Arch::X32];

    /// The syscalls of this architecture, `(number without the x32 bit, name)`, by number.
    pub fn names(self) -> &'static [(u16, &'static str)] {
        match self {
            Arch::X86_64 => syscall_table::X86_64,
            Arch::X86 => syscall_table::X86,
            Arch::X32 => syscall_table::X32,
        }
    }

    fn table(self) -> usize {
        match self {
            Arch::X86_64 => 0,
            Arch::X86 => 1,
            Arch::X32 => 2,
        }
    }

    /// The architecture and table number of a syscall as the kernel reports it in `seccomp_data`
    /// (an `AUDIT_ARCH_*` value and the raw number, which carries the x32 bit).
    #[inline]
    pub fn from_audit(audit_arch: u32, nr: u32) -> Option<(Arch, u32)> {
        match audit_arch {
            AUDIT_ARCH_X86_64 if nr & X32_SYSCALL_BIT != 0 => {
                Some((Arch::X32, nr & !X32_SYSCALL_BIT))
            }
            AUDIT_ARCH_X86_64 => Some((Arch::X86_64, nr)),
            AUDIT_ARCH_I386 => Some((Arch::X86, nr)),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::X86 => "x86",
            Arch::X32 => "x32",
        })
    }
}

impl std::str::FromStr for Arch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "x86" | "i386" | "i686" => Ok(Arch::X86),
            "x32" => Ok(Arch::X32),
            _ => Err(format!(
                "unknown architecture {s:?} (expected x86_64, x86 or x32)"
            )),
        }
    }
}

/// The symbol table: syscall names ↔ symbols, and per architecture a dense number → symbol array.
#[derive(Debug)]
pub struct Alphabet {
    names: Vec<String>,
    by_name: HashMap<String, Sym>,
    /// One array per [`Arch`], indexed by the syscall number without the x32 bit.
    by_number: [Vec<Option<Sym>>; 3],
}

impl Alphabet {
    /// The alphabet of this process, built from the syscall tables on first use. Symbols are
    /// handed out in table order (x86_64, then x86, then x32, each by number).
    pub fn system() -> &'static Alphabet {
        static ALPHABET: OnceLock<Alphabet> = OnceLock::new();
        ALPHABET.get_or_init(Alphabet::from_tables)
    }

    fn from_tables() -> Alphabet {
        let mut alphabet = Alphabet {
            names: Vec::new(),
            by_name: HashMap::new(),
            by_number: [Vec::new(), Vec::new(), Vec::new()],
        };
        for arch in Arch::ALL {
            let mut table = vec![None; MAX_NR as usize];
            for &(nr, name) in arch.names() {
                table[usize::from(nr)] = Some(alphabet.intern(name));
            }
            alphabet.by_number[arch.table()] = table;
        }
        alphabet
    }

    fn intern(&mut self, name: &str) -> Sym {
        if let Some(&sym) = self.by_name.get(name) {
            return sym;
        }
        let sym = Sym(u16::try_from(self.names.len()).expect("fewer than 65536 syscall names"));
        self.by_name.insert(name.to_owned(), sym);
        self.names.push(name.to_owned());
        sym
    }

    /// Number of distinct syscall names (symbols are `0..len()`).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when the tables hold no syscall at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The symbol of syscall `nr` on `arch` (number without the x32 bit), in O(1).
    #[inline]
    pub fn sym(&self, arch: Arch, nr: u32) -> Option<Sym> {
        self.by_number[arch.table()]
            .get(nr as usize)
            .copied()
            .flatten()
    }

    /// The symbol of a syscall as `seccomp_data` reports it (`AUDIT_ARCH_*` and raw number).
    #[inline]
    pub fn sym_from_audit(&self, audit_arch: u32, nr: u32) -> Option<Sym> {
        let (arch, nr) = Arch::from_audit(audit_arch, nr)?;
        self.sym(arch, nr)
    }

    /// The symbol of a syscall name.
    pub fn sym_by_name(&self, name: &str) -> Option<Sym> {
        self.by_name.get(name).copied()
    }

    /// The syscall name of a symbol.
    pub fn name(&self, sym: Sym) -> &str {
        &self.names[sym.index()]
    }

    /// The syscall number of a symbol on `arch`, if that architecture has the syscall.
    pub fn number(&self, arch: Arch, sym: Sym) -> Option<u32> {
        let nr = self.by_number[arch.table()]
            .iter()
            .position(|s| *s == Some(sym))?;
        let nr = u32::try_from(nr).ok()?;
        Some(if arch == Arch::X32 {
            nr | X32_SYSCALL_BIT
        } else {
            nr
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_map_to_names_per_arch() {
        let a = Alphabet::system();
        // read is 0 on x86_64, 3 on i386; x32 shares x86_64's number (with the x32 bit).
        assert_eq!(a.name(a.sym(Arch::X86_64, 0).unwrap()), "read");
        assert_eq!(a.name(a.sym(Arch::X86, 3).unwrap()), "read");
        assert_eq!(a.name(a.sym(Arch::X32, 0).unwrap()), "read");
        assert_eq!(a.sym(Arch::X86_64, 0), a.sym(Arch::X86, 3));
        assert_eq!(a.name(a.sym(Arch::X86, 11).unwrap()), "execve");
        assert_eq!(a.name(a.sym(Arch::X86_64, 59).unwrap()), "execve");
    }

    #[test]
    fn audit_arch_selects_the_table() {
        let a = Alphabet::system();
        let read = a.sym_by_name("read");
        assert_eq!(a.sym_from_audit(AUDIT_ARCH_X86_64, 0), read);
        assert_eq!(a.sym_from_audit(AUDIT_ARCH_I386, 3), read);
        assert_eq!(a.sym_from_audit(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT), read);
        assert_eq!(a.sym_from_audit(0xdead_beef, 0), None);
    }

    #[test]
    fn names_round_trip_to_numbers() {
        let a = Alphabet::system();
        let openat = a.sym_by_name("openat").unwrap();
        assert_eq!(a.name(openat), "openat");
        assert_eq!(a.number(Arch::X86_64, openat), Some(257));
        assert_eq!(a.number(Arch::X86, openat), Some(295));
        assert_eq!(a.sym_by_name("no_such_syscall"), None);
        assert!(a.len() > 300);
    }
}
