//! What can go wrong between user space and the kernel program.

use std::path::PathBuf;

/// An error of the in-kernel monitor. Each says in one line what is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel's type information, which the program needs to load, is not there.
    #[error("the ebpf monitor needs the kernel's BTF, and {path} {reason} (a kernel built with CONFIG_DEBUG_INFO_BTF has it)")]
    NoBtf { path: PathBuf, reason: String },
    /// The kernel refused the program or a map (no CAP_BPF, a locked-down kernel, a verifier error).
    #[error("the kernel refused the ebpf monitor's {what}: {source}")]
    Kernel {
        what: String,
        #[source]
        source: libbpf_rs::Error,
    },
    /// A file or directory of the monitor (the bpffs pins, the lock, a cgroup).
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The program already loaded on the host is not the one this build carries.
    #[error("the ebpf program pinned in {dir} is another version's ({why}); remove its containers first")]
    Incompatible { dir: PathBuf, why: String },
    /// A container the kernel cannot take as asked.
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    pub(crate) fn kernel(what: impl Into<String>) -> impl FnOnce(libbpf_rs::Error) -> Error {
        let what = what.into();
        move |source| Error::Kernel { what, source }
    }

    pub(crate) fn file(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::File { path, source }
    }
}
