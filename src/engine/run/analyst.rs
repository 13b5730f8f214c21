//! The AI analyst from the engine's side: when to ask (an escalation, or an
//! incident no playbook matched; once per incident and reason), what to send,
//! and what an answer may change: a proposed step becomes the incident's
//! pending approval, nothing more. Questions run in tasks of their own, so the
//! engine loop never waits on a model.

use std::sync::Arc;

use super::{Internal, Runner};
use crate::analyst::{self, Brief, Candidate, MAX_CANDIDATES, MAX_EVENTS, Proposal, Question};
use crate::engine::now_ms;
use crate::event::{AnalystDecision, EventKind, IncidentId};
use crate::state::{Incident, Status};

impl Runner {
    /// The planner escalated `id` (`why`), or watches it because no playbook
    /// matched: asks the analyst, if one is configured and nothing holds the
    /// target (no incident data leaves the machine for a silenced, paused,
    /// maintained or dry-run target).
    pub(super) fn consult_analyst(&mut self, id: IncidentId, idx: usize, why: &str) {
        let Some(analyst) = self.analyst.clone() else {
            return;
        };
        let Some(inc) = self.open_copy(id) else {
            return;
        };
        if self.stopping.is_some() || self.held_from_analyst(&inc.target).is_some() {
            return;
        }
        if self.consulted.get(&id).is_some_and(|asked| asked == why) {
            return;
        }
        {
            // Forget incidents that are over, so the map stays as small as the open ones.
            let state = self.state.read();
            self.consulted
                .retain(|i, _| state.incidents.get(i).is_some_and(|i| i.status.is_open()));
        }
        self.consulted.insert(id, why.to_string());
        let question = self.question(&inc, idx, why);
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            // A task of its own: even a panic in it comes back as an answer.
            let asked = tokio::spawn(async move { analyst.ask(&question).await });
            let result = asked
                .await
                .unwrap_or_else(|e| Err(format!("the analyst failed inside autoheal: {e}")));
            let _ = tx.send(Internal::Analyst {
                incident: id,
                result,
            });
        });
    }

    /// Why nothing about `target` may go to the analyst now, if something holds it.
    fn held_from_analyst(&self, target: &str) -> Option<&'static str> {
        let state = self.state.read();
        if state.dry_run {
            Some("dry run")
        } else if state.paused {
            Some("automation paused")
        } else if state.is_silenced(target, now_ms()) {
            Some("silenced")
        } else if state.maintenance_of(target).is_some() {
            Some("maintenance")
        } else {
            None
        }
    }

    /// The incident in short form, and every step of a playbook whose targets
    /// and labels take in the incident's target (whatever its signature), not
    /// yet tried in this incident.
    fn question(&self, inc: &Incident, idx: usize, why: &str) -> Question {
        let labels = self.targets[idx].labels.clone();
        let detail = {
            let state = self.state.read();
            state
                .targets
                .get(&inc.target)
                .map(|t| t.detail.clone())
                .unwrap_or_default()
        };
        let skip = inc.timeline.len().saturating_sub(MAX_EVENTS);
        let events = inc.timeline[skip..]
            .iter()
            .map(analyst::short_event)
            .collect();
        let mut candidates = Vec::new();
        for name in self.settings.playbooks.names() {
            let Some(book) = self.settings.playbooks.get(&name) else {
                continue;
            };
            let m = &book.matcher;
            let applies = (m.targets.is_empty()
                || m.targets.iter().any(|g| g.matches(&inc.target)))
                && m.labels.iter().all(|(k, v)| labels.get(k) == Some(v));
            if !applies {
                continue;
            }
            for (i, step) in book.steps.iter().enumerate() {
                if inc.tried_steps.contains(&step.name) {
                    continue;
                }
                // A step that would be refused is no choice.
                let Ok(ready) =
                    crate::action::prepare(&step.action, &self.vars(inc.id, idx, book, i))
                else {
                    continue;
                };
                let confidence = self.state.read().effective_confidence(
                    &book.name,
                    &step.name,
                    book.confidence,
                    self.settings.policy.learning_prior,
                );
                candidates.push(Candidate::new(
                    &book.name,
                    &step.name,
                    ready.describe(),
                    confidence,
                ));
            }
        }
        candidates.truncate(MAX_CANDIDATES);
        Question {
            incident: Brief {
                target: inc.target.clone(),
                signature: inc.signature.clone(),
                severity: inc.severity,
                status: inc.status.label().to_string(),
                why: why.to_string(),
                detail,
                text: inc.text.clone(),
                labels,
                events,
            },
            candidates,
        }
    }

    /// The analyst's answer about `id`: journaled whatever it says; a proposed
    /// step is queued for approval only while the incident still waits where
    /// it was asked about (escalated, or watched) and nothing holds its target.
    pub(super) fn analyst_answered(&mut self, id: IncidentId, result: Result<Proposal, String>) {
        let Some(model) = self.analyst.as_ref().map(|a| a.model().to_string()) else {
            return;
        };
        let Some(inc) = self.state.read().incidents.get(&id).cloned() else {
            return;
        };
        let proposal = match result {
            Ok(proposal) => proposal,
            Err(error) => {
                return self.emit(EventKind::AnalystFailed {
                    incident_id: id,
                    model,
                    error,
                });
            }
        };
        let waiting = inc.status.is_open()
            && matches!(inc.status, Status::Escalated | Status::Monitoring)
            && self.stopping.is_none()
            && self.held_from_analyst(&inc.target).is_none();
        let step = proposal
            .step
            .as_ref()
            .filter(|_| proposal.decision == AnalystDecision::Remediate);
        let action = step.and_then(|c| self.preview_candidate(&inc, c));
        let queued =
            waiting && action.is_some() && step.is_some_and(|c| !inc.tried_steps.contains(&c.step));
        self.emit(EventKind::AnalystProposed {
            incident_id: id,
            model,
            decision: proposal.decision,
            playbook: step.map(|c| c.playbook.clone()),
            step: step.map(|c| c.step.clone()),
            confidence: proposal.confidence,
            reason: proposal.reason,
            action,
            queued,
        });
    }

    /// What candidate `c` would run on `inc` now, if it still exists and would run.
    fn preview_candidate(&self, inc: &Incident, c: &Candidate) -> Option<String> {
        let idx = *self.by_name.get(&inc.target)?;
        let book = self.settings.playbooks.get(&c.playbook)?;
        let i = book.steps.iter().position(|s| s.name == c.step)?;
        let vars = self.vars(inc.id, idx, book, i);
        crate::action::prepare(&book.steps[i].action, &vars)
            .ok()
            .map(|ready| ready.describe())
    }
}

/// The analyst a config asks for, if any.
pub fn from_config(config: Option<&crate::config::AnalystConfig>) -> Option<Arc<analyst::Analyst>> {
    config.map(|c| Arc::new(analyst::Analyst::new(c)))
}
