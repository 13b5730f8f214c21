//! Replicas of a central healer share their intake (config `ha`): a report
//! that one replica accepted is sent on to every other, so each journals
//! every report. A new leader then already holds what the old one was told,
//! instead of waiting for the sender to repeat it (Alertmanager repeats
//! firing alerts, but only every `repeat_interval`; a one-shot intake never
//! does). Forwarding only to the leader would lose a report whenever the
//! leader dies between taking it and acting on it.
//!
//! The same goes for the commands that hold automation back (pause, resume,
//! silence, unsilence): a pause given to one replica holds them all, so a
//! follower that takes over does not act where the operator said stop.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;

use super::{ALERTMANAGER_BODY_LIMIT, Api};
use crate::engine::role::Pending;

/// The other replicas, as the election knows them.
pub trait Peers: Send + Sync {
    /// This replica's name: sent with what it forwards.
    fn me(&self) -> &str;
    /// The API base URL of every other replica now campaigning.
    fn others(&self) -> Pending<Vec<String>>;
}

/// Set on a forwarded report, which is never forwarded again. A peer that
/// sets it only stops the fan-out of its own report: it grants nothing.
pub const FORWARDED: HeaderName = HeaderName::from_static("x-autoheal-forwarded");

/// The routes that take reports.
const INTAKE: &[&str] = &[
    "/api/incidents",
    "/api/alertmanager",
    "/api/events/publish",
    "/incident",
    "/publish_event",
];

/// Where commands arrive; of those, only [`HOLD_BACK`] are shared.
const COMMANDS: &str = "/api/commands";

/// The commands that hold automation back, or let it go again.
const HOLD_BACK: &[&str] = &["pause", "resume", "silence", "unsilence"];

fn holds_back(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["command"].as_str().map(|c| HOLD_BACK.contains(&c)))
        .unwrap_or(false)
}

/// Headers a report travels with: the caller's key works on every replica
/// (they share the config), and the trace stays one trace.
const KEPT: &[HeaderName] = &[header::AUTHORIZATION, header::CONTENT_TYPE];

const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// Reports being shared at once, at most.
const AT_ONCE: usize = 32;

static FORWARDING: std::sync::LazyLock<Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| Arc::new(tokio::sync::Semaphore::new(AT_ONCE)));

pub async fn share_reports(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let Some(peers) = api.peers.clone() else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_string();
    let shared = INTAKE.contains(&path.as_str()) || path == COMMANDS;
    if request.method() != Method::POST || !shared || request.headers().contains_key(&FORWARDED) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, ALERTMANAGER_BODY_LIMIT).await else {
        return super::error(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "the report is too large",
        );
    };
    if path == COMMANDS && !holds_back(&bytes) {
        // Approvals and the like belong to the leader alone.
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }
    let mut headers: Vec<(HeaderName, axum::http::HeaderValue)> = KEPT
        .iter()
        .chain([
            &HeaderName::from_static("traceparent"),
            &HeaderName::from_static("x-api-key"),
        ])
        .filter_map(|name| Some((name.clone(), parts.headers.get(name)?.clone())))
        .collect();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    if response.status().is_success() {
        // Always marked, or two replicas would pass it back and forth: by name
        // when the name can be a header value.
        let me = axum::http::HeaderValue::from_str(peers.me())
            .unwrap_or(axum::http::HeaderValue::from_static("replica"));
        headers.push((FORWARDED, me));
        // A flood of reports must not become a flood of tasks, each holding a
        // body of up to 4 MiB: past this many at once, the sender's repeat or
        // the next leader's own report has to do. A hold (pause, silence),
        // small and rare, is never dropped for want of a slot.
        let permit = match FORWARDING.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) if path == COMMANDS => None,
            Err(_) => {
                tracing::warn!("ha: {AT_ONCE} reports being shared already; {path} not shared");
                return response;
            }
        };
        tokio::spawn(async move {
            forward(peers, path, headers, bytes).await;
            drop(permit);
        });
    }
    response
}

/// One client for every forward. It follows no redirect: the caller's key
/// goes to the replicas the election names and nowhere else.
fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

async fn forward(
    peers: Arc<dyn Peers>,
    path: String,
    headers: Vec<(HeaderName, axum::http::HeaderValue)>,
    body: axum::body::Bytes,
) {
    let client = client();
    for base in peers.others().await {
        let mut request = client.post(format!("{}{path}", base.trim_end_matches('/')));
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_bytes());
        }
        match request.body(body.clone()).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!("ha: {base} refused a shared report: {}", r.status()),
            Err(e) => tracing::warn!("ha: cannot share a report with {base}: {e}"),
        }
    }
}
