//! Reports from other tools: incident intakes (`/api/incidents`), event buses
//! (`/api/events/publish`) and Alertmanager (`/api/alertmanager`). Each becomes
//! `Command::Ingest`; what a report carries is data for the engine, never a decision.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

use jiff::Timestamp;

use super::commands::{ask, clean_text, name};
use super::{Api, busy, deliver, error};
use crate::config::MAX_NAME;
use crate::event::{Command, Opened, Severity};
use crate::trace;

/// Longest `detail` kept from a report, in characters; the rest is cut.
pub const MAX_DETAIL: usize = 2000;

/// Alertmanager batches read and parsed at once. Each may be a few MiB, so this
/// bounds their memory however many clients post (4 × 4 MiB, not 1024 × 4 MiB).
pub const ALERTMANAGER_AT_ONCE: usize = 4;

/// How long a batch waits for its turn before 503 with `retry-after`
/// (Alertmanager retries).
pub const ALERTMANAGER_WAIT: Duration = Duration::from_secs(2);

/// `POST /api/incidents` as incident-intake tools send it.
#[derive(Deserialize)]
struct Intake {
    service: String,
    /// The failure: a signature or free text (`connection pool exhausted`).
    error: String,
    #[serde(default)]
    severity: Option<String>,
    /// `firing` (the default) or `resolved`.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    detail: String,
    /// When the fault began, if the reporter says (`/publish_event`'s `timestamp`).
    #[serde(skip)]
    started_at: Option<Timestamp>,
}

/// `POST /api/incidents`: 202 with the incident the report opened or joined.
pub async fn incident(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    let intake = match serde_json::from_slice::<Intake>(&body) {
        Ok(intake) => intake,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid incident: {e}")),
    };
    ingest(&api, "intake", intake, &headers, |opened| {
        let (id, trace) = ids(opened);
        let answer = json!({ "accepted": true, "incident_id": id, "trace_id": trace });
        (StatusCode::ACCEPTED, Json(answer)).into_response()
    })
    .await
}

/// `POST /incident`, as the older incident service took it: the same body as
/// `/api/incidents`, answered `{"message":"Incident received","incidentId":451}`.
pub async fn legacy_incident(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let intake = match serde_json::from_slice::<Intake>(&body) {
        Ok(intake) => intake,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid incident: {e}")),
    };
    ingest(&api, "intake", intake, &headers, |opened| {
        let (id, trace) = ids(opened);
        let answer = json!({ "message": "Incident received", "incidentId": id, "traceId": trace });
        Json(answer).into_response()
    })
    .await
}

/// The incident id and trace id a reporter is told (null when the report
/// opened nothing, e.g. while a fix of that target is being verified).
fn ids(opened: Option<Opened>) -> (Option<u64>, Option<String>) {
    match opened {
        Some(o) => (Some(o.incident_id.0), Some(o.trace_id)),
        None => (None, None),
    }
}

/// `POST /api/events/publish` as event buses send it: `{type, source, payload}`, where
/// `type` names the failure and `payload` says which service (and may carry
/// `severity`, `status`, `detail`, and `timestamp`: when the fault began).
#[derive(Deserialize)]
struct Published {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    source: Option<String>,
    payload: PublishedPayload,
}

#[derive(Deserialize)]
struct PublishedPayload {
    service: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    detail: String,
    /// RFC 3339 (`2025-08-18T12:34:56Z`).
    #[serde(default)]
    timestamp: Option<String>,
}

/// The report in a published event, and who published it.
fn published(body: &[u8]) -> Result<(String, Intake), String> {
    let event: Published =
        serde_json::from_slice(body).map_err(|e| format!("invalid event: {e}"))?;
    let source = event.source.map(|s| name("source", s)).transpose()?;
    if source.as_deref() == Some(crate::predict::PREDICTION) {
        // Its incidents always wait for a human, and trends close them: ours alone.
        return Err("`source` prediction is autoheal's own: name your tool".into());
    }
    let p = event.payload;
    let started_at = match p.timestamp.as_deref().map(str::parse::<Timestamp>) {
        Some(Err(_)) => {
            return Err("`payload.timestamp` must be RFC 3339, e.g. 2025-08-18T12:34:56Z".into());
        }
        Some(Ok(t)) => Some(t),
        None => None,
    };
    let intake = Intake {
        service: p.service,
        error: event.kind,
        severity: p.severity,
        status: p.status,
        detail: p.detail,
        started_at,
    };
    Ok((source.unwrap_or_else(|| "publish".into()), intake))
}

