//! Turning a container's seccomp profile into one that sends its system calls to the notify monitor.
//!
//! The rule: merge, never replace. Every `SCMP_ACT_ALLOW` rule becomes `SCMP_ACT_NOTIFY`
//! with its argument conditions, so the monitor sees exactly what the profile lets through; every
//! other rule and the default action stay, so a syscall the profile forbids keeps failing the same
//! way, except for the few names of [`NEVER_NOTIFIED`], which stay ALLOW. A default action that
//! lets calls through (ALLOW or LOG) cannot become NOTIFY, so the calls that would reach it get an
//! explicit NOTIFY rule instead, over every name libseccomp knows for the profile's architectures.
//!
//! For the ebpf monitor, which judges in the kernel every call that passes the filter, only what
//! must be answered before it runs is notified ([`add_notify_unseen`]): the calls of syscalls the
//! profile never saw, and the execs that end runc's start-up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};

/// System calls that are never notified, so the monitor never sees them:
/// - `write`: runc refuses NOTIFY on it (its init reports to runc with it after loading the filter).
/// - `rt_sigreturn`, and `sigreturn` its 32-bit x86 twin: answered with CONTINUE, the task dies of
///   SIGSEGV.
/// - `futex`, `sched_yield`, `nanosleep`: the Go runtime's scheduling calls. runc 1.1's init (Go)
///   still runs between loading the filter and runc handing the notify fd to the monitor; a
///   notified call there waits for an answer nobody can give yet, and the container hangs in
///   `create` (seen about once in 80 starts with 16 containers starting at once on 2 cores, with
///   runc init's main thread in a notified futex; runc upstream met the same window with fcntl,
///   opencontainers/runc#4328). Go's runtime sleeps with `nanosleep`; C programs sleep with
///   `clock_nanosleep`, which stays visible.
/// - `rt_sigprocmask`, `sigprocmask`: a notified call waits interruptibly, so a signal caught by a
///   handler without SA_RESTART makes it fail with EINTR, which no caller of sigprocmask expects:
///   busybox sh's `wait` then suspends with every signal blocked, forever (seen in a 100-process
///   storm). Other notified calls can fail the same way, but their callers are used to EINTR.
///
/// Sorted: profiles list these as what the seccomp-notify monitor cannot see.
pub const NEVER_NOTIFIED: [&str; 8] = [
    "futex",
    "nanosleep",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_yield",
    "sigprocmask",
    "sigreturn",
    "write",
];

/// Syscall numbers are probed up to this bound when listing what libseccomp knows for an
/// architecture; every table libseccomp 2.5 ships ends well below it.
const SYSCALL_NR_BOUND: i32 = 1024;

/// x32 syscalls are numbered from this bit up, on the x86_64 audit architecture.
const X32_SYSCALL_BIT: i32 = 0x4000_0000;

/// Why a seccomp profile could not be given the monitor's NOTIFY rules.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// runc refuses NOTIFY as the default action, so such a profile cannot be run at all.
    #[error("seccomp profile has SCMP_ACT_NOTIFY as its default action, which runc refuses")]
    NotifyDefaultAction,
    /// A profile that already hands its notifications to another agent would lose that agent.
    #[error(
        "seccomp profile already sends notifications to {existing}, not to the monitor at {wanted}"
    )]
    ForeignListener { existing: PathBuf, wanted: PathBuf },
    /// The profile names an architecture libseccomp has no syscall table for.
    #[error(
        "failed to list the system calls of architecture {arch:?}: libseccomp does not know it"
    )]
    UnknownArchitecture { arch: Arch },
}

/// Returns `existing` (or, without a profile, an allow-everything one for the host's architectures)
/// with every call it lets through turned into a notification to the listener at `listener_path`.
///
/// Applying it to its own output gives the same profile back.
pub fn add_notify(
    existing: Option<&LinuxSeccomp>,
    listener_path: &Path,
) -> Result<LinuxSeccomp, MergeError> {
    notify_all_but(existing, listener_path, &|_| false)
}

