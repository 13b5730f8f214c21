//! The optional AI analyst, against a real loopback server that speaks the
//! OpenAI-compatible chat-completions API: what it is sent, what its answers
//! change (a proposal waits for approval, anything else changes nothing), and
//! that nothing is sent unless it is configured.

mod common;

use axum::Router;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autoheal::config::Config;
use autoheal::engine::{Engine, Settings};
use autoheal::event::{AnalystDecision, Command, EventKind, IncidentId, Severity};
use autoheal::playbook::Playbooks;
use autoheal::state::Status;
use common::Rig;

const WAIT: Duration = Duration::from_secs(4);
const MODEL: &str = "test-model:8b";

/// How the fake model server answers.
#[derive(Clone)]
enum Reply {
    /// 200 with this as `choices[0].message.content`.
    Content(String),
    Status(u16),
    /// The answer comes after this long.
    Slow(Duration),
}

/// What the server was sent: the `Authorization` header and the JSON body.
#[derive(Clone, Debug)]
struct Received {
    authorization: Option<String>,
    body: serde_json::Value,
}

#[derive(Clone)]
struct ModelServer {
    url: String,
    reply: Arc<Mutex<Reply>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl ModelServer {
    async fn start(reply: Reply) -> ModelServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let server = ModelServer {
            url,
            reply: Arc::new(Mutex::new(reply)),
            received: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    fn answer_with(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn answer(
    Shared(server): Shared<ModelServer>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    server.received.lock().unwrap().push(Received {
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        body: serde_json::from_str(&body).unwrap_or_default(),
    });
    let reply = server.reply.lock().unwrap().clone();
    let chat = |content: &str| {
        serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
        })
        .to_string()
    };
    match reply {
        Reply::Content(content) => (StatusCode::OK, chat(&content)),
        Reply::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            r#"{"error":{"message":"model overloaded"}}"#.into(),
        ),
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            (StatusCode::OK, chat("{}"))
        }
    }
}

/// A passive target `billing` (reports only) and its playbooks: one whose
/// signature the incidents below never match, with a step that touches a file;
/// one by label; one for another target, which is never offered.
fn playbooks(marker: &Path) -> Vec<String> {
    vec![
        format!(
            "name: billing-queue\nmatch: {{ targets: [billing], signature: QUEUE_FULL }}\nseverity: high\nconfidence: 0.7\nsteps:\n  - name: flush-queue\n    exec: {{ argv: [touch, '{}'], timeout: 5s }}\n",
            marker.display()
        ),
        "name: payments-team\nmatch: { labels: { team: payments }, signature: LEDGER_LAG }\nseverity: high\nconfidence: 0.5\nsteps:\n  - name: reindex\n    exec: { argv: ['true'] }\n".into(),
        format!(
            "name: billing-restart\nmatch: {{ targets: [billing], signature: NEVER_SEEN }}\nseverity: high\nconfidence: 0.95\nsteps:\n  - name: fail-first\n    exec: {{ argv: ['false'] }}\n  - name: then-touch\n    exec: {{ argv: [touch, '{}'] }}\n",
            marker.with_extension("auto").display()
        ),
        "name: orders-only\nmatch: { targets: [orders], signature: QUEUE_FULL }\nseverity: high\nconfidence: 0.9\nsteps:\n  - name: restart\n    exec: { argv: ['true'] }\n".into(),
    ]
}

struct Setup {
    rig: Rig,
    marker: PathBuf,
}

/// An engine over `billing` with `analyst` (YAML, or empty for none).
fn start(analyst: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("flushed");
    let config = format!(
        "policy: {{ verify_within: 300ms }}\ntargets:\n  - name: billing\n    passive: {{}}\n    labels: {{ team: payments }}\n  - name: orders\n    passive: {{}}\n{analyst}"
    );
    let books = dir.path().join("playbooks");
    std::fs::create_dir_all(&books).unwrap();
    for (i, book) in playbooks(&marker).iter().enumerate() {
        std::fs::write(books.join(format!("{i}.yaml")), book).unwrap();
    }
    let (parsed, _) = Config::parse(Path::new("test.yaml"), &config).expect("valid config");
    let settings = Settings {
        playbooks: Playbooks::load(Some(&books), &[]).expect("playbooks load"),
        ..common::settings(dir.path(), &config)
    };
    let engine = Engine::new(settings)
        .unwrap()
        .analyst(parsed.analyst.as_ref());
    Setup {
        rig: Rig::spawn(engine, dir),
        marker,
    }
}

