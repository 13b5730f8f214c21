//! The fold's memory is bounded however long the history (open incidents, the
//! last `KEEP_CLOSED` closed ones, the last `KEEP_SAMPLES` figures, a capped
//! timeline) while its counts stay exact, and an incident that left memory is
//! read back from the journal, through the API, as it was.

mod common;
#[allow(unused_macros)]
mod frames;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use autoheal::api::Api;
use autoheal::engine::Engine;
use autoheal::event::{Decision, Event, EventKind, IncidentId, Severity};
use autoheal::journal::{Journal, Retention, Rotate};
use autoheal::metrics;
use autoheal::state::{KEEP_CLOSED, KEEP_SAMPLES, State, TIMELINE_HEAD, TIMELINE_TAIL};
use jiff::Timestamp;
use proptest::collection::vec;
use proptest::prelude::*;

/// A history as the engine journals it: seqs from 1, a millisecond apart.
#[derive(Default)]
struct History {
    events: Vec<Event>,
}

/// How an incident ends.
#[derive(Clone, Copy, PartialEq, Debug)]
enum End {
    Fixed,
    ByHand,
}

impl History {
    fn push(&mut self, kind: EventKind) -> u64 {
        let seq = self.events.len() as u64 + 1;
        let ts = Timestamp::from_millisecond(1_700_000_000_000 + seq as i64 * 10).unwrap();
        self.events.push(Event { seq, ts, kind });
        seq
    }

    /// Detected and remediated: an action with output that works (or fails).
    fn open(&mut self, id: u64, fix_works: bool) {
        let incident_id = IncidentId(id);
        let ts = Timestamp::from_millisecond(1_700_000_000_000).unwrap();
        self.push(EventKind::IncidentDetected {
            incident_id,
            target: format!("svc-{}", id % 40),
            // One open incident per (target, signature): each its own.
            signature: format!("FAULT_{id}"),
            severity: Severity::High,
            started_at: ts,
            chaos: id.is_multiple_of(3),
            trace_id: format!("{id:032x}"),
            reported_by: None,
            text: Some(format!("query failed after {id} ms")),
        });
        self.push(EventKind::IncidentAnalyzed {
            incident_id,
            playbook: Some("db".into()),
            step: Some("restart".into()),
            confidence: 0.93,
            decision: Decision::Auto,
            reason: "confidence 0.93 meets 0.90".into(),
            action: Some(format!("systemctl restart svc-{}", id % 40)),
            critical: false,
        });
        self.push(EventKind::ActionStarted {
            incident_id,
            playbook: "db".into(),
            step: "restart".into(),
            action: "systemctl restart".into(),
            attempt: 1,
            term: None,
        });
        self.push(EventKind::ActionFinished {
            incident_id,
            playbook: "db".into(),
            step: "restart".into(),
            action: "systemctl restart".into(),
            attempt: 1,
            ok: fix_works,
            duration_ms: 40 + id % 7,
            output: "x".repeat(200),
        });
        if !fix_works {
            self.push(EventKind::IncidentEscalated {
                incident_id,
                reason: "no step left".into(),
            });
        }
    }

    fn end(&mut self, id: u64, how: End) -> u64 {
        let incident_id = IncidentId(id);
        match how {
            End::Fixed => self.push(EventKind::IncidentResolved {
                incident_id,
                time_to_detect_ms: id % 997,
                time_to_resolve_ms: 1000 + id,
            }),
            End::ByHand => self.push(EventKind::IncidentClosed {
                incident_id,
                note: format!("done by hand {id}"),
                by: "dave".into(),
            }),
        }
    }

    fn ack(&mut self, id: u64) -> u64 {
        self.push(EventKind::IncidentAcknowledged {
            incident_id: IncidentId(id),
            by: "erin".into(),
        })
    }

    fn fold(&self) -> State {
        let mut state = State::default();
        for e in &self.events {
            state.apply(e);
        }
        state
    }
}

/// Checks what must hold of any fold, bounded or not.
fn assert_bounded(state: &State) {
    assert!(
        state.incidents.len() <= state.open_count() + KEEP_CLOSED,
        "{} incidents in memory, {} open",
        state.incidents.len(),
        state.open_count()
    );
    assert_eq!(state.open_incidents().count(), state.open_count());
    assert!(state.ttd_ms.len() <= KEEP_SAMPLES);
    assert!(state.ttr_ms.len() <= KEEP_SAMPLES);
    for inc in state.incidents.values() {
        assert!(inc.timeline.len() <= TIMELINE_HEAD + TIMELINE_TAIL);
    }
}

