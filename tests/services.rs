//! Services registered at run time (`/api/services`) and reports about services
//! no target names, against a real engine behind the real router, with real
//! loopback servers as the registered service's health and webhook endpoints.

mod common;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

use autoheal::engine::{Engine, MAX_REGISTERED, Sample, Settings};
use autoheal::event::{Event, EventKind, Registration, Severity, TargetSource};
use autoheal::playbook::Playbooks;
use common::Rig;

const WAIT: Duration = Duration::from_secs(5);

/// One config target; registered ones are probed every 100 ms (the defaults apply to them).
const CONFIG: &str = "defaults: { interval: 100ms, timeout: 1s, failure_threshold: 1 }\ntargets:\n  - name: orders-db\n    passive: {}\n";

/// The request earlier incident services took, byte for byte.
const PAYMENT_API: &str = r#"{"service_id":"payment-api","name":"Payment API","health_url":"http://localhost:6000/health","webhook_url":"http://localhost:6000/webhook","tags":["critical"],"metadata":{}}"#;

/// A running engine with its probe samples, and its API.
struct Setup {
    rig: Rig,
    samples: broadcast::Receiver<Sample>,
    base: String,
}

/// An engine over `config` with only `playbooks`, journaling in `dir`, served on loopback.
async fn start(dir: tempfile::TempDir, config: &str, playbooks: &[&str]) -> Setup {
    let books = dir.path().join("playbooks");
    std::fs::create_dir_all(&books).unwrap();
    for (i, book) in playbooks.iter().enumerate() {
        std::fs::write(books.join(format!("{i}.yaml")), book).unwrap();
    }
    let settings = Settings {
        playbooks: Playbooks::load(Some(&books), &[]).unwrap(),
        ..common::settings(dir.path(), config)
    };
    let engine = Engine::new(settings).unwrap();
    let samples = engine.samples();
    // Registered services' webhooks, as `serve` runs them.
    tokio::spawn(autoheal::notify::run(
        Vec::new(),
        engine.subscribe(),
        engine.view(),
        engine.commands(),
    ));
    let rig = Rig::spawn(engine, dir);
    let base = common::serve(rig.api()).await;
    Setup { rig, samples, base }
}

/// A service's health endpoint: answers `status`, counting the probes.
struct Health {
    url: String,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
}

