//! Commands from operators: approvals, chaos, pause, silences, shutdown.

use std::time::Duration;

use jiff::Timestamp;

use super::{Internal, Reported, Runner};
use crate::clock;
use crate::config::ProbeSpec;
use crate::engine::now_ms;
use crate::event::{Command, Decision, Declined, EventKind, IncidentId, Opened, Severity};
use crate::monitor::Observation;
use crate::playbook;
use crate::state::{Incident, Status};
use std::collections::BTreeMap;

impl Runner {
    pub(super) fn on_command(&mut self, command: Command) {
        if let Command::Ask { command, reply } = command {
            let answer = self.applies(&command).map(|()| self.carry_out(*command));
            return reply.send(answer);
        }
        // Checked here too: a console's keys, or a command that raced another.
        if let Err(why) = self.applies(&command) {
            return tracing::warn!("command refused: {why}");
        }
        self.carry_out(command);
    }

    /// Does what `command` says; a report answers with the incident it opened or joined.
    fn carry_out(&mut self, command: Command) -> Option<Opened> {
        let Command::Ingest {
            source,
            target,
            text,
            severity,
            detail,
            labels,
            firing,
            trace_id,
            started_at,
        } = command
        else {
            self.operate(command);
            return None;
        };
        // Only a firing report brings in an undeclared service: a resolved one closes nothing.
        let known = self.by_name.get(&target).copied();
        let adopted = || firing.then(|| self.adopt(&source, &target)).flatten();
        let Some(idx) = known.or_else(adopted) else {
            tracing::warn!("{source}: no target named {target}");
            return None;
        };
        if !firing {
            return self.ingest_resolved(idx, &source, &text);
        }
        let report = Report {
            source,
            text,
            severity,
            detail,
            labels,
            trace_id,
            started_at,
        };
        self.ingest_firing(idx, report)
    }

