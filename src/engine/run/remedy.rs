//! Planning, running and verifying fixes: from a decision to a resolved (or escalated) incident.

use std::time::Duration;
use tokio::time::Instant;

use super::replica::Replicated;
use super::{Internal, Runner, VERIFY_FIRST_DELAY, VERIFY_MAX_DELAY, Verify};
use crate::action::{self, ActionOutcome, vars::Vars};
use crate::clock;
use crate::config::ProbeSpec;
use crate::engine::{Claim, Context, Fix, Plan, decide, now_ms};
use crate::event::{Decision, EventKind, IncidentId};
use crate::monitor::Observation;
use crate::playbook::Playbook;
use crate::state::{Incident, Status};

impl Runner {
    /// Decides the next move for an open incident and makes it.
    pub(super) fn plan(&mut self, id: IncidentId) {
        if !self.may_act() {
            // A follower journals what it sees; planned when it leads.
            return self.stall(id);
        }
        let Some(inc) = self.open_copy(id) else {
            return;
        };
        let Some(&idx) = self.by_name.get(&inc.target) else {
            let reason = format!("target {} is no longer configured", inc.target);
            return self.emit(EventKind::IncidentEscalated {
                incident_id: id,
                reason,
            });
        };
        // An incident keeps the playbook it was first analyzed with; one the
        // analyst chose is never carried on by automation.
        let playbook = match &inc.playbook {
            Some(name) if inc.proposed_by.is_none() => self.settings.playbooks.get(name),
            _ => self.find_playbook(idx, &inc.signature),
        };
        let plan = decide(
            &Context {
                state: &self.state.read(),
                policy: &self.settings.policy,
                target: &self.settings.targets[idx],
                now: now_ms(),
            },
            &inc,
            playbook,
        );
        let (book, stated) = (
            playbook.map(|p| p.name.clone()),
            playbook.map_or(0.0, |p| p.confidence),
        );
        let critical = self.settings.targets[idx].critical;
        match plan {
            Plan::Escalate { reason } => {
                self.emit(EventKind::IncidentEscalated {
                    incident_id: id,
                    reason: reason.clone(),
                });
                self.consult_analyst(id, idx, &reason);
            }
            Plan::Monitor { reason } => {
                let unmatched = book.is_none();
                self.emit(EventKind::IncidentAnalyzed {
                    incident_id: id,
                    playbook: book,
                    step: None,
                    confidence: stated,
                    decision: Decision::Monitor,
                    reason: reason.clone(),
                    action: None,
                    critical,
                });
                if unmatched {
                    self.consult_analyst(id, idx, &reason);
                }
            }
            Plan::Step {
                step,
                confidence,
                decision,
                reason,
                delay,
            } => {
                let step_name = playbook.map(|p| p.steps[step].name.clone());
                let action = playbook.map(|p| self.preview(id, idx, p, step));
                self.emit(EventKind::IncidentAnalyzed {
                    incident_id: id,
                    playbook: book,
                    step: step_name,
                    confidence,
                    decision,
                    reason,
                    action,
                    critical,
                });
                if decision == Decision::Auto {
                    if delay.is_zero() {
                        self.start_step(id, step, 1);
                    } else {
                        self.after(
                            delay,
                            Internal::StartStep {
                                incident: id,
                                step,
                                attempt: 1,
                            },
                        );
                    }
                }
            }
        }
    }

    /// A start decided earlier (after a backoff, a retry's wait, or a crash):
    /// a pause or silence that came since holds it, as it holds any plan. The
    /// held incident is re-planned on resume or unsilence.
    pub(super) fn start_scheduled(&mut self, id: IncidentId, step: usize, attempt: u32) {
        if !self.held(id, attempt) {
            self.start_step(id, step, attempt);
        }
    }

    /// Whether a pause or silence that came since the decision holds the step
    /// of `id` being remediated (journaled as suppressed), or it is gone.
    fn held(&mut self, id: IncidentId, attempt: u32) -> bool {
        let Some(inc) = self
            .state
            .read()
            .incidents
            .get(&id)
            .filter(|i| i.status == Status::Remediating)
            .cloned()
        else {
            return true;
        };
        let why = {
            let state = self.state.read();
            match state.targets.get(&inc.target) {
                _ if state.paused => Some("automation paused".to_string()),
                Some(t) if state.is_silenced(&inc.target, now_ms()) => {
                    let until = t.silenced_until.unwrap_or_default();
                    Some(format!("{} is silenced until {until:.0}", inc.target))
                }
                _ => None,
            }
        };
        let Some(why) = why else {
            return false;
        };
        let step_name = inc.step.clone().unwrap_or_default();
        let held = EventKind::IncidentAnalyzed {
            incident_id: id,
            playbook: inc.playbook.clone(),
            step: inc.step.clone(),
            confidence: inc.confidence,
            decision: Decision::Suppressed,
            reason: format!("{why}: would run {step_name} (attempt {attempt})"),
            action: inc.action.clone(),
            critical: inc.critical,
        };
        self.emit(held);
        true
    }

