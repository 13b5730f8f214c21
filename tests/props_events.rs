//! Property tests of the event fold and the journal: no sequence of events and
//! no bytes on disk can panic the engine or make it lose or misnumber a line.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use autoheal::engine::{Engine, Policy, Settings};
use autoheal::event::{
    Command, Decision, Event, EventKind, IncidentId, Registration, Severity, TargetSource,
};
use autoheal::journal;
use autoheal::playbook::Playbooks;
use autoheal::state::State;
use jiff::Timestamp;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---- generators -----------------------------------------------------------

/// Numbers that break arithmetic: the edges, small ones that collide, and any.
fn extreme_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => 0..4u64,
        1 => Just(u64::MAX),
        1 => Just(u64::MAX - 1),
        1 => Just(i64::MAX as u64),
        1 => any::<u64>(),
    ]
}

/// Times across jiff's whole range, to the millisecond (what a journal holds).
fn timestamp() -> impl Strategy<Value = Timestamp> {
    // MAX has nanoseconds beyond its last whole millisecond.
    let (min, max) = (
        Timestamp::MIN.as_millisecond(),
        Timestamp::MAX.as_second() * 1000,
    );
    let now = 1_700_000_000_000i64;
    prop_oneof![
        Just(min),
        Just(max),
        Just(0),
        min..=max,
        now - 10_000_000..now + 10_000_000,
    ]
    .prop_map(|ms| Timestamp::from_millisecond(ms).expect("in range"))
}

/// A few real names (so events meet the same target or incident) and hostile ones.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["orders-db", "web", "restart", "DB_TIMEOUT", ""])
            .prop_map(String::from),
        2 => ".{0,16}",
        1 => Just("../../../etc/passwd".to_string()),
        1 => Just("-rf".to_string()),
        1 => "[\\x00-\\x1f\\x7f\u{2028}\u{feff}]{1,6}",
        1 => Just("x".repeat(70_000)),
    ]
}

fn incident_id() -> impl Strategy<Value = IncidentId> {
    extreme_u64().prop_map(IncidentId)
}

fn severity() -> impl Strategy<Value = Severity> {
    prop::sample::select(vec![
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ])
}

fn decision() -> impl Strategy<Value = Decision> {
    prop::sample::select(vec![
        Decision::Auto,
        Decision::ApprovalRequired,
        Decision::Monitor,
        Decision::Suppressed,
    ])
}

