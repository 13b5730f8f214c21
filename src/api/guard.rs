//! Who may talk to the API, checked before any handler runs: the `Host` (against
//! DNS rebinding), the `Origin` (against web pages the operator visits), the
//! API key and its role, and the `Content-Type` of a POST.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use super::{Api, error};
use crate::config::Role;

/// `Host` and `Origin`, on every route: a rebinding page could otherwise read
/// `/metrics` (target names, health) as well as `/api/state`.
pub async fn same_site(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Some(host) = host_of(&request)
        && !host_allowed(&host, &api.allowed_hosts)
    {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "Host `{host}` is not this API: use its IP address or localhost, or add the name to `api.allowed_hosts`"
            ),
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = String::from_utf8_lossy(origin.as_bytes());
        if !origin_allowed(&origin, &api.allowed_origins) {
            return error(
                StatusCode::FORBIDDEN,
                format!(
                    "requests from web origin `{origin}` are refused; add it to `api.allowed_origins` to allow it"
                ),
            );
        }
    }
    next.run(request).await
}

/// The `Host` header, or the authority of an absolute-form request line.
/// None when neither is present: only non-browser clients omit both.
fn host_of(request: &Request) -> Option<String> {
    match request.headers().get(header::HOST) {
        Some(value) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        None => request.uri().authority().map(|a| a.as_str().to_string()),
    }
}

/// IP literals and `localhost` are always allowed: DNS rebinding needs a name the
/// attacker controls, and a browser sends that name as `Host`. Any other name must
/// be listed, alone (any port) or as `name:port`.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let name = strip_port(&host);
    if name == "localhost" || parse_ip(name).is_some() {
        return true;
    }
    allowed.iter().any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        entry == host || entry == name
    })
}

/// `name:port` -> `name`, `[::1]:7311` -> `[::1]`, `::1` stays whole.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

fn parse_ip(name: &str) -> Option<IpAddr> {
    match name.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')?
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6),
        None => name.parse().ok(),
    }
}

/// The API serves no web page, so no origin is trusted unless the operator lists it.
fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim().trim_end_matches('/');
    allowed
        .iter()
        .any(|a| a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// A POST must say it is JSON: a browser cannot send that cross-site without a
/// CORS preflight, which this API never grants.
pub async fn json_posts(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !is_json(request.headers()) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with `Content-Type: application/json`",
        );
    }
    next.run(request).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Who called, by the name of the key they showed: journaled with their commands.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

/// With keys configured, every protected route needs one whose role allows it
/// (`Authorization: Bearer KEY` or `X-API-Key: KEY`); the caller's key name
/// travels on as a [`Caller`].
pub async fn authorize(State(api): State<Arc<Api>>, mut request: Request, next: Next) -> Response {
    if api.keys.is_empty() {
        return next.run(request).await;
    }
    let given = credential(request.headers()).unwrap_or("");
    // Every key is compared, so timing tells nothing about which one was near.
    let key = api.keys.iter().fold(None, |found, k| {
        match constant_time_eq(given.as_bytes(), k.key.as_bytes()) {
            true => Some(k),
            false => found,
        }
    });
    let Some(key) = key else {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
        );
    };
    let needed = needed_role(request.method(), request.uri().path());
    if !key.role.allows(needed) {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "key `{}` has role {}; {} {} needs {}",
                key.name,
                key.role.as_str(),
                request.method(),
                request.uri().path(),
                needed.as_str()
            ),
        );
    }
    request.extensions_mut().insert(Caller(key.name.clone()));
    next.run(request).await
}

fn credential(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
}

/// Commands (and the chaos trigger, a GET that breaks things) need `operate`,
/// any other read `read`, any other write `intake`.
fn needed_role(method: &Method, path: &str) -> Role {
    match path {
        "/api/commands" | "/chaos/trigger" => Role::Operate,
        _ if method == Method::GET || method == Method::HEAD => Role::Read,
        _ => Role::Intake,
    }
}

/// Compares without stopping at the first difference, so timing tells nothing
/// about how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_addresses_localhost_or_listed() {
        let listed = vec!["autoheal.example.com".to_string(), "ops:8443".to_string()];
        for ok in [
            "127.0.0.1:7311",
            "127.0.0.1",
            "10.0.0.5:7311",
            "[::1]:7311",
            "[::1]",
            "LOCALHOST:9000",
            "localhost",
            "autoheal.example.com",
            "autoheal.example.com:443",
            "ops:8443",
        ] {
            assert!(host_allowed(ok, &listed), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:7311",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "ops:9000",
            "",
            "[::1",
        ] {
            assert!(!host_allowed(bad, &listed), "{bad}");
        }
    }

    #[test]
    fn origins_must_be_listed() {
        let listed = vec!["https://ops.example.com".to_string()];
        assert!(origin_allowed("https://ops.example.com", &listed));
        assert!(origin_allowed("https://OPS.example.com/", &listed));
        assert!(!origin_allowed("https://evil.example", &listed));
        assert!(!origin_allowed("null", &listed));
        assert!(!origin_allowed("https://ops.example.com", &[]));
    }

    #[test]
    fn json_with_parameters_is_json() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        for (value, json) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("application/jsonp", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), json, "{value}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn roles_follow_what_a_route_does() {
        for (method, path, role) in [
            (Method::GET, "/api/state", Role::Read),
            (Method::GET, "/api/incidents", Role::Read),
            (Method::POST, "/api/incidents", Role::Intake),
            (Method::POST, "/incident", Role::Intake),
            (Method::DELETE, "/api/services/x", Role::Intake),
            (Method::POST, "/api/commands", Role::Operate),
            (Method::GET, "/chaos/trigger", Role::Operate),
        ] {
            assert_eq!(needed_role(&method, path), role, "{method} {path}");
        }
        assert!(Role::Operate.allows(Role::Intake));
        assert!(!Role::Intake.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Intake));
    }
}
