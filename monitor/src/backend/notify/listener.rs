//! The socket runc hands notify fds to (`linux.seccomp.listenerPath`).
//!
//! For each process it starts in the container (init, then one per `runc exec`), runc connects,
//! sends one message, the JSON container process state with the notify fd as SCM_RIGHTS, and
//! closes.

use std::collections::HashMap;
use std::fs;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{
    getsockopt, recvmsg, sockopt::PeerCredentials, ControlMessageOwned, MsgFlags, UnixCredentials,
};
use serde::{Deserialize, Serialize};

use crate::backend::{Handover, Origin};

/// runc sends a few hundred bytes; annotations can grow it, but not past this.
const MAX_MESSAGE: usize = 1 << 20;
/// runc sends its message right after connecting, while its container waits; a peer slower than
/// this is not runc.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// runc sends one fd; room for a few more lets a wrong sender be reported instead of truncated.
const MAX_FDS: usize = 8;
/// The name runc gives the notify fd in `fds`.
const SECCOMP_FD_NAME: &str = "seccompFd";

/// The message a runtime sends to a seccomp agent (OCI runtime spec, "Container Process State").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerProcessState {
    pub oci_version: String,
    /// Names of the fds sent with the message, in order.
    pub fds: Vec<String>,
    /// The process the fd belongs to, in the runtime's pid namespace.
    pub pid: i32,
    /// `linux.seccomp.listenerMetadata` of the config.
    #[serde(default)]
    pub metadata: String,
    pub state: ContainerState,
}

impl ContainerProcessState {
    /// What the sink is told: the process and whether it is the container's init (runc says
    /// `creating`) or a `runc exec` (anything else); `None` for a pid no process can have.
    pub fn handover(&self) -> Option<Handover> {
        let origin = match self.state.status.as_str() {
            "creating" => Origin::Creating,
            _ => Origin::Running,
        };
        let pid = u32::try_from(self.pid).ok()?;
        Some(Handover { pid, origin })
    }
}

/// The container's state as `runc state` would print it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    /// `creating` for the init process, `running` for `runc exec`.
    pub status: String,
    #[serde(default)]
    pub pid: Option<i32>,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: Option<HashMap<String, String>>,
}

/// A notify fd received from a runtime, with what it said about it.
#[derive(Debug)]
pub struct HandedOverFd {
    /// The seccomp notify fd of the process.
    pub fd: OwnedFd,
    pub state: ContainerProcessState,
    /// Who sent it, from SO_PEERCRED.
    pub peer: UnixCredentials,
}

/// Why a listener could not be set up, or a handover was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("failed to bind the seccomp listener socket {path}: {source}")]
    Bind { path: PathBuf, source: io::Error },
    #[error("failed to make the seccomp listener socket {path} mode 0600: {source}")]
    Chmod { path: PathBuf, source: io::Error },
    #[error("failed to accept a connection on the seccomp listener socket {path}: {source}")]
    Accept { path: PathBuf, source: io::Error },
    #[error("failed to read the credentials of a peer of {path}: {source}")]
    PeerCredentials { path: PathBuf, source: nix::Error },
    #[error("refused a handover on {path} from pid {pid} uid {uid}: only uid {allowed} may send notify fds")]
    PeerNotAllowed {
        path: PathBuf,
        pid: i32,
        uid: u32,
        allowed: u32,
    },
    #[error("failed to set a read timeout on a connection to {path}: {source}")]
    ReadTimeout { path: PathBuf, source: io::Error },
    #[error("failed to read the handover message on {path}: {source}")]
    Read { path: PathBuf, source: nix::Error },
    #[error("handover message on {path} was cut short: more than {MAX_FDS} fds or its control data truncated")]
    Truncated { path: PathBuf },
    #[error("handover message on {path} is larger than {MAX_MESSAGE} bytes")]
    TooLarge { path: PathBuf },
    #[error("handover message on {path} is not a container process state: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("handover on {path} names fds {names:?} but carries {received} fds; no {SECCOMP_FD_NAME} to take")]
    NoSeccompFd {
        path: PathBuf,
        names: Vec<String>,
        received: usize,
    },
    #[error("handover fd on {path} is {target}, not a seccomp notify fd")]
    NotSeccompFd { path: PathBuf, target: String },
}

/// The unix socket at `listenerPath`, bound and listening.
#[derive(Debug)]
pub struct HandoverListener {
    socket: UnixListener,
    path: PathBuf,
    allowed_uid: u32,
}

