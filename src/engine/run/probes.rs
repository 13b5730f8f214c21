//! Probing: the task that probes each target, and what the engine makes of a
//! result: hysteresis, new incidents, recoveries.

use jiff::Timestamp;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::schedule::{Job, Probe};
use super::watchers::Verdicts;
use super::{Internal, Reported, Runner, Sample};
use crate::config::{ProbeSpec, Target};
use crate::engine::Verdict;
use crate::event::{EventKind, IncidentId, Severity};
use crate::monitor::{Lane, Observation, Prober};
use crate::trace;

impl Runner {
    pub(super) fn on_probe(
        &mut self,
        idx: usize,
        obs: Observation,
        started: Instant,
        at: Timestamp,
    ) {
        let name = self.settings.targets[idx].name.clone();
        let _ = self.samples.send(Sample {
            target: name.clone(),
            at,
            healthy: obs.healthy,
            latency: obs.latency,
            cpu_percent: obs.cpu_percent,
            memory_percent: obs.memory_percent,
        });
        if self.stopping.is_some() {
            return;
        }
        self.on_trend(idx, &obs, started);
        self.targets[idx].last = obs.clone();
        self.targets[idx].last_started = Some(started);
        let verifying: Vec<IncidentId> = self
            .verifying
            .iter()
            .filter(|(_, v)| v.target == idx && v.since <= started)
            .map(|(id, _)| *id)
            .collect();
        for id in verifying {
            self.verify(id, &obs);
        }
        let failing = self
            .state
            .read()
            .targets
            .get(&name)
            .is_some_and(|t| t.failing);
        self.resume_after_probe(&name, &obs, failing);
        let remediating = self.remediating(&name);
        let rt = &mut self.targets[idx];
        match rt.detector.observe(obs.healthy, failing, at) {
            Verdict::Steady => {
                if obs.healthy
                    && rt
                        .chaos
                        .is_some_and(|(_, done)| done.is_some_and(|d| d <= started))
                {
                    rt.chaos = None; // the injected fault never showed
                }
                if obs.healthy && failing {
                    self.kick(idx); // confirm the recovery now
                }
            }
            Verdict::Suspect => {
                if !remediating {
                    self.schedule.kick_after(idx, CONFIRM_SPACING);
                }
            }
            Verdict::Failing { since } => self.on_failing(idx, &obs, since, None, None),
            Verdict::Recovered => self.on_recovered(idx),
        }
    }

    /// A remediation of this target is running or being verified: its grace period.
    /// Only for probed targets: our own probes see a restarting service fail in new
    /// ways, while a report from another tool is a deliberate statement that a
    /// dropped report would lose (an intake tool sends it once).
    pub(super) fn remediating(&self, target: &str) -> bool {
        let passive = self
            .by_name
            .get(target)
            .is_some_and(|i| matches!(self.settings.targets[*i].probe, ProbeSpec::Passive(_)));
        !passive
            && self
                .state
                .read()
                .open_incidents_of(target)
                .any(|i| i.status.is_acting())
    }

    /// A target turned (or stays) bad. `severity` is what a reporting tool said, if any.
    pub(super) fn on_failing(
        &mut self,
        idx: usize,
        obs: &Observation,
        since: Timestamp,
        severity: Option<Severity>,
        reported: Option<Reported>,
    ) {
        let name = self.settings.targets[idx].name.clone();
        let signature = obs.signature.clone().unwrap_or_else(|| "UNHEALTHY".into());
        let known = (self.state.read().targets.get(&name))
            .is_some_and(|t| t.failing && t.signature.as_deref() == Some(signature.as_str()));
        if !known {
            self.emit(EventKind::ProbeFailed {
                target: name.clone(),
                signature: signature.clone(),
                detail: obs.detail.clone(),
            });
            self.target_failed(idx);
        }
        if self.state.read().open_incident(&name, &signature).is_some() {
            return;
        }
        if self.remediating(&name) {
            return; // grace: a restarting service may look worse before it looks better
        }
        let (started_at, chaos) = match self.targets[idx].chaos.take() {
            Some((injected, _)) if injected <= since => (injected, true),
            _ => (since, false),
        };
        let severity = match self.settings.targets[idx].critical {
            true => Severity::Critical,
            false => severity
                .or_else(|| self.find_playbook(idx, &signature).map(|p| p.severity))
                .unwrap_or(Severity::High),
        };
        let Some(incident_id) = self.state.read().next_incident_id() else {
            return self.fail(format!(
                "cannot open an incident on {name}: id {} is the largest there is",
                u64::MAX
            ));
        };
        let (trace_id, reported_by, text) = match reported {
            Some(r) => (r.trace_id, Some(r.by), r.text),
            None => (None, None, None),
        };
        self.emit(EventKind::IncidentDetected {
            incident_id,
            target: name,
            signature,
            severity,
            started_at,
            chaos,
            trace_id: trace_id.unwrap_or_else(trace::new_id),
            reported_by,
            text,
        });
        self.plan_or_link(incident_id);
    }

    pub(super) fn on_recovered(&mut self, idx: usize) {
        let name = self.settings.targets[idx].name.clone();
        self.targets[idx].chaos = None;
        self.emit(EventKind::ProbeRecovered {
            target: name.clone(),
        });
        // What another tool reported, the probe may not see: those close when a
        // fix is verified or the reporter says so, not on a healthy probe alone.
        let open: Vec<IncidentId> = self
            .state
            .read()
            .open_incidents_of(&name)
            .filter(|i| i.reported_by.is_none() || self.verifying.contains_key(&i.id))
            .map(|i| i.id)
            .collect();
        for id in open {
            self.verifying.remove(&id);
            self.resolve(id);
        }
    }
}

/// Confirming a first bad signal: the next probe follows this soon, not at
/// the next tick, until `failure_threshold` is reached or a probe is healthy.
/// Short, yet long enough that two probes are two looks, not one.
pub(super) const CONFIRM_SPACING: Duration = Duration::from_millis(10);

/// One probe of `target`: its result goes to the engine, and its verdict to
/// the target's watchers (`rearm`), which re-arm after a healthy one.
pub(super) fn probe_job(
    target: Arc<Target>,
    prober: Arc<Prober>,
    rearm: Vec<Verdicts>,
    retired: tokio::sync::watch::Receiver<bool>,
    tx: mpsc::UnboundedSender<Internal>,
) -> Probe {
    let lane = Lane::default();
    let rearm: Arc<[Verdicts]> = rearm.into();
    Arc::new(move |job: Job| {
        let (target, prober, lane) = (target.clone(), prober.clone(), lane.clone());
        let (rearm, tx, mut retired) = (rearm.clone(), tx.clone(), retired.clone());
        Box::pin(async move {
            let probe = prober.probe_checks(
                &lane,
                target.process.as_ref(),
                &target.probe,
                target.timeout,
            );
            let obs = tokio::select! {
                biased;
                _ = retired.wait_for(|gone| *gone) => return,
                obs = probe => obs,
            };
            for probed in rearm.iter() {
                probed.send_modify(|p| p.record(obs.healthy));
            }
            let _ = tx.send(Internal::Probe {
                target: job.target,
                obs,
                started: job.started,
                at: job.at,
            });
        })
    })
}
