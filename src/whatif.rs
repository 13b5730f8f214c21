//! What-if replay: what a config and its playbooks would have decided about
//! every incident of a recorded journal, next to what was decided then.
//!
//! The journal is folded as at start-up; at each `incident_detected` the
//! planner runs on the state of that moment (its cooldowns, learning, silences,
//! pause and dry run) with the new targets, policy and playbooks. Nothing is
//! executed. Each incident's first decision is compared: later ones depend on
//! what the fixes of the time did, which a replay cannot know.
//!
//! Playbooks are matched on what the journal holds: target, labels of the
//! config, probe kind and signature. Conditions on an HTTP status, latency,
//! body or CPU/memory figure cannot be re-checked and count as unmet.

use jiff::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;

use crate::config::{Policy, Target};
use crate::engine::{Context, Plan, decide};
use crate::event::{Decision, EventKind, IncidentId};
use crate::journal::{self, SkippedLine};
use crate::playbook::{Playbooks, Signal, SignalKind};
use crate::state::State;

/// A decision, as recorded then or as re-planned now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// `auto`, `approval_required`, `monitor`, `suppressed` or `escalate`.
    pub decision: String,
    pub playbook: Option<String>,
    pub step: Option<String>,
    pub confidence: Option<f64>,
    pub reason: String,
}

impl Choice {
    fn of(decision: Decision) -> String {
        serde_json::to_value(decision)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn automatic(&self) -> bool {
        self.decision == "auto"
    }

    /// The same decision, playbook, step and confidence (to two places, as shown).
    /// An escalation records no playbook, so only its decision is compared.
    fn same_as(&self, other: &Choice) -> bool {
        let rounded = |c: Option<f64>| c.map(|c| format!("{c:.2}"));
        self.decision == other.decision
            && (self.decision == "escalate"
                || (self.playbook == other.playbook
                    && self.step == other.step
                    && rounded(self.confidence) == rounded(other.confidence)))
    }
}

/// How one incident's first decision moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Same,
    Changed,
    /// A playbook matched then; none does now.
    NewlyUnmatched,
    /// A human decided then (or nothing ran); now it would run by itself.
    NewlyAutomatic,
    /// Its target is not in this config (registered at run time, or removed).
    NotReplanned,
}

#[derive(Debug, Clone, Serialize)]
pub struct Replanned {
    pub incident_id: IncidentId,
    pub target: String,
    pub signature: String,
    pub detected_at: Timestamp,
    pub change: Change,
    /// `None` when the journal ends before the first decision.
    pub before: Option<Choice>,
    pub after: Option<Choice>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub incidents: usize,
    pub same: usize,
    pub changed: usize,
    pub newly_unmatched: usize,
    pub newly_automatic: usize,
    pub not_replanned: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub incidents: Vec<Replanned>,
    /// Journal lines that could not be read (and were left out).
    #[serde(skip)]
    pub skipped: Vec<SkippedLine>,
}

/// Replays the journal at `path` (its archived segments too) under `targets`,
/// `policy` and `playbooks`.
pub fn replay(
    path: &Path,
    targets: &[Target],
    policy: &Policy,
    playbooks: &Playbooks,
) -> io::Result<Report> {
    let by_name: HashMap<&str, &Target> = targets.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut state = State::default();
    // Re-planned at detection; waiting for the decision recorded then.
    let mut pending: BTreeMap<IncidentId, Replanned> = BTreeMap::new();
    let mut done = Vec::new();
    let skipped = journal::replay(path, |event| {
        state.apply(&event);
        match &event.kind {
            EventKind::IncidentDetected {
                incident_id,
                target,
                signature,
                ..
            } => {
                let after = by_name.get(target.as_str()).and_then(|t| {
                    let incident = state.incidents.get(incident_id)?;
                    Some(replan(&state, policy, playbooks, t, incident, event.ts))
                });
                pending.insert(
                    *incident_id,
                    Replanned {
                        incident_id: *incident_id,
                        target: target.clone(),
                        signature: signature.clone(),
                        detected_at: event.ts,
                        change: Change::NotReplanned,
                        before: None,
                        after,
                    },
                );
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
                if let Some(mut r) = pending.remove(incident_id) {
                    r.before = Some(Choice {
                        decision: Choice::of(*decision),
                        playbook: playbook.clone(),
                        step: step.clone(),
                        confidence: playbook.as_ref().map(|_| *confidence),
                        reason: reason.clone(),
                    });
                    done.push(r);
                }
            }
            EventKind::IncidentEscalated {
                incident_id,
                reason,
            } => {
                if let Some(mut r) = pending.remove(incident_id) {
                    r.before = Some(Choice {
                        decision: "escalate".into(),
                        playbook: None,
                        step: None,
                        confidence: None,
                        reason: reason.clone(),
                    });
                    done.push(r);
                }
            }
            _ => {}
        }
    })?;
    done.extend(pending.into_values());
    done.sort_by_key(|r| r.incident_id);
    let mut summary = Summary::default();
    for r in &mut done {
        r.change = change(r.before.as_ref(), r.after.as_ref());
        summary.incidents += 1;
        *match r.change {
            Change::Same => &mut summary.same,
            Change::Changed => &mut summary.changed,
            Change::NewlyUnmatched => &mut summary.newly_unmatched,
            Change::NewlyAutomatic => &mut summary.newly_automatic,
            Change::NotReplanned => &mut summary.not_replanned,
        } += 1;
    }
    Ok(Report {
        summary,
        incidents: done,
        skipped,
    })
}

