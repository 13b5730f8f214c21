//! Text for people: one line per event (headless mode) and the run summary.

use jiff::tz::TimeZone;
use std::fmt::Write as _;

use crate::event::{Decision, Event, EventKind, IncidentId};
use crate::state::{State, Status, percentile};

/// One readable line, e.g. `13:02:11.482  DETECTED   orders-db  DB_TIMEOUT (high)  #7`.
/// `state` (already folded with `event`) supplies the target of incident events.
pub fn line(event: &Event, state: &State) -> String {
    let time = event
        .ts
        .to_zoned(TimeZone::system())
        .strftime("%H:%M:%S%.3f")
        .to_string();
    let target = |id: &IncidentId| {
        state
            .incidents
            .get(id)
            .map_or("?", |i| i.target.as_str())
            .to_string()
    };
    let (label, text) = match &event.kind {
        EventKind::EngineStarted {
            targets,
            playbooks,
            dry_run,
            version,
        } => (
            "STARTED",
            format!(
                "autoheal {version}: {} targets, {} playbooks{}",
                targets.len(),
                playbooks.len(),
                if *dry_run {
                    ", dry run: nothing will be executed"
                } else {
                    ""
                }
            ),
        ),
        EventKind::EngineStopped { reason } => ("STOPPED", reason.clone()),
        EventKind::ProbeFailed {
            target,
            signature,
            detail,
        } => ("FAILING", format!("{target}  {signature}  {detail}")),
        EventKind::ProbeRecovered { target } => ("HEALTHY", target.clone()),
        EventKind::IncidentDetected {
            incident_id,
            target,
            signature,
            severity,
            chaos,
            ..
        } => (
            "DETECTED",
            format!(
                "{target}  {signature} ({severity})  {incident_id}{}",
                if *chaos { "  [chaos]" } else { "" }
            ),
        ),
        EventKind::IncidentAnalyzed {
            incident_id,
            playbook,
            step,
            confidence,
            decision,
            reason,
        } => {
            let plan = match (playbook, step) {
                (Some(p), Some(s)) => format!("{p}/{s}"),
                (Some(p), None) => p.clone(),
                _ => "no playbook".into(),
            };
            let label = match decision {
                Decision::Auto => "AUTO",
                Decision::ApprovalRequired => "APPROVAL?",
                Decision::Monitor => "MONITOR",
                Decision::Suppressed => "SUPPRESSED",
            };
            (
                label,
                format!(
                    "{}  {incident_id}  {plan}  {confidence:.2}  {reason}",
                    target(incident_id)
                ),
            )
        }
        EventKind::ActionStarted {
            incident_id,
            action,
            attempt,
            ..
        } => (
            "EXECUTING",
            format!(
                "{}  {incident_id}  {action}  (attempt {attempt})",
                target(incident_id)
            ),
        ),
        EventKind::ActionFinished {
            incident_id,
            ok,
            duration_ms,
            output,
            ..
        } => (
            if *ok { "ACTION OK" } else { "ACTION FAILED" },
            format!(
                "{}  {incident_id}  {duration_ms} ms  {}",
                target(incident_id),
                output.lines().next().unwrap_or("")
            ),
        ),
        EventKind::StepFinished {
            incident_id,
            step,
            ok,
            detail,
            ..
        } => (
            if *ok { "VERIFIED" } else { "STEP FAILED" },
            format!("{}  {incident_id}  {step}: {detail}", target(incident_id)),
        ),
        EventKind::IncidentResolved {
            incident_id,
            time_to_detect_ms,
            time_to_resolve_ms,
        } => (
            "RESOLVED",
            format!(
                "{}  {incident_id}  detected in {time_to_detect_ms} ms, resolved in {time_to_resolve_ms} ms",
                target(incident_id)
            ),
        ),
        EventKind::IncidentEscalated {
            incident_id,
            reason,
        } => (
            "ESCALATED",
            format!("{}  {incident_id}  {reason}", target(incident_id)),
        ),
        EventKind::ApprovalGranted { incident_id, by } => (
            "APPROVED",
            format!("{}  {incident_id}  by {by}", target(incident_id)),
        ),
        EventKind::ApprovalRejected { incident_id, by } => (
            "REJECTED",
            format!("{}  {incident_id}  by {by}", target(incident_id)),
        ),
        EventKind::ChaosInjected { target, fault } => ("CHAOS", format!("{target}  {fault}")),
        EventKind::AutomationPaused { by } => ("PAUSED", format!("automation paused by {by}")),
        EventKind::AutomationResumed { by } => ("RESUMED", format!("automation resumed by {by}")),
        EventKind::TargetSilenced { target, until, by } => {
            let until = until.to_zoned(TimeZone::system()).strftime("%H:%M:%S");
            ("SILENCED", format!("{target}  until {until}  by {by}"))
        }
        EventKind::TargetUnsilenced { target, by } => ("UNSILENCED", format!("{target}  by {by}")),
    };
    format!("{time}  {label:<10} {text}")
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
