//! Bad input: arbitrary and mutated profiles, traces and seccomp sections. Each one either loads or
//! gives an error; none may panic, hang or allocate without bound.

use std::path::Path;

use ids_detector::alphabet::{Alphabet, Arch, Sym};
use ids_detector::detector::Mode;
use ids_monitor::backend::seccomp_merge::{add_notify, NEVER_NOTIFIED};
use ids_monitor::backend::MonitorKind;
use ids_monitor::offline::trace::{parse_trace, TraceFormat};
use ids_monitor::profile::Profile;
use ids_monitor::testing::trained_profile;
use oci_spec::runtime::LinuxSeccomp;
use proptest::prelude::*;
use serde_json::{json, Value};

const PATH: &str = "/fuzz/profile.json";

/// A small valid profile, as JSON.
fn valid_profile() -> Value {
    serde_json::to_value(trained_profile("p")).unwrap()
}

/// Whatever a loaded profile leads to must not panic either: a detector, a merge with itself.
fn use_profile(text: &str) {
    if let Ok(p) = Profile::parse(text, Path::new(PATH)) {
        if let Ok(mut d) = p.detector() {
            // Detect, then extend the profile by learning, as a monitor in learn mode does.
            for mode in [Mode::Detect, Mode::Learn] {
                d.set_mode(mode);
                for sym in (0..Alphabet::system().len().min(60)).map(|i| Sym(i as u16)) {
                    let name = Alphabet::system().name(sym);
                    if !NEVER_NOTIFIED.contains(&name) {
                        d.observe(1, sym);
                    }
                }
            }
            let learnt = Profile::from_detector("l", MonitorKind::SeccompNotify, p.policy, &d, 1);
            learnt
                .validate()
                .expect("what a detector learnt from a valid profile is valid");
        }
        let _ = Profile::merge("m", &[p.clone(), p.clone()]);
        let _ = p.to_json();
    }
}

/// A JSON value of any shape, small.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z_]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a leaf or a container of `v`, as JSON pointers.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(c, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Numbers that sit on the edges of every integer and float field.
fn edge_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(u64::MAX / 2 + 1)),
        Just(json!(u32::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(255)),
        Just(json!(256)),
        Just(json!(1e308)),
        Just(json!(-0.0)),
        Just(json!(0.5)),
        any::<u64>().prop_map(Value::from),
    ]
}

