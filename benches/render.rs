//! One frame's render time with 10,000 incidents in history.
//! Run: `cargo bench --bench render` (prints figures; not a test).

use jiff::Timestamp;
use ratatui::{Terminal, backend::TestBackend};
use std::time::{Duration, Instant};

use autoheal::engine::Sample;
use autoheal::event::{Decision, Event, EventKind, IncidentId, Severity};
use autoheal::tui::{Meta, Model, Pane, Theme, view};

const INCIDENTS: u64 = 10_000;

fn model() -> Model {
    let start = Timestamp::from_second(1_800_000_000).unwrap();
    let targets: Vec<String> = ["edge-proxy", "localhost", "orders-db", "payments-api"]
        .map(String::from)
        .to_vec();
    let meta = Meta {
        mode: "demo".into(),
        started_at: Some(start),
        chaos: Default::default(),
        operator: "bench@local".into(),
        ..Default::default()
    };
    let mut model = Model::new(Default::default(), meta, vec![Theme::dark()]);
    let mut seq = 0;
    let mut push = |model: &mut Model, ms: i64, kind: EventKind| {
        seq += 1;
        model.apply(Event {
            seq,
            ts: start + Duration::from_millis(ms as u64),
            kind,
        });
    };
    push(
        &mut model,
        0,
        EventKind::EngineStarted {
            version: "bench".into(),
            targets: targets.clone(),
            playbooks: vec![],
            dry_run: false,
            chaos: Default::default(),
        },
    );
    for n in 1..=INCIDENTS {
        let (id, at) = (IncidentId(n), n as i64 * 2000);
        let target = targets[[0, 2, 3][n as usize % 3]].clone();
        let (playbook, step) = ("demo-flush-db-pool".to_string(), "flush-pool".to_string());
        let started_at = start + Duration::from_millis(at as u64);
        push(
            &mut model,
            at,
            EventKind::IncidentDetected {
                incident_id: id,
                target,
                signature: "DB_TIMEOUT".into(),
                severity: Severity::High,
                started_at,
                chaos: true,
                trace_id: String::new(),
                reported_by: None,
                text: None,
            },
        );
        push(
            &mut model,
            at,
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
        );
        push(
            &mut model,
            at,
            EventKind::ActionStarted {
                incident_id: id,
                playbook: playbook.clone(),
                step: step.clone(),
                action: "http POST http://127.0.0.1:1/admin/flush-pool".into(),
                attempt: 1,
                term: None,
            },
        );
        push(
            &mut model,
            at + 1,
            EventKind::ActionFinished {
                incident_id: id,
                playbook: playbook.clone(),
                step: step.clone(),
                action: "http POST".into(),
                attempt: 1,
                ok: true,
                duration_ms: 1,
                output: "HTTP 200 OK".into(),
            },
        );
        push(
            &mut model,
            at + 2,
            EventKind::StepFinished {
                incident_id: id,
                playbook,
                step,
                ok: true,
                detail: "healthy again".into(),
            },
        );
        push(
            &mut model,
            at + 2,
            EventKind::IncidentResolved {
                incident_id: id,
                time_to_detect_ms: 480,
                time_to_resolve_ms: 482,
            },
        );
    }
    for (i, target) in targets.iter().enumerate() {
        for k in 0..120 {
            let latency = Duration::from_micros(800 + (i as u64 * 300) + (k * 37 % 900));
            model.telemetry.record(Sample {
                target: target.clone(),
                at: start,
                healthy: true,
                latency,
                cpu_percent: Some(12.5),
                memory_percent: Some(41.0),
            });
        }
    }
    model.ui.focus = Pane::Incidents;
    model
}

fn main() {
    let model = model();
    let now = model.state.last_ts.unwrap() + Duration::from_secs(1);
    for (w, h) in [(120, 40), (80, 24)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut times = Vec::new();
        for i in 0..500 {
            // A new clock second each frame, as the live console sees it.
            let now = now + Duration::from_secs(i);
            let t = Instant::now();
            terminal.draw(|f| view::draw(f, &model, now)).unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        let pct = |q: f64| times[((times.len() as f64 * q).ceil() as usize).max(1) - 1];
        println!(
            "{w}x{h}, {INCIDENTS} incidents, {} frames: p50 {:?}  p95 {:?}  p99 {:?}",
            times.len(),
            pct(0.50),
            pct(0.95),
            pct(0.99)
        );
    }
}
