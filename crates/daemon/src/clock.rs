//! The daemon's clock: tokio's monotonic time mapped onto the core's [`Instant`], and back
//! to wall time for display.

use std::time::{Duration, SystemTime};

use steward_core::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: tokio::time::Instant,
    wall_origin: SystemTime,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            origin: tokio::time::Instant::now(),
            wall_origin: SystemTime::now(),
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_origin(self.origin.elapsed())
    }

    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        self.origin + at.since_origin()
    }

    /// RFC 3339 UTC, to the millisecond.
    pub fn wall(&self, at: Instant) -> String {
        let t = self.wall_origin + at.since_origin();
        match jiff::Timestamp::try_from(t) {
            Ok(ts) => ts
                .round(jiff::Unit::Millisecond)
                .map_or_else(|_| ts.to_string(), |r| r.to_string()),
            Err(_) => String::new(),
        }
    }

    pub fn seconds_between(from: Instant, to: Instant) -> f64 {
        let d: Duration = to - from;
        d.as_secs_f64()
    }
}
