//! One incident as the fold keeps it: its status, what was decided and tried,
//! and its timeline (bounded: see [`TIMELINE_HEAD`] and [`TIMELINE_TAIL`]).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Span, TIMELINE_HEAD, TIMELINE_TAIL};
use crate::event::{AnalystDecision, Decision, Event, IncidentId, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Detected,
    AwaitingApproval,
    Remediating,
    Verifying,
    Monitoring,
    Suppressed,
    /// Caused by the failure of a target it depends on (`root`): not remediated on its own.
    Symptom,
    Escalated,
    Rejected,
    Resolved,
    /// Closed by an operator with a note; autoheal did not fix it.
    Closed,
}

impl Status {
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed)
    }

    /// A fix is running or being verified.
    pub fn is_acting(self) -> bool {
        matches!(self, Status::Remediating | Status::Verifying)
    }

    /// In the dead-letter queue: automation gave up or was turned down, and
    /// `retry` may send it through the planner again.
    pub fn can_retry(self) -> bool {
        matches!(self, Status::Escalated | Status::Rejected)
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Detected => "detected",
            Status::AwaitingApproval => "awaiting approval",
            Status::Remediating => "remediating",
            Status::Verifying => "verifying",
            Status::Monitoring => "monitoring",
            Status::Suppressed => "suppressed",
            Status::Symptom => "symptom",
            Status::Escalated => "escalated",
            Status::Rejected => "rejected",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    pub target: String,
    pub signature: String,
    pub severity: Severity,
    pub status: Status,
    pub chaos: bool,
    /// See `incident_detected`: the trace id, who reported it, in what words.
    pub trace_id: String,
    pub reported_by: Option<String>,
    pub text: Option<String>,
    pub started_at: Timestamp,
    pub detected_at: Timestamp,
    pub playbook: Option<String>,
    /// The step proposed or running now.
    pub step: Option<String>,
    pub confidence: f64,
    pub decision: Option<Decision>,
    pub reason: String,
    /// Steps that already ran in this incident: never run twice (act once until resolved).
    pub tried_steps: Vec<String>,
    pub attempts: Vec<Attempt>,
    pub approved_by: Option<String>,
    pub rejected_by: Option<String>,
    /// What the proposed step would run (see `incident_analyzed`).
    pub action: Option<String>,
    /// The target is marked critical.
    pub critical: bool,
    /// Who owns it (`acknowledge`).
    pub acknowledged_by: Option<String>,
    /// A retry from a named step: the planner starts there, not at the first.
    pub retry_from: Option<String>,
    /// How often an operator retried it: each retry may run every step again.
    #[serde(default)]
    pub retries: u32,
    /// Who closed it by hand, and why.
    pub closed_by: Option<String>,
    pub close_note: Option<String>,
    pub resolved_at: Option<Timestamp>,
    pub time_to_resolve_ms: Option<u64>,
    /// The incident this one is a symptom of (`incident_linked`).
    #[serde(default)]
    pub root: Option<IncidentId>,
    /// The AI analyst's latest answer about it (`analyst_proposed` or `analyst_failed`).
    #[serde(default)]
    pub analysis: Option<Analysis>,
    /// The model whose proposal chose `playbook` and `step` (awaiting approval,
    /// running or done); `None` when the planner chose them.
    #[serde(default)]
    pub proposed_by: Option<String>,
    /// The events about this incident, in order: its timeline for the detail
    /// view. Past [`TIMELINE_HEAD`] + [`TIMELINE_TAIL`] events, those after the
    /// first `TIMELINE_HEAD` leave, oldest first, and are counted in `timeline_elided`.
    pub timeline: Vec<Event>,
    /// Events left out of `timeline` after its first `TIMELINE_HEAD` (the journal has them).
    pub timeline_elided: u64,
}

impl Incident {
    /// Opened by a prediction to offer a fix before the failure: every step
    /// it runs is approved by a human first.
    pub fn predicted(&self) -> bool {
        self.reported_by.as_deref() == Some(crate::predict::PREDICTION)
            || self.signature.starts_with(crate::playbook::PREDICTED)
    }

    pub(super) fn record(&mut self, event: &Event) {
        if self.timeline.len() >= TIMELINE_HEAD + TIMELINE_TAIL {
            self.timeline.remove(TIMELINE_HEAD);
            self.timeline_elided = self.timeline_elided.saturating_add(1);
        }
        self.timeline.push(event.clone());
    }

    /// Where the journal holds it: the seqs of its first and last events.
    pub fn span(&self) -> Option<Span> {
        Some(Span {
            id: self.id,
            first_seq: self.timeline.first()?.seq,
            last_seq: self.timeline.last()?.seq,
        })
    }
}

/// What the AI analyst said about an incident, for the detail view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub model: String,
    pub at: Timestamp,
    /// `None` when it gave no usable answer; `reason` then says why.
    pub decision: Option<AnalystDecision>,
    pub playbook: Option<String>,
    pub step: Option<String>,
    pub confidence: f64,
    pub reason: String,
    /// Its step went to the approval queue.
    pub queued: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub step: String,
    pub action: String,
    pub attempt: u32,
    pub started_at: Timestamp,
    pub ok: Option<bool>,
    pub duration_ms: Option<u64>,
    pub output: String,
}
