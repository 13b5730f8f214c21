//! The vocabulary: every transition the engine makes is an [`Event`], every
//! request from outside is a [`Command`]. An `Event` is also one journal line,
//! so field names here are a contract documented in README.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use tokio::sync::oneshot;

/// Incidents are numbered from 1 in the order they were detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(pub u64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

/// What the planner decided to do about an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run the step now.
    Auto,
    /// Queue the step until an operator approves or rejects it.
    ApprovalRequired,
    /// Watch only: the playbook or severity says not to act.
    Monitor,
    /// Detected and journaled, but silenced, paused or dry-run.
    Suppressed,
}

/// What the AI analyst advises about an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalystDecision {
    /// Run the named step (always after an operator approves it).
    Remediate,
    /// A human must act.
    Escalate,
    /// Watch it.
    Monitor,
}

impl AnalystDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            AnalystDecision::Remediate => "remediate",
            AnalystDecision::Escalate => "escalate",
            AnalystDecision::Monitor => "monitor",
        }
    }
}

/// One journal line: a sequence number, a wall-clock time and what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    #[serde(with = "ts_millis")]
    pub ts: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    EngineStarted {
        version: String,
        targets: Vec<String>,
        playbooks: Vec<String>,
        dry_run: bool,
        /// Targets that offer chaos (the demo fleet), with their faults, so a
        /// console attached from afar can offer them too.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        chaos: std::collections::BTreeMap<String, Vec<String>>,
    },
    EngineStopped {
        reason: String,
    },
    /// A target turned bad (after `failure_threshold` bad probes), or its
    /// failure changed signature. Not written for every bad probe.
    ProbeFailed {
        target: String,
        signature: String,
        detail: String,
    },
    /// A target turned healthy again (after `success_threshold` good probes).
    ProbeRecovered {
        target: String,
    },
    IncidentDetected {
        incident_id: IncidentId,
        target: String,
        signature: String,
        severity: Severity,
        /// When the fault began: the first bad probe, or the chaos injection.
        #[serde(with = "ts_millis")]
        started_at: Timestamp,
        /// The fault was injected by chaos; policy counters ignore it.
        #[serde(default, skip_serializing_if = "is_false")]
        chaos: bool,
        /// Follows the incident into notifications and actions (`AUTOHEAL_TRACE_ID`):
        /// a W3C trace id, 32 hex digits, from the report's `traceparent` or made here.
        /// Absent in journals from before it was written.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        trace_id: String,
        /// The tool that reported it (`intake`, `alertmanager`, ...); absent when a
        /// probe saw it. A reported incident closes when a fix is verified or the
        /// reporter resolves it, not on a healthy probe alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reported_by: Option<String>,
        /// The report's own words when they are not the signature
        /// (`connection pool exhausted` for `POOL_EXHAUSTED`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    IncidentAnalyzed {
        incident_id: IncidentId,
        playbook: Option<String>,
        step: Option<String>,
        confidence: f64,
        decision: Decision,
        reason: String,
        /// What the step would run, values filled in and no secrets (header and
        /// env values left out): `systemctl restart 'orders db'`, `POST http://…`.
        /// Absent in journals from before it was written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<String>,
        /// The target is marked critical: a human approves every fix on it.
        #[serde(default, skip_serializing_if = "is_false")]
        critical: bool,
    },
    ActionStarted {
        incident_id: IncidentId,
        playbook: String,
        step: String,
        action: String,
        attempt: u32,
        /// The leader's term it was claimed in (config `ha`); absent for a lone engine.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        term: Option<u64>,
    },
    ActionFinished {
        incident_id: IncidentId,
        playbook: String,
        step: String,
        action: String,
        attempt: u32,
        ok: bool,
        duration_ms: u64,
        output: String,
    },
    /// An action a previous run started and never saw finish: the engine
    /// stopped (a crash, a kill -9) while it ran. Written once at the next start;
    /// the incident then waits for the first probe of its target.
    ActionInterrupted {
        incident_id: IncidentId,
        playbook: String,
        step: String,
        action: String,
        attempt: u32,
    },
    /// A step is over: verified healthy (`ok`), or its action failed, or the
    /// target stayed bad. Learning counts these.
    StepFinished {
        incident_id: IncidentId,
        playbook: String,
        step: String,
        ok: bool,
        detail: String,
    },
    IncidentResolved {
        incident_id: IncidentId,
        time_to_detect_ms: u64,
        time_to_resolve_ms: u64,
    },
    /// A symptom: the incident's target depends on the root incident's target,
    /// which failed first (or was fixed moments ago). It is not remediated on
    /// its own; once the root is resolved it closes by itself, or is planned
    /// as usual if it still fails after the settle time.
    IncidentLinked {
        incident_id: IncidentId,
        root_id: IncidentId,
    },
    /// Automation has nothing more to offer: a human must fix it.
    IncidentEscalated {
        incident_id: IncidentId,
        reason: String,
    },
    ApprovalGranted {
        incident_id: IncidentId,
        by: String,
        /// The model whose proposal (`analyst_proposed`) was approved; absent
        /// for a step the planner proposed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        analyst: Option<String>,
    },
    ApprovalRejected {
        incident_id: IncidentId,
        by: String,
    },
    /// An operator sends an escalated or rejected incident through the planner
    /// again, from the playbook's first step or from `step`.
    IncidentRetried {
        incident_id: IncidentId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        by: String,
    },
    /// Someone owns it now; it stays open.
    IncidentAcknowledged {
        incident_id: IncidentId,
        by: String,
    },
    /// Closed by hand: over, but not fixed by autoheal, so never counted as resolved.
    IncidentClosed {
        incident_id: IncidentId,
        note: String,
        by: String,
    },
    ChaosInjected {
        target: String,
        fault: String,
    },
    AutomationPaused {
        by: String,
    },
    AutomationResumed {
        by: String,
    },
    TargetSilenced {
        target: String,
        #[serde(with = "ts_millis")]
        until: Timestamp,
        by: String,
    },
    TargetUnsilenced {
        target: String,
        by: String,
    },
    /// A maintenance window (config `maintenance`) began: incidents on its
    /// targets are detected and journaled, not acted on.
    MaintenanceStarted {
        window: String,
        /// Names or globs.
        targets: Vec<String>,
        #[serde(with = "ts_millis")]
        until: Timestamp,
    },
    /// It ended: its targets' held incidents are planned as usual.
    MaintenanceEnded {
        window: String,
    },
    /// A figure's trend crosses the level at which its target fails within the
    /// horizon (config `predict`). Advice, not an incident: a playbook matching
    /// `PREDICTED_<signature>` may offer a fix, which always waits for approval.
    /// Told once per target and figure, again only if the rate rises by a quarter.
    Prediction {
        target: String,
        metric: crate::predict::Metric,
        /// The failure it foresees: `DISK_FULL`.
        signature: String,
        /// The fitted value now, the level, and the rate per hour.
        value: f64,
        threshold: f64,
        per_hour: f64,
        /// Seconds until the level is reached at that rate.
        eta_s: u64,
    },
    /// This replica's part in the election (config `ha`) changed: only a
    /// leader plans and acts; a follower or a replica without quorum journals
    /// what it sees and acts on nothing.
    RoleChanged {
        replica: String,
        #[serde(flatten)]
        role: crate::engine::Role,
    },
    /// A step this leader was about to run was not claimed in etcd: another
    /// leader already started it (it is verified, not run again), or this
    /// replica's term is over (nothing runs).
    ActionSkipped {
        incident_id: IncidentId,
        step: String,
        attempt: u32,
        reason: String,
        /// The replica that started it as leader, when it was started: the step
        /// counts as tried here too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_by: Option<String>,
    },
    /// The trend stopped, or the level was reached: the prediction no longer holds.
    PredictionEnded {
        target: String,
        metric: crate::predict::Metric,
    },
    /// A target added at run time (`POST /api/services/register`, or a report
    /// about a service no target names), or changed by registering it again.
    TargetRegistered(Registration),
    /// A target registered at run time is gone: its probe stopped, its name unknown again.
    TargetDeregistered {
        target: String,
        by: String,
    },
    /// The AI analyst (config `analyst`) answered about an escalated or
    /// unmatched incident. Advice only: with `queued`, its step awaits an
    /// operator's approval like any held fix; otherwise nothing changes.
    AnalystProposed {
        incident_id: IncidentId,
        model: String,
        decision: AnalystDecision,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        playbook: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        confidence: f64,
        /// The model's words: trimmed, no control characters, at most 300 characters.
        reason: String,
        /// What the step would run, as `incident_analyzed` says it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<String>,
        /// The step is now the incident's pending approval.
        #[serde(default, skip_serializing_if = "is_false")]
        queued: bool,
    },
    /// The analyst gave no usable answer (unreachable, too slow, an HTTP error,
    /// or not the fixed JSON shape). `error` holds no token and no URL.
    AnalystFailed {
        incident_id: IncidentId,
        model: String,
        error: String,
    },
    /// A webhook still failed after its retries. `url` has no credentials,
    /// query or path (those can hold a token); the hook's secret is never here.
    NotificationFailed {
        url: String,
        incident_id: Option<IncidentId>,
        error: String,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Where a target comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSource {
    /// The config file: never replaced or removed at run time.
    Config,
    /// `POST /api/services/register`.
    Api,
    /// A report about a service no target named (`intake.unknown_services: accept`).
    Intake,
}

/// A target added at run time, as journaled in `target_registered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub target: String,
    pub source: TargetSource,
    /// Probed with `GET` here; absent for a passive target (reports only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_url: Option<String>,
    /// What its registrant calls it (`name`), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub critical: bool,
    /// Matched by playbooks like a config target's labels.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Told (JSON format) about this target's escalations, resolutions and failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Who registered it: an API key's name, or the reporting tool.
    #[serde(default)]
    pub by: String,
}