fn analyst_config(url: &str, timeout: &str, api_key_env: &str) -> String {
    format!(
        "analyst:\n  url: '{url}'\n  model: '{MODEL}'\n  api_key_env: {api_key_env}\n  timeout: {timeout}\n"
    )
}

/// Cargo sets it for every test it runs: a token the test can know without
/// changing the environment of a running process.
const TOKEN_VAR: &str = "CARGO_PKG_NAME";

fn token() -> String {
    std::env::var(TOKEN_VAR).expect("run by cargo test, which sets CARGO_PKG_NAME")
}

/// Reports `signature` on billing, high severity: no playbook matches it, so it escalates.
async fn report(rig: &mut Rig, signature: &str) -> IncidentId {
    report_again(rig, signature).await;
    let escalated = rig
        .wait_for(WAIT, "the escalation", |k| {
            matches!(k, EventKind::IncidentEscalated { .. })
        })
        .await;
    escalated.kind.incident_id().unwrap()
}

async fn report_again(rig: &Rig, signature: &str) {
    rig.send(Command::Ingest {
        source: "intake".into(),
        target: "billing".into(),
        text: signature.into(),
        severity: Some(Severity::High),
        detail: "payments stuck for 5 minutes".into(),
        labels: Default::default(),
        firing: true,
        trace_id: None,
        started_at: None,
    })
    .await;
}

async fn analyst_failed(rig: &mut Rig, id: IncidentId) -> String {
    let failed = rig
        .wait_for(
            WAIT,
            "analyst_failed",
            |k| matches!(k, EventKind::AnalystFailed { incident_id, .. } if *incident_id == id),
        )
        .await;
    let EventKind::AnalystFailed { model, error, .. } = failed.kind else {
        unreachable!()
    };
    assert_eq!(model, MODEL);
    error
}

fn proposal(decision: &str, step: Option<&str>, confidence: f64, reason: &str) -> Reply {
    Reply::Content(
        serde_json::json!({"decision": decision, "step": step, "confidence": confidence, "reason": reason})
            .to_string(),
    )
}