    pub(super) fn start_step(&mut self, id: IncidentId, step: usize, attempt: u32) {
        if self.stopping.is_some() || self.state.read().dry_run {
            return;
        }
        let Some((inc, playbook, _)) = self.remediating_step(id) else {
            return;
        };
        if playbook.steps.get(step).is_none() {
            return;
        }
        // A replica claims the fix in etcd first (see `crate::ha`): the claim's
        // answer comes back as `Internal::Claimed`.
        if let Some(replica) = &mut self.replica {
            let Some(term) = replica.term() else {
                return self.stall(id);
            };
            if !replica.claiming.insert(id) {
                return; // its claim is on its way already
            }
            let fix = fix_of(&inc, &playbook, step, attempt);
            let (claim, tx) = (replica.fence.claim(term, fix), self.internal_tx.clone());
            tokio::spawn(async move {
                let claim = claim.await;
                let _ = tx.send(Internal::Claimed {
                    incident: id,
                    step,
                    attempt,
                    term,
                    claim,
                });
            });
            return;
        }
        self.run_step(id, step, attempt, None);
    }

    /// The incident `id` while it is being remediated, its playbook and its target's slot.
    fn remediating_step(&self, id: IncidentId) -> Option<(Incident, Playbook, usize)> {
        let inc = self
            .state
            .read()
            .incidents
            .get(&id)
            .filter(|i| i.status == Status::Remediating)
            .cloned()?;
        let playbook = self
            .settings
            .playbooks
            .get(inc.playbook.as_deref()?)?
            .clone();
        let idx = *self.by_name.get(&inc.target)?;
        Some((inc, playbook, idx))
    }

    /// What etcd said about a step this leader claimed.
    pub(super) fn claimed(
        &mut self,
        id: IncidentId,
        step: usize,
        attempt: u32,
        term: u64,
        claim: Claim,
    ) {
        if let Some(r) = &mut self.replica {
            r.claiming.remove(&id);
        }
        let Some((inc, playbook, idx)) = self.remediating_step(id) else {
            return;
        };
        let step_name = (playbook.steps.get(step)).map_or_else(String::new, |s| s.name.clone());
        let now = self.replica.as_ref().and_then(Replicated::term);
        let why = match claim {
            // The claim took a moment: a stop, pause or silence may have come meanwhile.
            Claim::Granted if now == Some(term) => {
                if self.stopping.is_none() && !self.held(id, attempt) {
                    return self.run_step(id, step, attempt, Some(term));
                }
                return self.unclaim(&inc, &playbook, step, attempt);
            }
            Claim::Granted => {
                self.unclaim(&inc, &playbook, step, attempt);
                format!("term {term} ended while the claim was made")
            }
            Claim::Taken { by, term } => {
                self.emit(EventKind::ActionSkipped {
                    incident_id: id,
                    step: step_name,
                    attempt,
                    reason: format!(
                        "{by} already started it as leader in term {term}: verifying, not running it again"
                    ),
                    started_by: Some(by),
                });
                return self.verify_fix(id, idx);
            }
            Claim::Refused { why } => why,
        };
        self.emit(EventKind::ActionSkipped {
            incident_id: id,
            step: step_name,
            attempt,
            reason: format!("not run: {why}"),
            started_by: None,
        });
        match now {
            // Leading in a later term: claim it again under that one.
            Some(later) if later != term => self.plan(id),
            // Still this term, and etcd refused (full, say): again in a while,
            // not in a loop that floods the journal.
            Some(_) => self.after(
                CLAIM_AGAIN,
                Internal::StartStep {
                    incident: id,
                    step,
                    attempt,
                },
            ),
            None => self.stall(id),
        }
    }

    /// Withdraws a claim that was granted and not used.
    fn unclaim(&self, inc: &Incident, playbook: &Playbook, step: usize, attempt: u32) {
        if let Some(r) = &self.replica {
            tokio::spawn(r.fence.unclaim(fix_of(inc, playbook, step, attempt)));
        }
    }

