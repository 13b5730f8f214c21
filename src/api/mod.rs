//! The HTTP API of `autoheal-tui serve`: health, metrics, the event stream (the
//! same events the journal holds), commands and reports from other tools. Nothing
//! a caller sends is ever run through a shell: a request becomes at most one of
//! the public commands ([`PublicCommand`]) or a report (`Command::Ingest`).
//!
//! Every route checks `Host` and `Origin` ([`guard`]); `/api` routes also need the
//! token when one is set; a POST must be JSON. Bodies are capped at
//! [`BODY_LIMIT`] ([`ALERTMANAGER_BODY_LIMIT`] for Alertmanager's batches).

mod commands;
mod guard;
mod ingest;
mod places;
mod query;
mod server;
mod services;
pub mod share;
pub mod telemetry;

pub use commands::{MAX_NAME, MAX_NOTE, PUBLIC_COMMANDS, PublicCommand};
pub use ingest::{ALERTMANAGER_AT_ONCE, ALERTMANAGER_WAIT, MAX_DETAIL};
pub use server::{
    FD_RESERVE, FDS_PER_TARGET, HEADER_TIMEOUT, Limits, MAX_CONNECTIONS, REQUEST_TIMEOUT,
    raise_fd_limit, serve,
};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Semaphore, broadcast, mpsc};

use crate::config::ApiKey;
use crate::engine::{EngineHandle, Heartbeat, Roster, Subscriber, View};
use crate::event::{Command, Event};
use crate::journal;
use crate::metrics::{self, SharedMetrics};

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Alertmanager groups alerts: a batch of 1,000 is about 190 KB.
pub const ALERTMANAGER_BODY_LIMIT: usize = 4 * 1024 * 1024;

pub struct Api {
    pub commands: mpsc::Sender<Command>,
    pub events: Subscriber,
    /// The engine's state: what every read route answers from.
    pub state: View,
    /// The engine loop's pulse, for `/health`.
    pub heartbeat: Heartbeat,
    /// Where history before a client's `since` is read from.
    pub journal: Option<PathBuf>,
    /// With any, every protected route needs one whose role allows it ([`guard::authorize`]).
    pub keys: Vec<ApiKey>,
    /// Served as `GET /metrics` when set (see [`metrics::spawn`]).
    pub metrics: Option<SharedMetrics>,
    /// The targets the engine watches now (config and registered): a command
    /// about any other is answered 404 at once, and so is a report with
    /// `intake.unknown_services: reject`.
    pub targets: Roster,
    /// `Host` names allowed besides IP addresses and `localhost` (`api.allowed_hosts`).
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call (`api.allowed_origins`); none by default.
    pub allowed_origins: Vec<String>,
    /// Faults `/chaos/trigger` may inject, by target (the chaos monkey's victims).
    pub chaos: BTreeMap<String, Vec<String>>,
    /// When this API began serving, for `/status`'s uptime.
    pub started: Instant,
    /// Served as `/api/telemetry` and `/api/presence` when set ([`telemetry::Hub::spawn`]).
    pub telemetry: Option<Arc<telemetry::Hub>>,
    /// The other replicas every accepted report is shared with (config `ha`).
    pub peers: Option<Arc<dyn share::Peers>>,
}

impl Api {
    /// The API of a running engine, with no keys, journal, metrics or targets:
    /// set those with `Api { keys, ..Api::new(&engine) }`.
    pub fn new(engine: &EngineHandle) -> Api {
        Api {
            commands: engine.commands(),
            events: engine.subscriber(),
            state: engine.view(),
            heartbeat: engine.heartbeat(),
            journal: None,
            keys: Vec::new(),
            metrics: None,
            targets: engine.roster(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            chaos: BTreeMap::new(),
            started: Instant::now(),
            telemetry: None,
            peers: None,
        }
    }
}

/// Off loopback, an API without keys would let anyone on the network approve fixes.
pub fn check_listen(addr: &SocketAddr, keys: &[ApiKey]) -> Result<(), String> {
    match addr.ip().is_loopback() || !keys.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "refusing to listen on {addr} without a key: set AUTOHEAL_TOKEN (or `api.token` or `api.keys` in the config), or listen on 127.0.0.1"
        )),
    }
}

pub fn router(api: Api) -> Router {
    let metrics = api.metrics.clone();
    let api = Arc::new(api);
    let protected = Router::new()
        .route("/api/events", get(events))
        .route("/api/state", get(snapshot))
        .route("/api/telemetry", get(telemetry::stream))
        .route("/api/presence", get(telemetry::presence))
        .route("/api/commands", post(commands::command))
        .route("/api/incidents", post(ingest::incident).get(query::list))
        .route("/api/incidents/{id}", get(query::one))
        .route("/api/metrics", get(query::figures))
        .route("/status", get(query::status))
        .route("/chaos/trigger", get(query::trigger))
        .route(
            "/api/alertmanager",
            post(ingest::alertmanager)
                .layer(DefaultBodyLimit::max(ALERTMANAGER_BODY_LIMIT))
                .layer(middleware::from_fn_with_state(
                    Arc::new(Semaphore::new(ALERTMANAGER_AT_ONCE)),
                    ingest::few_at_once,
                )),
        )
        .route("/api/events/publish", post(ingest::publish))
        .route("/incident", post(ingest::legacy_incident))
        .route("/publish_event", post(ingest::legacy_publish))
        .route("/api/services", get(services::list))
        .route("/api/services/register", post(services::register))
        .route("/api/services/{service_id}", delete(services::deregister))
        // Innermost: only a report that passed the guards is shared.
        .route_layer(middleware::from_fn_with_state(
            api.clone(),
            share::share_reports,
        ))
        .route_layer(middleware::from_fn(guard::json_posts))
        .route_layer(middleware::from_fn_with_state(
            api.clone(),
            guard::authorize,
        ));
    let mut open = Router::new().route("/health", get(health));
    if let Some(metrics) = metrics {
        // Outside the token, like /health: Prometheus scrapes without credentials, and
        // the numbers (counts, latencies, target names) grant no power over the engine.
        open = open.route("/metrics", get(move || scrape(metrics.clone())));
    }
    open.merge(protected)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            api.clone(),
            guard::same_site,
        ))
        .with_state(api)
}

