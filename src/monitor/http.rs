//! HTTP probe: one GET, judged on status, latency and body.

use std::error::Error as _;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url};

use super::{Observation, PROBE_ERROR, http1, lock, ms, no_answer};
use crate::config::HttpProbe;

/// How much of a body we read at most; a health endpoint answering more is misbehaving.
pub const BODY_READ_CAP: usize = 64 * 1024;
/// How much of the body we keep in the observation.
pub const BODY_KEEP: usize = 4 * 1024;

/// The client https probes share (plain http takes the lean path in [`http1`]).
pub(crate) fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("autoheal/", env!("CARGO_PKG_VERSION")))
        // No idle pooled connections: https probes open a fresh connection each
        // time, as they always did (only plain http keeps one, see `fresh_every`).
        .pool_max_idle_per_host(0)
        // A redirect is an answer from the target itself; following it would
        // probe something else.
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would turn "refused" into a 502 from the proxy, hiding the signature.
        .no_proxy()
        .build()
}

/// What an HTTP target keeps between probes, in its [`Lane`](super::Lane):
/// its URL as parsed, and its kept-alive connection.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    parsed: Option<Arc<Parsed>>,
    conn: http1::Conn,
}

/// A probe URL worked out once.
#[derive(Debug)]
enum Parsed {
    /// Plain http: the lean HTTP/1.1 path.
    Lean(String, http1::Endpoint),
    /// https or credentials: reqwest.
    General(String, Url),
    Bad(String, String),
}

impl Parsed {
    fn new(text: &str) -> Parsed {
        match parse_url(text) {
            Ok(url) => match http1::Endpoint::new(&url) {
                Some(endpoint) => Parsed::Lean(text.to_string(), endpoint),
                None => Parsed::General(text.to_string(), url),
            },
            Err(why) => Parsed::Bad(text.to_string(), why),
        }
    }

    fn text(&self) -> &str {
        match self {
            Parsed::Lean(text, _) | Parsed::General(text, _) | Parsed::Bad(text, _) => text,
        }
    }
}

pub(crate) async fn probe(
    client: Result<&reqwest::Client, &str>,
    kept: &Mutex<Kept>,
    spec: &HttpProbe,
    timeout: Duration,
) -> Observation {
    let start = Instant::now();
    let (parsed, mut conn) = {
        let mut kept = lock(kept);
        let parsed = match &kept.parsed {
            Some(parsed) if parsed.text() == spec.url => parsed.clone(),
            // The first probe, or the URL changed: a kept connection may lead elsewhere.
            _ => {
                let parsed = Arc::new(Parsed::new(&spec.url));
                *kept = Kept {
                    parsed: Some(parsed.clone()),
                    conn: http1::Conn::default(),
                };
                parsed
            }
        };
        (parsed, std::mem::take(&mut kept.conn))
    };
    let answer = match &*parsed {
        Parsed::Bad(_, why) => return Observation::unhealthy("BAD_URL", why, start.elapsed()),
        Parsed::Lean(_, endpoint) => {
            let fresh_every = spec.fresh_every();
            let answer =
                tokio::time::timeout(timeout, http1::get(endpoint, &mut conn, fresh_every)).await;
            // After a timeout `conn` holds no stream: the next probe starts fresh.
            lock(kept).conn = conn;
            match answer {
                Err(_) => Err(("TIMEOUT", no_answer(timeout))),
                Ok(Err(http1::Failure::Connect(e))) => Err(connect_failure(&e)),
                Ok(Err(http1::Failure::Exchange(why))) => {
                    Err(("CONNECTION_ERROR", format!("connection error: {why}")))
                }
                Ok(Ok(answer)) => match StatusCode::from_u16(answer.status) {
                    Ok(status) => Ok((status, answer.body)),
                    Err(_) => Err((
                        "CONNECTION_ERROR",
                        format!("connection error: invalid status {}", answer.status),
                    )),
                },
            }
        }
        Parsed::General(_, url) => {
            let client = match client {
                Ok(client) => client,
                Err(e) => {
                    return Observation::unhealthy(
                        PROBE_ERROR,
                        format!("no HTTP client: {e}"),
                        Duration::ZERO,
                    );
                }
            };
            match tokio::time::timeout(timeout, fetch(client, url.clone())).await {
                Err(_) => Err(("TIMEOUT", no_answer(timeout))),
                Ok(Err(e)) => Err(classify(&e, timeout)),
                Ok(Ok(answer)) => Ok(answer),
            }
        }
    };
    let latency = start.elapsed();
    match answer {
        Err((signature, detail)) => Observation::unhealthy(signature, detail, latency),
        Ok((status, body)) => judge(spec, status, &body, latency),
    }
}

