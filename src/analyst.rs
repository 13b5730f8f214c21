//! The optional AI analyst: asks a server that speaks the OpenAI-compatible
//! chat-completions API about an incident no playbook fixes. It only ever
//! proposes; the engine journals its answer and queues a proposed step for an
//! operator's approval (`engine/run/analyst.rs`).

mod answer;
mod question;

pub use answer::{MAX_BODY, MAX_REASON, Proposal, clean, parse};
pub use question::{Brief, Candidate, MAX_CANDIDATES, MAX_EVENTS, Question, SYSTEM, short_event};

use std::fmt;
use std::time::Duration;

use crate::config::AnalystConfig;

/// A configured analyst: where to ask, which model, and its token.
pub struct Analyst {
    model: String,
    endpoint: String,
    timeout: Duration,
    /// The bearer token from `api_key_env`, or why it is missing.
    token: Result<Option<String>, String>,
    client: reqwest::Client,
}

/// Without the token, so a logged analyst never leaks it.
impl fmt::Debug for Analyst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Analyst")
            .field("model", &self.model)
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Analyst {
    /// Reads the token from `api_key_env` now; a variable that is not set
    /// fails every question, saying so.
    pub fn new(config: &AnalystConfig) -> Analyst {
        let token = match &config.api_key_env {
            None => Ok(None),
            Some(var) => match std::env::var(var) {
                Ok(token) if !token.trim().is_empty() => Ok(Some(token.trim().to_string())),
                _ => Err(format!(
                    "the environment variable {var} (analyst.api_key_env) is not set"
                )),
            },
        };
        Analyst {
            model: config.model.trim().to_string(),
            endpoint: config.endpoint(),
            timeout: config.timeout,
            token,
            client: reqwest::Client::builder()
                .user_agent(concat!("autoheal/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Asks about one incident; the whole exchange takes at most the configured
    /// `timeout`. An error says what went wrong without the token or the URL.
    pub async fn ask(&self, question: &Question) -> Result<Proposal, String> {
        let within = self.timeout;
        let answer = tokio::time::timeout(within, self.exchange(question)).await;
        let result = answer.unwrap_or_else(|_| Err(format!("no answer within {}", human(within))));
        result.map_err(|e| self.scrub(e))
    }

    async fn exchange(&self, question: &Question) -> Result<Proposal, String> {
        let token = self.token.clone()?;
        let mut request = self
            .client
            .post(&self.endpoint)
            .json(&question::request(&self.model, question));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.map_err(describe)?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(format!("the answer is over {} KiB", MAX_BODY / 1024));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if body.len().saturating_add(chunk.len()) > MAX_BODY {
                return Err(format!("the answer is over {} KiB", MAX_BODY / 1024));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let said = clean(&String::from_utf8_lossy(&body), 160);
            return Err(format!(
                "the analyst answered HTTP {}: {said}",
                status.as_u16()
            ));
        }
        parse(&body, &question.candidates)
    }

    /// Takes the token out of an error, should a server have echoed it.
    fn scrub(&self, error: String) -> String {
        match &self.token {
            Ok(Some(token)) if error.contains(token.as_str()) => {
                error.replace(token.as_str(), "<redacted>")
            }
            _ => error,
        }
    }
}

/// A transport error in words, without the URL (its query could hold a key).
fn describe(error: reqwest::Error) -> String {
    let kind = if error.is_connect() {
        "cannot connect to the analyst"
    } else if error.is_timeout() {
        "the analyst timed out"
    } else {
        "the request to the analyst failed"
    };
    let mut text = kind.to_string();
    let error = error.without_url();
    let mut source = std::error::Error::source(&error);
    // The innermost causes say what really happened (refused, reset, TLS).
    let mut last = None;
    while let Some(cause) = source {
        last = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(cause) = last {
        text.push_str(": ");
        text.push_str(&clean(&cause, 160));
    }
    text
}

/// `20s`, `1500ms`: as the config says it.
fn human(d: Duration) -> String {
    match d.subsec_millis() {
        0 => format!("{}s", d.as_secs()),
        _ => format!("{}ms", d.as_millis()),
    }
}
