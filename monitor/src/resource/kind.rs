//! The kinds of resource a profile learns, how each is written, and how far each may widen.

use serde::{Deserialize, Serialize};

/// What a container did to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// A file opened read-only (`open`, `openat`, `openat2`).
    Read,
    /// A file opened for writing, created or truncated (`open*` with such flags, `creat`).
    Write,
    /// A program executed (`execve`, `execveat`).
    Exec,
    /// A socket made: its family and type (`socket`).
    Socket,
    /// An address bound (`bind`): family and port, or a unix socket's path.
    Bind,
    /// A socket listened on (`listen`): family and the port it is bound to.
    Listen,
    /// An address connected to (`connect`): family and port, or a unix socket's path.
    Connect,
    /// A file's mode changed (`chmod`, `fchmod`, `fchmodat`): path and the new mode.
    Chmod,
    /// A file's owner changed (`chown`, `fchown`, `lchown`, `fchownat`): path and `uid:gid`.
    Chown,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 9] = [
        ResourceKind::Read,
        ResourceKind::Write,
        ResourceKind::Exec,
        ResourceKind::Socket,
        ResourceKind::Bind,
        ResourceKind::Listen,
        ResourceKind::Connect,
        ResourceKind::Chmod,
        ResourceKind::Chown,
    ];

    /// The name profiles and events use.
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::Read => "read",
            ResourceKind::Write => "write",
            ResourceKind::Exec => "exec",
            ResourceKind::Socket => "socket",
            ResourceKind::Bind => "bind",
            ResourceKind::Listen => "listen",
            ResourceKind::Connect => "connect",
            ResourceKind::Chmod => "chmod",
            ResourceKind::Chown => "chown",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Where a resource of this kind splits into its scope and its name: a path at its last `/`
    /// (directory and file), an address at its last `:` (family and port); a socket does not.
    pub fn separator(self) -> Option<char> {
        match self {
            ResourceKind::Read
            | ResourceKind::Write
            | ResourceKind::Exec
            | ResourceKind::Chmod
            | ResourceKind::Chown => Some('/'),
            ResourceKind::Bind | ResourceKind::Listen | ResourceKind::Connect => Some(':'),
            ResourceKind::Socket => None,
        }
    }

    /// How many names one scope may hold before it stands for any name (`/dir/*`, `inet:*`).
    /// Programs never widen: a directory of many programs run (`/bin`) must not let any other
    /// one run; socket families are few.
    pub fn widen_after(self) -> Option<usize> {
        match self {
            ResourceKind::Exec | ResourceKind::Socket => None,
            _ => Some(WIDEN_AFTER),
        }
    }
}

/// Distinct names a directory (or an address family) holds before it widens to any name.
pub const WIDEN_AFTER: usize = 16;
