//! Reports from other tools: incident intakes (`/api/incidents`), event buses
//! (`/api/events/publish`) and Alertmanager (`/api/alertmanager`). Each becomes
//! `Command::Ingest`; what a report carries is data for the engine, never a decision.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

use super::commands::{clean_text, name};
use super::{Api, busy, deliver, error};
use crate::event::{Command, Severity};

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
    error: String,
    #[serde(default)]
    severity: Option<String>,
    /// `firing` (the default) or `resolved`.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    detail: String,
}

pub async fn incident(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Intake>(&body) {
        Ok(intake) => ingest(&api, "intake", intake).await,
        Err(e) => error(StatusCode::BAD_REQUEST, format!("invalid incident: {e}")),
    }
}

/// `POST /api/events/publish` as event buses send it: `{type, source, payload}`, where
/// `type` names the failure and `payload` says which service (and may carry
/// `severity`, `status`, `detail`).
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
}

pub async fn publish(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let event: Published = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid event: {e}")),
    };
    let source = match event.source.map(|s| name("source", s)).transpose() {
        Ok(source) => source.unwrap_or_else(|| "publish".into()),
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let p = event.payload;
    let intake = Intake {
        service: p.service,
        error: event.kind,
        severity: p.severity,
        status: p.status,
        detail: p.detail,
    };
    ingest(&api, &source, intake).await
}

/// Checks a report about one service and hands it to the engine.
async fn ingest(api: &Api, source: &str, intake: Intake) -> Response {
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
    let signature = match name("error", intake.error) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let command = Command::Ingest {
        source: source.to_string(),
        target: intake.service,
        signature,
        severity,
        detail: clean_detail(&intake.detail),
        labels: Default::default(),
        firing,
    };
    deliver(api, [command]).await
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
        signature,
        severity: alert.labels.get("severity").and_then(|s| parse_severity(s)),
        detail,
        firing: alert.status == "firing",
        labels: alert.labels,
    })
}