    fn operate(&mut self, command: Command) {
        match command {
            Command::Ask { .. } | Command::Ingest { .. } => {}
            Command::Approve { incident_id, by } => {
                let (step, analyst) = {
                    let state = self.state.read();
                    let inc = &state.incidents[&incident_id];
                    (self.step_index(inc), inc.proposed_by.clone())
                };
                self.emit(EventKind::ApprovalGranted {
                    incident_id,
                    by,
                    analyst,
                });
                if let Some(step) = step {
                    if self.state.read().dry_run {
                        let reason = "dry run: approved, but nothing is executed".to_string();
                        let analyzed = {
                            let inc = &self.state.read().incidents[&incident_id];
                            EventKind::IncidentAnalyzed {
                                incident_id,
                                playbook: inc.playbook.clone(),
                                step: inc.step.clone(),
                                confidence: inc.confidence,
                                decision: Decision::Suppressed,
                                reason,
                                action: inc.action.clone(),
                                critical: inc.critical,
                            }
                        };
                        self.emit(analyzed);
                    } else {
                        self.start_step(incident_id, step, 1);
                    }
                }
            }
            Command::Reject { incident_id, by } => {
                self.emit(EventKind::ApprovalRejected { incident_id, by });
            }
            Command::Retry {
                incident_id,
                step,
                by,
            } => {
                self.forget_pending(incident_id);
                // A retry is a new decision: the analyst may be asked again.
                self.consulted.remove(&incident_id);
                self.emit(EventKind::IncidentRetried {
                    incident_id,
                    step,
                    by,
                });
                self.plan(incident_id);
            }
            Command::Acknowledge { incident_id, by } => {
                self.emit(EventKind::IncidentAcknowledged { incident_id, by });
            }
            Command::Close {
                incident_id,
                note,
                by,
            } => {
                self.forget_pending(incident_id);
                self.emit(EventKind::IncidentClosed {
                    incident_id,
                    note,
                    by,
                });
                // Fixed by hand, perhaps: its symptoms get their chance to recover.
                self.root_resolved(incident_id);
            }
            Command::InjectChaos { target, fault } => self.inject(&target, fault),
            Command::Pause { by } if !self.state.read().paused => {
                self.emit(EventKind::AutomationPaused { by })
            }
            Command::Resume { by } if self.state.read().paused => {
                self.emit(EventKind::AutomationResumed { by });
                self.replan_suppressed(|_| true);
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
                    .read()
                    .targets
                    .get(&target)
                    .is_some_and(|t| t.silenced_until.is_some())
                {
                    self.emit(EventKind::TargetUnsilenced {
                        target: target.clone(),
                        by,
                    });
                    self.replan_suppressed(|t| t == target);
                }
            }
            Command::Shutdown { reason } => self.stop(reason),
            Command::Register(registration) => self.register(registration),
            Command::Deregister { target, by } => self.deregister(target, by),
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

    /// Whether `command` applies to the state as it is now, and if not, why.
    /// Only commands about one incident, and registrations, can be declined;
    /// the others apply always.
    pub(super) fn applies(&self, command: &Command) -> Result<(), Declined> {
        if let Some(answer) = self.registration_applies(command) {
            return answer;
        }
        // A forecast's signature is autoheal's own: a fix for one always waits
        // for a human, which a report naming one would get around.
        if let Command::Ingest { target, text, .. } = command {
            let signature = match self.by_name.get(target) {
                Some(&idx) => self.signature_of(idx, text),
                None => playbook::as_signature(text),
            };
            if signature.starts_with(playbook::PREDICTED) {
                return Err(Declined::Conflict(format!(
                    "{signature}: signatures starting {} are autoheal's own predictions",
                    playbook::PREDICTED
                )));
            }
        }
        let (id, wanted) = match command {
            Command::Approve { incident_id, .. } | Command::Reject { incident_id, .. } => {
                (incident_id, "awaiting approval")
            }
            Command::Retry { incident_id, .. } => (incident_id, "escalated or rejected"),
            Command::Acknowledge { incident_id, .. } | Command::Close { incident_id, .. } => {
                (incident_id, "open")
            }
            _ => return Ok(()),
        };
        let conflict = |why: String| Err(Declined::Conflict(format!("incident {id} {why}")));
        if let Some(why) = self.not_leading()
            && matches!(
                command,
                Command::Approve { .. }
                    | Command::Reject { .. }
                    | Command::Retry { .. }
                    // Incident numbers are each replica's own: #3 here may not be #3 there.
                    | Command::Acknowledge { .. }
                    | Command::Close { .. }
            )
        {
            return Err(Declined::Conflict(why));
        }
        let state = self.state.read();
        let Some(inc) = state.incidents.get(id) else {
            // Left memory: it closed long ago (see `State::archived`).
            if state.archived.get(*id).is_some() {
                return conflict(format!("closed long ago, not {wanted}"));
            }
            return Err(Declined::NotFound(format!("no incident {id}")));
        };
        let fits = match command {
            Command::Approve { .. } | Command::Reject { .. } => {
                inc.status == Status::AwaitingApproval
            }
            Command::Retry { .. } => inc.status.can_retry(),
            _ => inc.status.is_open(),
        };
        if !fits {
            let status = inc.status.label();
            return conflict(format!("is {status}, not {wanted}"));
        }
        match command {
            Command::Retry {
                step: Some(step), ..
            } => match self.retry_playbook(inc) {
                None => conflict(format!("has no playbook, so no step {step} to retry from")),
                Some(p) if !p.steps.iter().any(|s| &s.name == step) => {
                    let steps: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
                    conflict(format!(
                        "has no step {step} in playbook {} (steps: {})",
                        p.name,
                        steps.join(", ")
                    ))
                }
                Some(_) => Ok(()),
            },
            Command::Acknowledge { by, .. } if inc.acknowledged_by.as_ref() == Some(by) => {
                conflict(format!("is already acknowledged by {by}"))
            }
            _ => Ok(()),
        }
    }

    /// A human took the incident over (retry, close): a verification or a
    /// resumption still pending for it no longer applies.
    fn forget_pending(&mut self, id: IncidentId) {
        self.verifying.remove(&id);
        self.resume.remove(&id);
    }

    /// The playbook a retry would follow: the incident's own, or the one that matches now.
    fn retry_playbook(&self, inc: &Incident) -> Option<&crate::playbook::Playbook> {
        match &inc.playbook {
            Some(name) => self.settings.playbooks.get(name),
            None => self.find_playbook(*self.by_name.get(&inc.target)?, &inc.signature),
        }
    }

    /// After a resume, an unsilence or a maintenance window, incidents held
    /// back (on the targets `of` accepts) get a fresh decision.
    pub(super) fn replan_suppressed(&mut self, of: impl Fn(&str) -> bool) {
        let held: Vec<IncidentId> = self
            .state
            .read()
            .open_incidents()
            .filter(|i| i.status == Status::Suppressed && of(&i.target))
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
        self.targets[idx].chaos = Some((sent_at, None));
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
    fn ingest_firing(&mut self, idx: usize, report: Report) -> Option<Opened> {
        let Report {
            source,
            text,
            severity,
            detail,
            labels,
            trace_id,
            started_at,
        } = report;
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
        let signature = self.signature_of(idx, &text);
        let said = if detail.is_empty() { &text } else { &detail };
        let obs = Observation {
            healthy: false,
            signature: Some(signature.clone()),
            detail: format!("{source}: {said}"),
            ..Default::default()
        };
        self.targets[idx].last = obs.clone();
        let passive = matches!(self.settings.targets[idx].probe, ProbeSpec::Passive(_));
        if let Some(open) = self.opened(idx, &signature)
            && passive
            && self.reported_again(open.incident_id, &source)
        {
            return Some(open);
        }
        // A fault cannot begin later than it is reported.
        let now = now_ms();
        let since = started_at.filter(|t| *t <= now).unwrap_or(now);
        let reported = Reported {
            by: source,
            trace_id,
            text: (text != signature).then_some(text),
        };
        self.on_failing(idx, &obs, since, severity, Some(reported));
        self.opened(idx, &signature)
    }

    /// The signature a report is about: what a playbook for this target
    /// recognises its words as (`match.text`), else the words made a name.
    pub(super) fn signature_of(&self, idx: usize, text: &str) -> String {
        let signal = self.signal(idx, text);
        match self.settings.playbooks.recognise(&signal, text) {
            Some(signature) => signature.to_string(),
            None => playbook::as_signature(text),
        }
    }

    /// The open incident of `idx` with `signature`, as its reporter is told.
    fn opened(&self, idx: usize, signature: &str) -> Option<Opened> {
        let name = &self.settings.targets[idx].name;
        let state = self.state.read();
        let inc = state.open_incident(name, signature)?;
        Some(Opened {
            incident_id: inc.id,
            trace_id: inc.trace_id.clone(),
        })
    }

    /// The tool says it is over: the incident resolves; for a target nobody
    /// probes, that is also the verification of the fix that ran.
    fn ingest_resolved(&mut self, idx: usize, source: &str, text: &str) -> Option<Opened> {
        let signature = self.signature_of(idx, text);
        let opened = self.opened(idx, &signature)?;
        // The alert is over, and so is what it said: its labels choose no later playbook.
        self.targets[idx].labels = self.settings.targets[idx].labels.clone();
        let name = self.settings.targets[idx].name.clone();
        let id = opened.incident_id;
        let verifying = {
            let inc = &self.state.read().incidents[&id];
            (inc.status, inc.playbook.clone(), inc.step.clone())
        };
        if let (Status::Verifying, Some(playbook), Some(step)) = verifying {
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
        if self.state.read().open_incidents_of(&name).next().is_none()
            && self
                .state
                .read()
                .targets
                .get(&name)
                .is_some_and(|t| t.failing)
        {
            self.emit(EventKind::ProbeRecovered { target: name });
        }
        Some(opened)
    }
}

/// A report from another tool, as the engine takes it (see `Command::Ingest`).
struct Report {
    source: String,
    text: String,
    severity: Option<Severity>,
    detail: String,
    labels: BTreeMap<String, String>,
    trace_id: Option<String>,
    started_at: Option<Timestamp>,
}