/// The NOTIFY rewrite, leaving ALLOW the names [`NEVER_NOTIFIED`] and those `stays_allowed` says.
fn notify_all_but(
    existing: Option<&LinuxSeccomp>,
    listener_path: &Path,
    stays_allowed: &dyn Fn(&str) -> bool,
) -> Result<LinuxSeccomp, MergeError> {
    let mut profile = match existing {
        Some(profile) => profile.clone(),
        None => allow_everything(),
    };
    match profile.listener_path() {
        Some(existing) if existing != listener_path => {
            return Err(MergeError::ForeignListener {
                existing: existing.clone(),
                wanted: listener_path.to_path_buf(),
            })
        }
        _ => {}
    }
    let default_action = profile.default_action();
    if default_action == LinuxSeccompAction::ScmpActNotify {
        return Err(MergeError::NotifyDefaultAction);
    }

    let rules = stopping_rules(&profile, LinuxSeccompAction::ScmpActNotify, &|name| {
        NEVER_NOTIFIED.contains(&name) || stays_allowed(name)
    })?;
    profile.set_syscalls(Some(rules));
    profile.set_listener_path(Some(listener_path.to_path_buf()));
    Ok(profile)
}

/// Returns `existing` with every call it lets through notified to `listener_path`, as
/// [`add_notify`] does, but for the syscalls in `seen` (those of a profile the kernel judges
/// calls by), which stay ALLOW and never leave the kernel. `execve` and `execveat` are notified
/// even if seen: the monitor must see each starting process exec to tell runc's calls from the
/// container's.
pub fn add_notify_unseen(
    existing: Option<&LinuxSeccomp>,
    listener_path: &Path,
    seen: &BTreeSet<String>,
) -> Result<LinuxSeccomp, MergeError> {
    notify_all_but(existing, listener_path, &|name| {
        !STARTS.contains(&name) && seen.contains(name)
    })
}

/// The calls that end a process's start-up: runc's init, or a `runc exec`, running the
/// container's program.
const STARTS: [&str; 2] = ["execve", "execveat"];

/// Returns `existing` (or, without a profile, an allow-everything one for the host's architectures)
/// with every call it lets through turned into `SCMP_ACT_TRACE`: a ptrace stop for a tracer with
/// `PTRACE_O_TRACESECCOMP`, ENOSYS if no tracer is attached. Nothing is left out: a tracer can let
/// `write` and `rt_sigreturn` go on as well as any call.
pub fn add_trace(existing: Option<&LinuxSeccomp>) -> Result<LinuxSeccomp, MergeError> {
    let mut profile = match existing {
        Some(profile) => profile.clone(),
        None => allow_everything(),
    };
    let rules = stopping_rules(&profile, LinuxSeccompAction::ScmpActTrace, &|_| false)?;
    profile.set_syscalls(Some(rules));
    Ok(profile)
}

/// The profile's rules with every ALLOW rule turned into `action` (but for the names `never`
/// keeps), plus, when the default action lets calls through, one `action` rule over every name no
/// rule mentions and `never` does not keep.
fn stopping_rules(
    profile: &LinuxSeccomp,
    action: LinuxSeccompAction,
    never: &dyn Fn(&str) -> bool,
) -> Result<Vec<LinuxSyscall>, MergeError> {
    let default_action = profile.default_action();
    let mut rules = Vec::new();
    for rule in profile.syscalls().iter().flatten() {
        if rule.action() == LinuxSeccompAction::ScmpActAllow {
            split_allow_rule(rule, action, never, &mut rules);
        } else {
            rules.push(rule.clone());
        }
    }

    if matches!(
        default_action,
        LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
    ) {
        let ruled: BTreeSet<&str> = rules
            .iter()
            .flat_map(|rule| rule.names().iter().map(String::as_str))
            .collect();
        let unruled: Vec<String> = known_syscalls(&architectures_of(profile))?
            .into_iter()
            .filter(|name| !ruled.contains(name.as_str()) && !never(name))
            .collect();
        if !unruled.is_empty() {
            rules.push(rule_with(action, unruled, None));
        }
    }

    Ok(rules)
}

