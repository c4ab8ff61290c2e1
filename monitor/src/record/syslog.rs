//! Events to syslog: one datagram per event on the local syslog socket (`/dev/log`, which
//! journald and rsyslog listen on), in the format glibc's `syslog(3)` sends:
//! `<PRI>Mmm dd hh:mm:ss ids-runc[PID]: MESSAGE`.
//!
//! Our own sender rather than `syslog(3)`: the socket is the host config's to choose (a test, a
//! relay), and the send is bounded: the monitor writes events from the loop that answers the
//! container's calls. A datagram socket's queue is short (`net.unix.max_dgram_qlen`, 10 by
//! default), so a burst of events waits for the daemon to read, but at most `SEND_TIMEOUT`; a
//! daemon that does not read by then is skipped for `STALLED_FOR` (each event skipped counts as
//! an event error), so a stuck syslog costs the container one short wait, not one per event.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::event_text::summary;
use super::events::Event;
use super::priority::Priority;

/// Where glibc and systemd's journald meet.
pub const DEFAULT_SOCKET: &str = "/dev/log";
/// The name events carry in syslog.
pub const TAG: &str = "ids-runc";
/// The longest one event waits for the syslog daemon to take it.
const SEND_TIMEOUT: Duration = Duration::from_millis(50);
/// How long a daemon that let a send time out is skipped.
const STALLED_FOR: Duration = Duration::from_secs(10);

/// Host config `syslog`: `{}` sends to `/dev/log` with facility `daemon`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    #[serde(default)]
    pub facility: Facility,
}

fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}

/// The syslog facilities a service may use (RFC 5424 codes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    User,
    #[default]
    Daemon,
    Auth,
    Authpriv,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    pub fn code(self) -> u8 {
        match self {
            Facility::User => 1,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Authpriv => 10,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

/// The sender: an unbound datagram socket with a send timeout, made at the first event.
#[derive(Debug)]
pub struct Syslog {
    config: SyslogConfig,
    socket: Option<UnixDatagram>,
    stalled_until: Option<Instant>,
}

impl Syslog {
    pub fn new(config: SyslogConfig) -> Syslog {
        Syslog {
            config,
            socket: None,
            stalled_until: None,
        }
    }

    pub fn socket_path(&self) -> &std::path::Path {
        &self.config.socket
    }

    /// Sends `event` as one datagram.
    pub fn send(&mut self, event: &Event) -> io::Result<()> {
        if self
            .stalled_until
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "the syslog daemon did not take an event in time; skipped for a while",
            ));
        }
        let message = datagram(event, self.config.facility, std::process::id());
        let socket = match &self.socket {
            Some(socket) => socket,
            None => {
                let socket = UnixDatagram::unbound()?;
                socket.set_write_timeout(Some(SEND_TIMEOUT))?;
                self.socket.insert(socket)
            }
        };
        match socket.send_to(message.as_bytes(), &self.config.socket) {
            Ok(_) => {
                self.stalled_until = None;
                Ok(())
            }
            Err(e) => {
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) {
                    self.stalled_until = Some(Instant::now() + STALLED_FOR);
                }
                Err(e)
            }
        }
    }
}

/// `<PRI>Mmm dd hh:mm:ss ids-runc[pid]: summary`, the time in local time as `syslog(3)` writes it.
pub fn datagram(event: &Event, facility: Facility, pid: u32) -> String {
    let pri = u32::from(facility.code()) * 8 + u32::from(Priority::of(event).severity());
    format!(
        "<{pri}>{} {TAG}[{pid}]: {}",
        local_timestamp(),
        summary(event)
    )
}

/// Now as `Nov 29 22:52:50` in local time (RFC 3164's TIMESTAMP).
fn local_timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: `time(NULL)` only returns the time.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    // SAFETY: `tm` is plain data that all-zero bytes make valid; `localtime_r` writes only into
    // it and reads `now`, both live for the call.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "Jan  1 00:00:00".into();
        }
        tm
    };
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MonitorKind;
    use crate::mode::Mode;
    use crate::record::events::{ActionTaken, EventKind};

    #[test]
    fn a_datagram_reaches_the_configured_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut sink = Syslog::new(SyslogConfig {
            socket: path,
            facility: Facility::Local3,
        });
        let mut e = Event::now(
            "c1",
            "web",
            Mode::Detect,
            MonitorKind::SeccompNotify,
            EventKind::Anomaly,
        );
        e.action = ActionTaken::Killed;
        sink.send(&e).unwrap();
        let mut buf = [0u8; 4096];
        let n = server.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        // local3 (19) * 8 + critical (2)
        assert!(text.starts_with("<154>"), "{text}");
        let pid = format!(
            " ids-runc[{}]: anomaly killed container=c1",
            std::process::id()
        );
        assert!(text.contains(&pid), "{text}");
        assert_eq!(
            text.as_bytes()[8],
            b' ',
            "timestamp `Mmm dd hh:mm:ss`: {text}"
        );
    }

    #[test]
    fn no_listener_is_an_error_not_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Syslog::new(SyslogConfig {
            socket: dir.path().join("none"),
            facility: Facility::Daemon,
        });
        let e = Event::now(
            "c1",
            "web",
            Mode::Detect,
            MonitorKind::SeccompNotify,
            EventKind::ModeSwitch,
        );
        assert!(sink.send(&e).is_err());
    }

    #[test]
    fn a_daemon_that_does_not_read_is_waited_for_briefly_then_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut sink = Syslog::new(SyslogConfig {
            socket: path,
            facility: Facility::Daemon,
        });
        let e = Event::now(
            "c1",
            "web",
            Mode::Detect,
            MonitorKind::SeccompNotify,
            EventKind::ModeSwitch,
        );
        let mut sent = 0;
        let failed = loop {
            match sink.send(&e) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100_000, "the queue never filled");
        };
        assert!(matches!(
            failed.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
        // Skipped without a wait now, even though the daemon reads again.
        let mut buf = [0u8; 4096];
        server.recv(&mut buf).unwrap();
        assert!(sink.send(&e).is_err());
    }

    #[test]
    fn facility_names_parse() {
        let c: SyslogConfig = serde_json::from_str(r#"{"facility": "local7"}"#).unwrap();
        assert_eq!(
            (c.facility.code(), c.socket),
            (23, PathBuf::from("/dev/log"))
        );
        assert!(serde_json::from_str::<SyslogConfig>(r#"{"facility": "kern"}"#).is_err());
    }
}
