//! Every event in words: a label, the colour of its role, the target it is
//! about, and the rest. Wording follows `report::line`, so the console and
//! headless mode say the same thing; the target is split out because the feed
//! gives it a column and the detail view names it in its title.

use ratatui::style::Color;

use super::{Ctx, duration_ms};
use crate::event::{Decision, Event, EventKind};

/// One event in words: a label, its colour, the target it is about, and the rest.
pub struct Described {
    pub label: &'static str,
    pub color: Color,
    pub target: String,
    pub text: String,
}

/// Width of the longest label (`STEP FAILED`), so labels line up as a column.
pub const LABEL_W: u16 = 11;

pub fn describe(ctx: &Ctx, event: &Event) -> Described {
    let t = ctx.theme;
    let state = &ctx.model.state;
    let of = |id: &crate::event::IncidentId| {
        state
            .incidents
            .get(id)
            .map_or_else(|| "?".to_string(), |i| i.target.clone())
    };
    let d = |label, color, target: String, text: String| Described {
        label,
        color,
        target,
        text,
    };
    match &event.kind {
        EventKind::EngineStarted {
            version,
            targets,
            playbooks,
            dry_run,
        } => {
            let dry = if *dry_run { ", dry run" } else { "" };
            let text = format!(
                "autoheal {version}: {} targets, {} playbooks{dry}",
                targets.len(),
                playbooks.len()
            );
            d("STARTED", t.muted, String::new(), text)
        }
        EventKind::EngineStopped { reason } => d("STOPPED", t.muted, String::new(), reason.clone()),
        EventKind::ProbeFailed {
            target,
            signature,
            detail,
        } => d(
            "FAILING",
            t.error,
            target.clone(),
            format!("{signature}  {detail}"),
        ),
        EventKind::ProbeRecovered { target } => {
            d("HEALTHY", t.ok, target.clone(), "healthy again".into())
        }
        EventKind::IncidentDetected {
            incident_id,
            target,
            signature,
            severity,
            chaos,
            ..
        } => {
            let chaos = if *chaos { "  [chaos]" } else { "" };
            let text = format!("{incident_id} {signature} ({severity}){chaos}");
            d("DETECTED", t.error, target.clone(), text)
        }
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
            let (label, color) = match decision {
                Decision::Auto => ("AUTO", t.info),
                Decision::ApprovalRequired => ("APPROVAL?", t.accent),
                Decision::Monitor => ("MONITOR", t.muted),
                Decision::Suppressed => ("SUPPRESSED", t.muted),
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
            d("EXECUTING", t.warn, of(incident_id), text)
        }
        EventKind::ActionFinished {
            incident_id,
            ok,
            duration_ms: took,
            output,
            ..
        } => {
            let (label, color) = if *ok {
                ("ACTION OK", t.muted)
            } else {
                ("ACTION FAIL", t.error)
            };
            let first = output.lines().next().unwrap_or("");
            let text = format!("{incident_id} {}  {first}", duration_ms(*took));
            d(label, color, of(incident_id), text)
        }
        EventKind::StepFinished {
            incident_id,
            step,
            ok,
            detail,
            ..
        } => {
            let (label, color) = if *ok {
                ("VERIFIED", t.ok)
            } else {
                ("STEP FAILED", t.error)
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
            d("RESOLVED", t.ok, of(incident_id), text)
        }
        EventKind::IncidentEscalated {
            incident_id,
            reason,
        } => d(
            "ESCALATED",
            t.error,
            of(incident_id),
            format!("{incident_id} {reason}"),
        ),
        EventKind::ApprovalGranted { incident_id, by } => d(
            "APPROVED",
            t.ok,
            of(incident_id),
            format!("{incident_id} by {by}"),
        ),
        EventKind::ApprovalRejected { incident_id, by } => d(
            "REJECTED",
            t.muted,
            of(incident_id),
            format!("{incident_id} by {by}"),
        ),
        EventKind::ChaosInjected { target, fault } => {
            d("CHAOS", t.warn, target.clone(), format!("injected {fault}"))
        }
        EventKind::AutomationPaused { by } => d(
            "PAUSED",
            t.muted,
            String::new(),
            format!("automation paused by {by}"),
        ),
        EventKind::AutomationResumed { by } => d(
            "RESUMED",
            t.muted,
            String::new(),
            format!("automation resumed by {by}"),
        ),
        EventKind::TargetSilenced { target, until, by } => {
            let text = format!("until {}  by {by}", ctx.clock(*until));
            d("SILENCED", t.muted, target.clone(), text)
        }
        EventKind::TargetUnsilenced { target, by } => {
            d("UNSILENCED", t.muted, target.clone(), format!("by {by}"))
        }
    }
}
