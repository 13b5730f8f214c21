//! The public command vocabulary: what a network peer may ask of the engine. It is
//! an operator's vocabulary (approve, pause, silence, ...); the engine's own
//! commands (shutdown, ingest, bookkeeping) have no spelling here, so no request
//! can reach them.

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::response::IntoResponse;
use serde_json::json;

use super::guard::Caller;
use super::{Api, error, unknown_target};
use crate::config::MAX_DURATION;
pub use crate::config::MAX_NAME;
use crate::event::{Command, Declined, IncidentId, Opened, Reply};

/// The `command` values `/api/commands` accepts.
pub const PUBLIC_COMMANDS: [&str; 10] = [
    "approve",
    "reject",
    "retry",
    "acknowledge",
    "close",
    "inject_chaos",
    "pause",
    "resume",
    "silence",
    "unsilence",
];

/// The same JSON as the matching [`Command`], e.g.
/// `{"command":"silence","target":"orders-db","duration":600,"by":"alice"}`
/// (`duration` in seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum PublicCommand {
    Approve {
        incident_id: IncidentId,
        by: String,
    },
    Reject {
        incident_id: IncidentId,
        by: String,
    },
    Retry {
        incident_id: IncidentId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        by: String,
    },
    Acknowledge {
        incident_id: IncidentId,
        by: String,
    },
    Close {
        incident_id: IncidentId,
        note: String,
        by: String,
    },
    InjectChaos {
        target: String,
        fault: String,
    },
    Pause {
        by: String,
    },
    Resume {
        by: String,
    },
    Silence {
        target: String,
        duration: u64,
        by: String,
    },
    Unsilence {
        target: String,
        by: String,
    },
}

impl PublicCommand {
    /// Parses a request body, naming the allowed commands when it asks for another.
    pub fn parse(body: &[u8]) -> Result<PublicCommand, String> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("invalid command: {e}"))?;
        let allowed = PUBLIC_COMMANDS.join(", ");
        let name = match value.get("command") {
            Some(serde_json::Value::String(name)) => name.clone(),
            _ => {
                return Err(format!(
                    "invalid command: needs `command`, one of {allowed}"
                ));
            }
        };
        if !PUBLIC_COMMANDS.contains(&name.as_str()) {
            let shown: String = clean_text(&name).chars().take(40).collect();
            return Err(format!(
                "unknown command `{shown}`: the API accepts {allowed}"
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("invalid {name} command: {e}"))
    }

    /// Who the command says asked, if it says.
    fn by_mut(&mut self) -> Option<&mut String> {
        match self {
            PublicCommand::Approve { by, .. }
            | PublicCommand::Reject { by, .. }
            | PublicCommand::Pause { by }
            | PublicCommand::Resume { by }
            | PublicCommand::Silence { by, .. }
            | PublicCommand::Unsilence { by, .. }
            | PublicCommand::Retry { by, .. }
            | PublicCommand::Acknowledge { by, .. }
            | PublicCommand::Close { by, .. } => Some(by),
            PublicCommand::InjectChaos { .. } => None,
        }
    }

    /// The target the command names, if it names one.
    pub fn target(&self) -> Option<&str> {
        match self {
            PublicCommand::InjectChaos { target, .. }
            | PublicCommand::Silence { target, .. }
            | PublicCommand::Unsilence { target, .. } => Some(target),
            PublicCommand::Approve { .. }
            | PublicCommand::Reject { .. }
            | PublicCommand::Retry { .. }
            | PublicCommand::Acknowledge { .. }
            | PublicCommand::Close { .. }
            | PublicCommand::Pause { .. }
            | PublicCommand::Resume { .. } => None,
        }
    }

    /// The engine's command, with names checked, `by` cleaned and `duration` bounded.
    pub fn into_command(self) -> Result<Command, String> {
        Ok(match self {
            PublicCommand::Approve { incident_id, by } => Command::Approve {
                incident_id,
                by: clean_by(&by),
            },
            PublicCommand::Reject { incident_id, by } => Command::Reject {
                incident_id,
                by: clean_by(&by),
            },
            PublicCommand::Retry {
                incident_id,
                step,
                by,
            } => Command::Retry {
                incident_id,
                step: step.map(|s| name("step", s)).transpose()?,
                by: clean_by(&by),
            },
            PublicCommand::Acknowledge { incident_id, by } => Command::Acknowledge {
                incident_id,
                by: clean_by(&by),
            },
            PublicCommand::Close {
                incident_id,
                note,
                by,
            } => Command::Close {
                incident_id,
                note: note_text(&note)?,
                by: clean_by(&by),
            },
            PublicCommand::InjectChaos { target, fault } => Command::InjectChaos {
                target: name("target", target)?,
                fault: name("fault", fault)?,
            },
            PublicCommand::Pause { by } => Command::Pause { by: clean_by(&by) },
            PublicCommand::Resume { by } => Command::Resume { by: clean_by(&by) },
            PublicCommand::Silence {
                target,
                duration,
                by,
            } => Command::Silence {
                target: name("target", target)?,
                duration: bounded_duration(duration)?,
                by: clean_by(&by),
            },
            PublicCommand::Unsilence { target, by } => Command::Unsilence {
                target: name("target", target)?,
                by: clean_by(&by),
            },
        })
    }
}

