//! The fast path's watcher: a thread that watches, for the supervisor thread blocked in RECV on the
//! only notify fd, the fds it cannot poll meanwhile (handover listener, control socket and its
//! clients) and the stop-check timer, and interrupts that RECV with [`WAKE_SIGNAL`] when one of
//! them needs the supervisor.
//!
//! The signal has an empty handler installed without SA_RESTART, so the RECV it interrupts returns
//! EINTR. The supervisor thread keeps the signal blocked except while it is armed (blocking in
//! RECV, or answering), so a signal sent late stays pending until the next arming and is handled
//! then, before any RECV: it can never interrupt the accept and the reads of a handover, whose
//! failure would close a notify fd still in use.
//!
//! A signal handled just before the supervisor enters RECV would be lost; so the watcher sets a
//! flag the supervisor checks before each RECV and sends the signal again every [`RESEND`] until
//! the supervisor acknowledges by disarming. Between two requests the watcher waits for that
//! acknowledgement on a condition variable, so it never spins.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;

/// The signal that interrupts the supervisor's RECV. SIGUSR2 because nothing else in the monitor
/// uses it, and because instances sent while one is pending merge into one: re-sends cannot pile
/// up. A process that uses the monitor library must leave it to the supervisor.
pub(crate) const WAKE_SIGNAL: libc::c_int = libc::SIGUSR2;

/// How long the watcher waits for an acknowledgement before it sends the signal again: the worst
/// delay a lost signal can add.
const RESEND: Duration = Duration::from_millis(1);

/// The listener, the control socket and its clients (at most 8): room for all without growing.
const WATCHED_CAPACITY: usize = 16;

extern "C" fn on_wake_signal(_signal: libc::c_int) {}

/// Installs the empty handler of [`WAKE_SIGNAL`], once per process. False (after logging why) if
/// the process already handles the signal some other way: the fast path is then not used.
pub(crate) fn install_wake_handler() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: a zeroed sigaction is a valid value to be filled in by the kernel.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the current one into `previous`, a live sigaction.
        let rc = unsafe { libc::sigaction(WAKE_SIGNAL, std::ptr::null(), &mut previous) };
        if rc != 0 {
            log::warn!(
                "cannot read the handler of signal {WAKE_SIGNAL}: {}; fast path off",
                Errno::last()
            );
            return false;
        }
        if previous.sa_sigaction != libc::SIG_DFL {
            log::warn!("signal {WAKE_SIGNAL} is already handled; fast path off");
            return false;
        }
        // SAFETY: as above, a zeroed sigaction is valid; the fields that matter are set below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_wake_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // No SA_RESTART: the point of the signal is that the interrupted RECV returns EINTR.
        action.sa_flags = 0;
        // SAFETY: `action.sa_mask` is a live sigset_t owned by `action`.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: `action` is a fully initialised sigaction whose handler is async-signal-safe
        // (it does nothing); the old action is not wanted.
        let rc = unsafe { libc::sigaction(WAKE_SIGNAL, &action, std::ptr::null_mut()) };
        if rc != 0 {
            log::warn!(
                "cannot install the handler of signal {WAKE_SIGNAL}: {}; fast path off",
                Errno::last()
            );
            return false;
        }
        true
    })
}

fn change_wake_signal_mask(how: libc::c_int, previous: Option<&mut libc::sigset_t>) {
    // SAFETY: a zeroed sigset_t is valid storage for sigemptyset to initialise.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live sigset_t; WAKE_SIGNAL is a valid signal number.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, WAKE_SIGNAL);
    }
    let previous = previous.map_or(std::ptr::null_mut(), |p| p as *mut libc::sigset_t);
    // SAFETY: `set` is initialised; `previous` is null or a live, exclusively borrowed sigset_t.
    // pthread_sigmask cannot fail with a valid `how` and set.
    unsafe { libc::pthread_sigmask(how, &set, previous) };
}

/// Keeps [`WAKE_SIGNAL`] blocked on the calling thread (and on threads it spawns meanwhile) until
/// dropped, then restores the thread's previous mask.
pub(crate) struct WakeSignalBlocked {
    previous: libc::sigset_t,
}

impl WakeSignalBlocked {
    pub(crate) fn new() -> Self {
        // SAFETY: a zeroed sigset_t is valid storage; pthread_sigmask fills it in.
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        change_wake_signal_mask(libc::SIG_BLOCK, Some(&mut previous));
        Self { previous }
    }
}

impl Drop for WakeSignalBlocked {
    fn drop(&mut self) {
        // SAFETY: `previous` is the mask pthread_sigmask reported when this guard was made.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut()) };
    }
}