/// What runc builds without a seccomp section, plus the architectures a container on this host
/// may run code of, so that a 32-bit binary cannot slip past the monitor.
fn allow_everything() -> LinuxSeccomp {
    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActAllow);
    profile.set_architectures(Some(host_architectures()));
    profile
}

fn host_architectures() -> Vec<Arch> {
    match ScmpArch::native() {
        ScmpArch::X8664 => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        ScmpArch::Aarch64 => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchNative],
    }
}

/// runc filters for the native architecture only when the profile lists none.
fn architectures_of(profile: &LinuxSeccomp) -> Vec<Arch> {
    match profile.architectures() {
        Some(arches) if !arches.is_empty() => arches.clone(),
        _ => vec![Arch::ScmpArchNative],
    }
}

/// Pushes the `action` version of an ALLOW rule, and an ALLOW rule for the names `never` keeps,
/// each with the original conditions.
fn split_allow_rule(
    rule: &LinuxSyscall,
    action: LinuxSeccompAction,
    never: &dyn Fn(&str) -> bool,
    out: &mut Vec<LinuxSyscall>,
) {
    let (kept, notified): (Vec<String>, Vec<String>) =
        rule.names().iter().cloned().partition(|name| never(name));
    if !kept.is_empty() {
        let mut allow = rule.clone();
        allow.set_names(kept);
        out.push(allow);
    }
    if !notified.is_empty() {
        out.push(rule_with(action, notified, rule.args().clone()));
    }
}

fn rule_with(
    action: LinuxSeccompAction,
    names: Vec<String>,
    args: Option<Vec<oci_spec::runtime::LinuxSeccompArg>>,
) -> LinuxSyscall {
    let mut rule = LinuxSyscall::default();
    rule.set_names(names);
    rule.set_action(action);
    rule.set_args(args);
    rule
}

/// Every syscall name the installed libseccomp (the one runc links) knows for these architectures.
fn known_syscalls(arches: &[Arch]) -> Result<BTreeSet<String>, MergeError> {
    let mut names = BTreeSet::new();
    for &arch in arches {
        let scmp_arch = scmp_arch(arch).ok_or(MergeError::UnknownArchitecture { arch })?;
        let base = if scmp_arch == ScmpArch::X32 {
            X32_SYSCALL_BIT
        } else {
            0
        };
        for nr in 0..SYSCALL_NR_BOUND {
            if let Ok(name) = ScmpSyscall::from(base + nr).get_name_by_arch(scmp_arch) {
                names.insert(name);
            }
        }
    }
    Ok(names)
}