#[test]
fn twenty_thousand_incidents_fold_into_bounded_memory_with_exact_counts() {
    const N: u64 = 20_000;
    let mut h = History::default();
    let mut open: VecDeque<u64> = VecDeque::new();
    let mut closed_order = Vec::new();
    let (mut resolved, mut by_hand, mut escalated, mut fixed_ttr) = (0, 0, 0, Vec::new());
    let mut ttd = Vec::new();
    let flapping = 7;
    let mut flaps = 0u64;
    for id in 1..=N {
        let works = !id.is_multiple_of(11);
        h.open(id, works);
        escalated += usize::from(!works);
        open.push_back(id);
        // A few stay open for ever; the rest end three incidents later.
        while open.len() > 3 {
            let done = open.pop_front().unwrap();
            if done.is_multiple_of(1000) || done == flapping {
                continue;
            }
            let how = if done.is_multiple_of(5) {
                End::ByHand
            } else {
                End::Fixed
            };
            h.end(done, how);
            closed_order.push(done);
            match how {
                End::ByHand => by_hand += 1,
                End::Fixed => {
                    resolved += 1;
                    ttd.push(done % 997);
                    if !done.is_multiple_of(11) {
                        fixed_ttr.push(1000 + done);
                    }
                }
            }
        }
        // A pathological incident: acknowledged over and over for the whole history.
        if id.is_multiple_of(3) && id > flapping {
            h.ack(flapping);
            flaps += 1;
        }
    }
    let state = h.fold();
    assert_bounded(&state);

    assert_eq!(state.counts.detected, N as usize);
    assert_eq!(state.counts.resolved, resolved);
    assert_eq!(state.counts.closed, by_hand);
    assert_eq!(state.counts.escalated, escalated);
    assert_eq!(
        state.counts.actions_ok + state.counts.actions_failed,
        N as usize
    );
    assert_eq!(state.incidents.len() + state.archived.len(), N as usize);
    assert_eq!(state.next_incident_id(), Some(IncidentId(N + 1)));

    // Percentiles are over the most recent samples, in order.
    let tail = |all: &[u64]| all[all.len().saturating_sub(KEEP_SAMPLES)..].to_vec();
    assert_eq!(state.ttd_ms.iter().copied().collect::<Vec<_>>(), tail(&ttd));
    assert_eq!(
        state.ttr_ms.iter().copied().collect::<Vec<_>>(),
        tail(&fixed_ttr)
    );

    // Exactly the most recently closed stay whole; every open one does.
    let kept: BTreeSet<u64> = state
        .incidents
        .values()
        .filter(|i| !i.status.is_open())
        .map(|i| i.id.0)
        .collect();
    let recent: BTreeSet<u64> = closed_order[closed_order.len() - KEEP_CLOSED..]
        .iter()
        .copied()
        .collect();
    assert_eq!(kept, recent);

    // Every archived incident is found again where the journal holds it.
    let mut spans: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for e in &h.events {
        if let Some(id) = e.kind.incident_id() {
            let span = spans.entry(id.0).or_insert((e.seq, e.seq));
            span.1 = e.seq;
        }
    }
    for id in [1, 2, 500, 12_345] {
        let span = state.archived.get(IncidentId(id)).expect("archived");
        assert_eq!((span.first_seq, span.last_seq), spans[&id], "#{id}");
    }

    // The flapping incident keeps its first and last events and counts the rest.
    let inc = &state.incidents[&IncidentId(flapping)];
    assert!(inc.status.is_open());
    let events = 4 + flaps;
    assert_eq!(inc.timeline.len(), TIMELINE_HEAD + TIMELINE_TAIL);
    assert_eq!(
        inc.timeline_elided,
        events - (TIMELINE_HEAD + TIMELINE_TAIL) as u64
    );
    assert!(matches!(
        inc.timeline[0].kind,
        EventKind::IncidentDetected { .. }
    ));
    assert_eq!(inc.timeline.last().unwrap().seq, spans[&flapping].1);
}

