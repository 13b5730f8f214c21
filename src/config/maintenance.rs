//! Maintenance windows: scheduled silences. During a window, incidents on its
//! targets are detected and journaled but not acted on; when it ends, those
//! still failing are planned as usual.
//!
//! ```yaml
//! maintenance:
//!   - { targets: [db-*], every: "sun 02:00", for: 2h, reason: weekly vacuum }
//!   - { targets: [edge-proxy], from: "2026-12-01T22:00:00Z", until: "2026-12-01T23:30:00Z" }
//! ```
//! `every` takes a weekday (`mon` ... `sun`) or `daily`, and a time of day in
//! the host's time zone.

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;
use std::time::Duration;

use super::check::Problem;
use super::duration::opt_duration;
use super::yaml::YamlPath;

/// One window as written in the config file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Target names or globs (`db-*`).
    pub targets: Vec<String>,
    /// A recurring start: `sun 02:00`, `daily 23:30`.
    #[serde(default)]
    pub every: Option<String>,
    /// How long a recurring window lasts.
    #[serde(default, rename = "for", deserialize_with = "opt_duration")]
    pub length: Option<Duration>,
    /// A one-off window.
    #[serde(default)]
    pub from: Option<Timestamp>,
    #[serde(default)]
    pub until: Option<Timestamp>,
    #[serde(default)]
    pub reason: String,
}

/// A recurring start: a weekday (or every day) and a time of day.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Every {
    day: Option<Weekday>,
    at: Time,
}

/// The longest recurring window: a week, so a weekly one never overlaps itself.
const MAX_LENGTH: Duration = Duration::from_secs(7 * 24 * 3600);

impl Maintenance {
    /// What people and the journal call it: its reason, else its targets.
    pub fn name(&self) -> String {
        match self.reason.trim() {
            "" => format!("maintenance of {}", self.targets.join(", ")),
            reason => reason.to_string(),
        }
    }

    pub fn covers(&self, target: &str) -> bool {
        covers(&self.targets, target)
    }

    /// The window in force at `now` in `tz`, as (start, end), if any.
    pub fn span_at(&self, now: Timestamp, tz: &TimeZone) -> Option<(Timestamp, Timestamp)> {
        if let (Some(from), Some(until)) = (self.from, self.until) {
            return (from <= now && now < until).then_some((from, until));
        }
        let every = parse_every(self.every.as_deref()?).ok()?;
        let length = jiff::SignedDuration::try_from(self.length?).ok()?;
        let today = now.to_zoned(tz.clone()).date();
        // The occurrence that may still be running began at most `length` ago:
        // today's, or one of the days before (a week at most).
        (0..=7).find_map(|back| {
            let day = today.checked_sub(jiff::Span::new().days(back)).ok()?;
            if every.day.is_some_and(|d| d != day.weekday()) {
                return None;
            }
            let start = day.to_datetime(every.at).to_zoned(tz.clone()).ok()?;
            let start = start.timestamp();
            let end = start.checked_add(length).ok()?;
            (start <= now && now < end).then_some((start, end))
        })
    }

    pub(super) fn problems(&self, at: YamlPath) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.targets.is_empty() {
            out.push(Problem::new(
                at.key("targets"),
                "a maintenance window needs at least one target (name or glob)",
            ));
        }
        for (i, t) in self.targets.iter().enumerate() {
            if let Err(e) = glob::Pattern::new(t) {
                out.push(Problem::new(
                    at.key("targets").index(i),
                    format!("`{t}` is not a valid glob: {e}"),
                ));
            }
        }
        match (&self.every, self.from, self.until) {
            (Some(every), None, None) => {
                if let Err(why) = parse_every(every) {
                    out.push(Problem::new(at.key("every"), why));
                }
                match self.length {
                    None => out.push(Problem::new(
                        at.key("every"),
                        "a recurring window needs `for` (how long it lasts, e.g. 2h)",
                    )),
                    Some(l) if l.is_zero() || l > MAX_LENGTH => out.push(Problem::new(
                        at.key("for"),
                        "`for` must be above zero and at most 7d",
                    )),
                    Some(_) => {}
                }
            }
            (None, Some(from), Some(until)) => {
                if until <= from {
                    out.push(Problem::new(at.key("until"), "`until` must be after `from`"));
                }
                if self.length.is_some() {
                    out.push(Problem::new(
                        at.key("for"),
                        "`for` goes with `every`; a one-off window has `from` and `until`",
                    ));
                }
            }
            _ => out.push(Problem::new(
                at.clone(),
                "a maintenance window has either `every` and `for` (recurring) or `from` and `until` (once)",
            )),
        }
        out
    }
}

/// Whether any of `globs` names `target`.
pub fn covers(globs: &[String], target: &str) -> bool {
    globs
        .iter()
        .any(|g| glob::Pattern::new(g).is_ok_and(|p| p.matches(target)))
}

