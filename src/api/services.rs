//! Services registered at run time, as earlier incident services took them:
//! `POST /api/services/register`, `DELETE /api/services/{service_id}`,
//! `GET /api/services`; and whether a report about a service no target names
//! is taken ([`admissible`]). The engine decides and journals each change
//! (`target_registered`, `target_deregistered`), so registrations survive a
//! restart.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::commands::{self, Refused, clean_text};
use super::guard::Caller;
use super::{Api, error};
use crate::config::{MAX_NAME, UnknownServices, http_url};
use crate::engine::roster::{self, Entry};
use crate::event::{Command, Declined, Registration, TargetSource};
use crate::notify::public_url;

/// At most this many tags, and this many metadata entries, in one registration.
pub const MAX_TAGS: usize = 64;

/// Longest health or webhook URL taken, in characters.
pub const MAX_URL: usize = 2000;

/// `POST /api/services/register`, e.g.
/// `{"service_id":"payment-api","name":"Payment API","health_url":"http://localhost:6000/health",
/// "webhook_url":"http://localhost:6000/webhook","tags":["critical"],"metadata":{}}`.
/// Fields it does not know are ignored, as the services it replaces did.
#[derive(Deserialize)]
struct Register {
    service_id: String,
    #[serde(default)]
    name: Option<String>,
    /// Without one, the service is passive: known by reports only.
    #[serde(default)]
    health_url: Option<String>,
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    metadata: serde_json::Map<String, Value>,
}

/// Registers (or changes) a service: 201 when new, 200 when it was registered
/// already (`updated` or `unchanged`), 409 for a target of the config file,
/// 429 beyond [`roster::MAX_REGISTERED`].
pub async fn register(
    State(api): State<Arc<Api>>,
    caller: Option<Extension<Caller>>,
    body: Bytes,
) -> Response {
    let request: Register = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid registration: {e}"),
            );
        }
    };
    let by = caller.map_or_else(
        || "api".to_string(),
        |Extension(Caller(key))| format!("key {key}"),
    );
    let (registration, ignored) = match registration(request, by) {
        Ok(r) => r,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let id = registration.target.clone();
    let before = api.targets.get(&id);
    if before.is_none() && !api.targets.has_room() {
        return error(StatusCode::TOO_MANY_REQUESTS, roster::full());
    }
    let status = match &before {
        Some(Entry::Registered(old)) if old.same_as(&registration) => "unchanged",
        Some(_) => "updated",
        None => "registered",
    };
    let source = registration.source;
    if let Err(refused) = ask(&api, Command::Register(registration)).await {
        return refused;
    }
    let code = match before {
        None => StatusCode::CREATED,
        Some(_) => StatusCode::OK,
    };
    let mut answer = json!({ "status": status, "service_id": id, "source": source });
    if !ignored.is_empty() {
        answer["ignored_metadata"] = json!(ignored);
    }
    (code, Json(answer)).into_response()
}

/// The registration a request asks for, and the metadata keys it ignores
/// (values that are not short single-line strings); or why it is refused.
///
/// Tag `critical` makes the target critical; every other tag `t` becomes the
/// label `tag.t: "true"`; a metadata string becomes a label of its own key.
/// `autoheal.*` labels are the operator's alone (they opt targets into
/// playbooks), so a registrant's are ignored.
fn registration(r: Register, by: String) -> Result<(Registration, Vec<String>), String> {
    roster::check_name("service_id", &r.service_id)?;
    let display_name = match r.name {
        Some(name) if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) => {
            return Err(format!(
                "`name` must have at most {MAX_NAME} characters, none of them control characters"
            ));
        }
        name => name.filter(|n| !n.trim().is_empty()),
    };
    let health_url = r.health_url.map(|u| url("health_url", u)).transpose()?;
    let webhook_url = r.webhook_url.map(|u| url("webhook_url", u)).transpose()?;
    if r.tags.len() > MAX_TAGS || r.metadata.len() > MAX_TAGS {
        return Err(format!(
            "at most {MAX_TAGS} `tags` and {MAX_TAGS} `metadata` entries"
        ));
    }
    let mut labels = BTreeMap::new();
    let mut critical = false;
    for tag in r.tags {
        roster::check_name("tags[]", &tag)?;
        if tag.eq_ignore_ascii_case("critical") {
            critical = true;
        } else {
            labels.insert(format!("tag.{tag}"), "true".to_string());
        }
    }
    let mut ignored = Vec::new();
    for (key, value) in r.metadata {
        let usable = |s: &str| roster::check_name("", s).is_ok();
        match value {
            Value::String(v) if usable(&key) && usable(&v) && !reserved(&key) => {
                labels.entry(key).or_insert(v);
            }
            _ => ignored.push(clean_text(&key).chars().take(80).collect()),
        }
    }
    ignored.sort();
    let registration = Registration {
        target: r.service_id,
        source: TargetSource::Api,
        health_url,
        display_name,
        critical,
        labels,
        webhook_url,
        by,
    };
    Ok((registration, ignored))
}

