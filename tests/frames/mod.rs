//! Frames for the render tests: a console folded from journal lines, drawn at
//! a fixed `now` in UTC, and ways to find words and colours in what was drawn.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use autoheal::engine::Sample;
use autoheal::event::Event;
use autoheal::state::State;
use autoheal::tui::view::draw_in;
use autoheal::tui::{Meta, Modal, Model, Theme};

pub const DAY: &str = "2026-11-23";
pub const NOW: &str = "14:05:00";

pub fn at(hms: &str) -> Timestamp {
    format!("{DAY}T{hms}Z").parse().expect("fixture time")
}

/// The demo fleet's console before any event: chaos offered on three targets.
pub fn console() -> Model {
    let faults = ["DB_TIMEOUT", "MEM_LEAK", "NET_SPIKE", "CRASH", "DISK_FULL"];
    let chaos: BTreeMap<String, Vec<String>> = ["payments-api", "orders-db", "edge-proxy"]
        .into_iter()
        .map(|t| (t.to_string(), faults.map(String::from).to_vec()))
        .collect();
    let meta = Meta {
        mode: "demo".into(),
        started_at: Some(at("13:03:00")),
        chaos,
        operator: "alice@ssh:10.0.0.7".into(),
        ..Default::default()
    };
    Model::new(State::default(), meta, vec![Theme::dark()])
}

/// Folds journal lines into `model`. Each line is `HH:MM:SS[.mmm] {json}`:
/// the time and the event as journaled, minus `seq`, which is numbered here.
pub fn fold(model: &mut Model, journal: &str) {
    for line in journal.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (time, json) = line.split_once(' ').expect("time, then the event");
        let mut value: serde_json::Value = serde_json::from_str(json).expect(json);
        value["seq"] = (model.state.last_seq + 1).into();
        value["ts"] = format!("{DAY}T{time}Z").into();
        model.apply(serde_json::from_value::<Event>(value).expect(json));
    }
}

pub const STARTED: &str = r#"
13:03:00 {"kind":"engine_started","version":"0.1.0","targets":["payments-api","orders-db","edge-proxy","localhost"],"playbooks":["demo-flush-db-pool","demo-restart-worker","demo-fallback-restart"],"dry_run":false,"chaos":{"payments-api":["DB_TIMEOUT","MEM_LEAK","NET_SPIKE","CRASH","DISK_FULL"],"orders-db":["DB_TIMEOUT","MEM_LEAK","NET_SPIKE","CRASH","DISK_FULL"],"edge-proxy":["DB_TIMEOUT","MEM_LEAK","NET_SPIKE","CRASH","DISK_FULL"]}}
"#;

