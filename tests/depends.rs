//! Root causes instead of restart storms, over the demo fleet's real sockets:
//! orders-db crashes, payments-api and edge-proxy (which depend on it) fail
//! with it, and only orders-db is remediated.

mod common;

use autoheal::event::{Command, EventKind, IncidentId};
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_database_is_fixed_once_and_its_dependents_close_as_its_symptoms() {
    let mut run = common::demo(|_, _| {}).await;
    // Paused, so the database stays down long enough for every dependent's probe to see it.
    run.send(Command::Pause { by: "test".into() }).await;
    run.break_directly("orders-db", "CRASH").await;
    let mut linked: BTreeMap<IncidentId, IncidentId> = BTreeMap::new();
    while linked.len() < 2 {
        let e = run
            .wait_for(Duration::from_secs(5), "two symptoms", |k| {
                matches!(k, EventKind::IncidentLinked { .. })
            })
            .await;
        if let EventKind::IncidentLinked {
            incident_id,
            root_id,
        } = e.kind
        {
            linked.insert(incident_id, root_id);
        }
    }
    let target_of = |run: &common::Run, id: IncidentId| {
        run.seen.iter().find_map(|e| match &e.kind {
            EventKind::IncidentDetected {
                incident_id,
                target,
                ..
            } if *incident_id == id => Some(target.clone()),
            _ => None,
        })
    };
    let roots: Vec<IncidentId> = linked.values().copied().collect();
    let root = roots[0];
    assert!(roots.iter().all(|r| *r == root), "{linked:?}");
    assert_eq!(target_of(&run, root).as_deref(), Some("orders-db"));
    let mut dependents: Vec<String> = linked
        .keys()
        .map(|id| target_of(&run, *id).unwrap())
        .collect();
    dependents.sort();
    assert_eq!(dependents, ["edge-proxy", "payments-api"]);

    run.send(Command::Resume { by: "test".into() }).await;
    // The root first; each symptom closes by itself once its target answers again.
    let mut open: Vec<IncidentId> = [root].into_iter().chain(linked.keys().copied()).collect();
    while !open.is_empty() {
        let e = run
            .wait_for(
                Duration::from_secs(8),
                "the root and its symptoms resolved",
                |k| matches!(k, EventKind::IncidentResolved { .. }),
            )
            .await;
        let id = e.kind.incident_id().unwrap();
        assert!(id == root || !open.contains(&root), "{id} before its root");
        open.retain(|o| *o != id);
    }
    let remediated: Vec<IncidentId> = run
        .seen
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionStarted { incident_id, .. } => Some(*incident_id),
            _ => None,
        })
        .collect();
    assert_eq!(remediated, [root], "{}", run.transcript());
    let analyzed_symptom = run.seen.iter().any(|e| {
        matches!(&e.kind, EventKind::IncidentAnalyzed { incident_id, .. } if linked.contains_key(incident_id))
    });
    assert!(!analyzed_symptom, "{}", run.transcript());
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_failing_on_its_own_is_planned_once_its_dependency_answers_healthy() {
    let mut run = common::demo(|_, _| {}).await;
    // A real fault of edge-proxy's own; orders-db, which it needs, is fine.
    run.break_directly("edge-proxy", "NET_SPIKE").await;
    let id = run.detected("edge-proxy", "NET_SPIKE").await;
    let detected = run.seen.last().unwrap().ts;
    let analyzed = run
        .wait_for(
            Duration::from_secs(3),
            "its plan",
            |k| matches!(k, EventKind::IncidentAnalyzed { incident_id, .. } if *incident_id == id),
        )
        .await;
    // orders-db's probe was asked for at once; its healthy answer, not the
    // 1.1 s fallback (its timeout plus slack), lets edge-proxy's fix go.
    let waited = analyzed.ts.duration_since(detected);
    assert!(
        waited < jiff::SignedDuration::from_millis(500),
        "{waited:?}: {}",
        run.transcript()
    );
    run.resolved(id).await;
    let linked = run
        .seen
        .iter()
        .any(|e| matches!(e.kind, EventKind::IncidentLinked { .. }));
    assert!(!linked, "{}", run.transcript());
    run.stop().await;
}