fn reserved(key: &str) -> bool {
    key.get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case("autoheal."))
}

/// An absolute http(s) URL of sensible length, or why not.
fn url(field: &str, text: String) -> Result<String, String> {
    if text.chars().count() > MAX_URL || text.chars().any(char::is_control) {
        return Err(format!(
            "`{field}` must be a URL of at most {MAX_URL} characters"
        ));
    }
    http_url(&text).map_err(|why| format!("`{field}`: {why}"))?;
    Ok(text)
}

/// `DELETE /api/services/{service_id}`: 200 once its probe has stopped (its
/// open incidents are closed), 404 when no service has that id, 409 for a
/// target of the config file.
pub async fn deregister(
    State(api): State<Arc<Api>>,
    caller: Option<Extension<Caller>>,
    Path(service_id): Path<String>,
) -> Response {
    let by = caller.map_or_else(
        || "api".to_string(),
        |Extension(Caller(key))| format!("key {key}"),
    );
    if let Err(why) = roster::check_name("service_id", &service_id) {
        return error(StatusCode::BAD_REQUEST, why);
    }
    let command = Command::Deregister {
        target: service_id.clone(),
        by,
    };
    match ask(&api, command).await {
        Ok(()) => {
            Json(json!({ "status": "deregistered", "service_id": service_id })).into_response()
        }
        Err(refused) => refused,
    }
}

/// `GET /api/services`: every target, registered ones with what they were
/// registered with (a webhook by scheme, host and port only: its path may be
/// a credential), config ones as `source: config`.
pub async fn list(State(api): State<Arc<Api>>) -> Response {
    let services: Vec<Value> = api
        .targets
        .entries()
        .into_iter()
        .map(|(name, entry)| match entry {
            Entry::Config => json!({ "service_id": name, "source": TargetSource::Config }),
            Entry::Registered(r) => json!({
                "service_id": name,
                "name": r.display_name,
                "source": r.source,
                "health_url": r.health_url,
                "webhook_url": r.webhook_url.as_deref().map(public_url),
                "critical": r.critical,
                "labels": r.labels,
                "by": r.by,
            }),
        })
        .collect();
    Json(json!({ "services": services })).into_response()
}

/// Whether a report about `target` is taken: a known target always; another
/// only with `intake.unknown_services: accept`, a plain name, and room to
/// register it (the engine registers it when the report arrives).
pub fn admissible(api: &Api, target: &str) -> Result<(), (StatusCode, String)> {
    let roster = &api.targets;
    if roster.knows(target) {
        return Ok(());
    }
    if roster.unknown_services() == UnknownServices::Reject {
        return Err((
            StatusCode::NOT_FOUND,
            super::unknown_target_text(api, target),
        ));
    }
    roster::check_name("service", target).map_err(|why| (StatusCode::BAD_REQUEST, why))?;
    if !roster.has_room() {
        return Err((StatusCode::TOO_MANY_REQUESTS, roster::full()));
    }
    Ok(())
}

/// [`admissible`] as the response that refuses the report, if it is refused.
pub fn refusal(api: &Api, target: &str) -> Option<Response> {
    admissible(api, target)
        .err()
        .map(|(status, why)| error(status, why))
}

/// [`commands::ask`], a full roster answered 429 (a client may retry later).
async fn ask(api: &Api, command: Command) -> Result<(), Response> {
    match commands::ask(api, command).await {
        Ok(_) => Ok(()),
        Err(Refused::Declined(Declined::Conflict(why))) if why == roster::full() => {
            Err(error(StatusCode::TOO_MANY_REQUESTS, why))
        }
        Err(refused) => Err(refused.into_response()),
    }
}