#[tokio::test]
async fn an_approved_proposal_runs_its_step_and_names_operator_and_model() {
    let server = ModelServer::start(proposal(
        "remediate",
        Some("billing-queue/flush-queue"),
        0.62,
        "The queue is stuck; flushing it usually clears PAYMENTS_STUCK.",
    ))
    .await;
    let Setup { mut rig, marker } = start(&analyst_config(&server.url, "2s", TOKEN_VAR));
    let id = report(&mut rig, "PAYMENTS_STUCK").await;

    let proposed = rig
        .wait_for(WAIT, "analyst_proposed", |k| {
            matches!(k, EventKind::AnalystProposed { .. })
        })
        .await;
    let EventKind::AnalystProposed {
        incident_id,
        model,
        decision,
        playbook,
        step,
        confidence,
        queued,
        action,
        ..
    } = proposed.kind
    else {
        unreachable!()
    };
    assert_eq!(incident_id, id);
    assert_eq!(
        (model.as_str(), decision, queued, confidence),
        (MODEL, AnalystDecision::Remediate, true, 0.62)
    );
    assert_eq!(
        (playbook.as_deref(), step.as_deref()),
        (Some("billing-queue"), Some("flush-queue"))
    );
    assert!(action.unwrap().contains("touch"));
    // Whatever its confidence, it waits for a human.
    {
        let state = rig.handle.view();
        let state = state.read();
        let inc = &state.incidents[&id];
        assert_eq!(inc.status, Status::AwaitingApproval);
        assert_eq!(inc.step.as_deref(), Some("flush-queue"));
        assert_eq!(inc.proposed_by.as_deref(), Some(MODEL));
        assert_eq!(state.approval_queue().len(), 1);
    }
    assert!(rig.seen_kind("action_started").is_empty());
    assert!(!marker.exists(), "nothing runs before approval");

    // What the server was asked.
    let received = server.received();
    assert_eq!(received.len(), 1, "asked once");
    let asked = &received[0];
    assert_eq!(
        asked.authorization.as_deref(),
        Some(format!("Bearer {}", token()).as_str())
    );
    assert_eq!(asked.body["model"], MODEL);
    assert_eq!(asked.body["temperature"], 0);
    assert_eq!(asked.body["response_format"]["type"], "json_object");
    let user = asked.body["messages"][1]["content"].as_str().unwrap();
    let user: serde_json::Value = serde_json::from_str(user).unwrap();
    assert_eq!(user["incident"]["target"], "billing");
    assert_eq!(user["incident"]["signature"], "PAYMENTS_STUCK");
    assert_eq!(user["incident"]["labels"]["team"], "payments");
    assert!(
        user["incident"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "incident_escalated")
    );
    let ids: Vec<&str> = user["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "billing-queue/flush-queue",
            "billing-restart/fail-first",
            "billing-restart/then-touch",
            "payments-team/reindex"
        ],
        "steps for billing (by name or label), none for orders"
    );

    rig.send(Command::Approve {
        incident_id: id,
        by: "alice".into(),
    })
    .await;
    let granted = rig
        .wait_for(WAIT, "approval_granted", |k| {
            matches!(k, EventKind::ApprovalGranted { .. })
        })
        .await;
    assert_eq!(
        granted.kind,
        EventKind::ApprovalGranted {
            incident_id: id,
            by: "alice".into(),
            analyst: Some(MODEL.into()),
        }
    );
    rig.wait_for(
        WAIT,
        "the step to finish",
        |k| matches!(k, EventKind::StepFinished { ok: true, step, .. } if step == "flush-queue"),
    )
    .await;
    assert!(marker.exists(), "the approved step really ran");
    rig.resolved(id).await;
    let (state, _, _) = rig.stop().await;
    let record = state.analyst[MODEL];
    assert_eq!(
        (
            record.proposed,
            record.approved,
            record.worked,
            record.failed
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(
        state.learning[&("billing-queue".to_string(), "flush-queue".to_string())].successes,
        1,
        "learning counts the step like any other"
    );
    let scrape = autoheal::metrics::Metrics::of(state).render();
    for outcome in ["proposed", "approved", "worked"] {
        let series =
            format!(r#"autoheal_analyst_proposals_total{{model="{MODEL}",outcome="{outcome}"}} 1"#);
        assert!(scrape.contains(&series), "{series} in\n{scrape}");
    }
}

#[tokio::test]
async fn answers_not_in_the_fixed_shape_are_journaled_and_change_nothing() {
    let server = ModelServer::start(Reply::Content(
        "I would restart the billing service if I were you.".into(),
    ))
    .await;
    let Setup { mut rig, marker } = start(&analyst_config(&server.url, "2s", TOKEN_VAR));

    let malformed = report(&mut rig, "PAYMENTS_STUCK").await;
    let error = analyst_failed(&mut rig, malformed).await;
    assert!(error.contains("not the JSON object asked for"), "{error}");

    server.answer_with(proposal(
        "remediate",
        Some("rm/everything"),
        0.99,
        "trust me",
    ));
    let unknown = report(&mut rig, "LEDGER_DRIFT").await;
    let error = analyst_failed(&mut rig, unknown).await;
    assert!(
        error.contains("`rm/everything` is not one of the steps offered"),
        "{error}"
    );

    server.answer_with(Reply::Status(500));
    let overloaded = report(&mut rig, "INVOICE_GAP").await;
    let error = analyst_failed(&mut rig, overloaded).await;
    assert!(error.contains("HTTP 500"), "{error}");
    assert!(!error.contains(&server.url), "no URL in {error}");

    // Once per incident: the same report again asks nothing new.
    report_again(&rig, "INVOICE_GAP").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.received().len(), 3);

    let state = rig.handle.view();
    for id in [malformed, unknown, overloaded] {
        assert_eq!(state.read().incidents[&id].status, Status::Escalated);
    }
    assert!(state.read().approval_queue().is_empty());
    assert_eq!(state.read().analyst[MODEL].failed, 3);
    assert!(rig.seen_kind("action_started").is_empty());
    assert!(rig.seen_kind("analyst_proposed").is_empty());
    assert!(!marker.exists());

    // An operator's retry is a new decision: the analyst is asked again.
    rig.send(Command::Retry {
        incident_id: overloaded,
        step: None,
        by: "bob".into(),
    })
    .await;
    analyst_failed(&mut rig, overloaded).await;
    assert_eq!(server.received().len(), 4);
    rig.stop().await;
}

#[tokio::test]
async fn a_slow_analyst_is_given_up_at_its_timeout() {
    let server = ModelServer::start(Reply::Slow(Duration::from_secs(10))).await;
    let Setup { mut rig, .. } = start(&analyst_config(&server.url, "500ms", TOKEN_VAR));
    let id = report(&mut rig, "PAYMENTS_STUCK").await;
    let asked = Instant::now();
    let error = analyst_failed(&mut rig, id).await;
    let waited = asked.elapsed();
    assert!(error.contains("no answer within 500ms"), "{error}");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(1500),
        "gave up after {waited:?}"
    );
    assert_eq!(
        rig.handle.view().read().incidents[&id].status,
        Status::Escalated
    );
    rig.stop().await;
}

