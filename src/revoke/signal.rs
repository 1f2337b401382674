//! How a socket's handle is told to end: its [`Signal`], fired once for
//! the first of its causes ([`RevokeReason`]: a revocation, or its
//! deadline), and the timer that fires deadlines.
//!
//! Deadlines: sockets that end at an instant rather than on a revocation
//! (a session's expiry, a cap on a socket's age).
//!
//! One timer serves every socket of the process: a queue of deadlines in
//! the order they fall due, and one thread that sleeps until the first of
//! them, signals the sockets whose time has come, and sleeps again. A
//! socket with a deadline costs one queue entry (added as it is admitted,
//! taken out as its handle is dropped) and no task, timer or wake-up of its
//! own; the thread wakes once per instant at which something falls due.
//! The thread starts with the first deadline and then lives as long as the
//! process, idle while the queue is empty.
//!
//! Deadlines come from the application as wall-clock instants
//! ([`SystemTime`]) but are kept on the monotonic clock: at admission, the
//! time left until the deadline is read off the wall clock and added to
//! the monotonic now. A wall clock stepped afterwards (NTP, a suspended
//! laptop's correction) moves no deadline: a socket admitted with an hour
//! left ends an hour later, whatever the wall clock says by then.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use event_listener::{Event, EventListener};

use crate::clock::nanos;

/// The part of a registration a handle needs: its signal. The registry's
/// own type (generic over the key) stays behind this trait, so that
/// [`Revocation`] has no type parameter.
pub(crate) trait Registered: Send + Sync + 'static {
    fn signal(&self) -> &Signal;
}

/// Why a socket's [`Revocation`](crate::Revocation) was signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevokeReason {
    /// Its key was revoked ([`Revocations::revoke`](crate::Revocations::revoke)),
    /// or everything was ([`revoke_all`](crate::Revocations::revoke_all)):
    /// the user signed out.
    Revoked,
    /// Its deadline passed: the identity's expiry
    /// ([`WsTicketLayer::expires_at`](crate::WsTicketLayer::expires_at)) or
    /// the socket's maximum age
    /// ([`max_socket_age`](crate::WsTicketLayer::max_socket_age)).
    Expired,
}

impl RevokeReason {
    /// A short, stable name for logs, close frames and metrics
    /// (`"revoked"`, `"expired"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Revoked => 1,
            Self::Expired => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Revoked),
            2 => Some(Self::Expired),
            _ => None,
        }
    }
}

/// Fired once, for the first of its causes (a revocation, the deadline);
/// never reset. One per live socket's registration, so it also keeps the
/// `ws_ticket_sockets` gauge.
#[derive(Debug)]
pub(crate) struct Signal {
    /// 0 until fired, then the [`RevokeReason`]'s code.
    reason: AtomicU8,
    event: Event,
    /// When the socket ends by itself, if it does. Its entry in the
    /// deadline queue leaves with the signal.
    deadline: Option<Deadline>,
}

impl Signal {
    pub(crate) fn new(deadline: Option<Deadline>) -> Self {
        crate::metric::sockets(1);
        Self {
            reason: AtomicU8::new(0),
            event: Event::new(),
            deadline,
        }
    }

