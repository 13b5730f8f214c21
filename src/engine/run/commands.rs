//! Commands from operators: approvals, chaos, pause, silences, shutdown.

use std::time::Duration;

use super::{Internal, Runner};
use crate::clock;
use crate::engine::now_ms;
use crate::event::{Command, Decision, EventKind, IncidentId, Severity};
use crate::monitor::Observation;
use crate::state::{Incident, Status};
use std::collections::BTreeMap;

impl Runner {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Approve { incident_id, by } => {
                let Some(inc) = self.awaiting(incident_id) else {
                    return;
                };
                let step = self.step_index(inc);
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
                // However long: an enormous silence lasts until the end of time.
                let until = clock::saturating_add(now_ms(), duration);
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
            Command::Ingest {
                source,
                target,
                signature,
                severity,
                detail,
                labels,
                firing,
            } => {
                let Some(&idx) = self.by_name.get(&target) else {
                    return tracing::warn!("{source}: no target named {target}");
                };
                if firing {
                    self.ingest_firing(idx, &source, signature, severity, detail, labels);
                } else {
                    self.ingest_resolved(idx, &source, &signature);
                }
            }
            Command::RecordNotificationFailure {
                url,
                incident_id,
                error,
            } => self.emit(EventKind::NotificationFailed {
                url,
                incident_id,
                error,
            }),
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

    /// Another tool reports a failure: the same path as a failing probe, so
    /// dedup (one open incident per target and signature), grace and policy apply.
    fn ingest_firing(
        &mut self,
        idx: usize,
        source: &str,
        signature: String,
        severity: Option<Severity>,
        detail: String,
        labels: BTreeMap<String, String>,
    ) {
        // A peer's labels are data: the reserved `autoheal.*` keys (which opt a
        // target into playbooks) are the operator's alone, and the operator's
        // labels win over a reporting tool's.
        let (reserved, labels): (BTreeMap<_, _>, _) = labels.into_iter().partition(|(key, _)| {
            key.get(..9)
                .is_some_and(|p| p.eq_ignore_ascii_case("autoheal."))
        });
        if !reserved.is_empty() {
            tracing::debug!("{source}: ignored reserved labels {reserved:?}");
        }
        let runtime = &mut self.targets[idx];
        runtime.labels = labels;
        runtime
            .labels
            .extend(self.settings.targets[idx].labels.clone());
        let obs = Observation {
            healthy: false,
            signature: Some(signature),
            detail: format!("{source}: {detail}"),
            ..Default::default()
        };
        runtime.last = obs.clone();
        self.on_failing(idx, &obs, now_ms(), severity);
    }

    /// The tool says it is over: the incident resolves; for a target nobody
    /// probes, that is also the verification of the fix that ran.
    fn ingest_resolved(&mut self, idx: usize, source: &str, signature: &str) {
        // The alert is over, and so is what it said: its labels choose no later playbook.
        self.targets[idx].labels = self.settings.targets[idx].labels.clone();
        let name = self.settings.targets[idx].name.clone();
        let Some(inc) = self.state.open_incident(&name, signature) else {
            return;
        };
        let id = inc.id;
        if let (Status::Verifying, Some(playbook), Some(step)) =
            (inc.status, inc.playbook.clone(), inc.step.clone())
        {
            let detail = format!("{source} reports it resolved");
            self.emit(EventKind::StepFinished {
                incident_id: id,
                playbook,
                step,
                ok: true,
                detail,
            });
        }
        self.verifying.remove(&id);
        self.resolve(id);
        if self.state.open_incidents_of(&name).next().is_none()
            && self.state.targets.get(&name).is_some_and(|t| t.failing)
        {
            self.emit(EventKind::ProbeRecovered { target: name });
        }
    }
}
