//! The few calls whose arguments name a resource, and how each is read: which argument is the
//! path, the flags, the address. A table per syscall symbol, so a call that names nothing costs
//! one array lookup.
//!
//! Not read: `socketcall` (32-bit x86's multiplexer; its own `socket`, `bind`, ... are), `sendto`
//! addresses, `rename`/`link`/`unlink`, `mkdir`.

use std::borrow::Cow;

use ids_detector::alphabet::{Alphabet, Sym};

use super::kind::ResourceKind;
use super::path::{generalise, normalise, Start, MAX_PATH};
use crate::backend::sink::{CallerMemory, Syscall};

/// Where an open call keeps its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flags {
    /// In this argument.
    Arg(usize),
    /// In the first field (`flags`) of the `open_how` this argument points to.
    How(usize),
    /// `creat`: always a write.
    Create,
}

/// How a call names its resource. `dir_fd`: the argument holding the directory fd a relative
/// path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Open {
        dir_fd: Option<usize>,
        path: usize,
        flags: Flags,
    },
    Exec {
        dir_fd: Option<usize>,
        path: usize,
    },
    Socket,
    Address(ResourceKind),
    Listen,
    Mode {
        dir_fd: Option<usize>,
        path: Option<usize>,
        mode: usize,
    },
    Owner {
        dir_fd: Option<usize>,
        path: Option<usize>,
        uid: usize,
    },
}

const SHAPES: &[(&str, Shape)] = {
    use Flags::*;
    use Shape::*;
    &[
        (
            "open",
            Open {
                dir_fd: None,
                path: 0,
                flags: Arg(1),
            },
        ),
        (
            "openat",
            Open {
                dir_fd: Some(0),
                path: 1,
                flags: Arg(2),
            },
        ),
        (
            "openat2",
            Open {
                dir_fd: Some(0),
                path: 1,
                flags: How(2),
            },
        ),
        (
            "creat",
            Open {
                dir_fd: None,
                path: 0,
                flags: Create,
            },
        ),
        (
            "execve",
            Exec {
                dir_fd: None,
                path: 0,
            },
        ),
        (
            "execveat",
            Exec {
                dir_fd: Some(0),
                path: 1,
            },
        ),
        ("socket", Socket),
        ("bind", Address(ResourceKind::Bind)),
        ("connect", Address(ResourceKind::Connect)),
        ("listen", Listen),
        (
            "chmod",
            Mode {
                dir_fd: None,
                path: Some(0),
                mode: 1,
            },
        ),
        (
            "fchmod",
            Mode {
                dir_fd: None,
                path: None,
                mode: 1,
            },
        ),
        (
            "fchmodat",
            Mode {
                dir_fd: Some(0),
                path: Some(1),
                mode: 2,
            },
        ),
        (
            "fchmodat2",
            Mode {
                dir_fd: Some(0),
                path: Some(1),
                mode: 2,
            },
        ),
        (
            "chown",
            Owner {
                dir_fd: None,
                path: Some(0),
                uid: 1,
            },
        ),
        (
            "lchown",
            Owner {
                dir_fd: None,
                path: Some(0),
                uid: 1,
            },
        ),
        (
            "fchown",
            Owner {
                dir_fd: None,
                path: None,
                uid: 1,
            },
        ),
        (
            "fchownat",
            Owner {
                dir_fd: Some(0),
                path: Some(1),
                uid: 2,
            },
        ),
        (
            "chown32",
            Owner {
                dir_fd: None,
                path: Some(0),
                uid: 1,
            },
        ),
        (
            "lchown32",
            Owner {
                dir_fd: None,
                path: Some(0),
                uid: 1,
            },
        ),
        (
            "fchown32",
            Owner {
                dir_fd: None,
                path: None,
                uid: 1,
            },
        ),
    ]
};

/// Per syscall symbol, how it names a resource (`None` for nearly all).
#[derive(Debug)]
pub struct ResourceCalls {
    by_sym: Box<[Option<Shape>]>,
}

/// Reusable buffers for reading one call: the bytes read, the directory a relative path starts
/// from, the resource as the call named it (normalised: what an event shows) and its generalised
/// key (what the set holds).
#[derive(Debug)]
pub struct Scratch {
    bytes: Box<[u8]>,
    dir: Box<[u8]>,
    pub raw: String,
    pub key: String,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            bytes: vec![0; MAX_PATH].into_boxed_slice(),
            dir: vec![0; MAX_PATH].into_boxed_slice(),
            raw: String::with_capacity(2 * MAX_PATH + 64),
            key: String::with_capacity(2 * MAX_PATH + 64),
        }
    }
}

