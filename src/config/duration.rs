//! Durations as people write them, bounded so time arithmetic always holds.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// The longest duration accepted anywhere (config, CLI, API): ten years. Far
/// beyond any useful cooldown or silence, and far enough from the limits of
/// time arithmetic that `now + d` and `now - d` always hold.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Parses "500ms", "2s", "5m", "1h 30m" (and ISO 8601 "PT2S"), at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!("invalid duration `{text}`: write a number and a unit, like 500ms, 2s, 5m or 1h")
    };
    // Days and weeks ("30d" of retention) count as 24 and 168 hours.
    let signed: jiff::SignedDuration = match text.trim().parse() {
        Ok(signed) => signed,
        Err(_) => text
            .trim()
            .parse::<jiff::Span>()
            .and_then(|span| span.to_duration(jiff::SpanRelativeTo::days_are_24_hours()))
            .map_err(|_| invalid())?,
    };
    let d = Duration::try_from(signed)
        .map_err(|_| format!("invalid duration `{text}`: must not be negative"))?;
    if d > MAX_DURATION {
        return Err(format!(
            "invalid duration `{text}`: at most 10 years (87600h)"
        ));
    }
    Ok(d)
}

/// serde helper: a duration written as text.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// serde helper: an optional duration written as text.
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert!(parse_duration("1mo").is_err());
        assert!(parse_duration("-2s").is_err());
    }

    #[test]
    fn durations_past_ten_years_are_refused() {
        assert_eq!(parse_duration("87600h"), Ok(MAX_DURATION));
        let err = parse_duration("1000000000h").unwrap_err();
        assert!(err.contains("at most 10 years"), "{err}");
    }
}