/// One step of a random history: open a new incident, end the `n`th open one
/// (fixed or by hand), or write late to the `n`th incident ever detected.
#[derive(Clone, Debug)]
enum Step {
    Open,
    End(usize, End),
    Late(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => Just(Step::Open),
        4 => (any::<usize>(), prop_oneof![Just(End::Fixed), Just(End::ByHand)])
            .prop_map(|(n, how)| Step::End(n, how)),
        1 => any::<usize>().prop_map(Step::Late),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the interleaving, memory holds the open and the last
    /// `KEEP_CLOSED` closed incidents, the rest are archived with the seqs of
    /// their first and last events, and nothing detected is lost.
    #[test]
    fn any_interleaving_stays_bounded_and_loses_nothing(steps in vec(step(), 3000..4000)) {
        let mut h = History::default();
        let (mut open, mut closed, mut next) = (Vec::new(), Vec::new(), 1u64);
        let mut spans: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for s in steps {
            match s {
                Step::Open => {
                    let first = h.events.len() as u64 + 1;
                    h.open(next, true);
                    spans.insert(next, (first, h.events.len() as u64));
                    open.push(next);
                    next += 1;
                }
                Step::End(_, _) if open.is_empty() => {}
                Step::End(n, how) => {
                    let id = open.remove(n % open.len());
                    let seq = h.end(id, how);
                    spans.get_mut(&id).unwrap().1 = seq;
                    closed.push(id);
                }
                Step::Late(_) if next == 1 => {}
                Step::Late(n) => {
                    let id = 1 + (n as u64 % (next - 1));
                    let seq = h.ack(id);
                    spans.get_mut(&id).unwrap().1 = seq;
                }
            }
        }
        let state = h.fold();
        assert_bounded(&state);
        prop_assert_eq!(state.counts.detected as u64, next - 1);
        prop_assert_eq!(state.counts.resolved + state.counts.closed, closed.len());
        prop_assert_eq!(state.open_count(), open.len());
        let kept: BTreeSet<u64> = state.incidents.keys().map(|i| i.0).collect();
        let want: BTreeSet<u64> = open
            .iter()
            .chain(closed.iter().rev().take(KEEP_CLOSED))
            .copied()
            .collect();
        prop_assert_eq!(kept, want);
        for (id, span) in &spans {
            match state.archived.get(IncidentId(*id)) {
                Some(s) => prop_assert_eq!((s.first_seq, s.last_seq), *span),
                None => prop_assert!(state.incidents.contains_key(&IncidentId(*id))),
            }
        }
    }
}

/// Passive targets: the engine started over this history has nothing to probe or fix.
const CONFIG: &str = "targets:\n  - name: svc-0\n    passive: {}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_that_left_memory_reads_back_from_the_journal_as_it_was() {
    // A history long enough that the first incidents leave memory, journaled
    // as the engine does, rotated into compressed segments on the way.
    let mut h = History::default();
    let total = KEEP_CLOSED as u64 + 200;
    for id in 1..=total {
        h.open(id, id != 2);
        if id > 1 {
            h.end(id - 1, if id == 4 { End::ByHand } else { End::Fixed });
        }
    }
    // Late news about an old incident, long after it left memory.
    h.ack(2);
    let dir = tempfile::tempdir().unwrap();
    let path = common::journal_in(dir.path());
    {
        let rotate = Rotate {
            max_size: 256 << 10,
            ..Rotate::default()
        };
        let retention = Retention {
            keep_age: None,
            keep_size: None,
        };
        let mut journal = Journal::open_with(&path, rotate, retention).unwrap();
        for e in &h.events {
            journal.append(e, || None).unwrap();
        }
        journal.settle();
        journal.sync().unwrap();
    }
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".gz")
        })
        .count();
    assert!(segments >= 2, "the history spans compressed segments");

    // What a fold that forgets nothing gives for incidents 2 and 3: nothing
    // else closes in it, so nothing leaves its memory.
    let mut unbounded = State::default();
    for e in &h.events {
        if e.kind.incident_id().is_some_and(|id| id.0 <= 4) {
            unbounded.apply(e);
        }
    }

    let settings = common::settings(dir.path(), CONFIG);
    let engine = Engine::new(settings).unwrap();
    assert!(engine.state().archived.get(IncidentId(2)).is_some());
    assert!(!engine.state().incidents.contains_key(&IncidentId(2)));
    let shared = metrics::spawn(engine.view(), engine.samples());
    let rig = common::Rig::spawn(engine, dir);
    let base = common::serve(Api {
        metrics: Some(shared),
        ..rig.api()
    })
    .await;
    let http = reqwest::Client::new();
    let get = |id: &str| http.get(format!("{base}/api/incidents/{id}")).send();

    for id in [2u64, 3, 4] {
        let response = get(&id.to_string()).await.unwrap();
        assert_eq!(response.status(), 200, "#{id}");
        let body: serde_json::Value = response.json().await.unwrap();
        let want = serde_json::to_value(&unbounded.incidents[&IncidentId(id)]).unwrap();
        assert_eq!(body, want, "#{id}");
    }
    // Escalated, then resolved, and acknowledged at the very end.
    let two: serde_json::Value = get("%232").await.unwrap().json().await.unwrap();
    assert_eq!(two["acknowledged_by"], "erin", "{two}");
    assert_eq!(two["timeline"].as_array().unwrap().len(), 7, "{two}");
    let three: serde_json::Value = get("3").await.unwrap().json().await.unwrap();
    assert_eq!(three["status"], "closed");
    assert_eq!(three["close_note"], "done by hand 3", "{three}");

    // One still in memory answers the same shape.
    let recent: serde_json::Value = get(&(total - 5).to_string())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&recent), keys(&two));

    let missing = get(&(total + 50).to_string()).await.unwrap();
    assert_eq!(missing.status(), 404);

    // Once retention has deleted its segments, the answer says so.
    for entry in std::fs::read_dir(rig.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".gz") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let gone = get("2").await.unwrap();
    assert_eq!(gone.status(), 410);
    let why = gone.text().await.unwrap();
    assert!(why.contains("retention has deleted"), "{why}");
    tokio::time::timeout(Duration::from_secs(5), rig.stop())
        .await
        .unwrap();
}

