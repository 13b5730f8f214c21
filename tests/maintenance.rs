//! Maintenance windows and silences that run out, over the demo fleet's real
//! sockets: held while they last, planned as usual once they are over.

mod common;

use autoheal::config::Maintenance;
use autoheal::engine::Engine;
use autoheal::event::{Command, Decision, EventKind};
use std::time::Duration;

/// A one-off window on `targets` from a second ago for `lasts`.
fn window(targets: &[&str], lasts: Duration) -> Maintenance {
    let now = jiff::Timestamp::now();
    Maintenance {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        every: None,
        length: None,
        from: Some(now - jiff::SignedDuration::from_secs(1)),
        until: Some(now + jiff::SignedDuration::try_from(lasts).unwrap()),
        reason: "edge upgrade".into(),
    }
}

#[tokio::test]
async fn a_window_holds_fixes_on_its_targets_only_and_they_run_when_it_ends() {
    let fleet = common::Fleet::start().await;
    let engine = Engine::new(fleet.settings())
        .unwrap()
        .maintenance(vec![window(&["edge-*"], Duration::from_secs(4))]);
    let mut run = fleet.watched_by(engine);
    let started = run
        .wait_for(Duration::from_secs(3), "the window", |k| {
            matches!(k, EventKind::MaintenanceStarted { window, .. } if window == "edge upgrade")
        })
        .await;
    // A target outside the window is fixed as usual meanwhile.
    run.break_directly("orders-db", "DB_TIMEOUT").await;
    let outside = run.detected("orders-db", "DB_TIMEOUT").await;
    run.resolved(outside).await;
    run.break_directly("edge-proxy", "NET_SPIKE").await;
    let held = run.detected("edge-proxy", "NET_SPIKE").await;
    let analyzed = run
        .wait_for(Duration::from_secs(3), "held", |k| {
            matches!(k, EventKind::IncidentAnalyzed { incident_id, .. } if *incident_id == held)
        })
        .await;
    let EventKind::IncidentAnalyzed {
        decision, reason, ..
    } = &analyzed.kind
    else {
        unreachable!()
    };
    assert_eq!(*decision, Decision::Suppressed, "{reason}");
    assert!(
        reason.contains("maintenance (edge upgrade) until"),
        "{reason}"
    );

    let ended = run
        .wait_for(Duration::from_secs(6), "the end of the window", |k| {
            matches!(k, EventKind::MaintenanceEnded { .. })
        })
        .await;
    let fixed = run.resolved(held).await;
    assert!(ended.seq > started.seq && fixed.seq > ended.seq);
    let acted_during: Vec<_> = run
        .seen
        .iter()
        .filter(|e| e.seq < ended.seq)
        .filter(|e| {
            matches!(&e.kind, EventKind::ActionStarted { incident_id, .. } if *incident_id == held)
        })
        .collect();
    assert!(acted_during.is_empty(), "{}", run.transcript());
}

#[tokio::test]
async fn a_silence_that_runs_out_replans_what_it_held() {
    let mut run = common::demo(|_, _| {}).await;
    run.send(Command::Silence {
        target: "edge-proxy".into(),
        duration: Duration::from_secs(2),
        by: "test".into(),
    })
    .await;
    run.break_directly("edge-proxy", "NET_SPIKE").await;
    let held = run.detected("edge-proxy", "NET_SPIKE").await;
    run.wait_for(Duration::from_secs(3), "held", |k| {
        matches!(k, EventKind::IncidentAnalyzed { incident_id, decision: Decision::Suppressed, .. } if *incident_id == held)
    })
    .await;
    run.wait_for(
        Duration::from_secs(5),
        "the silence's end",
        |k| matches!(k, EventKind::TargetUnsilenced { by, .. } if by == "its silence ran out"),
    )
    .await;
    run.resolved(held).await;
}