/// Every `EventKind`, with fields at their extremes. Confidence stays finite
/// (JSON cannot hold NaN) and short: serde_json reads back some 17-digit
/// floats one ulp off, which is harmless and not what these tests are about.
fn kind() -> impl Strategy<Value = EventKind> {
    let confidence = prop_oneof![
        (0..=1000u32).prop_map(|n| f64::from(n) / 1000.0),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(-1.0),
    ];
    let attempt = prop_oneof![0..3u32, Just(u32::MAX)];
    prop_oneof![
        (
            text(),
            vec(text(), 0..3),
            vec(text(), 0..3),
            any::<bool>(),
            vec((text(), vec(text(), 0..2)), 0..2)
        )
            .prop_map(|(version, targets, playbooks, dry_run, chaos)| {
                EventKind::EngineStarted {
                    version,
                    targets,
                    playbooks,
                    dry_run,
                    chaos: chaos.into_iter().collect::<BTreeMap<_, _>>(),
                }
            }),
        text().prop_map(|reason| EventKind::EngineStopped { reason }),
        (text(), text(), text()).prop_map(|(target, signature, detail)| EventKind::ProbeFailed {
            target,
            signature,
            detail
        }),
        text().prop_map(|target| EventKind::ProbeRecovered { target }),
        (
            incident_id(),
            text(),
            text(),
            severity(),
            timestamp(),
            any::<bool>(),
            (
                text(),
                proptest::option::of(text()),
                proptest::option::of(text())
            ),
        )
            .prop_map(
                |(incident_id, target, signature, severity, started_at, chaos, report)| {
                    let (trace_id, reported_by, text) = report;
                    EventKind::IncidentDetected {
                        incident_id,
                        target,
                        signature,
                        severity,
                        started_at,
                        chaos,
                        trace_id,
                        reported_by,
                        text,
                    }
                }
            ),
        (
            incident_id(),
            prop::option::of(text()),
            prop::option::of(text()),
            confidence.clone(),
            decision(),
            text(),
            prop::option::of(text()),
            any::<bool>()
        )
            .prop_map(
                |(incident_id, playbook, step, confidence, decision, reason, action, critical)| {
                    EventKind::IncidentAnalyzed {
                        incident_id,
                        playbook,
                        step,
                        confidence,
                        decision,
                        reason,
                        action,
                        critical,
                    }
                }
            ),
        (incident_id(), text(), text(), text(), attempt.clone()).prop_map(
            |(incident_id, playbook, step, action, attempt)| EventKind::ActionStarted {
                term: None,
                incident_id,
                playbook,
                step,
                action,
                attempt,
            }
        ),
        (incident_id(), text(), text(), text(), attempt.clone()).prop_map(
            |(incident_id, playbook, step, action, attempt)| EventKind::ActionInterrupted {
                incident_id,
                playbook,
                step,
                action,
                attempt,
            }
        ),
        (
            incident_id(),
            text(),
            text(),
            attempt,
            any::<bool>(),
            extreme_u64(),
            text()
        )
            .prop_map(
                |(incident_id, playbook, step, attempt, ok, duration_ms, output)| {
                    EventKind::ActionFinished {
                        incident_id,
                        playbook,
                        action: step.clone(),
                        step,
                        attempt,
                        ok,
                        duration_ms,
                        output,
                    }
                }
            ),
        (incident_id(), text(), text(), any::<bool>(), text()).prop_map(
            |(incident_id, playbook, step, ok, detail)| EventKind::StepFinished {
                incident_id,
                playbook,
                step,
                ok,
                detail,
            }
        ),
        (incident_id(), extreme_u64(), extreme_u64()).prop_map(
            |(incident_id, time_to_detect_ms, time_to_resolve_ms)| EventKind::IncidentResolved {
                incident_id,
                time_to_detect_ms,
                time_to_resolve_ms,
            }
        ),
        (incident_id(), text()).prop_map(|(incident_id, reason)| EventKind::IncidentEscalated {
            incident_id,
            reason
        }),
        (incident_id(), text(), prop::option::of(text())).prop_map(|(incident_id, by, analyst)| {
            EventKind::ApprovalGranted {
                incident_id,
                by,
                analyst,
            }
        }),
        (incident_id(), text())
            .prop_map(|(incident_id, by)| EventKind::ApprovalRejected { incident_id, by }),
        (incident_id(), prop::option::of(text()), text()).prop_map(|(incident_id, step, by)| {
            EventKind::IncidentRetried {
                incident_id,
                step,
                by,
            }
        }),
        (incident_id(), text())
            .prop_map(|(incident_id, by)| EventKind::IncidentAcknowledged { incident_id, by }),
        (incident_id(), text(), text()).prop_map(|(incident_id, note, by)| {
            EventKind::IncidentClosed {
                incident_id,
                note,
                by,
            }
        }),
        (text(), text()).prop_map(|(target, fault)| EventKind::ChaosInjected { target, fault }),
        text().prop_map(|by| EventKind::AutomationPaused { by }),
        text().prop_map(|by| EventKind::AutomationResumed { by }),
        (text(), timestamp(), text()).prop_map(|(target, until, by)| EventKind::TargetSilenced {
            target,
            until,
            by
        }),
        (text(), text()).prop_map(|(target, by)| EventKind::TargetUnsilenced { target, by }),
        (text(), prop::collection::vec(text(), 0..3), timestamp()).prop_map(
            |(window, targets, until)| EventKind::MaintenanceStarted {
                window,
                targets,
                until
            }
        ),
        text().prop_map(|window| EventKind::MaintenanceEnded { window }),
        (text(), prop::option::of(incident_id()), text()).prop_map(|(url, incident_id, error)| {
            EventKind::NotificationFailed {
                url,
                incident_id,
                error,
            }
        }),
        registration().prop_map(EventKind::TargetRegistered),
        (text(), text()).prop_map(|(target, by)| EventKind::TargetDeregistered { target, by }),
        (
            incident_id(),
            text(),
            prop::option::of(text()),
            confidence,
            text(),
            prop::option::of(text()),
            any::<bool>(),
        )
            .prop_map(
                |(incident_id, model, step, confidence, reason, action, queued)| {
                    EventKind::AnalystProposed {
                        incident_id,
                        model,
                        decision: autoheal::event::AnalystDecision::Remediate,
                        playbook: step.clone(),
                        step,
                        confidence,
                        reason,
                        action,
                        queued,
                    }
                }
            ),
        (incident_id(), text(), text()).prop_map(|(incident_id, model, error)| {
            EventKind::AnalystFailed {
                incident_id,
                model,
                error,
            }
        }),
    ]
}

