//! The incident list sorted and filtered, the activity feed frozen, the `L`
//! overlay of recent warnings, help naming where the journal and log are, and
//! a silenced target (or one in a maintenance window) that is still failing.

#[macro_use]
mod frames;

use autoheal::tui::listing::{Sort, StatusFilter};
use autoheal::tui::log_ring::LogRecord;
use autoheal::tui::{Modal, Model, Pane, Theme};
use frames::*;

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

#[test]
fn ascii_terminals_read_the_new_titles_with_ascii_separators() {
    let ascii = |mut m: Model| {
        m.glyphs = autoheal::tui::Glyphs::ASCII;
        m
    };
    let mut open = showing(StatusFilter::Open);
    open.ui.sort = Sort::Status;
    for (model, words) in [
        (ascii(frozen()), "Activity - frozen - 3 new"),
        (ascii(open), "Incidents 2 - by status - open"),
    ] {
        let terminal = render(&model, 80, 24);
        assert!(
            find(terminal.backend().buffer(), words).is_some(),
            "{words}"
        );
    }
}

#[test]
fn a_maintenance_window_shows_in_the_header_and_on_its_targets() {
    let mut model = busy();
    fold(
        &mut model,
        r#"14:04:00 {"kind":"maintenance_started","window":"edge upgrade","targets":["edge-*","payments-api"],"until":"2026-11-23T16:00:00Z"}"#,
    );
    for (w, h, words) in [
        (120, 40, "MAINTENANCE edge upgrade until 16:00"),
        (80, 24, "MAINTENANCE"),
    ] {
        let buf = render(&model, w, h).backend().buffer().clone();
        let header: String = (0..w).map(|x| buf[(x, 0)].symbol()).collect();
        assert!(header.contains(words), "{w}x{h}: {header}");
        let targets = pane_text(&buf, " Targets");
        assert!(
            targets.contains("failing · maintenance"),
            "{w}x{h}: {targets}"
        );
        assert!(!targets.contains("orders-db  maintenance"), "{targets}");
    }
    fold(
        &mut model,
        r#"14:04:30 {"kind":"maintenance_ended","window":"edge upgrade"}"#,
    );
    let buf = render(&model, 120, 40).backend().buffer().clone();
    let header: String = (0..120).map(|x| buf[(x, 0)].symbol()).collect();
    assert!(!header.contains("MAINTENANCE"), "{header}");
    assert!(!pane_text(&buf, " Targets").contains("maintenance"));
}

#[test]
fn a_replica_says_whether_it_leads_in_the_header() {
    let mut model = busy();
    let header = |model: &Model| {
        let buf = render(model, 120, 40).backend().buffer().clone();
        (0..120).map(|x| buf[(x, 0)].symbol()).collect::<String>()
    };
    assert!(!header(&model).contains("leader"));
    for (line, words) in [
        (
            r#"14:04:00 {"kind":"role_changed","replica":"b","role":"follower","leader":"a"}"#,
            "follower of a",
        ),
        (
            r#"14:04:01 {"kind":"role_changed","replica":"b","role":"leader","term":7}"#,
            "leader",
        ),
        (
            r#"14:04:02 {"kind":"role_changed","replica":"b","role":"no_quorum","why":"cannot connect"}"#,
            "NO QUORUM: acting on nothing",
        ),
    ] {
        fold(&mut model, line);
        assert!(
            header(&model).contains(words),
            "{words}: {}",
            header(&model)
        );
    }
}

#[test]
fn a_prediction_marks_its_target_at_risk_until_it_ends() {
    let mut model = busy();
    fold(
        &mut model,
        r#"14:04:00 {"kind":"prediction","target":"orders-db","metric":"disk","signature":"DISK_FULL","value":61.0,"threshold":95.0,"per_hour":15.6,"eta_s":7800}"#,
    );
    let buf = render(&model, 120, 40).backend().buffer().clone();
    let targets = pane_text(&buf, " Targets");
    assert!(targets.contains("at risk"), "{targets}");
    assert!(targets.contains("↗ disk 95.0 % in about"), "{targets}");
    assert_eq!(
        fg_after(&model, 120, 40, "orders-db", "at risk"),
        Theme::dark().warn
    );
    assert!(pane_text(&buf, " Activity").contains("PREDICTED"));
    fold(
        &mut model,
        r#"14:05:00 {"kind":"prediction_ended","target":"orders-db","metric":"disk"}"#,
    );
    let buf = render(&model, 120, 40).backend().buffer().clone();
    assert!(!pane_text(&buf, " Targets").contains("at risk"));
}

#[test]
fn symptoms_are_listed_under_their_root_which_counts_them() {
    let mut model = on_incidents(busy());
    fold(
        &mut model,
        r#"
14:04:00 {"kind":"incident_detected","incident_id":5,"target":"orders-db","signature":"CONNECTION_REFUSED","severity":"high","started_at":"2026-11-23T14:04:00Z"}
14:04:00.100 {"kind":"incident_detected","incident_id":6,"target":"payments-api","signature":"UPSTREAM_DOWN","severity":"high","started_at":"2026-11-23T14:04:00Z"}
14:04:00.100 {"kind":"incident_linked","incident_id":6,"root_id":5}
14:04:00.200 {"kind":"incident_detected","incident_id":7,"target":"edge-proxy","signature":"UPSTREAM_DOWN","severity":"high","started_at":"2026-11-23T14:04:00Z"}
14:04:00.200 {"kind":"incident_linked","incident_id":7,"root_id":5}
"#,
    );
    let order: Vec<u64> = model.incidents().iter().map(|i| i.id.0).collect();
    assert_eq!(order[..3], [5, 7, 6], "{order:?}");
    let buf = render(&model, 120, 40).backend().buffer().clone();
    let list = pane_text(&buf, " Incidents");
    let root = list.lines().find(|l| l.contains("#5")).unwrap_or_default();
    assert!(root.contains("detected +2"), "{list}");
    let symptom = list.lines().find(|l| l.contains("#6")).unwrap_or_default();
    assert!(
        symptom.contains("└ payments-api") && symptom.contains("symptom"),
        "{list}"
    );
}
