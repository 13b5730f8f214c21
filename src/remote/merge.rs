//! One console over many daemons: what daemon `d` says is renamed into the
//! console's single vocabulary, and what the console asks is routed back to
//! the daemon that owns it. Pure (no I/O), so the fold downstream stays the
//! plain `State::apply` a console on one daemon runs.
//!
//! - Targets become `daemon/target` (events, samples, maintenance globs).
//! - Incident ids interleave: daemon `i` of `n`'s `#k` is the console's
//!   `#((k-1)·n + i + 1)`. Arithmetic both ways, so no table grows with
//!   history, and one fleet file numbers incidents alike in every console.
//! - `seq` is renumbered by arrival, so the fold never sees one twice.
//! - What the fold keeps fleet-wide (dry run, paused, chaos offers, the
//!   predictions an `engine_started` clears) is merged so that one daemon's
//!   start or resume never wipes what the others said.

use std::collections::BTreeMap;

use crate::engine::Sample;
use crate::event::{Command, Event, EventKind, IncidentId};
use crate::predict::Metric;

/// The console's id of daemon `daemon`'s (of `n`) incident `local`; `None`
/// for an id no daemon gives (`#0`) or one past numbering.
pub fn console_id(local: IncidentId, daemon: usize, n: usize) -> Option<IncidentId> {
    let k = local.0.checked_sub(1)?;
    let (daemon, n) = (u64::try_from(daemon).ok()?, u64::try_from(n).ok()?);
    let id = k.checked_mul(n)?.checked_add(daemon)?.checked_add(1)?;
    Some(IncidentId(id))
}

/// The daemon (of `n`) that owns console incident `id`, and its own id for it.
pub fn owner(id: IncidentId, n: usize) -> Option<(usize, IncidentId)> {
    let n64 = u64::try_from(n).ok().filter(|n| *n > 0)?;
    let c = id.0.checked_sub(1)?;
    let daemon = usize::try_from(c % n64).ok()?;
    Some((daemon, IncidentId(c / n64 + 1)))
}

/// Where a console command goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// To the daemon that owns its incident or target, in that daemon's words.
    One(usize, Command),
    /// Owned by none (pause, resume): to every daemon.
    All(Command),
    /// Nowhere, and why.
    Nowhere(String),
}

/// The renaming state of one fleet.
pub struct Merger {
    names: Vec<String>,
    /// The last `seq` given out.
    seq: u64,
    seen: Vec<Seen>,
}

/// What the fold keeps fleet-wide, as each daemon last said it.
#[derive(Default)]
struct Seen {
    started: Option<Started>,
    paused: bool,
    /// Predictions in force, renamed: re-told after another daemon's start clears them.
    predictions: BTreeMap<(String, Metric), Event>,
}

struct Started {
    targets: Vec<String>,
    playbooks: Vec<String>,
    chaos: BTreeMap<String, Vec<String>>,
    dry_run: bool,
}