/// An hour of the demo: #1 a full disk an operator approved a restart for, #2 a
/// chaos DB_TIMEOUT fixed unattended, #3 a MEM_LEAK neither step fixed
/// (escalated), #4 a full disk again, waiting for approval.
pub const BUSY: &str = r#"
13:20:00 {"kind":"probe_failed","target":"payments-api","signature":"DISK_FULL","detail":"/var/lib/payments-api 100% full, writes failing"}
13:20:00.400 {"kind":"incident_detected","incident_id":1,"target":"payments-api","signature":"DISK_FULL","severity":"high","started_at":"2026-11-23T13:19:59.800Z"}
13:20:00.450 {"kind":"incident_analyzed","incident_id":1,"playbook":"demo-fallback-restart","step":"restart","confidence":0.85,"decision":"approval_required","reason":"confidence 0.85 is below 0.90"}
13:20:41 {"kind":"approval_granted","incident_id":1,"by":"alice@ssh:10.0.0.7"}
13:20:41.010 {"kind":"action_started","incident_id":1,"playbook":"demo-fallback-restart","step":"restart","action":"http POST http://127.0.0.1:7100/services/payments-api/restart","attempt":1}
13:20:42.210 {"kind":"action_finished","incident_id":1,"playbook":"demo-fallback-restart","step":"restart","action":"http POST http://127.0.0.1:7100/services/payments-api/restart","attempt":1,"ok":true,"duration_ms":1200,"output":"{\"restarted\":\"payments-api\"}"}
13:20:47.800 {"kind":"step_finished","incident_id":1,"playbook":"demo-fallback-restart","step":"restart","ok":true,"detail":"healthy again"}
13:20:47.800 {"kind":"probe_recovered","target":"payments-api"}
13:20:47.800 {"kind":"incident_resolved","incident_id":1,"time_to_detect_ms":600,"time_to_resolve_ms":48000}
13:40:00 {"kind":"chaos_injected","target":"orders-db","fault":"DB_TIMEOUT"}
13:40:00.500 {"kind":"probe_failed","target":"orders-db","signature":"DB_TIMEOUT","detail":"connection pool exhausted (50/50 in use), query waited 5000 ms"}
13:40:00.500 {"kind":"incident_detected","incident_id":2,"target":"orders-db","signature":"DB_TIMEOUT","severity":"high","started_at":"2026-11-23T13:40:00Z","chaos":true}
13:40:00.510 {"kind":"incident_analyzed","incident_id":2,"playbook":"demo-flush-db-pool","step":"flush-pool","confidence":0.99,"decision":"auto","reason":"confidence 0.99 >= 0.90"}
13:40:00.520 {"kind":"action_started","incident_id":2,"playbook":"demo-flush-db-pool","step":"flush-pool","action":"http POST http://127.0.0.1:7102/admin/flush-pool","attempt":1}
13:40:00.640 {"kind":"action_finished","incident_id":2,"playbook":"demo-flush-db-pool","step":"flush-pool","action":"http POST http://127.0.0.1:7102/admin/flush-pool","attempt":1,"ok":true,"duration_ms":120,"output":"connection pool flushed, 50 stale connections recycled"}
13:40:04.200 {"kind":"step_finished","incident_id":2,"playbook":"demo-flush-db-pool","step":"flush-pool","ok":true,"detail":"healthy again"}
13:40:04.200 {"kind":"probe_recovered","target":"orders-db"}
13:40:04.200 {"kind":"incident_resolved","incident_id":2,"time_to_detect_ms":500,"time_to_resolve_ms":4200}
13:50:00 {"kind":"probe_failed","target":"edge-proxy","signature":"MEM_LEAK","detail":"worker RSS 3.8 GiB and rising, GC thrashing"}
13:50:00.300 {"kind":"incident_detected","incident_id":3,"target":"edge-proxy","signature":"MEM_LEAK","severity":"high","started_at":"2026-11-23T13:49:59Z"}
13:50:00.310 {"kind":"incident_analyzed","incident_id":3,"playbook":"demo-restart-worker","step":"restart-worker","confidence":0.95,"decision":"auto","reason":"confidence 0.95 >= 0.90"}
13:50:00.320 {"kind":"action_started","incident_id":3,"playbook":"demo-restart-worker","step":"restart-worker","action":"http POST http://127.0.0.1:7103/admin/restart-worker","attempt":1}
13:50:02.320 {"kind":"action_finished","incident_id":3,"playbook":"demo-restart-worker","step":"restart-worker","action":"http POST http://127.0.0.1:7103/admin/restart-worker","attempt":1,"ok":false,"duration_ms":2000,"output":"timed out after 2s\nno response from http://127.0.0.1:7103"}
13:50:02.330 {"kind":"step_finished","incident_id":3,"playbook":"demo-restart-worker","step":"restart-worker","ok":false,"detail":"action failed"}
13:50:02.340 {"kind":"incident_analyzed","incident_id":3,"playbook":"demo-restart-worker","step":"restart","confidence":0.95,"decision":"auto","reason":"next step after restart-worker failed"}
13:50:02.350 {"kind":"action_started","incident_id":3,"playbook":"demo-restart-worker","step":"restart","action":"http POST http://127.0.0.1:7100/services/edge-proxy/restart","attempt":1}
13:50:03.350 {"kind":"action_finished","incident_id":3,"playbook":"demo-restart-worker","step":"restart","action":"http POST http://127.0.0.1:7100/services/edge-proxy/restart","attempt":1,"ok":true,"duration_ms":1000,"output":"{\"restarted\":\"edge-proxy\"}"}
13:50:15 {"kind":"step_finished","incident_id":3,"playbook":"demo-restart-worker","step":"restart","ok":false,"detail":"still failing: MEM_LEAK"}
13:50:15.010 {"kind":"incident_escalated","incident_id":3,"reason":"no steps left: restart-worker and restart did not fix it"}
14:02:00 {"kind":"probe_failed","target":"payments-api","signature":"DISK_FULL","detail":"/var/lib/payments-api 100% full, writes failing"}
14:02:00.400 {"kind":"incident_detected","incident_id":4,"target":"payments-api","signature":"DISK_FULL","severity":"high","started_at":"2026-11-23T14:01:59.900Z"}
14:02:00.420 {"kind":"incident_analyzed","incident_id":4,"playbook":"demo-fallback-restart","step":"restart","confidence":0.85,"decision":"approval_required","reason":"confidence 0.85 is below 0.90","action":"POST http://127.0.0.1:7300/services/payments-api/restart"}
"#;

