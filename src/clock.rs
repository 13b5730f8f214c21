//! Time arithmetic that cannot panic. Durations come from config files, the
//! API and the journal, so every `time ± duration` in the engine and in
//! `State` goes through here and saturates at the ends of time instead of
//! overflowing: an enormous silence lasts until the far future, an enormous
//! window reaches back to the beginning.

use jiff::Timestamp;
use std::time::Duration;
use tokio::time::Instant;

/// Now, to the millisecond: events carry exactly what the journal can hold,
/// so a replayed state equals the live one.
pub fn now_ms() -> Timestamp {
    Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `ts + d`, or the last representable instant (year 9999).
pub fn saturating_add(ts: Timestamp, d: Duration) -> Timestamp {
    ts.saturating_add(d).unwrap_or(Timestamp::MAX)
}

/// `ts - d`, or the first representable instant (year -9999).
pub fn saturating_sub(ts: Timestamp, d: Duration) -> Timestamp {
    ts.saturating_sub(d).unwrap_or(Timestamp::MIN)
}

/// As far ahead as a deadline ever needs to be (tokio's own "far future").
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The monotonic instant `d` after `from`; a longer wait than the clock can
/// hold becomes 30 years, which no process outlives.
pub fn deadline(from: Instant, d: Duration) -> Instant {
    from.checked_add(d)
        .or_else(|| from.checked_add(FAR_FUTURE))
        .unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let now = now_ms();
        assert_eq!(saturating_add(now, Duration::MAX), Timestamp::MAX);
        assert_eq!(
            saturating_add(now, Duration::from_secs(u64::MAX)),
            Timestamp::MAX
        );
        assert_eq!(saturating_sub(now, Duration::MAX), Timestamp::MIN);
        assert_eq!(
            saturating_sub(Timestamp::MIN, Duration::from_secs(1)),
            Timestamp::MIN
        );
        assert_eq!(
            saturating_add(Timestamp::MAX, Duration::from_nanos(1)),
            Timestamp::MAX
        );
        let hour = Duration::from_secs(3600);
        assert_eq!(
            saturating_add(now, hour).duration_since(now),
            jiff::SignedDuration::from_hours(1)
        );
        assert_eq!(
            now.duration_since(saturating_sub(now, hour)),
            jiff::SignedDuration::from_hours(1)
        );
    }

    #[test]
    fn an_endless_deadline_is_far_but_representable() {
        let now = Instant::now();
        assert!(deadline(now, Duration::MAX) >= now + Duration::from_secs(86_400 * 365));
        assert_eq!(
            deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }
}
