//! Sends one HTTP request; any 2xx answer is success.

use super::exec::limit_output;
use super::template::render;
use super::{ActionOutcome, HttpAction};
use reqwest::Method;
use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::Duration;

/// How much of a response body is read; the rest is not waited for.
const BODY_LIMIT: usize = 64 * 1024;

pub async fn run(
    spec: &HttpAction,
    vars: &BTreeMap<String, String>,
    client: &reqwest::Client,
) -> ActionOutcome {
    super::timed(send(spec, vars, client)).await
}

/// `Ok` with the response for a 2xx answer, `Err` with what went wrong otherwise.
async fn send(
    spec: &HttpAction,
    vars: &BTreeMap<String, String>,
    client: &reqwest::Client,
) -> Result<String, String> {
    let method = parse_method(&spec.method)?;
    let url = render(&spec.url, vars).map_err(|e| format!("template error in url: {e}"))?;
    // The timeout covers connecting, the answer and the body, per request,
    // whatever the shared client was built with.
    let mut request = client.request(method, url).timeout(spec.timeout);
    for (name, value) in &spec.headers {
        let value =
            render(value, vars).map_err(|e| format!("template error in header {name}: {e}"))?;
        request = request.header(name, value);
    }
    if let Some(body) = &spec.body {
        request =
            request.body(render(body, vars).map_err(|e| format!("template error in body: {e}"))?);
    }

    // A bad URL or header surfaces here too, as a builder error.
    let mut response = request
        .send()
        .await
        .map_err(|e| describe(&e, spec.timeout))?;
    let status = response.status();

    let mut body = Vec::new();
    let mut cut = false;
    let mut body_error = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = BODY_LIMIT - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() >= room {
                    cut = chunk.len() > room;
                    break;
                }
            }
            Ok(None) => break,
            // The server has answered; its status still decides success.
            Err(e) => {
                body_error = Some(describe(&e, spec.timeout));
                break;
            }
        }
    }

    let mut output = format!("HTTP {status}");
    let body = String::from_utf8_lossy(&body);
    if !body.trim().is_empty() {
        output = format!("{output}: {body}");
    }
    if let Some(e) = body_error {
        output = format!("{output}\n(reading the body failed: {e})");
    }
    let output = limit_output(&output, cut);
    if status.is_success() {
        Ok(output)
    } else {
        Err(output)
    }
}

/// Case-insensitive, and only the usual methods: a typo such as `PSOT` would
/// otherwise be sent as a valid extension method.
fn parse_method(text: &str) -> Result<Method, String> {
    match text.trim().to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "HEAD" => Ok(Method::HEAD),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        "OPTIONS" => Ok(Method::OPTIONS),
        _ => Err(format!("invalid HTTP method `{text}`")),
    }
}

/// A short reason for a journal: "timed out after 2s", "connection refused",
/// else the error with its causes.
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("timed out after {timeout:?}");
    }
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return "connection refused".into();
        }
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    if error.is_builder() {
        format!("invalid request: {text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_case_insensitively_and_typos_are_refused() {
        assert_eq!(parse_method("post"), Ok(Method::POST));
        assert_eq!(parse_method("Get"), Ok(Method::GET));
        assert!(parse_method("PSOT").unwrap_err().contains("`PSOT`"));
        assert!(parse_method("").is_err());
    }
}
