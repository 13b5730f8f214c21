//! Snapshots (issue 10): a start from the snapshot and the journal after it
//! rebuilds exactly what a full replay does; a snapshot that cannot be trusted
//! is ignored with a warning naming it; the engine writes one at a clean stop
//! and every N events; retention keeps the journal after it.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autoheal::engine::Engine;
use autoheal::event::{Command, Decision, Event, EventKind, IncidentId, Severity};
use autoheal::journal::{self, Retention, Rotate, segment, snapshot};
use autoheal::state::State;
use jiff::Timestamp;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

// ---- generated histories --------------------------------------------------

/// What happens to one of a few incidents and targets: enough overlap that
/// incidents open, act, resolve, close and reopen across the snapshot point.
fn kind() -> impl Strategy<Value = EventKind> {
    let id = (1..6u64).prop_map(IncidentId);
    let target = prop::sample::select(vec!["orders-db", "web", "cache"]).prop_map(String::from);
    let signature = prop::sample::select(vec!["DB_TIMEOUT", "MEM_LEAK"]).prop_map(String::from);
    let step = prop::sample::select(vec!["restart", "failover"]).prop_map(String::from);
    let severity = prop::sample::select(vec![Severity::Low, Severity::High]);
    let decision = prop::sample::select(vec![
        Decision::Auto,
        Decision::ApprovalRequired,
        Decision::Monitor,
    ]);
    prop_oneof![
        (
            id.clone(),
            target.clone(),
            signature.clone(),
            severity,
            any::<bool>()
        )
            .prop_map(|(incident_id, target, signature, severity, chaos)| {
                EventKind::IncidentDetected {
                    incident_id,
                    target,
                    signature,
                    severity,
                    started_at: Timestamp::from_second(1_700_000_000).unwrap(),
                    chaos,
                    trace_id: String::new(),
                    reported_by: None,
                    text: None,
                }
            }),
        (id.clone(), step.clone(), 0.0..1.0f64, decision).prop_map(
            |(incident_id, step, confidence, decision)| EventKind::IncidentAnalyzed {
                incident_id,
                playbook: Some("db".into()),
                step: Some(step),
                confidence,
                decision,
                reason: "matched".into(),
                action: None,
                critical: false,
            }
        ),
        (id.clone(), step.clone()).prop_map(|(incident_id, step)| EventKind::ActionStarted {
            incident_id,
            playbook: "db".into(),
            step,
            action: "exec".into(),
            attempt: 1,
            term: None,
        }),
        (id.clone(), step.clone(), any::<bool>()).prop_map(|(incident_id, step, ok)| {
            EventKind::ActionFinished {
                incident_id,
                playbook: "db".into(),
                step,
                action: "exec".into(),
                attempt: 1,
                ok,
                duration_ms: 12,
                output: "done".into(),
            }
        }),
        (id.clone(), step, any::<bool>()).prop_map(|(incident_id, step, ok)| {
            EventKind::StepFinished {
                incident_id,
                playbook: "db".into(),
                step,
                ok,
                detail: String::new(),
            }
        }),
        id.clone()
            .prop_map(|incident_id| EventKind::IncidentResolved {
                incident_id,
                time_to_detect_ms: 5,
                time_to_resolve_ms: 900,
            }),
        id.clone()
            .prop_map(|incident_id| EventKind::IncidentEscalated {
                incident_id,
                reason: "no fix".into(),
            }),
        id.clone()
            .prop_map(|incident_id| EventKind::IncidentClosed {
                incident_id,
                note: "by hand".into(),
                by: "ops".into(),
            }),
        id.prop_map(|incident_id| EventKind::IncidentRetried {
            incident_id,
            step: None,
            by: "ops".into(),
        }),
        (target.clone(), signature).prop_map(|(target, signature)| EventKind::ProbeFailed {
            target,
            signature,
            detail: "timeout".into(),
        }),
        target.prop_map(|target| EventKind::ProbeRecovered { target }),
        Just(EventKind::AutomationPaused { by: "ops".into() }),
        Just(EventKind::AutomationResumed { by: "ops".into() }),
    ]
}