impl ResourceCalls {
    pub fn new(alphabet: &Alphabet) -> ResourceCalls {
        let mut by_sym = vec![None; alphabet.len()].into_boxed_slice();
        for (name, shape) in SHAPES {
            if let Some(sym) = alphabet.sym_by_name(name) {
                by_sym[sym.index()] = Some(*shape);
            }
        }
        ResourceCalls { by_sym }
    }

    /// Whether calls of `sym` name a resource.
    pub fn names_resource(&self, sym: Sym) -> bool {
        self.by_sym[sym.index()].is_some()
    }

    /// The resource `call` names, read from the caller's memory into `scratch` (`raw` and `key`);
    /// `None` when the call names none or it cannot be read (a bad pointer: the call fails by
    /// itself).
    pub fn read(
        &self,
        sym: Sym,
        call: &Syscall,
        memory: &dyn CallerMemory,
        scratch: &mut Scratch,
    ) -> Option<ResourceKind> {
        let shape = self.by_sym[sym.index()]?;
        scratch.raw.clear();
        scratch.key.clear();
        let a = &call.args;
        match shape {
            Shape::Open {
                dir_fd,
                path,
                flags,
            } => {
                let flags = match flags {
                    Flags::Arg(i) => a[i] as i32,
                    Flags::How(i) => {
                        let mut how = [0u8; 8];
                        if memory.read(a[i], &mut how) < how.len() {
                            return None;
                        }
                        u64::from_ne_bytes(how) as i32
                    }
                    Flags::Create => libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
                };
                let tmpfile = libc::O_TMPFILE & !libc::O_DIRECTORY;
                let writes = flags & libc::O_ACCMODE != libc::O_RDONLY
                    || flags & (libc::O_CREAT | libc::O_TRUNC | tmpfile) != 0;
                scratch.path(memory, a[path], dir_fd_of(a, dir_fd))?;
                Some(if writes {
                    ResourceKind::Write
                } else {
                    ResourceKind::Read
                })
            }
            Shape::Exec { dir_fd, path } => {
                scratch.path(memory, a[path], dir_fd_of(a, dir_fd))?;
                Some(ResourceKind::Exec)
            }
            Shape::Socket => {
                let text = &mut scratch.raw;
                push_family(text, a[0] as i32);
                text.push(' ');
                push_type(text, a[1] as i32 & 0xf);
                scratch.key.push_str(&scratch.raw);
                Some(ResourceKind::Socket)
            }
            Shape::Address(kind) => {
                let len = (a[2] as usize).min(scratch.bytes.len());
                let len = memory.read(a[1], &mut scratch.bytes[..len]);
                scratch.address(len)?;
                Some(kind)
            }
            Shape::Listen => {
                let len = memory.socket_name(a[0], &mut scratch.bytes[..256])?;
                scratch.address(len)?;
                Some(ResourceKind::Listen)
            }
            Shape::Mode { dir_fd, path, mode } => {
                scratch.optional_path(memory, path.map(|i| a[i]), dir_fd_of(a, dir_fd))?;
                scratch.suffix(format_args!(" {:04o}", a[mode] & 0o7777));
                Some(ResourceKind::Chmod)
            }
            Shape::Owner { dir_fd, path, uid } => {
                scratch.optional_path(memory, path.map(|i| a[i]), dir_fd_of(a, dir_fd))?;
                scratch.suffix(format_args!(" {}:{}", a[uid] as i32, a[uid + 1] as i32));
                Some(ResourceKind::Chown)
            }
        }
    }
}

/// The directory fd a relative path starts from; `None` for the working directory.
fn dir_fd_of(args: &[u64; 6], dir_fd: Option<usize>) -> Option<i32> {
    dir_fd
        .map(|i| args[i] as i32)
        .filter(|&fd| fd != libc::AT_FDCWD)
}

