//! Text for people: every event in words (headless lines, the console's feed
//! and detail view share it), and the run summary.

use jiff::tz::TimeZone;
use std::fmt::Write as _;

use crate::event::{Decision, Event, EventKind, IncidentId, TargetSource};
use crate::state::{State, Status, percentile};

/// What an event means at a glance; the console gives each tone a theme colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Something broke or a human is needed.
    Bad,
    /// Fixed, healthy, approved.
    Good,
    /// Something is being done: an action, injected chaos.
    Action,
    /// A decision to act.
    Info,
    /// A decision waiting for a human.
    Attention,
    /// Bookkeeping.
    Quiet,
}

/// One event in words: a label, its tone, the target it is about, and the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub label: &'static str,
    pub tone: Tone,
    /// Empty for events about the engine itself.
    pub target: String,
    pub text: String,
}

/// Width of the longest label (`STEP FAILED`), so labels line up as a column.
pub const LABEL_W: usize = 11;

/// Describes `event`; `state` (already folded with it) names the target of
/// incident events, and `tz` is the zone for clock times in the text.
pub fn describe(event: &Event, state: &State, tz: &TimeZone) -> Described {
    let of = |id: &IncidentId| {
        state
            .incidents
            .get(id)
            .map_or_else(|| "?".to_string(), |i| i.target.clone())
    };
    let d = |label, tone, target: String, text: String| Described {
        label,
        tone,
        target,
        text,
    };
    match &event.kind {
        EventKind::EngineStarted {
            version,
            targets,
            playbooks,
            dry_run,
            ..
        } => {
            let dry = if *dry_run { ", dry run" } else { "" };
            let text = format!(
                "autoheal {version}: {} targets, {} playbooks{dry}",
                targets.len(),
                playbooks.len()
            );
            d("STARTED", Tone::Quiet, String::new(), text)
        }
        EventKind::EngineStopped { reason } => {
            d("STOPPED", Tone::Quiet, String::new(), reason.clone())
        }
        EventKind::ProbeFailed {
            target,
            signature,
            detail,
        } => d(
            "FAILING",
            Tone::Bad,
            target.clone(),
            format!("{signature}  {detail}"),
        ),
        EventKind::ProbeRecovered { target } => d(
            "HEALTHY",
            Tone::Good,
            target.clone(),
            "healthy again".into(),
        ),
        EventKind::IncidentDetected {
            incident_id,
            target,
            signature,
            severity,
            chaos,
            reported_by,
            text,
            ..
        } => {
            // Opened to offer a fix before a foreseen failure: nothing is broken yet.
            if reported_by.as_deref() == Some(crate::predict::PREDICTION) {
                let words = text.as_deref().unwrap_or_default();
                let text = format!("{incident_id} {signature}: {words}");
                return d("FORESEEN", Tone::Attention, target.clone(), text);
            }
            let chaos = if *chaos { "  [chaos]" } else { "" };
            let text = format!("{incident_id} {signature} ({severity}){chaos}");
            d("DETECTED", Tone::Bad, target.clone(), text)
        }
        EventKind::IncidentAnalyzed {
            incident_id,
            playbook,
            step,
            confidence,
            decision,
            reason,
            ..
        } => {
            let plan = match (playbook, step) {
                (Some(p), Some(s)) => format!("{p}/{s}"),
                (Some(p), None) => p.clone(),
                _ => "no playbook".into(),
            };
            let (label, color) = match decision {
                Decision::Auto => ("AUTO", Tone::Info),
                Decision::ApprovalRequired => ("APPROVAL?", Tone::Attention),
                Decision::Monitor => ("MONITOR", Tone::Quiet),
                Decision::Suppressed => ("SUPPRESSED", Tone::Quiet),
            };
            let text = format!("{incident_id} {plan} {confidence:.2}  {reason}");
            d(label, color, of(incident_id), text)
        }
        EventKind::ActionStarted {
            incident_id,
            action,
            attempt,
            ..
        } => {
            let text = format!("{incident_id} {action} (attempt {attempt})");
            d("EXECUTING", Tone::Action, of(incident_id), text)
        }
        EventKind::ActionFinished {
            incident_id,
            ok,
            duration_ms: took,
            output,
            ..
        } => {
            let (label, color) = if *ok {
                ("ACTION OK", Tone::Quiet)
            } else {
                ("ACTION FAIL", Tone::Bad)
            };
            let first = output.lines().next().unwrap_or("");
            let text = format!("{incident_id} {}  {first}", duration_ms(*took));
            d(label, color, of(incident_id), text)
        }
        EventKind::ActionInterrupted {
            incident_id,
            action,
            attempt,
            ..
        } => {
            let text = format!("{incident_id} {action} (attempt {attempt}): cut off by a restart");
            d("INTERRUPTED", Tone::Bad, of(incident_id), text)
        }
        EventKind::StepFinished {
            incident_id,
            step,
            ok,
            detail,
            ..
        } => {
            let (label, color) = if *ok {
                ("VERIFIED", Tone::Good)
            } else {
                ("STEP FAILED", Tone::Bad)
            };
            d(
                label,
                color,
                of(incident_id),
                format!("{incident_id} {step}: {detail}"),
            )
        }
        EventKind::IncidentResolved {
            incident_id,
            time_to_detect_ms,
            time_to_resolve_ms,
        } => {
            let text = format!(
                "{incident_id} resolved in {}, detected in {}",
                duration_ms(*time_to_resolve_ms),
                duration_ms(*time_to_detect_ms)
            );
            d("RESOLVED", Tone::Good, of(incident_id), text)
        }
        EventKind::IncidentLinked {
            incident_id,
            root_id,
        } => d(
            "SYMPTOM",
            Tone::Quiet,
            of(incident_id),
            format!(
                "{incident_id} of {root_id} on {}: not fixed on its own",
                of(root_id)
            ),
        ),
        EventKind::IncidentEscalated {
            incident_id,
            reason,
        } => d(
            "ESCALATED",
            Tone::Bad,
            of(incident_id),
            format!("{incident_id} {reason}"),
        ),
        EventKind::ApprovalGranted {
            incident_id,
            by,
            analyst,
        } => {
            let proposal = analyst
                .as_ref()
                .map_or(String::new(), |m| format!(": AI analyst {m}'s proposal"));
            let text = format!("{incident_id} by {by}{proposal}");
            d("APPROVED", Tone::Good, of(incident_id), text)
        }
        EventKind::AnalystProposed {
            incident_id,
            model,
            decision,
            playbook,
            step,
            confidence,
            reason,
            queued,
            ..
        } => {
            let what = match (playbook, step) {
                (Some(p), Some(s)) => format!("{} {p}/{s}", decision.as_str()),
                _ => decision.as_str().to_string(),
            };
            let queued = if *queued { ", awaits approval" } else { "" };
            let text = format!("{incident_id} {model}: {what} ({confidence:.2}{queued}): {reason}");
            let tone = match queued.is_empty() {
                true => Tone::Info,
                false => Tone::Attention,
            };
            d("AI PROPOSES", tone, of(incident_id), text)
        }
        EventKind::AnalystFailed {
            incident_id,
            model,
            error,
        } => d(
            "AI FAILED",
            Tone::Quiet,
            of(incident_id),
            format!("{incident_id} {model}: {error}"),
        ),
        EventKind::ApprovalRejected { incident_id, by } => d(
            "REJECTED",
            Tone::Quiet,
            of(incident_id),
            format!("{incident_id} by {by}"),
        ),
        EventKind::IncidentRetried {
            incident_id,
            step,
            by,
        } => {
            let from = step
                .as_ref()
                .map_or(String::new(), |s| format!(" from {s}"));
            let text = format!("{incident_id}{from} by {by}");
            d("RETRIED", Tone::Action, of(incident_id), text)
        }
        EventKind::IncidentAcknowledged { incident_id, by } => d(
            "ACKED",
            Tone::Quiet,
            of(incident_id),
            format!("{incident_id} by {by}"),
        ),
        EventKind::IncidentClosed {
            incident_id,
            note,
            by,
        } => d(
            "CLOSED",
            Tone::Quiet,
            of(incident_id),
            format!("{incident_id} by {by}: {note}"),
        ),
        EventKind::ChaosInjected { target, fault } => d(
            "CHAOS",
            Tone::Action,
            target.clone(),
            format!("injected {fault}"),
        ),
        EventKind::AutomationPaused { by } => d(
            "PAUSED",
            Tone::Quiet,
            String::new(),
            format!("automation paused by {by}"),
        ),
        EventKind::AutomationResumed { by } => d(
            "RESUMED",
            Tone::Quiet,
            String::new(),
            format!("automation resumed by {by}"),
        ),
        EventKind::TargetSilenced { target, until, by } => {
            // The time alone when it ends the same day, else the date too.
            let (until, at) = (until.to_zoned(tz.clone()), event.ts.to_zoned(tz.clone()));
            let format = match until.date() == at.date() {
                true => "%H:%M:%S",
                false => "%Y-%m-%d %H:%M:%S",
            };
            let text = format!("until {}  by {by}", until.strftime(format));
            d("SILENCED", Tone::Quiet, target.clone(), text)
        }
        EventKind::MaintenanceStarted {
            window,
            targets,
            until,
        } => {
            let until = until.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M");
            let text = format!(
                "{window}: until {until}, no fixes on {}",
                targets.join(", ")
            );
            d("MAINTENANCE", Tone::Quiet, String::new(), text)
        }
        EventKind::MaintenanceEnded { window } => d(
            "MAINT. OVER",
            Tone::Quiet,
            String::new(),
            format!("{window}: held fixes are planned again"),
        ),
        EventKind::TargetUnsilenced { target, by } => d(
            "UNSILENCED",
            Tone::Quiet,
            target.clone(),
            format!("by {by}"),
        ),
        EventKind::TargetRegistered(r) => {
            let probe = match &r.health_url {
                Some(url) => format!("probed at {url}"),
                None => "passive".to_string(),
            };
            let critical = if r.critical { ", critical" } else { "" };
            let via = match r.source {
                TargetSource::Config => "config",
                TargetSource::Api => "api",
                TargetSource::Intake => "intake",
            };
            let text = format!("{probe}{critical}  by {} via {via}", r.by);
            d("REGISTERED", Tone::Quiet, r.target.clone(), text)
        }
        EventKind::RoleChanged { replica, role } => {
            let tone = match role {
                crate::engine::Role::Leader { .. } => Tone::Good,
                crate::engine::Role::Follower { .. } => Tone::Quiet,
                crate::engine::Role::NoQuorum { .. } => Tone::Bad,
            };
            d("ROLE", tone, String::new(), format!("{replica} is {role}"))
        }
        EventKind::ActionSkipped {
            incident_id,
            step,
            attempt,
            reason,
            ..
        } => d(
            "SKIPPED",
            Tone::Quiet,
            of(incident_id),
            format!("{incident_id} {step} (attempt {attempt}): {reason}"),
        ),
        EventKind::Prediction {
            target,
            metric,
            value,
            threshold,
            per_hour,
            eta_s,
            ..
        } => d(
            "PREDICTED",
            Tone::Attention,
            target.clone(),
            crate::predict::words(*metric, *value, *threshold, *per_hour, *eta_s),
        ),
        EventKind::PredictionEnded { target, metric } => d(
            "TREND ENDED",
            Tone::Quiet,
            target.clone(),
            format!("{metric}: no longer predicted to reach its level"),
        ),
        EventKind::TargetDeregistered { target, by } => {
            d("REMOVED", Tone::Quiet, target.clone(), format!("by {by}"))
        }
        EventKind::NotificationFailed {
            url,
            incident_id,
            error,
        } => {
            let (target, about) = match incident_id {
                Some(id) => (of(id), format!("{id} ")),
                None => (String::new(), String::new()),
            };
            d(
                "NOTIFY FAIL",
                Tone::Bad,
                target,
                format!("{about}{url}: {error}"),
            )
        }
    }
}