/// Events numbered from 1, a few seconds apart (policy windows are an hour).
fn history(kinds: Vec<EventKind>) -> Vec<Event> {
    let start = 1_700_000_000_000i64;
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event {
            seq: i as u64 + 1,
            ts: Timestamp::from_millisecond(start + i as i64 * 7_000).unwrap(),
            kind,
        })
        .collect()
}

fn lines(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect()
}

/// Writes `events` as a journal: the first `split` of them in a closed
/// segment, the rest in the live file.
fn write_journal(dir: &Path, events: &[Event], split: usize) -> PathBuf {
    let live = dir.join("journal.jsonl");
    let split = split.min(events.len());
    if split > 0 {
        let (first, last) = (events[0].seq, events[split - 1].seq);
        std::fs::write(
            segment::plain_path(&live, first, last),
            lines(&events[..split]),
        )
        .unwrap();
    }
    std::fs::write(&live, lines(&events[split..])).unwrap();
    live
}

/// What a full replay of the journal at `path` rebuilds.
fn full_replay(path: &Path) -> State {
    let mut state = State::default();
    journal::replay(path, |e| state.apply(&e)).unwrap();
    state
}

/// Writes the snapshot of the first `at` events of the journal at `path`.
fn snapshot_at(path: &Path, at: usize) -> State {
    snapshot_with(path, at, None)
}

fn snapshot_with(path: &Path, at: usize, position: Option<snapshot::Position>) -> State {
    let mut state = State::default();
    let mut n = 0;
    journal::replay(path, |e| {
        if n < at {
            state.apply(&e);
        }
        n += 1;
    })
    .unwrap();
    snapshot::write(path, &state, position).unwrap();
    state
}

