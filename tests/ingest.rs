//! Incidents reported by other tools (Alertmanager, intake) through the API,
//! on a target autoheal does not probe, fixed by a real HTTP action.

mod common;

use axum::Router;
use axum::routing::post;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use autoheal::event::{EventKind, Severity};
use common::{Rig, rig};

/// How long a step of a remediation may take to show on the event stream.
const WAIT: Duration = Duration::from_secs(5);

const PLAYBOOK: &str = "name: restart-checkout\nmatch: { targets: [checkout], kind: ingest, signature: HighErrorRate }\nseverity: high\nconfidence: 0.95\nsteps:\n  - name: restart\n    http: { url: '{{control}}/restart' }\n";

struct Setup {
    base: String,
    restarts: Arc<AtomicUsize>,
    rig: Rig,
}

async fn setup() -> Setup {
    // The service's control endpoint: counts restarts.
    let restarts = Arc::new(AtomicUsize::new(0));
    let counter = restarts.clone();
    let control = Router::new().route(
        "/restart",
        post(move || async move {
            counter.fetch_add(1, Ordering::SeqCst);
            "restarted"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, control).await });

    // Reports about other services are refused, as they were before
    // `intake.unknown_services` (tests/services.rs has them accepted).
    let config = format!(
        "intake: {{ unknown_services: reject }}\ntargets:\n  - name: checkout\n    passive: {{}}\n    vars: {{ control: '{control_url}' }}\n"
    );
    let rig = rig(tempfile::tempdir().unwrap(), &config, &[PLAYBOOK]);
    let base = common::serve(rig.api()).await;
    Setup {
        base,
        restarts,
        rig,
    }
}

