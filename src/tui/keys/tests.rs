use super::*;
use crate::event::{EventKind, IncidentId, Severity};
use crate::tui::testkit::{self, ALICE};
use crate::tui::{Meta, Theme};

fn press(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn model() -> Model {
    testkit::waiting()
}

#[test]
fn q_and_ctrl_c_quit() {
    let m = model();
    assert_eq!(key(&m, press(KeyCode::Char('q'))), Some(Action::Quit));
    assert_eq!(
        key(&m, KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
}

#[test]
fn c_opens_the_chaos_menu_and_a_number_injects_that_fault() {
    let mut m = model();
    let open = key(&m, press(KeyCode::Char('c'))).unwrap();
    assert_eq!(
        open,
        Action::Ui(UiAction::Open(Modal::Chaos {
            target: "orders-db".into()
        }))
    );
    let Action::Ui(ui) = open else { unreachable!() };
    apply(&mut m, ui);
    assert_eq!(
        key(&m, press(KeyCode::Char('2'))),
        Some(Action::Command(Command::InjectChaos {
            target: "orders-db".into(),
            fault: "CRASH".into()
        }))
    );
    assert_eq!(key(&m, press(KeyCode::Char('7'))), None, "no seventh fault");
}

#[test]
fn a_target_without_chaos_says_so() {
    let mut m = model();
    m.select_row(Pane::Targets, 0);
    assert_eq!(
        key(&m, press(KeyCode::Char('c'))),
        Some(Action::Ui(UiAction::Flash(
            "edge-proxy offers no chaos".into()
        )))
    );
}

#[test]
fn p_pauses_and_s_silences_the_selected_target_for_an_hour() {
    let m = model();
    assert!(matches!(
        key(&m, press(KeyCode::Char('p'))),
        Some(Action::Command(Command::Pause { .. }))
    ));
    assert!(matches!(
        key(&m, press(KeyCode::Char('s'))),
        Some(Action::Command(Command::Silence { target, duration: SILENCE_FOR, .. })) if target == "orders-db"
    ));
}

#[test]
fn tab_cycles_focus_and_selection_stays_in_bounds() {
    let mut m = model();
    apply(&mut m, UiAction::FocusNext);
    apply(&mut m, UiAction::FocusNext);
    assert_eq!(m.ui.focus, Pane::Incidents);
    apply(&mut m, UiAction::Move(50));
    assert_eq!(m.selected_row(Pane::Incidents), 1);
    apply(&mut m, UiAction::FocusPrev);
    assert_eq!(m.ui.focus, Pane::Feed);
}

#[test]
fn typing_in_the_filter_is_text_not_commands() {
    let mut m = model();
    apply(&mut m, UiAction::Open(Modal::Filter));
    assert_eq!(
        key(&m, press(KeyCode::Char('q'))),
        Some(Action::Ui(UiAction::FilterPush('q')))
    );
    assert_eq!(
        key(&m, press(KeyCode::Esc)),
        Some(Action::Ui(UiAction::FilterClear))
    );
}

#[test]
fn enter_on_the_feed_opens_the_incident_of_that_event() {
    let mut m = model();
    m.ui.focus = Pane::Feed;
    // Newest first: the analysis of #2, then its detection, then #1's.
    m.select_row(Pane::Feed, 2);
    assert_eq!(
        key(&m, press(KeyCode::Enter)),
        Some(Action::Ui(UiAction::Open(Modal::Detail {
            incident: IncidentId(1),
            scroll: 0
        })))
    );
}

#[test]
fn enter_opens_the_selected_incident() {
    let mut m = model();
    m.ui.focus = Pane::Incidents;
    assert_eq!(
        key(&m, press(KeyCode::Enter)),
        Some(Action::Ui(UiAction::Open(Modal::Detail {
            incident: IncidentId(2),
            scroll: 0
        })))
    );
}

#[test]
fn enter_opens_the_picked_incident_after_new_incidents_arrived() {
    let mut m = model();
    apply(&mut m, UiAction::FocusNext);
    apply(&mut m, UiAction::FocusNext);
    apply(&mut m, UiAction::Move(1));
    // Newest first: #2 #1, so the operator picked #1.
    for id in 3..=5 {
        testkit::awaiting(&mut m, id, "edge-proxy");
    }
    assert_eq!(
        key(&m, press(KeyCode::Enter)),
        Some(Action::Ui(UiAction::Open(Modal::Detail {
            incident: IncidentId(1),
            scroll: 0
        })))
    );
}

/// Presses `code` and applies what it does to the UI, as the app loop would;
/// returns the command it sent, if any.
fn step(m: &mut Model, code: KeyCode) -> Option<Command> {
    match key(m, press(code))? {
        Action::Ui(ui) => {
            apply(m, ui);
            None
        }
        Action::Command(c) => {
            sent(m, &c);
            Some(c)
        }
        other => panic!("{code:?}: {other:?}"),
    }
}

fn confirming(m: &Model) -> Option<(IncidentId, Verdict)> {
    match m.ui.modals.last() {
        Some(Modal::Confirm { incident, verdict }) => Some((*incident, *verdict)),
        _ => None,
    }
}

#[test]
fn a_outside_the_queue_moves_focus_to_it_and_approves_nothing() {
    let mut m = model();
    assert_eq!(m.ui.focus, Pane::Targets);
    assert_eq!(step(&mut m, KeyCode::Char('a')), None);
    assert_eq!(m.ui.focus, Pane::Approvals);
    assert_eq!(confirming(&m), None, "no question asked yet");
    assert_eq!(
        m.ui.flash.as_deref(),
        Some("approval queue: a again to approve #1")
    );
}

#[test]
fn a_in_the_incident_list_takes_the_picked_pending_incident_to_the_queue() {
    let mut m = model();
    m.ui.focus = Pane::Incidents;
    // Newest first: #2 #1.
    m.select_row(Pane::Incidents, 0);
    assert_eq!(
        key(&m, press(KeyCode::Char('a'))),
        Some(Action::Ui(UiAction::FocusQueue(Some(IncidentId(2)))))
    );
    step(&mut m, KeyCode::Char('a'));
    assert_eq!(m.ui.focus, Pane::Approvals);
    assert_eq!(m.selected_incident().map(|i| i.id), Some(IncidentId(2)));
}

#[test]
fn a_in_the_queue_asks_before_approving_the_selected_fix() {
    let mut m = model();
    m.ui.focus = Pane::Approvals;
    m.select_row(Pane::Approvals, 1);
    assert_eq!(
        key(&m, press(KeyCode::Char('a'))),
        Some(Action::Ui(UiAction::Open(Modal::Confirm {
            incident: IncidentId(2),
            verdict: Verdict::Approve
        })))
    );
}

#[test]
fn y_confirms_the_approval_naming_the_operator_and_closes_the_question() {
    let mut m = model();
    m.ui.focus = Pane::Approvals;
    m.select_row(Pane::Approvals, 1);
    step(&mut m, KeyCode::Char('a'));
    assert_eq!(
        step(&mut m, KeyCode::Char('y')),
        Some(Command::Approve {
            incident_id: IncidentId(2),
            by: ALICE.into()
        })
    );
    assert!(m.ui.modals.is_empty());
    assert_eq!(m.ui.flash.as_deref(), Some("approving #2"));
}

#[test]
fn enter_confirms_too() {
    let mut m = model();
    m.ui.focus = Pane::Approvals;
    step(&mut m, KeyCode::Char('a'));
    assert!(matches!(
        step(&mut m, KeyCode::Enter),
        Some(Command::Approve {
            incident_id: IncidentId(1),
            ..
        })
    ));
}

#[test]
fn n_and_esc_cancel_without_a_command() {
    for cancel in [KeyCode::Char('n'), KeyCode::Esc] {
        let mut m = model();
        m.ui.focus = Pane::Approvals;
        step(&mut m, KeyCode::Char('a'));
        assert_eq!(step(&mut m, cancel), None);
        assert!(m.ui.modals.is_empty());
        assert_eq!(m.ui.flash.as_deref(), Some("#1 left waiting: not approved"));
    }
}

#[test]
fn other_keys_leave_the_question_open() {
    let mut m = model();
    m.ui.focus = Pane::Approvals;
    step(&mut m, KeyCode::Char('a'));
    for code in [
        KeyCode::Char('a'),
        KeyCode::Char('q'),
        KeyCode::Char('x'),
        KeyCode::Tab,
    ] {
        assert_eq!(key(&m, press(code)), None, "{code:?}");
    }
}

#[test]
fn x_asks_then_rejects_the_selected_fix() {
    let mut m = model();
    m.ui.focus = Pane::Approvals;
    m.select_row(Pane::Approvals, 1);
    step(&mut m, KeyCode::Char('x'));
    assert_eq!(confirming(&m), Some((IncidentId(2), Verdict::Reject)));
    assert_eq!(
        step(&mut m, KeyCode::Char('y')),
        Some(Command::Reject {
            incident_id: IncidentId(2),
            by: ALICE.into()
        })
    );
}

#[test]
fn a_confirmation_for_a_fix_that_stopped_waiting_sends_nothing() {
    let mut m = model();
    m.ui.focus = Pane::Approvals;
    step(&mut m, KeyCode::Char('a'));
    testkit::push(
        &mut m,
        EventKind::ApprovalGranted {
            incident_id: IncidentId(1),
            by: "bob".into(),
            analyst: None,
        },
    );
    assert_eq!(step(&mut m, KeyCode::Char('y')), None);
    assert!(m.ui.modals.is_empty());
    assert_eq!(
        m.ui.flash.as_deref(),
        Some("#1 is remediating now: nothing sent")
    );
}

#[test]
fn a_and_x_in_the_detail_view_ask_about_that_incident() {
    let mut m = model();
    apply(
        &mut m,
        UiAction::Open(Modal::Detail {
            incident: IncidentId(2),
            scroll: 0,
        }),
    );
    step(&mut m, KeyCode::Char('a'));
    assert_eq!(confirming(&m), Some((IncidentId(2), Verdict::Approve)));
    assert_eq!(
        step(&mut m, KeyCode::Char('y')),
        Some(Command::Approve {
            incident_id: IncidentId(2),
            by: ALICE.into()
        })
    );
    // Back on the detail, where the outcome will show.
    assert!(matches!(m.ui.modals.last(), Some(Modal::Detail { .. })));
    step(&mut m, KeyCode::Char('x'));
    assert_eq!(confirming(&m), Some((IncidentId(2), Verdict::Reject)));
}

#[test]
fn a_in_the_detail_of_an_incident_not_waiting_says_why() {
    let mut m = model();
    testkit::push(
        &mut m,
        EventKind::ApprovalRejected {
            incident_id: IncidentId(2),
            by: "bob".into(),
        },
    );
    apply(
        &mut m,
        UiAction::Open(Modal::Detail {
            incident: IncidentId(2),
            scroll: 0,
        }),
    );
    assert_eq!(
        key(&m, press(KeyCode::Char('x'))),
        Some(Action::Ui(UiAction::Flash(
            "#2 is rejected: no fix awaits approval".into()
        )))
    );
}

#[test]
fn a_with_nothing_waiting_says_so_and_stays_put() {
    let mut m = Model::new(Default::default(), Meta::default(), vec![Theme::dark()]);
    assert_eq!(
        key(&m, press(KeyCode::Char('a'))),
        Some(Action::Ui(UiAction::Flash(
            "no fix is awaiting approval".into()
        )))
    );
    step(&mut m, KeyCode::Char('a'));
    assert_eq!(m.ui.focus, Pane::Targets);
}

#[test]
fn a_in_the_queue_asks_about_the_picked_fix_after_an_older_one_left() {
    let mut m = model();
    testkit::awaiting(&mut m, 3, "orders-db");
    m.ui.focus = Pane::Approvals;
    m.select_row(Pane::Approvals, 2);
    testkit::push(
        &mut m,
        EventKind::ApprovalGranted {
            incident_id: IncidentId(1),
            by: "bob".into(),
            analyst: None,
        },
    );
    step(&mut m, KeyCode::Char('a'));
    assert_eq!(confirming(&m), Some((IncidentId(3), Verdict::Approve)));
}

#[test]
fn a_critical_target_is_recognised_by_severity_or_by_its_journaled_flag() {
    let m = model();
    let mut inc = m.state.incidents[&IncidentId(1)].clone();
    assert!(!critical(&inc));
    inc.reason = "orders-db is critical: a human approves every fix".into();
    assert!(!critical(&inc), "the reason's wording decides nothing");
    inc.critical = true;
    assert!(critical(&inc));
    inc.critical = false;
    inc.severity = Severity::Critical;
    assert!(critical(&inc));
}

#[test]
fn j_moves_from_the_picked_incident_not_from_its_old_row() {
    let mut m = model();
    m.ui.focus = Pane::Incidents;
    m.select_row(Pane::Incidents, 0);
    testkit::awaiting(&mut m, 3, "edge-proxy");
    // Newest first: #3 #2 #1; #2 stays picked, so j goes to #1.
    apply(&mut m, UiAction::Move(1));
    assert_eq!(m.selected_incident().map(|i| i.id), Some(IncidentId(1)));
}

#[test]
fn leaving_the_feed_returns_it_to_the_newest_events() {
    let mut m = model();
    m.ui.focus = Pane::Feed;
    apply(&mut m, UiAction::Bottom);
    assert_ne!(m.selected_row(Pane::Feed), 0);
    apply(&mut m, UiAction::FocusNext);
    assert_eq!(m.selected_row(Pane::Feed), 0);
}

/// The detail view of incident `id`, opened over `m`.
fn detail(mut m: Model, id: u64) -> Model {
    m.ui.modals.push(Modal::Detail {
        incident: IncidentId(id),
        scroll: 0,
    });
    m
}

fn flash_of(m: &Model, code: KeyCode) -> Option<String> {
    match key(m, press(code))? {
        Action::Ui(UiAction::Flash(text)) => Some(text),
        other => panic!("{code:?}: {other:?}"),
    }
}

#[test]
fn r_in_an_escalated_incident_asks_then_retries_it_from_the_first_step() {
    let mut m = detail(testkit::escalated(), 1);
    assert_eq!(step(&mut m, KeyCode::Char('r')), None);
    assert_eq!(confirming(&m), Some((IncidentId(1), Verdict::Retry)));
    assert_eq!(
        step(&mut m, KeyCode::Char('y')),
        Some(Command::Retry {
            incident_id: IncidentId(1),
            step: None,
            by: ALICE.into()
        })
    );
    assert_eq!(confirming(&m), None, "the question closed");
    assert_eq!(m.ui.flash.as_deref(), Some("retrying #1"));
    assert!(matches!(m.ui.modals.last(), Some(Modal::Detail { .. })));
}

#[test]
fn a_retry_question_left_with_n_sends_nothing() {
    let mut m = detail(testkit::escalated(), 1);
    step(&mut m, KeyCode::Char('r'));
    assert_eq!(step(&mut m, KeyCode::Char('n')), None);
    assert_eq!(confirming(&m), None);
    assert_eq!(m.ui.flash.as_deref(), Some("#1 left waiting: not retried"));
}

#[test]
fn r_on_an_incident_that_is_not_stuck_says_why_not() {
    let m = detail(model(), 1);
    assert_eq!(
        flash_of(&m, KeyCode::Char('r')).as_deref(),
        Some("#1 is awaiting approval: only escalated or rejected incidents are retried")
    );
}

#[test]
fn o_acknowledges_as_the_operator_once() {
    let mut m = detail(testkit::escalated(), 1);
    assert_eq!(
        step(&mut m, KeyCode::Char('o')),
        Some(Command::Acknowledge {
            incident_id: IncidentId(1),
            by: ALICE.into()
        })
    );
    assert_eq!(m.ui.flash.as_deref(), Some("acknowledging #1"));
    testkit::push(
        &mut m,
        EventKind::IncidentAcknowledged {
            incident_id: IncidentId(1),
            by: ALICE.into(),
        },
    );
    assert_eq!(
        flash_of(&m, KeyCode::Char('o')).as_deref(),
        Some("#1 is yours already")
    );
}

#[test]
fn capital_c_takes_a_note_and_enter_closes_with_it() {
    let mut m = detail(testkit::escalated(), 1);
    step(&mut m, KeyCode::Char('C'));
    assert!(matches!(m.ui.modals.last(), Some(Modal::Note { .. })));
    // Empty, Enter asks for the note instead of sending.
    assert_eq!(step(&mut m, KeyCode::Enter), None);
    assert_eq!(
        m.ui.flash.as_deref(),
        Some("type why it is closed, then Enter")
    );
    // Every key types, global ones included.
    for c in " qa fixedx".chars() {
        assert_eq!(step(&mut m, KeyCode::Char(c)), None, "{c}");
    }
    step(&mut m, KeyCode::Backspace);
    assert_eq!(
        step(&mut m, KeyCode::Enter),
        Some(Command::Close {
            incident_id: IncidentId(1),
            note: "qa fixed".into(),
            by: ALICE.into()
        })
    );
    assert!(matches!(m.ui.modals.last(), Some(Modal::Detail { .. })));
    assert_eq!(m.ui.flash.as_deref(), Some("closing #1"));
}

#[test]
fn esc_in_the_note_closes_nothing() {
    let mut m = detail(testkit::escalated(), 1);
    step(&mut m, KeyCode::Char('C'));
    step(&mut m, KeyCode::Char('x'));
    assert_eq!(step(&mut m, KeyCode::Esc), None);
    assert!(matches!(m.ui.modals.last(), Some(Modal::Detail { .. })));
    assert_eq!(m.ui.flash.as_deref(), Some("#1 left open: not closed"));
}

#[test]
fn a_closed_incident_offers_no_dead_letter_key() {
    let mut m = testkit::escalated();
    testkit::push(
        &mut m,
        EventKind::IncidentClosed {
            incident_id: IncidentId(1),
            note: "done".into(),
            by: "bob".into(),
        },
    );
    let m = detail(m, 1);
    for (code, text) in [
        (
            'r',
            "#1 is closed: only escalated or rejected incidents are retried",
        ),
        ('o', "#1 is closed already"),
        ('C', "#1 is closed already"),
    ] {
        assert_eq!(
            flash_of(&m, KeyCode::Char(code)).as_deref(),
            Some(text),
            "{code}"
        );
    }
}

#[test]
fn a_note_closed_elsewhere_meanwhile_is_not_sent() {
    let mut m = detail(testkit::escalated(), 1);
    step(&mut m, KeyCode::Char('C'));
    step(&mut m, KeyCode::Char('x'));
    testkit::push(
        &mut m,
        EventKind::IncidentClosed {
            incident_id: IncidentId(1),
            note: "done".into(),
            by: "bob".into(),
        },
    );
    assert_eq!(step(&mut m, KeyCode::Enter), None);
    assert_eq!(
        m.ui.flash.as_deref(),
        Some("#1 is closed now: nothing sent")
    );
}