    /// Runs attempt `attempt` of `step`, journaled with the leader's `term` if replicated.
    fn run_step(&mut self, id: IncidentId, step: usize, attempt: u32, term: Option<u64>) {
        let Some((_, playbook, idx)) = self.remediating_step(id) else {
            return;
        };
        let Some(spec) = playbook.steps.get(step) else {
            return;
        };
        let vars = self.vars(id, idx, &playbook, step);
        let action = match action::prepare(&spec.action, &vars) {
            Ok(action) => action,
            // Nothing ran, so the step's record is untouched: a human decides.
            Err(refusal) => {
                let reason = format!("step {} refused: {refusal}", spec.name);
                return self.emit(EventKind::IncidentEscalated {
                    incident_id: id,
                    reason,
                });
            }
        };
        let started = EventKind::ActionStarted {
            incident_id: id,
            playbook: playbook.name.clone(),
            step: spec.name.clone(),
            // The journal shows what really runs, values filled in.
            action: action.label(),
            attempt,
            term,
        };
        self.emit(started);
        self.in_flight += 1;
        let (tx, client) = (self.internal_tx.clone(), self.client.clone());
        tokio::spawn(async move {
            // In a task of its own, so that even a panic in it ends as an outcome
            // and the incident never waits forever for its action.
            let outcome = tokio::spawn(async move { action.run(&client).await })
                .await
                .unwrap_or_else(|e| ActionOutcome {
                    ok: false,
                    duration: Duration::ZERO,
                    output: format!("the action failed inside autoheal: {e}"),
                });
            let _ = tx.send(Internal::ActionDone {
                incident: id,
                step,
                attempt,
                outcome,
            });
        });
    }

    /// The values a step's templates are filled with: the operator's, and the
    /// signature, which any peer can set.
    pub(super) fn vars(
        &self,
        id: IncidentId,
        idx: usize,
        playbook: &Playbook,
        step: usize,
    ) -> Vars {
        let target = &self.settings.targets[idx];
        let mut vars = Vars::from(target.vars.clone());
        if let Some(inc) = self.state.read().incidents.get(&id) {
            vars.untrusted("signature", inc.signature.clone())
                .trusted("severity", inc.severity.to_string());
            // Made here or checked as 32 hex digits when it came in.
            if !inc.trace_id.is_empty() {
                vars.trusted("trace_id", inc.trace_id.clone());
            }
        }
        vars.trusted("incident_id", id.0.to_string())
            .trusted("target", target.name.clone())
            .trusted("playbook", playbook.name.clone())
            .trusted("step", playbook.steps[step].name.clone());
        vars
    }

    /// What `step` would run now, as an operator approving it reads it; or why
    /// it would be refused.
    fn preview(&self, id: IncidentId, idx: usize, playbook: &Playbook, step: usize) -> String {
        let Some(spec) = playbook.steps.get(step) else {
            return String::new();
        };
        match action::prepare(&spec.action, &self.vars(id, idx, playbook, step)) {
            Ok(ready) => ready.describe(),
            Err(refusal) => format!("refused: {refusal}"),
        }
    }

