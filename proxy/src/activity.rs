//! Per-route last-activity tracking, debounced so its cost does not grow with
//! the request rate: a touch is one clock read and one relaxed atomic load,
//! and a store happens at most once per [`DEBOUNCE_MS`] per route.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// A route's timestamp is refreshed at most this often.
pub const DEBOUNCE_MS: u64 = 1000;

/// One route's last activity, as drained by [`crate::RouteTable::take_activity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRecord {
    /// Canonical routespec (`/user/alice`).
    pub spec: String,
    pub last_activity: SystemTime,
}

pub(crate) fn now_ms() -> u64 {
    to_ms(SystemTime::now())
}

pub(crate) fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Activity state of one route. `reported` is what was last drained, so a
/// drain returns only routes that moved since the previous one.
#[derive(Debug)]
pub(crate) struct ActivityCell {
    last: AtomicU64,
    reported: AtomicU64,
}

impl ActivityCell {
    /// A new route counts as active now (CHP sets `last_activity` on add).
    pub fn new_now() -> Self {
        ActivityCell {
            last: AtomicU64::new(now_ms()),
            reported: AtomicU64::new(0),
        }
    }

    /// Record traffic: debounced, lock-free.
    #[inline]
    pub fn touch(&self) {
        let now = now_ms();
        if now
            >= self
                .last
                .load(Ordering::Relaxed)
                .saturating_add(DEBOUNCE_MS)
        {
            self.last.fetch_max(now, Ordering::Relaxed);
        }
    }

    pub fn last_ms(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }

    /// Merge a cluster-wide value: raises `last` without making the route
    /// look dirty, so merged values are not echoed back by the next drain.
    pub fn merge(&self, ms: u64) {
        self.last.fetch_max(ms, Ordering::Relaxed);
        self.reported.fetch_max(ms, Ordering::Relaxed);
    }

    /// If there is unreported activity, mark it reported and return it.
    pub fn take(&self) -> Option<u64> {
        let last = self.last.load(Ordering::Relaxed);
        let prev = self.reported.fetch_max(last, Ordering::Relaxed);
        (last > prev).then_some(last)
    }
}

/// ISO 8601 in UTC with milliseconds, as JavaScript's `toISOString()`.
pub fn format_iso(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parse an `inactive_since` value. Accepts RFC 3339 (`Z` or offset),
/// naive date-times (taken as UTC, like Python's `isoformat()` output)
/// and bare dates, which covers what `Date.parse` is used for by the hub.
pub fn parse_iso(s: &str) -> Option<SystemTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).into());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().into());
        }
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounce_and_take() {
        let c = ActivityCell::new_now();
        let first = c.take().expect("new route is dirty");
        assert_eq!(c.take(), None, "nothing new");
        c.touch();
        assert_eq!(c.last_ms(), first, "debounced within a second");
        c.merge(first + 5_000);
        assert_eq!(c.take(), None, "merged values are not re-reported");
        assert_eq!(c.last_ms(), first + 5_000);
        c.merge(first + 1_000);
        assert_eq!(c.last_ms(), first + 5_000, "max() semantics");
    }

    #[test]
    fn iso_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(format_iso(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_iso("2023-11-14T22:13:20.123Z"), Some(t));
        assert_eq!(parse_iso("2023-11-14T23:13:20.123+01:00"), Some(t));
        assert_eq!(parse_iso("2023-11-14T22:13:20.123000"), Some(t));
        assert!(parse_iso("2023-11-14").is_some());
        assert_eq!(parse_iso("yesterday"), None);
    }
}
