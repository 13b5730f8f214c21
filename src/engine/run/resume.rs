//! Restart after a crash: incidents a previous run left mid-remediation are
//! picked up again only once the first probe of their target says how it is.
//! A service a killed action was restarting may well be healthy by then, and
//! paging a human for it would be paging for nothing.

use tokio::time::Instant;

use super::{Runner, VERIFY_FIRST_DELAY, Verify};
use crate::clock;
use crate::config::ProbeSpec;
use crate::event::{EventKind, IncidentId};
use crate::monitor::Observation;
use crate::state::Status;

/// What an unfinished incident does at the first probe of its target if that
/// probe fails (a healthy one resolves it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Resume {
    /// Decide afresh: it was never analyzed, or its step never started.
    Plan,
    /// `attempt` at `step` (an index into its playbook) was cut off or had
    /// failed: retried by the playbook's `retries`, then its next step or a human.
    Retry { step: usize, attempt: u32 },
}

impl Runner {
    /// At start, after `engine_started`: journals the actions the previous run
    /// never saw finish and decides what each unfinished incident waits for.
    pub(super) fn resume_unfinished(&mut self) {
        let unfinished: Vec<IncidentId> = self
            .state
            .read()
            .open_incidents()
            .filter(|i| {
                matches!(
                    i.status,
                    Status::Detected | Status::Remediating | Status::Verifying
                )
            })
            .map(|i| i.id)
            .collect();
        for id in unfinished {
            let (status, target) = {
                let inc = &self.state.read().incidents[&id];
                (inc.status, inc.target.clone())
            };
            let probed = self
                .by_name
                .get(&target)
                .filter(|i| !matches!(self.settings.targets[**i].probe, ProbeSpec::Passive(_)))
                .copied();
            let resume = match status {
                Status::Verifying => {
                    // The action finished; its verification starts over. A passive
                    // target's waits for the reporter again (or its silence).
                    if probed.is_none()
                        && let Some(&idx) = self.by_name.get(&target)
                    {
                        self.await_silence(id, idx);
                    }
                    if let Some(target) = probed {
                        let now = Instant::now();
                        let deadline = clock::deadline(now, self.settings.policy.verify_within);
                        self.verifying.insert(
                            id,
                            Verify {
                                target,
                                since: now,
                                deadline,
                                good: 0,
                                delay: VERIFY_FIRST_DELAY,
                            },
                        );
                    }
                    continue;
                }
                Status::Remediating => self.interrupted(id),
                _ => Resume::Plan,
            };
            match probed {
                Some(target) => {
                    self.resume.insert(id, resume);
                    // Its first probe now, not after a random share of an interval.
                    self.kick(target);
                }
                // No probe will come: a passive target's last report still
                // stands (the tool never said it is over), so act on it now; an
                // incident of a target no longer configured is planned (escalated) now.
                None => {
                    let detail = match self.state.read().targets.get(&target) {
                        Some(t) if !t.detail.is_empty() => t.detail.clone(),
                        _ => "no report since".into(),
                    };
                    self.resume_now(
                        id,
                        resume,
                        format!("still failing after a restart: {detail}"),
                    );
                }
            }
        }
    }

    /// A remediating incident: journals its cut-off action, if one was running
    /// (even if its playbook is gone since: the journal says what happened).
    fn interrupted(&mut self, id: IncidentId) -> Resume {
        let inc = self.state.read().incidents[&id].clone();
        let Some(last) = inc
            .attempts
            .last()
            .filter(|a| Some(&a.step) == inc.step.as_ref())
        else {
            return Resume::Plan; // analyzed, but its action never started
        };
        let step = self.step_index(&inc);
        let attempt = last.attempt;
        if last.ok.is_none() {
            let interrupted = EventKind::ActionInterrupted {
                incident_id: id,
                playbook: inc.playbook.clone().unwrap_or_default(),
                step: last.step.clone(),
                action: last.action.clone(),
                attempt,
            };
            self.emit(interrupted);
        }
        match step {
            Some(step) => Resume::Retry { step, attempt },
            None => Resume::Plan,
        }
    }

    /// The first probe of a target with unfinished incidents (and every later
    /// one until they are settled). Healthy: they resolve, through the
    /// detector's recovery if the target is known failing (so `success_threshold`
    /// holds), at once otherwise. Failing: they go on by policy.
    pub(super) fn resume_after_probe(&mut self, target: &str, obs: &Observation, failing: bool) {
        if self.resume.is_empty() {
            return;
        }
        let waiting: Vec<(IncidentId, Resume)> = self
            .resume
            .iter()
            .filter(|(id, _)| {
                self.state
                    .read()
                    .incidents
                    .get(id)
                    .is_some_and(|i| i.target == target)
            })
            .map(|(id, r)| (*id, *r))
            .collect();
        for (id, resume) in waiting {
            if obs.healthy {
                if !failing {
                    self.resolve(id);
                }
                continue;
            }
            self.resume.remove(&id);
            let sig = obs.signature.as_deref().unwrap_or("UNHEALTHY");
            let detail = format!("still failing after a restart: {sig} {}", obs.detail);
            self.resume_now(id, resume, detail);
        }
    }

    fn resume_now(&mut self, id: IncidentId, resume: Resume, detail: String) {
        let playbook = self.state.read().incidents[&id]
            .playbook
            .as_deref()
            .and_then(|p| self.settings.playbooks.get(p))
            .cloned();
        match (resume, playbook) {
            // A dry run executes nothing, retries included: plan, which says so.
            (Resume::Retry { step, attempt }, Some(playbook)) if !self.state.read().dry_run => {
                self.after_failed_attempt(id, &playbook, step, attempt, detail)
            }
            _ => self.plan(id),
        }
    }
}
