//! `State::apply` folds events into everything the engine and the screens need.
//! It is pure (no I/O, no clock): times come from the events, so replaying the
//! journal rebuilds exactly the state of the live run.
//!
//! Its memory is bounded however long the history ([`bounded`]): open incidents
//! and the last [`KEEP_CLOSED`] closed ones are held whole; older ones only as
//! the seqs where the journal holds them ([`State::archived`]), from which
//! `journal::read_incident` folds one back when asked.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use crate::clock;
use crate::event::{Decision, Event, EventKind, IncidentId, Registration};

mod analyst;
mod bounded;
mod incident;
use crate::predict::Metric;
pub use bounded::{
    Archive, Histogram, KEEP_CLOSED, KEEP_SAMPLES, Samples, Span, TIMELINE_HEAD, TIMELINE_TAIL,
    TTR_BUCKETS_MS,
};
pub use incident::{Analysis, Attempt, Incident, Status};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The largest seq seen: a damaged or out-of-order journal line never makes
    /// the next event reuse a number.
    pub last_seq: u64,
    pub last_ts: Option<Timestamp>,
    pub dry_run: bool,
    pub paused: bool,
    pub targets: BTreeMap<String, TargetState>,
    /// Open incidents and the last [`KEEP_CLOSED`] closed ones, whole.
    pub incidents: BTreeMap<IncidentId, Incident>,
    /// Closed incidents still in `incidents`, in the order they closed: the
    /// first leaves memory when one more closes than [`KEEP_CLOSED`].
    closed_order: VecDeque<IncidentId>,
    /// Incidents closed before those: only where the journal holds them.
    pub archived: Archive,
    /// One open incident per (target, signature).
    #[serde(skip)]
    open: BTreeMap<(String, String), IncidentId>,
    /// Per (playbook, step): how often it fixed things.
    #[serde(
        serialize_with = "learning_as_list",
        deserialize_with = "forms::learning_from_list"
    )]
    pub learning: HashMap<(String, String), StepRecord>,
    /// Remediations of real (not chaos) incidents, for cooldown, flap guard and rate limits.
    #[serde(skip)]
    remediations: Remediations,
    pub running_actions: usize,
    pub counts: Counts,
    /// Time to detect and to resolve of the last [`KEEP_SAMPLES`] resolved
    /// incidents, in order (time to resolve: only those a fix resolved).
    pub ttd_ms: Samples,
    pub ttr_ms: Samples,
    /// Every time to resolve of `ttr_ms`, ever: counted by bucket for `/metrics`.
    pub ttr_histogram: Histogram,
    /// Targets added at run time and not removed since, by name.
    pub registered: BTreeMap<String, Registration>,
    /// Maintenance windows in force, by name.
    #[serde(default)]
    pub maintenance: BTreeMap<String, Window>,
    /// This replica's part in the election (config `ha`): its name and role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<(String, crate::engine::Role)>,
    /// What each AI analyst model proposed, and how that went, by model.
    #[serde(default)]
    pub analyst: BTreeMap<String, AnalystRecord>,
}

/// One analyst model's record: its proposals, how many an operator approved
/// and how many of those were verified to fix the incident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalystRecord {
    pub proposed: u64,
    pub approved: u64,
    pub worked: u64,
    /// Questions that got no usable answer.
    pub failed: u64,
}

/// A maintenance window in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Names or globs.
    pub targets: Vec<String>,
    pub until: Timestamp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub detected: usize,
    pub resolved: usize,
    pub escalated: usize,
    /// Closed by hand: neither resolved nor counted in time to resolve.
    pub closed: usize,
    pub actions_ok: usize,
    pub actions_failed: usize,
    /// Webhook notifications given up on after their retries.
    pub notifications_failed: usize,
}