/// One readable line, e.g. `13:02:11.482  DETECTED    orders-db  #7 DB_TIMEOUT (high)`.
/// Always one line of plain text: what a probed service answered or an action
/// printed is shown with its control characters escaped, so it can neither
/// break the line apart nor drive the operator's terminal.
pub fn line(event: &Event, state: &State) -> String {
    let tz = TimeZone::system();
    let time = event
        .ts
        .to_zoned(tz.clone())
        .strftime("%H:%M:%S%.3f")
        .to_string();
    let Described {
        label,
        target,
        text,
        ..
    } = describe(event, state, &tz);
    let (target, text) = (printable(&target), printable(&text));
    match target.is_empty() {
        true => format!("{time}  {label:<LABEL_W$} {text}"),
        false => format!("{time}  {label:<LABEL_W$} {target}  {text}"),
    }
}

/// `text` with every control character written as an escape (`\u{1b}`, `\n`).
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_debug().to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// A short human duration from milliseconds: `850ms`, `4.2s`, `48s`, `1m05s`, `2h03m`.
pub fn duration_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..10_000 => format!("{:.1}s", ms as f64 / 1000.0),
        10_000..60_000 => format!("{}s", ms / 1000),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// Counts and percentiles over the incidents detected after journal line `after_seq`.
