//! Writes a journal of `N` events in the documented format (one JSON event per
//! line), shaped like a long demo run with chaos: the monkey breaks a demo
//! service, its probe fails, the incident is detected, analyzed and fixed by
//! the demo playbooks, the probe recovers and the incident resolves. About one
//! in 40 fixes fails and escalates, and an operator closes it later. For
//! `benches/start_1m.sh`.
//!
//! Usage: `cargo run --release --example gen_journal -- N PATH`

use std::io::{BufWriter, Write};
use std::time::Duration;

use autoheal::event::{Decision, Event, EventKind, IncidentId, Severity};
use jiff::Timestamp;

const SERVICES: [&str; 3] = ["payments-api", "orders-db", "edge-proxy"];

/// Fault, playbook, step and fix endpoint of the demo playbooks.
const FIXES: [(&str, &str, &str, &str); 3] = [
    (
        "DB_TIMEOUT",
        "demo-flush-db-pool",
        "flush-pool",
        "/admin/flush-pool",
    ),
    (
        "MEM_LEAK",
        "demo-restart-worker",
        "restart-worker",
        "/admin/restart-worker",
    ),
    (
        "NET_SPIKE",
        "demo-enable-waf",
        "enable-waf",
        "/admin/waf/enable",
    ),
];

struct Writer {
    out: BufWriter<std::fs::File>,
    seq: u64,
    limit: u64,
    at: Timestamp,
}

impl Writer {
    /// Writes one event `ms` after the previous one; false once `limit` are written.
    fn emit(&mut self, ms: u64, kind: EventKind) -> bool {
        if self.seq >= self.limit {
            return false;
        }
        self.seq += 1;
        self.at += Duration::from_millis(ms);
        let event = Event {
            seq: self.seq,
            ts: self.at,
            kind,
        };
        serde_json::to_writer(&mut self.out, &event).expect("write journal");
        self.out.write_all(b"\n").expect("write journal");
        true
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(n), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: gen_journal N PATH");
        std::process::exit(2);
    };
    let Ok(limit) = n.parse::<u64>() else {
        eprintln!("N must be a number of events, not {n:?}");
        std::process::exit(2);
    };
    let file = std::fs::File::create(&path).expect("create journal");
    let mut w = Writer {
        out: BufWriter::with_capacity(1 << 20, file),
        seq: 0,
        limit,
        at: Timestamp::from_second(1_767_225_600).expect("a time"),
    };
    let mut escalated: Vec<IncidentId> = Vec::new();
    let mut id = 0u64;
    'run: loop {
        if id.is_multiple_of(5_000)
            && !w.emit(
                100,
                EventKind::EngineStarted {
                    version: env!("CARGO_PKG_VERSION").into(),
                    targets: SERVICES.map(String::from).to_vec(),
                    playbooks: FIXES.map(|f| f.1.to_string()).to_vec(),
                    dry_run: false,
                    chaos: SERVICES
                        .iter()
                        .map(|s| (s.to_string(), FIXES.map(|f| f.0.to_string()).to_vec()))
                        .collect(),
                },
            )
        {
            break;
        }
        id += 1;
        let incident_id = IncidentId(id);
        let target = SERVICES[(id % 3) as usize].to_string();
        let (fault, playbook, step, path) = FIXES[(id / 3 % 3) as usize];
        let fails = id.is_multiple_of(40);
        let action = format!("http POST http://127.0.0.1:{}{path}", 40_000 + id % 3);
        let started_at = w.at + Duration::from_millis(2_000);
        let detail = format!("HTTP 503 in 3ms: {{\"status\":\"degraded\",\"fault\":\"{fault}\"}}");
        let kinds = [
            EventKind::ChaosInjected {
                target: target.clone(),
                fault: fault.into(),
            },
            EventKind::ProbeFailed {
                target: target.clone(),
                signature: fault.into(),
                detail,
            },
            EventKind::IncidentDetected {
                incident_id,
                target: target.clone(),
                signature: fault.into(),
                severity: Severity::High,
                started_at,
                chaos: true,
                trace_id: format!(
                    "{:032x}",
                    u128::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ),
                reported_by: None,
                text: None,
            },
            EventKind::IncidentAnalyzed {
                incident_id,
                playbook: Some(playbook.into()),
                step: Some(step.into()),
                confidence: 0.97,
                decision: Decision::Auto,
                reason: "confidence 0.97 >= 0.90; not critical".into(),
                action: Some(action.clone()),
                critical: false,
            },
            EventKind::ActionStarted {
                incident_id,
                playbook: playbook.into(),
                step: step.into(),
                action: action.clone(),
                attempt: 1,
                term: None,
            },
            EventKind::ActionFinished {
                incident_id,
                playbook: playbook.into(),
                step: step.into(),
                action,
                attempt: 1,
                ok: !fails,
                duration_ms: 2 + id % 7,
                output: match fails {
                    false => {
                        format!("HTTP 200 OK: {{\"cleared\":\"{fault}\",\"service\":\"{target}\"}}")
                    }
                    true => "HTTP 500: upstream refused".into(),
                },
            },
            EventKind::StepFinished {
                incident_id,
                playbook: playbook.into(),
                step: step.into(),
                ok: !fails,
                detail: match fails {
                    false => "healthy again".into(),
                    true => "action failed".into(),
                },
            },
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            let ms = [2_000, 250, 1, 1, 1, 6, 300][i];
            if !w.emit(ms, kind) {
                break 'run;
            }
        }
        let more = match fails {
            true => {
                escalated.push(incident_id);
                w.emit(
                    1,
                    EventKind::IncidentEscalated {
                        incident_id,
                        reason: "every step of the playbook was tried".into(),
                    },
                )
            }
            false => {
                w.emit(1, EventKind::ProbeRecovered { target })
                    && w.emit(
                        1,
                        EventKind::IncidentResolved {
                            incident_id,
                            time_to_detect_ms: 250,
                            time_to_resolve_ms: 560 + id % 7,
                        },
                    )
            }
        };
        // An operator works the dead-letter queue now and then.
        let closed = match escalated.len() >= 5 {
            true => escalated.drain(..).all(|incident_id| {
                w.emit(
                    30_000,
                    EventKind::IncidentClosed {
                        incident_id,
                        note: "fixed upstream by hand".into(),
                        by: "oncall".into(),
                    },
                )
            }),
            false => true,
        };
        if !(more && closed) {
            break;
        }
    }
    w.out.flush().expect("write journal");
    eprintln!("wrote {} events, {} incidents, to {path}", w.seq, id);
}
