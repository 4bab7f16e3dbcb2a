//! The application clock: now() and today() in `operations.timezone`, shiftable in tests.
//!
//! Leases never use it (they use the database clock); it dates runs, letters and error events.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// Wall clock plus a shared offset that tests (and clock-skew simulations) can move.
#[derive(Clone, Debug)]
pub struct Clock {
    tz: Tz,
    offset_ns: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock in zone `tz`.
    pub fn new(tz: Tz) -> Clock {
        Clock {
            tz,
            offset_ns: Arc::new(AtomicI64::new(0)),
        }
    }

    /// The current instant (UTC), offset applied.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::nanoseconds(self.offset_ns.load(Ordering::Relaxed))
    }

    /// Today's date in the configured zone.
    pub fn today(&self) -> NaiveDate {
        self.now().with_timezone(&self.tz).date_naive()
    }

    /// The configured zone.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Moves this clock (and every clone of it) by `delta` from the wall clock.
    pub fn set_offset(&self, delta: chrono::Duration) {
        // Nanoseconds: a millisecond offset could put now() just before the instant set.
        self.offset_ns
            .store(delta.num_nanoseconds().unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Makes `now()` return about `t` from here on.
    pub fn set_now(&self, t: DateTime<Utc>) {
        self.set_offset(t - Utc::now());
    }
}

/// RFC 3339 UTC with milliseconds, as the status pages print instants.
pub fn rfc3339_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
