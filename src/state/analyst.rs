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

#[cfg(test)]
mod tests {
    use crate::event::{AnalystDecision, Decision, Event, EventKind, IncidentId, Severity};
    use crate::state::{State, Status};

    fn fold(state: &mut State, kind: EventKind) {
        let seq = state.last_seq + 1;
        let ts = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        state.apply(&Event { seq, ts, kind });
    }

    fn escalated() -> State {
        let mut state = State::default();
        fold(
            &mut state,
            EventKind::IncidentDetected {
                incident_id: IncidentId(1),
                target: "billing".into(),
                signature: "PAYMENTS_STUCK".into(),
                severity: Severity::High,
                started_at: jiff::Timestamp::UNIX_EPOCH,
                chaos: false,
                trace_id: String::new(),
                reported_by: None,
                text: None,
            },
        );
        fold(
            &mut state,
            EventKind::IncidentEscalated {
                incident_id: IncidentId(1),
                reason: "no playbook matches".into(),
            },
        );
        state
    }

    fn proposed(queued: bool) -> EventKind {
        EventKind::AnalystProposed {
            incident_id: IncidentId(1),
            model: "m".into(),
            decision: AnalystDecision::Remediate,
            playbook: Some("billing-queue".into()),
            step: Some("flush".into()),
            confidence: 0.4,
            reason: "stuck queue".into(),
            action: Some("touch /x".into()),
            queued,
        }
    }

    #[test]
    fn a_queued_proposal_is_the_incidents_pending_approval_until_the_planner_decides_again() {
        let mut state = escalated();
        fold(&mut state, proposed(true));
        let inc = &state.incidents[&IncidentId(1)];
        assert_eq!(inc.status, Status::AwaitingApproval);
        assert_eq!(
            (inc.step.as_deref(), inc.proposed_by.as_deref()),
            (Some("flush"), Some("m"))
        );
        assert_eq!(inc.reason, "AI analyst m proposes it: stuck queue");
        fold(
            &mut state,
            EventKind::IncidentAnalyzed {
                incident_id: IncidentId(1),
                playbook: Some("other".into()),
                step: Some("restart".into()),
                confidence: 0.9,
                decision: Decision::ApprovalRequired,
                reason: "cooldown".into(),
                action: None,
                critical: false,
            },
        );
        assert_eq!(state.incidents[&IncidentId(1)].proposed_by, None);
        assert_eq!(state.analyst["m"].proposed, 1);
    }

    #[test]
    fn an_unqueued_proposal_is_shown_and_changes_nothing() {
        let mut state = escalated();
        fold(&mut state, proposed(false));
        let inc = &state.incidents[&IncidentId(1)];
        assert_eq!(inc.status, Status::Escalated);
        assert_eq!(
            (inc.step.as_deref(), inc.proposed_by.as_deref()),
            (None, None)
        );
        assert!(
            inc.analysis
                .as_ref()
                .is_some_and(|a| a.reason == "stuck queue")
        );
    }

    #[test]
    fn an_approval_from_before_the_analyst_still_reads() {
        let old = r#"{"seq":3,"ts":"2026-11-23T13:02:11.482Z","kind":"approval_granted","incident_id":2,"by":"alice"}"#;
        let event: Event = serde_json::from_str(old).unwrap();
        let EventKind::ApprovalGranted { analyst, .. } = &event.kind else {
            panic!("{event:?}")
        };
        assert_eq!(*analyst, None);
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            old,
            "written as before"
        );
    }
}