fn registration() -> impl Strategy<Value = Registration> {
    let source = prop_oneof![
        Just(TargetSource::Api),
        Just(TargetSource::Intake),
        Just(TargetSource::Config),
    ];
    let url = prop_oneof![Just("http://127.0.0.1:9/health".to_string()), text()];
    (
        text(),
        source,
        prop::option::of(url),
        prop::option::of(text()),
        any::<bool>(),
        proptest::collection::btree_map(text(), text(), 0..3),
        prop::option::of(text()),
        text(),
    )
        .prop_map(
            |(target, source, health_url, display_name, critical, labels, webhook_url, by)| {
                Registration {
                    target,
                    source,
                    health_url,
                    display_name,
                    critical,
                    labels,
                    webhook_url,
                    by,
                }
            },
        )
}

fn event() -> impl Strategy<Value = Event> {
    (extreme_u64(), timestamp(), kind()).prop_map(|(seq, ts, kind)| Event { seq, ts, kind })
}

fn line(event: &Event) -> String {
    serde_json::to_string(event).expect("an event serializes")
}

// ---- State::apply ---------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// Any events in any order fold without a panic, into a state that still
    /// serializes for `/api/state` and whose counters agree with its incidents.
    #[test]
    fn state_apply_never_panics(events in vec(event(), 0..40)) {
        let mut state = State::default();
        for event in &events {
            state.apply(event);
        }
        prop_assert!(serde_json::to_string(&state).is_ok());
        prop_assert!(state.incidents.len() <= state.counts.detected);
        prop_assert!(state.counts.resolved <= state.counts.detected);
        prop_assert_eq!(state.ttd_ms.len(), state.counts.resolved);
        // Only incidents a fix resolved count in time to resolve (an action may
        // still finish ok after its incident resolved: it counts nothing then).
        let fixed = state
            .incidents
            .values()
            .filter(|i| i.resolved_at.is_some() && i.attempts.iter().any(|a| a.ok == Some(true)))
            .count();
        prop_assert!(state.ttr_ms.len() <= fixed);
    }

    /// What the engine writes, it reads back: every event survives its journal line.
    #[test]
    fn every_event_survives_its_journal_line(event in event()) {
        let text = line(&event);
        let back: Event = serde_json::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(back, event);
    }
}

// ---- replay of damaged journals -------------------------------------------

/// One line of a journal as written to disk, before any damage.
#[derive(Debug, Clone)]
enum Piece {
    Valid(Event),
    /// A valid line, damaged.
    Damaged(Event, Damage),
    /// Anything at all, newlines included.
    Bytes(Vec<u8>),
    Blank(String),
}

#[derive(Debug, Clone)]
enum Damage {
    /// Cut at this fraction of the line (a crash mid-write).
    Truncate(f64),
    /// Flip bit `bit` of the byte at this fraction.
    BitFlip(f64, u8),
    /// A newline in the middle (splits the line in two).
    Newline(f64),
    /// The seq becomes a number no u64 holds.
    HugeSeq,
}