impl Scratch {
    /// Reads the NUL-terminated path at `addr` (at most [`MAX_PATH`] bytes; a longer one is cut),
    /// normalised into `raw` (a relative one from the directory the caller names by `dir_fd`, or
    /// its working directory) and generalised into `key`.
    fn path(&mut self, memory: &dyn CallerMemory, addr: u64, dir_fd: Option<i32>) -> Option<()> {
        let len = read_c_string(memory, addr, &mut self.bytes)?;
        let text = text_of(&self.bytes[..len]);
        let dir_text;
        let start = if text.starts_with('/') {
            // Unused: an absolute path starts at the root.
            Start::WorkingDirectory
        } else {
            let dir_len = memory.directory(dir_fd, &mut self.dir);
            dir_text = dir_len.map(|n| text_of(&self.dir[..n]));
            match (&dir_text, dir_fd) {
                (Some(dir), _) => Start::Directory(dir),
                (None, None) => Start::WorkingDirectory,
                (None, Some(_)) => Start::DirectoryFd,
            }
        };
        normalise(&text, start, &mut self.raw);
        generalise(&self.raw, &mut self.key);
        Some(())
    }

    /// A path, or `(fd)` for a call on a file descriptor.
    fn optional_path(
        &mut self,
        memory: &dyn CallerMemory,
        addr: Option<u64>,
        dir_fd: Option<i32>,
    ) -> Option<()> {
        match addr {
            Some(addr) => self.path(memory, addr, dir_fd),
            None => {
                self.raw.push_str("(fd)");
                self.key.push_str("(fd)");
                Some(())
            }
        }
    }

    /// Appends what follows the path (a mode, an owner) to both `raw` and `key`.
    fn suffix(&mut self, text: std::fmt::Arguments<'_>) {
        use std::fmt::Write;
        let start = self.raw.len();
        let _ = self.raw.write_fmt(text);
        let (raw, key) = (&self.raw, &mut self.key);
        key.push_str(&raw[start..]);
    }

    /// A socket address of `len` bytes in `bytes`: `family:port` for inet, `unix:path` (the path
    /// generalised in `key`, `@name` for the abstract namespace), `family:-` for the others.
    fn address(&mut self, len: usize) -> Option<()> {
        if len < 2 {
            return None;
        }
        let b = &self.bytes[..len];
        let family = i32::from(u16::from_ne_bytes([b[0], b[1]]));
        push_family(&mut self.raw, family);
        self.raw.push(':');
        match family {
            libc::AF_INET | libc::AF_INET6 if len >= 4 => {
                let port = u16::from_be_bytes([b[2], b[3]]);
                let _ = std::fmt::Write::write_fmt(&mut self.raw, format_args!("{port}"));
                self.key.push_str(&self.raw);
            }
            libc::AF_UNIX => {
                self.key.push_str(&self.raw);
                let path = &b[2..];
                let (abstract_name, path) = match path.first() {
                    Some(0) => (true, &path[1..]),
                    _ => (false, path),
                };
                let end = if abstract_name {
                    path.len()
                } else {
                    path.iter().position(|&c| c == 0).unwrap_or(path.len())
                };
                let text: Cow<'_, str> = String::from_utf8_lossy(&path[..end]);
                if abstract_name {
                    self.raw.push('@');
                    self.raw.push_str(&text);
                    self.key.push('@');
                    generalise(&text, &mut self.key);
                } else if !text.is_empty() {
                    let start = self.raw.len();
                    normalise(&text, Start::WorkingDirectory, &mut self.raw);
                    let (raw, key) = (&self.raw, &mut self.key);
                    generalise(&raw[start..], key);
                }
            }
            _ => {
                self.raw.push('-');
                self.key.push_str(&self.raw);
            }
        }
        Some(())
    }
}

