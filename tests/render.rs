//! The console as an operator sees it: snapshots of whole frames at 120x40 and
//! 80x24, plus checks that colours land on the right words (snapshots carry no
//! colour). Models are folded from journal lines, as the live console folds
//! engine events, and drawn at a fixed `now` in UTC so frames are the same on
//! any machine whatever its time zone.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use autoheal::engine::Sample;
use autoheal::event::{Event, EventKind, IncidentId, Severity};
use autoheal::state::State;
use autoheal::tui::listing::{Sort, StatusFilter};
use autoheal::tui::log_ring::LogRecord;
use autoheal::tui::view::draw_in;
use autoheal::tui::{Glyphs, Meta, Modal, Model, Pane, Pick, Theme, Verdict};

const DAY: &str = "2026-11-23";
const NOW: &str = "14:05:00";

fn at(hms: &str) -> Timestamp {
    format!("{DAY}T{hms}Z").parse().expect("fixture time")
}

/// The demo fleet's console before any event: chaos offered on three targets.
fn console() -> Model {
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
fn fold(model: &mut Model, journal: &str) {
    for line in journal.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (time, json) = line.split_once(' ').expect("time, then the event");
        let mut value: serde_json::Value = serde_json::from_str(json).expect(json);
        value["seq"] = (model.state.last_seq + 1).into();
        value["ts"] = format!("{DAY}T{time}Z").into();
        model.apply(serde_json::from_value::<Event>(value).expect(json));
    }
}

const STARTED: &str = r#"
13:03:00 {"kind":"engine_started","version":"0.1.0","targets":["payments-api","orders-db","edge-proxy","localhost"],"playbooks":["demo-flush-db-pool","demo-restart-worker","demo-fallback-restart"],"dry_run":false,"chaos":{"payments-api":["DB_TIMEOUT","MEM_LEAK","NET_SPIKE","CRASH","DISK_FULL"],"orders-db":["DB_TIMEOUT","MEM_LEAK","NET_SPIKE","CRASH","DISK_FULL"],"edge-proxy":["DB_TIMEOUT","MEM_LEAK","NET_SPIKE","CRASH","DISK_FULL"]}}
"#;

/// An hour of the demo: #1 a full disk an operator approved a restart for, #2 a
/// chaos DB_TIMEOUT fixed unattended, #3 a MEM_LEAK neither step fixed
/// (escalated), #4 a full disk again, waiting for approval.
const BUSY: &str = r#"
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
14:02:00.420 {"kind":"incident_analyzed","incident_id":4,"playbook":"demo-fallback-restart","step":"restart","confidence":0.85,"decision":"approval_required","reason":"confidence 0.85 is below 0.90"}
"#;

fn sample(model: &mut Model, target: &str, at_: Timestamp, latency_ms: u64) {
    model.telemetry.record(Sample {
        target: target.into(),
        at: at_,
        healthy: true,
        latency: Duration::from_millis(latency_ms),
        cpu_percent: None,
        memory_percent: None,
    });
}

