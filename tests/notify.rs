//! Webhook notifications over real loopback sockets: the demo fleet heals, the
//! hooks hear about it, and a hook that keeps failing becomes an event.

mod common;

use std::time::Duration;

use autoheal::config::{NotifyConfig, NotifyEvent, NotifyFormat};
use autoheal::event::EventKind;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

/// One request as a hook received it.
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// A loopback webhook that answers every POST to `/hook` with `status`.
async fn receiver(status: StatusCode) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Received { headers, body });
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

fn hook(url: &str, format: NotifyFormat, secret: Option<&str>) -> NotifyConfig {
    NotifyConfig {
        url: url.to_string(),
        format,
        secret: secret.map(str::to_string),
        events: NotifyEvent::all(),
    }
}

/// The demo engine with `notify::run` following its stream.
async fn demo_with(hooks: Vec<NotifyConfig>) -> common::Run {
    let run = common::demo(|_, _| {}).await;
    tokio::spawn(autoheal::notify::run(
        hooks,
        run.handle.subscribe(),
        run.handle.view(),
        run.handle.commands(),
    ));
    run
}

/// Waits for the first body of `kind` a hook receives.
async fn first_of(rx: &mut mpsc::UnboundedReceiver<Received>, kind: &str) -> Received {
    let wait = async {
        loop {
            let got = rx.recv().await.expect("receiver open");
            let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
            if body["event"]["kind"] == kind {
                return got;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {kind} notification"))
}

/// What a receiver computes to check a request: the HMAC of `timestamp.body`.
fn hmac_hex(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_incident_reaches_json_and_slack_hooks_signed() {
    let (json_url, mut json_rx) = receiver(StatusCode::OK).await;
    let (slack_url, mut slack_rx) = receiver(StatusCode::OK).await;
    let mut run = demo_with(vec![
        hook(&json_url, NotifyFormat::Json, Some("s3cret")),
        hook(&slack_url, NotifyFormat::Slack, None),
    ])
    .await;
    run.inject("orders-db", "DB_TIMEOUT").await;
    let id = run.detected("orders-db", "DB_TIMEOUT").await;
    run.resolved(id).await;

    let got = first_of(&mut json_rx, "incident_resolved").await;
    assert_eq!(got.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["event"]["incident_id"], id.0);
    assert_eq!(body["incident"]["id"], id.0);
    assert_eq!(body["incident"]["target"], "orders-db");
    assert_eq!(body["incident"]["signature"], "DB_TIMEOUT");
    assert_eq!(body["incident"]["status"], "resolved");
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("RESOLVED orders-db: "), "{text}");
    let sent_at = got.headers["x-autoheal-timestamp"].to_str().unwrap();
    let age = jiff::Timestamp::now().as_second() - sent_at.parse::<i64>().unwrap();
    assert!((0..30).contains(&age), "sent {age} s ago");
    assert_eq!(
        got.headers["x-autoheal-signature"],
        format!("sha256={}", hmac_hex("s3cret", sent_at, &got.body)).as_str()
    );

    let slack = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let got = slack_rx.recv().await.unwrap();
            let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
            let text = body["text"].as_str().unwrap().to_string();
            if text.contains("RESOLVED") {
                return (got, body);
            }
        }
    })
    .await
    .expect("slack hook hears of the resolution");
    assert_eq!(slack.1.as_object().unwrap().len(), 1, "{}", slack.1);
    assert!(slack.1["text"].as_str().unwrap().contains("orders-db"));
    assert!(slack.0.headers.get("x-autoheal-signature").is_none());
    assert!(slack.0.headers.get("x-autoheal-timestamp").is_none());
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_is_retried_then_journaled_without_its_secret() {
    let (good_url, mut good_rx) = receiver(StatusCode::OK).await;
    let (bad_url, mut bad_rx) = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    let mut bad = hook(&bad_url, NotifyFormat::Json, Some("hunter2"));
    bad.events = vec![NotifyEvent::Resolved];
    let mut run = demo_with(vec![hook(&good_url, NotifyFormat::Json, None), bad]).await;
    run.inject("orders-db", "DB_TIMEOUT").await;
    let id = run.detected("orders-db", "DB_TIMEOUT").await;
    run.resolved(id).await;

    let failed = run
        .wait_for(Duration::from_secs(15), "notification_failed", |k| {
            matches!(k, EventKind::NotificationFailed { .. })
        })
        .await;
    let EventKind::NotificationFailed {
        url,
        incident_id,
        error,
    } = &failed.kind
    else {
        unreachable!()
    };
    let port = bad_url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    assert_eq!(url, &format!("http://127.0.0.1:{port}/…"));
    assert_eq!(*incident_id, Some(id));
    assert!(error.contains("500"), "{error}");

    let mut attempts = 0;
    while bad_rx.try_recv().is_ok() {
        attempts += 1;
    }
    assert_eq!(attempts, 3, "one try and two retries");
    first_of(&mut good_rx, "incident_resolved").await;

    let (state, journal, _dir) = run.stop().await;
    assert_eq!(state.counts.notifications_failed, 1);
    let journal = std::fs::read_to_string(journal).unwrap();
    assert!(journal.contains("\"kind\":\"notification_failed\""));
    assert!(
        !journal.contains("hunter2"),
        "the secret stays out of the journal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_pages_once_for_its_root_not_once_per_dependent() {
    let (url, mut rx) = receiver(StatusCode::OK).await;
    let mut run = demo_with(vec![hook(&url, NotifyFormat::Json, None)]).await;
    // Paused until both dependents are symptoms of the crashed database.
    run.send(autoheal::event::Command::Pause { by: "test".into() })
        .await;
    run.break_directly("orders-db", "CRASH").await;
    let mut symptoms = Vec::new();
    while symptoms.len() < 2 {
        let e = run
            .wait_for(Duration::from_secs(5), "two symptoms", |k| {
                matches!(k, EventKind::IncidentLinked { .. })
            })
            .await;
        symptoms.push(e.kind.incident_id().unwrap());
    }
    run.send(autoheal::event::Command::Resume { by: "test".into() })
        .await;
    while !symptoms.is_empty() {
        let e = run
            .wait_for(Duration::from_secs(8), "the symptoms resolved", |k| {
                matches!(k, EventKind::IncidentResolved { .. })
            })
            .await;
        symptoms.retain(|id| Some(*id) != e.kind.incident_id());
    }
    let root = first_of(&mut rx, "incident_resolved").await;
    let body: serde_json::Value = serde_json::from_slice(&root.body).unwrap();
    assert_eq!(body["incident"]["target"], "orders-db", "{body}");
    assert_eq!(
        body["incident"]["symptoms"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    // Nothing more arrives: the symptoms' resolutions are the root's.
    let more = tokio::time::timeout(Duration::from_millis(700), rx.recv()).await;
    let more = more
        .ok()
        .flatten()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned());
    assert_eq!(more, None);
    run.stop().await;
}
