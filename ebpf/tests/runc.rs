//! The kernel program watching real runc containers (busybox bundles, hack/test-bundle.sh): runc's
//! init enters the container's cgroup, and its calls are runc's until it execs the container's
//! program; what the container does then is learnt, recognised, and an attack is killed in the
//! kernel. Needs root, runc and busybox-static (hack/setup.sh --deps), and a kernel with BTF.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use ids_detector::alphabet::Alphabet;
use ids_detector::parameters::{self, Parameters};
use ids_ebpf::{OnUnseen, Record, Registration, Spec};

mod support;
use support::Fixture;

/// A busybox bundle running `sh -c SCRIPT` in cgroup `/NAME`, and runc's state directory.
struct Bundle {
    dir: tempfile::TempDir,
    name: String,
}

impl Bundle {
    fn new(script: &str) -> Bundle {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = tempfile::tempdir().unwrap();
        let name = format!(
            "ids-ebpf-runc-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let script_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../hack/test-bundle.sh");
        let made = Command::new(script_dir)
            .arg(dir.path().join("bundle"))
            .args(["sh", "-c", script])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(made.success(), "hack/test-bundle.sh");
        let config = dir.path().join("bundle/config.json");
        let mut spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        spec["linux"]["cgroupsPath"] = format!("/{name}").into();
        std::fs::write(&config, spec.to_string()).unwrap();
        Bundle { dir, name }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("runc-root")
    }

    /// `runc run`: the container's exit code.
    fn run(&self, id: &str) -> i32 {
        let status = Command::new("runc")
            .arg("--root")
            .arg(self.root())
            .args(["run", "--bundle"])
            .arg(self.dir.path().join("bundle"))
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        status.code().unwrap()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(self.root())
            .args(["delete", "-f", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// W = 10, E = 1000, anomalous past 10% unknown windows.
fn params() -> Parameters {
    Parameters {
        window: 10,
        epoch: 1000,
        threshold: parameters::Threshold::Ratio(0.1),
        ..Parameters::default()
    }
}

fn spec<'a>(limits: &'a [u32], learn: bool, kill: bool, bags: &'a [(u64, u64)]) -> Spec<'a> {
    let a = Alphabet::system();
    let p = params();
    Spec {
        window: p.window,
        epoch: p.epoch,
        limits,
        learn,
        kill,
        execve: [
            a.sym_by_name("execve").unwrap().0,
            a.sym_by_name("execveat").unwrap().0,
        ],
        // runc's container processes are one pid namespace deeper than this test.
        start_level: ids_ebpf::pid_namespace_level().unwrap() + 1,
        per_container: false,
        known: &[],
        on_unseen: OnUnseen::Ignore,
        invisible: &[],
        bags,
        capacity: 100_000,
        continuous: false,
    }
}

/// Runs `bundle` once as a container registered with `spec`: its exit code, counters and records.
fn contain(
    f: &mut Fixture,
    bundle: &Bundle,
    spec: &Spec<'_>,
) -> (i32, ids_ebpf::Counters, Vec<Record>, Vec<(u64, u64)>) {
    // runc creates the container's cgroup if it is not there; made first, it can be registered
    // before runc's init enters it.
    let (_, id) = f.cgroup_named(&bundle.name);
    let reg = Registration::new(&f.setup, id, spec).unwrap();
    let code = bundle.run(&bundle.name);
    let mut records = Vec::new();
    reg.records(|r| records.push(r)).unwrap().consume().unwrap();
    let counters = reg.counters().unwrap();
    let bags = reg.bags().unwrap();
    reg.unregister().unwrap();
    (code, counters, records, bags)
}

const SERVICE: &str = "echo hello >/tmp/out; cat /tmp/out; ls / >/dev/null; id >/dev/null";

#[test]
fn a_container_is_learnt_from_its_execve_recognised_and_an_attack_killed() {
    let mut f = Fixture::new();
    let limits = support::limits(&params());
    let execve = spec(&limits, true, false, &[]).execve[0];

    let mut bags = Vec::new();
    for _ in 0..3 {
        let bundle = Bundle::new(SERVICE);
        let (code, counters, records, learnt) =
            contain(&mut f, &bundle, &spec(&limits, true, false, &bags));
        assert_eq!(code, 0);
        assert!(counters.runc_calls > 0, "runc's init was seen and left out");
        let first = records.iter().find_map(|r| match r {
            Record::NewBag { window, .. } => Some(window.calls()[0]),
            _ => None,
        });
        if bags.is_empty() {
            // Not runc's re-exec of itself (execveat of a sealed copy, in the host's pid namespace).
            assert_eq!(
                first,
                Some(execve),
                "the first window starts at the init's execve"
            );
        }
        assert_eq!(counters.lost, 0);
        bags = learnt;
    }

    let bundle = Bundle::new(SERVICE);
    let (code, counters, _, _) = contain(&mut f, &bundle, &spec(&limits, false, true, &bags));
    assert_eq!((code, counters.anomalies), (0, 0), "{counters:?}");
    assert!(counters.windows > 0);

    // The shell itself reads /etc/shadow byte by byte: the process that ends the first anomalous
    // epoch is the container's init, and runc reports its SIGKILL.
    let bundle = Bundle::new(
        "i=0; while [ $i -lt 3000 ]; do read x </etc/shadow; echo $x >/dev/null; i=$((i+1)); done",
    );
    let (code, counters, records, _) = contain(&mut f, &bundle, &spec(&limits, false, true, &bags));
    assert_eq!(code, 128 + libc::SIGKILL, "{counters:?}");
    assert_eq!(counters.anomalies, 1);
    assert!(records.iter().any(|r| matches!(
        r,
        Record::Epoch {
            anomalous: true,
            ..
        }
    )));
    assert!(records.iter().any(|r| matches!(r, Record::Unknown { .. })));
}