impl HandoverListener {
    /// Binds and listens at `path` (its directory must exist; keep it 0700) with the socket mode
    /// 0600, accepting handovers only from processes of `allowed_uid` (0 in production: runc runs
    /// as root).
    pub fn bind(path: &Path, allowed_uid: u32) -> Result<Self, ListenerError> {
        let socket = UnixListener::bind(path).map_err(|source| ListenerError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|source| {
            ListenerError::Chmod {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(Self {
            socket,
            path: path.to_path_buf(),
            allowed_uid,
        })
    }

    /// A listener bound by another process (a monitor's keeper) and inherited as `socket`.
    pub fn inherit(socket: OwnedFd, path: &Path, allowed_uid: u32) -> Self {
        Self {
            socket: UnixListener::from(socket),
            path: path.to_path_buf(),
            allowed_uid,
        }
    }

    /// The bound socket, to be inherited by the process that serves it; the path stays bound
    /// (it is not removed as on drop).
    pub fn into_socket(mut self) -> io::Result<OwnedFd> {
        let socket = OwnedFd::from(self.socket.try_clone()?);
        self.path = PathBuf::new();
        Ok(socket)
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes `accept` return `WouldBlock` instead of waiting, for use from a poll loop.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// Waits for (or, non-blocking, takes) one connection and reads its handover. A refused
    /// handover has its connection and fds closed.
    pub fn accept(&self) -> Result<HandedOverFd, ListenerError> {
        let (stream, _) = self
            .socket
            .accept()
            .map_err(|source| ListenerError::Accept {
                path: self.path.clone(),
                source,
            })?;
        self.read_handover(stream)
    }

    fn read_handover(&self, stream: UnixStream) -> Result<HandedOverFd, ListenerError> {
        let path = || self.path.clone();
        let peer = getsockopt(&stream, PeerCredentials).map_err(|source| {
            ListenerError::PeerCredentials {
                path: path(),
                source,
            }
        })?;
        if peer.uid() != self.allowed_uid {
            return Err(ListenerError::PeerNotAllowed {
                path: path(),
                pid: peer.pid(),
                uid: peer.uid(),
                allowed: self.allowed_uid,
            });
        }
        // A silent peer must not hold the monitor, and with it its containers' syscalls, for long.
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .map_err(|source| ListenerError::ReadTimeout {
                path: path(),
                source,
            })?;

        let mut data = Vec::with_capacity(4096);
        let mut fds: Vec<OwnedFd> = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
        let state = loop {
            let (len, truncated) = {
                let mut iov = [IoSliceMut::new(&mut chunk)];
                let msg = recvmsg::<()>(
                    stream.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::MSG_CMSG_CLOEXEC,
                )
                .map_err(|source| ListenerError::Read {
                    path: path(),
                    source,
                })?;
                for received in msg.cmsgs().map_err(|source| ListenerError::Read {
                    path: path(),
                    source,
                })? {
                    if let ControlMessageOwned::ScmRights(raw) = received {
                        // SAFETY: SCM_RIGHTS just installed these fds in this process; nothing
                        // else owns them.
                        fds.extend(
                            raw.into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
                (msg.bytes, msg.flags.contains(MsgFlags::MSG_CTRUNC))
            };
            if truncated {
                return Err(ListenerError::Truncated { path: path() });
            }
            data.extend_from_slice(&chunk[..len]);
            if data.len() > MAX_MESSAGE {
                return Err(ListenerError::TooLarge { path: path() });
            }
            match serde_json::from_slice::<ContainerProcessState>(&data) {
                Ok(state) => break state,
                Err(e) if e.is_eof() && len > 0 => continue,
                Err(source) => {
                    return Err(ListenerError::Parse {
                        path: path(),
                        source,
                    })
                }
            }
        };

        let index = state.fds.iter().position(|name| name == SECCOMP_FD_NAME);
        let fd = match index {
            Some(i) if i < fds.len() => fds.swap_remove(i),
            _ => {
                return Err(ListenerError::NoSeccompFd {
                    path: path(),
                    names: state.fds,
                    received: fds.len(),
                })
            }
        };
        check_is_seccomp_notify_fd(fd.as_fd()).map_err(|target| ListenerError::NotSeccompFd {
            path: path(),
            target,
        })?;
        Ok(HandedOverFd { fd, state, peer })
    }
}

impl AsFd for HandoverListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Drop for HandoverListener {
    /// A stale socket would make the next bind at the same path fail.
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A notify fd is an anonymous inode named `[seccomp notify]`; answering ioctls on anything else
/// would at best fail and at worst act on an unrelated device.
pub(super) fn check_is_seccomp_notify_fd(fd: BorrowedFd<'_>) -> Result<(), String> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    match fs::read_link(&link) {
        Ok(target) if target.as_os_str() == "anon_inode:seccomp notify" => Ok(()),
        Ok(target) => Err(target.display().to_string()),
        Err(e) => Err(format!("unreadable ({link}: {e})")),
    }
}