pub fn summary(state: &State, after_seq: u64) -> String {
    let run: Vec<_> = state
        .incidents
        .values()
        .filter(|i| i.timeline.first().is_some_and(|e| e.seq > after_seq))
        .collect();
    let count = |status: Status| run.iter().filter(|i| i.status == status).count();
    let resolved: Vec<_> = run
        .iter()
        .filter(|i| i.status == Status::Resolved)
        .collect();
    let ttd: Vec<u64> = resolved
        .iter()
        .map(|i| u64::try_from(i.detected_at.duration_since(i.started_at).as_millis()).unwrap_or(0))
        .collect();
    let ttr: Vec<u64> = resolved
        .iter()
        .filter_map(|i| i.time_to_resolve_ms)
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "incidents {}  resolved {}  escalated {}  awaiting approval {}  still open {}",
        run.len(),
        resolved.len(),
        // Escalated at any point, even if it recovered later: a human was needed.
        run.iter()
            .filter(|i| i
                .timeline
                .iter()
                .any(|e| matches!(e.kind, EventKind::IncidentEscalated { .. })))
            .count(),
        count(Status::AwaitingApproval),
        run.iter().filter(|i| i.status.is_open()).count(),
    );
    // Closed before the last KEEP_CLOSED: counted above only while in memory.
    let gone = state.archived.since(after_seq);
    if gone > 0 {
        let _ = writeln!(
            out,
            "(and {gone} earlier incidents of this run, closed and no longer in memory: see the journal)"
        );
    }
    for (name, samples) in [("time to detect ", &ttd), ("time to resolve", &ttr)] {
        let p = |q| percentile(samples, q).map_or("-".to_string(), |v| format!("{v} ms"));
        let _ = writeln!(
            out,
            "{name}  p50 {}  p95 {}  p99 {}  (n={})",
            p(50.0),
            p(95.0),
            p(99.0),
            samples.len()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration_ms(850), "850ms");
        assert_eq!(duration_ms(4_200), "4.2s");
        assert_eq!(duration_ms(48_000), "48s");
        assert_eq!(duration_ms(65_000), "1m05s");
        assert_eq!(duration_ms(7_380_000), "2h03m");
    }

    #[test]
    fn a_line_escapes_what_a_peer_could_use_to_drive_a_terminal() {
        let failed = Event {
            seq: 1,
            ts: "2026-11-26T14:00:00Z".parse().unwrap(),
            kind: EventKind::ProbeFailed {
                target: "web".into(),
                signature: "HTTP_503".into(),
                detail: "\u{1b}]0;pwned\u{7}\u{1b}[2J\nFAKE  line".into(),
            },
        };
        let text = line(&failed, &State::default());
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(
            text.ends_with(r"\u{1b}]0;pwned\u{7}\u{1b}[2J\nFAKE  line"),
            "{text}"
        );
    }

    #[test]
    fn a_silence_past_today_shows_its_date() {
        let silence = |until: &str| Event {
            seq: 1,
            ts: "2026-11-26T14:00:00Z".parse().unwrap(),
            kind: EventKind::TargetSilenced {
                target: "db".into(),
                until: until.parse().unwrap(),
                by: "ops".into(),
            },
        };
        let text = |e: &Event| describe(e, &State::default(), &TimeZone::UTC).text;
        assert_eq!(
            text(&silence("2026-11-26T15:30:00Z")),
            "until 15:30:00  by ops"
        );
        assert_eq!(
            text(&silence("2036-11-23T14:00:00Z")),
            "until 2036-11-23 14:00:00  by ops"
        );
    }
}
