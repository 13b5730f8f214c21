//! The console's list keys (sort, status filter, follow/freeze, export, the log
//! overlay) and the mouse: from key to what the operator then sees picked.

use super::*;
use crate::event::IncidentId;
use crate::tui::listing::{Sort, StatusFilter};
use crate::tui::log_ring::LogRecord;
use crate::tui::panes::Hit;
use crate::tui::testkit::{self, awaiting};
use ratatui::layout::Rect;

fn press(m: &mut Model, c: char) -> Option<Action> {
    let action = key(m, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    if let Some(Action::Ui(ui)) = action.clone() {
        apply(m, ui);
    }
    action
}

fn ids(m: &Model) -> Vec<u64> {
    m.incidents().iter().map(|i| i.id.0).collect()
}

fn picked(m: &Model) -> Option<u64> {
    m.selected_incident().map(|i| i.id.0)
}

fn on_incidents() -> Model {
    let mut m = testkit::history();
    m.ui.focus = Pane::Incidents;
    m
}

#[test]
fn capital_s_cycles_the_order_and_the_pick_stays_on_its_incident() {
    let mut m = on_incidents();
    m.select_row(Pane::Incidents, 1);
    assert_eq!((ids(&m), picked(&m)), (vec![4, 3, 2, 1], Some(3)));

    assert_eq!(press(&mut m, 'S'), Some(Action::Ui(UiAction::NextSort)));
    assert_eq!(m.ui.sort, Sort::Status);
    // Awaiting approval, escalated, then the resolved ones newest first.
    assert_eq!(ids(&m), vec![4, 2, 3, 1]);
    assert_eq!(picked(&m), Some(3), "the pick follows #3 to its new row");
    assert_eq!(m.selected_row(Pane::Incidents), 2);
    assert_eq!(m.ui.flash.as_deref(), Some("incidents: by status"));

    press(&mut m, 'S');
    assert_eq!(m.ui.sort, Sort::TimeToResolve);
    // The slowest fix first, unresolved after the resolved.
    assert_eq!(ids(&m), vec![1, 3, 4, 2]);
    assert_eq!(picked(&m), Some(3));

    press(&mut m, 'S');
    assert_eq!(m.ui.sort, Sort::Newest);
    assert_eq!(ids(&m), vec![4, 3, 2, 1]);
}

#[test]
fn capital_f_cycles_the_statuses_shown() {
    let mut m = on_incidents();
    let mut seen = Vec::new();
    for _ in 0..5 {
        assert_eq!(
            press(&mut m, 'F'),
            Some(Action::Ui(UiAction::NextStatusFilter))
        );
        seen.push((m.ui.status_filter, ids(&m)));
    }
    assert_eq!(
        seen,
        [
            (StatusFilter::Open, vec![4, 2]),
            (StatusFilter::AwaitingApproval, vec![4]),
            (StatusFilter::Escalated, vec![2]),
            (StatusFilter::Resolved, vec![3, 1]),
            (StatusFilter::All, vec![4, 3, 2, 1]),
        ]
    );
}

#[test]
fn an_incident_the_status_filter_hides_gives_way_and_says_so() {
    let mut m = on_incidents();
    m.select_row(Pane::Incidents, 1); // #3, resolved
    press(&mut m, 'F'); // open only
    assert_eq!(picked(&m), Some(2), "the next one down took its place");
    assert_eq!(
        m.ui.flash.as_deref(),
        Some("#3 left the status filter; selected #2")
    );
}

#[test]
fn sorted_and_filtered_the_pick_stays_while_incidents_arrive_and_resolve() {
    let mut m = on_incidents();
    press(&mut m, 'S'); // by status
    press(&mut m, 'F'); // open
    m.select_row(Pane::Incidents, 1);
    assert_eq!(picked(&m), Some(2));
    for id in 5..=7 {
        awaiting(&mut m, id, "orders-db");
    }
    assert_eq!(ids(&m), vec![7, 6, 5, 4, 2]);
    assert_eq!(picked(&m), Some(2));
    assert_eq!(m.selected_row(Pane::Incidents), 4);
    // An incident above it resolves and leaves the open list: the pick stays.
    testkit::resolve(&mut m, 6, 1_000);
    assert_eq!(picked(&m), Some(2));
    assert_eq!(
        m.ui.flash.as_deref(),
        Some("incidents: open"),
        "nothing said it left"
    );
}

#[test]
fn f_freezes_the_feed_and_counts_what_arrives_then_follows_the_newest() {
    let mut m = testkit::waiting();
    m.ui.focus = Pane::Feed;
    let before: Vec<u64> = m.feed().iter().map(|e| e.seq).collect();
    assert_eq!(press(&mut m, 'f'), Some(Action::Ui(UiAction::ToggleFollow)));
    assert!(m.ui.feed_frozen_at.is_some());
    m.select_row(Pane::Feed, 1);
    let pick = m.selected_event().map(|e| e.seq);
    awaiting(&mut m, 3, "orders-db");
    let after: Vec<u64> = m.feed().iter().map(|e| e.seq).collect();
    assert_eq!(after, before, "frozen rows stay still");
    assert_eq!(m.feed_unseen(), 2);
    assert_eq!(m.selected_event().map(|e| e.seq), pick);
    assert_eq!(m.selected_row(Pane::Feed), 1);

    press(&mut m, 'f');
    assert_eq!(m.ui.feed_frozen_at, None);
    assert_eq!(m.feed_unseen(), 0);
    assert_eq!(
        m.feed()[0].seq,
        m.state.last_seq,
        "the newest is back on top"
    );
    assert_eq!(m.selected_row(Pane::Feed), 0);
    assert_eq!(m.ui.flash.as_deref(), Some("activity follows the newest"));
}

#[test]
fn capital_l_opens_the_log_overlay_which_scrolls_and_closes() {
    let mut m = testkit::waiting();
    m.meta.recent_log.push(LogRecord {
        at: testkit::ts(),
        error: false,
        target: "autoheal::remote".into(),
        message: "daemon gone; reconnecting".into(),
    });
    press(&mut m, 'L');
    assert_eq!(m.ui.modals.last(), Some(&Modal::Log { scroll: 0 }));
    press(&mut m, 'j');
    assert_eq!(m.ui.modals.last(), Some(&Modal::Log { scroll: 1 }));
    press(&mut m, 'g');
    assert_eq!(m.ui.modals.last(), Some(&Modal::Log { scroll: 0 }));
    let esc = key(&m, KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(esc, Some(Action::Ui(UiAction::Close)));
}

#[test]
fn e_exports_the_selected_incident_from_the_list_the_detail_or_a_target() {
    let mut m = on_incidents();
    m.select_row(Pane::Incidents, 2);
    assert_eq!(press(&mut m, 'e'), Some(Action::Export(IncidentId(2))));

    m.ui.modals.push(Modal::Detail {
        incident: IncidentId(3),
        scroll: 0,
    });
    assert_eq!(press(&mut m, 'e'), Some(Action::Export(IncidentId(3))));
    m.ui.modals.clear();

    // On the targets pane: that target's latest incident.
    m.ui.focus = Pane::Targets;
    m.select_row(Pane::Targets, 0);
    assert_eq!(press(&mut m, 'e'), Some(Action::Export(IncidentId(4))));

    let mut empty = testkit::started();
    empty.ui.focus = Pane::Incidents;
    assert_eq!(
        press(&mut empty, 'e'),
        Some(Action::Ui(UiAction::Flash("no incident to export".into())))
    );
}

fn click(column: u16, row: u16, kind: MouseEventKind) -> MouseEvent {
    MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }
}

#[test]
fn a_click_picks_the_row_and_focuses_its_pane_and_the_wheel_scrolls() {
    let mut m = on_incidents();
    m.ui.focus = Pane::Targets;
    let hits = [
        Hit {
            area: Rect::new(0, 10, 80, 10),
            pane: Pane::Incidents,
            pick: None,
        },
        Hit {
            area: Rect::new(1, 12, 78, 1),
            pane: Pane::Incidents,
            pick: Some(Pick::Incident(IncidentId(2))),
        },
    ];
    let left = MouseEventKind::Down(MouseButton::Left);
    let action = mouse(&m, &hits, click(5, 12, left));
    assert_eq!(
        action,
        Some(UiAction::Click(
            Pane::Incidents,
            Some(Pick::Incident(IncidentId(2)))
        ))
    );
    apply(&mut m, action.unwrap());
    assert_eq!((m.ui.focus, picked(&m)), (Pane::Incidents, Some(2)));

    // On the pane's frame, not a row: focus only.
    let frame = mouse(&m, &hits, click(0, 19, left));
    assert_eq!(frame, Some(UiAction::Click(Pane::Incidents, None)));
    // Outside every pane: nothing, and no redraw.
    assert_eq!(mouse(&m, &hits, click(0, 2, left)), None);
    assert_eq!(mouse(&m, &hits, click(5, 12, MouseEventKind::Moved)), None);

    let wheel = mouse(&m, &hits, click(5, 15, MouseEventKind::ScrollUp));
    assert_eq!(wheel, Some(UiAction::Wheel(Pane::Incidents, -3)));
    apply(&mut m, wheel.unwrap());
    assert_eq!(picked(&m), Some(4), "three up from #2, clamped to the top");
}

#[test]
fn under_a_modal_clicks_do_nothing_and_the_wheel_scrolls_the_timeline() {
    let mut m = on_incidents();
    m.ui.modals.push(Modal::Detail {
        incident: IncidentId(1),
        scroll: 0,
    });
    let left = MouseEventKind::Down(MouseButton::Left);
    assert_eq!(mouse(&m, &[], click(5, 5, left)), None);
    let wheel = mouse(&m, &[], click(5, 5, MouseEventKind::ScrollDown));
    assert_eq!(wheel, Some(UiAction::Move(3)));
}

#[test]
fn the_theme_is_remembered_and_a_write_failure_is_an_error_not_a_panic() {
    use crate::tui::theme::{remember, remembered};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state/autoheal/theme");
    assert_eq!(remembered(&file), None);
    remember(&file, "light").unwrap();
    assert_eq!(remembered(&file).as_deref(), Some("light"));
    // A file where the directory should be: the write fails, nothing panics.
    let blocked = dir.path().join("state/autoheal/theme/nested");
    assert!(remember(&blocked, "dark").is_err());
}

#[test]
fn new_keys_do_not_reach_the_engine() {
    // S F f L move nothing in the engine: they are UI, never a Command.
    let mut m = on_incidents();
    for c in ['S', 'F', 'f', 'L'] {
        assert!(
            matches!(press(&mut m, c), Some(Action::Ui(_))),
            "{c} is a UI key"
        );
        m.ui.modals.clear();
    }
}