/// Where the live file written by `write_journal` ends after event `at`, if it holds it.
fn position(events: &[Event], split: usize, at: usize) -> Option<snapshot::Position> {
    (at > split).then(|| snapshot::Position {
        live_first: events[split].seq,
        offset: lines(&events[split..at]).len() as u64,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_snapshot_and_the_tail_rebuild_what_a_full_replay_does(
        kinds in vec(kind(), 1..80),
        at in any::<prop::sample::Index>(),
        split in any::<prop::sample::Index>(),
        known in any::<bool>(),
        // A position that is off (a live file changed since) must not be trusted.
        off in prop_oneof![4 => Just(0i64), 1 => -3..3i64],
    ) {
        let events = history(kinds);
        let (at, split) = (at.index(events.len()) + 1, split.index(events.len() + 1));
        let dir = tempfile::tempdir().unwrap();
        let path = write_journal(dir.path(), &events, split);
        let position = position(&events, split, at).filter(|_| known).map(|p| snapshot::Position {
            offset: p.offset.saturating_add_signed(off),
            ..p
        });
        snapshot_with(&path, at, position);
        let restored = snapshot::restore(&path).unwrap();
        prop_assert_eq!(restored.snapshot_seq, Some(at as u64));
        prop_assert_eq!(restored.replayed, (events.len() - at) as u64);
        prop_assert_eq!(&restored.state, &full_replay(&path));
    }
}

// ---- snapshots that cannot be trusted ---------------------------------------

/// A captured log: what `Engine::new` warns about.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts an engine on the journal at `path` (without running it), with its log.
fn start(path: &Path) -> (Engine, String) {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let dir = path.parent().unwrap();
    let engine = tracing::subscriber::with_default(subscriber, || {
        Engine::new(autoheal::engine::Settings {
            journal: Some(path.to_path_buf()),
            ..common::settings(dir, "targets: []\n")
        })
        .unwrap()
    });
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    (engine, text)
}

/// A journal of 60 generated events with a good snapshot at 40.
fn journal_with_snapshot(dir: &Path) -> PathBuf {
    let runner = &mut proptest::test_runner::TestRunner::deterministic();
    let kinds = vec(kind(), 60).new_tree(runner).unwrap().current();
    let path = write_journal(dir, &history(kinds), 20);
    snapshot_at(&path, 40);
    path
}

fn assert_falls_back(path: &Path, why: &str) {
    let (engine, log) = start(path);
    let file = snapshot::path_for(path).display().to_string();
    assert!(
        log.contains("ignoring snapshot") && log.contains(&file) && log.contains(why),
        "want a warning naming {file} and `{why}`; log:\n{log}"
    );
    assert_eq!(engine.snapshot_seq(), None);
    let mut n = 0;
    journal::replay(path, |_| n += 1).unwrap();
    assert_eq!(engine.replayed_events(), n, "the whole journal");
    assert_eq!(*engine.state(), full_replay(path));
}

#[test]
fn a_good_snapshot_is_used_and_only_the_tail_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with_snapshot(dir.path());
    let (engine, log) = start(&path);
    assert!(!log.contains("snapshot"), "{log}");
    assert_eq!(engine.snapshot_seq(), Some(40));
    assert_eq!(engine.replayed_events(), 20);
    assert_eq!(*engine.state(), full_replay(&path));
}

#[test]
fn with_its_position_a_start_reads_only_the_live_file_after_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with_snapshot(dir.path());
    let mut events = Vec::new();
    journal::replay(&path, |e| events.push(e)).unwrap();
    snapshot_with(&path, 40, position(&events, 20, 40));
    // Lines before the snapshot's end are damaged now: a start that seeks
    // past them never sees them.
    // (Not the first: it names the live file.) The length stays the same.
    let text = std::fs::read_to_string(&path).unwrap();
    let damaged: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            1..=3 => l.replacen("\"kind\"", "\"kin!\"", 1),
            _ => l.to_string(),
        })
        .collect();
    std::fs::write(&path, damaged.join("\n") + "\n").unwrap();
    let (engine, _) = start(&path);
    assert_eq!(engine.snapshot_seq(), Some(40));
    assert_eq!(
        engine.skipped_lines(),
        0,
        "nothing before the snapshot was read"
    );
    assert_eq!(engine.replayed_events(), 20);
}

#[test]
fn a_torn_snapshot_falls_back_to_a_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with_snapshot(dir.path());
    let file = snapshot::path_for(&path);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    assert_falls_back(&path, "torn");
    // Cut inside the header line too.
    std::fs::write(&file, &bytes[..20]).unwrap();
    assert_falls_back(&path, "torn");
}

#[test]
fn a_snapshot_with_a_wrong_checksum_falls_back_to_a_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with_snapshot(dir.path());
    let file = snapshot::path_for(&path);
    let mut bytes = std::fs::read(&file).unwrap();
    // A digit of the body changes, its length does not.
    let at = bytes.len() - 10;
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&file, bytes).unwrap();
    assert_falls_back(&path, "checksum mismatch");
}

#[test]
fn an_old_format_snapshot_falls_back_to_a_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with_snapshot(dir.path());
    let file = snapshot::path_for(&path);
    let text = std::fs::read_to_string(&file).unwrap();
    let old = text.replacen(
        &format!("\"version\":{}", snapshot::VERSION),
        "\"version\":0",
        1,
    );
    assert_ne!(old, text);
    std::fs::write(&file, old).unwrap();
    assert_falls_back(&path, "version 0");
}

#[test]
fn a_snapshot_ahead_of_its_journal_falls_back_to_a_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with_snapshot(dir.path());
    // The journal is replaced by a younger one that never reached seq 40.
    let mut young = Vec::new();
    journal::replay(&path, |e| young.push(e)).unwrap();
    young.truncate(30);
    std::fs::remove_file(segment::plain_path(&path, 1, 20)).unwrap();
    std::fs::write(&path, lines(&young)).unwrap();
    assert_falls_back(&path, "holds no event 40");
}

