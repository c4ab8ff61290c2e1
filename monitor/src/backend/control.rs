//! The monitor's control socket: `ids-runc inspect` connects, sends one request line, reads one
//! JSON document, and the monitor closes the connection.
//!
//! The server side is served from the notify loop itself, so it is non-blocking throughout: a
//! client that connects and stays silent, or reads slowly, never delays a container's syscalls.

use std::fs;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{send, MsgFlags};

/// The request for the monitor's live state.
pub const INSPECT: &str = "inspect";
/// The ptrace monitor's request: `trace <pid> <creating|running>` asks it to trace `pid` (a
/// process about to exec runc) and the container processes it will start.
pub const TRACE: &str = "trace";

/// The answer to a request the monitor does not serve.
pub fn unknown_request(line: &str, known: &[&str]) -> serde_json::Value {
    serde_json::json!({ "error": format!("unknown request {line:?}; known: {}", known.join(", ")) })
}

/// Clients served at once; more are closed on accept, so a flood cannot grow the poll set.
const MAX_CLIENTS: usize = 8;
/// A request is one short line.
const MAX_REQUEST: usize = 256;
/// A client that has not finished its exchange by then is dropped.
const CLIENT_DEADLINE: Duration = Duration::from_secs(5);

/// What went wrong serving or querying a control socket.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("failed to bind the control socket {path}: {source}")]
    Bind { path: PathBuf, source: io::Error },
    #[error("failed to set up the control socket {path} (mode 0600, non-blocking): {source}")]
    Setup { path: PathBuf, source: io::Error },
    #[error("failed to connect to the monitor's control socket {path}: {source}")]
    Connect { path: PathBuf, source: io::Error },
    #[error("failed to send {request:?} to the monitor's control socket {path}: {source}")]
    Send {
        path: PathBuf,
        request: String,
        source: io::Error,
    },
    #[error("failed to read the answer to {request:?} from the monitor's control socket {path}: {source}")]
    Receive {
        path: PathBuf,
        request: String,
        source: io::Error,
    },
    #[error("the monitor's answer to {request:?} on {path} is not JSON: {source}")]
    Parse {
        path: PathBuf,
        request: String,
        source: serde_json::Error,
    },
}

struct Client {
    stream: UnixStream,
    accepted: Instant,
    request: Vec<u8>,
    response: Vec<u8>,
    written: usize,
    finished: bool,
}

/// The listening control socket and its clients in flight.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
}

impl ControlServer {
    /// Binds the control socket at `path` (mode 0600; keep its directory 0700).
    pub fn bind(path: &Path) -> Result<Self, ControlError> {
        let listener = UnixListener::bind(path).map_err(|source| ControlError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        let setup = |source| ControlError::Setup {
            path: path.to_path_buf(),
            source,
        };
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(setup)?;
        listener.set_nonblocking(true).map_err(setup)?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            clients: Vec::with_capacity(MAX_CLIENTS),
        })
    }

    /// A control socket bound by another process (a monitor's keeper) and inherited as `socket`.
    pub fn inherit(socket: std::os::fd::OwnedFd, path: &Path) -> Result<Self, ControlError> {
        let listener = UnixListener::from(socket);
        listener
            .set_nonblocking(true)
            .map_err(|source| ControlError::Setup {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            clients: Vec::with_capacity(MAX_CLIENTS),
        })
    }

    /// The bound socket, to be inherited by the process that serves it; the path stays bound
    /// (it is not removed as on drop).
    pub fn into_socket(mut self) -> io::Result<std::os::fd::OwnedFd> {
        let socket = std::os::fd::OwnedFd::from(self.listener.try_clone()?);
        self.path = PathBuf::new();
        Ok(socket)
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the listener, then one entry per client in order: what `serve` expects back.
    pub(crate) fn push_pollfds(&self, out: &mut Vec<libc::pollfd>) {
        out.push(pollfd(self.listener.as_raw_fd(), libc::POLLIN));
        for client in &self.clients {
            let events = if client.response.is_empty() {
                libc::POLLIN
            } else {
                libc::POLLOUT
            };
            out.push(pollfd(client.stream.as_raw_fd(), events));
        }
    }

    /// Moves every client on by what poll reported in `polled` (laid out by `push_pollfds`),
    /// answering complete requests with `answer(request_line)`, then accepts new clients.
    pub(crate) fn serve(
        &mut self,
        polled: &[libc::pollfd],
        mut answer: impl FnMut(&str) -> serde_json::Value,
    ) {
        let now = Instant::now();
        for (client, entry) in self.clients.iter_mut().zip(polled.iter().skip(1)) {
            if entry.revents & (libc::POLLIN | libc::POLLOUT | libc::POLLHUP | libc::POLLERR) != 0 {
                client.advance(&mut answer);
            }
            if now.duration_since(client.accepted) > CLIENT_DEADLINE {
                client.finished = true;
            }
        }
        self.clients.retain(|client| !client.finished);

        if polled
            .first()
            .is_some_and(|entry| entry.revents & libc::POLLIN != 0)
        {
            self.accept_clients();
        }
    }

    fn accept_clients(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.clients.len() >= MAX_CLIENTS {
                        log::warn!(
                            "control socket {}: too many clients, closing one",
                            self.path.display()
                        );
                        continue;
                    }
                    if let Err(e) = stream.set_nonblocking(true) {
                        log::warn!("control socket {}: {e}", self.path.display());
                        continue;
                    }
                    self.clients.push(Client {
                        stream,
                        accepted: Instant::now(),
                        request: Vec::new(),
                        response: Vec::new(),
                        written: 0,
                        finished: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("control socket {}: accept failed: {e}", self.path.display());
                    return;
                }
            }
        }
    }
}

