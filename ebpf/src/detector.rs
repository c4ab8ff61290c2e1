//! What the kernel program takes from the user-space detector: its symbols and its threshold.

use ids_detector::alphabet::{Alphabet, Arch};
use ids_detector::parameters::Parameters;

use crate::abi::{NO_SYM, NR_TABLE};

/// The alphabet's symbol of every syscall number, as [`crate::Setup::new`] takes it: one table of
/// [`NR_TABLE`] entries per architecture (x86_64, x86, x32), [`NO_SYM`] where it has none.
pub fn symbol_table(alphabet: &Alphabet) -> Vec<u16> {
    let mut table = vec![NO_SYM; 3 * NR_TABLE];
    for (i, arch) in [Arch::X86_64, Arch::X86, Arch::X32].into_iter().enumerate() {
        for (nr, slot) in table[i * NR_TABLE..(i + 1) * NR_TABLE]
            .iter_mut()
            .enumerate()
        {
            if let Some(sym) = alphabet.sym(arch, nr as u32) {
                *slot = sym.0;
            }
        }
    }
    table
}

/// The kernel's limit table for the detector's threshold, as [`crate::Spec::limits`] takes it:
/// entry w is the most unknown windows an epoch of w windows may have and not be anomalous.
pub fn limits(p: &Parameters) -> Vec<u32> {
    (0..=p.epoch)
        .map(|w| p.threshold.limit(w).floor() as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ids_detector::parameters::Threshold;

    #[test]
    fn the_table_maps_each_architectures_numbers() {
        let a = Alphabet::system();
        let table = symbol_table(a);
        let read = a.sym_by_name("read").unwrap().0;
        assert_eq!(table[0], read, "x86_64 read is 0");
        assert_eq!(table[NR_TABLE + 3], read, "x86 read is 3");
        assert_eq!(
            table[2 * NR_TABLE],
            read,
            "x32 read is 0 without the x32 bit"
        );
        assert_eq!(table[NR_TABLE - 1], NO_SYM);
    }

    #[test]
    fn limits_are_the_floor_of_the_detectors() {
        let p = Parameters {
            epoch: 10,
            window: 2,
            threshold: Threshold::Ratio(0.25),
            ..Parameters::default()
        };
        assert_eq!(limits(&p), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]);
    }
}
