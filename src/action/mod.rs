//! Actions a playbook step runs: a command (`exec`) or a request (`http`).
//! Each runs with a timeout and reports what happened; none panics.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::duration;

pub mod exec;
pub mod http;
pub mod template;

/// Runs a command. `argv` is executed directly, never through a shell, unless
/// `shell: true`; then `argv` must hold a single script run by `sh -c`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecAction {
    pub argv: Vec<String>,
    #[serde(default)]
    pub shell: bool,
    #[serde(default = "default_exec_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Sends a request; any 2xx answer is success.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAction {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default = "default_http_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_method() -> String {
    "POST".into()
}
fn default_exec_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_http_timeout() -> Duration {
    Duration::from_secs(5)
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActionSpec {
    Exec(ExecAction),
    Http(HttpAction),
}

impl ActionSpec {
    /// A short human label for journals: `exec systemctl restart web`, `http POST http://...`.
    pub fn label(&self) -> String {
        match self {
            ActionSpec::Exec(e) => format!("exec {}", e.argv.join(" ")),
            ActionSpec::Http(h) => format!("http {} {}", h.method, h.url),
        }
    }
}

/// What running an action produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome {
    pub ok: bool,
    pub duration: Duration,
    /// Combined output or response, truncated to [`OUTPUT_LIMIT`] bytes.
    pub output: String,
}

/// How much action output is kept in the journal.
pub const OUTPUT_LIMIT: usize = 2048;

/// Times an action and turns its result (output either way) into an outcome.
async fn timed(action: impl Future<Output = Result<String, String>>) -> ActionOutcome {
    let started = std::time::Instant::now();
    let (ok, output) = match action.await {
        Ok(output) => (true, output),
        Err(output) => (false, output),
    };
    ActionOutcome {
        ok,
        duration: started.elapsed(),
        output,
    }
}

/// Runs `spec` with `vars` templated into it (see [`template`]).
pub async fn run(
    spec: &ActionSpec,
    vars: &BTreeMap<String, String>,
    client: &reqwest::Client,
) -> ActionOutcome {
    match spec {
        ActionSpec::Exec(e) => exec::run(e, vars).await,
        ActionSpec::Http(h) => http::run(h, vars, client).await,
    }
}