impl Drop for ControlServer {
    /// A stale socket would make the next bind at the same path fail.
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Client {
    /// Reads what is there of the request; once the line (or the client's half of the connection)
    /// is complete, builds the answer; writes what the socket takes of it.
    fn advance(&mut self, answer: &mut impl FnMut(&str) -> serde_json::Value) {
        if self.response.is_empty() {
            let mut buf = [0u8; MAX_REQUEST];
            let complete = loop {
                match self.stream.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(n) => {
                        self.request.extend_from_slice(&buf[..n]);
                        if self.request.contains(&b'\n') || self.request.len() >= MAX_REQUEST {
                            break true;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        self.finished = true;
                        return;
                    }
                }
            };
            if !complete {
                return;
            }
            let line = String::from_utf8_lossy(&self.request);
            let line = line.lines().next().unwrap_or("").trim();
            if line.is_empty() {
                self.finished = true;
                return;
            }
            let document = answer(line);
            self.response = document.to_string().into_bytes();
            self.response.push(b'\n');
        }
        while self.written < self.response.len() {
            // MSG_NOSIGNAL: a client gone before its answer must not SIGPIPE the monitor.
            match send(
                self.stream.as_raw_fd(),
                &self.response[self.written..],
                MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(n) => self.written += n,
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        self.finished = true;
    }
}

/// Sends `request` (e.g. [`INSPECT`]) to the monitor's control socket at `path` and returns its
/// JSON answer; each write and read waits at most `timeout`.
pub fn request(
    path: &Path,
    request: &str,
    timeout: Duration,
) -> Result<serde_json::Value, ControlError> {
    let mut stream = UnixStream::connect(path).map_err(|source| ControlError::Connect {
        path: path.to_path_buf(),
        source,
    })?;
    let send = |source| ControlError::Send {
        path: path.to_path_buf(),
        request: request.to_string(),
        source,
    };
    let receive = |source| ControlError::Receive {
        path: path.to_path_buf(),
        request: request.to_string(),
        source,
    };
    stream.set_write_timeout(Some(timeout)).map_err(send)?;
    stream.set_read_timeout(Some(timeout)).map_err(receive)?;
    stream
        .write_all(format!("{request}\n").as_bytes())
        .map_err(send)?;
    stream.shutdown(Shutdown::Write).map_err(send)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(receive)?;
    serde_json::from_slice(&answer).map_err(|source| ControlError::Parse {
        path: path.to_path_buf(),
        request: request.to_string(),
        source,
    })
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}
