//! Start-up replay of a large journal, and the memory its state takes.
//! Run: `cargo bench --bench replay` (prints figures; not a test). `EVENTS=N` sets the size.

use jiff::Timestamp;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use autoheal::event::{Decision, Event, EventKind, IncidentId, Severity};
use autoheal::journal;
use autoheal::state::State;

/// Six events per incident, the shape of a real auto-fix.
fn incident(n: u64, seq: &mut u64, start: Timestamp) -> Vec<Event> {
    let id = IncidentId(n);
    let at = start + Duration::from_secs(n * 2);
    let (playbook, step) = ("demo-flush-db-pool".to_string(), "flush-pool".to_string());
    let target = ["orders-db", "edge-proxy", "payments-api"][n as usize % 3].to_string();
    let kinds = vec![
        EventKind::IncidentDetected {
            incident_id: id,
            target,
            signature: "DB_TIMEOUT".into(),
            severity: Severity::High,
            started_at: at,
            chaos: true,
            trace_id: String::new(),
            reported_by: None,
            text: None,
        },
        EventKind::IncidentAnalyzed {
            incident_id: id,
            playbook: Some(playbook.clone()),
            step: Some(step.clone()),
            confidence: 0.99,
            decision: Decision::Auto,
            reason: "confidence 0.99 >= 0.90".into(),
            action: None,
            critical: false,
        },
        EventKind::ActionStarted {
            incident_id: id,
            playbook: playbook.clone(),
            step: step.clone(),
            action: "http POST http://127.0.0.1:40000/admin/flush-pool".into(),
            attempt: 1,
            term: None,
        },
        EventKind::ActionFinished {
            incident_id: id,
            playbook: playbook.clone(),
            step: step.clone(),
            action: "http POST http://127.0.0.1:40000/admin/flush-pool".into(),
            attempt: 1,
            ok: true,
            duration_ms: 1,
            output: r#"HTTP 200 OK: {"action":"flush-pool","cleared":"DB_TIMEOUT"}"#.into(),
        },
        EventKind::StepFinished {
            incident_id: id,
            playbook,
            step,
            ok: true,
            detail: "healthy again".into(),
        },
        EventKind::IncidentResolved {
            incident_id: id,
            time_to_detect_ms: 480,
            time_to_resolve_ms: 482,
        },
    ];
    kinds
        .into_iter()
        .map(|kind| {
            *seq += 1;
            Event {
                seq: *seq,
                ts: at,
                kind,
            }
        })
        .collect()
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn main() {
    let events: u64 = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let start = Timestamp::from_second(1_800_000_000).unwrap();
    let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut seq = 0;
    for n in 1.. {
        for e in incident(n, &mut seq, start) {
            serde_json::to_writer(&mut out, &e).unwrap();
            out.write_all(b"\n").unwrap();
        }
        if seq >= events {
            break;
        }
    }
    out.flush().unwrap();
    drop(out);
    let size = std::fs::metadata(&path).unwrap().len() as f64 / (1 << 20) as f64;

    let before = rss_mib();
    let t = Instant::now();
    let mut state = State::default();
    let skipped = journal::replay(&path, |e| state.apply(&e)).unwrap();
    let took = t.elapsed();
    let after = rss_mib();
    assert!(skipped.is_empty());
    println!(
        "replayed {} events ({size:.0} MiB, {} incidents) in {took:.2?}; resident memory {before:.0} -> {after:.0} MiB",
        state.last_seq,
        state.incidents.len()
    );
    drop(state);
    rotated(dir.path(), &path);
}

/// The same journal rotated into gzipped segments of `SEGMENT_MIB` (default 16):
/// what a replay costs when most of the history is archived.
fn rotated(dir: &std::path::Path, whole: &std::path::Path) {
    let mib: u64 = std::env::var("SEGMENT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let live = dir.join("rotated").join("journal.jsonl");
    let rotate = journal::Rotate {
        max_size: mib << 20,
        max_age: Duration::from_secs(10 * 365 * 86_400),
    };
    let mut j = journal::Journal::open_with(&live, rotate, journal::Retention::ALL).unwrap();
    journal::replay(whole, |e| j.append(&e, || None).unwrap()).unwrap();
    j.settle();
    drop(j);
    let segments = journal::segment::list(&live).unwrap();
    let packed: u64 = segments
        .iter()
        .map(|s| std::fs::metadata(&s.path).map_or(0, |m| m.len()))
        .sum();
    let t = Instant::now();
    let mut state = State::default();
    let skipped = journal::replay(&live, |e| state.apply(&e)).unwrap();
    let took = t.elapsed();
    assert!(skipped.is_empty());
    println!(
        "replayed the same {} events from {} gzipped segments ({:.0} MiB) and the live file in {took:.2?}",
        state.last_seq,
        segments.len(),
        packed as f64 / (1 << 20) as f64
    );
}