/// `/metrics`' time-to-resolve histogram counts every fix ever (Prometheus
/// needs it to only grow), though percentiles keep only the last samples.
#[test]
fn the_scraped_histogram_counts_every_fix_ever() {
    let n = KEEP_SAMPLES as u64 + 2_500;
    let mut h = History::default();
    for id in 1..=n {
        h.open(id, true);
        h.end(id, End::Fixed);
    }
    let state = h.fold();
    assert_eq!(state.ttr_ms.len(), KEEP_SAMPLES);
    let text = metrics::Metrics::of(state).render();
    let value = |series: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.parse::<f64>().ok())
    };
    // Times to resolve are 1000 + id ms: 1,001 ms to 13,500 ms.
    let count = "autoheal_time_to_resolve_seconds_count";
    assert_eq!(value(count), Some(n as f64), "{text}");
    let le = |bound: &str| format!("autoheal_time_to_resolve_seconds_bucket{{le=\"{bound}\"}}");
    assert_eq!(value(&le("1.0")), Some(0.0), "{text}");
    assert_eq!(value(&le("2.5")), Some(1_500.0), "{text}");
    assert_eq!(value(&le("10.0")), Some(9_000.0), "{text}");
    assert_eq!(value(&le("+Inf")), Some(n as f64), "{text}");
    // The gauge holds what is in memory; the counters hold every one.
    let gauge = "autoheal_incidents{status=\"resolved\",signature=\"FAULT_1\"}";
    assert_eq!(value(gauge), None, "{text}");
    assert_eq!(
        value("autoheal_incidents_resolved_total"),
        Some(n as f64),
        "{text}"
    );
    let sum: u64 = (1..=n).map(|id| 1000 + id).sum();
    let scraped = value("autoheal_time_to_resolve_seconds_sum").unwrap();
    assert!((scraped - sum as f64 / 1000.0).abs() < 1e-6, "{scraped}");
}

/// The console's detail view of an incident that left memory says where it
/// is (the API and the journal's seqs) instead of "no such incident"; one with
/// a capped timeline says how many events are not shown.
#[test]
fn the_console_says_where_an_old_incident_is() {
    use autoheal::tui::{Meta, Modal, Model, Theme};
    let mut h = History::default();
    for id in 1..=KEEP_CLOSED as u64 + 10 {
        h.open(id, true);
        h.end(id, End::Fixed);
    }
    let flapping = KEEP_CLOSED as u64 + 11;
    h.open(flapping, false);
    for _ in 0..500 {
        h.ack(flapping);
    }
    let mut model = Model::new(State::default(), Meta::default(), vec![Theme::dark()]);
    for e in &h.events {
        model.apply(e.clone());
    }
    let screen = |model: &mut Model, id: u64, scroll: usize| {
        model.ui.modals.push(Modal::Detail {
            incident: IncidentId(id),
            scroll,
        });
        let terminal = frames::render(model, 100, 40);
        model.ui.modals.pop();
        let buf = terminal.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let old = screen(&mut model, 2, 0);
    assert!(
        old.contains("older than the last 1000 closed incidents"),
        "{old}"
    );
    assert!(old.contains("GET /api/incidents/2"), "{old}");
    assert!(old.contains("6-10)"), "{old}");
    let never = screen(&mut model, 5_000, 0);
    assert!(never.contains("no such incident"), "{never}");
    let flaps = screen(&mut model, flapping, 20);
    assert!(flaps.contains("more events, not kept in memory"), "{flaps}");
}

/// The quit summary says how many incidents of the run already left memory.
#[test]
fn the_quit_summary_counts_what_left_memory() {
    let mut h = History::default();
    for id in 1..=KEEP_CLOSED as u64 + 30 {
        h.open(id, true);
        h.end(id, End::Fixed);
    }
    let state = h.fold();
    let summary = autoheal::report::summary(&state, 0);
    assert!(
        summary.starts_with("incidents 1000  resolved 1000"),
        "{summary}"
    );
    assert!(
        summary.contains("and 30 earlier incidents of this run, closed and no longer in memory"),
        "{summary}"
    );
    // A run that began after them does not count them.
    let later = autoheal::report::summary(&state, h.events.len() as u64 - 10);
    assert!(!later.contains("earlier incidents"), "{later}");
}
