//! Cost of judging the resource of one `openat` while detecting, as the notify loop pays it: the
//! path read from the caller's memory (`process_vm_readv`, this process standing in for the
//! caller), normalised, generalised and looked up in a learnt set of the size the files workload
//! of `hack/bench-overhead.sh` learns (8,000 paths under 2,000 directories). The text
//! alone (without the read) is measured too.

use std::ffi::CString;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ids_detector::alphabet::Alphabet;
use ids_monitor::backend::memory::TaskMemory;
use ids_monitor::backend::sink::Syscall;
use ids_monitor::resource::path::{generalise, normalise, Start};
use ids_monitor::resource::{ResourceCalls, ResourceKind, ResourceSet, Scratch};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// `n` in letters: names a generaliser keeps apart, as real package names are.
fn letters(mut n: usize) -> String {
    let mut word = String::new();
    loop {
        word.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            return word;
        }
    }
}

/// Paths shaped like a distribution's /usr: 400 packages' documentation, 5 directories of 4 files
/// each, 8,000 in all.
fn paths() -> Vec<String> {
    let mut paths = Vec::new();
    for package in 0..400 {
        let name = ["libfoo", "python-bar", "gcc-base", "perl-modules"][package % 4];
        for dir in 0..5 {
            for leaf in [
                "changelog.Debian.gz",
                "copyright",
                "README.md",
                "index.html",
            ] {
                let (package, dir) = (letters(package), letters(dir));
                paths.push(format!("/hostusr/share/doc/{name}-{package}/{dir}/{leaf}"));
            }
        }
    }
    paths
}

fn learnt(paths: &[String]) -> ResourceSet {
    let mut set = ResourceSet::default();
    let mut key = String::new();
    for path in paths {
        key.clear();
        generalise(path, &mut key);
        set.learn(ResourceKind::Read, &key);
    }
    set
}

fn openat(c: &mut Criterion) {
    let paths = paths();
    let set = learnt(&paths);
    let strings: Vec<CString> = paths
        .iter()
        .map(|p| CString::new(p.as_str()).unwrap())
        .collect();
    let alphabet = Alphabet::system();
    let calls = ResourceCalls::new(alphabet);
    let sym = alphabet.sym_by_name("openat").unwrap();
    let me = TaskMemory {
        tid: nix::unistd::gettid().as_raw() as u32,
    };
    let mut scratch = Scratch::default();
    let mut group = c.benchmark_group("resource");
    group.throughput(Throughput::Elements(strings.len() as u64));

    group.bench_function("openat read+judge", |b| {
        b.iter(|| {
            let mut known = 0;
            for path in &strings {
                let call = Syscall {
                    pid: me.tid,
                    arch: AUDIT_ARCH_X86_64,
                    nr: 257,
                    args: [libc::AT_FDCWD as u64, path.as_ptr() as u64, 0, 0, 0, 0],
                };
                let kind = calls.read(sym, &call, &me, &mut scratch).unwrap();
                known += usize::from(set.contains(kind, &scratch.key));
            }
            assert_eq!(black_box(known), strings.len());
        })
    });

    group.bench_function("path text+judge", |b| {
        let (mut raw, mut key) = (String::new(), String::new());
        b.iter(|| {
            let mut known = 0;
            for path in &paths {
                raw.clear();
                key.clear();
                normalise(black_box(path), Start::WorkingDirectory, &mut raw);
                generalise(&raw, &mut key);
                known += usize::from(set.contains(ResourceKind::Read, &key));
            }
            assert_eq!(black_box(known), paths.len());
        })
    });
    group.finish();
}

criterion_group!(benches, openat);
criterion_main!(benches);
