//! `GET /metrics` over real sockets, against the demo fleet.

mod common;

use std::time::Duration;

use autoheal::api::Api;
use autoheal::config::ApiKey;
use autoheal::engine::Engine;
use autoheal::metrics::{self, Metrics};

/// As `common::demo`, but taking the engine's samples too, which the metrics need.
async fn serve() -> (common::Run, String) {
    let fleet = common::Fleet::start().await;
    let engine = Engine::new(fleet.settings()).unwrap();
    let metrics = metrics::spawn(engine.view(), engine.samples());
    let run = fleet.watched_by(engine);
    let base = common::serve(Api {
        // /metrics answers without it, like /health.
        keys: vec![ApiKey::token("s3cret")],
        metrics: Some(metrics),
        ..run.api()
    })
    .await;
    (run, base)
}

/// The value of the sample line that starts with `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_incident_shows_in_the_scrape() {
    let (run, base) = serve().await;
    let http = reqwest::Client::new();
    let sent = http
        .post(format!("{base}/api/commands"))
        .bearer_auth("s3cret")
        .header("content-type", "application/json")
        .body(r#"{"command":"inject_chaos","target":"orders-db","fault":"DB_TIMEOUT"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);

    let resolved = r#"autoheal_incidents{status="resolved",signature="DB_TIMEOUT"}"#;
    let up = r#"autoheal_probe_up{target="orders-db"}"#;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let response = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], metrics::CONTENT_TYPE);
        let text = response.text().await.unwrap();
        let healed = value(&text, resolved) == Some(1.0) && value(&text, up) == Some(1.0);
        if healed || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert_eq!(value(&text, resolved), Some(1.0), "{text}");
    assert!(
        value(&text, r#"autoheal_actions_total{result="ok"}"#).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        value(&text, "autoheal_incidents_detected_total").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        value(&text, "autoheal_time_to_resolve_seconds_count").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(value(&text, up), Some(1.0), "{text}");
    assert!(
        value(
            &text,
            r#"autoheal_probe_latency_seconds{target="orders-db"}"#
        )
        .is_some(),
        "{text}"
    );
    // At most the 1 s interval plus a probe; less when a fix asked for an early probe.
    let cycle = value(&text, r#"autoheal_probe_cycle_seconds{target="orders-db"}"#);
    assert!(cycle.is_some_and(|s| s > 0.0 && s < 2.5), "{text}");
    assert_eq!(
        value(&text, "autoheal_remediation_success_rate"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "autoheal_automation_paused"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(value(&text, "autoheal_dry_run"), Some(0.0), "{text}");
    assert!(
        value(&text, "autoheal_last_event_seq").is_some_and(|n| n > 0.0),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");

    // The same fold as a snapshot, behind the token, with the seq to follow on from.
    let anonymous = http.get(format!("{base}/api/state")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let snapshot: serde_json::Value = http
        .get(format!("{base}/api/state"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        snapshot["seq"].as_u64().is_some_and(|n| n > 0),
        "{snapshot}"
    );
    let incident = &snapshot["state"]["incidents"]["1"];
    assert_eq!(incident["status"], "resolved", "{snapshot}");
    assert_eq!(incident["target"], "orders-db");
    assert_eq!(
        snapshot["state"]["learning"][0]["successes"], 1,
        "{snapshot}"
    );

    // The same numbers come back from the journal alone, as after a daemon restart.
    let (live, journal, _dir) = run.stop().await;
    let mut replayed = autoheal::state::State::default();
    autoheal::journal::replay(&journal, |e| replayed.apply(&e)).unwrap();
    assert_eq!(replayed, live);
}

#[test]
fn an_empty_state_renders_every_metric() {
    let text = Metrics::default().render();
    assert!(text.ends_with("# EOF\n"), "{text}");
    for series in [
        "autoheal_incidents_detected_total 0",
        "autoheal_actions_total{result=\"ok\"} 0",
        "autoheal_actions_total{result=\"failed\"} 0",
        "# TYPE autoheal_time_to_resolve_seconds histogram",
        "autoheal_time_to_resolve_seconds_bucket{le=\"0.1\"} 0",
        "autoheal_time_to_resolve_seconds_bucket{le=\"+Inf\"} 0",
        "autoheal_time_to_resolve_seconds_count 0",
        "autoheal_approval_queue 0",
        "autoheal_running_actions 0",
        "autoheal_automation_paused 0",
        "autoheal_dry_run 0",
        "autoheal_last_event_seq 0",
        "autoheal_remediation_success_rate NaN",
    ] {
        assert!(text.contains(series), "no {series} in:\n{text}");
    }
    // Labelled families with no series yet are left out, as the Go client does
    // (prometheus-client filters empty families); they appear with their first series.
    for family in [
        "autoheal_incidents ",
        "autoheal_probe_latency_seconds",
        "autoheal_probe_cycle_seconds",
        "autoheal_probe_up",
    ] {
        assert!(
            !text.contains(family),
            "{family} has no series yet:\n{text}"
        );
    }
    // Only comments and samples of our own metrics: nothing a scraper would choke on.
    for line in text.lines() {
        assert!(
            line.starts_with("# HELP autoheal_")
                || line.starts_with("# TYPE autoheal_")
                || line.starts_with("# UNIT autoheal_")
                || line == "# EOF"
                || line.starts_with("autoheal_"),
            "stray line {line:?} in:\n{text}"
        );
    }
}

#[test]
fn a_prediction_is_exported_as_its_arrival_time() {
    let mut state = autoheal::state::State::default();
    state.apply(&autoheal::event::Event {
        seq: 1,
        ts: "2026-11-23T13:00:00Z".parse().unwrap(),
        kind: autoheal::event::EventKind::Prediction {
            target: "db".into(),
            metric: autoheal::predict::Metric::Disk,
            signature: "DISK_FULL".into(),
            value: 61.0,
            threshold: 95.0,
            per_hour: 15.6,
            eta_s: 600,
        },
    });
    let text = Metrics::of(state).render();
    // 13:10 UTC that day.
    let line =
        "autoheal_prediction_arrival_timestamp_seconds{target=\"db\",metric=\"disk\"} 1795439400.0";
    assert!(text.contains(line), "no {line} in:\n{text}");
}
