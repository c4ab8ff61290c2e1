//! Fixtures shared by this crate's unit tests and its tests in `monitor/tests/`: a small trained
//! detector and its profile, guard settings, a system call. Built only for tests (`cfg(test)`, and
//! the `fixtures` feature that the crate's dev-dependency on itself turns on for `monitor/tests/`).

use std::time::Duration;

use ids_detector::alphabet::Alphabet;
use ids_detector::detector::Detector;
use ids_detector::parameters::{Parameters, StreamMode, Threshold, Training};

use crate::backend::sink::{Syscall, AUDIT_ARCH_X86_64};
use crate::backend::MonitorKind;
use crate::guard::{GuardMode, GuardSettings};
use crate::policy::Policy;
use crate::profile::Profile;

/// A detector trained on one short stream of file calls (window 3, epochs of 4 calls).
pub fn trained_detector() -> Detector {
    let alphabet = Alphabet::system();
    let mut d = Detector::new(Parameters {
        window: 3,
        epoch: 4,
        threshold: Threshold::Absolute(1),
        stream: StreamMode::PerThread,
        training: Training::default(),
        ..Parameters::default()
    });
    for name in [
        "openat",
        "read",
        "read",
        "close",
        "openat",
        "read",
        "close",
        "exit_group",
    ] {
        d.observe(7, alphabet.sym_by_name(name).unwrap());
    }
    d
}

/// The profile of [`trained_detector`], named `name`, for the seccomp-notify monitor.
pub fn trained_profile(name: &str) -> Profile {
    Profile::from_detector(
        name,
        MonitorKind::SeccompNotify,
        Policy::default(),
        &trained_detector(),
        1,
    )
}

/// A call of thread 42 in the x86_64 convention.
pub fn call(nr: i32) -> Syscall {
    Syscall {
        pid: 42,
        arch: AUDIT_ARCH_X86_64,
        nr,
        args: [0; 6],
    }
}

/// Small parameters for guard tests: windows of 3, epochs of 30 calls, at most 2 mismatches.
pub fn guard_parameters() -> Parameters {
    Parameters {
        window: 3,
        epoch: 30,
        threshold: Threshold::Absolute(2),
        ..Parameters::default()
    }
}

/// Container `c1` with profile `p1` under seccomp notify, saving nowhere.
pub fn guard_settings(mode: GuardMode, policy: Policy) -> GuardSettings {
    GuardSettings {
        container: "c1".into(),
        profile_name: "p1".into(),
        mode,
        monitor: MonitorKind::SeccompNotify,
        profile_monitor: MonitorKind::SeccompNotify,
        blind_to: Vec::new(),
        policy,
        save_to: None,
        save_every: Duration::from_secs(3600),
        provenance: Default::default(),
    }
}