fn scmp_arch(arch: Arch) -> Option<ScmpArch> {
    Some(match arch {
        Arch::ScmpArchNative => ScmpArch::native(),
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn never_notified_is_sorted_for_profiles() {
        assert!(super::NEVER_NOTIFIED.windows(2).all(|w| w[0] < w[1]));
    }

    use super::*;
    use oci_spec::runtime::LinuxSeccompOperator;

    const DOCKER_DEFAULT: &str = include_str!("../../tests/fixtures/docker-default-seccomp.json");
    const SOCKET: &str = "/run/ids-runc/c1/notify.sock";

    fn docker_default() -> LinuxSeccomp {
        serde_json::from_str(DOCKER_DEFAULT).expect("fixture parses as LinuxSeccomp")
    }

    fn actions_of<'a>(profile: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        profile
            .syscalls()
            .iter()
            .flatten()
            .filter(|rule| rule.names().iter().any(|n| n == name))
            .collect()
    }

    fn assert_never_notified(profile: &LinuxSeccomp) {
        for rule in profile.syscalls().iter().flatten() {
            if rule.action() == LinuxSeccompAction::ScmpActNotify {
                for name in NEVER_NOTIFIED {
                    assert!(!rule.names().iter().any(|n| n == name), "{name} notified");
                }
            }
        }
    }

    #[test]
    fn docker_profile_keeps_default_errno_and_its_errno_rules() {
        let original = docker_default();
        let merged = add_notify(Some(&original), Path::new(SOCKET)).unwrap();
        assert_eq!(merged.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(merged.architectures(), original.architectures());
        assert_eq!(merged.listener_path().as_deref(), Some(Path::new(SOCKET)));
        let errno_rules: Vec<_> = original
            .syscalls()
            .iter()
            .flatten()
            .filter(|r| r.action() != LinuxSeccompAction::ScmpActAllow)
            .collect();
        assert!(!errno_rules.is_empty(), "fixture has non-ALLOW rules");
        for rule in errno_rules {
            assert!(
                merged.syscalls().iter().flatten().any(|r| r == rule),
                "{rule:?} kept"
            );
        }
        assert!(
            actions_of(&merged, "unshare").is_empty(),
            "unshare still falls to ERRNO"
        );
    }

    #[test]
    fn docker_profile_allow_rules_become_trace_every_name_included() {
        let original = docker_default();
        let merged = add_trace(Some(&original)).unwrap();
        assert_eq!(merged.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(merged.listener_path(), &None);
        assert!(merged
            .syscalls()
            .iter()
            .flatten()
            .all(|r| r.action() != LinuxSeccompAction::ScmpActAllow));
        for name in ["write", "rt_sigreturn", "futex", "openat"] {
            let rules = actions_of(&merged, name);
            assert!(!rules.is_empty(), "{name} has no rule");
            assert!(
                rules
                    .iter()
                    .all(|r| r.action() == LinuxSeccompAction::ScmpActTrace),
                "{name}: {rules:?}"
            );
        }
        let personality = actions_of(&merged, "personality");
        assert_eq!(personality.len(), 5, "conditions kept, one rule each");
        assert!(actions_of(&merged, "unshare").is_empty());
        let unconfined = add_trace(None).unwrap();
        assert_eq!(
            unconfined.default_action(),
            LinuxSeccompAction::ScmpActAllow
        );
        assert!(!actions_of(&unconfined, "write").is_empty());
    }

    #[test]
    fn docker_profile_allow_rules_become_notify_with_their_conditions() {
        let merged = add_notify(Some(&docker_default()), Path::new(SOCKET)).unwrap();
        let personality = actions_of(&merged, "personality");
        assert_eq!(personality.len(), 5);
        for rule in &personality {
            assert_eq!(rule.action(), LinuxSeccompAction::ScmpActNotify);
            let args = rule.args().as_ref().expect("conditions kept");
            assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpEq);
        }
        let clone = actions_of(&merged, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(
            clone[0].args().as_ref().unwrap()[0].op(),
            LinuxSeccompOperator::ScmpCmpMaskedEq
        );
        for name in ["openat", "execve", "read", "getppid"] {
            let rules = actions_of(&merged, name);
            assert_eq!(rules.len(), 1, "{name}");
            assert_eq!(
                rules[0].action(),
                LinuxSeccompAction::ScmpActNotify,
                "{name}"
            );
        }
        assert_never_notified(&merged);
        for name in ["write", "rt_sigreturn", "futex", "rt_sigprocmask"] {
            let rules = actions_of(&merged, name);
            assert_eq!(rules.len(), 1, "{name}");
            assert_eq!(
                rules[0].action(),
                LinuxSeccompAction::ScmpActAllow,
                "{name}"
            );
        }
        assert!(merged.syscalls().iter().flatten().all(|r| r.action()
            != LinuxSeccompAction::ScmpActAllow
            || r.names()
                .iter()
                .all(|n| NEVER_NOTIFIED.contains(&n.as_str()))));
    }

    #[test]
    fn for_the_kernel_only_unseen_syscalls_and_execs_are_notified() {
        let seen: BTreeSet<String> = ["read", "getppid", "execve", "openat", "close"]
            .into_iter()
            .map(String::from)
            .collect();
        let merged = add_notify_unseen(Some(&docker_default()), Path::new(SOCKET), &seen).unwrap();
        assert_eq!(merged.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(merged.listener_path().as_deref(), Some(Path::new(SOCKET)));
        let action = |name: &str| {
            let rules = actions_of(&merged, name);
            assert_eq!(rules.len(), 1, "{name}: {rules:?}");
            rules[0].action()
        };
        for name in ["read", "getppid", "openat", "close", "write", "futex"] {
            assert_eq!(action(name), LinuxSeccompAction::ScmpActAllow, "{name}");
        }
        for name in ["execve", "execveat", "socket", "getpid"] {
            assert_eq!(action(name), LinuxSeccompAction::ScmpActNotify, "{name}");
        }
        let personality = actions_of(&merged, "personality");
        assert_eq!(personality.len(), 5, "conditions kept, one rule each");
        assert!(personality
            .iter()
            .all(|r| r.action() == LinuxSeccompAction::ScmpActNotify));
        assert!(actions_of(&merged, "unshare").is_empty(), "ERRNO kept");
        assert_never_notified(&merged);

        let unconfined = add_notify_unseen(None, Path::new(SOCKET), &seen).unwrap();
        let rules = unconfined.syscalls().as_ref().unwrap();
        assert_eq!(rules.len(), 1);
        let names = rules[0].names();
        for name in ["socket", "execve", "execveat"] {
            assert!(names.iter().any(|n| n == name), "{name} notified");
        }
        for name in ["read", "getppid", "write"] {
            assert!(!names.iter().any(|n| n == name), "{name} notified");
        }
    }

    #[test]
    fn no_profile_allows_by_default_and_notifies_every_known_name() {
        let merged = add_notify(None, Path::new(SOCKET)).unwrap();
        assert_eq!(merged.default_action(), LinuxSeccompAction::ScmpActAllow);
        let rules = merged.syscalls().as_ref().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].action(), LinuxSeccompAction::ScmpActNotify);
        let names = rules[0].names();
        for name in [
            "openat",
            "execve",
            "getppid",
            "socketcall",
            "arch_prctl",
            "open",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} notified");
        }
        assert_never_notified(&merged);
        assert!(names.len() > 350, "{} names", names.len());
    }

    #[test]
    fn allow_default_with_rules_notifies_only_the_unruled_names() {
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"names": ["mount", "umount2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["getppid", "write"], "action": "SCMP_ACT_ALLOW"}
            ]
        }))
        .unwrap();
        let merged = add_notify(Some(&profile), Path::new(SOCKET)).unwrap();
        let rules = merged.syscalls().as_ref().unwrap();
        assert_eq!(rules[0], profile.syscalls().as_ref().unwrap()[0]);
        assert_eq!(rules[1].names(), &["write".to_string()]);
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[1].action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(rules[2].names(), &["getppid".to_string()]);
        assert_eq!(rules[2].action(), LinuxSeccompAction::ScmpActNotify);
        let catch_all = rules[3].names();
        assert!(catch_all.iter().any(|n| n == "openat"));
        for name in ["mount", "umount2", "getppid"] {
            assert!(
                !catch_all.iter().any(|n| n == name),
                "{name} has its own rule"
            );
        }
        assert_never_notified(&merged);
    }

    #[test]
    fn applying_twice_changes_nothing() {
        for original in [None, Some(docker_default())] {
            let once = add_notify(original.as_ref(), Path::new(SOCKET)).unwrap();
            let twice = add_notify(Some(&once), Path::new(SOCKET)).unwrap();
            assert_eq!(once, twice);
        }
    }

    #[test]
    fn refuses_to_steal_another_agents_listener() {
        let mut profile = docker_default();
        profile.set_listener_path(Some(PathBuf::from("/run/other-agent.sock")));
        let err = add_notify(Some(&profile), Path::new(SOCKET)).unwrap_err();
        assert!(matches!(err, MergeError::ForeignListener { .. }), "{err}");
    }

    #[test]
    fn refuses_notify_default_action() {
        let mut profile = docker_default();
        profile.set_default_action(LinuxSeccompAction::ScmpActNotify);
        assert!(matches!(
            add_notify(Some(&profile), Path::new(SOCKET)),
            Err(MergeError::NotifyDefaultAction)
        ));
    }

    #[test]
    fn listener_metadata_is_left_alone() {
        let mut profile = docker_default();
        profile.set_listener_metadata(Some("container=c1".into()));
        let merged = add_notify(Some(&profile), Path::new(SOCKET)).unwrap();
        assert_eq!(merged.listener_metadata().as_deref(), Some("container=c1"));
    }
}