impl Counts {
    /// Successful remediation actions among all that finished, if any did.
    pub fn success_rate(&self) -> Option<f64> {
        let done = self.actions_ok + self.actions_failed;
        (done > 0).then(|| self.actions_ok as f64 / done as f64)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetState {
    pub failing: bool,
    pub signature: Option<String>,
    pub detail: String,
    pub since: Option<Timestamp>,
    pub silenced_until: Option<Timestamp>,
    /// Trends that cross a threshold within the horizon, by figure. Not
    /// incidents: advice, cleared when the engine starts (the fit starts anew).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub predictions: BTreeMap<Metric, Prediction>,
}

/// A figure's trend, as last told by a `prediction` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The failure it foresees: `DISK_FULL`.
    pub signature: String,
    pub value: f64,
    pub threshold: f64,
    pub per_hour: f64,
    /// When the level will be reached at that rate.
    pub arrives: Timestamp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub successes: u32,
    pub failures: u32,
}

/// JSON keys are strings: learning goes out as a list of records.
fn learning_as_list<S: serde::Serializer>(
    learning: &HashMap<(String, String), StepRecord>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(learning.len()))?;
    let mut sorted: Vec<_> = learning.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for ((playbook, step), r) in sorted {
        seq.serialize_element(&serde_json::json!({
            "playbook": playbook, "step": step, "successes": r.successes, "failures": r.failures,
        }))?;
    }
    seq.end()
}

/// What the fold keeps beside the fields it shows (they are `#[serde(skip)]`):
/// a snapshot carries it, so that loading one restores exactly what the fold built.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Internals {
    open: Vec<((String, String), IncidentId)>,
    remediations: Remediations,
}

/// How long remediations are remembered for policy (the longest window: one hour).
const REMEDIATION_MEMORY: Duration = Duration::from_secs(3600);

/// When real remediations started, indexed for the policy's questions so that
/// none of them scans the last hour: time-ordered queues answer counts in a
/// window by binary search, and the latest per (target, playbook) is kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Remediations {
    all: VecDeque<Timestamp>,
    by_target: HashMap<String, VecDeque<Timestamp>>,
    #[serde(with = "forms::pairs")]
    last: HashMap<(String, String), Timestamp>,
}

impl Remediations {
    fn record(&mut self, at: Timestamp, target: &str, playbook: &str) {
        let horizon = clock::saturating_sub(at, REMEDIATION_MEMORY);
        let queue = self.by_target.entry(target.to_string()).or_default();
        for q in [&mut self.all, queue] {
            q.push_back(at);
            while q.front().is_some_and(|t| *t <= horizon) {
                q.pop_front();
            }
        }
        self.last
            .insert((target.to_string(), playbook.to_string()), at);
    }

    fn count_since(&self, target: Option<&str>, since: Timestamp) -> usize {
        let queue = match target {
            Some(t) => self.by_target.get(t),
            None => Some(&self.all),
        };
        queue.map_or(0, |q| q.len() - q.partition_point(|t| *t <= since))
    }
}

impl State {
    /// What serde leaves out of `self`, for a snapshot.
    pub fn internals(&self) -> Internals {
        Internals {
            open: self.open.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            remediations: self.remediations.clone(),
        }
    }

    /// Puts back what [`State::internals`] took out, after loading a snapshot.
    pub fn restore(&mut self, internals: Internals) {
        self.open = internals.open.into_iter().collect();
        self.remediations = internals.remediations;
    }

