//! Webhook notifiers: a subscriber to the event stream that POSTs escalations,
//! resolutions and failures to the hooks in the config's `notify` section.
//!
//! Each POST runs in its own task with a timeout and retries, so a slow or dead
//! hook never holds up the next notification or the engine. A notification that
//! still fails comes back into the engine as a command and is journaled as
//! `notification_failed`. A hook's secret signs the body and goes nowhere else.

use hmac::{Hmac, Mac};
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

use crate::config::{NotifyConfig, NotifyEvent, NotifyFormat};
use crate::engine::View;
use crate::event::{Command, Event, EventKind, IncidentId};
use crate::report;
use crate::state::State;

/// Header carrying `sha256=<hex HMAC-SHA256 of the body>` when a hook has a secret.
pub const SIGNATURE_HEADER: &str = "X-Autoheal-Signature";
/// Unix seconds when a signed request was sent; covered by the signature.
pub const TIMESTAMP_HEADER: &str = "X-Autoheal-Timestamp";
/// How long one POST may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Waits before each attempt: the first at once, then backing off.
pub const BACKOFF: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(500),
    Duration::from_secs(1),
];

/// Follows the event stream (reading the engine's `state` for each incident's
/// target and signature) and notifies the matching hooks, until the engine stops.
/// A service registered with a `webhook_url` is told (JSON, every event) about
/// its own incidents, besides the config's hooks.
pub async fn run(
    hooks: Vec<NotifyConfig>,
    mut events: broadcast::Receiver<Event>,
    state: View,
    commands: mpsc::Sender<Command>,
) {
    let client = reqwest::Client::builder()
        .user_agent(concat!("autoheal/", env!("CARGO_PKG_VERSION")))
        .timeout(TIMEOUT)
        .build()
        .unwrap_or_default();
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("notify: fell behind; {n} events were not considered");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if let Some(which) = notifies(&event.kind) {
            // The engine applied `event` before sending it: the state has it.
            let deliveries: Vec<(NotifyConfig, Vec<u8>)> = {
                let state = state.read();
                if symptom(&event, &state) || !leading(&state) {
                    continue;
                }
                let own = own_hook(&event, &state);
                let matching = hooks.iter().filter(|h| h.events.contains(&which));
                matching
                    .chain(own.as_ref())
                    .map(|hook| (hook.clone(), body(hook.format, &event, &state)))
                    .collect()
            };
            for (hook, body) in deliveries {
                tokio::spawn(deliver(
                    client.clone(),
                    hook,
                    body,
                    event.kind.incident_id(),
                    commands.clone(),
                ));
            }
        }
        if matches!(event.kind, EventKind::EngineStopped { .. }) {
            break;
        }
    }
}

/// An event of a symptom never planned on its own: its root's notifications
/// speak for it (one page for an outage, not one per dependent).
fn symptom(event: &Event, state: &State) -> bool {
    (event.kind.incident_id())
        .and_then(|id| state.incidents.get(&id))
        .is_some_and(|i| i.root.is_some() && i.decision.is_none())
}

/// Of the replicas of a central healer (config `ha`), only the leader
/// notifies: every replica sees the same incidents, one page is enough.
fn leading(state: &State) -> bool {
    state
        .replica
        .as_ref()
        .is_none_or(|(_, role)| role.term().is_some())
}

/// The hook a registered service gave for its own incidents, if the event is about one.
fn own_hook(event: &Event, state: &State) -> Option<NotifyConfig> {
    let incident = state.incidents.get(&event.kind.incident_id()?)?;
    let url = state
        .registered
        .get(&incident.target)?
        .webhook_url
        .clone()?;
    Some(NotifyConfig {
        url,
        format: NotifyFormat::Json,
        secret: None,
        events: NotifyEvent::all(),
    })
}

/// Which `events:` entry an event falls under, if any is worth a notification.
pub fn notifies(kind: &EventKind) -> Option<NotifyEvent> {
    match kind {
        EventKind::IncidentEscalated { .. } => Some(NotifyEvent::Escalated),
        EventKind::IncidentResolved { .. } => Some(NotifyEvent::Resolved),
        EventKind::ActionFinished { ok: false, .. } | EventKind::StepFinished { ok: false, .. } => {
            Some(NotifyEvent::Failed)
        }
        EventKind::Prediction { .. } => Some(NotifyEvent::Predicted),
        _ => None,
    }
}