impl Registration {
    /// Registering `other` would change nothing (whoever asks).
    pub fn same_as(&self, other: &Registration) -> bool {
        Registration {
            by: other.by.clone(),
            ..self.clone()
        } == *other
    }
}

impl EventKind {
    /// The `kind` string as written in the journal.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::EngineStarted { .. } => "engine_started",
            EventKind::EngineStopped { .. } => "engine_stopped",
            EventKind::ProbeFailed { .. } => "probe_failed",
            EventKind::ProbeRecovered { .. } => "probe_recovered",
            EventKind::IncidentDetected { .. } => "incident_detected",
            EventKind::IncidentAnalyzed { .. } => "incident_analyzed",
            EventKind::ActionStarted { .. } => "action_started",
            EventKind::ActionFinished { .. } => "action_finished",
            EventKind::ActionInterrupted { .. } => "action_interrupted",
            EventKind::StepFinished { .. } => "step_finished",
            EventKind::IncidentResolved { .. } => "incident_resolved",
            EventKind::IncidentLinked { .. } => "incident_linked",
            EventKind::IncidentEscalated { .. } => "incident_escalated",
            EventKind::ApprovalGranted { .. } => "approval_granted",
            EventKind::ApprovalRejected { .. } => "approval_rejected",
            EventKind::IncidentRetried { .. } => "incident_retried",
            EventKind::IncidentAcknowledged { .. } => "incident_acknowledged",
            EventKind::IncidentClosed { .. } => "incident_closed",
            EventKind::ChaosInjected { .. } => "chaos_injected",
            EventKind::AutomationPaused { .. } => "automation_paused",
            EventKind::AutomationResumed { .. } => "automation_resumed",
            EventKind::TargetSilenced { .. } => "target_silenced",
            EventKind::TargetUnsilenced { .. } => "target_unsilenced",
            EventKind::MaintenanceStarted { .. } => "maintenance_started",
            EventKind::MaintenanceEnded { .. } => "maintenance_ended",
            EventKind::NotificationFailed { .. } => "notification_failed",
            EventKind::Prediction { .. } => "prediction",
            EventKind::RoleChanged { .. } => "role_changed",
            EventKind::ActionSkipped { .. } => "action_skipped",
            EventKind::PredictionEnded { .. } => "prediction_ended",
            EventKind::AnalystProposed { .. } => "analyst_proposed",
            EventKind::AnalystFailed { .. } => "analyst_failed",
            EventKind::TargetRegistered(_) => "target_registered",
            EventKind::TargetDeregistered { .. } => "target_deregistered",
        }
    }

    /// The incident this event belongs to, if any.
    pub fn incident_id(&self) -> Option<IncidentId> {
        match self {
            EventKind::IncidentDetected { incident_id, .. }
            | EventKind::IncidentAnalyzed { incident_id, .. }
            | EventKind::ActionStarted { incident_id, .. }
            | EventKind::ActionFinished { incident_id, .. }
            | EventKind::ActionInterrupted { incident_id, .. }
            | EventKind::StepFinished { incident_id, .. }
            | EventKind::IncidentResolved { incident_id, .. }
            | EventKind::IncidentLinked { incident_id, .. }
            | EventKind::IncidentEscalated { incident_id, .. }
            | EventKind::ApprovalGranted { incident_id, .. }
            | EventKind::ApprovalRejected { incident_id, .. }
            | EventKind::IncidentRetried { incident_id, .. }
            | EventKind::IncidentAcknowledged { incident_id, .. }
            | EventKind::IncidentClosed { incident_id, .. }
            | EventKind::ActionSkipped { incident_id, .. }
            | EventKind::AnalystProposed { incident_id, .. }
            | EventKind::AnalystFailed { incident_id, .. } => Some(*incident_id),
            EventKind::NotificationFailed { incident_id, .. } => *incident_id,
            _ => None,
        }
    }
}