/// `GET /health`: 200 while the engine loop turns, 503 once it has stalled
/// (no turn for [`crate::engine::STALL`]) or stopped, with the age of its last turn.
async fn health(State(api): State<Arc<Api>>) -> Response {
    let age = api.heartbeat.age();
    let engine_age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
    let (status, word) = if api.commands.is_closed() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopped")
    } else if api.heartbeat.stalled() {
        (StatusCode::SERVICE_UNAVAILABLE, "stalled")
    } else {
        (StatusCode::OK, "ok")
    };
    let mut body = json!({ "status": word, "engine_age_ms": engine_age_ms });
    // A replica says whether it acts (config `ha`): a load balancer may route to it either way.
    if let Some((replica, role)) = api.state.read().replica.clone() {
        body["replica"] = json!(replica);
        body["role"] = serde_json::to_value(&role).unwrap_or_default();
    }
    (status, Json(body)).into_response()
}

async fn scrape(metrics: SharedMetrics) -> Response {
    let text = metrics::lock(&metrics).render();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// 503 for a request that may succeed in a moment: clients that honour
/// `retry-after` (Alertmanager, `attach`) come back.
fn busy(message: impl Into<String>) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}

/// 404 naming the known targets when `target` is not one of them.
fn unknown_target(api: &Api, target: &str) -> Option<Response> {
    if api.targets.knows(target) {
        return None;
    }
    Some(error(
        StatusCode::NOT_FOUND,
        unknown_target_text(api, target),
    ))
}

fn unknown_target_text(api: &Api, target: &str) -> String {
    let known = api.targets.names().join(", ");
    let target: String = commands::clean_text(target).chars().take(80).collect();
    format!(
        "no target named {target}: add it to the config or register it with POST /api/services/register (known: {known})"
    )
}

/// Hands commands to the engine: 202 once all are queued, 503 if it has stopped.
async fn deliver(api: &Api, commands: impl IntoIterator<Item = Command>) -> Response {
    for command in commands {
        if api.commands.send(command).await.is_err() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped");
        }
    }
    (StatusCode::ACCEPTED, Json(json!({ "accepted": true }))).into_response()
}

/// `GET /api/state`: the whole state with the `seq` it is folded up to; a
/// client may then follow `/api/events?since=SEQ`.
async fn snapshot(State(api): State<Arc<Api>>) -> Response {
    let state = api.state.read();
    let body = json!({ "seq": state.last_seq, "state": &*state });
    drop(state);
    Json(body).into_response()
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    since: u64,
}

/// `GET /api/events?since=SEQ`: every event after SEQ as newline-delimited JSON,
/// first from the journal, then live. The stream ends when the engine stops or the
/// client falls too far behind; either way the client resumes from its last `seq`.
/// Beyond [`Limits::max_streams`] at once, 503 with `retry-after`.
async fn events(
    State(api): State<Arc<Api>>,
    streams: Option<Extension<server::Streams>>,
    Query(Since { since }): Query<Since>,
) -> Response {
    // Served by [`serve`], streams take one of its places; served otherwise, no cap.
    let place = match streams.map(|Extension(streams)| streams.take()) {
        Some(None) => {
            return busy("too many event streams are open; retry in a moment");
        }
        place => place.flatten(),
    };
    // Subscribe before reading history, so nothing falls between the two.
    let mut live = api.events.subscribe();
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let journal = api.journal.clone();
    tokio::spawn(async move {
        let mut last = since;
        if let Some(path) = journal {
            let (history_tx, mut history) = mpsc::channel::<Event>(1024);
            let reader = tokio::task::spawn_blocking(move || {
                // A client that hangs up ends the read, not only the sending.
                journal::replay_since(&path, since, |e| match e.seq > since {
                    true if history_tx.blocking_send(e).is_err() => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
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
    // The place goes with the body, so it is free the moment the client leaves.
    let stream = futures_util::stream::unfold((rx, place), |(mut rx, place)| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), (rx, place)))
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
    use crate::config::ApiConfig;

    #[test]
    fn off_loopback_needs_a_token() {
        let lan: SocketAddr = "0.0.0.0:7311".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:7311".parse().unwrap();
        assert!(
            check_listen(&lan, &[])
                .unwrap_err()
                .starts_with("refusing to listen on 0.0.0.0:7311")
        );
        let key = [ApiKey::token("s3cret")];
        assert!(check_listen(&lan, &key).is_ok());
        assert!(check_listen(&local, &[]).is_ok());
        assert!(
            ApiConfig::default()
                .all_keys(Some(String::new()))
                .is_empty()
        );
    }
}
