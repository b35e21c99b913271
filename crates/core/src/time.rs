//! Monotonic time as the core sees it: an offset from an origin the daemon picks.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point on the daemon's monotonic clock, as the time elapsed since the daemon's origin.
/// The core never reads a clock; the daemon passes `now` into every decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(Duration);

impl Instant {
    pub const ORIGIN: Instant = Instant(Duration::ZERO);

    pub const fn from_origin(elapsed: Duration) -> Self {
        Instant(elapsed)
    }

    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}
