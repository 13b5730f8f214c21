//! When the live journal rotates, and how much of its past is kept: the
//! `journal_rotate:` and `journal_retention:` sections of the config.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

use crate::config::{duration, parse_duration};

/// The live journal becomes a segment once it holds `max_size` bytes, or once
/// its first event is `max_age` older than the event being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rotate {
    #[serde(deserialize_with = "size")]
    pub max_size: u64,
    #[serde(deserialize_with = "duration")]
    pub max_age: Duration,
}

impl Default for Rotate {
    fn default() -> Self {
        Rotate {
            max_size: 64 << 20,
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// Segments older than `keep_age` (by when they were closed), or beyond
/// `keep_size` bytes of segments in all, are deleted oldest first; `null`
/// turns a limit off. The live file, the newest segment and any segment an
/// open incident still needs are always kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    #[serde(deserialize_with = "opt_duration")]
    pub keep_age: Option<Duration>,
    #[serde(deserialize_with = "opt_size")]
    pub keep_size: Option<u64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keep_age: Some(Duration::from_secs(30 * 24 * 3600)),
            keep_size: Some(1 << 30),
        }
    }
}

impl Retention {
    /// Keeps everything.
    pub const ALL: Retention = Retention {
        keep_age: None,
        keep_size: None,
    };
}

/// Parses "64MiB", "1GiB", "500KB", "1048576" (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let invalid =
        || format!("invalid size `{text}`: write a number and a unit, like 64MiB or 1GiB");
    let text_t = text.trim();
    let split = text_t
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text_t.len());
    let (number, unit) = text_t.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(invalid()),
    };
    match number.checked_mul(scale) {
        Some(0) => Err(format!("invalid size `{text}`: must be more than 0")),
        Some(n) => Ok(n),
        None => Err(format!("invalid size `{text}`: too large")),
    }
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let text = String::deserialize(d)?;
    parse_size(&text).map_err(serde::de::Error::custom)
}

fn opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(text) => parse_size(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(text) => parse_duration(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size(" 1 GiB "), Ok(1 << 30));
        assert_eq!(parse_size("500KB"), Ok(500_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        for bad in [
            "",
            "MiB",
            "-1MiB",
            "1.5GiB",
            "1 parsec",
            "0",
            "99999999999TiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sections_parse_with_defaults_and_null_turns_a_limit_off() {
        let r: Rotate = serde_norway::from_str("max_size: 1MiB").unwrap();
        assert_eq!(r.max_size, 1 << 20);
        assert_eq!(r.max_age, Rotate::default().max_age);
        let r: Rotate = serde_norway::from_str("max_age: 1d").unwrap();
        assert_eq!(r.max_age, Duration::from_secs(86_400));
        let k: Retention = serde_norway::from_str("keep_age: null\nkeep_size: 10GiB").unwrap();
        assert_eq!(k.keep_age, None);
        assert_eq!(k.keep_size, Some(10 << 30));
        assert!(serde_norway::from_str::<Retention>("keep: 1d").is_err());
    }
}