/// Requests from keys, the CLI or HTTP. The only way into the engine. Never
/// read from bytes: a peer's request is an `api::PublicCommand`, converted.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run the pending step of an incident awaiting approval.
    Approve {
        incident_id: IncidentId,
        by: String,
    },
    /// Drop the pending step; the incident stays open for a human.
    Reject {
        incident_id: IncidentId,
        by: String,
    },
    /// Plan an escalated or rejected incident again, from the first step of
    /// its playbook or from `step`, through every rail of the policy.
    Retry {
        incident_id: IncidentId,
        step: Option<String>,
        by: String,
    },
    /// Take ownership of an open incident.
    Acknowledge {
        incident_id: IncidentId,
        by: String,
    },
    /// Close an open incident by hand, saying why.
    Close {
        incident_id: IncidentId,
        note: String,
        by: String,
    },
    /// `command`, answered on `reply` with whether it applied: how the API
    /// tells a caller 409 instead of 202 without guessing at the engine's state.
    Ask {
        command: Box<Command>,
        reply: Reply,
    },
    /// Ask a target that offers chaos to inject a fault.
    InjectChaos {
        target: String,
        fault: String,
    },
    Pause {
        by: String,
    },
    Resume {
        by: String,
    },
    Silence {
        target: String,
        duration: std::time::Duration,
        by: String,
    },
    Unsilence {
        target: String,
        by: String,
    },
    /// Stop probing, let running actions finish, flush the journal.
    Shutdown {
        reason: String,
    },
    /// A failure of `target` (or, with `firing: false`, its end) reported by
    /// another tool: Alertmanager, an incident intake. Repeats are idempotent.
    Ingest {
        source: String,
        target: String,
        /// The failure in the reporter's words: a signature (`DB_TIMEOUT`,
        /// an alertname) or free text the playbooks' `match.text` may recognise.
        text: String,
        severity: Option<Severity>,
        detail: String,
        labels: std::collections::BTreeMap<String, String>,
        firing: bool,
        /// From the report's `traceparent`; made by the engine when absent.
        trace_id: Option<String>,
        /// When the reporter says the fault began; now when absent.
        started_at: Option<Timestamp>,
    },
    /// Add (or change) a target at run time; declined for a config target or
    /// beyond [`crate::engine::MAX_REGISTERED`].
    Register(Registration),
    /// Remove a target registered at run time; declined for a config target.
    Deregister {
        target: String,
        by: String,
    },
    /// A notifier gave up on a webhook: the engine journals it as `notification_failed`.
    RecordNotificationFailure {
        url: String,
        incident_id: Option<IncidentId>,
        error: String,
    },
}