impl Merger {
    /// A merger over daemons named `names` (no name holds `/`).
    pub fn new(names: Vec<String>) -> Merger {
        let seen = names.iter().map(|_| Seen::default()).collect();
        Merger {
            names,
            seq: 0,
            seen,
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Daemon `d`'s `event` as the console folds it: none (an id no daemon
    /// gives), one, or a few (a start re-tells the others' predictions).
    pub fn event(&mut self, d: usize, event: Event) -> Vec<Event> {
        let Some(kind) = self.rename(d, event.kind) else {
            tracing::warn!(
                "skipped an event from {} with an impossible incident id",
                self.name(d)
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        match &kind {
            EventKind::EngineStarted {
                version,
                targets,
                playbooks,
                chaos,
                dry_run,
            } => {
                self.seen[d].started = Some(Started {
                    targets: targets.clone(),
                    playbooks: playbooks.clone(),
                    chaos: chaos.clone(),
                    dry_run: *dry_run,
                });
                // Its trends are fitted anew; the others' still stand, and the
                // fold clears every target's on a start: they are told again.
                self.seen[d].predictions.clear();
                out.push(self.fleet_started(version));
                for (i, seen) in self.seen.iter().enumerate() {
                    if i != d {
                        out.extend(seen.predictions.values().map(|p| p.kind.clone()));
                    }
                }
            }
            EventKind::AutomationResumed { .. } => {
                self.seen[d].paused = false;
                out.push(kind);
                // The header's PAUSED is the fleet's: it stays while any daemon is.
                if let Some(still) = self.seen.iter().position(|s| s.paused) {
                    let by = format!("{} (still paused)", self.name(still));
                    out.push(EventKind::AutomationPaused { by });
                }
            }
            _ => {
                match &kind {
                    EventKind::AutomationPaused { .. } => self.seen[d].paused = true,
                    EventKind::Prediction { target, metric, .. } => {
                        let told = Event {
                            seq: 0,
                            ts: event.ts,
                            kind: kind.clone(),
                        };
                        self.seen[d]
                            .predictions
                            .insert((target.clone(), *metric), told);
                    }
                    EventKind::PredictionEnded { target, metric } => {
                        self.seen[d].predictions.remove(&(target.clone(), *metric));
                    }
                    EventKind::TargetDeregistered { target, .. } => {
                        self.seen[d].predictions.retain(|(t, _), _| t != target);
                    }
                    _ => {}
                }
                out.push(kind);
            }
        }
        out.into_iter()
            .map(|kind| {
                self.seq = self.seq.saturating_add(1);
                Event {
                    seq: self.seq,
                    ts: event.ts,
                    kind,
                }
            })
            .collect()
    }

    /// One `engine_started` for the whole fleet as started so far: every
    /// daemon's targets and chaos offers, dry run if any daemon runs dry.
    fn fleet_started(&self, version: &str) -> EventKind {
        let started = || self.seen.iter().filter_map(|s| s.started.as_ref());
        let mut targets: Vec<String> = started().flat_map(|s| s.targets.clone()).collect();
        let mut playbooks: Vec<String> = started().flat_map(|s| s.playbooks.clone()).collect();
        for list in [&mut targets, &mut playbooks] {
            list.sort();
            list.dedup();
        }
        EventKind::EngineStarted {
            version: version.to_string(),
            targets,
            playbooks,
            dry_run: started().any(|s| s.dry_run),
            chaos: started().flat_map(|s| s.chaos.clone()).collect(),
        }
    }

    /// Daemon `d`'s probe sample, its target renamed.
    pub fn sample(&self, d: usize, mut sample: Sample) -> Sample {
        sample.target = self.target(d, &sample.target);
        sample
    }

    /// `d`'s target as the console names it.
    fn target(&self, d: usize, target: &str) -> String {
        format!("{}/{target}", self.name(d))
    }

    fn name(&self, d: usize) -> &str {
        self.names.get(d).map_or("?", String::as_str)
    }

    /// A line daemon `d` said about a command (`daemon refused approve #2: 409 …`),
    /// named for the console: its name first, its incident numbers the console's.
    pub fn notice(&self, d: usize, text: &str) -> String {
        let n = self.names.len();
        let mut out = format!("{}: ", self.name(d));
        let mut rest = text;
        while let Some(at) = rest.find('#') {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let local = rest[..digits].parse().ok().map(IncidentId);
            match local.and_then(|id| console_id(id, d, n)) {
                Some(id) => out.push_str(&id.0.to_string()),
                None => out.push_str(&rest[..digits]),
            }
            rest = &rest[digits..];
        }
        out.push_str(rest);
        out
    }

    /// Where the console's `command` goes, in the owner's words.
    pub fn route(&self, command: Command) -> Route {
        let n = self.names.len();
        let by_id = |id: IncidentId| owner(id, n).filter(|(d, _)| *d < n);
        let by_target = |target: &str| {
            let (name, rest) = target.split_once('/')?;
            let d = self.names.iter().position(|x| x == name)?;
            Some((d, rest.to_string()))
        };
        let unknown_id = |id: IncidentId| Route::Nowhere(format!("no daemon owns {id}"));
        let unknown_target = |t: &str| Route::Nowhere(format!("no daemon owns target {t}"));
        match command {
            Command::Approve { incident_id, by } => match by_id(incident_id) {
                Some((d, incident_id)) => Route::One(d, Command::Approve { incident_id, by }),
                None => unknown_id(incident_id),
            },
            Command::Reject { incident_id, by } => match by_id(incident_id) {
                Some((d, incident_id)) => Route::One(d, Command::Reject { incident_id, by }),
                None => unknown_id(incident_id),
            },
            Command::Retry {
                incident_id,
                step,
                by,
            } => match by_id(incident_id) {
                Some((d, incident_id)) => Route::One(
                    d,
                    Command::Retry {
                        incident_id,
                        step,
                        by,
                    },
                ),
                None => unknown_id(incident_id),
            },
            Command::Acknowledge { incident_id, by } => match by_id(incident_id) {
                Some((d, incident_id)) => Route::One(d, Command::Acknowledge { incident_id, by }),
                None => unknown_id(incident_id),
            },
            Command::Close {
                incident_id,
                note,
                by,
            } => match by_id(incident_id) {
                Some((d, incident_id)) => Route::One(
                    d,
                    Command::Close {
                        incident_id,
                        note,
                        by,
                    },
                ),
                None => unknown_id(incident_id),
            },
            Command::InjectChaos { target, fault } => match by_target(&target) {
                Some((d, target)) => Route::One(d, Command::InjectChaos { target, fault }),
                None => unknown_target(&target),
            },
            Command::Silence {
                target,
                duration,
                by,
            } => match by_target(&target) {
                Some((d, target)) => Route::One(
                    d,
                    Command::Silence {
                        target,
                        duration,
                        by,
                    },
                ),
                None => unknown_target(&target),
            },
            Command::Unsilence { target, by } => match by_target(&target) {
                Some((d, target)) => Route::One(d, Command::Unsilence { target, by }),
                None => unknown_target(&target),
            },
            Command::Pause { .. } | Command::Resume { .. } => Route::All(command),
            // A console sends none of these; a daemon would not take them.
            Command::Ask { .. }
            | Command::Shutdown { .. }
            | Command::Ingest { .. }
            | Command::Register(_)
            | Command::Deregister { .. }
            | Command::RecordNotificationFailure { .. } => {
                Route::Nowhere("not sent: a console does not send that to daemons".into())
            }
        }
    }

    /// `kind` from daemon `d`, its targets and incident ids in the console's
    /// names; `None` when an id cannot be numbered.
    fn rename(&self, d: usize, kind: EventKind) -> Option<EventKind> {
        use EventKind as K;
        let n = self.names.len();
        let id = |local: IncidentId| console_id(local, d, n);
        let t = |target: String| self.target(d, &target);
        // A window name is shown beside the others' and its globs match renamed targets.
        let glob = |g: String| format!("{}/{g}", glob::Pattern::escape(self.name(d)));
        Some(match kind {
            K::EngineStarted {
                version,
                targets,
                playbooks,
                dry_run,
                chaos,
            } => K::EngineStarted {
                version,
                targets: targets.into_iter().map(t).collect(),
                playbooks,
                dry_run,
                chaos: chaos.into_iter().map(|(k, v)| (t(k), v)).collect(),
            },
            K::EngineStopped { reason } => K::EngineStopped {
                reason: format!("{}: {reason}", self.name(d)),
            },
            K::ProbeFailed {
                target,
                signature,
                detail,
            } => K::ProbeFailed {
                target: t(target),
                signature,
                detail,
            },
            K::ProbeRecovered { target } => K::ProbeRecovered { target: t(target) },
            K::IncidentDetected {
                incident_id,
                target,
                signature,
                severity,
                started_at,
                chaos,
                trace_id,
                reported_by,
                text,
            } => K::IncidentDetected {
                incident_id: id(incident_id)?,
                target: t(target),
                signature,
                severity,
                started_at,
                chaos,
                trace_id,
                reported_by,
                text,
            },
            K::IncidentAnalyzed {
                incident_id,
                playbook,
                step,
                confidence,
                decision,
                reason,
                action,
                critical,
            } => K::IncidentAnalyzed {
                incident_id: id(incident_id)?,
                playbook,
                step,
                confidence,
                decision,
                reason,
                action,
                critical,
            },
            K::ActionStarted {
                incident_id,
                playbook,
                step,
                action,
                attempt,
                term,
            } => K::ActionStarted {
                incident_id: id(incident_id)?,
                playbook,
                step,
                action,
                attempt,
                term,
            },
            K::ActionSkipped {
                incident_id,
                step,
                attempt,
                reason,
                started_by,
            } => K::ActionSkipped {
                incident_id: id(incident_id)?,
                step,
                attempt,
                reason,
                started_by,
            },
            // Each daemon's own election: the name says which replica.
            K::RoleChanged { replica, role } => K::RoleChanged { replica, role },
            K::AnalystProposed {
                incident_id,
                model,
                decision,
                playbook,
                step,
                confidence,
                reason,
                action,
                queued,
            } => K::AnalystProposed {
                incident_id: id(incident_id)?,
                model,
                decision,
                playbook,
                step,
                confidence,
                reason,
                action,
                queued,
            },
            K::AnalystFailed {
                incident_id,
                model,
                error,
            } => K::AnalystFailed {
                incident_id: id(incident_id)?,
                model,
                error,
            },
            K::ActionFinished {
                incident_id,
                playbook,
                step,
                action,
                attempt,
                ok,
                duration_ms,
                output,
            } => K::ActionFinished {
                incident_id: id(incident_id)?,
                playbook,
                step,
                action,
                attempt,
                ok,
                duration_ms,
                output,
            },
            K::ActionInterrupted {
                incident_id,
                playbook,
                step,
                action,
                attempt,
            } => K::ActionInterrupted {
                incident_id: id(incident_id)?,
                playbook,
                step,
                action,
                attempt,
            },
            K::StepFinished {
                incident_id,
                playbook,
                step,
                ok,
                detail,
            } => K::StepFinished {
                incident_id: id(incident_id)?,
                playbook,
                step,
                ok,
                detail,
            },
            K::IncidentResolved {
                incident_id,
                time_to_detect_ms,
                time_to_resolve_ms,
            } => K::IncidentResolved {
                incident_id: id(incident_id)?,
                time_to_detect_ms,
                time_to_resolve_ms,
            },
            K::IncidentLinked {
                incident_id,
                root_id,
            } => K::IncidentLinked {
                incident_id: id(incident_id)?,
                root_id: id(root_id)?,
            },
            K::IncidentEscalated {
                incident_id,
                reason,
            } => K::IncidentEscalated {
                incident_id: id(incident_id)?,
                reason,
            },
            K::ApprovalGranted {
                incident_id,
                by,
                analyst,
            } => K::ApprovalGranted {
                incident_id: id(incident_id)?,
                by,
                analyst,
            },
            K::ApprovalRejected { incident_id, by } => K::ApprovalRejected {
                incident_id: id(incident_id)?,
                by,
            },
            K::IncidentRetried {
                incident_id,
                step,
                by,
            } => K::IncidentRetried {
                incident_id: id(incident_id)?,
                step,
                by,
            },
            K::IncidentAcknowledged { incident_id, by } => K::IncidentAcknowledged {
                incident_id: id(incident_id)?,
                by,
            },
            K::IncidentClosed {
                incident_id,
                note,
                by,
            } => K::IncidentClosed {
                incident_id: id(incident_id)?,
                note,
                by,
            },
            K::ChaosInjected { target, fault } => K::ChaosInjected {
                target: t(target),
                fault,
            },
            K::AutomationPaused { by } => K::AutomationPaused {
                by: format!("{by} on {}", self.name(d)),
            },
            K::AutomationResumed { by } => K::AutomationResumed {
                by: format!("{by} on {}", self.name(d)),
            },
            K::TargetSilenced { target, until, by } => K::TargetSilenced {
                target: t(target),
                until,
                by,
            },
            K::TargetUnsilenced { target, by } => K::TargetUnsilenced {
                target: t(target),
                by,
            },
            K::MaintenanceStarted {
                window,
                targets,
                until,
            } => K::MaintenanceStarted {
                window: t(window),
                targets: targets.into_iter().map(glob).collect(),
                until,
            },
            K::MaintenanceEnded { window } => K::MaintenanceEnded { window: t(window) },
            K::Prediction {
                target,
                metric,
                signature,
                value,
                threshold,
                per_hour,
                eta_s,
            } => K::Prediction {
                target: t(target),
                metric,
                signature,
                value,
                threshold,
                per_hour,
                eta_s,
            },
            K::PredictionEnded { target, metric } => K::PredictionEnded {
                target: t(target),
                metric,
            },
            K::TargetRegistered(mut registration) => {
                registration.target = t(registration.target);
                K::TargetRegistered(registration)
            }
            K::TargetDeregistered { target, by } => K::TargetDeregistered {
                target: t(target),
                by,
            },
            K::NotificationFailed {
                url,
                incident_id,
                error,
            } => K::NotificationFailed {
                url,
                incident_id: match incident_id {
                    Some(local) => Some(id(local)?),
                    None => None,
                },
                error,
            },
        })
    }
}

#[cfg(test)]
mod tests;