    pub fn apply(&mut self, event: &Event) {
        self.last_seq = self.last_seq.max(event.seq);
        self.last_ts = Some(event.ts);
        if let Some(id) = event.kind.incident_id() {
            match self.incidents.get_mut(&id) {
                Some(inc) => inc.record(event),
                None => {
                    self.archived.touch(id, event.seq);
                }
            }
        }
        match &event.kind {
            EventKind::EngineStarted {
                targets, dry_run, ..
            } => {
                self.dry_run = *dry_run;
                // Actions of a previous run ended with it.
                self.running_actions = 0;
                for name in targets {
                    self.targets.entry(name.clone()).or_default();
                }
                for t in self.targets.values_mut() {
                    t.predictions.clear();
                }
            }
            EventKind::EngineStopped { .. } => {}
            EventKind::ProbeFailed {
                target,
                signature,
                detail,
            } => {
                let t = self.targets.entry(target.clone()).or_default();
                if !t.failing {
                    t.since = Some(event.ts);
                }
                t.failing = true;
                t.signature = Some(signature.clone());
                t.detail = detail.clone();
            }
            EventKind::ProbeRecovered { target } => {
                let t = self.targets.entry(target.clone()).or_default();
                *t = TargetState {
                    silenced_until: t.silenced_until,
                    since: Some(event.ts),
                    predictions: std::mem::take(&mut t.predictions),
                    ..Default::default()
                };
            }
            EventKind::IncidentDetected {
                incident_id,
                target,
                signature,
                severity,
                started_at,
                chaos,
                trace_id,
                reported_by,
                text,
            } => {
                self.counts.detected = self.counts.detected.saturating_add(1);
                self.open
                    .insert((target.clone(), signature.clone()), *incident_id);
                // A damaged journal may reuse an id: the newer incident is the one kept.
                self.archived.remove(*incident_id);
                self.incidents.insert(
                    *incident_id,
                    Incident {
                        id: *incident_id,
                        target: target.clone(),
                        signature: signature.clone(),
                        severity: *severity,
                        status: Status::Detected,
                        chaos: *chaos,
                        trace_id: trace_id.clone(),
                        reported_by: reported_by.clone(),
                        text: text.clone(),
                        started_at: *started_at,
                        detected_at: event.ts,
                        playbook: None,
                        step: None,
                        confidence: 0.0,
                        decision: None,
                        reason: String::new(),
                        tried_steps: Vec::new(),
                        attempts: Vec::new(),
                        approved_by: None,
                        rejected_by: None,
                        action: None,
                        critical: false,
                        acknowledged_by: None,
                        retry_from: None,
                        closed_by: None,
                        close_note: None,
                        resolved_at: None,
                        time_to_resolve_ms: None,
                        root: None,
                        analysis: None,
                        proposed_by: None,
                        retries: 0,
                        timeline: vec![event.clone()],
                        timeline_elided: 0,
                    },
                );
            }
            EventKind::IncidentLinked {
                incident_id,
                root_id,
            } => {
                // Only an open incident becomes a symptom: a late line never reopens one.
                let open = self.incidents.get_mut(incident_id);
                if let Some(inc) = open.filter(|i| i.status.is_open()) {
                    inc.root = Some(*root_id);
                    inc.status = Status::Symptom;
                    inc.reason = format!("a symptom of {root_id}");
                }
            }
            EventKind::IncidentAnalyzed {
                incident_id,
                playbook,
                step,
                confidence,
                decision,
                reason,
                action,
                critical,
            } => {
                if let Some(inc) = self.incidents.get_mut(incident_id) {
                    inc.proposed_by = None;
                    inc.action = action.clone();
                    inc.critical = *critical;
                    inc.playbook = playbook.clone();
                    inc.step = step.clone();
                    inc.confidence = *confidence;
                    inc.decision = Some(*decision);
                    inc.reason = reason.clone();
                    inc.status = match decision {
                        Decision::Auto => Status::Remediating,
                        Decision::ApprovalRequired => Status::AwaitingApproval,
                        Decision::Monitor => Status::Monitoring,
                        Decision::Suppressed => Status::Suppressed,
                    };
                }
            }
            EventKind::ActionStarted {
                incident_id,
                playbook,
                step,
                action,
                attempt,
                ..
            } => {
                self.running_actions = self.running_actions.saturating_add(1);
                if let Some(inc) = self.incidents.get_mut(incident_id) {
                    // A line about an incident already over (a damaged or
                    // hand-edited journal) never reopens it.
                    if inc.status.is_open() {
                        inc.status = Status::Remediating;
                    }
                    if !inc.tried_steps.contains(step) {
                        inc.tried_steps.push(step.clone());
                    }
                    inc.attempts.push(Attempt {
                        step: step.clone(),
                        action: action.clone(),
                        attempt: *attempt,
                        started_at: event.ts,
                        ok: None,
                        duration_ms: None,
                        output: String::new(),
                    });
                    if !inc.chaos {
                        self.remediations.record(event.ts, &inc.target, playbook);
                    }
                }
            }
            EventKind::ActionFinished {
                incident_id,
                ok,
                duration_ms,
                output,
                ..
            } => {
                self.running_actions = self.running_actions.saturating_sub(1);
                let count = match ok {
                    true => &mut self.counts.actions_ok,
                    false => &mut self.counts.actions_failed,
                };
                *count = count.saturating_add(1);
                if let Some(inc) = self.incidents.get_mut(incident_id) {
                    // Closed or resolved while it ran: it stays so.
                    if *ok && inc.status.is_open() {
                        inc.status = Status::Verifying;
                    }
                    if let Some(a) = inc.attempts.last_mut() {
                        a.ok = Some(*ok);
                        a.duration_ms = Some(*duration_ms);
                        a.output = output.clone();
                    }
                }
            }
            EventKind::ActionInterrupted { incident_id, .. } => {
                if let Some(a) = self
                    .incidents
                    .get_mut(incident_id)
                    .and_then(|inc| inc.attempts.last_mut())
                    .filter(|a| a.ok.is_none())
                {
                    a.ok = Some(false);
                    a.output = "interrupted: the engine stopped before it finished".into();
                }
            }
            EventKind::StepFinished {
                incident_id,
                playbook,
                step,
                ok,
                ..
            } => {
                if *ok {
                    self.analyst_step_worked(*incident_id, playbook, step);
                }
                let record = self
                    .learning
                    .entry((playbook.clone(), step.clone()))
                    .or_default();
                let count = match ok {
                    true => &mut record.successes,
                    false => &mut record.failures,
                };
                *count = count.saturating_add(1);
            }
            EventKind::IncidentResolved {
                incident_id,
                time_to_detect_ms,
                time_to_resolve_ms,
            } => {
                if let Some(inc) = self.incidents.get_mut(incident_id)
                    && inc.status.is_open()
                {
                    inc.status = Status::Resolved;
                    inc.resolved_at = Some(event.ts);
                    inc.time_to_resolve_ms = Some(*time_to_resolve_ms);
                    self.open
                        .remove(&(inc.target.clone(), inc.signature.clone()));
                    self.counts.resolved = self.counts.resolved.saturating_add(1);
                    // A fix offered on a prediction fixed no failure: its time
                    // (mostly an operator's) would only blur how fast failures end.
                    let failure = !inc.predicted();
                    if failure {
                        self.ttd_ms.push(*time_to_detect_ms);
                    }
                    // Time to resolve measures fixes: an incident that went away
                    // by itself (or that its reporter called over) fixed nothing.
                    if failure && inc.attempts.iter().any(|a| a.ok == Some(true)) {
                        self.ttr_ms.push(*time_to_resolve_ms);
                        self.ttr_histogram.observe(*time_to_resolve_ms);
                    }
                    self.closed(*incident_id);
                }
            }
            EventKind::IncidentEscalated {
                incident_id,
                reason,
            } => {
                if let Some(inc) = self.incidents.get_mut(incident_id) {
                    if inc.status != Status::Escalated {
                        self.counts.escalated = self.counts.escalated.saturating_add(1);
                    }
                    inc.status = Status::Escalated;
                    inc.reason = reason.clone();
                }
            }
            EventKind::ApprovalGranted {
                incident_id,
                by,
                analyst,
            } => {
                if let Some(model) = analyst {
                    let approved = &mut self.analyst.entry(model.clone()).or_default().approved;
                    *approved = approved.saturating_add(1);
                }
                if let Some(inc) = self.incidents.get_mut(incident_id) {
                    inc.approved_by = Some(by.clone());
                    inc.status = Status::Remediating;
                }
            }
            EventKind::ApprovalRejected { incident_id, by } => {
                if let Some(inc) = self.incidents.get_mut(incident_id) {
                    inc.rejected_by = Some(by.clone());
                    inc.status = Status::Rejected;
                }
            }
            EventKind::IncidentRetried {
                incident_id,
                step,
                by,
            } => {
                if let Some(inc) = self.incidents.get_mut(incident_id)
                    && inc.status.is_open()
                {
                    // Every step may run again: the planner starts afresh, at `step` if named.
                    inc.status = Status::Detected;
                    inc.tried_steps.clear();
                    inc.retry_from = step.clone();
                    inc.retries = inc.retries.saturating_add(1);
                    inc.approved_by = None;
                    inc.rejected_by = None;
                    inc.reason = format!("retried by {by}");
                }
            }
            EventKind::IncidentAcknowledged { incident_id, by } => {
                if let Some(inc) = self.incidents.get_mut(incident_id) {
                    inc.acknowledged_by = Some(by.clone());
                }
            }
            EventKind::IncidentClosed {
                incident_id,
                note,
                by,
            } => {
                if let Some(inc) = self.incidents.get_mut(incident_id)
                    && inc.status.is_open()
                {
                    inc.status = Status::Closed;
                    inc.closed_by = Some(by.clone());
                    inc.close_note = Some(note.clone());
                    self.open
                        .remove(&(inc.target.clone(), inc.signature.clone()));
                    self.counts.closed = self.counts.closed.saturating_add(1);
                    self.closed(*incident_id);
                }
            }
            EventKind::ChaosInjected { .. } => {}
            EventKind::AutomationPaused { .. } => self.paused = true,
            EventKind::AutomationResumed { .. } => self.paused = false,
            EventKind::TargetSilenced { target, until, .. } => {
                self.targets
                    .entry(target.clone())
                    .or_default()
                    .silenced_until = Some(*until);
            }
            EventKind::MaintenanceStarted {
                window,
                targets,
                until,
            } => {
                let w = Window {
                    targets: targets.clone(),
                    until: *until,
                };
                self.maintenance.insert(window.clone(), w);
            }
            EventKind::MaintenanceEnded { window } => {
                self.maintenance.remove(window);
            }
            EventKind::TargetUnsilenced { target, .. } => {
                self.targets
                    .entry(target.clone())
                    .or_default()
                    .silenced_until = None;
            }
            EventKind::NotificationFailed { .. } => {
                let count = &mut self.counts.notifications_failed;
                *count = count.saturating_add(1);
            }
            EventKind::TargetRegistered(registration) => {
                let name = &registration.target;
                self.targets.entry(name.clone()).or_default();
                self.registered.insert(name.clone(), registration.clone());
            }
            EventKind::TargetDeregistered { target, .. } => {
                self.targets.remove(target);
                self.registered.remove(target);
            }
            EventKind::Prediction {
                target,
                metric,
                signature,
                value,
                threshold,
                per_hour,
                eta_s,
            } => {
                let eta =
                    jiff::SignedDuration::from_secs(i64::try_from(*eta_s).unwrap_or(i64::MAX));
                let prediction = Prediction {
                    signature: signature.clone(),
                    value: *value,
                    threshold: *threshold,
                    per_hour: *per_hour,
                    arrives: event.ts.checked_add(eta).unwrap_or(Timestamp::MAX),
                };
                let t = self.targets.entry(target.clone()).or_default();
                t.predictions.insert(*metric, prediction);
            }
            EventKind::PredictionEnded { target, metric } => {
                if let Some(t) = self.targets.get_mut(target) {
                    t.predictions.remove(metric);
                }
            }
            EventKind::RoleChanged { replica, role } => {
                self.replica = Some((replica.clone(), role.clone()));
            }
            EventKind::ActionSkipped {
                incident_id,
                step,
                started_by: Some(_),
                ..
            } => {
                // Another leader ran it: never run twice, here either.
                if let Some(inc) = self.incidents.get_mut(incident_id)
                    && !inc.tried_steps.contains(step)
                {
                    inc.tried_steps.push(step.clone());
                }
            }
            EventKind::ActionSkipped { .. } => {}
            EventKind::AnalystProposed { .. } | EventKind::AnalystFailed { .. } => {
                self.analyst_answered(event);
            }
        }
    }