/// `bytes` as text, invalid UTF-8 replaced. Validating first is the fast way for the valid text
/// nearly every path is: `from_utf8` checks ASCII a word at a time, the lossy scan a byte at a time.
fn text_of(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Reads a NUL-terminated string at `addr` into `buf`, a page at a time (a string may end just
/// before an unmapped page); its length without the NUL, or `buf.len()` if it has none there.
fn read_c_string(memory: &dyn CallerMemory, addr: u64, buf: &mut [u8]) -> Option<usize> {
    const PAGE: u64 = 4096;
    let mut done = 0;
    while done < buf.len() {
        let at = addr.checked_add(done as u64)?;
        let to_page_end = (PAGE - at % PAGE) as usize;
        let want = to_page_end.min(buf.len() - done);
        let got = memory.read(at, &mut buf[done..done + want]);
        if let Some(nul) = buf[done..done + got].iter().position(|&c| c == 0) {
            return Some(done + nul);
        }
        done += got;
        if got < want {
            return (done > 0).then_some(done);
        }
    }
    Some(done)
}

fn push_family(out: &mut String, family: i32) {
    match family {
        libc::AF_UNIX => out.push_str("unix"),
        libc::AF_INET => out.push_str("inet"),
        libc::AF_INET6 => out.push_str("inet6"),
        libc::AF_NETLINK => out.push_str("netlink"),
        libc::AF_PACKET => out.push_str("packet"),
        other => {
            let _ = std::fmt::Write::write_fmt(out, format_args!("family{other}"));
        }
    }
}

fn push_type(out: &mut String, kind: i32) {
    match kind {
        libc::SOCK_STREAM => out.push_str("stream"),
        libc::SOCK_DGRAM => out.push_str("dgram"),
        libc::SOCK_RAW => out.push_str("raw"),
        libc::SOCK_SEQPACKET => out.push_str("seqpacket"),
        other => {
            let _ = std::fmt::Write::write_fmt(out, format_args!("type{other}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use super::*;
    use crate::backend::memory::TaskMemory;
    use crate::backend::sink::AUDIT_ARCH_X86_64;

    fn me() -> TaskMemory {
        TaskMemory {
            tid: nix::unistd::gettid().as_raw() as u32,
        }
    }

    /// Reads the resource of syscall `name` with `args`, from this process's own memory.
    fn read(name: &str, args: [u64; 6]) -> Option<(ResourceKind, String, String)> {
        let alphabet = Alphabet::system();
        let calls = ResourceCalls::new(alphabet);
        let sym = alphabet.sym_by_name(name).unwrap();
        let call = Syscall {
            pid: me().tid,
            arch: AUDIT_ARCH_X86_64,
            nr: 0,
            args,
        };
        let mut scratch = Scratch::default();
        let kind = calls.read(sym, &call, &me(), &mut scratch)?;
        Some((kind, scratch.raw.clone(), scratch.key.clone()))
    }

    fn ptr(s: &CString) -> u64 {
        s.as_ptr() as u64
    }

    #[test]
    fn opens_are_reads_or_writes_by_their_flags() {
        let p = CString::new("/var/lib/mysql/#sql-temp-123.ibd").unwrap();
        let at = libc::AT_FDCWD as u64;
        let (kind, raw, key) = read("openat", [at, ptr(&p), libc::O_RDWR as u64, 0, 0, 0]).unwrap();
        assert_eq!(kind, ResourceKind::Write);
        assert_eq!(raw, "/var/lib/mysql/#sql-temp-123.ibd");
        assert_eq!(key, "/var/lib/mysql/\\#sql-temp-#.ibd");
        let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
        let (kind, ..) = read("openat", [at, ptr(&p), flags, 0, 0, 0]).unwrap();
        assert_eq!(kind, ResourceKind::Read);
        let flags = (libc::O_RDONLY | libc::O_CREAT) as u64;
        let (kind, ..) = read("open", [ptr(&p), flags, 0, 0, 0, 0]).unwrap();
        assert_eq!(kind, ResourceKind::Write);
        let (kind, ..) = read("creat", [ptr(&p), 0o644, 0, 0, 0, 0]).unwrap();
        assert_eq!(kind, ResourceKind::Write);
        let how: [u64; 3] = [libc::O_WRONLY as u64, 0, 0];
        let (kind, ..) = read("openat2", [at, ptr(&p), how.as_ptr() as u64, 24, 0, 0]).unwrap();
        assert_eq!(kind, ResourceKind::Write);
        // Relative paths start from the caller's directories, as it names them.
        let rel = CString::new("../t1.ibd").unwrap();
        let dir = std::fs::File::open("/usr/lib").unwrap();
        use std::os::fd::AsRawFd;
        let fd = dir.as_raw_fd() as u64;
        let (_, raw, _) = read("openat", [fd, ptr(&rel), 0, 0, 0, 0]).unwrap();
        assert_eq!(raw, "/usr/t1.ibd");
        let cwd = std::env::current_dir().unwrap();
        let (_, raw, _) = read("openat", [at, ptr(&rel), 0, 0, 0, 0]).unwrap();
        assert_eq!(raw, format!("{}/t1.ibd", cwd.parent().unwrap().display()));
        let (_, raw, _) = read("openat", [999_999, ptr(&rel), 0, 0, 0, 0]).unwrap();
        assert_eq!(raw, "(dir)/t1.ibd", "a directory fd that cannot be read");
    }

    #[test]
    fn bad_pointers_and_long_paths() {
        assert_eq!(read("open", [0, 0, 0, 0, 0, 0]), None, "a null path");
        assert_eq!(read("open", [8, 0, 0, 0, 0, 0]), None, "an unmapped page");
        let long = CString::new(vec![b'a'; MAX_PATH + 100]).unwrap();
        let (_, raw, _) = read("open", [ptr(&long), 0, 0, 0, 0, 0]).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            raw.len(),
            cwd.as_os_str().len() + 1 + MAX_PATH,
            "cut at MAX_PATH"
        );
        assert_eq!(read("getpid", [0; 6]), None, "names nothing");
        let invalid = CString::new(b"/tmp/a\xffb1".to_vec()).unwrap();
        let (_, raw, key) = read("open", [ptr(&invalid), 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(
            (raw.as_str(), key.as_str()),
            ("/tmp/a\u{fffd}b1", "/tmp/a\u{fffd}b#")
        );
        for len in [255, 256, 257, 3000] {
            let name = format!("/{}", "b".repeat(len - 1));
            let path = CString::new(name.clone()).unwrap();
            let (_, raw, _) = read("open", [ptr(&path), 0, 0, 0, 0, 0]).unwrap();
            assert_eq!(raw, name, "a path of {len} bytes");
        }
    }

    #[test]
    fn programs_sockets_and_addresses() {
        let nc = CString::new("/bin/nc").unwrap();
        let (kind, raw, _) = read("execve", [ptr(&nc), 0, 0, 0, 0, 0]).unwrap();
        assert_eq!((kind, raw.as_str()), (ResourceKind::Exec, "/bin/nc"));
        let stream = (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64;
        let (kind, raw, _) = read("socket", [libc::AF_INET as u64, stream, 0, 0, 0, 0]).unwrap();
        assert_eq!((kind, raw.as_str()), (ResourceKind::Socket, "inet stream"));

        let mut inet = [0u8; 16];
        inet[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        inet[2..4].copy_from_slice(&4444u16.to_be_bytes());
        let (kind, raw, key) = read("bind", [3, inet.as_ptr() as u64, 16, 0, 0, 0]).unwrap();
        assert_eq!(
            (kind, raw.as_str(), key.as_str()),
            (ResourceKind::Bind, "inet:4444", "inet:4444")
        );

        let mut unix = [0u8; 110];
        unix[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        unix[2..2 + 21].copy_from_slice(b"/run/mysqld/s.1234.ok");
        let (kind, raw, key) = read("connect", [3, unix.as_ptr() as u64, 110, 0, 0, 0]).unwrap();
        assert_eq!(kind, ResourceKind::Connect);
        assert_eq!(raw, "unix:/run/mysqld/s.1234.ok");
        assert_eq!(key, "unix:/run/mysqld/s.#.ok");

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        use std::os::fd::AsRawFd;
        let (kind, raw, _) = read("listen", [listener.as_raw_fd() as u64, 5, 0, 0, 0, 0]).unwrap();
        assert_eq!((kind, raw), (ResourceKind::Listen, format!("inet:{port}")));
    }

    #[test]
    fn permission_changes_carry_the_mode_and_owner() {
        let p = CString::new("/tmp/x1").unwrap();
        let (kind, raw, key) = read("chmod", [ptr(&p), 0o104755, 0, 0, 0, 0]).unwrap();
        assert_eq!(kind, ResourceKind::Chmod);
        assert_eq!(
            (raw.as_str(), key.as_str()),
            ("/tmp/x1 4755", "/tmp/x# 4755")
        );
        let (_, raw, _) = read("fchmod", [3, 0o600, 0, 0, 0, 0]).unwrap();
        assert_eq!(raw, "(fd) 0600");
        let at = libc::AT_FDCWD as u64;
        let (kind, raw, _) = read("fchownat", [at, ptr(&p), 0, u32::MAX as u64, 0, 0]).unwrap();
        assert_eq!((kind, raw.as_str()), (ResourceKind::Chown, "/tmp/x1 0:-1"));
    }
}