// ---- the engine writes them -------------------------------------------------

fn passive(dir: &Path) -> autoheal::engine::Settings {
    common::settings(dir, "targets:\n  - name: checkout\n    passive: {}\n")
}

async fn pause_resume(rig: &common::Rig, times: usize) {
    for _ in 0..times {
        rig.send(Command::Pause { by: "test".into() }).await;
        rig.send(Command::Resume { by: "test".into() }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_writes_the_snapshot_the_next_start_uses() {
    let dir = tempfile::tempdir().unwrap();
    let rig = common::Rig::spawn(Engine::new(passive(dir.path())).unwrap(), dir);
    pause_resume(&rig, 10).await;
    let (state, path, dir) = rig.stop().await;
    assert!(snapshot::path_for(&path).exists());

    let engine = Engine::new(passive(dir.path())).unwrap();
    assert_eq!(engine.snapshot_seq(), Some(state.last_seq));
    assert_eq!(engine.replayed_events(), 0, "nothing after the snapshot");
    assert_eq!(*engine.state(), state);
    assert_eq!(*engine.state(), full_replay(&path));

    // The next run starts from it, and journals `engine_started` after it.
    let rig = common::Rig::spawn(engine, dir);
    pause_resume(&rig, 3).await;
    let (after, path, dir) = rig.stop().await;
    let engine = Engine::new(passive(dir.path())).unwrap();
    assert_eq!(engine.snapshot_seq(), Some(after.last_seq));
    assert_eq!(*engine.state(), full_replay(&path));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_writes_a_snapshot_every_n_events_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(passive(dir.path())).unwrap().snapshot_every(5);
    let rig = common::Rig::spawn(engine, dir);
    pause_resume(&rig, 5).await;
    let file = snapshot::path_for(&rig.journal);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !file.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Read while the engine still runs: a snapshot of a live engine.
    let running = snapshot::read(&rig.journal).unwrap().expect("a snapshot");
    assert!(running.last_seq >= 5, "{}", running.last_seq);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_journal_after_the_snapshot() {
    let line = serde_json::to_vec(&Event {
        seq: 1,
        ts: Timestamp::from_second(1_700_000_000).unwrap(),
        kind: EventKind::AutomationPaused { by: "test".into() },
    })
    .unwrap()
    .len() as u64;
    let rotate = Rotate {
        max_size: (line + 1) * 4,
        max_age: Duration::from_secs(86_400),
    };
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(passive(dir.path()))
        .unwrap()
        .journal_policy(rotate, Retention::ALL);
    let rig = common::Rig::spawn(engine, dir);
    pause_resume(&rig, 10).await;
    let (first, path, dir) = rig.stop().await;
    let covered = first.last_seq;

    // Keep as little as allowed: without the snapshot, every segment but the
    // newest could go (no incident needs any).
    let keep_little = Retention {
        keep_age: None,
        keep_size: Some(1),
    };
    let engine = Engine::new(passive(dir.path()))
        .unwrap()
        .journal_policy(rotate, keep_little)
        .snapshot_every(u64::MAX);
    assert_eq!(engine.snapshot_seq(), Some(covered));
    let rig = common::Rig::spawn(engine, dir);
    pause_resume(&rig, 10).await;
    let (second, path2, _dir) = rig.stop().await;
    assert_eq!(path, path2);

    let mut seqs = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        seqs.clear();
        journal::replay(&path, |e| seqs.push(e.seq)).unwrap();
        if seqs.first().is_some_and(|s| *s > 1) || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seqs.first().is_some_and(|s| *s > 1),
        "retention ran: {seqs:?}"
    );
    assert!(
        seqs.first().is_some_and(|s| *s <= covered),
        "the event at the snapshot is kept: {seqs:?}"
    );
    let want: Vec<u64> = (seqs[0]..=second.last_seq).collect();
    assert_eq!(seqs, want, "nothing after the snapshot lost");
}