/// The request body for `format`; `state` is already folded with `event`.
pub fn body(format: NotifyFormat, event: &Event, state: &State) -> Vec<u8> {
    let d = report::describe(event, state, &TimeZone::UTC);
    let text = if d.target.is_empty() {
        format!("{} {}", d.label, d.text)
    } else {
        format!("{} {}: {}", d.label, d.target, d.text)
    };
    let value = match format {
        NotifyFormat::Slack => json!({ "text": text }),
        NotifyFormat::Json => {
            let incident = event
                .kind
                .incident_id()
                .and_then(|id| state.incidents.get(&id))
                .map_or(Value::Null, |i| {
                    // The link both ways: a symptom names its root, a root its symptoms.
                    let symptoms: Vec<_> = (state.incidents.values())
                        .filter(|s| s.root == Some(i.id))
                        .map(|s| s.id)
                        .collect();
                    json!({
                        "id": i.id,
                        "target": i.target,
                        "signature": i.signature,
                        "severity": i.severity,
                        "status": i.status.label().replace(' ', "_"),
                        "trace_id": i.trace_id,
                        "reported_by": i.reported_by,
                        "root": i.root,
                        "symptoms": symptoms,
                    })
                });
            json!({ "event": event, "incident": incident, "text": text })
        }
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

/// `sha256=<lowercase hex HMAC-SHA256 of "{timestamp}.{body}" keyed with secret>`:
/// the timestamp is signed with the body, so a receiver that refuses old
/// timestamps refuses a replayed request too. (HMAC takes a key of any length,
/// so this is always `Some`.)
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(format!("sha256={hex}"))
}

/// The hook's URL fit for a log or the journal: scheme, host and port only,
/// since a path or query (Slack's, for one) is often itself a credential.
pub fn public_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if u.path() != "/" || u.query().is_some() {
                "/…"
            } else {
                ""
            };
            format!(
                "{}://{}{port}{rest}",
                u.scheme(),
                u.host_str().unwrap_or("?")
            )
        }
        Err(_) => "(invalid url)".to_string(),
    }
}

/// POSTs `body` to one hook with retries; reports a final failure to the engine.
async fn deliver(
    client: reqwest::Client,
    hook: NotifyConfig,
    body: Vec<u8>,
    incident_id: Option<IncidentId>,
    commands: mpsc::Sender<Command>,
) {
    let mut error = String::new();
    for wait in BACKOFF {
        tokio::time::sleep(wait).await;
        let mut request = client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        // Signed at each try, so a retry carries its own fresh timestamp.
        let now = jiff::Timestamp::now().as_second().to_string();
        if let Some(sig) = hook
            .secret
            .as_deref()
            .and_then(|s| signature(s, &now, &body))
        {
            request = request
                .header(TIMESTAMP_HEADER, &now)
                .header(SIGNATURE_HEADER, sig);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                let status = r.status();
                error = format!("answered {status}");
                // The hook says the request itself is wrong: sending it again will not help.
                let permanent = status.is_client_error()
                    && status != reqwest::StatusCode::REQUEST_TIMEOUT
                    && status != reqwest::StatusCode::TOO_MANY_REQUESTS;
                if permanent {
                    break;
                }
            }
            Err(e) => error = error_text(e),
        }
    }
    let url = public_url(&hook.url);
    tracing::warn!("notify: {url}: {error}");
    let _ = commands
        .send(Command::RecordNotificationFailure {
            url,
            incident_id,
            error,
        })
        .await;
}

/// A request error and its causes on one line, without the URL.
fn error_text(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if timeout {
        text.push_str(&format!(" (timed out after {}s)", TIMEOUT.as_secs()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body_in_lowercase_hex() {
        // As Python's hmac computes it: hmac.new(b"Jefe", b'1700000000.{"a":1}', sha256).
        assert_eq!(
            signature("Jefe", "1700000000", br#"{"a":1}"#).as_deref(),
            Some("sha256=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a")
        );
        assert_ne!(
            signature("Jefe", "1700000001", br#"{"a":1}"#).as_deref(),
            Some("sha256=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"),
            "another time, another signature"
        );
    }

    #[test]
    fn urls_in_logs_and_events_keep_only_scheme_host_and_port() {
        assert_eq!(
            public_url("https://hooks.slack.com/services/T0/B0/XYZ"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            public_url("http://user:pw@127.0.0.1:8080/"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            public_url("http://h.example/?token=x"),
            "http://h.example/…"
        );
    }

    #[test]
    fn only_escalations_resolutions_failures_and_predictions_notify() {
        let id = IncidentId(1);
        let resolved = EventKind::IncidentResolved {
            incident_id: id,
            time_to_detect_ms: 1,
            time_to_resolve_ms: 2,
        };
        assert_eq!(notifies(&resolved), Some(NotifyEvent::Resolved));
        let step = |ok| EventKind::StepFinished {
            incident_id: id,
            playbook: "p".into(),
            step: "s".into(),
            ok,
            detail: String::new(),
        };
        assert_eq!(notifies(&step(false)), Some(NotifyEvent::Failed));
        assert_eq!(notifies(&step(true)), None);
        assert_eq!(
            notifies(&EventKind::ProbeRecovered { target: "t".into() }),
            None
        );
        let predicted = Event {
            seq: 1,
            ts: "2026-11-23T13:02:11Z".parse().unwrap(),
            kind: EventKind::Prediction {
                target: "db".into(),
                metric: crate::predict::Metric::Disk,
                signature: "DISK_FULL".into(),
                value: 61.0,
                threshold: 95.0,
                per_hour: 15.6,
                eta_s: 7800,
            },
        };
        assert_eq!(notifies(&predicted.kind), Some(NotifyEvent::Predicted));
        let body = body(NotifyFormat::Slack, &predicted, &State::default());
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"text":"PREDICTED db: disk 95.0 % in about 2 h 10 min (now 61.0 %, 15.6 % an hour)"}"#
        );
    }
}
