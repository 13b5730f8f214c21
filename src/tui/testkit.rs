//! Models for the console's unit tests, folded from events as a console would
//! see them, so key and model tests start from the same fleet.

use jiff::Timestamp;

use super::{Meta, Model, Pane, Theme};
use crate::event::{Decision, Event, EventKind, IncidentId, Severity};

/// The operator every fixture console journals its decisions as.
pub const ALICE: &str = "alice@ssh:10.0.0.7";

pub fn ts() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

/// Folds one event into `m` with the next seq, as the engine would send it.
pub fn push(m: &mut Model, kind: EventKind) {
    let seq = m.state.last_seq + 1;
    m.apply(Event {
        seq,
        ts: ts(),
        kind,
    });
}

/// A console on an engine watching `edge-proxy` and `orders-db` (which offers
/// two chaos faults), nothing happened yet.
pub fn started() -> Model {
    let meta = Meta {
        mode: "demo".into(),
        started_at: None,
        chaos: Default::default(),
        operator: ALICE.into(),
        ..Default::default()
    };
    let mut m = Model::new(Default::default(), meta, vec![Theme::dark()]);
    push(
        &mut m,
        EventKind::EngineStarted {
            version: "0".into(),
            targets: vec!["edge-proxy".into(), "orders-db".into()],
            playbooks: vec![],
            dry_run: false,
            // Chaos offers arrive with the engine's start, as they would from afar.
            chaos: [(
                "orders-db".to_string(),
                vec!["DB_TIMEOUT".to_string(), "CRASH".to_string()],
            )]
            .into(),
        },
    );
    m
}

/// `started`, with #1 on orders-db and #2 on edge-proxy awaiting approval and
/// orders-db picked in the targets pane.
pub fn waiting() -> Model {
    let mut m = started();
    for (id, target) in [(1, "orders-db"), (2, "edge-proxy")] {
        awaiting(&mut m, id, target);
    }
    m.select_row(Pane::Targets, 1);
    m
}

/// Folds incident `id` on `target` into `m`, detected and analyzed as the
/// engine would, its fix waiting for an operator.
pub fn awaiting(m: &mut Model, id: u64, target: &str) {
    push(
        m,
        EventKind::IncidentDetected {
            incident_id: IncidentId(id),
            target: target.into(),
            // One open incident per (target, signature): each its own.
            signature: format!("FAULT_{id}"),
            severity: Severity::High,
            started_at: ts(),
            chaos: false,
            trace_id: String::new(),
            reported_by: None,
            text: None,
        },
    );
    push(
        m,
        EventKind::IncidentAnalyzed {
            incident_id: IncidentId(id),
            playbook: Some("fallback".into()),
            step: Some("restart".into()),
            confidence: 0.85,
            decision: Decision::ApprovalRequired,
            reason: "confidence 0.85 is below 0.90".into(),
            action: Some(format!("systemctl restart {target}")),
            critical: false,
        },
    );
}

/// `waiting`, with #1's fix given up on: automation escalated it to a human.
pub fn escalated() -> Model {
    let mut m = waiting();
    push(
        &mut m,
        EventKind::IncidentEscalated {
            incident_id: IncidentId(1),
            reason: "all 1 steps of fallback tried; the target is still failing".into(),
        },
    );
    m
}
/// `started`, with a history the incident list can sort and filter: #1 on
/// orders-db resolved in 48 s, #2 on edge-proxy escalated, #3 on orders-db
/// resolved in 2 s, #4 on edge-proxy awaiting approval.
pub fn history() -> Model {
    let mut m = started();
    for (id, target) in [(1, "orders-db"), (2, "edge-proxy"), (3, "orders-db")] {
        awaiting(&mut m, id, target);
    }
    resolve(&mut m, 1, 48_000);
    push(
        &mut m,
        EventKind::IncidentEscalated {
            incident_id: IncidentId(2),
            reason: "no step left".into(),
        },
    );
    resolve(&mut m, 3, 2_000);
    awaiting(&mut m, 4, "edge-proxy");
    m
}

/// Folds the resolution of incident `id`, `ttr_ms` after its detection.
pub fn resolve(m: &mut Model, id: u64, ttr_ms: u64) {
    push(
        m,
        EventKind::IncidentResolved {
            incident_id: IncidentId(id),
            time_to_detect_ms: 100,
            time_to_resolve_ms: ttr_ms,
        },
    );
}