/// The planner's first decision about `incident`, as the engine makes it.
fn replan(
    state: &State,
    policy: &Policy,
    playbooks: &Playbooks,
    target: &Target,
    incident: &crate::state::Incident,
    now: Timestamp,
) -> Choice {
    let signal = Signal {
        target: &target.name,
        labels: &target.labels,
        kind: SignalKind::parse(target.probe.kind()).unwrap_or(SignalKind::Http),
        signature: &incident.signature,
        status: None,
        latency: None,
        body: None,
        cpu_percent: None,
        memory_percent: None,
    };
    let playbook = playbooks.find(&signal);
    let cx = Context {
        state,
        policy,
        target,
        now,
    };
    let name = playbook.map(|p| p.name.clone());
    match decide(&cx, incident, playbook) {
        Plan::Escalate { reason } => Choice {
            decision: "escalate".into(),
            playbook: name,
            step: None,
            confidence: None,
            reason,
        },
        Plan::Monitor { reason } => Choice {
            decision: Choice::of(Decision::Monitor),
            confidence: playbook.map(|p| p.confidence),
            playbook: name,
            step: None,
            reason,
        },
        Plan::Step {
            step,
            confidence,
            decision,
            reason,
            ..
        } => Choice {
            decision: Choice::of(decision),
            step: playbook.and_then(|p| Some(p.steps.get(step)?.name.clone())),
            playbook: name,
            confidence: Some(confidence),
            reason,
        },
    }
}

fn change(before: Option<&Choice>, after: Option<&Choice>) -> Change {
    let Some(after) = after else {
        return Change::NotReplanned;
    };
    let Some(before) = before else {
        // The journal ends before the decision of the time: nothing to compare.
        return Change::NotReplanned;
    };
    if before.same_as(after) {
        Change::Same
    } else if after.automatic() && !before.automatic() {
        Change::NewlyAutomatic
    } else if after.playbook.is_none() && before.playbook.is_some() {
        Change::NewlyUnmatched
    } else {
        Change::Changed
    }
}

/// The report as a table for people: every incident that changed, then the summary.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let show = |c: Option<&Choice>| match c {
        None => "-".to_string(),
        Some(c) => {
            let mut s = c.decision.clone();
            if let Some(p) = &c.playbook {
                s += &format!(" {p}");
                if let Some(step) = &c.step {
                    s += &format!("/{step}");
                }
            }
            if let Some(conf) = c.confidence {
                s += &format!(" {conf:.2}");
            }
            s
        }
    };
    let moved: Vec<&Replanned> = report
        .incidents
        .iter()
        .filter(|r| !matches!(r.change, Change::Same | Change::NotReplanned))
        .collect();
    if !moved.is_empty() {
        out += &format!(
            "{:<8} {:<16} {:<18} {:<16} {:<34} {:<34} WHY NOW\n",
            "INCIDENT", "CHANGE", "TARGET", "SIGNATURE", "THEN", "NOW"
        );
    }
    for r in moved {
        let change = serde_json::to_value(r.change)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
            .replace('_', "-");
        let why = r.after.as_ref().map_or("", |a| a.reason.as_str());
        out += &format!(
            "{:<8} {:<16} {:<18} {:<16} {:<34} {:<34} {why}\n",
            format!("#{}", r.incident_id.0),
            change,
            r.target,
            r.signature,
            show(r.before.as_ref()),
            show(r.after.as_ref()),
        );
    }
    let s = &report.summary;
    out += &format!(
        "{} incidents: {} same, {} changed, {} newly unmatched, {} newly automatic, {} not re-planned\n",
        s.incidents, s.same, s.changed, s.newly_unmatched, s.newly_automatic, s.not_replanned
    );
    out
}
