//! Trend prediction over the demo fleet's real sockets: a service whose disk
//! fills (chaos DISK_FILLING) is predicted before it is full, the fix a
//! playbook offers waits for an operator, and the prediction ends with the trend.

mod common;

use autoheal::config::Predict;
use autoheal::engine::Engine;
use autoheal::event::{Command, Decision, Event, EventKind};
use autoheal::predict::Metric;
use std::time::Duration;

/// The fleet watched every 250 ms with a 10 s trend window: a prediction in seconds.
async fn watched() -> common::Run {
    let fleet = common::Fleet::start().await;
    let mut settings = fleet.settings();
    for t in &mut settings.targets {
        t.interval = Duration::from_millis(250);
    }
    let predict = Predict {
        window: Duration::from_secs(10),
        horizon: Duration::from_secs(600),
        ..Predict::default()
    };
    fleet.watched_by(Engine::new(settings).unwrap().predict(predict))
}

async fn foreseen(run: &mut common::Run) -> Event {
    run.wait_for(Duration::from_secs(15), "a preventive fix awaiting approval", |k| {
        matches!(k, EventKind::IncidentAnalyzed { decision: Decision::ApprovalRequired, playbook: Some(p), .. } if p == "demo-rotate-logs")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filling_disk_is_foreseen_and_its_fix_waits_for_an_operator() {
    let mut run = watched().await;
    run.inject("edge-proxy", "DISK_FILLING").await;
    let injected = std::time::Instant::now();
    let told = run
        .wait_for(Duration::from_secs(15), "a prediction", |k| {
            matches!(k, EventKind::Prediction { .. })
        })
        .await;
    let EventKind::Prediction {
        target,
        metric,
        signature,
        threshold,
        per_hour,
        eta_s,
        ..
    } = told.kind
    else {
        unreachable!()
    };
    assert_eq!((target.as_str(), metric), ("edge-proxy", Metric::Disk));
    assert_eq!((signature.as_str(), threshold), ("DISK_FULL", 95.0));
    // The demo fills 1 % a second (3,600 % an hour); a first fit that still
    // holds a few flat samples from before the fault reads it lower.
    assert!((2000.0..4200.0).contains(&per_hour), "{per_hour}");
    assert!((20..90).contains(&eta_s), "{eta_s}");
    eprintln!(
        "first prediction {:?} after the fault began (10 s window, 250 ms probes): {per_hour} % an hour, {eta_s} s ahead",
        injected.elapsed()
    );

    // The playbook's confidence (0.90) would run it by itself: not for a prediction.
    let analyzed = foreseen(&mut run).await;
    let EventKind::IncidentAnalyzed {
        incident_id,
        reason,
        ..
    } = analyzed.kind
    else {
        unreachable!()
    };
    assert!(reason.contains("prediction"), "{reason}");
    let detected = run.seen_kind("incident_detected");
    assert!(
        matches!(&detected[..], [Event { kind: EventKind::IncidentDetected { signature, reported_by: Some(by), .. }, .. }]
        if signature == "PREDICTED_DISK_FULL" && by == "prediction"),
        "{detected:?}"
    );
    assert!(
        run.seen_kind("action_started").is_empty(),
        "nothing ran unasked"
    );

    run.send(Command::Approve {
        incident_id,
        by: "test".into(),
    })
    .await;
    run.resolved(incident_id).await;
    let ended = run
        .wait_for(Duration::from_secs(15), "the prediction's end", |k| {
            matches!(k, EventKind::PredictionEnded { .. })
        })
        .await;
    assert!(
        matches!(ended.kind, EventKind::PredictionEnded { target, metric: Metric::Disk } if target == "edge-proxy")
    );
    let actions: Vec<String> = run
        .seen_kind("action_started")
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionStarted { step, .. } => Some(step.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(actions, ["rotate-logs"]);
    // Flat disks predicted nothing; the one that filled was freed.
    assert!(
        run.seen_kind("prediction").iter().all(
            |e| matches!(&e.kind, EventKind::Prediction { target, .. } if target == "edge-proxy")
        ),
        "{}",
        run.transcript()
    );
    let url = format!("{}/health", run.fleet.service_url("edge-proxy").unwrap());
    let body: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(body["disk_percent"], 41.0);
    let state = run.handle.view();
    assert!(state.read().targets["edge-proxy"].predictions.is_empty());
    // A fix before the failure fixed no failure: time to resolve is about failures.
    assert!(state.read().ttr_ms.is_empty() && state.read().ttd_ms.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offered_fix_is_withdrawn_when_the_trend_stops_by_itself() {
    let mut run = watched().await;
    run.inject("orders-db", "DISK_FILLING").await;
    let offered = foreseen(&mut run).await.kind.incident_id().unwrap();
    // Someone frees the disk by hand.
    let url = format!(
        "{}/admin/rotate-logs",
        run.fleet.service_url("orders-db").unwrap()
    );
    let status = reqwest::Client::new()
        .post(url)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());
    let closed = run
        .wait_for(Duration::from_secs(15), "the offer withdrawn", |k| {
            matches!(k, EventKind::IncidentClosed { .. })
        })
        .await;
    let EventKind::IncidentClosed {
        incident_id, by, ..
    } = closed.kind
    else {
        unreachable!()
    };
    assert_eq!((incident_id, by.as_str()), (offered, "autoheal"));
    assert!(run.seen_kind("action_started").is_empty());
    assert_eq!(run.seen_kind("prediction_ended").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_the_last_run_left_waiting_is_withdrawn_at_start() {
    let mut run = watched().await;
    run.inject("payments-api", "DISK_FILLING").await;
    let offered = foreseen(&mut run).await.kind.incident_id().unwrap();
    let (_, _, dir) = run.stop().await;
    // The next run has no samples yet: its predictions start anew.
    let settings = common::settings(dir.path(), "targets: []");
    let mut rig = common::Rig::start(settings, dir);
    let closed = rig
        .wait_for(Duration::from_secs(5), "the stale offer withdrawn", |k| {
            matches!(k, EventKind::IncidentClosed { .. })
        })
        .await;
    assert_eq!(closed.kind.incident_id(), Some(offered));
    assert!(rig.handle.view().read().approval_queue().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_cannot_pose_as_a_prediction() {
    let run = watched().await;
    let base = common::serve(run.api()).await;
    let answer = reqwest::Client::new()
        .post(format!("{base}/incident"))
        .json(&serde_json::json!({ "service": "edge-proxy", "error": "PREDICTED_DISK_FULL" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 409);
    let text = answer.text().await.unwrap();
    assert!(text.contains("autoheal's own predictions"), "{text}");
    assert!(run.handle.view().read().incidents.is_empty());
}