fn busy() -> Model {
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

/// Nothing happened yet, not even `engine_started`, and nothing is known about the run.
fn empty() -> Model {
    let mut model = console();
    model.meta = Meta::default();
    model
}

fn filtered() -> Model {
    let mut model = with_modal(busy(), Modal::Filter);
    model.ui.filter = "disk".into();
    model
}

fn with_modal(mut model: Model, modal: Modal) -> Model {
    model.ui.modals.push(modal);
    model
}

fn detail(id: u64, scroll: usize) -> Modal {
    Modal::Detail {
        incident: IncidentId(id),
        scroll,
    }
}

fn chaos() -> Modal {
    Modal::Chaos {
        target: "orders-db".into(),
    }
}

/// A second fix waiting on payments-api, which the operator's config marks
/// critical: the planner says so in its reason.
const CRITICAL: &str = r#"
14:04:10 {"kind":"probe_failed","target":"payments-api","signature":"CONNECTION_REFUSED","detail":"connect to 127.0.0.1:7101 refused"}
14:04:10.300 {"kind":"incident_detected","incident_id":5,"target":"payments-api","signature":"CONNECTION_REFUSED","severity":"high","started_at":"2026-11-23T14:04:10Z"}
14:04:10.320 {"kind":"incident_analyzed","incident_id":5,"playbook":"demo-restart-worker","step":"restart","confidence":0.95,"decision":"approval_required","reason":"payments-api is critical: a human approves every fix"}
"#;

/// The operator pressed `a` (or `x`) on incident `id` in the approval queue.
fn confirming(mut model: Model, id: u64, verdict: Verdict) -> Model {
    fold(&mut model, CRITICAL);
    model.ui.focus = Pane::Approvals;
    model
        .ui
        .selected
        .insert(Pane::Approvals, Pick::Incident(IncidentId(id)));
    model.ui.modals.push(Modal::Confirm {
        incident: IncidentId(id),
        verdict,
    });
    model
}

fn render(model: &Model, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| draw_in(frame, model, at(NOW), &TimeZone::UTC))
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

snapshot!(main_120x40, busy(), 120, 40);
snapshot!(main_80x24, busy(), 80, 24);
snapshot!(main_100x32, busy(), 100, 32);
snapshot!(critical_80x24, critical(), 80, 24);
snapshot!(theme_warning_80x24, theme_warning(), 80, 24);
snapshot!(help_120x40, with_modal(busy(), Modal::Help), 120, 40);
snapshot!(help_80x24, with_modal(busy(), Modal::Help), 80, 24);
snapshot!(detail_120x40, with_modal(busy(), detail(3, 0)), 120, 40);
snapshot!(detail_80x24, with_modal(busy(), detail(3, 0)), 80, 24);
snapshot!(
    detail_approved_120x40,
    with_modal(busy(), detail(1, 0)),
    120,
    40
);
// The key handler scrolls without bound; the view stops at the last line.
snapshot!(
    detail_scrolled_past_end_80x24,
    with_modal(busy(), detail(3, 999)),
    80,
    24
);
snapshot!(chaos_120x40, with_modal(busy(), chaos()), 120, 40);
snapshot!(chaos_80x24, with_modal(busy(), chaos()), 80, 24);
snapshot!(
    confirm_approve_120x40,
    confirming(busy(), 4, Verdict::Approve),
    120,
    40
);
snapshot!(
    confirm_approve_80x24,
    confirming(busy(), 4, Verdict::Approve),
    80,
    24
);
snapshot!(
    confirm_critical_120x40,
    confirming(busy(), 5, Verdict::Approve),
    120,
    40
);
snapshot!(
    confirm_critical_80x24,
    confirming(busy(), 5, Verdict::Approve),
    80,
    24
);
snapshot!(
    confirm_reject_80x24,
    confirming(busy(), 4, Verdict::Reject),
    80,
    24
);
snapshot!(
    detail_awaiting_80x24,
    with_modal(busy(), detail(4, 0)),
    80,
    24
);
snapshot!(filter_120x40, filtered(), 120, 40);
snapshot!(filter_80x24, filtered(), 80, 24);
snapshot!(too_small, busy(), 59, 16);
snapshot!(too_small_40x12, busy(), 40, 12);
snapshot!(empty_120x40, empty(), 120, 40);
snapshot!(empty_80x24, empty(), 80, 24);

/// The console on a terminal that cannot show UTF-8 (`LANG=C`, `TERM=linux`).
fn ascii(mut model: Model) -> Model {
    model.glyphs = Glyphs::ASCII;
    model
}

snapshot!(ascii_main_80x24, ascii(busy()), 80, 24);
snapshot!(ascii_main_120x40, ascii(busy()), 120, 40);
snapshot!(
    ascii_help_80x24,
    ascii(with_modal(busy(), Modal::Help)),
    80,
    24
);
snapshot!(
    ascii_confirm_critical_80x24,
    ascii(confirming(busy(), 5, Verdict::Approve)),
    80,
    24
);

#[test]
fn ascii_mode_sends_only_ascii_in_every_state_and_size() {
    let states = [
        ("main", ascii(busy())),
        ("empty", ascii(empty())),
        ("critical", ascii(critical())),
        ("theme warning", ascii(theme_warning())),
        ("help", ascii(with_modal(busy(), Modal::Help))),
        ("detail", ascii(with_modal(busy(), detail(3, 0)))),
        ("awaiting", ascii(with_modal(busy(), detail(4, 0)))),
        ("chaos", ascii(with_modal(busy(), chaos()))),
        ("filter", ascii(filtered())),
        ("confirm", ascii(confirming(busy(), 5, Verdict::Approve))),
    ];
    for (name, model) in &states {
        for (w, h) in [(80, 24), (100, 32), (120, 40), (59, 16), (40, 12)] {
            let terminal = render(model, w, h);
            let screen: String = terminal
                .backend()
                .buffer()
                .content
                .iter()
                .map(|c| c.symbol())
                .collect();
            let odd: String = screen.chars().filter(|c| !c.is_ascii()).collect();
            assert!(screen.is_ascii(), "{name} at {w}x{h} sends {odd:?}");
        }
    }
}

#[test]
fn ascii_mode_turns_utf8_from_the_fleet_into_question_marks_in_place() {
    let mut model = ascii(busy());
    fold(
        &mut model,
        r#"14:04:30 {"kind":"probe_failed","target":"orders-db","signature":"DB_TIMEOUT","detail":"caf\u00e9 \u78c1\u76d8 full \u2026 end"}"#,
    );
    let terminal = render(&model, 120, 40);
    let buf = terminal.backend().buffer();
    let screen: String = buf.content.iter().map(|c| c.symbol()).collect();
    assert!(screen.is_ascii());
    // A wide character becomes `? `: it keeps its two cells, so the columns after it hold.
    assert!(find(buf, "caf? ? ?  full ? end").is_some(), "{screen}");
}

/// Where `text` first appears at or after `from` (reading order), as (x, y).
fn find_from(buf: &Buffer, from: (u16, u16), text: &str) -> Option<(u16, u16)> {
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

fn find(buf: &Buffer, text: &str) -> Option<(u16, u16)> {
    find_from(buf, (0, 0), text)
}

/// The colour of `text`, looked for after `anchor` (a pane title or a row's name).
fn fg_after(model: &Model, width: u16, height: u16, anchor: &str, text: &str) -> Color {
    let terminal = render(model, width, height);
    let buf = terminal.backend().buffer();
    let from = find(buf, anchor).unwrap_or_else(|| panic!("{anchor:?} on screen"));
    let (x, y) = find_from(buf, from, text).unwrap_or_else(|| panic!("{text:?} after {anchor:?}"));
    buf[(x, y)].fg
}

#[test]
fn incident_history_is_drawn_from_80x24_up_apart_from_the_ttr_chart() {
    let model = busy();
    for (w, h) in [(80, 24), (100, 32), (120, 40), (200, 60)] {
        let terminal = render(&model, w, h);
        let buf = terminal.backend().buffer();
        let list = find(buf, " Incidents").expect("incidents pane");
        let (x, y) = find_from(buf, list, "detected per minute, last hour  4 total")
            .unwrap_or_else(|| panic!("history label at {w}x{h}"));
        // The chart row under the label has a bar for each minute with an incident...
        let bars = (x..x + 60).filter(|&c| buf[(c, y + 1)].symbol() == "█");
        assert_eq!(bars.count(), 4, "four busy minutes at {w}x{h}");
        // ...and a rule keeps the time-to-resolve chart from reading as part of it.
        assert_eq!(buf[(x + 61, y + 1)].symbol(), "│", "rule at {w}x{h}");
        assert!(
            find_from(buf, (x, y), "max 48s").is_some(),
            "ttr at {w}x{h}"
        );
    }
}

#[test]
fn too_small_message_shows_both_sizes_whole_at_any_width() {
    for (w, h) in [(40, 12), (30, 10), (20, 8), (59, 16)] {
        let terminal = render(&busy(), w, h);
        let buf = terminal.backend().buffer();
        assert!(find(buf, "need 60x16").is_some(), "need at {w}x{h}");
        assert!(
            find(buf, &format!("have {w}x{h}")).is_some(),
            "have at {w}x{h}"
        );
    }
}

#[test]
fn signature_column_shows_long_signatures_whole() {
    let mut model = console();
    fold(&mut model, STARTED);
    fold(
        &mut model,
        r#"
        14:00:00 {"kind":"incident_detected","incident_id":1234567,"target":"orders-db","signature":"CONNECTION_REFUSED","severity":"high","started_at":"2026-11-23T13:59:59Z"}
        14:01:00 {"kind":"incident_detected","incident_id":1234568,"target":"edge-proxy","signature":"DB_TIMEOUT","severity":"high","started_at":"2026-11-23T14:00:59Z"}
        "#,
    );
    for (w, h) in [(120, 40), (80, 24)] {
        let terminal = render(&model, w, h);
        let buf = terminal.backend().buffer();
        let list = find(buf, " Incidents").expect("incidents pane");
        let (x, y) = find_from(buf, list, "#1234567 ").expect("the whole id");
        let (sx, sy) = find_from(buf, (x, y), "CONNECTION_REFUSED ")
            .unwrap_or_else(|| panic!("whole signature at {w}x{h}"));
        assert_eq!(sy, y, "on the incident's row at {w}x{h}");
        // The next column starts after the longest signature, not inside it.
        let (dx, dy) = find_from(buf, list, "DB_TIMEOUT").expect("the other row");
        assert_eq!(dx, sx, "one signature column at {w}x{h}");
        let (status, _) = find_from(buf, (dx, dy), "detected").expect("status");
        assert!(status > sx + 18, "status after the signature at {w}x{h}");
    }
}

/// The words on screen inside the box whose title is `title`, in reading order.
fn pane_text(buf: &Buffer, title: &str) -> String {
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

/// #4 is held because its target is critical, with a reason longer than a line.
fn critical() -> Model {
    let mut model = busy();
    fold(
        &mut model,
        r#"14:02:00.430 {"kind":"incident_analyzed","incident_id":4,"playbook":"demo-fallback-restart","step":"restart","confidence":0.85,"decision":"approval_required","reason":"payments-api is critical: a human approves every fix"}"#,
    );
    model
}

#[test]
fn approval_reason_is_wrapped_whole() {
    let reason = "payments-api is critical: a human approves every fix";
    for (w, h) in [(80, 24), (100, 32), (120, 40)] {
        let terminal = render(&critical(), w, h);
        let text = pane_text(terminal.backend().buffer(), " Awaiting approval");
        assert!(text.contains(&format!("why {reason}")), "{w}x{h}: {text}");
    }
    // A reason three lines long at 80x24 grows the row rather than lose its end.
    let mut model = critical();
    let long =
        "cooldown: demo-fallback-restart ran on payments-api 2m00s ago and may run again in 8m00s";
    fold(
        &mut model,
        &format!(
            r#"14:02:00.440 {{"kind":"incident_analyzed","incident_id":4,"playbook":"demo-fallback-restart","step":"restart","confidence":0.85,"decision":"approval_required","reason":"{long}"}}"#
        ),
    );
    let terminal = render(&model, 80, 24);
    let buf = terminal.backend().buffer();
    assert!(pane_text(buf, " Awaiting approval").contains(long));
    assert!(find(buf, "detected per minute").is_some(), "history kept");
}

const THEME_WARNING: &str = "theme: /home/alice/.config/autoheal-tui/themes/solarized.yaml:4:13: unknown colour `base03` for `background` (theme skipped)";

fn theme_warning() -> Model {
    let mut model = busy();
    model.ui.flash = Some(THEME_WARNING.into());
    model
}

#[test]
fn a_long_status_message_is_wrapped_under_the_status_line() {
    for (w, h) in [(80, 24), (100, 32), (120, 40)] {
        let terminal = render(&theme_warning(), w, h);
        let buf = terminal.backend().buffer();
        let top: String = (0..4)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| buf[(x, y)].symbol().to_string() + if x + 1 == w { " " } else { "" })
            .collect();
        let top = top.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(top.contains(THEME_WARNING), "{w}x{h}: {top}");
        assert!(top.contains("targets 2/4 up"), "status kept at {w}x{h}");
        assert!(
            find(buf, "detected per minute").is_some() || h < 24,
            "history at {w}x{h}"
        );
    }
    // A message with room still sits at the end of the status line.
    let mut model = busy();
    model.ui.flash = Some("theme: light".into());
    let terminal = render(&model, 120, 40);
    let buf = terminal.backend().buffer();
    assert_eq!(find(buf, "theme: light").map(|(_, y)| y), Some(0));
}

#[test]
fn feed_labels_are_coloured_by_kind() {
    let mut model = console();
    fold(&mut model, STARTED);
    fold(
        &mut model,
        r#"
        14:00:00 {"kind":"incident_detected","incident_id":1,"target":"orders-db","signature":"DB_TIMEOUT","severity":"high","started_at":"2026-11-23T13:59:59Z"}
        14:00:04 {"kind":"incident_resolved","incident_id":1,"time_to_detect_ms":500,"time_to_resolve_ms":4000}
        "#,
    );
    let t = model.theme();
    for (w, h) in [(120, 40), (80, 24)] {
        assert_eq!(fg_after(&model, w, h, " Activity", "RESOLVED"), t.ok);
        assert_eq!(fg_after(&model, w, h, " Activity", "DETECTED"), t.error);
        assert_eq!(fg_after(&model, w, h, " Activity", "STARTED"), t.muted);
    }
}

#[test]
fn target_state_words_have_the_colour_of_their_state() {
    let model = busy();
    let t = model.theme();
    for (w, h) in [(120, 40), (80, 24)] {
        assert_eq!(fg_after(&model, w, h, "● edge-proxy", "failing"), t.error);
        assert_eq!(fg_after(&model, w, h, "● orders-db", "up"), t.ok);
    }

    let mut model = console();
    fold(&mut model, STARTED);
    fold(
        &mut model,
        r#"
        14:00:00 {"kind":"target_silenced","target":"localhost","until":"2026-11-23T15:00:00Z","by":"alice"}
        14:04:00 {"kind":"incident_detected","incident_id":1,"target":"orders-db","signature":"DB_TIMEOUT","severity":"high","started_at":"2026-11-23T14:03:59Z"}
        14:04:00.100 {"kind":"incident_analyzed","incident_id":1,"playbook":"demo-flush-db-pool","step":"flush-pool","confidence":0.99,"decision":"auto","reason":"ok"}
        "#,
    );
    sample(&mut model, "payments-api", at("14:04:59"), 12);
    let t = model.theme();
    assert_eq!(
        fg_after(&model, 120, 40, "● localhost", "silenced"),
        t.muted
    );
    assert_eq!(
        fg_after(&model, 120, 40, "● orders-db", "remediating"),
        t.warn
    );
    assert_eq!(
        fg_after(&model, 120, 40, "● edge-proxy", "unknown"),
        t.muted
    );
    assert_eq!(fg_after(&model, 120, 40, "● payments-api", "up"), t.ok);
}

#[test]
fn focused_pane_border_uses_border_focused() {
    let mut model = busy();
    let titles = [
        (Pane::Targets, " Targets"),
        (Pane::Feed, " Activity"),
        (Pane::Incidents, " Incidents"),
        (Pane::Approvals, " Awaiting approval"),
    ];
    for (pane, _) in titles {
        model.ui.focus = pane;
        let terminal = render(&model, 120, 40);
        let buf = terminal.backend().buffer();
        for (other, other_title) in titles {
            let (x, y) = find(buf, other_title).expect("pane title on screen");
            // The border cell just left of the title.
            let want = if other == pane {
                model.theme().border_focused
            } else {
                model.theme().border
            };
            assert_eq!(buf[(x - 1, y)].fg, want, "{other:?} with {pane:?} focused");
        }
    }
}

#[test]
fn selected_row_is_highlighted_only_in_the_focused_pane() {
    let mut model = busy();
    model.ui.focus = Pane::Incidents;
    model.select_row(Pane::Incidents, 1);
    let t = model.theme().clone();
    let terminal = render(&model, 120, 40);
    let buf = terminal.backend().buffer();
    let list = find(buf, " Incidents").expect("incidents pane");
    let (x, y) = find_from(buf, list, "#3 ").expect("incident #3 listed");
    assert_eq!(buf[(x, y)].bg, t.selection_bg);
    let (x, y) = find_from(buf, list, "#4 ").expect("incident #4 listed");
    assert_eq!(buf[(x, y)].bg, t.background);
    // The targets pane keeps its selection but shows it only with focus.
    let (x, y) = find(buf, "● edge-proxy").expect("edge-proxy listed");
    assert_eq!(buf[(x + 2, y)].bg, t.background);
}

#[test]
fn without_colour_the_selection_is_reverse_video() {
    use autoheal::tui::theme::ColorDepth;
    use ratatui::style::Modifier;
    let mut model = busy();
    model.themes = vec![Theme::dark().for_depth(ColorDepth::None)];
    model.ui.focus = Pane::Incidents;
    model.select_row(Pane::Incidents, 1);
    let terminal = render(&model, 120, 40);
    let buf = terminal.backend().buffer();
    let list = find(buf, " Incidents").expect("incidents pane");
    let (x, y) = find_from(buf, list, "#3 ").expect("incident #3 listed");
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
    let (x, y) = find_from(buf, list, "#4 ").expect("incident #4 listed");
    assert!(!buf[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn paused_automation_is_flagged_in_the_header() {
    let mut model = console();
    fold(&mut model, STARTED);
    fold(
        &mut model,
        r#"14:00:00 {"kind":"automation_paused","by":"alice"}"#,
    );
    assert_eq!(
        fg_after(&model, 80, 24, "autoheal", "PAUSED"),
        model.theme().warn
    );
}

#[test]
fn ten_thousand_resolved_incidents_render() {
    let mut model = console();
    fold(&mut model, STARTED);
    let base = at("13:04:00");
    for i in 1..=10_000u64 {
        let ts = base + jiff::SignedDuration::from_millis(i as i64 * 300);
        for kind in [
            EventKind::IncidentDetected {
                incident_id: IncidentId(i),
                target: ["payments-api", "orders-db", "edge-proxy"][(i % 3) as usize].into(),
                signature: "DB_TIMEOUT".into(),
                severity: Severity::High,
                started_at: ts,
                chaos: true,
            },
            EventKind::IncidentResolved {
                incident_id: IncidentId(i),
                time_to_detect_ms: 500,
                time_to_resolve_ms: 1000 + i % 5000,
            },
        ] {
            let seq = model.state.last_seq + 1;
            model.apply(Event { seq, ts, kind });
        }
    }
    for (w, h) in [(120, 40), (80, 24)] {
        let terminal = render(&model, w, h);
        assert!(find(terminal.backend().buffer(), "#10000").is_some());
    }
    // Selecting the oldest of 10,000 scrolls the list down to it.
    model.ui.focus = Pane::Incidents;
    model.select_row(Pane::Incidents, 9_999);
    let terminal = render(&model, 120, 40);
    let buf = terminal.backend().buffer();
    let list = find(buf, " Incidents").expect("incidents pane");
    assert!(find_from(buf, list, "#1 ").is_some());
}

#[test]
fn a_critical_target_is_named_in_red_in_the_confirmation() {
    let t = Theme::dark();
    let model = confirming(busy(), 5, Verdict::Approve);
    assert_eq!(
        fg_after(&model, 80, 24, "approve restart on", "CRITICAL"),
        t.error
    );
    let calm = confirming(busy(), 4, Verdict::Approve);
    let screen = format!("{:?}", render(&calm, 80, 24).backend());
    assert!(!screen.contains("CRITICAL"), "{screen}");
}

#[test]
fn the_one_line_stats_drop_the_least_important_first_at_every_width() {
    let model = busy();
    // (item, the item it is less important than).
    let order = [
        ("mem ", "cpu "),
        ("cpu ", "conf "),
        ("conf ", " resolved"),
        (" resolved", "ttr p50"),
    ];
    for width in 60..=100 {
        let terminal = render(&model, width, 24);
        let buf = terminal.backend().buffer();
        let line: String = (0..width).map(|x| buf[(x, 1)].symbol()).collect();
        for (less, more) in order {
            assert!(
                !line.contains(less) || line.contains(more),
                "{width} columns: `{less}` shown while `{more}` was dropped: {line}"
            );
        }
    }
}

// The incident list sorted and filtered, the feed frozen, the log overlay.

fn on_incidents(mut model: Model) -> Model {
    model.ui.focus = Pane::Incidents;
    model
}

fn sorted(sort: Sort) -> Model {
    let mut model = on_incidents(busy());
    model.ui.sort = sort;
    model
}

fn showing(filter: StatusFilter) -> Model {
    let mut model = on_incidents(busy());
    model.ui.status_filter = filter;
    model.settle_selection();
    model
}

/// Frozen after the busy hour, then the critical fix arrived: three events unseen.
fn frozen() -> Model {
    let mut model = busy();
    model.ui.focus = Pane::Feed;
    model.ui.feed_frozen_at = Some(model.state.last_seq);
    fold(&mut model, CRITICAL);
    model
}

/// Where an operator's console writes, as help and the log overlay name it.
fn with_paths(mut model: Model) -> Model {
    model.meta.journal = Some("/home/alice/.local/share/autoheal/demo-journal.jsonl".into());
    model.meta.log_dir = Some("/home/alice/.local/share/autoheal/logs".into());
    model
}

fn logged() -> Model {
    let model = with_modal(with_paths(busy()), Modal::Log { scroll: 0 });
    for (time, error, target, message) in [
        (
            "14:01:10",
            false,
            "autoheal::tui::app",
            "console fell behind by 12 events",
        ),
        (
            "14:03:02",
            false,
            "autoheal::remote",
            "event stream from http://10.0.0.5:7311 dropped: connection reset; reconnecting in 2s",
        ),
        (
            "14:03:05",
            true,
            "autoheal::remote",
            "command approve #4 refused by http://10.0.0.5:7311: 401 Unauthorized (token refused)",
        ),
    ] {
        model.meta.recent_log.push(LogRecord {
            at: at(time),
            error,
            target: target.into(),
            message: message.into(),
        });
    }
    model
}

snapshot!(sorted_by_status_120x40, sorted(Sort::Status), 120, 40);
snapshot!(sorted_by_status_80x24, sorted(Sort::Status), 80, 24);
snapshot!(sorted_by_ttr_80x24, sorted(Sort::TimeToResolve), 80, 24);
snapshot!(open_only_120x40, showing(StatusFilter::Open), 120, 40);
snapshot!(open_only_80x24, showing(StatusFilter::Open), 80, 24);
snapshot!(
    none_escalated_80x24,
    {
        let mut m = showing(StatusFilter::Escalated);
        m.ui.filter = "orders".into();
        m.settle_selection();
        m
    },
    80,
    24
);
snapshot!(frozen_feed_120x40, frozen(), 120, 40);
snapshot!(frozen_feed_80x24, frozen(), 80, 24);
snapshot!(log_overlay_120x40, logged(), 120, 40);
snapshot!(log_overlay_80x24, logged(), 80, 24);
snapshot!(
    help_with_paths_80x24,
    with_modal(with_paths(busy()), Modal::Help),
    80,
    24
);

#[test]
fn the_incidents_title_names_the_order_and_the_statuses_shown() {
    let mut model = sorted(Sort::TimeToResolve);
    model.ui.status_filter = StatusFilter::Resolved;
    let terminal = render(&model, 120, 40);
    let buf = terminal.backend().buffer();
    assert!(find(buf, "Incidents 2 · slowest fix · resolved").is_some());
}

#[test]
fn a_frozen_feed_says_so_and_how_much_it_holds_back() {
    let buf = render(&frozen(), 120, 40).backend().buffer().clone();
    assert!(find(&buf, "Activity · frozen · 3 new").is_some());
    // The critical fix is in the queue but its events are held back.
    assert!(
        find(&buf, "#5 payments-api  CONNECTION_REFUSED").is_some(),
        "queued"
    );
    assert!(
        find(&buf, "CONNECTION_REFUSED (high)").is_none(),
        "not in the feed"
    );
}

#[test]
fn a_failing_target_that_is_silenced_says_both() {
    let mut model = busy();
    fold(
        &mut model,
        r#"14:03:00 {"kind":"target_silenced","target":"payments-api","until":"2026-11-23T15:00:00Z","by":"alice@ssh:10.0.0.7"}"#,
    );
    for (w, h) in [(120, 40), (80, 24)] {
        let buf = render(&model, w, h).backend().buffer().clone();
        let targets = pane_text(&buf, " Targets");
        assert!(targets.contains("failing · silenced"), "{w}x{h}: {targets}");
    }
    assert_eq!(
        fg_after(&model, 120, 40, "payments-api", "failing · silenced"),
        Theme::dark().warn
    );
}