#[tokio::test]
async fn nothing_leaves_the_machine_unless_configured_nor_for_a_silenced_target() {
    let server = ModelServer::start(proposal("escalate", None, 0.5, "a human")).await;

    // No `analyst:`: escalations are as they always were.
    let Setup { mut rig, .. } = start("");
    report(&mut rig, "PAYMENTS_STUCK").await;
    rig.stop().await;

    // Configured, but billing is silenced.
    let Setup { mut rig, .. } = start(&analyst_config(&server.url, "2s", TOKEN_VAR));
    rig.send(Command::Silence {
        target: "billing".into(),
        duration: Duration::from_secs(600),
        by: "bob".into(),
    })
    .await;
    report(&mut rig, "PAYMENTS_STUCK").await;
    // A question would be on its way by now: the engine asks as it escalates.
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.stop().await;
    assert!(server.received().is_empty(), "{:?}", server.received());

    // A token variable that is not set: the question is not sent at all.
    let Setup { mut rig, .. } = start(&analyst_config(
        &server.url,
        "2s",
        "AUTOHEAL_TEST_TOKEN_NOBODY_SETS",
    ));
    let id = report(&mut rig, "PAYMENTS_STUCK").await;
    let error = analyst_failed(&mut rig, id).await;
    assert!(error.contains("AUTOHEAL_TEST_TOKEN_NOBODY_SETS"), "{error}");
    assert!(server.received().is_empty());
    rig.stop().await;
}

#[tokio::test]
async fn advice_to_escalate_is_shown_and_changes_nothing() {
    let server = ModelServer::start(proposal(
        "escalate",
        None,
        0.8,
        "Ledger drift needs the payments team.",
    ))
    .await;
    let Setup { mut rig, .. } = start(&analyst_config(&server.url, "2s", TOKEN_VAR));
    let id = report(&mut rig, "LEDGER_DRIFT").await;
    rig.wait_for(WAIT, "analyst_proposed", |k| {
        matches!(k, EventKind::AnalystProposed { queued: false, .. })
    })
    .await;
    let state = rig.handle.view();
    let inc = state.read().incidents[&id].clone();
    assert_eq!(inc.status, Status::Escalated);
    let analysis = inc.analysis.unwrap();
    assert_eq!(analysis.decision, Some(AnalystDecision::Escalate));
    assert_eq!(analysis.reason, "Ledger drift needs the payments team.");
    rig.stop().await;
}

#[tokio::test]
async fn automation_never_carries_on_a_playbook_the_analyst_chose() {
    // The analyst picks the first step of a playbook whose next step the
    // policy would run unattended (confidence 0.95) had its signature matched.
    let server = ModelServer::start(proposal(
        "remediate",
        Some("billing-restart/fail-first"),
        0.9,
        "try the restart playbook",
    ))
    .await;
    let Setup { mut rig, marker } = start(&analyst_config(&server.url, "2s", TOKEN_VAR));
    let id = report(&mut rig, "PAYMENTS_STUCK").await;
    rig.wait_for(WAIT, "the queued proposal", |k| {
        matches!(k, EventKind::AnalystProposed { queued: true, .. })
    })
    .await;
    rig.send(Command::Approve {
        incident_id: id,
        by: "alice".into(),
    })
    .await;
    rig.wait_for(WAIT, "the approved step to fail", |k| {
        matches!(k, EventKind::StepFinished { ok: false, .. })
    })
    .await;
    let escalated = rig
        .wait_for(WAIT, "the escalation after it", |k| {
            matches!(k, EventKind::IncidentEscalated { .. })
        })
        .await;
    assert!(
        matches!(&escalated.kind, EventKind::IncidentEscalated { reason, .. } if reason.contains("no playbook matches")),
        "{escalated:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (state, _, _) = rig.stop().await;
    assert_eq!(
        state.incidents[&id].attempts.len(),
        1,
        "only the approved step ran"
    );
    assert!(!marker.with_extension("auto").exists());
    assert_eq!(
        server.received().len(),
        1,
        "not asked again about the same escalation"
    );
}