    /// `id` has just closed: it joins the closed incidents kept whole, and the
    /// one closed longest ago beyond [`KEEP_CLOSED`] leaves memory.
    fn closed(&mut self, id: IncidentId) {
        self.closed_order.push_back(id);
        while self.closed_order.len() > KEEP_CLOSED {
            let Some(oldest) = self.closed_order.pop_front() else {
                break;
            };
            // Only a closed one leaves (a damaged journal may have reopened it).
            if self
                .incidents
                .get(&oldest)
                .is_some_and(|i| !i.status.is_open())
                && let Some(span) = self.incidents.remove(&oldest).and_then(|i| i.span())
            {
                self.archived.insert(span);
            }
        }
    }

    /// The open incident for this target and signature, if any.
    pub fn open_incident(&self, target: &str, signature: &str) -> Option<&Incident> {
        self.open
            .get(&(target.to_string(), signature.to_string()))
            .and_then(|id| self.incidents.get(id))
    }

    /// Every open incident of one target.
    pub fn open_incidents_of<'a>(
        &'a self,
        target: &'a str,
    ) -> impl Iterator<Item = &'a Incident> + 'a {
        // The map is ordered by (target, signature): this target's entries are one range.
        self.open
            .range((target.to_string(), String::new())..)
            .take_while(move |((t, _), _)| t == target)
            .filter_map(|(_, id)| self.incidents.get(id))
    }

    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.open.values().filter_map(|id| self.incidents.get(id))
    }

    /// Incidents waiting for an operator, oldest first.
    pub fn approval_queue(&self) -> Vec<&Incident> {
        let mut q: Vec<_> = self
            .open_incidents()
            .filter(|i| i.status == Status::AwaitingApproval)
            .collect();
        q.sort_by_key(|i| i.id);
        q
    }

    /// The seq of the next event, after the largest seen; `None` once u64 is used up.
    pub fn next_seq(&self) -> Option<u64> {
        self.last_seq.checked_add(1)
    }

    /// After the largest id seen; `None` once u64 is used up.
    pub fn next_incident_id(&self) -> Option<IncidentId> {
        let in_memory = self.incidents.keys().next_back().copied();
        match in_memory.max(self.archived.last_id()) {
            Some(id) => id.0.checked_add(1).map(IncidentId),
            None => Some(IncidentId(1)),
        }
    }

    /// The maintenance window `target` is in, if any (the first by name).
    pub fn maintenance_of(&self, target: &str) -> Option<(&str, &Window)> {
        self.maintenance
            .iter()
            .find(|(_, w)| crate::config::maintenance::covers(&w.targets, target))
            .map(|(name, w)| (name.as_str(), w))
    }

    pub fn is_silenced(&self, target: &str, now: Timestamp) -> bool {
        self.targets
            .get(target)
            .and_then(|t| t.silenced_until)
            .is_some_and(|until| until > now)
    }

    /// How many real remediations (of `target`, or of any) started in the last `window`.
    pub fn remediation_count(
        &self,
        target: Option<&str>,
        now: Timestamp,
        window: Duration,
    ) -> usize {
        self.remediations.count_since(
            target,
            clock::saturating_sub(now, window.min(REMEDIATION_MEMORY)),
        )
    }

    /// When the latest real remediation of `target` (by `playbook`, or by any) started.
    pub fn last_remediation(&self, target: &str, playbook: Option<&str>) -> Option<Timestamp> {
        match playbook {
            Some(p) => self
                .remediations
                .last
                .get(&(target.to_string(), p.to_string()))
                .copied(),
            None => self
                .remediations
                .by_target
                .get(target)
                .and_then(|q| q.back().copied()),
        }
    }

    /// The stated confidence blended with what this step achieved so far;
    /// `prior` is how many observations the stated value is worth.
    pub fn effective_confidence(&self, playbook: &str, step: &str, stated: f64, prior: f64) -> f64 {
        let r = self
            .learning
            .get(&(playbook.to_string(), step.to_string()))
            .copied()
            .unwrap_or_default();
        let n = f64::from(r.successes) + f64::from(r.failures);
        if prior + n == 0.0 {
            return stated;
        }
        (stated * prior + f64::from(r.successes)) / (prior + n)
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

/// The `p`-th percentile (0..=100) by nearest rank; `None` for no samples.
pub fn percentile<'a>(samples: impl IntoIterator<Item = &'a u64>, p: f64) -> Option<u64> {
    let mut sorted: Vec<u64> = samples.into_iter().copied().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

mod forms;
#[cfg(test)]
mod tests;
