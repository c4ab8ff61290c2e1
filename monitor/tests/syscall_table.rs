//! The detector crate carries its own syscall tables so that it needs no system library; the
//! monitor builds its seccomp filters with libseccomp. Both must name every number alike, or a
//! profile's names would mean other calls in the filter than in the detector.

use ids_detector::alphabet::{Alphabet, Arch, MAX_NR, X32_SYSCALL_BIT};
use libseccomp::{ScmpArch, ScmpSyscall};

#[test]
fn alphabet_agrees_with_libseccomp() {
    let alphabet = Alphabet::system();
    for (arch, scmp, bit) in [
        (Arch::X86_64, ScmpArch::X8664, 0),
        (Arch::X86, ScmpArch::X86, 0),
        (Arch::X32, ScmpArch::X32, X32_SYSCALL_BIT),
    ] {
        for nr in 0..MAX_NR {
            let raw = i32::try_from(nr | bit).unwrap();
            let libseccomp = ScmpSyscall::from(raw).get_name_by_arch(scmp).ok();
            let ours = alphabet.sym(arch, nr).map(|s| alphabet.name(s).to_string());
            assert_eq!(ours, libseccomp, "{arch} syscall {nr}");
        }
    }
}
