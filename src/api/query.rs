//! Read routes for the clients of the older incident services: `/status`,
//! `/api/incidents` (list and one), `/api/metrics`, and their chaos trigger.
//! Everything read comes from the engine's state (its fold of the events), so
//! it says what the journal says.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use super::{Api, deliver, error};
use crate::event::{Command, IncidentId};
use crate::journal;
use crate::state::{self, Incident, Span, Status};

/// Most incidents one list answers with, whatever `limit` asks.
pub const MAX_LIST: usize = 1000;

/// The response `respond` builds from the engine's state.
fn with_state(api: &Api, respond: impl FnOnce(&state::State) -> Response) -> Response {
    respond(&api.state.read())
}

/// `GET /status`: whether the engine runs, since when, and what it holds.
pub async fn status(State(api): State<Arc<Api>>) -> Response {
    let status = if api.commands.is_closed() {
        "stopped"
    } else if api.heartbeat.stalled() {
        "stalled"
    } else {
        "running"
    };
    with_state(&api, |s| {
        Json(json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": api.started.elapsed().as_secs(),
            "paused": s.paused,
            "dry_run": s.dry_run,
            "targets": {
                "total": s.targets.len(),
                "failing": s.targets.values().filter(|t| t.failing).count(),
            },
            "incidents": counts(s),
            "last_seq": s.last_seq,
        }))
        .into_response()
    })
}

fn counts(s: &state::State) -> Value {
    json!({
        "open": s.open_count(),
        "awaiting_approval": s.approval_queue().len(),
        "detected": s.counts.detected,
        "resolved": s.counts.resolved,
        "escalated": s.counts.escalated,
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    /// A status (`resolved`, `awaiting_approval`, ...) or `open`.
    status: Option<String>,
    target: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/incidents?status=open&target=orders-db&limit=20`: newest first,
/// each without its timeline (ask for one incident to see that).
pub async fn list(State(api): State<Arc<Api>>, Query(q): Query<ListQuery>) -> Response {
    let wanted = match q.status.as_deref().map(status_filter).transpose() {
        Ok(w) => w,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let limit = q.limit.unwrap_or(100).min(MAX_LIST);
    with_state(&api, |s| {
        let incidents: Vec<Value> = s
            .incidents
            .values()
            .rev()
            .filter(|i| wanted.as_ref().is_none_or(|w| w(i.status)))
            .filter(|i| q.target.as_ref().is_none_or(|t| &i.target == t))
            .take(limit)
            .map(summary)
            .collect();
        Json(json!({ "incidents": incidents })).into_response()
    })
}

/// `open`, or one status by its JSON name.
fn status_filter(word: &str) -> Result<Box<dyn Fn(Status) -> bool + Send>, String> {
    if word == "open" {
        return Ok(Box::new(Status::is_open));
    }
    match serde_json::from_value::<Status>(Value::String(word.to_string())) {
        Ok(wanted) => Ok(Box::new(move |s| s == wanted)),
        Err(_) => Err(format!(
            "unknown status `{}`: use open or a status such as awaiting_approval, escalated, resolved",
            word.chars()
                .filter(|c| !c.is_control())
                .take(40)
                .collect::<String>()
        )),
    }
}

fn summary(incident: &Incident) -> Value {
    let mut value = serde_json::to_value(incident).unwrap_or_default();
    if let Some(fields) = value.as_object_mut() {
        fields.remove("timeline");
    }
    value
}

/// `GET /api/incidents/{id}`: one incident with its timeline; `id` as a number
/// or as the console shows it (`#12`). One that left memory (closed before the
/// last `KEEP_CLOSED`) is folded again from its events in the journal.
pub async fn one(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.trim_start_matches('#').parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, "an incident id is a number");
    };
    let found = {
        let s = api.state.read();
        match s.incidents.get(&IncidentId(id)) {
            Some(incident) => Ok(Json(incident).into_response()),
            None => Err(s.archived.get(IncidentId(id))),
        }
    };
    match found {
        Ok(response) => response,
        Err(None) => error(StatusCode::NOT_FOUND, format!("no incident {id}")),
        Err(Some(span)) => from_journal(&api, span).await,
    }
}

/// An incident that left memory, read back from the journal (off the async
/// workers: it may decompress a segment).
async fn from_journal(api: &Api, span: Span) -> Response {
    let (id, first, last) = (span.id, span.first_seq, span.last_seq);
    let Some(path) = api.journal.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "incident {id} is in the journal (seq {first}-{last}), which this API does not read"
            ),
        );
    };
    match tokio::task::spawn_blocking(move || journal::read_incident(&path, span)).await {
        Ok(Ok(Some(incident))) => Json(incident).into_response(),
        Ok(Ok(None)) => error(
            StatusCode::GONE,
            format!(
                "incident {id} was at seq {first}-{last} of the journal, which retention has deleted"
            ),
        ),
        Ok(Err(e)) => {
            tracing::error!("cannot read incident {id} from the journal: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read incident {id} from the journal: {e}"),
            )
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}")),
    }
}

/// `GET /api/metrics`: the figures of `/metrics` as one JSON object.
pub async fn figures(State(api): State<Arc<Api>>) -> Response {
    with_state(&api, |s| {
        let p = |samples: &state::Samples, q| state::percentile(samples, q);
        Json(json!({
            "incidents": counts(s),
            "actions": { "ok": s.counts.actions_ok, "failed": s.counts.actions_failed },
            "remediation_success_rate": s.counts.success_rate(),
            "time_to_detect_ms": { "p50": p(&s.ttd_ms, 50.0), "p95": p(&s.ttd_ms, 95.0) },
            "time_to_resolve_ms": { "p50": p(&s.ttr_ms, 50.0), "p95": p(&s.ttr_ms, 95.0) },
            "running_actions": s.running_actions,
            "paused": s.paused,
            "dry_run": s.dry_run,
            "last_seq": s.last_seq,
        }))
        .into_response()
    })
}

#[derive(Deserialize)]
pub struct ChaosQuery {
    #[serde(rename = "type")]
    kind: String,
}

/// `GET /chaos/trigger?type=db|memory|network`: breaks a random target that
/// offers that fault and has no open incident (the demo fleet's services).
pub async fn trigger(State(api): State<Arc<Api>>, Query(q): Query<ChaosQuery>) -> Response {
    let fault = match q.kind.as_str() {
        "db" => "DB_TIMEOUT",
        "memory" => "MEM_LEAK",
        "network" => "NET_SPIKE",
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "`type` must be db, memory or network",
            );
        }
    };
    let candidates: Vec<String> = {
        let s = api.state.read();
        api.chaos
            .iter()
            .filter(|(_, faults)| faults.iter().any(|f| f == fault))
            .filter(|(t, _)| s.open_incidents_of(t).next().is_none())
            .map(|(t, _)| t.clone())
            .collect()
    };
    let Some(target) =
        (!candidates.is_empty()).then(|| candidates[fastrand::usize(..candidates.len())].clone())
    else {
        return error(
            StatusCode::CONFLICT,
            format!("no healthy target offers {fault} now"),
        );
    };
    let command = Command::InjectChaos {
        target: target.clone(),
        fault: fault.into(),
    };
    match deliver(&api, [command]).await {
        r if !r.status().is_success() => r,
        _ => (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "chaos_injected", "target": target, "fault": fault })),
        )
            .into_response(),
    }
}
