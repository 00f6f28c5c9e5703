//! Time as a dependency. Every reader of "now" takes a `&dyn Clock` so tests can set it.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch (UTC).
    fn now_ms(&self) -> i64;

    /// Seconds since the Unix epoch (UTC).
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Today's date (UTC) as `YYYY-MM-DD`.
    fn today(&self) -> String {
        date_of(self.now())
    }
}

/// The real wall clock. The only place that reads system time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of system time
    fn now_ms(&self) -> i64 {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock at `unix_ms`.
    #[must_use]
    pub fn new(unix_ms: i64) -> Self {
        Self(AtomicI64::new(unix_ms))
    }
    /// Moves the clock forward by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The UTC calendar date of a Unix time, `YYYY-MM-DD`.
#[must_use]
pub fn date_of(unix_secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix_secs) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => "9999-12-31".to_owned(),
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`, for pages.
#[must_use]
pub fn format_time(unix_secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix_secs) {
        Ok(t) => {
            format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        }
        Err(_) => "-".to_owned(),
    }
}

/// The start (00:00 UTC) of a `YYYY-MM-DD` date as Unix seconds; `None` if not a date.
#[must_use]
pub fn date_start(date: &str) -> Option<i64> {
    let d = time::Date::parse(date, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(d.midnight().assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(1_795_000_000), "2026-11-18");
        let c = ManualClock::new(86_400_000);
        assert_eq!(c.today(), "1970-01-02");
        c.advance(86_400);
        assert_eq!(c.now(), 172_800);
    }
}