/// Signature and detail for a connect that failed, the same on both paths.
fn connect_failure(e: &io::Error) -> (&'static str, String) {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        (
            "CONNECTION_REFUSED",
            "connect: connection refused".to_string(),
        )
    } else {
        ("CONNECTION_ERROR", format!("connect: {e}"))
    }
}

fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("invalid url `{text}`: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!(
            "invalid url `{text}`: scheme `{other}` is not http or https"
        )),
    }
}

/// Sends the GET and reads the body up to [`BODY_READ_CAP`].
async fn fetch(client: &reqwest::Client, url: Url) -> reqwest::Result<(StatusCode, Vec<u8>)> {
    let mut response = client.get(url).send().await?;
    let status = response.status();
    let mut body = Vec::new();
    while body.len() < BODY_READ_CAP {
        match response.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    // Dropping the response here closes the connection on whatever is left unread.
    body.truncate(BODY_READ_CAP);
    Ok((status, body))
}

/// Turns an answer into an observation; the order of checks is the order of signatures.
fn judge(spec: &HttpProbe, status: StatusCode, body: &[u8], latency: Duration) -> Observation {
    let text = String::from_utf8_lossy(body);
    let status_ok = match spec.expect_status {
        Some(expected) => status.as_u16() == expected,
        None => status.is_success(),
    };
    let (signature, detail) = if !status_ok {
        let line = json_message(&text).or_else(|| first_line(&text).map(str::to_string));
        let detail = match line {
            Some(line) => format!("{status}: {line} ({})", ms(latency)),
            None => format!("{status} ({})", ms(latency)),
        };
        (Some(extract_signature(status.as_u16(), &text)), detail)
    } else if let Some(max) = spec.max_latency.filter(|max| latency > *max) {
        let detail = format!("{status} in {} > {}", ms(latency), ms(max));
        (Some("LATENCY_HIGH".to_string()), detail)
    } else if let Some(needle) = spec.body_contains.as_deref().filter(|n| !text.contains(n)) {
        let detail = format!("{status} but the body lacks {needle:?} ({})", ms(latency));
        (Some("BODY_MISMATCH".to_string()), detail)
    } else {
        (None, format!("{status} ({})", ms(latency)))
    };
    let keep = text.floor_char_boundary(BODY_KEEP);
    let [cpu_percent, memory_percent, disk_percent] = reported_percents(&text);
    Observation {
        healthy: signature.is_none(),
        signature,
        detail,
        latency,
        status: Some(status.as_u16()),
        body: Some(text[..keep].to_string()),
        cpu_percent,
        memory_percent,
        disk_percent,
        ..Default::default()
    }
}

/// The figures a JSON health body reports about its service
/// (`"disk_percent": 41.5`), for trend prediction: `cpu_percent`,
/// `memory_percent` and `disk_percent`, each a number from 0 to 100 or nothing.
fn reported_percents(body: &str) -> [Option<f32>; 3] {
    // Most bodies report nothing: no parse for them, and one for the others.
    let value: Option<serde_json::Value> = body
        .contains("_percent")
        .then(|| serde_json::from_str(body.trim()).ok())
        .flatten();
    ["cpu_percent", "memory_percent", "disk_percent"].map(|field| {
        let figure = value.as_ref()?.get(field)?.as_f64()?;
        (0.0..=100.0).contains(&figure).then_some(figure as f32)
    })
}

/// Names the failure from what the server said: a JSON `signature`/`error`
/// field, else the first SCREAMING_SNAKE token in the text, else `HTTP_<status>`.
pub fn extract_signature(status: u16, body: &str) -> String {
    if let Some(signature) = json_signature(body) {
        return signature;
    }
    let mut words = body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    match words.find(|word| is_token(word, true)) {
        Some(token) => token.to_string(),
        None => format!("HTTP_{status}"),
    }
}

/// A JSON object's `signature` (named for exactly this, so preferred) or `error`
/// field. The field name already says it is a code, so no underscore is required.
fn json_signature(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    let object = value.as_object()?;
    ["signature", "error"]
        .iter()
        .filter_map(|field| object.get(*field)?.as_str())
        .map(str::trim)
        .find(|text| is_token(text, false))
        .map(str::to_string)
}

/// [A-Z0-9_], starting with a letter, 4..=64 long (and with an underscore when
/// picked out of free text, so words like "ERROR" or "HTTP" are not mistaken for one).
fn is_token(text: &str, need_underscore: bool) -> bool {
    (4..=64).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_uppercase())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && (!need_underscore || text.contains('_'))
}

/// A JSON body's `detail` or `message` field: what a person should read, not the JSON.
fn json_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    let message = ["detail", "message"]
        .iter()
        .find_map(|f| value.get(*f)?.as_str())?;
    Some(message[..message.floor_char_boundary(120)].to_string())
}

