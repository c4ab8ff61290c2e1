//! Compiles the BPF program with clang and generates its libbpf skeleton.
//!
//! The program is built against the kernel's UAPI headers (linux-libc-dev) and declares the one
//! kernel structure field it reads with CO-RE attributes, so no vmlinux.h is needed: libbpf
//! relocates that field against the running kernel's BTF when the program is loaded.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SOURCE: &str = "src/bpf/bosc.bpf.c";

fn main() {
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("bosc.skel.rs");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    SkeletonBuilder::new()
        .source(SOURCE)
        .clang_args([
            // <linux/bpf.h> includes <asm/types.h>, which Debian keeps in the multiarch directory.
            format!("-I/usr/include/{arch}-linux-gnu"),
            "-Wall".to_string(),
            "-Werror".to_string(),
        ])
        .build_and_generate(&out)
        .unwrap_or_else(|e| {
            panic!("building {SOURCE}: {e:#} (is clang installed? hack/setup.sh --deps)")
        });
    println!("cargo:rerun-if-changed=src/bpf");
}