/// `sun 02:00`, `daily 23:30`.
fn parse_every(text: &str) -> Result<Every, String> {
    let bad = || {
        format!(
            "`every: {text}` must be a weekday (mon ... sun) or `daily`, and a time: `sun 02:00`"
        )
    };
    let mut words = text.split_whitespace();
    let (Some(day), Some(at), None) = (words.next(), words.next(), words.next()) else {
        return Err(bad());
    };
    let day = match day.to_ascii_lowercase().as_str() {
        "daily" => None,
        "mon" | "monday" => Some(Weekday::Monday),
        "tue" | "tuesday" => Some(Weekday::Tuesday),
        "wed" | "wednesday" => Some(Weekday::Wednesday),
        "thu" | "thursday" => Some(Weekday::Thursday),
        "fri" | "friday" => Some(Weekday::Friday),
        "sat" | "saturday" => Some(Weekday::Saturday),
        "sun" | "sunday" => Some(Weekday::Sunday),
        _ => return Err(bad()),
    };
    let (h, m) = at.split_once(':').ok_or_else(bad)?;
    let (h, m) = (h.parse::<i8>().ok(), m.parse::<i8>().ok());
    let at = match (h, m) {
        (Some(h), Some(m)) => Time::new(h, m, 0, 0).map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    Ok(Every { day, at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(every: &str, hours: u64) -> Maintenance {
        Maintenance {
            targets: vec!["db-*".into()],
            every: Some(every.into()),
            length: Some(Duration::from_secs(hours * 3600)),
            from: None,
            until: None,
            reason: String::new(),
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_weekly_window_is_in_force_from_its_start_for_its_length() {
        let w = weekly("sun 02:00", 2);
        let tz = TimeZone::UTC;
        // 2026-11-29 is a Sunday.
        assert_eq!(w.span_at(at("2026-11-29T01:59:59Z"), &tz), None);
        assert_eq!(
            w.span_at(at("2026-11-29T02:00:00Z"), &tz),
            Some((at("2026-11-29T02:00:00Z"), at("2026-11-29T04:00:00Z")))
        );
        assert!(w.span_at(at("2026-11-29T03:59:59Z"), &tz).is_some());
        assert_eq!(w.span_at(at("2026-11-29T04:00:00Z"), &tz), None);
        assert_eq!(w.span_at(at("2026-11-30T02:30:00Z"), &tz), None, "monday");
    }

    #[test]
    fn a_window_that_crosses_midnight_is_found_the_next_day() {
        let w = weekly("sat 23:00", 3);
        let sunday_1am = at("2026-11-29T01:00:00Z");
        assert_eq!(
            w.span_at(sunday_1am, &TimeZone::UTC),
            Some((at("2026-11-28T23:00:00Z"), at("2026-11-29T02:00:00Z")))
        );
        let daily = weekly("daily 23:30", 1);
        assert!(
            daily
                .span_at(at("2026-12-02T00:10:00Z"), &TimeZone::UTC)
                .is_some()
        );
    }

    #[test]
    fn times_are_the_hosts_zone() {
        let w = weekly("sun 02:00", 1);
        let paris = TimeZone::get("Europe/Paris").unwrap_or(TimeZone::fixed(jiff::tz::offset(1)));
        // 02:00 in Paris in winter is 01:00 UTC.
        assert!(w.span_at(at("2026-11-29T01:30:00Z"), &paris).is_some());
        assert!(w.span_at(at("2026-11-29T02:30:00Z"), &paris).is_none());
    }

    #[test]
    fn bad_windows_say_what_is_wrong() {
        let root = YamlPath::root();
        let text = |m: &Maintenance| {
            m.problems(root.clone())
                .into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
                .join("; ")
        };
        assert!(text(&weekly("someday 02:00", 1)).contains("must be a weekday"));
        assert!(text(&weekly("sun 25:00", 1)).contains("must be a weekday"));
        assert!(text(&weekly("sun 02:00", 0)).contains("above zero"));
        assert!(text(&weekly("sun 02:00", 24 * 8)).contains("at most 7d"));
        let mut both = weekly("sun 02:00", 1);
        both.from = Some(at("2026-11-29T01:30:00Z"));
        assert!(text(&both).contains("either `every` and `for`"));
        let mut once = weekly("x", 1);
        (once.every, once.length) = (None, None);
        (once.from, once.until) = (
            Some(at("2026-11-29T02:00:00Z")),
            Some(at("2026-11-29T01:00:00Z")),
        );
        assert!(text(&once).contains("`until` must be after `from`"));
        once.targets = vec!["[".into()];
        assert!(text(&once).contains("not a valid glob"));
        assert_eq!(text(&weekly("Sun 02:00", 2)), "");
    }
}