/// Why a command did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declined {
    /// No incident (or target) by that name.
    NotFound(String),
    /// It exists, but the command does not apply to it now.
    Conflict(String),
}

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Declined::NotFound(why) | Declined::Conflict(why) => f.write_str(why),
        }
    }
}

/// Where the engine answers a [`Command::Ask`]. Taken once; a clone shares it,
/// and equal means the same channel.
#[derive(Debug, Clone)]
pub struct Reply(std::sync::Arc<std::sync::Mutex<Option<oneshot::Sender<Answer>>>>);

/// The engine's answer to a [`Command::Ask`]: it applied (with the incident a
/// report opened or joined), or why not.
pub type Answer = Result<Option<Opened>, Declined>;

/// The incident a report opened or joined, as its reporter is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub incident_id: IncidentId,
    pub trace_id: String,
}

impl Reply {
    pub fn new() -> (Reply, oneshot::Receiver<Answer>) {
        let (tx, rx) = oneshot::channel();
        (
            Reply(std::sync::Arc::new(std::sync::Mutex::new(Some(tx)))),
            rx,
        )
    }

    /// Answers; a second answer, or one nobody waits for any more, goes nowhere.
    pub fn send(&self, answer: Answer) {
        let tx = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(tx) = tx {
            let _ = tx.send(answer);
        }
    }
}

