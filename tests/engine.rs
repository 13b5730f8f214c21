//! The engine against the real demo fleet: real probes, real HTTP fixes, real verification.

mod common;

use std::time::Duration;

use autoheal::event::{Command, Decision, Event, EventKind};
use autoheal::journal;
use autoheal::state::{State, Status};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn analyzed(k: &EventKind) -> Option<(Decision, &str)> {
    match k {
        EventKind::IncidentAnalyzed {
            decision, reason, ..
        } => Some((*decision, reason.as_str())),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_auto_fixable_fault_is_fixed_for_real() {
    let mut run = common::demo(|_, _| {}).await;
    for (target, fault, signature) in [
        ("orders-db", "DB_TIMEOUT", "DB_TIMEOUT"),
        ("edge-proxy", "MEM_LEAK", "MEM_LEAK"),
        ("orders-db", "NET_SPIKE", "NET_SPIKE"),
        ("edge-proxy", "CRASH", "CONNECTION_REFUSED"),
    ] {
        run.inject(target, fault).await;
        let id = run.detected(target, signature).await;
        let resolved = run.resolved(id).await;
        let EventKind::IncidentResolved {
            time_to_resolve_ms, ..
        } = resolved.kind
        else {
            unreachable!()
        };
        assert!(
            time_to_resolve_ms < 5_000,
            "{fault}: {time_to_resolve_ms} ms"
        );
        assert_eq!(
            run.health(target).await,
            Some(200),
            "{fault} really cleared in the service"
        );
    }
    let (state, ..) = run.stop().await;
    assert_eq!(state.counts.resolved, 4);
    assert_eq!(state.counts.escalated, 0);
    assert!(
        state
            .incidents
            .values()
            .all(|i| i.chaos && i.approved_by.is_none())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_waits_for_approval_and_approval_fixes_it() {
    let mut run = common::demo(|_, _| {}).await;
    run.inject("orders-db", "DISK_FULL").await;
    let id = run.detected("orders-db", "DISK_FULL").await;
    let e = run
        .wait_for(SECS(5), "analysis", |k| analyzed(k).is_some())
        .await;
    let (decision, reason) = analyzed(&e.kind).unwrap();
    assert_eq!(decision, Decision::ApprovalRequired);
    assert_eq!(reason, "confidence 0.85 is below 0.90");

    tokio::time::sleep(SECS(1)).await;
    assert_eq!(
        run.health("orders-db").await,
        Some(503),
        "nothing acts before approval"
    );

    run.send(Command::Approve {
        incident_id: id,
        by: "alice@ssh:10.0.0.7".into(),
    })
    .await;
    run.resolved(id).await;
    assert_eq!(run.health("orders-db").await, Some(200));
    let (state, ..) = run.stop().await;
    assert_eq!(
        state.incidents[&id].approved_by.as_deref(),
        Some("alice@ssh:10.0.0.7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_fix_never_runs() {
    let mut run = common::demo(|_, _| {}).await;
    run.inject("edge-proxy", "DISK_FULL").await;
    let id = run.detected("edge-proxy", "DISK_FULL").await;
    run.wait_for(SECS(5), "approval request", |k| {
        analyzed(k).is_some_and(|(d, _)| d == Decision::ApprovalRequired)
    })
    .await;
    run.send(Command::Reject {
        incident_id: id,
        by: "bob".into(),
    })
    .await;
    run.wait_for(SECS(2), "rejection", |k| {
        matches!(k, EventKind::ApprovalRejected { .. })
    })
    .await;
    tokio::time::sleep(SECS(2)).await;
    assert_eq!(
        run.health("edge-proxy").await,
        Some(503),
        "still broken: a human owns it now"
    );
    let (state, ..) = run.stop().await;
    assert_eq!(state.incidents[&id].status, Status::Rejected);
    assert!(state.incidents[&id].attempts.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_service_always_asks_first() {
    let mut run = common::demo(|_, _| {}).await;
    run.inject("payments-api", "DB_TIMEOUT").await;
    run.detected("payments-api", "DB_TIMEOUT").await;
    let e = run
        .wait_for(SECS(5), "analysis", |k| analyzed(k).is_some())
        .await;
    assert_eq!(
        analyzed(&e.kind),
        Some((
            Decision::ApprovalRequired,
            "payments-api is critical: a human approves every fix"
        ))
    );
    // The approver is told what would run, and that the target is critical.
    let EventKind::IncidentAnalyzed {
        action, critical, ..
    } = &e.kind
    else {
        unreachable!()
    };
    assert!(critical);
    let action = action.as_deref().unwrap_or_default();
    assert!(
        action.starts_with("POST http://127.0.0.1:") && action.ends_with("/admin/flush-pool"),
        "{action}"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldown_stops_a_restart_loop() {
    let mut run = common::demo(|_, _| {}).await;
    // A real outage (not injected through the engine), twice in a row.
    run.break_directly("orders-db", "CRASH").await;
    let first = run.detected("orders-db", "CONNECTION_REFUSED").await;
    run.resolved(first).await;
    run.break_directly("orders-db", "CRASH").await;
    run.detected("orders-db", "CONNECTION_REFUSED").await;
    let e = run
        .wait_for(SECS(5), "analysis", |k| analyzed(k).is_some())
        .await;
    let (decision, reason) = analyzed(&e.kind).unwrap();
    assert_eq!(decision, Decision::ApprovalRequired);
    assert!(
        reason.starts_with("cooldown: demo-restart-crashed ran"),
        "{reason}"
    );
    tokio::time::sleep(SECS(1)).await;
    assert_eq!(
        run.health("orders-db").await,
        None,
        "no second restart without a human"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flap_guard_stops_the_fourth_remediation() {
    let mut run = common::demo(|policy, _| {
        policy.cooldown = Duration::ZERO;
        policy.backoff_base = Duration::ZERO;
    })
    .await;
    for _ in 0..3 {
        run.break_directly("edge-proxy", "CRASH").await;
        let id = run.detected("edge-proxy", "CONNECTION_REFUSED").await;
        run.resolved(id).await;
    }
    run.break_directly("edge-proxy", "CRASH").await;
    run.detected("edge-proxy", "CONNECTION_REFUSED").await;
    let e = run
        .wait_for(SECS(5), "analysis", |k| analyzed(k).is_some())
        .await;
    let (decision, reason) = analyzed(&e.kind).unwrap();
    assert_eq!(decision, Decision::ApprovalRequired);
    assert!(
        reason.starts_with("flap guard: 3 remediations of edge-proxy"),
        "{reason}"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_plans_but_never_acts() {
    let mut run = common::demo(|_, settings| settings.dry_run = true).await;
    run.inject("orders-db", "DB_TIMEOUT").await;
    run.detected("orders-db", "DB_TIMEOUT").await;
    let e = run
        .wait_for(SECS(5), "analysis", |k| analyzed(k).is_some())
        .await;
    assert_eq!(
        analyzed(&e.kind),
        Some((Decision::Suppressed, "dry run: would run flush-pool"))
    );
    tokio::time::sleep(SECS(1)).await;
    assert_eq!(run.health("orders-db").await, Some(503));
    let (state, ..) = run.stop().await;
    assert_eq!(state.counts.actions_ok + state.counts.actions_failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_fixes_and_resume_runs_them() {
    let mut run = common::demo(|_, _| {}).await;
    run.send(Command::Pause { by: "carol".into() }).await;
    run.inject("orders-db", "MEM_LEAK").await;
    let id = run.detected("orders-db", "MEM_LEAK").await;
    let e = run
        .wait_for(SECS(5), "analysis", |k| analyzed(k).is_some())
        .await;
    assert_eq!(analyzed(&e.kind).map(|a| a.0), Some(Decision::Suppressed));
    run.send(Command::Resume { by: "carol".into() }).await;
    run.resolved(id).await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silenced_target_is_watched_but_not_touched() {
    let mut run = common::demo(|_, _| {}).await;
    run.send(Command::Silence {
        target: "edge-proxy".into(),
        duration: SECS(3600),
        by: "dave".into(),
    })
    .await;
    run.inject("edge-proxy", "NET_SPIKE").await;
    let id = run.detected("edge-proxy", "NET_SPIKE").await;
    let e = run
        .wait_for(SECS(5), "analysis", |k| analyzed(k).is_some())
        .await;
    let (decision, reason) = analyzed(&e.kind).unwrap();
    assert_eq!(decision, Decision::Suppressed);
    assert!(
        reason.starts_with("edge-proxy is silenced until"),
        "{reason}"
    );
    run.send(Command::Unsilence {
        target: "edge-proxy".into(),
        by: "dave".into(),
    })
    .await;
    run.resolved(id).await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_replay_rebuilds_the_live_state_even_after_a_torn_line() {
    let mut run = common::demo(|_, _| {}).await;
    run.inject("orders-db", "DB_TIMEOUT").await;
    let a = run.detected("orders-db", "DB_TIMEOUT").await;
    run.inject("edge-proxy", "DISK_FULL").await;
    run.resolved(a).await;
    let b = run.detected("edge-proxy", "DISK_FULL").await;
    run.wait_for(SECS(5), "approval request", |k| {
        analyzed(k).is_some_and(|(d, _)| d == Decision::ApprovalRequired)
    })
    .await;
    run.send(Command::Reject {
        incident_id: b,
        by: "erin".into(),
    })
    .await;
    let (live, path, _dir) = run.stop().await;

    let replay = |path: &std::path::Path| {
        let mut state = State::default();
        let skipped = journal::replay(path, |e| state.apply(&e)).unwrap();
        (state, skipped.len())
    };
    assert_eq!(replay(&path), (live.clone(), 0));

    // A crash mid-write leaves half a line: it is skipped, nothing else is lost.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(r#"{"seq":9999,"ts":"2026-11-23T1"#);
    std::fs::write(&path, text).unwrap();
    assert_eq!(replay(&path), (live, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_engine_remembers_its_cooldowns() {
    let mut run = common::demo(|_, _| {}).await;
    run.break_directly("orders-db", "CRASH").await;
    let id = run.detected("orders-db", "CONNECTION_REFUSED").await;
    run.resolved(id).await;
    let (_, path, dir) = run.stop().await;

    // A new engine, same journal: the restart it just did is not forgotten.
    let mut run = common::demo(|_, settings| settings.journal = Some(path.clone())).await;
    run.break_directly("orders-db", "CRASH").await;
    run.detected("orders-db", "CONNECTION_REFUSED").await;
    let e = run
        .wait_for(SECS(5), "analysis", |k| analyzed(k).is_some())
        .await;
    assert!(
        analyzed(&e.kind).unwrap().1.starts_with("cooldown:"),
        "{:?}",
        e.kind
    );
    run.stop().await;
    drop(dir);
}

/// A copy of the shipped crash playbook with `retries`, alone in a directory.
fn crash_playbook(retries: u32) -> (tempfile::TempDir, autoheal::playbook::Playbooks) {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string("playbooks/demo/crash.yaml").unwrap();
    let text = format!("{shipped}retries: {retries}\n");
    std::fs::write(dir.path().join("crash.yaml"), text).unwrap();
    let books = autoheal::playbook::Playbooks::load(Some(dir.path()), &[]).unwrap();
    (dir, books)
}

const CRASH: [&str; 4] = [
    "orders-db",
    "CONNECTION_REFUSED",
    "demo-restart-crashed",
    "restart",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_cut_off_by_a_crash_resolves_when_the_first_probe_is_healthy() {
    let fleet = common::Fleet::start().await;
    let [target, signature, playbook, step] = CRASH;
    fleet.journal_killed_mid_action(target, signature, playbook, step);
    let mut run = fleet.engine(|_, _| {});
    let e = run
        .wait_for(SECS(5), "the interruption", |k| {
            !matches!(k, EventKind::EngineStarted { .. })
        })
        .await;
    assert!(
        matches!(&e.kind, EventKind::ActionInterrupted { step: s, attempt: 1, .. } if s == step),
        "{}",
        run.transcript()
    );
    let id = e.kind.incident_id().unwrap();
    run.resolved(id).await;
    assert!(
        run.seen_kind("incident_escalated").is_empty(),
        "{}",
        run.transcript()
    );
    assert!(
        run.seen_kind("action_started").is_empty(),
        "healthy: nothing re-run"
    );
    let (state, path, _dir) = run.stop().await;
    assert_eq!(state.incidents[&id].attempts[0].ok, Some(false));
    let mut kinds = Vec::new();
    journal::replay(&path, |e| kinds.push(e.kind.name())).unwrap();
    assert!(
        kinds.contains(&"action_interrupted"),
        "journaled: {kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_restart_of_a_target_still_down_is_retried_by_policy() {
    let fleet = common::Fleet::start().await;
    let [target, signature, playbook, step] = CRASH;
    fleet.break_directly(target, "CRASH").await;
    fleet.journal_killed_mid_action(target, signature, playbook, step);
    let (_books_dir, books) = crash_playbook(1);
    let mut run = fleet.engine(|_, settings| settings.playbooks = books);
    let retry = run
        .wait_for(SECS(8), "the retry", |k| {
            matches!(
                k,
                EventKind::ActionStarted { .. } | EventKind::IncidentEscalated { .. }
            )
        })
        .await;
    assert!(
        matches!(retry.kind, EventKind::ActionStarted { attempt: 2, .. }),
        "{}",
        run.transcript()
    );
    run.resolved(retry.kind.incident_id().unwrap()).await;
    assert_eq!(
        run.health(target).await,
        Some(200),
        "the retried restart fixed it"
    );
    assert!(run.seen_kind("incident_escalated").is_empty());
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_cut_off_by_a_crash_is_journaled_even_if_its_playbook_is_gone() {
    let fleet = common::Fleet::start().await;
    let [target, signature, playbook, step] = CRASH;
    fleet.journal_killed_mid_action(target, signature, playbook, step);
    let empty = tempfile::tempdir().unwrap();
    let books = autoheal::playbook::Playbooks::load(Some(empty.path()), &[]).unwrap();
    let mut run = fleet.engine(|_, settings| settings.playbooks = books);
    let e = run
        .wait_for(SECS(5), "the interruption", |k| {
            !matches!(k, EventKind::EngineStarted { .. })
        })
        .await;
    assert!(
        matches!(&e.kind, EventKind::ActionInterrupted { step: s, attempt: 1, .. } if s == step),
        "{}",
        run.transcript()
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_engine_restarted_after_a_crash_retries_nothing() {
    let fleet = common::Fleet::start().await;
    let [target, signature, playbook, step] = CRASH;
    fleet.break_directly(target, "CRASH").await;
    fleet.journal_killed_mid_action(target, signature, playbook, step);
    let paused = Event {
        seq: 6,
        ts: autoheal::engine::now_ms(),
        kind: EventKind::AutomationPaused { by: "ops".into() },
    };
    let line = serde_json::to_string(&paused).unwrap() + "\n";
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(&fleet.journal)
        .unwrap();
    std::io::Write::write_all(&mut journal, line.as_bytes()).unwrap();
    let (_books_dir, books) = crash_playbook(1);
    let mut run = fleet.engine(|_, settings| settings.playbooks = books);
    let held = run
        .wait_for(SECS(8), "the retry's fate", |k| {
            matches!(
                k,
                EventKind::ActionStarted { .. } | EventKind::IncidentAnalyzed { .. }
            )
        })
        .await;
    assert!(
        matches!(
            &held.kind,
            EventKind::IncidentAnalyzed { decision: Decision::Suppressed, reason, .. }
                if reason.starts_with("automation paused")
        ),
        "{}",
        run.transcript()
    );
    assert_eq!(run.health(target).await, None, "nothing ran: still down");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_a_target_still_down_after_the_first_probe_goes_to_a_human() {
    let fleet = common::Fleet::start().await;
    let [target, signature, playbook, step] = CRASH;
    fleet.break_directly(target, "CRASH").await;
    fleet.journal_killed_mid_action(target, signature, playbook, step);
    let mut run = fleet.engine(|_, _| {});
    let e = run
        .wait_for(SECS(8), "the step's end", |k| {
            matches!(
                k,
                EventKind::StepFinished { .. } | EventKind::IncidentEscalated { .. }
            )
        })
        .await;
    // Its detail is what the first probe saw: the decision waited for it.
    match &e.kind {
        EventKind::StepFinished {
            ok: false, detail, ..
        } => assert!(
            detail.starts_with("still failing after a restart: CONNECTION_REFUSED"),
            "{detail}"
        ),
        other => panic!("{other:?}\n{}", run.transcript()),
    }
    run.wait_for(SECS(2), "escalation", |k| {
        matches!(k, EventKind::IncidentEscalated { .. })
    })
    .await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enormous_silences_and_cooldowns_hold_forever_and_the_engine_lives_on() {
    // Both reproduced a panic of the engine task before: a silence of 10^12 s
    // (the API's repro) and `cooldown: 1000000000h` at a second remediation.
    let mut run = common::demo(|policy, _| {
        policy.cooldown = SECS(1_000_000_000 * 3600);
    })
    .await;
    for duration in [SECS(1_000_000_000_000), SECS(u64::MAX), Duration::MAX] {
        run.send(Command::Silence {
            target: "edge-proxy".into(),
            duration,
            by: "x".into(),
        })
        .await;
        let e = run
            .wait_for(SECS(2), "the silence", |k| {
                matches!(k, EventKind::TargetSilenced { .. })
            })
            .await;
        let EventKind::TargetSilenced { until, .. } = e.kind else {
            unreachable!()
        };
        assert_eq!(
            until,
            jiff::Timestamp::MAX,
            "silenced until the end of time"
        );
    }
    run.break_directly("orders-db", "CRASH").await;
    let first = run.detected("orders-db", "CONNECTION_REFUSED").await;
    run.resolved(first).await;
    run.break_directly("orders-db", "CRASH").await;
    run.detected("orders-db", "CONNECTION_REFUSED").await;
    let e = run
        .wait_for(SECS(5), "analysis", |k| analyzed(k).is_some())
        .await;
    let (decision, reason) = analyzed(&e.kind).unwrap();
    assert_eq!(decision, Decision::ApprovalRequired);
    assert!(reason.starts_with("cooldown:"), "{reason}");
    // Still turning: a command is answered.
    run.send(Command::Pause { by: "x".into() }).await;
    run.wait_for(SECS(2), "pause", |k| {
        matches!(k, EventKind::AutomationPaused { .. })
    })
    .await;
    run.stop().await;
}
