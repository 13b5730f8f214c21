//! The dead-letter queue worked by a human: a rejected or escalated incident is
//! retried (from the first or a named step), acknowledged, or closed by hand
//! with a note. A real engine probes a real HTTP service that a file breaks;
//! the playbooks' real commands remove the file.

mod common;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use std::path::{Path, PathBuf};
use std::time::Duration;

use autoheal::event::{Command, Decision, EventKind, IncidentId};
use autoheal::journal;
use autoheal::state::Status;
use common::{Rig, rig};

const WAIT: Duration = Duration::from_secs(8);

/// A service that answers 503 while `dir/broken` exists.
async fn service(dir: &Path) -> String {
    let broken = dir.join("broken");
    let app = Router::new().route(
        "/",
        get(move || {
            let broken = broken.clone();
            async move {
                match broken.exists() {
                    true => StatusCode::SERVICE_UNAVAILABLE,
                    false => StatusCode::OK,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The engine watching `web` (that service), with `playbook`'s steps; the
/// rails that count remediations are opened wide so a retry is judged on the rest.
pub struct Setup {
    pub rig: Rig,
    pub dir: PathBuf,
}

pub async fn setup(playbook: &str) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let url = service(&dir).await;
    let config = format!(
        "targets:\n  - name: web\n    http: {{ url: '{url}' }}\n    interval: 100ms\n    vars: {{ dir: '{}' }}\n\
         policy: {{ verify_within: 3s, cooldown: 0s, flap_max: 100 }}\n",
        dir.display()
    );
    let playbook = format!(
        "name: fix-web\nmatch: {{ targets: [web] }}\nseverity: high\nconfidence: 0.95\nretries: 0\n{playbook}"
    );
    Setup {
        rig: rig(tmp, &config, &[&playbook]),
        dir,
    }
}

/// The step that fixes it: a real `rm` of the file that breaks the service.
const FIX: &str = "  - name: remove\n    exec: { argv: [rm, '{{dir}}/broken'] }\n";

impl Setup {
    fn break_it(&self) {
        std::fs::write(self.dir.join("broken"), "").unwrap();
    }

    fn broken(&self) -> bool {
        self.dir.join("broken").exists()
    }

    async fn detected(&mut self) -> IncidentId {
        self.break_it();
        let e = self
            .rig
            .wait_for(WAIT, "detection", |k| {
                matches!(k, EventKind::IncidentDetected { .. })
            })
            .await;
        e.kind.incident_id().unwrap()
    }

    async fn analyzed(&mut self, what: &str) -> (Decision, Option<String>, String) {
        let e = self
            .rig
            .wait_for(WAIT, what, |k| {
                matches!(k, EventKind::IncidentAnalyzed { .. })
            })
            .await;
        match e.kind {
            EventKind::IncidentAnalyzed {
                decision,
                action,
                step,
                ..
            } => (decision, action, step.unwrap_or_default()),
            _ => unreachable!(),
        }
    }

    async fn escalated(&mut self) -> String {
        let e = self
            .rig
            .wait_for(WAIT, "escalation", |k| {
                matches!(k, EventKind::IncidentEscalated { .. })
            })
            .await;
        match e.kind {
            EventKind::IncidentEscalated { reason, .. } => reason,
            _ => unreachable!(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_fix_retried_asks_again_and_once_approved_runs_and_resolves() {
    let mut s = setup(&format!("approval: required\nsteps:\n{FIX}")).await;
    let id = s.detected().await;
    let (decision, action, _) = s.analyzed("the approval request").await;
    assert_eq!(decision, Decision::ApprovalRequired);
    // What the approver reads: the real argv, its value filled in.
    assert_eq!(
        action.as_deref(),
        Some(format!("rm {}/broken", s.dir.display()).as_str())
    );
    s.rig
        .send(Command::Reject {
            incident_id: id,
            by: "bob".into(),
        })
        .await;
    s.rig
        .wait_for(WAIT, "rejection", |k| {
            matches!(k, EventKind::ApprovalRejected { .. })
        })
        .await;
    assert!(s.broken(), "nothing ran on a rejection");

    s.rig
        .send(Command::Retry {
            incident_id: id,
            step: None,
            by: "carol".into(),
        })
        .await;
    s.rig
        .wait_for(
            WAIT,
            "the retry",
            |k| matches!(k, EventKind::IncidentRetried { by, step: None, .. } if by == "carol"),
        )
        .await;
    // The policy judges again: this playbook always asks a human.
    let (decision, ..) = s.analyzed("the second approval request").await;
    assert_eq!(decision, Decision::ApprovalRequired);
    s.rig
        .send(Command::Approve {
            incident_id: id,
            by: "carol".into(),
        })
        .await;
    s.rig.resolved(id).await;
    assert!(!s.broken(), "the real command ran");
    let (state, ..) = s.rig.stop().await;
    let inc = &state.incidents[&id];
    assert_eq!(inc.status, Status::Resolved);
    assert_eq!(inc.approved_by.as_deref(), Some("carol"));
    assert_eq!(inc.rejected_by, None, "the retry started afresh");
    assert_eq!(state.counts.resolved, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalated_incident_is_owned_then_closed_by_hand_with_its_note() {
    let mut s = setup("steps:\n  - name: try\n    exec: { argv: ['false'] }\n").await;
    let id = s.detected().await;
    let reason = s.escalated().await;
    assert_eq!(
        reason,
        "all 1 steps of fix-web tried; the target is still failing"
    );
    s.rig
        .send(Command::Acknowledge {
            incident_id: id,
            by: "dave@ssh:10.0.0.9".into(),
        })
        .await;
    s.rig
        .wait_for(WAIT, "acknowledgement", |k| {
            matches!(k, EventKind::IncidentAcknowledged { .. })
        })
        .await;
    s.rig
        .send(Command::Close {
            incident_id: id,
            note: "disk replaced by hand, ticket OPS-42".into(),
            by: "dave@ssh:10.0.0.9".into(),
        })
        .await;
    let closed = s
        .rig
        .wait_for(WAIT, "closing", |k| {
            matches!(k, EventKind::IncidentClosed { .. })
        })
        .await;
    let (state, journal, _dir) = s.rig.stop().await;
    let inc = &state.incidents[&id];
    assert_eq!(inc.status, Status::Closed);
    assert!(!inc.status.is_open());
    assert_eq!(inc.acknowledged_by.as_deref(), Some("dave@ssh:10.0.0.9"));
    assert_eq!(
        inc.close_note.as_deref(),
        Some("disk replaced by hand, ticket OPS-42")
    );
    // Closed is not fixed: no resolution, no time to resolve.
    assert_eq!(
        (
            state.counts.resolved,
            state.counts.closed,
            state.ttr_ms.len()
        ),
        (0, 1, 0)
    );
    assert_eq!(state.open_count(), 0);
    // The headless line and the journal say who and why.
    assert_eq!(
        autoheal::report::describe(&closed, &state, &jiff::tz::TimeZone::UTC).text,
        format!("{id} by dave@ssh:10.0.0.9: disk replaced by hand, ticket OPS-42")
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        text.contains(&format!(
            r#""kind":"incident_acknowledged","incident_id":{},"by":"dave@ssh:10.0.0.9""#,
            id.0
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#""kind":"incident_closed","incident_id":{},"note":"disk replaced by hand, ticket OPS-42","by":"dave@ssh:10.0.0.9""#,
            id.0
        )),
        "{text}"
    );
    // Replayed, the journal folds to the same incident.
    let mut replayed = autoheal::state::State::default();
    journal::replay(&journal, |e| replayed.apply(&e)).unwrap();
    assert_eq!(replayed.incidents[&id], *inc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_from_a_named_step_skips_the_steps_before_it() {
    // `first` never works; `second` works once the operator has opened the gate.
    let gated = "  - name: second\n    exec: { argv: [sh, -c, 'test -e \"$1\" && rm \"$2\"', gate, '{{dir}}/gate', '{{dir}}/broken'] }\n";
    let mut s = setup(&format!(
        "steps:\n  - name: first\n    exec: {{ argv: ['false'] }}\n{gated}"
    ))
    .await;
    let id = s.detected().await;
    s.escalated().await;
    std::fs::write(s.dir.join("gate"), "").unwrap();
    s.rig
        .send(Command::Retry {
            incident_id: id,
            step: Some("second".into()),
            by: "erin".into(),
        })
        .await;
    let (decision, _, step) = s.analyzed("the retried plan").await;
    // The policy judges again: `second` failed once, so what it learned asks a human.
    assert_eq!(
        (decision, step.as_str()),
        (Decision::ApprovalRequired, "second")
    );
    s.rig
        .send(Command::Approve {
            incident_id: id,
            by: "erin".into(),
        })
        .await;
    s.rig.resolved(id).await;
    assert!(!s.broken());
    let (state, ..) = s.rig.stop().await;
    let steps: Vec<&str> = state.incidents[&id]
        .attempts
        .iter()
        .map(|a| a.step.as_str())
        .collect();
    assert_eq!(steps, ["first", "second", "second"], "first ran only once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_do_not_apply_change_nothing() {
    let mut s = setup(&format!("steps:\n{FIX}")).await;
    let id = s.detected().await;
    s.rig.resolved(id).await;
    for command in [
        Command::Retry {
            incident_id: id,
            step: None,
            by: "x".into(),
        },
        Command::Close {
            incident_id: id,
            note: "n".into(),
            by: "x".into(),
        },
        Command::Approve {
            incident_id: id,
            by: "x".into(),
        },
    ] {
        s.rig.send(command).await;
    }
    let (state, ..) = s.rig.stop().await;
    let inc = &state.incidents[&id];
    assert_eq!(inc.status, Status::Resolved);
    assert!(
        inc.timeline
            .iter()
            .all(|e| !matches!(e.kind.name(), "incident_retried" | "incident_closed")),
        "{:#?}",
        inc.timeline
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_202_when_a_command_applies_and_409_with_the_reason_when_not() {
    let mut s = setup("steps:\n  - name: try\n    exec: { argv: ['false'] }\n").await;
    let base = common::serve(s.rig.api()).await;
    let id = s.detected().await;
    s.escalated().await;
    let n = id.0;
    let ok = (202, String::new());
    let conflict = |why: &str| (409, format!("incident #{n} {why}"));

    for verdict in ["approve", "reject"] {
        assert_eq!(
            common::command(
                &base,
                &format!(r#"{{"command":"{verdict}","incident_id":{n},"by":"x"}}"#)
            )
            .await,
            conflict("is escalated, not awaiting approval")
        );
    }
    assert_eq!(
        common::command(
            &base,
            &format!(r#"{{"command":"retry","incident_id":{n},"step":"nope","by":"x"}}"#)
        )
        .await,
        conflict("has no step nope in playbook fix-web (steps: try)")
    );
    let ack = format!(r#"{{"command":"acknowledge","incident_id":{n},"by":"dave"}}"#);
    assert_eq!(common::command(&base, &ack).await, ok);
    assert_eq!(
        common::command(&base, &ack).await,
        conflict("is already acknowledged by dave")
    );

    // Retried, `try` (which failed once) waits for a human; rejected, it is back in the queue.
    let retry = format!(r#"{{"command":"retry","incident_id":{n},"by":"dave"}}"#);
    assert_eq!(common::command(&base, &retry).await, ok);
    s.analyzed("the retried plan").await;
    assert_eq!(
        common::command(&base, &retry).await,
        conflict("is awaiting approval, not escalated or rejected")
    );
    assert_eq!(
        common::command(
            &base,
            &format!(r#"{{"command":"reject","incident_id":{n},"by":"dave"}}"#)
        )
        .await,
        ok
    );
    assert_eq!(
        common::command(
            &base,
            &format!(r#"{{"command":"approve","incident_id":{n},"by":"dave"}}"#)
        )
        .await,
        conflict("is rejected, not awaiting approval")
    );

    let close = |note: &str| {
        format!(r#"{{"command":"close","incident_id":{n},"note":"{note}","by":"dave"}}"#)
    };
    assert_eq!(
        common::command(&base, &close(" ")).await,
        (400, "`note` must say why it is closed".into())
    );
    assert_eq!(common::command(&base, &close("fixed by hand")).await, ok);
    assert_eq!(
        common::command(&base, &close("again")).await,
        conflict("is closed, not open")
    );
    assert_eq!(
        common::command(&base, &retry).await,
        conflict("is closed, not escalated or rejected")
    );
    assert_eq!(
        common::command(
            &base,
            r#"{"command":"acknowledge","incident_id":99,"by":"x"}"#
        )
        .await,
        (404, "no incident #99".into())
    );
    // Every one that applied is journaled with who did it; none that did not.
    let (state, ..) = s.rig.stop().await;
    let kinds: Vec<&str> = state.incidents[&id]
        .timeline
        .iter()
        .map(|e| e.kind.name())
        .filter(|k| k.starts_with("incident_") && *k != "incident_analyzed")
        .collect();
    assert_eq!(
        kinds,
        [
            "incident_detected",
            "incident_escalated",
            "incident_acknowledged",
            "incident_retried",
            "incident_closed"
        ]
    );
    assert_eq!(state.incidents[&id].closed_by.as_deref(), Some("dave"));
}

#[test]
fn an_action_that_finishes_after_its_incident_was_closed_leaves_it_closed() {
    use autoheal::event::{Event, Severity};
    let mut state = autoheal::state::State::default();
    let ts = jiff::Timestamp::UNIX_EPOCH;
    let id = IncidentId(1);
    let kinds = [
        EventKind::IncidentDetected {
            incident_id: id,
            target: "web".into(),
            signature: "HTTP_503".into(),
            severity: Severity::High,
            started_at: ts,
            chaos: false,
            trace_id: String::new(),
            reported_by: None,
            text: None,
        },
        EventKind::ActionStarted {
            incident_id: id,
            playbook: "p".into(),
            step: "s".into(),
            action: "exec true".into(),
            attempt: 1,
            term: None,
        },
        EventKind::IncidentClosed {
            incident_id: id,
            note: "done by hand".into(),
            by: "bob".into(),
        },
        EventKind::ActionFinished {
            incident_id: id,
            playbook: "p".into(),
            step: "s".into(),
            action: "exec true".into(),
            attempt: 1,
            ok: true,
            duration_ms: 5,
            output: String::new(),
        },
    ];
    for (seq, kind) in (1..).zip(kinds) {
        state.apply(&Event { seq, ts, kind });
    }
    assert_eq!(state.incidents[&id].status, Status::Closed);
    assert_eq!(state.open_count(), 0);
    assert_eq!(state.running_actions, 0);
}

#[test]
fn what_an_approver_reads_is_the_real_argv_or_url_and_no_secret() {
    use autoheal::action::{ActionSpec, ExecAction, HttpAction, prepare, vars::Vars};
    let mut vars = Vars::default();
    vars.trusted("unit", "payments api.service")
        .trusted("token", "s3cret");
    let exec = ActionSpec::Exec(ExecAction {
        argv: ["systemctl", "restart", "{{unit}}", "--no-block", ""]
            .map(String::from)
            .to_vec(),
        shell: false,
        timeout: Duration::from_secs(5),
        env: [("TOKEN".to_string(), "{{token}}".to_string())].into(),
    });
    assert_eq!(
        prepare(&exec, &vars).unwrap().describe(),
        "systemctl restart 'payments api.service' --no-block ''"
    );
    let http = ActionSpec::Http(HttpAction {
        method: "POST".into(),
        url: "http://ops:hunter2@127.0.0.1:7300/services/web/restart".into(),
        headers: [("Authorization".to_string(), "Bearer {{token}}".to_string())].into(),
        body: Some("{{token}}".into()),
        timeout: Duration::from_secs(5),
    });
    let shown = prepare(&http, &vars).unwrap().describe();
    assert_eq!(shown, "POST http://127.0.0.1:7300/services/web/restart");
    assert!(!shown.contains("s3cret") && !shown.contains("hunter2"));
}