fn piece() -> impl Strategy<Value = Piece> {
    let damage = prop_oneof![
        (0.0..1.0f64).prop_map(Damage::Truncate),
        (0.0..1.0f64, 0..8u8).prop_map(|(at, bit)| Damage::BitFlip(at, bit)),
        (0.0..1.0f64).prop_map(Damage::Newline),
        Just(Damage::HugeSeq),
    ];
    prop_oneof![
        4 => event().prop_map(Piece::Valid),
        2 => (event(), damage).prop_map(|(e, d)| Piece::Damaged(e, d)),
        1 => vec(any::<u8>(), 0..64).prop_map(Piece::Bytes),
        1 => "[ \t\r]{0,3}".prop_map(Piece::Blank),
    ]
}

fn render(piece: &Piece) -> Vec<u8> {
    let at = |len: usize, f: f64| ((len as f64 * f) as usize).min(len.saturating_sub(1));
    match piece {
        Piece::Valid(e) => line(e).into_bytes(),
        Piece::Damaged(e, damage) => {
            let mut bytes = line(e).into_bytes();
            match *damage {
                Damage::Truncate(f) => bytes.truncate(at(bytes.len(), f)),
                Damage::BitFlip(f, bit) => {
                    let i = at(bytes.len(), f);
                    bytes[i] ^= 1 << bit;
                }
                Damage::Newline(f) => bytes.insert(at(bytes.len(), f), b'\n'),
                Damage::HugeSeq => {
                    let text = String::from_utf8(bytes).expect("json is utf-8");
                    let huge = text.replacen(
                        &format!("\"seq\":{}", e.seq),
                        "\"seq\":340282366920938463463374607431768211456",
                        1,
                    );
                    bytes = huge.into_bytes();
                }
            }
            bytes
        }
        Piece::Bytes(b) => b.clone(),
        Piece::Blank(s) => s.clone().into_bytes(),
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// Replaying any bytes returns Ok; every line that holds an event is delivered,
    /// in order; every other non-blank line is reported with its line number.
    #[test]
    fn replay_skips_damaged_lines_and_delivers_the_rest(
        pieces in vec(piece(), 0..24),
        final_newline in any::<bool>(),
    ) {
        let mut bytes = pieces.iter().map(render).collect::<Vec<_>>().join(&b'\n');
        if final_newline && !bytes.is_empty() {
            bytes.push(b'\n');
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, &bytes).unwrap();

        // What a reader must find, line by line (1-based, split on '\n' only).
        let (mut want_events, mut want_skipped) = (Vec::new(), Vec::new());
        let text_lines = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        if !bytes.is_empty() {
            for (i, l) in text_lines.split(|b| *b == b'\n').enumerate() {
                if l.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Event>(l) {
                    Ok(e) => want_events.push(e),
                    Err(_) => want_skipped.push(i + 1),
                }
            }
        }
        // Every undamaged line is among them, in the order written.
        let valid: Vec<&Event> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Valid(e) => Some(e),
                _ => None,
            })
            .collect();
        let mut got = Vec::new();
        let skipped = journal::replay(&path, |e| got.push(e))
            .map_err(|e| TestCaseError::fail(format!("replay failed: {e}")))?;
        let mut rest = got.iter();
        for v in valid {
            prop_assert!(rest.any(|g| g == v), "undamaged line lost or out of order: {:?}", v);
        }
        prop_assert_eq!(got, want_events);
        prop_assert_eq!(skipped.iter().map(|s| s.line).collect::<Vec<_>>(), want_skipped);
        prop_assert!(skipped.iter().all(|s| !s.reason.is_empty()));
    }
}

// ---- numbering after a replay (issue 7, item 8) ---------------------------

/// A journal of plausible times whose seqs and incident ids (`Some` makes the
/// line an `incident_detected`) are out of order and repeated.
fn journal_of(entries: Vec<(u64, Option<u64>)>) -> Vec<Event> {
    let at = Timestamp::from_second(1_700_000_000).unwrap();
    entries
        .into_iter()
        .map(|(seq, id)| Event {
            seq,
            ts: at,
            kind: match id {
                Some(id) => EventKind::IncidentDetected {
                    incident_id: IncidentId(id),
                    target: "orders-db".into(),
                    signature: format!("OLD{id}"),
                    severity: Severity::Low,
                    started_at: at,
                    chaos: false,
                    trace_id: String::new(),
                    reported_by: None,
                    text: None,
                },
                None => EventKind::ChaosInjected {
                    target: "orders-db".into(),
                    fault: "X".into(),
                },
            },
        })
        .collect()
}