    /// Fires for `reason`, unless it fired already. Returns whether this
    /// call fired it.
    pub(crate) fn fire(&self, reason: RevokeReason) -> bool {
        // SeqCst pairs with the load in `RevokedFuture::poll`, made after its
        // listener is registered: either the poll sees the flag, or the
        // notification sees the listener.
        let first = self
            .reason
            .compare_exchange(0, reason.code(), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if first {
            crate::metric::revoked(reason == RevokeReason::Expired);
            self.event.notify(usize::MAX);
        }
        first
    }

    pub(crate) fn reason(&self) -> Option<RevokeReason> {
        RevokeReason::from_code(self.reason.load(Ordering::SeqCst))
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.reason.load(Ordering::SeqCst) != 0
    }

    /// A listener for the firing (read the flag again after taking one).
    pub(crate) fn listen(&self) -> EventListener {
        self.event.listen()
    }

    /// When the socket ends by itself, if it does.
    pub(crate) fn deadline(&self) -> Option<&Deadline> {
        self.deadline.as_ref()
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        crate::metric::sockets(-1);
        if let Some(deadline) = &self.deadline {
            cancel(deadline);
        }
    }
}

/// When a socket is to be signalled: the wall-clock instant the
/// application named (what [`Revocation::expires_at`] answers), and its
/// place in the timer's queue.
///
/// [`Revocation::expires_at`]: crate::Revocation::expires_at
#[derive(Debug)]
pub(crate) struct Deadline {
    at: SystemTime,
    due: Due,
}

/// A place in the queue: monotonic nanoseconds since the timer's epoch,
/// then a number that tells apart sockets due at the same nanosecond.
pub(crate) type Due = (u64, u64);

impl Deadline {
    /// A deadline at `at`, measured from now. One already past is due at
    /// once.
    pub(crate) fn at(at: SystemTime) -> Self {
        let timer = timer();
        let left = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let due = nanos(timer.epoch.elapsed().saturating_add(left));
        Self {
            at,
            due: (due, timer.next_id.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// The wall-clock instant the socket ends.
    pub(crate) fn instant(&self) -> SystemTime {
        self.at
    }

    #[cfg(test)]
    pub(crate) fn due(&self) -> Due {
        self.due
    }
}

/// Puts `registration`'s deadline in the queue.
pub(crate) fn schedule(registration: Weak<dyn Registered>, deadline: &Deadline) {
    let timer = timer();
    let mut queue = timer.lock();
    queue.due.insert(deadline.due, registration);
    // Wake the thread only when it sleeps past the new deadline.
    if queue
        .sleeping_until
        .is_none_or(|until| deadline.due.0 < until)
    {
        timer.wake.notify_one();
    }
}

/// Takes a dropped socket's deadline out of the queue (a no-op once it
/// has fired).
pub(crate) fn cancel(deadline: &Deadline) {
    timer().lock().due.remove(&deadline.due);
}

/// Whether a deadline waits in the queue, for tests.
#[cfg(test)]
pub(crate) fn is_queued(due: &Due) -> bool {
    timer().lock().due.contains_key(due)
}

struct Timer {
    queue: Mutex<Queue>,
    wake: Condvar,
    epoch: Instant,
    next_id: AtomicU64,
}

#[derive(Default)]
struct Queue {
    due: BTreeMap<Due, Weak<dyn Registered>>,
    /// When the thread will wake by itself (`None`: not before it is
    /// notified).
    sleeping_until: Option<u64>,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
        }));
        let started = std::thread::Builder::new()
            .name("tower-ws-ticket-deadlines".into())
            .spawn(move || timer.run());
        if let Err(error) = started {
            // Without the thread no deadline would ever fire: a socket
            // that must end would live on. Refuse to go on.
            panic!("tower-ws-ticket could not start its deadline thread: {error}");
        }
        timer
    })
}

impl Timer {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing here leaves the queue half-changed across a panic.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        nanos(self.epoch.elapsed())
    }

    fn run(&self) {
        let mut queue = self.lock();
        loop {
            let now = self.now();
            let mut fired = Vec::new();
            while let Some(entry) = queue.due.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                fired.push(entry.remove());
            }
            if !fired.is_empty() {
                // Signal with the lock released: a handle dropped here
                // takes its (already removed) entry out again.
                drop(queue);
                for registration in fired {
                    if let Some(registration) = registration.upgrade() {
                        registration.signal().fire(RevokeReason::Expired);
                    }
                }
                queue = self.lock();
                continue;
            }
            let next = queue.due.first_key_value().map(|(due, _)| due.0);
            queue.sleeping_until = next;
            queue = match next {
                // A spurious or early wake-up goes round the loop again.
                Some(due) => {
                    let wait = Duration::from_nanos(due.saturating_sub(now));
                    self.wake
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .wake
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}