struct State {
    /// The supervisor thread blocks in RECV and wants to be woken.
    armed: bool,
    /// Counts armings, so that a request meant for one arming is not taken for the next one's.
    generation: u64,
    /// The supervisor thread, the signal's target.
    target: libc::pthread_t,
    /// What to poll for the supervisor.
    watched: Vec<libc::pollfd>,
    /// When the supervisor next wants to check its stop condition.
    deadline: Instant,
    /// The watcher is inside poll, with the fds of some arming.
    polling: bool,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Set by the watcher (only while armed): the supervisor should leave RECV and poll.
    wake: AtomicBool,
    /// Written by the supervisor to get the watcher out of a poll of stale fds.
    kick: OwnedFd,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn kick(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of a live u64 to an eventfd this struct owns. A full counter
        // (EAGAIN) already means a pending kick, so the result does not matter.
        unsafe {
            libc::write(
                self.kick.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    fn drain_kick(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 from a non-blocking eventfd this struct
        // owns; EAGAIN (nothing to drain) is fine.
        unsafe {
            libc::read(
                self.kick.as_raw_fd(),
                (&mut count as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }
}

/// The watcher thread, running until dropped. Arm and disarm it from one thread only, the one that
/// blocks in RECV, with [`WAKE_SIGNAL`] blocked (see [`WakeSignalBlocked`]) outside the armed
/// spans.
pub(crate) struct Watcher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub(crate) fn spawn() -> io::Result<Self> {
        // SAFETY: eventfd takes no pointers; the result is checked before use.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new fd that nothing else owns.
        let kick = unsafe { OwnedFd::from_raw_fd(raw) };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                armed: false,
                generation: 0,
                // SAFETY: pthread_self has no preconditions.
                target: unsafe { libc::pthread_self() },
                watched: Vec::with_capacity(WATCHED_CAPACITY),
                deadline: Instant::now(),
                polling: false,
                shutdown: false,
            }),
            changed: Condvar::new(),
            wake: AtomicBool::new(false),
            kick,
        });
        let thread = std::thread::Builder::new()
            .name("notify-watcher".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || watch(&shared)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Starts watching `watched` and the `deadline` for the calling thread, then unblocks
    /// [`WAKE_SIGNAL`] so that the watcher can interrupt it.
    pub(crate) fn arm(&self, watched: &[libc::pollfd], deadline: Instant) {
        {
            let mut state = self.shared.lock();
            state.watched.clear();
            state.watched.extend_from_slice(watched);
            state.deadline = deadline;
            state.generation += 1;
            // SAFETY: pthread_self has no preconditions.
            state.target = unsafe { libc::pthread_self() };
            self.shared.wake.store(false, Ordering::Relaxed);
            state.armed = true;
            if state.polling {
                self.shared.kick();
            }
        }
        self.shared.changed.notify_all();
        change_wake_signal_mask(libc::SIG_UNBLOCK, None);
    }

    /// Whether the watcher wants the armed thread to leave RECV: one load, checked before each
    /// RECV and after each EINTR.
    #[inline]
    pub(crate) fn wake_requested(&self) -> bool {
        self.shared.wake.load(Ordering::Acquire)
    }

    /// Blocks [`WAKE_SIGNAL`] again, then acknowledges: the watcher stops re-sending and waits for
    /// the next arming. Returns whether the watcher had asked for it.
    pub(crate) fn disarm(&self) -> bool {
        change_wake_signal_mask(libc::SIG_BLOCK, None);
        let requested = {
            let mut state = self.shared.lock();
            state.armed = false;
            self.shared.wake.swap(false, Ordering::Relaxed)
        };
        self.shared.changed.notify_all();
        requested
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.shutdown = true;
            state.armed = false;
        }
        self.shared.changed.notify_all();
        self.shared.kick();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(shared: &Shared) {
    let mut pollfds: Vec<libc::pollfd> = Vec::with_capacity(WATCHED_CAPACITY + 1);
    loop {
        let (generation, deadline) = {
            let mut state = shared.lock();
            while !state.shutdown && !state.armed {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.shutdown {
                return;
            }
            pollfds.clear();
            pollfds.push(libc::pollfd {
                fd: shared.kick.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            pollfds.extend_from_slice(&state.watched);
            state.polling = true;
            (state.generation, state.deadline)
        };

        let timeout = ceil_millis(deadline.saturating_duration_since(Instant::now()));
        // SAFETY: `pollfds` is a live Vec of initialised pollfd; its length is passed with it.
        let ready =
            unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, timeout) };
        let ready = Errno::result(ready);

        let mut state = shared.lock();
        state.polling = false;
        if pollfds[0].revents & libc::POLLIN != 0 {
            // Disarmed, re-armed with other fds, or shut down: look again.
            shared.drain_kick();
            continue;
        }
        match ready {
            Err(Errno::EINTR) => continue,
            Ok(0) if Instant::now() < deadline => continue,
            // Readiness, the deadline, or a poll failure: the supervisor's own poll reports the
            // last.
            _ => {}
        }
        while state.armed && state.generation == generation && !state.shutdown {
            shared.wake.store(true, Ordering::Release);
            // SAFETY: `target` is the armed thread, alive: it is blocked in (or about to enter)
            // RECV, and it cannot return from the supervisor's run, which ends this thread first,
            // without disarming under this lock, held here.
            unsafe { libc::pthread_kill(state.target, WAKE_SIGNAL) };
            state = shared
                .changed
                .wait_timeout(state, RESEND)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Rounded up, so that poll never returns before the deadline and has the watcher spin on it.
fn ceil_millis(duration: Duration) -> libc::c_int {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    millis.min(libc::c_int::MAX as u128) as libc::c_int
}