pub fn sample(model: &mut Model, target: &str, at_: Timestamp, latency_ms: u64) {
    model.telemetry.record(Sample {
        target: target.into(),
        at: at_,
        healthy: true,
        latency: Duration::from_millis(latency_ms),
        cpu_percent: None,
        memory_percent: None,
    });
}

pub fn busy() -> Model {
    let mut model = console();
    fold(&mut model, STARTED);
    fold(&mut model, BUSY);
    // A minute of latency per target, with one slow spell each.
    for (target, base) in [
        ("payments-api", 14),
        ("orders-db", 9),
        ("edge-proxy", 22),
        ("localhost", 1),
    ] {
        for s in 0..60u64 {
            let spike = if (20..26).contains(&s) { base * 3 } else { 0 };
            sample(
                &mut model,
                target,
                at(&format!("14:04:{s:02}")),
                base + (s * 7) % 5 + spike,
            );
        }
    }
    model.telemetry.cpu_percent = Some(34.0);
    model.telemetry.memory_percent = Some(61.0);
    model
}

pub fn with_modal(mut model: Model, modal: Modal) -> Model {
    model.ui.modals.push(modal);
    model
}

/// A second fix waiting on payments-api, which the operator's config marks
/// critical: the analysis says so, and what the step would run.
pub const CRITICAL: &str = r#"
14:04:10 {"kind":"probe_failed","target":"payments-api","signature":"CONNECTION_REFUSED","detail":"connect to 127.0.0.1:7101 refused"}
14:04:10.300 {"kind":"incident_detected","incident_id":5,"target":"payments-api","signature":"CONNECTION_REFUSED","severity":"high","started_at":"2026-11-23T14:04:10Z"}
14:04:10.320 {"kind":"incident_analyzed","incident_id":5,"playbook":"demo-restart-worker","step":"restart","confidence":0.95,"decision":"approval_required","reason":"payments-api is critical: a human approves every fix","action":"POST http://127.0.0.1:7300/services/payments-api/restart","critical":true}
"#;

pub fn render(model: &Model, width: u16, height: u16) -> Terminal<TestBackend> {
    render_at(model, width, height, NOW)
}

/// [`render`] with the clock at `now` (`HH:MM:SS`).
pub fn render_at(model: &Model, width: u16, height: u16, now: &str) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| draw_in(frame, model, at(now), &TimeZone::UTC))
        .expect("draw");
    terminal
}

macro_rules! snapshot {
    ($name:ident, $model:expr, $w:expr, $h:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(render(&$model, $w, $h).backend());
        }
    };
}

/// Where `text` first appears at or after `from` (reading order), as (x, y).
pub fn find_from(buf: &Buffer, from: (u16, u16), text: &str) -> Option<(u16, u16)> {
    let area = buf.area;
    let needle: Vec<String> = text.chars().map(String::from).collect();
    (from.1..area.bottom()).find_map(|y| {
        let left = if y == from.1 { from.0 } else { area.left() };
        let row: Vec<&str> = (left..area.right()).map(|x| buf[(x, y)].symbol()).collect();
        row.windows(needle.len())
            .position(|w| w.iter().zip(&needle).all(|(a, b)| a == b))
            .map(|x| (left + x as u16, y))
    })
}

pub fn find(buf: &Buffer, text: &str) -> Option<(u16, u16)> {
    find_from(buf, (0, 0), text)
}

/// The colour of `text`, looked for after `anchor` (a pane title or a row's name).
pub fn fg_after(model: &Model, width: u16, height: u16, anchor: &str, text: &str) -> Color {
    let terminal = render(model, width, height);
    let buf = terminal.backend().buffer();
    let from = find(buf, anchor).unwrap_or_else(|| panic!("{anchor:?} on screen"));
    let (x, y) = find_from(buf, from, text).unwrap_or_else(|| panic!("{text:?} after {anchor:?}"));
    buf[(x, y)].fg
}

/// The words on screen inside the box whose title is `title`, in reading order.
pub fn pane_text(buf: &Buffer, title: &str) -> String {
    let (x, y) = find(buf, title).expect("pane title on screen");
    let left = x - 1;
    let right = (left + 1..buf.area.right())
        .find(|&c| ["╮", "+"].contains(&buf[(c, y)].symbol()))
        .expect("top right corner");
    let bottom = (y + 1..buf.area.bottom())
        .find(|&r| buf[(left, r)].symbol() == "╰")
        .expect("bottom left corner");
    let text: String = (y + 1..bottom)
        .flat_map(|r| (left + 1..right).map(move |c| (c, r)))
        .map(|(c, r)| buf[(c, r)].symbol().to_string() + if c + 1 == right { " " } else { "" })
        .collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