    pub(super) fn on_action_done(
        &mut self,
        id: IncidentId,
        step: usize,
        attempt: u32,
        outcome: ActionOutcome,
    ) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let Some(inc) = self.state.read().incidents.get(&id).cloned() else {
            return;
        };
        let Some(playbook) = inc
            .playbook
            .as_deref()
            .and_then(|p| self.settings.playbooks.get(p))
            .cloned()
        else {
            return;
        };
        let Some(&idx) = self.by_name.get(&inc.target) else {
            return;
        };
        let still_open = inc.status.is_open();
        let step_name = playbook.steps[step].name.clone();
        let action = inc
            .attempts
            .last()
            .map(|a| a.action.clone())
            .unwrap_or_default();
        self.emit(EventKind::ActionFinished {
            incident_id: id,
            playbook: playbook.name.clone(),
            step: step_name.clone(),
            action,
            attempt,
            ok: outcome.ok,
            duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
            output: outcome.output.clone(),
        });
        if self.stopping.is_some() || !still_open {
            return;
        }
        if outcome.ok {
            self.verify_fix(id, idx);
        } else {
            let detail = format!("action failed: {}", first_line(&outcome.output));
            self.after_failed_attempt(id, &playbook, step, attempt, detail);
        }
    }

    /// A fix ran: probe the target until it is healthy (or `verify_within`
    /// passes); a passive target waits for its reporter.
    fn verify_fix(&mut self, id: IncidentId, idx: usize) {
        if matches!(self.settings.targets[idx].probe, ProbeSpec::Passive(_)) {
            return self.await_silence(id, idx);
        }
        let now = Instant::now();
        self.verifying.insert(
            id,
            Verify {
                target: idx,
                since: now,
                deadline: clock::deadline(now, self.settings.policy.verify_within),
                good: 0,
                delay: VERIFY_FIRST_DELAY,
            },
        );
        self.kick(idx);
    }

    /// An attempt at `step` did not fix it: the playbook's `retries` (with
    /// backoff), then the step counts as failed and the incident is planned
    /// afresh: its next step, or a human.
    pub(super) fn after_failed_attempt(
        &mut self,
        id: IncidentId,
        playbook: &Playbook,
        step: usize,
        attempt: u32,
        detail: String,
    ) {
        if attempt <= playbook.retries {
            let exp = attempt.saturating_sub(1).min(8);
            let base = Duration::from_secs(1).saturating_mul(1 << exp);
            let delay = base.min(self.settings.policy.backoff_max);
            self.after(
                delay,
                Internal::StartStep {
                    incident: id,
                    step,
                    attempt: attempt.saturating_add(1),
                },
            );
            return;
        }
        let Some(spec) = playbook.steps.get(step) else {
            return self.plan(id);
        };
        self.emit(EventKind::StepFinished {
            incident_id: id,
            playbook: playbook.name.clone(),
            step: spec.name.clone(),
            ok: false,
            detail,
        });
        self.plan(id);
    }

    pub(super) fn verify(&mut self, id: IncidentId, obs: &Observation) {
        let Some(v) = self.verifying.get_mut(&id) else {
            return;
        };
        let target = &self.settings.targets[v.target];
        let finished = if obs.healthy {
            v.good = v.good.saturating_add(1);
            if v.good < target.success_threshold {
                self.schedule.kick_after(v.target, Duration::ZERO);
                return;
            }
            (true, "healthy again".to_string())
        } else if Instant::now() < v.deadline {
            v.good = 0;
            let delay = v.delay;
            v.delay = v.delay.saturating_mul(2).min(VERIFY_MAX_DELAY);
            self.schedule.kick_after(v.target, delay);
            return;
        } else {
            let within = self.settings.policy.verify_within.as_secs_f64();
            let sig = obs.signature.as_deref().unwrap_or("UNHEALTHY");
            (
                false,
                format!(
                    "still failing {within:.0}s after the fix: {sig} {}",
                    obs.detail
                ),
            )
        };
        let (ok, detail) = finished;
        self.verified(id, ok, detail);
    }

    /// Nothing to probe on a passive target: the tool that reported it says when
    /// it is over (`resolved`), and the fix verifies then. Alertmanager always
    /// will; a one-shot reporter (`POST /incident`) never does, so its silence
    /// counts: no new report within `verify_within` verifies the fix, and a new
    /// one fails it ([`Runner::reported_again`]).
    pub(super) fn await_silence(&mut self, id: IncidentId, idx: usize) {
        let says_resolved = self
            .state
            .read()
            .incidents
            .get(&id)
            .is_some_and(|i| i.reported_by.as_deref() == Some("alertmanager"));
        if says_resolved {
            return;
        }
        let (now, within) = (Instant::now(), self.settings.policy.verify_within);
        self.verifying.insert(
            id,
            Verify {
                target: idx,
                since: now,
                deadline: clock::deadline(now, within),
                good: 0,
                delay: within,
            },
        );
        self.after(within, Internal::Silent { incident: id });
    }

    /// `verify_within` after a fix on a passive target: no new report came.
    pub(super) fn silent(&mut self, id: IncidentId) {
        // A later fix of the same incident waits for its own silence.
        if self
            .verifying
            .get(&id)
            .is_some_and(|v| v.deadline <= Instant::now())
        {
            let within = self.settings.policy.verify_within.as_secs_f64();
            self.verified(
                id,
                true,
                format!("no new report within {within:.0}s of the fix"),
            );
        }
    }

    /// The same failure reported again while its fix awaits silence: that fix did not work.
    pub(super) fn reported_again(&mut self, id: IncidentId, source: &str) -> bool {
        if !self.verifying.contains_key(&id) {
            return false;
        }
        self.verified(
            id,
            false,
            format!("{source} reported it again after the fix"),
        );
        true
    }

    /// Ends the verification of `id`'s step: resolved, or planned afresh.
    fn verified(&mut self, id: IncidentId, ok: bool, detail: String) {
        self.verifying.remove(&id);
        let Some(inc) = self.state.read().incidents.get(&id).cloned() else {
            return;
        };
        let (Some(playbook), Some(step)) = (inc.playbook.clone(), inc.step.clone()) else {
            return;
        };
        self.emit(EventKind::StepFinished {
            incident_id: id,
            playbook,
            step,
            ok,
            detail,
        });
        if ok {
            self.resolve(id);
        } else {
            self.plan(id);
        }
    }
}

/// How long a leader waits before it claims a step etcd refused again.
const CLAIM_AGAIN: Duration = Duration::from_secs(5);

/// The fix replicas know attempt `attempt` of `step` of `inc` by.
fn fix_of(inc: &Incident, playbook: &Playbook, step: usize, attempt: u32) -> Fix {
    Fix {
        target: inc.target.clone(),
        playbook: playbook.name.clone(),
        step: (playbook.steps.get(step)).map_or_else(String::new, |s| s.name.clone()),
        retries: inc.retries,
        attempt,
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
