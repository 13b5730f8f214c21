//! What crosses the wire to an attached console besides events, over real
//! sockets against the demo fleet: probe samples, the daemon host's gauges,
//! presence, the link's state, and the daemon's refusals.

mod common;

use std::time::Duration;
use tokio::sync::watch;

use autoheal::api::Api;
use autoheal::api::telemetry::Hub;
use autoheal::config::ApiKey;
use autoheal::engine::Engine;
use autoheal::event::Command;
use autoheal::remote::{self, Cause, LinkState, LinkStatus};

const TOKEN: &str = "s3cret";

/// The demo fleet's daemon with telemetry, behind a token.
async fn serve() -> (common::Run, String) {
    let fleet = common::Fleet::start().await;
    let engine = Engine::new(fleet.settings()).unwrap();
    let telemetry = Hub::spawn(engine.samples());
    let run = fleet.watched_by(engine);
    let base = common::serve(Api {
        keys: vec![ApiKey::token(TOKEN)],
        telemetry: Some(telemetry),
        ..run.api()
    })
    .await;
    (run, base)
}

/// Waits until the link's status satisfies `pred`; returns it.
async fn status_until(
    status: &mut watch::Receiver<LinkStatus>,
    what: &str,
    pred: impl Fn(&LinkStatus) -> bool,
) -> LinkStatus {
    let found = tokio::time::timeout(Duration::from_secs(5), status.wait_for(|s| pred(s)))
        .await
        .map(|s| s.map(|s| s.clone()));
    match found {
        Ok(Ok(s)) => s,
        _ => panic!("{what}: the link says {:?}", *status.borrow()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_console_gets_samples_gauges_presence_and_refusals() {
    let (_run, base) = serve().await;
    let mut link = remote::connect(&base, Some(TOKEN.into()), "alice@local");
    status_until(&mut link.feeds.status, "connected", |s| {
        matches!(s.state, LinkState::Connected { .. })
    })
    .await;

    // The daemon's probe samples arrive, for the sparklines.
    let sample = tokio::time::timeout(Duration::from_secs(5), link.samples.recv())
        .await
        .expect("a sample within 5 s")
        .expect("the samples channel is open");
    assert!(
        ["payments-api", "orders-db", "edge-proxy", "localhost"].contains(&sample.target.as_str()),
        "{sample:?}"
    );

    // Bob attaches (as a plain client would): Alice sees him, and so does /api/presence.
    let http = reqwest::Client::new();
    let bob = http
        .get(format!("{base}/api/telemetry?who=bob@ssh:10.0.0.9"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bob.status(), 200);
    assert_eq!(bob.headers()["content-type"], "application/x-ndjson");
    status_until(&mut link.feeds.status, "bob in presence", |s| {
        s.others == ["bob@ssh:10.0.0.9"]
    })
    .await;
    let here: serde_json::Value = http
        .get(format!("{base}/api/presence"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        here,
        serde_json::json!({"here": ["alice@local", "bob@ssh:10.0.0.9"]})
    );
    // Bob leaves: Alice is alone again.
    drop(bob);
    status_until(&mut link.feeds.status, "bob gone", |s| s.others.is_empty()).await;

    // A command the daemon refuses comes back with its status and reason.
    link.commands
        .send(Command::InjectChaos {
            target: "no-such-target".into(),
            fault: "CRASH".into(),
        })
        .await
        .unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(5), link.feeds.notices.recv())
        .await
        .expect("a notice within 5 s")
        .unwrap();
    assert!(
        notice.starts_with("daemon refused inject chaos no-such-target: 404 no target named"),
        "{notice}"
    );

    // The daemon's host gauges, sampled by the daemon every 3 s.
    let (cpu, memory) = tokio::time::timeout(Duration::from_secs(5), link.feeds.host.recv())
        .await
        .expect("host gauges within 5 s")
        .unwrap();
    assert!(cpu.is_some() || memory.is_some(), "{cpu:?} {memory:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_said_not_retried_silently() {
    let (_run, base) = serve().await;
    let mut link = remote::connect(&base, Some("wrong".into()), "alice@local");
    let status = status_until(&mut link.feeds.status, "refused", |s| {
        matches!(s.state, LinkState::Down { .. })
    })
    .await;
    assert!(
        matches!(
            status.state,
            LinkState::Down {
                cause: Cause::TokenRefused(401),
                ..
            }
        ),
        "{status:?}"
    );
    assert_eq!(
        status.refusal().as_deref(),
        Some("not sent: the daemon refused the token")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_telemetry_stream_checks_the_token_and_the_identity() {
    let (_run, base) = serve().await;
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get("/api/telemetry", None).await.unwrap().status(), 401);
    assert_eq!(get("/api/presence", None).await.unwrap().status(), 401);
    for who in ["bob%20smith", "x%1b%5b31m", &"a".repeat(65)] {
        let r = get(&format!("/api/telemetry?who={who}"), Some(TOKEN))
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{who}");
    }
    // No identity: a script may read telemetry without being listed.
    let mut r = get("/api/telemetry", Some(TOKEN)).await.unwrap();
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"{\"kind\":\"presence\",\"here\":[]}\n");
}

/// Nothing listens: the link says so at once, and keys are refused.
#[tokio::test]
async fn nothing_listening_is_unreachable_not_an_empty_fleet() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut link = remote::connect(&format!("http://127.0.0.1:{port}"), None, "alice@local");
    let status = status_until(&mut link.feeds.status, "down", |s| {
        matches!(s.state, LinkState::Down { .. })
    })
    .await;
    assert!(
        matches!(
            status.state,
            LinkState::Down {
                cause: Cause::Unreachable,
                ..
            }
        ),
        "{status:?}"
    );
    assert_eq!(
        status.refusal().as_deref(),
        Some("not sent: daemon unreachable")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_names_the_named_key_behind_each_console() {
    let fleet = common::Fleet::start().await;
    let engine = Engine::new(fleet.settings()).unwrap();
    let telemetry = Hub::spawn(engine.samples());
    let run = fleet.watched_by(engine);
    let carol = ApiKey {
        name: "oncall".into(),
        key: "oncall-key-0123456789".into(),
        role: autoheal::config::Role::Read,
    };
    let base = common::serve(Api {
        keys: vec![ApiKey::token(TOKEN), carol],
        telemetry: Some(telemetry),
        ..run.api()
    })
    .await;
    let http = reqwest::Client::new();
    let attach = |who: &str, key: &str| {
        http.get(format!("{base}/api/telemetry?who={who}"))
            .header("x-api-key", key)
            .send()
    };
    let _carol = attach("carol@local", "oncall-key-0123456789")
        .await
        .unwrap();
    let _dave = attach("dave@local", TOKEN).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let here = loop {
        let here: serde_json::Value = http
            .get(format!("{base}/api/presence"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if here["here"].as_array().is_some_and(|h| h.len() == 2)
            || tokio::time::Instant::now() > deadline
        {
            break here;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The shared token says nothing about who holds it, so it adds nothing.
    assert_eq!(
        here["here"],
        serde_json::json!(["carol@local (key oncall)", "dave@local"])
    );
    run.stop().await;
}