/// The console's commands that a daemon accepts over HTTP (`attach`); the
/// engine's own commands come back as they are.
impl TryFrom<Command> for PublicCommand {
    type Error = Command;

    fn try_from(command: Command) -> Result<PublicCommand, Command> {
        Ok(match command {
            Command::Approve { incident_id, by } => PublicCommand::Approve { incident_id, by },
            Command::Reject { incident_id, by } => PublicCommand::Reject { incident_id, by },
            Command::Retry {
                incident_id,
                step,
                by,
            } => PublicCommand::Retry {
                incident_id,
                step,
                by,
            },
            Command::Acknowledge { incident_id, by } => {
                PublicCommand::Acknowledge { incident_id, by }
            }
            Command::Close {
                incident_id,
                note,
                by,
            } => PublicCommand::Close {
                incident_id,
                note,
                by,
            },
            Command::InjectChaos { target, fault } => PublicCommand::InjectChaos { target, fault },
            Command::Pause { by } => PublicCommand::Pause { by },
            Command::Resume { by } => PublicCommand::Resume { by },
            Command::Silence {
                target,
                duration,
                by,
            } => PublicCommand::Silence {
                target,
                duration: duration.as_secs(),
                by,
            },
            Command::Unsilence { target, by } => PublicCommand::Unsilence { target, by },
            other => return Err(other),
        })
    }
}

