//! The read routes and chaos trigger the older incident services' clients
//! use, over a real socket on the demo fleet: `/status`, `/api/incidents`,
//! `/api/incidents/{id}`, `/api/metrics`, `/chaos/trigger`.

mod common;

use serde_json::Value;
use std::time::Duration;

use autoheal::api::Api;
use autoheal::engine::Engine;
use autoheal::metrics;

/// The demo engine with its API, its fold (metrics) and the chaos offers of
/// the fleet's non-critical targets (as `serve` passes them).
async fn serve() -> (common::Run, String) {
    let fleet = common::Fleet::start().await;
    let settings = fleet.settings();
    let chaos = settings
        .targets
        .iter()
        .filter(|t| !t.critical)
        .filter_map(|t| Some((t.name.clone(), t.chaos.as_ref()?.faults.clone())))
        .collect();
    let engine = Engine::new(settings).unwrap();
    let metrics = metrics::spawn(engine.view(), engine.samples());
    let run = fleet.watched_by(engine);
    let base = common::serve(Api {
        metrics: Some(metrics),
        chaos,
        ..run.api()
    })
    .await;
    (run, base)
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_from_the_trigger_heals_and_every_read_route_tells_it() {
    let (run, base) = serve().await;
    let (status, triggered) = get(&base, "/chaos/trigger?type=db").await;
    assert_eq!(status, 202, "{triggered}");
    assert_eq!(triggered["status"], "chaos_injected");
    assert_eq!(triggered["fault"], "DB_TIMEOUT");
    let target = triggered["target"].as_str().unwrap().to_string();

    let path = format!("/api/incidents?status=resolved&target={target}&limit=1");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let (status, body) = get(&base, &path).await;
        assert_eq!(status, 200, "{body}");
        if body["incidents"].as_array().is_some_and(|l| !l.is_empty()) {
            break body["incidents"][0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "never resolved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(listed["signature"], "DB_TIMEOUT");
    assert_eq!(listed["status"], "resolved");
    assert!(
        listed.get("timeline").is_none(),
        "a list carries no timelines"
    );

    let id = listed["id"].as_u64().unwrap();
    let (status, one) = get(&base, &format!("/api/incidents/{id}")).await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = one["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"incident_detected"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"incident_resolved"), "{kinds:?}");

    let (status, engine) = get(&base, "/status").await;
    assert_eq!(status, 200);
    assert_eq!(engine["status"], "running");
    assert_eq!(engine["incidents"]["resolved"], 1);
    assert_eq!(engine["targets"]["failing"], 0);

    let (_, figures) = get(&base, "/api/metrics").await;
    assert_eq!(figures["remediation_success_rate"], 1.0);
    assert!(figures["time_to_resolve_ms"]["p50"].as_u64().unwrap() > 0);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_routes_refuse_what_they_cannot_answer() {
    let (run, base) = serve().await;
    for (path, status, error) in [
        (
            "/chaos/trigger?type=fire",
            400,
            "`type` must be db, memory or network",
        ),
        (
            "/api/incidents?status=bogus",
            400,
            "unknown status `bogus`: use open or a status such as awaiting_approval, escalated, resolved",
        ),
        ("/api/incidents/999", 404, "no incident 999"),
        ("/api/incidents/abc", 400, "an incident id is a number"),
    ] {
        let (got, body) = get(&base, path).await;
        assert_eq!(
            (got, body["error"].as_str().unwrap()),
            (status, error),
            "{path}"
        );
    }
    let (_, none) = get(&base, "/api/incidents?status=open").await;
    assert_eq!(none["incidents"], serde_json::json!([]));
    run.stop().await;
}
