//! Sends one HTTP request; any 2xx answer is success.

use super::exec::limit_output;
use super::template::render;
use super::vars::{Place, Vars};
use super::{ActionOutcome, HttpAction};
use reqwest::Method;
use std::error::Error as _;
use std::time::Duration;

/// How much of a response body is read; the rest is not waited for.
const BODY_LIMIT: usize = 64 * 1024;

/// A request with its values filled in: exactly what will be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout: Duration,
}

/// Fills `vars` into `spec`, refusing (before anything is sent) a bad method
/// or template, or an untrusted value that does not fit where it goes.
pub fn prepare(spec: &HttpAction, vars: &Vars) -> Result<Ready, String> {
    let method = parse_method(&spec.method)?;
    let url = render(&spec.url, vars, Place::Word).map_err(|e| format!("url: {e}"))?;
    let mut headers = Vec::new();
    for (name, value) in &spec.headers {
        let value =
            render(value, vars, Place::Header).map_err(|e| format!("header {name}: {e}"))?;
        headers.push((name.clone(), value));
    }
    let body = match &spec.body {
        Some(body) => Some(render(body, vars, Place::Data).map_err(|e| format!("body: {e}"))?),
        None => None,
    };
    Ok(Ready {
        method,
        url,
        headers,
        body,
        timeout: spec.timeout,
    })
}

/// Prepares and sends `spec`; a refusal is a failed outcome that sent nothing.
pub async fn run(spec: &HttpAction, vars: &Vars, client: &reqwest::Client) -> ActionOutcome {
    match prepare(spec, vars) {
        Ok(ready) => ready.run(client).await,
        Err(refusal) => super::timed(async { Err(refusal) }).await,
    }
}

impl Ready {
    /// For journals: `http POST http://...`.
    pub fn label(&self) -> String {
        format!("http {} {}", self.method, self.url)
    }

    /// For a human about to approve it: `POST http://host/path`, without
    /// credentials in the URL, headers or body, which may hold secrets.
    pub fn describe(&self) -> String {
        let url = match reqwest::Url::parse(&self.url) {
            Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.to_string()
            }
            _ => self.url.clone(),
        };
        format!("{} {url}", self.method)
    }

    pub async fn run(&self, client: &reqwest::Client) -> ActionOutcome {
        super::timed(send(self, client)).await
    }
}

/// `Ok` with the response for a 2xx answer, `Err` with what went wrong otherwise.
async fn send(spec: &Ready, client: &reqwest::Client) -> Result<String, String> {
    // The timeout covers connecting, the answer and the body, per request,
    // whatever the shared client was built with.
    let mut request = client
        .request(spec.method.clone(), &spec.url)
        .timeout(spec.timeout);
    for (name, value) in &spec.headers {
        request = request.header(name, value);
    }
    if let Some(body) = &spec.body {
        request = request.body(body.clone());
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