async fn health_server() -> Health {
    let (status, hits) = (Arc::new(AtomicU16::new(200)), Arc::new(AtomicUsize::new(0)));
    let state = (status.clone(), hits.clone());
    let app = Router::new()
        .route(
            "/health",
            get(
                |State((status, hits)): State<(Arc<AtomicU16>, Arc<AtomicUsize>)>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let code = StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap();
                    (code, "ok")
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Health { url, status, hits }
}

/// A webhook receiver: every body it is sent, as JSON.
async fn webhook_server() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/webhook",
        post(move |body: axum::body::Bytes| async move {
            let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn send(base: &str, path: &str, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn delete(base: &str, service: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .delete(format!("{base}/api/services/{service}"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn services(base: &str) -> Vec<Value> {
    let body: Value = reqwest::get(format!("{base}/api/services"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["services"].as_array().unwrap().clone()
}

fn listed<'a>(services: &'a [Value], id: &str) -> Option<&'a Value> {
    services.iter().find(|s| s["service_id"] == id)
}

/// Waits for a probe sample of `target` that says `healthy`.
async fn sample(samples: &mut broadcast::Receiver<Sample>, target: &str, healthy: bool) {
    let wanted = async {
        loop {
            match samples.recv().await {
                Ok(s) if s.target == target && s.healthy == healthy => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("samples: {e}"),
            }
        }
    };
    tokio::time::timeout(WAIT, wanted)
        .await
        .unwrap_or_else(|_| panic!("no sample of {target} healthy={healthy}"));
}

fn registration(body: &str, health: &str, webhook: &str) -> String {
    body.replace("http://localhost:6000/health", health)
        .replace("http://localhost:6000/webhook", webhook)
}

fn journal_lines(rig: &Rig) -> Vec<Event> {
    let mut events = Vec::new();
    autoheal::journal::replay(&rig.journal, |e| events.push(e)).unwrap();
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exact_registration_is_accepted_journaled_listed_and_idempotent() {
    let mut s = start(tempfile::tempdir().unwrap(), CONFIG, &[]).await;
    let (status, answer) = send(&s.base, "/api/services/register", PAYMENT_API).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["service_id"], "payment-api", "{answer}");
    assert_eq!(answer["status"], "registered", "{answer}");
    let event = s
        .rig
        .wait_for(WAIT, "target_registered", |k| {
            matches!(k, EventKind::TargetRegistered(_))
        })
        .await;
    let EventKind::TargetRegistered(r) = event.kind else {
        unreachable!()
    };
    assert_eq!(
        r,
        Registration {
            target: "payment-api".into(),
            source: TargetSource::Api,
            health_url: Some("http://localhost:6000/health".into()),
            display_name: Some("Payment API".into()),
            critical: true,
            labels: Default::default(),
            webhook_url: Some("http://localhost:6000/webhook".into()),
            by: "api".into(),
        }
    );

    let list = services(&s.base).await;
    let payment = listed(&list, "payment-api").expect("listed");
    assert_eq!(payment["source"], "api");
    assert_eq!(payment["name"], "Payment API");
    assert_eq!(payment["critical"], true);
    assert_eq!(
        listed(&list, "orders-db"),
        Some(&json!({ "service_id": "orders-db", "source": "config" }))
    );

    // The same again changes nothing, and journals nothing.
    let (status, answer) = send(&s.base, "/api/services/register", PAYMENT_API).await;
    assert_eq!((status, &answer["status"]), (200, &json!("unchanged")));
    // Other tags become labels, metadata strings too; the rest is said to be ignored.
    let changed = r#"{"service_id":"payment-api","health_url":"http://localhost:6000/health","tags":["payments","critical"],"metadata":{"team":"pay","replicas":3,"autoheal.restart":"yes"}}"#;
    let (status, answer) = send(&s.base, "/api/services/register", changed).await;
    assert_eq!(
        (status, &answer["status"]),
        (200, &json!("updated")),
        "{answer}"
    );
    assert_eq!(
        answer["ignored_metadata"],
        json!(["autoheal.restart", "replicas"])
    );
    let list = services(&s.base).await;
    assert_eq!(
        listed(&list, "payment-api").unwrap()["labels"],
        json!({ "tag.payments": "true", "team": "pay" })
    );

    for (bad, why) in [
        (
            r#"{"service_id":"a/b","health_url":"http://127.0.0.1:1/"}"#,
            "`service_id`",
        ),
        (
            r#"{"service_id":"x","health_url":"ftp://127.0.0.1/"}"#,
            "`health_url`",
        ),
        (
            r#"{"service_id":"x","webhook_url":"nope"}"#,
            "`webhook_url`",
        ),
        (r#"{"name":"no id"}"#, "missing field `service_id`"),
    ] {
        let (status, answer) = send(&s.base, "/api/services/register", bad).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(why), "{answer}");
    }
    let (_, journal, _dir) = s.rig.stop().await;
    let text = std::fs::read_to_string(journal).unwrap();
    assert_eq!(
        text.matches(r#""kind":"target_registered""#).count(),
        2,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_service_is_probed_and_its_incident_reaches_its_webhook() {
    let mut s = start(tempfile::tempdir().unwrap(), CONFIG, &[]).await;
    let health = health_server().await;
    let (webhook, mut hooked) = webhook_server().await;

    let body = registration(PAYMENT_API, &health.url, &webhook);
    let (status, answer) = send(&s.base, "/api/services/register", &body).await;
    assert_eq!(status, 201, "{answer}");
    sample(&mut s.samples, "payment-api", true).await;
    assert!(health.hits.load(Ordering::SeqCst) >= 1);

    health.status.store(500, Ordering::SeqCst);
    let id = s.rig.detected("payment-api", "HTTP_500").await;
    let detected = s.rig.seen_kind("incident_detected");
    assert!(
        matches!(
            detected[0].kind,
            EventKind::IncidentDetected {
                severity: Severity::Critical,
                ..
            }
        ),
        "tag `critical` makes it critical: {:?}",
        detected[0].kind
    );

    // No playbook knows it: escalated, and the service's own webhook is told.
    let told = tokio::time::timeout(WAIT, hooked.recv())
        .await
        .expect("the webhook is called")
        .unwrap();
    assert_eq!(told["incident"]["id"], json!(id.0), "{told}");
    assert_eq!(told["incident"]["target"], "payment-api", "{told}");
    assert_eq!(told["event"]["kind"], "incident_escalated", "{told}");
    s.rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_service_survives_a_restart_on_the_same_journal() {
    let s = start(tempfile::tempdir().unwrap(), CONFIG, &[]).await;
    let health = health_server().await;
    let body = registration(PAYMENT_API, &health.url, "http://127.0.0.1:9/webhook");
    assert_eq!(send(&s.base, "/api/services/register", &body).await.0, 201);
    let (state, _, dir) = s.rig.stop().await;
    assert!(state.registered.contains_key("payment-api"));

    let mut again = start(dir, CONFIG, &[]).await;
    sample(&mut again.samples, "payment-api", true).await;
    let list = services(&again.base).await;
    assert_eq!(listed(&list, "payment-api").unwrap()["source"], "api");
    // Registering it again is no news: it is still there.
    let (status, answer) = send(&again.base, "/api/services/register", &body).await;
    assert_eq!((status, &answer["status"]), (200, &json!("unchanged")));
    let (state, ..) = again.rig.stop().await;
    assert_eq!(state.registered.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistering_stops_the_probe_and_forgets_the_name() {
    let config = format!("intake: {{ unknown_services: reject }}\n{CONFIG}");
    let mut s = start(tempfile::tempdir().unwrap(), &config, &[]).await;
    let health = health_server().await;
    let body = registration(PAYMENT_API, &health.url, "http://127.0.0.1:9/webhook");
    assert_eq!(send(&s.base, "/api/services/register", &body).await.0, 201);
    sample(&mut s.samples, "payment-api", true).await;

    let (status, answer) = delete(&s.base, "payment-api").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["service_id"], "payment-api");
    let probes = health.hits.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        health.hits.load(Ordering::SeqCst),
        probes,
        "no probe after the deregistration (five intervals)"
    );
    while let Ok(sample) = s.samples.try_recv() {
        assert_ne!(sample.target, "payment-api", "no sample after it is gone");
    }

    // Unknown again: a report is refused (reject), a command too, a second delete is 404.
    let report = r#"{"service":"payment-api","error":"DOWN","severity":"high"}"#;
    let (status, answer) = send(&s.base, "/api/incidents", report).await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("no target named payment-api"),
        "{answer}"
    );
    assert_eq!(delete(&s.base, "payment-api").await.0, 404);
    assert!(listed(&services(&s.base).await, "payment-api").is_none());
    s.rig
        .wait_for(WAIT, "target_deregistered", |k| {
            matches!(k, EventKind::TargetDeregistered { target, by } if target == "payment-api" && by == "api")
        })
        .await;
    s.rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_target_can_be_neither_replaced_nor_deleted() {
    let s = start(tempfile::tempdir().unwrap(), CONFIG, &[]).await;
    let replace = r#"{"service_id":"orders-db","health_url":"http://127.0.0.1:9/health"}"#;
    let (status, answer) = send(&s.base, "/api/services/register", replace).await;
    assert_eq!(status, 409, "{answer}");
    let why = answer["error"].as_str().unwrap();
    assert!(
        why.contains("orders-db is a target of the config file"),
        "{why}"
    );
    let (status, answer) = delete(&s.base, "orders-db").await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(delete(&s.base, "never-was").await.0, 404);
    let (state, ..) = s.rig.stop().await;
    assert!(state.registered.is_empty());
}

/// Fixes `billing`'s `HighErrorRate` by calling its control endpoint.
fn billing_playbook(control: &str) -> String {
    format!(
        "name: restart-billing\nmatch: {{ targets: [billing], signature: HighErrorRate }}\nseverity: high\nconfidence: 0.95\nsteps:\n  - name: restart\n    http: {{ url: '{control}/restart' }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_about_an_undeclared_service_opens_an_incident_that_playbooks_handle() {
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
    let book = billing_playbook(&control_url);
    let mut s = start(tempfile::tempdir().unwrap(), CONFIG, &[&book]).await;

    let report = r#"{"service":"billing","error":"HighErrorRate","severity":"high"}"#;
    let (status, answer) = send(&s.base, "/api/incidents", report).await;
    assert_eq!(status, 202, "{answer}");
    let id = s.rig.detected("billing", "HighErrorRate").await;
    s.rig
        .wait_for(WAIT, "the fix", |k| {
            matches!(k, EventKind::ActionFinished { incident_id, ok: true, .. } if *incident_id == id)
        })
        .await;
    assert_eq!(restarts.load(Ordering::SeqCst), 1);

    // Journaled as registered by intake, before the incident.
    let journal = journal_lines(&s.rig);
    let registered = journal
        .iter()
        .position(|e| matches!(&e.kind, EventKind::TargetRegistered(r) if r.target == "billing" && r.source == TargetSource::Intake && r.health_url.is_none()))
        .expect("billing registered by intake");
    let detected = journal
        .iter()
        .position(|e| matches!(e.kind, EventKind::IncidentDetected { .. }))
        .unwrap();
    assert!(registered < detected);
    let list = services(&s.base).await;
    assert_eq!(listed(&list, "billing").unwrap()["source"], "intake");

    // Alertmanager and event buses too (a resolved alert registers nothing);
    // a name that is not plain is refused.
    let alert = r#"{"alerts":[{"status":"resolved","labels":{"alertname":"Gone","service":"ghost"}},{"status":"firing","labels":{"alertname":"QueueStuck","service":"mailer"}}]}"#;
    let (status, answer) = send(&s.base, "/api/alertmanager", alert).await;
    assert_eq!((status, &answer["accepted"]), (202, &json!(2)), "{answer}");
    s.rig.detected("mailer", "QueueStuck").await;
    let published =
        r#"{"type":"service_down","source":"external","payload":{"service":"database"}}"#;
    assert_eq!(send(&s.base, "/api/events/publish", published).await.0, 202);
    s.rig.detected("database", "service_down").await;
    let bad = r#"{"service":"a/b","error":"DOWN"}"#;
    assert_eq!(send(&s.base, "/api/incidents", bad).await.0, 400);
    let (state, ..) = s.rig.stop().await;
    assert_eq!(
        state.registered.keys().collect::<Vec<_>>(),
        ["billing", "database", "mailer"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_reject_a_report_about_an_undeclared_service_is_404() {
    let config = format!("intake: {{ unknown_services: reject }}\n{CONFIG}");
    let s = start(tempfile::tempdir().unwrap(), &config, &[]).await;
    let report = r#"{"service":"billing","error":"HighErrorRate","severity":"high"}"#;
    let (status, answer) = send(&s.base, "/api/incidents", report).await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("orders-db"),
        "{answer}"
    );
    let alert = r#"{"alerts":[{"status":"firing","labels":{"alertname":"QueueStuck","service":"mailer"}}]}"#;
    let (status, answer) = send(&s.base, "/api/alertmanager", alert).await;
    assert_eq!((status, &answer["accepted"]), (202, &json!(0)), "{answer}");
    assert_eq!(answer["not_accepted"][0]["target"], "mailer", "{answer}");
    let (state, ..) = s.rig.stop().await;
    assert!(state.registered.is_empty());
    assert!(state.incidents.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_the_cap_of_services_is_registered() {
    // A journal that already holds the cap, registered by intake.
    let dir = tempfile::tempdir().unwrap();
    let ts = autoheal::engine::now_ms();
    let lines: String = (0..MAX_REGISTERED)
        .map(|i| {
            let kind = EventKind::TargetRegistered(Registration {
                target: format!("svc-{i}"),
                source: TargetSource::Intake,
                health_url: None,
                display_name: None,
                critical: false,
                labels: Default::default(),
                webhook_url: None,
                by: "intake".into(),
            });
            let seq = i as u64 + 1;
            serde_json::to_string(&Event { seq, ts, kind }).unwrap() + "\n"
        })
        .collect();
    std::fs::write(common::journal_in(dir.path()), lines).unwrap();
    let s = start(dir, CONFIG, &[]).await;
    assert_eq!(services(&s.base).await.len(), MAX_REGISTERED + 1);

    let report = r#"{"service":"one-more","error":"DOWN","severity":"high"}"#;
    let (status, answer) = send(&s.base, "/api/incidents", report).await;
    assert_eq!(status, 429, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("at most 1000 services"),
        "{answer}"
    );
    let register = r#"{"service_id":"one-more"}"#;
    assert_eq!(
        send(&s.base, "/api/services/register", register).await.0,
        429
    );
    // A known one is still reported on, and one freed place takes one more.
    let known = r#"{"service":"svc-7","error":"DOWN","severity":"high"}"#;
    assert_eq!(send(&s.base, "/api/incidents", known).await.0, 202);
    assert_eq!(delete(&s.base, "svc-1").await.0, 200);
    assert_eq!(
        send(&s.base, "/api/services/register", register).await.0,
        201
    );
    assert_eq!(send(&s.base, "/api/incidents", report).await.0, 202);
    let (state, ..) = s.rig.stop().await;
    assert_eq!(state.registered.len(), MAX_REGISTERED);
    assert!(state.incidents.values().any(|i| i.target == "svc-7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_needs_an_intake_key_and_journals_its_name() {
    use autoheal::config::{ApiKey, Role};
    let s = start(tempfile::tempdir().unwrap(), CONFIG, &[]).await;
    let key = |name: &str, role| ApiKey {
        name: name.into(),
        key: format!("{name}-secret"),
        role,
    };
    let base = common::serve(autoheal::api::Api {
        keys: vec![key("dash", Role::Read), key("ci", Role::Intake)],
        ..s.rig.api()
    })
    .await;
    let http = reqwest::Client::new();
    let register = |key: &'static str| {
        http.post(format!("{base}/api/services/register"))
            .header("content-type", "application/json")
            .header("x-api-key", key)
            .body(r#"{"service_id":"cron"}"#)
            .send()
    };
    assert_eq!(register("dash-secret").await.unwrap().status(), 403);
    assert_eq!(register("ci-secret").await.unwrap().status(), 201);
    let list = http
        .get(format!("{base}/api/services"))
        .header("x-api-key", "dash-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let delete = |key: &'static str| {
        http.delete(format!("{base}/api/services/cron"))
            .header("x-api-key", key)
            .send()
    };
    assert_eq!(delete("dash-secret").await.unwrap().status(), 403);
    assert_eq!(delete("ci-secret").await.unwrap().status(), 200);
    let (state, journal, _dir) = s.rig.stop().await;
    assert!(state.registered.is_empty());
    let text = std::fs::read_to_string(journal).unwrap();
    assert!(
        text.contains(r#""kind":"target_registered","target":"cron","source":"api","by":"key ci""#),
        "{text}"
    );
    assert!(
        text.contains(r#""kind":"target_deregistered","target":"cron","by":"key ci""#),
        "{text}"
    );
}
