use super::*;
use crate::event::Severity;
use crate::state::State;

fn fleet() -> Merger {
    Merger::new(vec!["web-1".into(), "web-2".into(), "db-1".into()])
}

fn ev(seq: u64, kind: EventKind) -> Event {
    Event {
        seq,
        ts: "2026-11-23T13:02:11Z".parse().unwrap(),
        kind,
    }
}

fn started(targets: &[&str], chaos: &[&str], dry_run: bool) -> EventKind {
    EventKind::EngineStarted {
        version: "0.1.0".into(),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        playbooks: vec!["demo".into()],
        dry_run,
        chaos: chaos
            .iter()
            .map(|t| (t.to_string(), vec!["crash".into()]))
            .collect(),
    }
}

fn detected(id: u64, target: &str) -> EventKind {
    EventKind::IncidentDetected {
        incident_id: IncidentId(id),
        target: target.into(),
        signature: "DOWN".into(),
        severity: Severity::High,
        started_at: "2026-11-23T13:02:10Z".parse().unwrap(),
        chaos: false,
        trace_id: String::new(),
        reported_by: None,
        text: None,
    }
}

fn predicted(target: &str) -> EventKind {
    EventKind::Prediction {
        target: target.into(),
        metric: Metric::Disk,
        signature: "DISK_FULL".into(),
        value: 80.0,
        threshold: 95.0,
        per_hour: 5.0,
        eta_s: 10_800,
    }
}

/// Feeds `(daemon, kind)` through the merger and folds what comes out.
fn fold(m: &mut Merger, input: Vec<(usize, EventKind)>) -> (State, Vec<Event>) {
    let mut state = State::default();
    let mut out = Vec::new();
    for (i, (d, kind)) in input.into_iter().enumerate() {
        for e in m.event(d, ev(i as u64 + 1, kind)) {
            state.apply(&e);
            out.push(e);
        }
    }
    (state, out)
}

#[test]
fn incident_ids_interleave_and_map_back_to_their_daemon() {
    let n = 3;
    let mut seen = std::collections::BTreeSet::new();
    for d in 0..n {
        for k in 1..=50 {
            let c = console_id(IncidentId(k), d, n).unwrap();
            assert!(seen.insert(c), "{c} given twice");
            assert_eq!(owner(c, n), Some((d, IncidentId(k))));
        }
    }
    assert_eq!(console_id(IncidentId(1), 0, n), Some(IncidentId(1)));
    assert_eq!(console_id(IncidentId(2), 1, n), Some(IncidentId(5)));
    // No daemon numbers an incident #0, and numbers past u64 are refused, not wrapped.
    assert_eq!(console_id(IncidentId(0), 0, n), None);
    assert_eq!(console_id(IncidentId(u64::MAX), 2, n), None);
    assert_eq!(owner(IncidentId(0), n), None);
    assert_eq!(owner(IncidentId(1), 0), None);
}

#[test]
fn targets_carry_their_daemon_and_seq_counts_arrivals() {
    let mut m = fleet();
    let (state, out) = fold(
        &mut m,
        vec![
            (0, started(&["api"], &[], false)),
            (1, started(&["api"], &[], false)),
            (1, detected(1, "api")),
            (0, detected(1, "api")),
        ],
    );
    let seqs: Vec<u64> = out.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4], "one seq per arrival, never repeated");
    let targets: Vec<&String> = state.targets.keys().collect();
    assert_eq!(targets, ["web-1/api", "web-2/api"]);
    // Both daemons' #1 are two incidents, each on its own daemon's target.
    let incidents: Vec<(u64, &str)> = state
        .incidents
        .values()
        .map(|i| (i.id.0, i.target.as_str()))
        .collect();
    assert_eq!(incidents, [(1, "web-1/api"), (2, "web-2/api")]);
    assert_eq!(state.counts.detected, 2, "stats add up across the fleet");
}

#[test]
fn links_between_incidents_stay_within_their_daemon() {
    let mut m = fleet();
    let (_, out) = fold(
        &mut m,
        vec![(
            2,
            EventKind::IncidentLinked {
                incident_id: IncidentId(2),
                root_id: IncidentId(1),
            },
        )],
    );
    assert_eq!(
        out[0].kind,
        EventKind::IncidentLinked {
            incident_id: IncidentId(6),
            root_id: IncidentId(3)
        }
    );
}