fn webhook(status: &str) -> String {
    // As Alertmanager sends it, with a null `annotations` and fields we ignore.
    format!(
        r#"{{"version":"4","groupKey":"{{}}:{{}}","status":"{status}","receiver":"autoheal","alerts":[
          {{"status":"{status}","labels":{{"alertname":"HighErrorRate","service":"checkout","severity":"warning"}},
            "annotations":null,"startsAt":"2026-11-23T10:00:00Z","fingerprint":"c0ffee"}},
          {{"status":"{status}","labels":{{"alertname":"DiskAlmostFull","instance":"db-7"}},"fingerprint":"d00d"}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_firing_twice_opens_one_incident_and_resolved_closes_it() {
    let mut s = setup().await;
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(format!("{}/api/alertmanager", s.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let first = post(webhook("firing")).await.unwrap();
    assert_eq!(first.status(), 202);
    let answer: serde_json::Value = first.json().await.unwrap();
    assert_eq!(answer["accepted"], 1);
    assert_eq!(answer["not_accepted"][0]["target"], "db-7", "{answer}");
    s.rig
        .wait_for(WAIT, "the fix", |k| {
            matches!(k, EventKind::ActionFinished { ok: true, .. })
        })
        .await;
    let detected = s.rig.seen_kind("incident_detected");
    assert_eq!(detected.len(), 1);
    assert!(
        matches!(
            &detected[0].kind,
            EventKind::IncidentDetected {
                severity: Severity::Medium,
                ..
            }
        ),
        "the alert's `severity: warning` is kept: {:?}",
        detected[0].kind
    );

    // Alertmanager retries and repeats: nothing new happens.
    post(webhook("firing")).await.unwrap();
    post(webhook("firing")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.restarts.load(Ordering::SeqCst),
        1,
        "one restart, whatever the repeats"
    );

    post(webhook("resolved")).await.unwrap();
    s.rig
        .wait_for(WAIT, "resolution", |k| {
            matches!(k, EventKind::IncidentResolved { .. })
        })
        .await;
    assert!(s.rig.seen.iter().any(|e| matches!(&e.kind, EventKind::StepFinished { ok: true, detail, .. } if detail == "alertmanager reports it resolved")));
    post(webhook("resolved")).await.unwrap();

    let (state, ..) = s.rig.stop().await;
    assert_eq!(state.incidents.len(), 1);
    assert_eq!(state.counts.resolved, 1);
    assert_eq!(state.learning.values().map(|r| r.successes).sum::<u32>(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_reports_open_and_close_incidents_and_bad_ones_are_refused() {
    let mut s = setup().await;
    let http = reqwest::Client::new();
    let post = |body: &'static str| {
        http.post(format!("{}/api/incidents", s.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let unknown = post(r#"{"service":"billing","error":"HighErrorRate"}"#)
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let bad = post(r#"{"service":"checkout","error":"HighErrorRate","severity":"apocalyptic"}"#)
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let missing = post(r#"{"service":"checkout"}"#).await.unwrap();
    assert_eq!(missing.status(), 400);
    let text = missing.text().await.unwrap();
    assert!(text.contains("missing field `error`"), "{text}");

    let open = post(r#"{"service":"checkout","error":"HighErrorRate","severity":"high"}"#)
        .await
        .unwrap();
    assert_eq!(open.status(), 202);
    s.rig
        .wait_for(WAIT, "the fix", |k| {
            matches!(k, EventKind::ActionFinished { ok: true, .. })
        })
        .await;
    post(r#"{"service":"checkout","error":"HighErrorRate","status":"resolved"}"#)
        .await
        .unwrap();
    s.rig
        .wait_for(WAIT, "resolution", |k| {
            matches!(k, EventKind::IncidentResolved { .. })
        })
        .await;
    assert_eq!(s.restarts.load(Ordering::SeqCst), 1);
    s.rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_bus_publish_opens_and_closes_an_incident() {
    let mut s = setup().await;
    let http = reqwest::Client::new();
    let publish = |status: &str| {
        let body = format!(
            r#"{{"type":"HighErrorRate","source":"bus","payload":{{"service":"checkout","status":"{status}"}}}}"#
        );
        http.post(format!("{}/api/events/publish", s.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(publish("firing").await.unwrap().status(), 202);
    s.rig
        .wait_for(WAIT, "the fix", |k| {
            matches!(k, EventKind::ActionFinished { ok: true, .. })
        })
        .await;
    assert!(s.rig.seen.iter().any(
        |e| matches!(&e.kind, EventKind::ProbeFailed { detail, .. } if detail.starts_with("bus: "))
    ));
    publish("resolved").await.unwrap();
    s.rig
        .wait_for(WAIT, "resolution", |k| {
            matches!(k, EventKind::IncidentResolved { .. })
        })
        .await;
    let nameless = http
        .post(format!("{}/api/events/publish", s.base))
        .header("content-type", "application/json")
        .body(r#"{"type":"HighErrorRate","payload":{}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(nameless.status(), 400);
    s.rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_shows_its_whole_remediation_on_the_event_stream() {
    let s = setup().await;
    let http = reqwest::Client::new();
    let report = r#"{"service":"checkout","error":"HighErrorRate"}"#;
    let sent = http
        .post(format!("{}/api/incidents", s.base))
        .header("content-type", "application/json")
        .body(report)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);

    // Over HTTP, as a remote console or script sees it: report -> incident -> playbook -> action.
    let mut stream = http
        .get(format!("{}/api/events?since=0", s.base))
        .send()
        .await
        .unwrap();
    let (mut text, mut kinds) = (String::new(), Vec::new());
    let done = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find('\n') {
                let line: serde_json::Value = serde_json::from_str(&text[..end]).unwrap();
                text.drain(..=end);
                kinds.push(line["kind"].as_str().unwrap().to_string());
                if line["kind"] == "action_finished" {
                    assert_eq!(line["ok"], true, "{line}");
                    return;
                }
            }
        }
    })
    .await;
    assert!(done.is_ok(), "{kinds:?}");
    let expected = [
        "incident_detected",
        "incident_analyzed",
        "action_started",
        "action_finished",
    ];
    let order: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|k| expected.contains(k))
        .collect();
    assert_eq!(order, expected);
    assert_eq!(s.restarts.load(Ordering::SeqCst), 1);
    s.rig.stop().await;
}

/// A webhook as Alertmanager sends a big group: `alerts` alerts of one
/// `alertname`, each on its own instance, with every field Alertmanager fills in.
fn grouped_webhook(alerts: usize, status_of: impl Fn(usize) -> &'static str) -> String {
    let alerts: Vec<serde_json::Value> = (0..alerts)
        .map(|i| {
            serde_json::json!({
                "status": status_of(i),
                "labels": {
                    "alertname": "HighErrorRate",
                    "service": "checkout",
                    "instance": format!("10.0.{}.{}:9100", i / 256, i % 256),
                    "job": "checkout",
                    "severity": "warning",
                },
                "annotations": {
                    "summary": "checkout 5xx rate above 5%",
                    "description": format!("pod checkout-{i} answers 5xx to 7.5% of requests"),
                },
                "startsAt": "2026-11-23T10:00:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": format!("http://prometheus:9090/graph?g0.expr=rate%28http_errors%7Binstance%3D%2210.0.{}.{}%22%7D%5B5m%5D%29&g0.tab=1", i / 256, i % 256),
                "fingerprint": format!("{:016x}", 0xc0ffee_u64.wrapping_mul(i as u64 + 1)),
            })
        })
        .collect();
    serde_json::json!({
        "version": "4",
        "groupKey": "{}/{severity=~\"warning|critical\"}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "autoheal",
        "groupLabels": { "alertname": "HighErrorRate" },
        "commonLabels": { "alertname": "HighErrorRate", "service": "checkout", "job": "checkout", "severity": "warning" },
        "commonAnnotations": { "summary": "checkout 5xx rate above 5%" },
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_grouped_alerts_are_taken_in_one_post() {
    let mut s = setup().await;
    let body = grouped_webhook(1000, |_| "firing");
    assert!(body.len() > 150_000, "real-sized: {} bytes", body.len());
    let answer = reqwest::Client::new()
        .post(format!("{}/api/alertmanager", s.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let answer: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(answer["accepted"], 1000, "{answer}");
    s.rig
        .wait_for(WAIT, "the fix", |k| {
            matches!(k, EventKind::ActionFinished { ok: true, .. })
        })
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (state, ..) = s.rig.stop().await;
    assert_eq!(state.incidents.len(), 1, "one group, one incident");
    assert_eq!(s.restarts.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_alert_status_refuses_the_whole_batch() {
    let s = setup().await;
    let http = reqwest::Client::new();
    let body = grouped_webhook(3, |i| if i == 2 { "pending" } else { "firing" });
    let answer = http
        .post(format!("{}/api/alertmanager", s.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let error: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        error["error"],
        "alerts[2]: status `pending` must be firing or resolved"
    );
    // Other endpoints keep their small cap; Alertmanager's is a few MiB.
    let big = "x".repeat(2 * autoheal::api::BODY_LIMIT);
    let intake = http
        .post(format!("{}/api/incidents", s.base))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"service":"checkout","error":"E","detail":"{big}"}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(intake.status(), 413);
    let too_big = http
        .post(format!("{}/api/alertmanager", s.base))
        .header("content-type", "application/json")
        .body("x".repeat(autoheal::api::ALERTMANAGER_BODY_LIMIT + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (state, ..) = s.rig.stop().await;
    assert!(
        state.incidents.is_empty(),
        "nothing of the refused batch reached the engine"
    );
    assert_eq!(s.restarts.load(Ordering::SeqCst), 0);
}
