//! Actions a playbook step runs: a command (`exec`), a request (`http`), or a
//! service restart through the host's service manager (`service`).
//! An action is first [`prepare`]d (its values filled in and checked, see
//! [`template`]), then run with a timeout; it reports what happened and never panics.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::duration;
use vars::Vars;

pub mod exec;
pub mod http;
pub mod nginx;
pub mod service;
pub mod template;
pub mod vars;

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
    Service(service::ServiceAction),
}

impl ActionSpec {
    /// The longest this action may run.
    pub fn timeout(&self) -> Duration {
        match self {
            ActionSpec::Exec(e) => e.timeout,
            ActionSpec::Http(h) => h.timeout,
            ActionSpec::Service(s) => s.timeout,
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

/// An action with its values filled in and checked: exactly what will run.
#[derive(Debug, Clone, PartialEq)]
pub enum Ready {
    Exec(exec::Ready),
    Http(http::Ready),
    Service(service::Ready),
}

/// Why an action was not started. Nothing ran, so a refusal says nothing
/// about whether the fix works: it needs a human, not another attempt.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Fills `vars` into `spec` (see [`template`] for what an untrusted value may
/// hold where). A bad template or spec, or an untrusted value that does not
/// fit, is a [`Refusal`].
pub fn prepare(spec: &ActionSpec, vars: &Vars) -> Result<Ready, Refusal> {
    match spec {
        ActionSpec::Exec(e) => exec::prepare(e, vars).map(Ready::Exec),
        ActionSpec::Http(h) => http::prepare(h, vars).map(Ready::Http),
        ActionSpec::Service(s) => service::prepare(s, vars).map(Ready::Service),
    }
    .map_err(Refusal)
}

impl Ready {
    /// A short human label for journals, with the values filled in:
    /// `exec systemctl restart web`, `http POST http://...`.
    pub fn label(&self) -> String {
        match self {
            Ready::Exec(e) => e.label(),
            Ready::Http(h) => h.label(),
            Ready::Service(s) => s.label(),
        }
    }

    /// What an operator approves: the argv shell-quoted, `METHOD URL`, or a
    /// service step's commands joined by `&&`; no environment, headers or credentials.
    pub fn describe(&self) -> String {
        match self {
            Ready::Exec(e) => e.describe(),
            Ready::Http(h) => h.describe(),
            Ready::Service(s) => s.describe(),
        }
    }

    pub async fn run(&self, client: &reqwest::Client) -> ActionOutcome {
        match self {
            Ready::Exec(e) => e.run().await,
            Ready::Http(h) => h.run(client).await,
            Ready::Service(s) => s.run().await,
        }
    }
}
