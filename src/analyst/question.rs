//! What the analyst is asked: the incident in short form and the steps it may
//! choose from, as one chat-completions request.

use serde::Serialize;
use std::collections::BTreeMap;

use super::answer::clean;
use crate::event::{Event, Severity};

/// At most this many candidate steps are offered: a prompt stays small.
pub const MAX_CANDIDATES: usize = 30;
/// The incident's latest events sent along, at most.
pub const MAX_EVENTS: usize = 20;
/// A text field of an event is cut to this many characters.
const MAX_FIELD: usize = 200;

/// States the answer shape; the model's reply is checked against it.
pub const SYSTEM: &str = "You are the incident analyst of autoheal, a self-healing operations console. \
You receive one incident (target, signature, severity, detail, labels, recent events) and the \
candidate remediation steps autoheal already has. Advise what to do. Answer with one JSON object \
and nothing else, exactly: {\"decision\": \"remediate\" | \"escalate\" | \"monitor\", \"step\": \
\"<the id of one candidate step>\" or null, \"confidence\": <a number from 0 to 1>, \"reason\": \
\"<one or two short sentences>\"}. Choose \"remediate\" only with a step whose id is in the \
candidate list; an operator approves it before it runs. Choose \"escalate\" when a human must act, \
\"monitor\" when it should only be watched; their step is null.";

/// One question about one incident.
#[derive(Debug, Clone, Serialize)]
pub struct Question {
    pub incident: Brief,
    pub candidates: Vec<Candidate>,
}

/// The incident as the analyst sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub target: String,
    pub signature: String,
    pub severity: Severity,
    /// Where it stands (`escalated`, `monitoring`) and why, in the planner's words.
    pub status: String,
    pub why: String,
    /// What the target's last failure said.
    pub detail: String,
    /// The report's own words, when they are not the signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Its latest events, oldest first, in short form.
    pub events: Vec<serde_json::Value>,
}

/// A step the analyst may propose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// `playbook/step`: what the analyst names in its answer.
    pub id: String,
    /// What it would run, values filled in, no secrets.
    pub action: String,
    pub playbook_confidence: f64,
    #[serde(skip)]
    pub playbook: String,
    #[serde(skip)]
    pub step: String,
}

impl Candidate {
    pub fn new(playbook: &str, step: &str, action: String, confidence: f64) -> Candidate {
        Candidate {
            id: format!("{playbook}/{step}"),
            action,
            playbook_confidence: confidence,
            playbook: playbook.to_string(),
            step: step.to_string(),
        }
    }
}

/// `event` without what the analyst needs not see (its seq, the incident id),
/// every text cut to a couple of hundred characters.
pub fn short_event(event: &Event) -> serde_json::Value {
    let mut value = serde_json::to_value(event).unwrap_or_default();
    if let Some(fields) = value.as_object_mut() {
        fields.remove("seq");
        fields.remove("incident_id");
        fields.remove("trace_id");
        for field in fields.values_mut() {
            if let Some(text) = field.as_str() {
                *field = serde_json::Value::String(clean(text, MAX_FIELD));
            }
        }
    }
    value
}

/// The chat-completions request body.
pub fn request(model: &str, question: &Question) -> serde_json::Value {
    let user = serde_json::to_string(question).unwrap_or_default();
    serde_json::json!({
        "model": model,
        "temperature": 0,
        "response_format": { "type": "json_object" },
        "messages": [
            { "role": "system", "content": SYSTEM },
            { "role": "user", "content": user },
        ],
    })
}
