//! Helpers for tests that put a real process under a seccomp notify filter.
//!
//! The filter must be installed in a fresh process, and the test binary is multi-threaded, so the
//! child forked here makes raw system calls only: everything that allocates (the BPF program, the
//! buffers) is prepared before the fork.

// Each test binary that includes this module uses only some of it.
#![allow(dead_code)]

use std::io::{Read, Seek};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use ids_monitor::backend::notify::{ContainerProcessState, ContainerState};
use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::unistd::Pid;

/// Returns false, after saying so, when the test needs root (seccomp filters, pidfd_getfd, runc).
pub fn is_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("{test}: skipped, needs root");
    false
}

/// What the child counted over its loop of getppid calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildReport {
    pub succeeded: u64,
    pub eperm: u64,
    pub eintr: u64,
    pub other_errors: u64,
    /// Wall time of the loop alone, measured in the child.
    pub loop_ns: u64,
}

/// A forked child, stopped before its loop until the test has taken its notify fd.
pub struct NotifiedChild {
    pub pid: Pid,
    /// A copy of the child's notify fd (the child closes its own before the loop), or `None` for a
    /// child run without a filter.
    pub notify_fd: Option<OwnedFd>,
    report: OwnedFd,
    /// For a child held before its loop: the pipe end that lets it go.
    go: Option<OwnedFd>,
}

/// Forks a child that installs a filter notifying `notified` (default ALLOW), hands its notify fd
/// to the test, then calls getppid `calls` times and reports. With `notified` empty the child runs
/// unfiltered (a native baseline).
pub fn spawn_getppid_child(notified: &[&str], calls: u64) -> NotifiedChild {
    spawn_getppid_child_catching(notified, calls, None)
}

/// The same child, catching SIGUSR1 with an empty handler installed with `sa_flags` (e.g.
/// SA_RESTART) when `Some`.
pub fn spawn_getppid_child_catching(
    notified: &[&str],
    calls: u64,
    usr1_sa_flags: Option<i32>,
) -> NotifiedChild {
    spawn_child(notified, calls, usr1_sa_flags, false)
}

/// The same child, but held idle in an un-notified read before its loop until `release`: its
/// supervisor waits for notifications that do not come.
pub fn spawn_idle_getppid_child(notified: &[&str], calls: u64) -> NotifiedChild {
    spawn_child(notified, calls, None, true)
}

fn spawn_child(
    notified: &[&str],
    calls: u64,
    usr1_sa_flags: Option<i32>,
    held: bool,
) -> NotifiedChild {
    let program = (!notified.is_empty()).then(|| notify_filter_bpf(notified));
    let prog = program.as_ref().map(|bytes| libc::sock_fprog {
        len: (bytes.len() / std::mem::size_of::<libc::sock_filter>()) as u16,
        filter: bytes.as_ptr() as *mut libc::sock_filter,
    });
    let (to_parent_r, to_parent_w) = nix::unistd::pipe().expect("pipe");
    let (go_r, go_w) = nix::unistd::pipe().expect("pipe");

    // SAFETY: the child below makes raw system calls only (no allocation, no locks) and ends with
    // _exit, so the parent's other threads and their locks do not matter.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => child_main(
            prog.as_ref(),
            to_parent_w.as_raw_fd(),
            go_r.as_raw_fd(),
            calls,
            usr1_sa_flags,
        ),
        pid => {
            drop(to_parent_w);
            drop(go_r);
            let pid = Pid::from_raw(pid);
            let mut fd_number = [0u8; 4];
            read_exact_timeout(&to_parent_r, &mut fd_number, Duration::from_secs(10));
            let child_fd = i32::from_ne_bytes(fd_number);
            assert!(
                child_fd >= -1,
                "child failed to install its filter: errno {}",
                -child_fd
            );
            let notify_fd = (child_fd >= 0).then(|| steal_fd(pid, child_fd));
            let mut child = NotifiedChild {
                pid,
                notify_fd,
                report: to_parent_r,
                go: Some(go_w),
            };
            if !held {
                child.release();
            }
            child
        }
    }
}

impl NotifiedChild {
    /// Lets a held child start its loop (a byte, not EOF: children forked meanwhile by other
    /// tests hold copies of the pipe's write end).
    pub fn release(&mut self) {
        if let Some(go) = self.go.take() {
            nix::unistd::write(&go, &[1]).expect("write go");
        }
    }

    /// Reads the child's report (failing after `timeout`), reaps it and returns the report.
    /// Run it on another thread than the supervisor: the child reports only once its notified
    /// calls have been answered.
    pub fn finish(mut self, timeout: Duration) -> ChildReport {
        self.release();
        let mut bytes = [0u8; 40];
        read_exact_timeout(&self.report, &mut bytes, timeout);
        let status = nix::sys::wait::waitpid(self.pid, None).expect("waitpid");
        assert_eq!(
            status,
            nix::sys::wait::WaitStatus::Exited(self.pid, 0),
            "child status"
        );
        let word = |i: usize| u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        ChildReport {
            succeeded: word(0),
            eperm: word(1),
            eintr: word(2),
            other_errors: word(3),
            loop_ns: word(4),
        }
    }
}

