//! The HTTP API of `autoheal-tui serve`: health, metrics, the event stream (the
//! same events the journal holds), and commands. Nothing a caller sends is ever run
//! through a shell: a command is only ever one of the `Command` vocabulary.

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

use crate::engine::Subscriber;
use crate::event::{Command, Event, Severity};
use crate::journal;
use crate::metrics::{self, SharedMetrics};

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

pub struct Api {
    pub commands: mpsc::Sender<Command>,
    pub events: Subscriber,
    /// Where history before a client's `since` is read from.
    pub journal: Option<PathBuf>,
    /// When set, every `/api` call must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Served as `GET /metrics` when set (see [`metrics::spawn`]).
    pub metrics: Option<SharedMetrics>,
    /// Target names, so a report about an unknown service is answered at once.
    pub targets: Vec<String>,
}

/// Off loopback, an API without a token would let anyone on the network approve fixes.
pub fn check_listen(addr: &SocketAddr, token: Option<&str>) -> Result<(), String> {
    match (
        addr.ip().is_loopback(),
        token.is_some_and(|t| !t.is_empty()),
    ) {
        (false, false) => Err(format!(
            "refusing to listen on {addr} without a token: set AUTOHEAL_TOKEN (or `api.token` in the config), or listen on 127.0.0.1"
        )),
        _ => Ok(()),
    }
}

pub fn router(api: Api) -> Router {
    let metrics = api.metrics.clone();
    let api = Arc::new(api);
    let protected = Router::new()
        .route("/api/events", get(events))
        .route("/api/state", get(snapshot))
        .route("/api/commands", post(command))
        .route("/api/incidents", post(incident))
        .route("/api/alertmanager", post(alertmanager))
        .route("/api/events/publish", post(publish))
        .route_layer(middleware::from_fn_with_state(api.clone(), authorize));
    let mut open =
        Router::new().route("/health", get(|| async { Json(json!({ "status": "ok" })) }));
    if let Some(metrics) = metrics {
        // Outside the token, like /health: Prometheus scrapes without credentials, and
        // the numbers (counts, latencies, target names) grant no power over the engine.
        open = open.route("/metrics", get(move || scrape(metrics.clone())));
    }
    open.merge(protected)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(api)
}

async fn scrape(metrics: SharedMetrics) -> Response {
    let text = metrics::lock(&metrics).render();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn authorize(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let Some(token) = api.token.as_deref() else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        next.run(request).await
    } else {
        error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
    }
}

/// Compares without stopping at the first difference, so timing tells nothing
/// about how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /api/state`: the whole state with the `seq` it is folded up to; a
/// client may then follow `/api/events?since=SEQ`. The daemon's fold lives with
/// its metrics (both are the same `State`), so it is served when those are.
async fn snapshot(State(api): State<Arc<Api>>) -> Response {
    let Some(metrics) = &api.metrics else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "this API keeps no state");
    };
    let metrics = metrics::lock(metrics);
    let state = metrics.state();
    Json(json!({ "seq": state.last_seq, "state": state })).into_response()
}

/// `POST /api/commands` with one `Command` as JSON, e.g.
/// `{"command":"approve","incident_id":7,"by":"alice"}`.
async fn command(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let command: Command = match serde_json::from_slice(&body) {
        Ok(c) => c,
        // serde names the field and position: "missing field `incident_id` at line 1 column 24".
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid command: {e}")),
    };
    match api.commands.send(command).await {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({ "accepted": true }))).into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped"),
    }
}

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

async fn incident(State(api): State<Arc<Api>>, body: Bytes) -> Response {
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

async fn publish(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let event: Published = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid event: {e}")),
    };
    let source = event.source.unwrap_or_else(|| "publish".into());
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
    if !api.targets.contains(&intake.service) {
        let known = api.targets.join(", ");
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no target named {}: add it to the config (known: {known})",
                intake.service
            ),
        );
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
        None | Some("firing") => true,
        Some("resolved") => false,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "`status` must be firing or resolved",
            );
        }
    };
    let command = Command::Ingest {
        source: source.to_string(),
        target: intake.service,
        signature: intake.error,
        severity,
        detail: intake.detail,
        labels: Default::default(),
        firing,
    };
    match api.commands.send(command).await {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({ "accepted": true }))).into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped"),
    }
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
/// Alertmanager does not retry a configuration problem forever.
async fn alertmanager(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let hook: Webhook = match serde_json::from_slice(&body) {
        Ok(h) => h,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid Alertmanager webhook: {e}"),
            );
        }
    };
    let (mut accepted, mut unknown) = (0, Vec::new());
    for alert in hook.alerts {
        let target = ["service", "job", "instance"]
            .iter()
            .find_map(|k| alert.labels.get(*k))
            .cloned();
        let (Some(target), Some(signature)) = (target, alert.labels.get("alertname").cloned())
        else {
            unknown.push(json!({ "labels": alert.labels, "why": "needs `alertname` and one of `service`, `job`, `instance`" }));
            continue;
        };
        if !api.targets.contains(&target) {
            unknown.push(json!({ "target": target, "why": "no such target in the config" }));
            continue;
        }
        let annotations = alert.annotations.unwrap_or_default();
        let detail = ["summary", "description"]
            .iter()
            .find_map(|k| annotations.get(*k))
            .cloned()
            .unwrap_or_default();
        let command = Command::Ingest {
            source: "alertmanager".into(),
            target,
            signature,
            severity: alert.labels.get("severity").and_then(|s| parse_severity(s)),
            detail,
            labels: alert.labels,
            firing: alert.status == "firing",
        };
        if api.commands.send(command).await.is_err() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped");
        }
        accepted += 1;
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": accepted, "not_accepted": unknown })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    since: u64,
}

/// `GET /api/events?since=SEQ`: every event after SEQ as newline-delimited JSON,
/// first from the journal, then live. The stream ends when the engine stops or the
/// client falls too far behind; either way the client resumes from its last `seq`.
async fn events(State(api): State<Arc<Api>>, Query(Since { since }): Query<Since>) -> Response {
    // Subscribe before reading history, so nothing falls between the two.
    let mut live = api.events.subscribe();
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let journal = api.journal.clone();
    tokio::spawn(async move {
        let mut last = since;
        if let Some(path) = journal {
            let (history_tx, mut history) = mpsc::channel::<Event>(1024);
            let reader = tokio::task::spawn_blocking(move || {
                journal::replay(&path, |e| {
                    if e.seq > since {
                        let _ = history_tx.blocking_send(e);
                    }
                })
            });
            while let Some(event) = history.recv().await {
                last = event.seq;
                if tx.send(line(&event)).await.is_err() {
                    return;
                }
            }
            let _ = reader.await;
        }
        loop {
            match live.recv().await {
                Ok(event) if event.seq <= last => {}
                Ok(event) => {
                    last = event.seq;
                    if tx.send(line(&event)).await.is_err() {
                        return;
                    }
                }
                Err(
                    broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed,
                ) => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

fn line(event: &Event) -> Bytes {
    let mut text = serde_json::to_vec(event).unwrap_or_default();
    text.push(b'\n');
    Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_loopback_needs_a_token() {
        let lan: SocketAddr = "0.0.0.0:7311".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:7311".parse().unwrap();
        assert!(
            check_listen(&lan, None)
                .unwrap_err()
                .starts_with("refusing to listen on 0.0.0.0:7311")
        );
        assert!(check_listen(&lan, Some("")).is_err());
        assert!(check_listen(&lan, Some("s3cret")).is_ok());
        assert!(check_listen(&local, None).is_ok());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
