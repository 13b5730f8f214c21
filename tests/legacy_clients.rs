//! Clients of the older incident services, unchanged: the exact JSON they
//! send, the exact answers they read, and what becomes of their incidents.
//! Real engines and sockets; the last test runs the three scenarios of those
//! services against the `serve` binary.

mod common;

use serde_json::{Value, json};
use std::time::Duration;

use autoheal::event::{EventKind, IncidentId};
use common::{Rig, rig};

const WAIT: Duration = Duration::from_secs(8);
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A playbook for `payments` that knows "gateway timeout" as GATEWAY_TIMEOUT;
/// each step appends its name and the incident's trace id to `out`.
fn gateway_playbook(out: &std::path::Path, steps: &[&str]) -> String {
    let steps: String = steps
        .iter()
        .map(|s| {
            format!(
                "  - name: {s}\n    exec: {{ argv: [sh, -c, 'echo {s} $AUTOHEAL_TRACE_ID >> {}'], timeout: 5s }}\n",
                out.display()
            )
        })
        .collect();
    format!(
        "name: gateway\nmatch:\n  targets: [payments]\n  signature: GATEWAY_TIMEOUT\n  text: [gateway timeout]\nseverity: high\nconfidence: 0.95\nsteps:\n{steps}"
    )
}

async fn post(base: &str, path: &str, body: &str, traceparent: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = traceparent {
        request = request.header("traceparent", t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn step_finished(rig: &mut Rig, id: IncidentId) -> (bool, String) {
    let event = rig
        .wait_for(
            WAIT,
            &format!("a finished step of {id}"),
            |k| matches!(k, EventKind::StepFinished { incident_id, .. } if *incident_id == id),
        )
        .await;
    match event.kind {
        EventKind::StepFinished { ok, detail, .. } => (ok, detail),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_incident_answers_its_id_and_trace_and_the_fix_verifies_by_silence() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ran");
    let book = gateway_playbook(&out, &["restart"]);
    let mut rig = rig(
        dir,
        "policy: { verify_within: 1s }\ntargets: []\n",
        &[&book],
    );
    let base = common::serve(rig.api()).await;

    let body = r#"{"service":"payments","error":"gateway timeout","severity":"high"}"#;
    let (status, answer) = post(&base, "/incident", body, Some(TRACEPARENT)).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"message": "Incident received", "incidentId": 1, "traceId": "4bf92f3577b34da6a3ce929d0e0e4736"})
    );

    // An undeclared service, registered by intake, its report in words recognised.
    rig.detected("payments", "GATEWAY_TIMEOUT").await;
    let line = serde_json::to_value(rig.seen_kind("incident_detected")[0]).unwrap();
    assert_eq!(line["target"], "payments");
    assert_eq!(line["signature"], "GATEWAY_TIMEOUT");
    assert_eq!(line["text"], "gateway timeout");
    assert_eq!(line["reported_by"], "intake");
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(!rig.seen_kind("target_registered").is_empty());

    // `/incident` never says resolved: a second without a new report verifies the fix.
    let (ok, detail) = step_finished(&mut rig, IncidentId(1)).await;
    assert!(ok, "{detail}");
    assert_eq!(detail, "no new report within 1s of the fix");
    rig.resolved(IncidentId(1)).await;
    let ran = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        ran, "restart 4bf92f3577b34da6a3ce929d0e0e4736\n",
        "the action saw the trace id"
    );

    let (state, _, _dir) = rig.stop().await;
    assert_eq!(
        state.ttr_ms.len(),
        1,
        "a verified fix counts in time to resolve"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_again_after_the_fix_fails_that_step_and_the_next_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ran");
    let book = gateway_playbook(&out, &["restart", "failover"]);
    let mut rig = rig(
        dir,
        "policy: { verify_within: 2s }\ntargets: []\n",
        &[&book],
    );
    let base = common::serve(rig.api()).await;
    let body = r#"{"service":"payments","error":"gateway timeout","severity":"high"}"#;

    let (_, first) = post(&base, "/incident", body, None).await;
    let trace = first["traceId"].as_str().unwrap().to_string();
    assert!(
        autoheal::trace::is_id(&trace),
        "a trace id is made: {trace}"
    );
    rig.wait_for(WAIT, "the first fix", |k| {
        matches!(k, EventKind::ActionFinished { ok: true, .. })
    })
    .await;
    let (_, again) = post(&base, "/incident", body, None).await;
    assert_eq!(again["incidentId"], 1, "the same incident");
    assert_eq!(again["traceId"], trace.as_str(), "with its trace id");

    let (ok, detail) = step_finished(&mut rig, IncidentId(1)).await;
    assert!(!ok);
    assert_eq!(detail, "intake reported it again after the fix");
    let (ok, _) = step_finished(&mut rig, IncidentId(1)).await;
    assert!(ok, "the second step, left in peace, verifies");
    rig.resolved(IncidentId(1)).await;
    let ran = std::fs::read_to_string(&out).unwrap();
    assert_eq!(ran, format!("restart {trace}\nfailover {trace}\n"));
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_event_answers_the_id_as_a_string_and_the_fault_began_at_its_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = rig(dir, "targets: []\n", &[]);
    let base = common::serve(rig.api()).await;
    let body = r#"{"type":"service_down","source":"external","payload":{"service":"database","timestamp":"2025-08-18T12:34:56Z"}}"#;
    let (status, answer) = post(&base, "/publish_event", body, None).await;
    assert_eq!(status, 200);
    let trace = answer["trace_id"].as_str().unwrap().to_string();
    assert_eq!(
        answer,
        json!({"status": "incident_opened", "incident_id": "1", "message": "Incident logged and under analysis.", "trace_id": trace})
    );
    rig.detected("database", "service_down").await;
    let line = serde_json::to_value(rig.seen_kind("incident_detected")[0]).unwrap();
    assert_eq!(line["started_at"], "2025-08-18T12:34:56.000Z");
    assert_eq!(line["reported_by"], "external");
    assert_eq!(line["signature"], "service_down");

    let bad = body.replace("2025-08-18T12:34:56Z", "yesterday");
    let (status, error) = post(&base, "/publish_event", &bad, None).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["error"],
        "`payload.timestamp` must be RFC 3339, e.g. 2025-08-18T12:34:56Z"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_incident_on_a_probed_target_outlives_a_healthy_probe() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "targets:\n  - name: web\n    tcp: {{ address: '{addr}' }}\n    interval: 100ms\n    failure_threshold: 1\n    success_threshold: 1\n"
    );
    let mut rig = rig(dir, &config, &[]);
    let base = common::serve(rig.api()).await;
    let body = r#"{"service":"web","error":"checkout errors","severity":"medium"}"#;
    let (status, answer) = post(&base, "/api/incidents", body, None).await;
    assert_eq!(status, 202);
    assert_eq!(answer["incident_id"], 1);
    let analyzed = rig
        .wait_for(WAIT, "the analysis", |k| {
            matches!(k, EventKind::IncidentAnalyzed { .. })
        })
        .await;
    let line = serde_json::to_value(&analyzed).unwrap();
    assert_eq!(line["decision"], "monitor", "medium, no playbook: watched");

    // The port answers all along: healthy probes come, the report stands.
    rig.wait_for(WAIT, "a recovery of the probe", |k| {
        matches!(k, EventKind::ProbeRecovered { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rig.seen_kind("incident_resolved").is_empty(),
        "{}",
        rig.transcript()
    );

    let resolved = body.replace("}", r#","status":"resolved"}"#);
    let (status, _) = post(&base, "/api/incidents", &resolved, None).await;
    assert_eq!(status, 202);
    rig.resolved(IncidentId(1)).await;
    let (state, _, _dir) = rig.stop().await;
    assert!(
        state.ttr_ms.is_empty(),
        "nothing was fixed: no time to resolve"
    );
    drop(listener);
}

/// The older incident service's three scenarios, end to end against the
/// `serve` binary with only the config and playbooks a user would write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_scenarios_of_the_incident_service_run_against_serve() {
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("playbooks");
    std::fs::create_dir_all(&books).unwrap();
    // auth: any failure is restarted, but auth reports come in as critical.
    std::fs::write(
        books.join("auth.yaml"),
        "name: restart-auth\nmatch: { targets: [auth], signature: '*' }\nseverity: high\nconfidence: 0.99\nsteps:\n  - name: restart\n    exec: { argv: ['true'] }\n",
    )
    .unwrap();
    // A pool flush that keeps failing: tried three times, then a human.
    std::fs::write(
        books.join("pool.yaml"),
        "name: flush-pool\nmatch:\n  signature: POOL_EXHAUSTED\n  text: [connection pool]\nseverity: high\nconfidence: 0.95\nretries: 2\nsteps:\n  - name: flush\n    exec: { argv: ['false'] }\n",
    )
    .unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "playbooks: ['{}']\npolicy: {{ backoff_max: 1s }}\ntargets: []\n",
            books.display()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let _daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--for",
            "60s",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--journal")
        .arg(dir.path().join("journal.jsonl"))
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "serve never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut ids = Vec::new();
    for body in [
        r#"{"service":"auth","error":"token service unavailable","severity":"critical"}"#,
        r#"{"service":"api-gateway","error":"connection pool exhausted","severity":"high"}"#,
        r#"{"service":"cache","error":"cache miss rate high","severity":"medium"}"#,
    ] {
        let (status, answer) = post(&base, "/incident", body, None).await;
        assert_eq!(
            (status, &answer["message"]),
            (200, &json!("Incident received"))
        );
        ids.push(answer["incidentId"].as_u64().unwrap());
    }
    // Each incident as the API tells it, once it has settled.
    let settled = |want: &'static str, id: u64| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
            loop {
                let got: Value = http
                    .get(format!("{base}/api/incidents/{id}"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if got["status"] == want || tokio::time::Instant::now() > deadline {
                    return got;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let auth = settled("awaiting_approval", ids[0]).await;
    assert_eq!(auth["status"], "awaiting_approval", "{auth}");
    assert_eq!(auth["severity"], "critical");
    assert!(
        auth["attempts"].as_array().unwrap().is_empty(),
        "held: {auth}"
    );

    let gateway = settled("escalated", ids[1]).await;
    assert_eq!(gateway["status"], "escalated", "{gateway}");
    assert_eq!(gateway["signature"], "POOL_EXHAUSTED");
    assert_eq!(gateway["text"], "connection pool exhausted");
    let attempts: Vec<u64> = gateway["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3], "{gateway}");

    let cache = settled("monitoring", ids[2]).await;
    assert_eq!(cache["status"], "monitoring", "{cache}");
    assert_eq!(cache["decision"], "monitor");
}
