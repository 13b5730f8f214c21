//! Commands from operators: approvals, chaos, pause, silences, shutdown.

use std::time::Duration;

use super::{Internal, Runner};
use crate::engine::now_ms;
use crate::event::{Command, Decision, EventKind, IncidentId};
use crate::state::{Incident, Status};

impl Runner {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Approve { incident_id, by } => {
                let Some(inc) = self.awaiting(incident_id) else {
                    return;
                };
                let step = inc
                    .playbook
                    .as_deref()
                    .and_then(|p| self.settings.playbooks.get(p))
                    .and_then(|p| {
                        p.steps
                            .iter()
                            .position(|s| Some(&s.name) == inc.step.as_ref())
                    });
                self.emit(EventKind::ApprovalGranted { incident_id, by });
                if let Some(step) = step {
                    if self.state.dry_run {
                        let reason = "dry run: approved, but nothing is executed".to_string();
                        let inc = &self.state.incidents[&incident_id];
                        self.emit(EventKind::IncidentAnalyzed {
                            incident_id,
                            playbook: inc.playbook.clone(),
                            step: inc.step.clone(),
                            confidence: inc.confidence,
                            decision: Decision::Suppressed,
                            reason,
                        });
                    } else {
                        self.start_step(incident_id, step, 1);
                    }
                }
            }
            Command::Reject { incident_id, by } => {
                if self.awaiting(incident_id).is_some() {
                    self.emit(EventKind::ApprovalRejected { incident_id, by });
                }
            }
            Command::InjectChaos { target, fault } => self.inject(&target, fault),
            Command::Pause { by } if !self.state.paused => {
                self.emit(EventKind::AutomationPaused { by })
            }
            Command::Resume { by } if self.state.paused => {
                self.emit(EventKind::AutomationResumed { by });
                self.replan_suppressed(None);
            }
            Command::Pause { .. } | Command::Resume { .. } => {}
            Command::Silence {
                target,
                duration,
                by,
            } => {
                if !self.by_name.contains_key(&target) {
                    return tracing::warn!("silence: no target named {target}");
                }
                let until = now_ms()
                    + jiff::SignedDuration::try_from(duration).unwrap_or(jiff::SignedDuration::MAX);
                self.emit(EventKind::TargetSilenced { target, until, by });
            }
            Command::Unsilence { target, by } => {
                if self
                    .state
                    .targets
                    .get(&target)
                    .is_some_and(|t| t.silenced_until.is_some())
                {
                    self.emit(EventKind::TargetUnsilenced {
                        target: target.clone(),
                        by,
                    });
                    self.replan_suppressed(Some(&target));
                }
            }
            Command::Shutdown { reason } => self.stop(reason),
        }
    }

    pub(super) fn awaiting(&self, id: IncidentId) -> Option<&Incident> {
        let inc = self
            .state
            .incidents
            .get(&id)
            .filter(|i| i.status == Status::AwaitingApproval);
        if inc.is_none() {
            tracing::warn!("incident {id} is not awaiting approval");
        }
        inc
    }

    /// After a resume or unsilence, incidents held back get a fresh decision.
    pub(super) fn replan_suppressed(&mut self, target: Option<&str>) {
        let held: Vec<IncidentId> = self
            .state
            .open_incidents()
            .filter(|i| i.status == Status::Suppressed && target.is_none_or(|t| i.target == t))
            .map(|i| i.id)
            .collect();
        for id in held {
            self.plan(id);
        }
    }

    pub(super) fn inject(&mut self, target: &str, fault: String) {
        let Some(&idx) = self.by_name.get(target) else {
            return tracing::warn!("chaos: no target named {target}");
        };
        let Some(chaos) = self.settings.targets[idx]
            .chaos
            .as_ref()
            .filter(|c| c.faults.contains(&fault))
        else {
            return tracing::warn!("chaos: {target} does not offer {fault}");
        };
        let url = format!("{}/{fault}", chaos.url.trim_end_matches('/'));
        let (tx, client, sent_at) = (self.internal_tx.clone(), self.client.clone(), now_ms());
        tokio::spawn(async move {
            let result = match client
                .post(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("{url} answered {}", r.status())),
                Err(e) => Err(format!("{url}: {e}")),
            };
            let _ = tx.send(Internal::ChaosDone {
                target: idx,
                fault,
                sent_at,
                result,
            });
        });
    }
}
