//! The console as an operator sees it: snapshots of whole frames at 120x40 and
//! 80x24, plus checks that colours land on the right words (snapshots carry no
//! colour). Models are folded from journal lines, as the live console folds
//! engine events, and drawn at a fixed `now` in UTC so frames are the same on
//! any machine whatever its time zone.

#[macro_use]
mod frames;

use autoheal::event::{Event, EventKind, IncidentId, Severity};
use autoheal::tui::{Glyphs, Meta, Modal, Model, Pane, Pick, Theme, Verdict};
use frames::*;

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

/// #4 is held because its target is critical, with a reason longer than a line.
fn critical() -> Model {
    let mut model = busy();
    fold(
        &mut model,
        r#"14:02:00.430 {"kind":"incident_analyzed","incident_id":4,"playbook":"demo-fallback-restart","step":"restart","confidence":0.85,"decision":"approval_required","reason":"payments-api is critical: a human approves every fix","critical":true}"#,
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
                trace_id: String::new(),
                reported_by: None,
                text: None,
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
    // The console keeps the last KEEP_CLOSED closed of them (the rest are in
    // the journal); selecting the oldest kept scrolls the list down to it.
    assert_eq!(model.state.incidents.len(), autoheal::state::KEEP_CLOSED);
    model.ui.focus = Pane::Incidents;
    model.select_row(Pane::Incidents, autoheal::state::KEEP_CLOSED - 1);
    let terminal = render(&model, 120, 40);
    let buf = terminal.backend().buffer();
    let list = find(buf, " Incidents").expect("incidents pane");
    assert!(find_from(buf, list, "#9001 ").is_some());
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