#[test]
fn one_daemons_start_wipes_nothing_the_others_said() {
    let mut m = fleet();
    let (state, _) = fold(
        &mut m,
        vec![
            (0, started(&["api"], &["api"], true)),
            (0, predicted("api")),
            (1, started(&["shop"], &["shop"], false)),
        ],
    );
    assert!(state.dry_run, "web-1 still runs dry");
    assert!(
        !state.targets["web-1/api"].predictions.is_empty(),
        "web-1's prediction still stands"
    );
    let Some(EventKind::EngineStarted { chaos, .. }) = m
        .event(2, ev(9, started(&["db"], &[], false)))
        .first()
        .map(|e| e.kind.clone())
    else {
        panic!("a start")
    };
    let offers: Vec<&String> = chaos.keys().collect();
    assert_eq!(
        offers,
        ["web-1/api", "web-2/shop"],
        "every daemon's chaos offers"
    );
}

#[test]
fn a_restarted_daemon_loses_its_own_predictions_only() {
    let mut m = fleet();
    let (state, _) = fold(
        &mut m,
        vec![
            (0, started(&["api"], &[], false)),
            (1, started(&["api"], &[], false)),
            (0, predicted("api")),
            (1, predicted("api")),
            (1, started(&["api"], &[], false)),
        ],
    );
    assert!(!state.targets["web-1/api"].predictions.is_empty());
    assert!(state.targets["web-2/api"].predictions.is_empty());
}

#[test]
fn the_fleet_stays_paused_while_any_daemon_is() {
    let mut m = fleet();
    let by = || "alice".to_string();
    let (state, out) = fold(
        &mut m,
        vec![
            (0, EventKind::AutomationPaused { by: by() }),
            (1, EventKind::AutomationPaused { by: by() }),
            (0, EventKind::AutomationResumed { by: by() }),
        ],
    );
    assert!(state.paused, "web-2 is still paused");
    assert!(
        matches!(&out.last().unwrap().kind, EventKind::AutomationPaused { by } if by == "web-2 (still paused)"),
        "{out:?}"
    );
    let (state, _) = fold(&mut m, vec![(1, EventKind::AutomationResumed { by: by() })]);
    assert!(!state.paused);
}

#[test]
fn maintenance_globs_cover_their_own_daemons_targets() {
    let mut m = fleet();
    let (state, _) = fold(
        &mut m,
        vec![(
            1,
            EventKind::MaintenanceStarted {
                window: "nightly".into(),
                targets: vec!["*".into()],
                until: "2026-11-23T14:00:00Z".parse().unwrap(),
            },
        )],
    );
    assert!(state.maintenance_of("web-2/api").is_some());
    assert!(state.maintenance_of("web-1/api").is_none());
    // A name made of a URL's host holds glob brackets: they match themselves.
    let mut bracketed = Merger::new(vec!["[::1]:7311".into()]);
    let window = EventKind::MaintenanceStarted {
        window: "nightly".into(),
        targets: vec!["*".into()],
        until: "2026-11-23T14:00:00Z".parse().unwrap(),
    };
    let (state, _) = fold(&mut bracketed, vec![(0, window)]);
    assert!(state.maintenance_of("[::1]:7311/api").is_some());
}

#[test]
fn commands_go_to_the_owner_in_its_own_words() {
    let m = fleet();
    let by = "alice".to_string();
    // Console #5 is web-2's #2.
    assert_eq!(
        m.route(Command::Approve {
            incident_id: IncidentId(5),
            by: by.clone()
        }),
        Route::One(
            1,
            Command::Approve {
                incident_id: IncidentId(2),
                by: by.clone()
            }
        )
    );
    assert_eq!(
        m.route(Command::InjectChaos {
            target: "db-1/orders-db".into(),
            fault: "crash".into()
        }),
        Route::One(
            2,
            Command::InjectChaos {
                target: "orders-db".into(),
                fault: "crash".into()
            }
        )
    );
    assert_eq!(
        m.route(Command::Pause { by: by.clone() }),
        Route::All(Command::Pause { by: by.clone() })
    );
    assert!(matches!(
        m.route(Command::Unsilence {
            target: "web-9/api".into(),
            by
        }),
        Route::Nowhere(why) if why.contains("web-9/api")
    ));
}

#[test]
fn a_daemons_notice_names_it_and_the_consoles_numbers() {
    let m = fleet();
    assert_eq!(
        m.notice(
            1,
            "daemon refused approve #2: 409 #2 is not awaiting approval"
        ),
        "web-2: daemon refused approve #5: 409 #5 is not awaiting approval"
    );
    assert_eq!(m.notice(0, "a # sign, #x"), "web-1: a # sign, #x");
}

#[test]
fn samples_are_renamed_like_their_targets() {
    let m = fleet();
    let sample = Sample {
        target: "api".into(),
        at: "2026-11-23T13:02:11Z".parse().unwrap(),
        healthy: true,
        latency: std::time::Duration::from_millis(3),
        cpu_percent: None,
        memory_percent: None,
    };
    assert_eq!(m.sample(2, sample).target, "db-1/api");
}
