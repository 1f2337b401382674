//! Time for ticket expiry: the [`Clock`] trait, the [`SystemClock`] every
//! store uses by default, and a [`ManualClock`] that tests move by hand.
//!
//! Expiry is measured on a monotonic clock ([`Instant`]), never on wall
//! time, so a system clock stepped back by NTP cannot revive a ticket. The
//! wall clock ([`Clock::wall`]) only dates a ticket's mint
//! ([`Redeemed::minted_at`](crate::Redeemed::minted_at)), which a
//! revocation compares with its own instant.
//!
//! ```
//! use std::time::Duration;
//! use tower_ws_ticket::{ManualClock, MemoryStore, TicketError};
//!
//! let clock = ManualClock::new();
//! let store = MemoryStore::<u64>::builder()
//!     .ttl(Duration::from_secs(30))
//!     .clock(clock.clone())
//!     .build();
//! let ticket = store.mint(7).unwrap();
//! clock.advance(Duration::from_secs(31));
//! assert!(matches!(
//!     store.consume(ticket.expose_secret()),
//!     Err(TicketError::Expired(_))
//! ));
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A monotonic source of time for ticket expiry.
///
/// Implement it to drive expiry from your own time source; the crate ships
/// [`SystemClock`] (the default) and [`ManualClock`] (for tests).
pub trait Clock: Send + Sync + 'static {
    /// The current instant. Successive calls must never go backwards.
    fn now(&self) -> Instant;

    /// The current wall-clock time, which dates a ticket's mint
    /// ([`Redeemed::minted_at`](crate::Redeemed::minted_at)). The default
    /// is the system's ([`SystemTime::now`]); a clock that moves by hand
    /// moves this too, so that minted tickets age in a test as they would
    /// in life.
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The operating system's monotonic clock ([`Instant::now`]); the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// How far a [`ManualClock`] can be advanced in all: 100 years.
const MAX_ELAPSED_NANOS: u64 = 100 * 365 * 24 * 3600 * 1_000_000_000;

/// A clock that only moves when told to, for tests of expiry.
///
/// Clones share one time: advance any handle and every store built with a
/// clone of it sees the new time. Its [wall time](Clock::wall) starts at
/// the system's wall time when the clock is created and moves with
/// [`advance`](Self::advance) alone, so a ticket's
/// [`minted_at`](crate::Redeemed::minted_at) is the manual time of its
/// mint. A [`Revocations`](crate::Revocations) registry dates revocations
/// by the system's wall clock: a ticket minted on a manual clock that was
/// not advanced past a revocation counts as minted before it.
///
/// ```
/// use std::time::Duration;
/// use tower_ws_ticket::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let handle = clock.clone();
/// let before = clock.now();
/// handle.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now() - before, Duration::from_millis(1500));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    shared: Arc<ManualTime>,
}

#[derive(Debug)]
struct ManualTime {
    start: Instant,
    start_wall: SystemTime,
    elapsed_nanos: AtomicU64,
}

impl ManualClock {
    /// A clock standing at the moment it was created.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(ManualTime {
                start: Instant::now(),
                start_wall: SystemTime::now(),
                elapsed_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Moves the clock (and every clone of it) forward by `by`.
    ///
    /// The total saturates at 100 years, far past any TTL, and far enough
    /// inside every platform's `Instant` range that reading it never panics.
    pub fn advance(&self, by: Duration) {
        let by = nanos(by);
        // fetch_update rather than fetch_add so the total saturates instead
        // of wrapping back to the start.
        let _ = self
            .shared
            .elapsed_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(by).min(MAX_ELAPSED_NANOS))
            });
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.shared.elapsed_nanos.load(Ordering::Acquire))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.shared.start + self.elapsed()
    }

    fn wall(&self) -> SystemTime {
        // 100 years past any wall time this side of 2400 still fits.
        let start = self.shared.start_wall;
        start.checked_add(self.elapsed()).unwrap_or(start)
    }
}

/// `duration` in whole nanoseconds, saturating: the unit the stores and the
/// revocation registry keep their times in (584 years fit).
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Wall-clock nanoseconds since the Unix epoch (0 before it, which every
/// revocation record refuses: fail closed).
pub(crate) fn wall_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, nanos)
}

/// Now, as [`wall_nanos`], never 0 (which means "never" in the revocation
/// registry's atomics).
pub(crate) fn wall_now() -> u64 {
    wall_nanos(SystemTime::now()).max(1)
}

/// The wall time `nanos` nanoseconds after the Unix epoch.
pub(crate) fn wall_from_nanos(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// Nanoseconds on `clock` since `epoch` (0 if the clock reads earlier).
pub(crate) fn nanos_since(clock: &dyn Clock, epoch: Instant) -> u64 {
    nanos(clock.now().saturating_duration_since(epoch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_stands_still_until_advanced() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_nanos(1));
        assert_eq!(clock.now() - t0, Duration::from_nanos(1));
    }

    #[test]
    fn manual_clock_wall_time_moves_with_it_alone() {
        let clock = ManualClock::new();
        let start = clock.wall();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.wall(), start, "the real clock moved it");
        clock.advance(Duration::from_secs(90));
        assert_eq!(
            clock.wall().duration_since(start).ok(),
            Some(Duration::from_secs(90))
        );
    }

    #[test]
    fn manual_clock_clones_share_one_time() {
        let a = ManualClock::new();
        let b = a.clone();
        let t0 = a.now();
        b.advance(Duration::from_secs(3));
        assert_eq!(a.now() - t0, Duration::from_secs(3));
    }

    #[test]
    fn manual_clock_saturates_instead_of_wrapping() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        clock.advance(Duration::MAX);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now() - t0, Duration::from_nanos(MAX_ELAPSED_NANOS));
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock;
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
    }
}
