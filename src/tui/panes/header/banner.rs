//! The line under the status line while an attached console has no daemon:
//! since when, the reconnect countdown, and that keys which change things are
//! refused. A console that looks live on a dead daemon is worse than none.

use jiff::Timestamp;
use ratatui::style::{Modifier, Style};

use super::super::{Ctx, uptime};
use crate::remote::{Cause, LinkState, LinkStatus};

/// The banner's words and style at `width`, or `None` while connected (or local).
pub fn banner(ctx: &Ctx, width: usize) -> Option<(String, Style)> {
    let status = ctx.model.link.as_ref()?;
    let text = words(status, ctx.now, |t| ctx.clock(t), ctx.glyphs.sep, width)?;
    let style = match status.state {
        LinkState::Connecting => ctx.fg(ctx.theme.warn).add_modifier(Modifier::BOLD),
        // Reversed: a full-width bar the eye cannot miss, in colour or without.
        _ => ctx
            .fg(ctx.theme.error)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED),
    };
    // Cut only if even the shortest wording does not fit (narrower than the console allows).
    Some((ctx.glyphs.fit(&text, width), style))
}

/// The longest wording of the banner that fits `width`, dropping the least
/// needed phrase first; the shortest one when none fits.
pub fn words(
    status: &LinkStatus,
    now: Timestamp,
    clock: impl Fn(Timestamp) -> String,
    sep: &str,
    width: usize,
) -> Option<String> {
    let daemon = &status.daemon;
    let (since, retry_at, cause) = match &status.state {
        LinkState::Connected { .. } => return None,
        LinkState::Connecting => return Some(format!(" connecting to {daemon}...")),
        LinkState::Down {
            since,
            retry_at,
            cause,
            ..
        } => (*since, *retry_at, cause),
    };
    let what = match cause {
        Cause::Unreachable => format!("daemon at {daemon} unreachable"),
        Cause::TokenRefused(code) => {
            format!("token refused by {daemon} ({code}): set AUTOHEAL_TOKEN")
        }
        Cause::Answered(_, why) => format!("daemon at {daemon} answered {why}"),
    };
    let when = format!(" since {}", clock(since));
    let age = uptime(now.duration_since(since));
    let wait = retry_at.duration_since(now).as_secs_f64().ceil();
    let retry = match wait {
        w if w >= 1.0 => format!("retrying in {w:.0} s"),
        _ => "retrying now".to_string(),
    };
    let keys = "keys that change things are refused";
    let candidates = [
        format!(" {what}{when} ({age}){sep}{retry}{sep}{keys}"),
        format!(" {what}{when} ({age}){sep}{retry}{sep}keys refused"),
        format!(" {what} for {age}{sep}{retry}{sep}keys refused"),
        format!(" {what}{sep}{retry}{sep}keys refused"),
        format!(" {what}{sep}{retry}"),
        format!(" {what}"),
    ];
    let fits = |c: &&String| c.chars().count() <= width;
    let pick = candidates.iter().find(fits).unwrap_or(&candidates[5]);
    Some(pick.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        // 14:02:07 UTC
        Timestamp::from_second(1_764_165_727 + s).unwrap()
    }

    fn clock(t: Timestamp) -> String {
        let dt = jiff::tz::TimeZone::UTC.to_datetime(t);
        format!("{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second())
    }

    /// Down since 14:02:07; three attempts failed, the last at +32 s, the next at +36 s.
    fn down(cause: Cause) -> LinkStatus {
        let mut status = LinkStatus::new("http://127.0.0.1:7391");
        status.state.up(at(-60));
        for _ in 0..3 {
            status.state.down(cause.clone(), at(32), Some(at(0)));
        }
        status
    }

    #[test]
    fn says_since_when_how_long_and_the_countdown() {
        let status = down(Cause::Unreachable);
        assert_eq!(
            words(&status, at(35), clock, " · ", 200).unwrap(),
            " daemon at 127.0.0.1:7391 unreachable since 14:02:07 (35s) · retrying in 1 s · keys that change things are refused"
        );
        assert!(
            words(&status, at(37), clock, " · ", 200)
                .unwrap()
                .contains("retrying now")
        );
    }

    #[test]
    fn narrower_drops_the_least_needed_words_first() {
        let status = down(Cause::Unreachable);
        assert_eq!(
            words(&status, at(33), clock, " - ", 80).unwrap(),
            " daemon at 127.0.0.1:7391 unreachable for 33s - retrying in 3 s - keys refused"
        );
        assert_eq!(
            words(&status, at(33), clock, " - ", 60).unwrap(),
            " daemon at 127.0.0.1:7391 unreachable - retrying in 3 s"
        );
    }

    #[test]
    fn a_refused_token_says_what_to_set() {
        let status = down(Cause::TokenRefused(401));
        let line = words(&status, at(32), clock, " · ", 120).unwrap();
        assert!(
            line.starts_with(
                " token refused by 127.0.0.1:7391 (401): set AUTOHEAL_TOKEN since 14:02:07"
            ),
            "{line}"
        );
    }

    #[test]
    fn nothing_while_connected() {
        let mut status = LinkStatus::new("http://127.0.0.1:7391");
        status.state.up(at(0));
        assert_eq!(words(&status, at(1), clock, " · ", 120), None);
    }
}