fn write_journal(dir: &Path, events: &[Event]) -> std::path::PathBuf {
    let path = dir.join("journal.jsonl");
    let text: String = events.iter().map(|e| line(e) + "\n").collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// A passive target and no playbook: an ingested failure opens an incident
/// and escalates, nothing is ever executed.
fn settings(journal: &Path) -> Settings {
    let config = "targets:\n  - name: orders-db\n    passive: {}\n";
    let (_, targets) = autoheal::config::Config::parse(Path::new("t.yaml"), config).unwrap();
    Settings {
        targets,
        playbooks: Playbooks::new(Vec::new()),
        policy: Policy::default(),
        dry_run: false,
        journal: Some(journal.to_path_buf()),
        registry: Default::default(),
    }
}

/// Starts an engine on `journal`, reports a new failure, and returns every
/// event up to its `incident_detected`.
async fn events_after_restart(journal: &Path) -> Result<Vec<Event>, TestCaseError> {
    let engine =
        Engine::new(settings(journal)).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    let mut events = engine.subscribe();
    let handle = engine.spawn();
    handle
        .send(Command::Ingest {
            source: "test".into(),
            target: "orders-db".into(),
            text: "NEW".into(),
            severity: None,
            detail: String::new(),
            labels: Default::default(),
            firing: true,
            trace_id: None,
            started_at: None,
        })
        .await;
    let mut new = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .map_err(|_| TestCaseError::fail(format!("no incident_detected; saw {new:?}")))?
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let done = matches!(e.kind, EventKind::IncidentDetected { .. });
        new.push(e);
        if done {
            break;
        }
    }
    handle
        .shutdown("test over")
        .await
        .expect("engine stops cleanly");
    Ok(new)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(config(48))]

    /// After a journal in any order, new seqs and the next incident id are
    /// above the largest ever written, never taken from the last line.
    #[test]
    fn numbering_follows_the_largest_seq_and_id(
        entries in vec((0..1000u64, prop::option::of(0..1000u64)), 1..12),
    ) {
        let events = journal_of(entries);
        let dir = tempfile::tempdir().unwrap();
        let path = write_journal(dir.path(), &events);
        let max_seq = events.iter().map(|e| e.seq).max().unwrap();
        let max_id = events.iter().filter_map(|e| e.kind.incident_id()).max();

        let new = runtime().block_on(events_after_restart(&path))?;
        let seqs: Vec<u64> = new.iter().map(|e| e.seq).collect();
        prop_assert!(seqs[0] > max_seq, "new seqs {:?} reuse one at or below {}", seqs, max_seq);
        prop_assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "new seqs not consecutive: {:?}", seqs);
        let detected = new.last().and_then(|e| e.kind.incident_id()).unwrap();
        if let Some(max_id) = max_id {
            prop_assert!(detected > max_id, "new incident {} not above {}", detected, max_id);
        }
    }

    /// A seq or incident id at `u64::MAX` cannot grow: the engine refuses to
    /// start on that journal instead of wrapping.
    #[test]
    fn a_seq_or_id_that_cannot_grow_stops_the_start(
        mut entries in vec((0..1000u64, prop::option::of(0..1000u64)), 0..6),
        at in any::<prop::sample::Index>(),
        seq_at_max in any::<bool>(),
    ) {
        let stuck = if seq_at_max { (u64::MAX, None) } else { (1, Some(u64::MAX)) };
        entries.insert(at.index(entries.len() + 1), stuck);
        let dir = tempfile::tempdir().unwrap();
        let path = write_journal(dir.path(), &journal_of(entries));
        prop_assert!(
            Engine::new(settings(&path)).is_err(),
            "the engine started on a journal whose {} is u64::MAX",
            if seq_at_max { "seq" } else { "incident id" }
        );
    }
}