pub async fn publish(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    let (source, intake) = match published(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    ingest(&api, &source, intake, &headers, |opened| {
        let (id, trace) = ids(opened);
        let answer = json!({ "accepted": true, "incident_id": id, "trace_id": trace });
        (StatusCode::ACCEPTED, Json(answer)).into_response()
    })
    .await
}

/// `POST /publish_event`, as the older event service took it, answered
/// `{"status":"incident_opened","incident_id":"12345","message":"Incident logged and under analysis."}`
/// (the id as a string).
pub async fn legacy_publish(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (source, intake) = match published(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let firing = intake.status.as_deref() != Some("resolved");
    ingest(&api, &source, intake, &headers, |opened| {
        let (id, trace) = ids(opened);
        let answer = match firing {
            true => json!({
                "status": "incident_opened",
                "incident_id": id.map(|id| id.to_string()),
                "message": "Incident logged and under analysis.",
                "trace_id": trace,
            }),
            false => json!({
                "status": "incident_resolved",
                "incident_id": id.map(|id| id.to_string()),
                "message": "Incident marked resolved.",
                "trace_id": trace,
            }),
        };
        Json(answer).into_response()
    })
    .await
}

/// Checks a report about one service, hands it to the engine, and answers
/// with `answer` of the incident it opened or joined.
async fn ingest(
    api: &Api,
    source: &str,
    intake: Intake,
    headers: &HeaderMap,
    answer: impl FnOnce(Option<Opened>) -> Response,
) -> Response {
    if let Some(refused) = super::services::refusal(api, &intake.service) {
        return refused;
    }
    let severity = match intake.severity.as_deref().map(parse_severity) {
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "`severity` must be low, medium, high, critical, info or warning",
            );
        }
        Some(s) => s,
        None => None,
    };
    let firing = match intake.status.as_deref() {
        None => true,
        Some(status) => match parse_status(status) {
            Some(firing) => firing,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "`status` must be firing or resolved",
                );
            }
        },
    };
    let text: String = clean_text(intake.error.trim())
        .chars()
        .take(MAX_NAME)
        .collect();
    if text.is_empty() {
        return error(StatusCode::BAD_REQUEST, "`error` must say what failed");
    }
    // Words cut from a long `error` are kept where a person reads them.
    let detail = match intake.detail.is_empty() && text.len() < intake.error.trim().len() {
        true => clean_detail(&intake.error),
        false => clean_detail(&intake.detail),
    };
    let trace_id = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(trace::from_traceparent);
    let command = Command::Ingest {
        source: source.to_string(),
        target: intake.service,
        text,
        severity,
        detail,
        labels: Default::default(),
        firing,
        trace_id,
        started_at: intake.started_at,
    };
    match ask(api, command).await {
        Ok(opened) => answer(opened),
        Err(refused) => refused.into_response(),
    }
}

fn parse_status(status: &str) -> Option<bool> {
    match status {
        "firing" => Some(true),
        "resolved" => Some(false),
        _ => None,
    }
}

fn clean_detail(detail: &str) -> String {
    clean_text(detail).chars().take(MAX_DETAIL).collect()
}

/// Alertmanager's and intake tools' severity words, in ours.
fn parse_severity(word: &str) -> Option<Severity> {
    Some(match word.to_ascii_lowercase().as_str() {
        "critical" | "page" => Severity::Critical,
        "high" | "error" => Severity::High,
        "medium" | "warning" => Severity::Medium,
        "low" | "info" | "none" => Severity::Low,
        _ => return None,
    })
}

/// Lets a request through once one of `turns` is free, waiting at most
/// [`ALERTMANAGER_WAIT`]; its body is read only then.
pub async fn few_at_once(
    State(turns): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(ALERTMANAGER_WAIT, turns.acquire()).await {
        Ok(Ok(_turn)) => next.run(request).await,
        _ => busy("too many Alertmanager batches at once; retry in a moment"),
    }
}

/// Alertmanager's webhook (version 4). Fields we do not use are ignored.
#[derive(Deserialize)]
struct Webhook {
    alerts: Vec<Alert>,
}

#[derive(Deserialize)]
struct Alert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Alertmanager sends `null` when an alert has none.
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// `POST /api/alertmanager`: each alert opens (`firing`) or closes (`resolved`)
/// the incident of its target and `alertname`. Retries and duplicates change
/// nothing: the engine keeps one open incident per target and signature. Alerts
/// about unknown targets are listed in the answer, which is still a 2xx so that
/// Alertmanager does not retry a configuration problem forever. A malformed batch
/// (an unknown `status`) is refused whole, before any of it reaches the engine.
pub async fn alertmanager(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let hook: Webhook = match serde_json::from_slice(&body) {
        Ok(h) => h,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid Alertmanager webhook: {e}"),
            );
        }
    };
    if let Some((index, alert)) = hook
        .alerts
        .iter()
        .enumerate()
        .find(|(_, a)| parse_status(&a.status).is_none())
    {
        let status: String = clean_text(&alert.status).chars().take(40).collect();
        return error(
            StatusCode::BAD_REQUEST,
            format!("alerts[{index}]: status `{status}` must be firing or resolved"),
        );
    }
    let (mut commands, mut unknown) = (Vec::new(), Vec::new());
    for alert in hook.alerts {
        match command_of(&api, alert) {
            Ok(command) => commands.push(command),
            Err(why) => unknown.push(why),
        }
    }
    let accepted = commands.len();
    match deliver(&api, commands).await {
        response if !response.status().is_success() => response,
        _ => (
            StatusCode::ACCEPTED,
            Json(json!({ "accepted": accepted, "not_accepted": unknown })),
        )
            .into_response(),
    }
}

/// The engine's command for one alert, or why it is not accepted.
fn command_of(api: &Api, alert: Alert) -> Result<Command, serde_json::Value> {
    let target = ["service", "job", "instance"]
        .iter()
        .find_map(|k| alert.labels.get(*k))
        .cloned();
    let (Some(target), Some(signature)) = (target, alert.labels.get("alertname").cloned()) else {
        return Err(
            json!({ "labels": alert.labels, "why": "needs `alertname` and one of `service`, `job`, `instance`" }),
        );
    };
    if let Err((_, why)) = super::services::admissible(api, &target) {
        return Err(json!({ "target": target, "why": why }));
    }
    let signature =
        name("alertname", signature).map_err(|why| json!({ "target": target, "why": why }))?;
    let annotations = alert.annotations.unwrap_or_default();
    let detail = ["summary", "description"]
        .iter()
        .find_map(|k| annotations.get(*k))
        .map(|d| clean_detail(d))
        .unwrap_or_default();
    Ok(Command::Ingest {
        source: "alertmanager".into(),
        target,
        text: signature,
        severity: alert.labels.get("severity").and_then(|s| parse_severity(s)),
        detail,
        firing: alert.status == "firing",
        labels: alert.labels,
        trace_id: None,
        started_at: None,
    })
}