fn syscall_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "read",
            "write",
            "openat",
            "close",
            "execve",
            "futex",
            "socket",
            "clone",
            "exit_group",
            "rt_sigreturn",
            "getppid",
        ])
        .prop_map(String::from),
        "[a-z0-9_]{1,10}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_a_profile_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        use_profile(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_json_is_a_profile_or_an_error(v in any_json()) {
        use_profile(&v.to_string());
    }

    #[test]
    fn a_valid_profile_with_one_field_replaced_loads_or_fails(
        pick in any::<prop::sample::Index>(),
        replacement in prop_oneof![edge_number(), any_json()],
    ) {
        let mut profile = valid_profile();
        let mut paths = Vec::new();
        pointers(&profile, String::new(), &mut paths);
        let at = pick.get(&paths).clone();
        match profile.pointer_mut(&at) {
            Some(slot) => *slot = replacement,
            None => unreachable!("{at} was listed"),
        }
        use_profile(&profile.to_string());
    }

    #[test]
    fn a_valid_profile_with_bytes_flipped_loads_or_fails(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = valid_profile().to_string().into_bytes();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        use_profile(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn a_profile_with_any_frequencies_loads_and_merges(
        frequencies in prop::collection::vec(edge_number(), 1..4),
    ) {
        let mut profile = valid_profile();
        let db = profile["normal_db"].as_array_mut().unwrap();
        for (record, frequency) in db.iter_mut().zip(frequencies) {
            record["frequency"] = frequency;
        }
        for key in ["calls", "windows", "epochs", "traces"] {
            profile["training"][key] = json!(u64::MAX);
        }
        use_profile(&profile.to_string());
    }

    #[test]
    fn arbitrary_text_is_a_trace_or_an_error(
        text in "(?s).{0,512}",
        format in prop::sample::select(vec![TraceFormat::Adfa, TraceFormat::Names, TraceFormat::Strace]),
        arch in prop::sample::select(vec![Arch::X86_64, Arch::X86]),
    ) {
        let _ = parse_trace(&text, Path::new("/fuzz/trace"), format, arch);
    }

    #[test]
    fn strace_like_lines_are_a_trace_or_an_error(
        lines in prop::collection::vec(
            (
                prop::option::of(prop_oneof!["[0-9]{1,12}", "\\[pid +[0-9 ]{0,12}\\]", "\\[pid[^\\]]{0,6}"]),
                prop::option::of("[0-9:.]{1,16}"),
                syscall_name(),
                "[(),=<>. a-z0-9\"-]{0,24}",
            ),
            0..32,
        ),
    ) {
        let text: String = lines
            .into_iter()
            .map(|(pid, time, name, tail)| {
                format!("{} {} {name}{tail}\n", pid.unwrap_or_default(), time.unwrap_or_default())
            })
            .collect();
        let _ = parse_trace(&text, Path::new("/fuzz/trace"), TraceFormat::Strace, Arch::X86_64);
    }

    #[test]
    fn adfa_like_numbers_are_a_trace_or_an_error(
        numbers in prop::collection::vec(prop_oneof!["[0-9]{1,4}", "[0-9]{5,30}", "-[0-9]{1,3}", "\\+[0-9]{1,3}"], 0..64),
    ) {
        let text = numbers.join(" ");
        for arch in [Arch::X86_64, Arch::X86] {
            let _ = parse_trace(&text, Path::new("/fuzz/trace"), TraceFormat::Adfa, arch);
        }
    }

    #[test]
    fn any_seccomp_section_merges_or_fails(seccomp in seccomp_section()) {
        let listener = Path::new("/run/ids-runc/c/seccomp.sock");
        let Ok(parsed) = serde_json::from_value::<LinuxSeccomp>(seccomp) else {
            return Ok(());
        };
        if let Ok(merged) = add_notify(Some(&parsed), listener) {
            let again = add_notify(Some(&merged), listener).expect("a merged profile merges again");
            prop_assert_eq!(again, merged);
        }
    }
}

/// A seccomp section as config.json has it: known and unknown actions, architectures and names,
/// conditions, listener paths.
fn seccomp_section() -> impl Strategy<Value = Value> {
    let action = prop::sample::select(vec![
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
        "SCMP_ACT_BOGUS",
    ]);
    let arch = prop::sample::select(vec![
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_NATIVE",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_NOPE",
    ]);
    let op = prop::sample::select(vec![
        "SCMP_CMP_EQ",
        "SCMP_CMP_NE",
        "SCMP_CMP_MASKED_EQ",
        "SCMP_CMP_GT",
        "SCMP_CMP_BAD",
    ]);
    let arg = (0u64..8, any::<u64>(), prop::option::of(any::<u64>()), op).prop_map(
        |(index, value, value_two, op)| {
            let mut a = json!({"index": index, "value": value, "op": op});
            if let Some(two) = value_two {
                a["valueTwo"] = json!(two);
            }
            a
        },
    );
    let rule = (
        prop::collection::vec(syscall_name(), 0..6),
        action.clone(),
        prop::option::of(prop::collection::vec(arg, 0..3)),
        prop::option::of(0u32..200),
    )
        .prop_map(|(names, action, args, errno)| {
            let mut r = json!({"names": names, "action": action});
            if let Some(args) = args {
                r["args"] = json!(args);
            }
            if let Some(errno) = errno {
                r["errnoRet"] = json!(errno);
            }
            r
        });
    (
        action,
        prop::option::of(prop::collection::vec(arch, 0..4)),
        prop::option::of(prop::collection::vec(rule, 0..8)),
        prop::option::of(prop_oneof![
            Just("/run/ids-runc/c/seccomp.sock".to_string()),
            "/[a-z/]{0,20}",
        ]),
    )
        .prop_map(|(default_action, arches, rules, listener)| {
            let mut s = json!({"defaultAction": default_action});
            if let Some(a) = arches {
                s["architectures"] = json!(a);
            }
            if let Some(r) = rules {
                s["syscalls"] = json!(r);
            }
            if let Some(l) = listener {
                s["listenerPath"] = json!(l);
            }
            s
        })
}

/// Found by `a_valid_profile_with_one_field_replaced_loads_or_fails`: merging two profiles whose
/// frequencies or training counts add up past u64::MAX panicked (debug) or wrapped (release).
#[test]
fn counts_past_u64_max_saturate_when_merged() {
    let mut big = valid_profile();
    big["normal_db"][0]["frequency"] = json!(u64::MAX / 2 + 1);
    big["training"]["calls"] = json!(u64::MAX);
    big["training"]["windows"] = json!(u64::MAX);
    let p = Profile::parse(&big.to_string(), Path::new(PATH)).unwrap();
    let merged = Profile::merge("m", &[p.clone(), p]).unwrap();
    assert_eq!(merged.normal_db[0].frequency, u64::MAX);
    assert_eq!(merged.training.calls, u64::MAX);
}

/// Found by `a_profile_with_any_frequencies_loads_and_merges`: a monitor extending a profile whose
/// training counts are at u64::MAX overflowed on the first call it learnt.
#[test]
fn learning_on_top_of_a_full_count_saturates() {
    let mut big = valid_profile();
    big["training"]["calls"] = json!(u64::MAX);
    big["training"]["windows"] = json!(u64::MAX);
    big["training"]["epochs"] = json!(u64::MAX);
    big["normal_db"][0]["frequency"] = json!(u64::MAX);
    let p = Profile::parse(&big.to_string(), Path::new(PATH)).unwrap();
    let mut d = p.detector().unwrap();
    d.set_mode(Mode::Learn);
    let read = Alphabet::system().sym_by_name("read").unwrap();
    for _ in 0..20 {
        d.observe(7, read);
    }
    let record = d.training_record();
    assert_eq!((record.calls, record.windows), (u64::MAX, u64::MAX));
    assert_eq!(d.database().total(), u64::MAX);
}