/// `POST /api/commands` with one [`PublicCommand`] as JSON, e.g.
/// `{"command":"approve","incident_id":7,"by":"alice"}`. A command about a
/// target not in the config is 404, like a report about one; one about an
/// incident the engine does not know is 404, and one that does not apply to
/// it now (approve what no longer waits, retry what is resolved) is 409 with
/// the engine's reason. 202 means the engine took it and acted. Behind named
/// keys, `by` also names the key that sent it (`alice (key ops)`): the journal
/// says who asked and with what right.
pub async fn command(
    State(api): State<Arc<Api>>,
    caller: Option<Extension<Caller>>,
    body: Bytes,
) -> Response {
    let mut public = match PublicCommand::parse(&body) {
        Ok(public) => public,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let (Some(Extension(Caller(key))), Some(by)) = (caller, public.by_mut()) {
        // The key's name always fits: a long `by` gives way, never the name.
        let room = MAX_NAME.saturating_sub(key.chars().count() + " (key )".len());
        let who: String = clean_text(by.trim()).chars().take(room).collect();
        *by = match who.as_str() {
            "" => format!("key {key}"),
            who => format!("{who} (key {key})"),
        };
    }
    if let Some(not_found) = public.target().and_then(|t| unknown_target(&api, t)) {
        return not_found;
    }
    let command = match public.into_command() {
        Ok(command) => command,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match ask(&api, command).await {
        Ok(_) => (StatusCode::ACCEPTED, Json(json!({ "accepted": true }))).into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// How long a command waits for the engine's answer before 503.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// The engine is the one that knows whether a command applies (its state is
/// the only one not behind), so the command goes with a reply channel and the
/// status follows its answer: what it opened, or why not.
pub(super) async fn ask(api: &Api, command: Command) -> Result<Option<Opened>, Refused> {
    let (reply, answer) = Reply::new();
    let ask = Command::Ask {
        command: Box::new(command),
        reply,
    };
    if api.commands.send(ask).await.is_err() {
        return Err(Refused::Stopped);
    }
    match tokio::time::timeout(ANSWER_WITHIN, answer).await {
        Ok(Ok(answer)) => answer.map_err(Refused::Declined),
        // Its reply dropped unanswered: it stopped with the command still queued.
        Ok(Err(_)) => Err(Refused::Stopped),
        Err(_) => Err(Refused::Late),
    }
}

/// Why the engine did not take a command, as an HTTP answer.
pub(super) enum Refused {
    Declined(Declined),
    Stopped,
    Late,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Declined(Declined::NotFound(why)) => error(StatusCode::NOT_FOUND, why),
            Refused::Declined(Declined::Conflict(why)) => error(StatusCode::CONFLICT, why),
            Refused::Stopped => error(StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped"),
            Refused::Late => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the engine did not answer in time; the command may still apply",
            ),
        }
    }
}

/// The longest note `close` keeps, in characters.
pub const MAX_NOTE: usize = 1000;

/// A closing note: one or more words, no control characters, bounded.
fn note_text(note: &str) -> Result<String, String> {
    let note = clean_text(note).trim().to_string();
    if note.is_empty() {
        return Err("`note` must say why it is closed".into());
    }
    if note.chars().count() > MAX_NOTE {
        return Err(format!("`note` must have at most {MAX_NOTE} characters"));
    }
    Ok(note)
}

fn bounded_duration(secs: u64) -> Result<Duration, String> {
    let duration = Duration::from_secs(secs);
    if duration > MAX_DURATION {
        return Err(format!(
            "`duration` is in seconds and at most {} (10 years); got {secs}",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(duration)
}

/// A name from a peer (target, fault, signature): kept exactly, or refused.
pub fn name(field: &str, value: String) -> Result<String, String> {
    if value.is_empty() || value.chars().count() > MAX_NAME {
        return Err(format!("`{field}` must have 1 to {MAX_NAME} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("`{field}` must not contain control characters"));
    }
    Ok(value)
}

/// Who asked: free text for the journal and the screen, so control characters
/// (terminal escapes, newlines) go and the length is bounded.
fn clean_by(by: &str) -> String {
    clean_text(by).chars().take(MAX_NAME).collect()
}

/// Free text without control characters.
pub fn clean_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_commands_parse() {
        for body in [
            r#"{"command":"shutdown","reason":"x"}"#,
            r#"{"command":"ingest","source":"x","target":"t","signature":"s","firing":true}"#,
            r#"{"command":"record_notification_failure","url":"x","error":"e"}"#,
        ] {
            let err = PublicCommand::parse(body.as_bytes()).unwrap_err();
            assert!(err.starts_with("unknown command `"), "{err}");
            assert!(
                err.contains("approve, reject, retry, acknowledge, close, inject_chaos"),
                "{err}"
            );
        }
        assert!(
            PublicCommand::parse(br#"{"by":"x"}"#)
                .unwrap_err()
                .contains("needs `command`")
        );
        assert_eq!(
            PublicCommand::parse(br#"{"command":"pause","by":"ci"}"#),
            Ok(PublicCommand::Pause { by: "ci".into() })
        );
    }

    #[test]
    fn silences_are_bounded() {
        let ten_years = MAX_DURATION.as_secs();
        let ok = PublicCommand::Silence {
            target: "db".into(),
            duration: ten_years,
            by: "a".into(),
        };
        assert!(ok.into_command().is_ok());
        let err = PublicCommand::Silence {
            target: "db".into(),
            duration: 1_000_000_000_000,
            by: "a".into(),
        }
        .into_command()
        .unwrap_err();
        assert!(err.contains("at most 315360000"), "{err}");
    }

    #[test]
    fn free_text_is_cleaned_and_names_are_checked() {
        let Ok(Command::Pause { by }) = (PublicCommand::Pause {
            by: format!("ali\x1b[2Jce\n{}", "x".repeat(500)),
        })
        .into_command() else {
            panic!("pause converts")
        };
        assert!(by.starts_with("ali[2Jcexxx"), "{by}");
        assert_eq!(by.chars().count(), MAX_NAME);
        assert!(name("target", "a\nb".into()).is_err());
        assert!(name("target", String::new()).is_err());
        assert!(name("target", "é".repeat(MAX_NAME)).is_ok());
        assert!(name("target", "x".repeat(MAX_NAME + 1)).is_err());
    }

    #[test]
    fn the_console_commands_round_trip() {
        let silence = Command::Silence {
            target: "db".into(),
            duration: Duration::from_secs(600),
            by: "alice".into(),
        };
        let public = PublicCommand::try_from(silence.clone()).unwrap();
        // The JSON clients have always sent.
        assert_eq!(
            serde_json::to_value(&public).unwrap(),
            serde_json::json!({"command": "silence", "target": "db", "duration": 600, "by": "alice"})
        );
        assert_eq!(public.into_command(), Ok(silence));
        let shutdown = Command::Shutdown { reason: "x".into() };
        assert_eq!(PublicCommand::try_from(shutdown.clone()), Err(shutdown));
    }
}