impl Drop for NotifiedChild {
    /// A test that fails while its child is held must not leave the child blocked for good,
    /// holding the test's output pipe open.
    fn drop(&mut self) {
        self.release();
    }
}

fn child_main(
    prog: Option<&libc::sock_fprog>,
    to_parent: RawFd,
    go: RawFd,
    calls: u64,
    usr1_sa_flags: Option<i32>,
) -> ! {
    // SAFETY: raw system calls on fds and memory prepared before the fork and alive in this copy
    // of the address space; nothing here allocates or takes a lock.
    unsafe {
        if let Some(flags) = usr1_sa_flags {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = flags;
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut());
        }
        let mut fd: i32 = -1;
        if let Some(prog) = prog {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            let rc = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                prog as *const libc::sock_fprog,
            );
            fd = if rc < 0 {
                -*libc::__errno_location()
            } else {
                rc as i32
            };
        }
        libc::write(to_parent, (&fd as *const i32).cast(), 4);
        if fd < -1 {
            libc::_exit(1);
        }
        let mut byte = 0u8;
        libc::read(go, (&mut byte as *mut u8).cast(), 1);
        if fd >= 0 {
            libc::close(fd);
        }
        let mut report = [0u64; 5];
        let mut start: libc::timespec = std::mem::zeroed();
        let mut end: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut start);
        for _ in 0..calls {
            if libc::syscall(libc::SYS_getppid) >= 0 {
                report[0] += 1;
            } else {
                match *libc::__errno_location() {
                    libc::EPERM => report[1] += 1,
                    libc::EINTR => report[2] += 1,
                    _ => report[3] += 1,
                }
            }
        }
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut end);
        report[4] = (end.tv_sec - start.tv_sec) as u64 * 1_000_000_000 + end.tv_nsec as u64
            - start.tv_nsec as u64;
        libc::write(to_parent, report.as_ptr().cast(), 40);
        libc::_exit(0)
    }
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// The BPF program of a filter: default ALLOW, NOTIFY on `names`, for the native architecture.
fn notify_filter_bpf(names: &[&str]) -> Vec<u8> {
    let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).expect("seccomp_init");
    for name in names {
        let syscall = ScmpSyscall::from_name(name).expect("known syscall");
        ctx.add_rule(ScmpAction::Notify, syscall).expect("add rule");
    }
    let mut file = tempfile::tempfile().expect("tempfile");
    ctx.export_bpf(&file).expect("export bpf");
    file.rewind().unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    bytes
}

/// Copies fd `target_fd` of process `pid` into this process (pidfd_getfd, Linux 5.6).
fn steal_fd(pid: Pid, target_fd: i32) -> OwnedFd {
    // SAFETY: pidfd_open takes a pid and flags by value.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: pidfd_open returned a new fd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd takes fds and flags by value.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target_fd, 0) };
    assert!(fd >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
    // SAFETY: pidfd_getfd returned a new fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn read_exact_timeout(fd: &OwnedFd, buf: &mut [u8], timeout: Duration) {
    let mut file = std::fs::File::from(fd.try_clone().unwrap());
    let mut done = 0;
    let deadline = std::time::Instant::now() + timeout;
    while done < buf.len() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut pfd = [libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one live pollfd, its count passed with it.
        let ready = unsafe { libc::poll(pfd.as_mut_ptr(), 1, left.as_millis() as i32) };
        assert!(ready > 0, "child did not report within {timeout:?}");
        let n = file.read(&mut buf[done..]).expect("read from child");
        assert!(n > 0, "child closed its pipe after {done} bytes");
        done += n;
    }
}

/// A container process state as runc sends it.
pub fn process_state(pid: i32, status: &str) -> ContainerProcessState {
    ContainerProcessState {
        oci_version: "1.0.2".into(),
        fds: vec!["seccompFd".into()],
        pid,
        metadata: String::new(),
        state: ContainerState {
            oci_version: "1.0.2".into(),
            id: "test".into(),
            status: status.into(),
            pid: Some(pid),
            bundle: "/nonexistent".into(),
            annotations: None,
        },
    }
}

/// Connects to `listener` and sends `state` with `fd` attached, the way runc does.
pub fn send_like_runc(listener: &Path, state: &ContainerProcessState, fd: RawFd) {
    let stream = UnixStream::connect(listener).expect("connect to listener");
    let json = serde_json::to_vec(state).unwrap();
    let fds = [fd];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &[std::io::IoSlice::new(&json)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .expect("sendmsg");
}