impl PartialEq for Reply {
    fn eq(&self, other: &Reply) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// `ts` is RFC 3339 in UTC with exactly three fractional digits.
pub mod ts_millis {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(ts: &Timestamp) -> String {
        format!("{ts:.3}")
    }

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_line_has_seq_ts_and_kind_first_class() {
        let event = Event {
            seq: 7,
            ts: "2026-11-23T13:02:11.482Z".parse().unwrap(),
            kind: EventKind::IncidentDetected {
                incident_id: IncidentId(7),
                target: "orders-db".into(),
                signature: "DB_TIMEOUT".into(),
                severity: Severity::High,
                started_at: "2026-11-23T13:02:11Z".parse().unwrap(),
                chaos: false,
                trace_id: String::new(),
                reported_by: None,
                text: None,
            },
        };
        let line = serde_json::to_string(&event).unwrap();
        assert!(
            line.starts_with(
                r#"{"seq":7,"ts":"2026-11-23T13:02:11.482Z","kind":"incident_detected""#
            ),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), event);
    }

    #[test]
    fn an_analysis_from_before_actions_were_journaled_still_reads() {
        let old = r#"{"seq":3,"ts":"2026-11-23T13:02:11.482Z","kind":"incident_analyzed","incident_id":2,"playbook":"p","step":"restart","confidence":0.8,"decision":"approval_required","reason":"r"}"#;
        let Ok(Event {
            kind: EventKind::IncidentAnalyzed {
                action, critical, ..
            },
            ..
        }) = serde_json::from_str::<Event>(old)
        else {
            panic!("an old line reads")
        };
        assert_eq!((action, critical), (None, false));
    }

    #[test]
    fn registrations_are_flat_journal_lines_with_optional_fields_left_out() {
        let ts: Timestamp = "2026-11-23T13:02:11.482Z".parse().unwrap();
        let registered = Event {
            seq: 9,
            ts,
            kind: EventKind::TargetRegistered(Registration {
                target: "payment-api".into(),
                source: TargetSource::Api,
                health_url: Some("http://localhost:6000/health".into()),
                display_name: Some("Payment API".into()),
                critical: true,
                labels: [("tag.payments".to_string(), "true".to_string())].into(),
                webhook_url: None,
                by: "key ci".into(),
            }),
        };
        let line = serde_json::to_string(&registered).unwrap();
        assert_eq!(
            line,
            r#"{"seq":9,"ts":"2026-11-23T13:02:11.482Z","kind":"target_registered","target":"payment-api","source":"api","health_url":"http://localhost:6000/health","display_name":"Payment API","critical":true,"labels":{"tag.payments":"true"},"by":"key ci"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), registered);
        let passive = r#"{"seq":10,"ts":"2026-11-23T13:02:11.482Z","kind":"target_registered","target":"billing","source":"intake"}"#;
        let Ok(Event {
            kind: EventKind::TargetRegistered(r),
            ..
        }) = serde_json::from_str::<Event>(passive)
        else {
            panic!("a passive registration reads")
        };
        assert_eq!(
            (r.health_url, r.critical, r.by),
            (None, false, String::new())
        );
        let gone = r#"{"seq":11,"ts":"2026-11-23T13:02:11.482Z","kind":"target_deregistered","target":"billing","by":"api"}"#;
        assert!(serde_json::from_str::<Event>(gone).is_ok());
    }

    #[test]
    fn whole_seconds_still_carry_three_digits() {
        let ts: Timestamp = "2026-11-23T13:02:11Z".parse().unwrap();
        assert_eq!(ts_millis::format(&ts), "2026-11-23T13:02:11.000Z");
    }
}