/// The first non-empty line of a body, shortened for a one-line detail.
fn first_line(text: &str) -> Option<&str> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(&line[..line.floor_char_boundary(80)])
}

/// Signature and detail for a request that got no usable answer.
fn classify(err: &reqwest::Error, timeout: Duration) -> (&'static str, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    let mut innermost = None;
    while let Some(e) = source {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::ConnectionRefused)
        {
            return (
                "CONNECTION_REFUSED",
                "connect: connection refused".to_string(),
            );
        }
        innermost = Some(e);
        source = e.source();
    }
    if err.is_builder() {
        return ("BAD_URL", format!("invalid request: {err}"));
    }
    if err.is_timeout() {
        return ("TIMEOUT", no_answer(timeout));
    }
    let why = innermost.map_or_else(|| err.to_string(), |e| e.to_string());
    let stage = if err.is_connect() {
        "connect"
    } else {
        "connection error"
    };
    ("CONNECTION_ERROR", format!("{stage}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_body_is_summed_up_by_its_detail() {
        let body = r#"{"status":"error","error":"DB_TIMEOUT","detail":"pool exhausted"}"#;
        let obs = judge(
            &plain(),
            StatusCode::SERVICE_UNAVAILABLE,
            body.as_bytes(),
            Duration::from_millis(3),
        );
        assert_eq!(obs.detail, "503 Service Unavailable: pool exhausted (3 ms)");
    }

    #[test]
    fn json_error_field_is_the_signature() {
        assert_eq!(
            extract_signature(503, r#"{"error":"DB_TIMEOUT"}"#),
            "DB_TIMEOUT"
        );
        assert_eq!(
            extract_signature(503, r#"{"error":"x","signature":"POOL_EXHAUSTED"}"#),
            "POOL_EXHAUSTED"
        );
        // A code without an underscore is still a code when the field says so.
        assert_eq!(
            extract_signature(500, r#"{"error":"OVERLOADED"}"#),
            "OVERLOADED"
        );
    }

    #[test]
    fn json_prose_falls_back_to_a_token_in_the_text() {
        let body = r#"{"error":"database timed out","code":"DB_TIMEOUT"}"#;
        assert_eq!(extract_signature(503, body), "DB_TIMEOUT");
    }

    #[test]
    fn first_snake_token_in_plain_text() {
        assert_eq!(
            extract_signature(503, "error: DB_TIMEOUT after 5s"),
            "DB_TIMEOUT"
        );
        // ERROR has no underscore; Db_TIMEOUT is not all caps; _X starts with no letter.
        assert_eq!(
            extract_signature(500, "ERROR Db_TIMEOUT _XYZ_ OUT_OF_MEMORY"),
            "OUT_OF_MEMORY"
        );
    }

    #[test]
    fn no_token_gives_the_status() {
        assert_eq!(extract_signature(500, "Internal Server Error"), "HTTP_500");
        assert_eq!(extract_signature(502, ""), "HTTP_502");
        assert_eq!(extract_signature(503, "A_B"), "HTTP_503"); // too short
        assert_eq!(
            extract_signature(503, &format!("A_{}", "B".repeat(63))),
            "HTTP_503"
        ); // too long
    }

    /// A probe with nothing to check but the status.
    fn plain() -> HttpProbe {
        HttpProbe {
            url: String::new(),
            expect_status: None,
            max_latency: None,
            body_contains: None,
            fresh_every: None,
        }
    }

    #[test]
    fn figures_a_health_body_reports_are_read_and_nonsense_is_not() {
        let spec = plain();
        let body =
            r#"{"status":"ok","disk_percent":41.5,"memory_percent":"high","cpu_percent":250}"#;
        let obs = judge(&spec, StatusCode::OK, body.as_bytes(), Duration::ZERO);
        assert_eq!(obs.disk_percent, Some(41.5));
        assert_eq!((obs.memory_percent, obs.cpu_percent), (None, None));
        let obs = judge(&spec, StatusCode::OK, b"disk_percent: 41", Duration::ZERO);
        assert_eq!(obs.disk_percent, None, "not JSON");
    }

    #[test]
    fn kept_body_is_cut_on_a_char_boundary() {
        let spec = plain();
        let body = "é".repeat(BODY_KEEP); // two bytes each
        let obs = judge(&spec, StatusCode::OK, body.as_bytes(), Duration::ZERO);
        let kept = obs.body.unwrap();
        assert!(kept.len() <= BODY_KEEP && kept.len() >= BODY_KEEP - 1);
        assert!(kept.chars().all(|c| c == 'é'));
    }

    #[test]
    fn urls_we_cannot_probe_are_rejected_up_front() {
        assert!(parse_url("http://127.0.0.1:8080/health").is_ok());
        assert!(parse_url("not a url").is_err());
        assert!(parse_url("ftp://example.com/").is_err());
    }
}
