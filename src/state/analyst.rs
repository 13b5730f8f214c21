//! The fold of the AI analyst's events: its latest answer on the incident, a
//! queued proposal as the incident's pending approval, and each model's record.

use super::{Analysis, State, Status};
use crate::event::{Decision, Event, EventKind, IncidentId};

impl State {
    /// Folds `analyst_proposed` or `analyst_failed`.
    pub(super) fn analyst_answered(&mut self, event: &Event) {
        match &event.kind {
            EventKind::AnalystProposed {
                incident_id,
                model,
                decision,
                playbook,
                step,
                confidence,
                reason,
                action,
                queued,
            } => {
                let record = self.analyst.entry(model.clone()).or_default();
                record.proposed = record.proposed.saturating_add(1);
                let Some(inc) = self.incidents.get_mut(incident_id) else {
                    return;
                };
                inc.analysis = Some(Analysis {
                    model: model.clone(),
                    at: event.ts,
                    decision: Some(*decision),
                    playbook: playbook.clone(),
                    step: step.clone(),
                    confidence: *confidence,
                    reason: reason.clone(),
                    queued: *queued,
                });
                // As `incident_analyzed` with `approval_required` would: the
                // step waits for an operator, and nothing else changes.
                if *queued && inc.status.is_open() {
                    inc.playbook = playbook.clone();
                    inc.step = step.clone();
                    inc.confidence = *confidence;
                    inc.decision = Some(Decision::ApprovalRequired);
                    inc.reason = format!("AI analyst {model} proposes it: {reason}");
                    inc.action = action.clone();
                    inc.status = Status::AwaitingApproval;
                    inc.proposed_by = Some(model.clone());
                }
            }
            EventKind::AnalystFailed {
                incident_id,
                model,
                error,
            } => {
                let record = self.analyst.entry(model.clone()).or_default();
                record.failed = record.failed.saturating_add(1);
                if let Some(inc) = self.incidents.get_mut(incident_id) {
                    inc.analysis = Some(Analysis {
                        model: model.clone(),
                        at: event.ts,
                        decision: None,
                        playbook: None,
                        step: None,
                        confidence: 0.0,
                        reason: error.clone(),
                        queued: false,
                    });
                }
            }
            _ => {}
        }
    }

    /// A step verified ok: if an analyst proposed it, its model's record counts it.
    pub(super) fn analyst_step_worked(&mut self, id: IncidentId, playbook: &str, step: &str) {
        let Some(inc) = self.incidents.get(&id) else {
            return;
        };
        let Some(model) = inc.proposed_by.as_ref().filter(|_| {
            inc.playbook.as_deref() == Some(playbook) && inc.step.as_deref() == Some(step)
        }) else {
            return;
        };
        let worked = &mut self.analyst.entry(model.clone()).or_default().worked;
        *worked = worked.saturating_add(1);
    }
}
