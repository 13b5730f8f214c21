//! Keys: a pure function from (model, key) to what should happen, tested
//! without a terminal. Engine changes leave as `Command`s; the rest is UI.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::time::Duration;

use super::{Modal, Model, Pane, Pick, Verdict};
use crate::event::{Command, IncidentId, Severity};
use crate::state::{Incident, Status};

/// How long `s` silences a target.
pub const SILENCE_FOR: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quit,
    Command(Command),
    Ui(UiAction),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiAction {
    FocusNext,
    FocusPrev,
    /// Move the selection (or scroll a modal) by this many rows.
    Move(isize),
    Top,
    Bottom,
    Open(Modal),
    Close,
    NextTheme,
    FilterPush(char),
    FilterPop,
    /// Esc in the filter: drop it and close.
    FilterClear,
    Flash(String),
    /// Focus the approval queue, on this incident when it waits there.
    FocusQueue(Option<IncidentId>),
    /// Close the top modal and say why on the status line.
    Dismiss(String),
}

pub fn key(model: &Model, key: KeyEvent) -> Option<Action> {
    use Action::Ui;
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    match model.ui.modals.last() {
        Some(Modal::Filter) => {
            return match key.code {
                KeyCode::Esc => Some(Ui(UiAction::FilterClear)),
                KeyCode::Enter => Some(Ui(UiAction::Close)),
                KeyCode::Backspace => Some(Ui(UiAction::FilterPop)),
                KeyCode::Char(c) => Some(Ui(UiAction::FilterPush(c))),
                _ => None,
            };
        }
        Some(Modal::Chaos { target }) => {
            return match key.code {
                KeyCode::Esc => Some(Ui(UiAction::Close)),
                KeyCode::Char('q') => Some(Action::Quit),
                KeyCode::Char(c @ '1'..='9') => {
                    let faults = model.meta.chaos.get(target)?;
                    let fault = faults.get(c as usize - '1' as usize)?;
                    Some(Action::Command(Command::InjectChaos {
                        target: target.clone(),
                        fault: fault.clone(),
                    }))
                }
                _ => None,
            };
        }
        Some(Modal::Confirm { incident, verdict }) => {
            // Only a deliberate second key decides; anything else leaves the question open.
            return match key.code {
                KeyCode::Char('y') | KeyCode::Enter => Some(decide(model, *incident, *verdict)),
                KeyCode::Char('n') | KeyCode::Esc => Some(Ui(UiAction::Dismiss(format!(
                    "{incident} left waiting: not {}",
                    verdict.done()
                )))),
                _ => None,
            };
        }
        Some(Modal::Detail { incident, .. }) if matches!(key.code, KeyCode::Char('a' | 'x')) => {
            return Some(ask(model, *incident, verdict_of(key.code)));
        }
        Some(Modal::Help | Modal::Detail { .. }) => {
            return match key.code {
                KeyCode::Esc | KeyCode::Char('?') => Some(Ui(UiAction::Close)),
                KeyCode::Char('q') => Some(Action::Quit),
                KeyCode::Char('j') | KeyCode::Down => Some(Ui(UiAction::Move(1))),
                KeyCode::Char('k') | KeyCode::Up => Some(Ui(UiAction::Move(-1))),
                KeyCode::PageDown => Some(Ui(UiAction::Move(10))),
                KeyCode::PageUp => Some(Ui(UiAction::Move(-10))),
                KeyCode::Char('g') | KeyCode::Home => Some(Ui(UiAction::Top)),
                _ => None,
            };
        }
        None => {}
    }
    let by = model.meta.operator.clone();
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Ui(UiAction::Open(Modal::Help)),
        KeyCode::Tab => Ui(UiAction::FocusNext),
        KeyCode::BackTab => Ui(UiAction::FocusPrev),
        KeyCode::Char('j') | KeyCode::Down => Ui(UiAction::Move(1)),
        KeyCode::Char('k') | KeyCode::Up => Ui(UiAction::Move(-1)),
        KeyCode::PageDown => Ui(UiAction::Move(10)),
        KeyCode::PageUp => Ui(UiAction::Move(-10)),
        KeyCode::Char('g') | KeyCode::Home => Ui(UiAction::Top),
        KeyCode::Char('G') | KeyCode::End => Ui(UiAction::Bottom),
        KeyCode::Char('t') => Ui(UiAction::NextTheme),
        KeyCode::Char('/') => Ui(UiAction::Open(Modal::Filter)),
        KeyCode::Enter => match open_target(model) {
            Some(incident) => Ui(UiAction::Open(Modal::Detail {
                incident,
                scroll: 0,
            })),
            None => Ui(UiAction::Flash("no incident selected".into())),
        },
        KeyCode::Char('c') => match model.selected_target() {
            Some(t) if model.meta.chaos.contains_key(t) => Ui(UiAction::Open(Modal::Chaos {
                target: t.to_string(),
            })),
            Some(t) => Ui(UiAction::Flash(format!("{t} offers no chaos"))),
            None => Ui(UiAction::Flash("no target selected".into())),
        },
        KeyCode::Char('a' | 'x') => match model.ui.focus {
            _ if model.state.approval_queue().is_empty() => {
                Ui(UiAction::Flash("no fix is awaiting approval".into()))
            }
            Pane::Approvals => match model.selected_incident() {
                Some(inc) => ask(model, inc.id, verdict_of(key.code)),
                None => Ui(UiAction::Flash("no fix is awaiting approval".into())),
            },
            // Away from the queue a key never decides: it takes the operator to
            // the queue, on the picked incident when that one is waiting.
            Pane::Incidents => Ui(UiAction::FocusQueue(
                model
                    .selected_incident()
                    .filter(|i| i.status == Status::AwaitingApproval)
                    .map(|i| i.id),
            )),
            _ => Ui(UiAction::FocusQueue(None)),
        },
        KeyCode::Char('p') if model.state.paused => Action::Command(Command::Resume { by }),
        KeyCode::Char('p') => Action::Command(Command::Pause { by }),
        KeyCode::Char('s') => {
            let target = model.selected_target()?.to_string();
            let silenced = model
                .state
                .targets
                .get(&target)
                .is_some_and(|t| t.silenced_until.is_some());
            match silenced {
                true => Action::Command(Command::Unsilence { target, by }),
                false => Action::Command(Command::Silence {
                    target,
                    duration: SILENCE_FOR,
                    by,
                }),
            }
        }
        _ => return None,
    })
}

/// Enter opens the selected incident: on the targets pane that target's latest,
/// on the feed the incident the selected event is about.
fn open_target(model: &Model) -> Option<crate::event::IncidentId> {
    match model.ui.focus {
        Pane::Targets => {
            let target = model.selected_target()?;
            model
                .state
                .incidents
                .values()
                .rev()
                .find(|i| i.target == target)
                .map(|i| i.id)
        }
        Pane::Feed => model.selected_event()?.kind.incident_id(),
        Pane::Incidents | Pane::Approvals => model.selected_incident().map(|i| i.id),
    }
}

fn verdict_of(code: KeyCode) -> Verdict {
    match code {
        KeyCode::Char('x') => Verdict::Reject,
        _ => Verdict::Approve,
    }
}

impl Verdict {
    /// "approved", "rejected": for the status line.
    pub fn done(self) -> &'static str {
        match self {
            Verdict::Approve => "approved",
            Verdict::Reject => "rejected",
        }
    }
}

/// `a`/`x` on one incident: the confirmation if it waits for a human, else why not.
fn ask(model: &Model, incident: IncidentId, verdict: Verdict) -> Action {
    match model.state.incidents.get(&incident) {
        Some(i) if i.status == Status::AwaitingApproval => {
            Action::Ui(UiAction::Open(Modal::Confirm { incident, verdict }))
        }
        Some(i) => Action::Ui(UiAction::Flash(format!(
            "{incident} is {}: no fix awaits approval",
            i.status.label()
        ))),
        None => Action::Ui(UiAction::Flash(format!("no incident {incident}"))),
    }
}

/// The confirmed verdict, unless the fix stopped waiting while the question was
/// open (another console decided, the target recovered): then nothing is sent.
fn decide(model: &Model, incident_id: IncidentId, verdict: Verdict) -> Action {
    let by = model.meta.operator.clone();
    match model.state.incidents.get(&incident_id) {
        Some(i) if i.status == Status::AwaitingApproval => Action::Command(match verdict {
            Verdict::Approve => Command::Approve { incident_id, by },
            Verdict::Reject => Command::Reject { incident_id, by },
        }),
        Some(i) => Action::Ui(UiAction::Dismiss(format!(
            "{incident_id} is {} now: nothing sent",
            i.status.label()
        ))),
        None => Action::Ui(UiAction::Dismiss(format!("no incident {incident_id}"))),
    }
}

/// Whether a human must approve every fix on this incident's target. The model
/// has no target config, so besides a critical severity it reads the planner's
/// reason ("payments-api is critical: ..."), which is journaled and reaches
/// attached consoles too.
pub fn critical(inc: &Incident) -> bool {
    inc.severity == Severity::Critical
        || inc
            .reason
            .strip_prefix(inc.target.as_str())
            .is_some_and(|r| r.starts_with(" is critical"))
}

/// After `command` left for the engine: the modal that issued it closes, and an
/// approval or rejection is named on the status line until the engine's event shows.
pub fn sent(model: &mut Model, command: &Command) {
    let from_modal = matches!(
        (command, model.ui.modals.last()),
        (Command::InjectChaos { .. }, Some(Modal::Chaos { .. }))
            | (
                Command::Approve { .. } | Command::Reject { .. },
                Some(Modal::Confirm { .. })
            )
    );
    if from_modal {
        model.ui.modals.pop();
    }
    match command {
        Command::Approve { incident_id, .. } => {
            model.ui.flash = Some(format!("approving {incident_id}"));
        }
        Command::Reject { incident_id, .. } => {
            model.ui.flash = Some(format!("rejecting {incident_id}"));
        }
        _ => {}
    }
}

/// Applies a UI action to the model's UI state. Moves pick the item on the
/// new row, so the selection stays on it however the list grows.
pub fn apply(model: &mut Model, action: UiAction) {
    model.ui.flash = None;
    let ui = &mut model.ui;
    let focus = ui.focus;
    match action {
        UiAction::FocusNext | UiAction::FocusPrev => {
            let i = Pane::ALL.iter().position(|p| *p == ui.focus).unwrap_or(0);
            let step = if action == UiAction::FocusNext {
                1
            } else {
                Pane::ALL.len() - 1
            };
            ui.focus = Pane::ALL[(i + step) % Pane::ALL.len()];
            // Left alone, the feed goes back to showing the newest events.
            if focus == Pane::Feed {
                ui.selected.remove(&Pane::Feed);
            }
        }
        UiAction::Move(by) => {
            if let Some(Modal::Detail { scroll, .. }) = ui.modals.last_mut() {
                *scroll = scroll.saturating_add_signed(by);
                return;
            }
            let row = model.selected_row(focus).saturating_add_signed(by);
            model.select_row(focus, row);
        }
        UiAction::Top => match ui.modals.last_mut() {
            Some(Modal::Detail { scroll, .. }) => *scroll = 0,
            _ => model.select_row(focus, 0),
        },
        UiAction::Bottom => model.select_row(focus, usize::MAX),
        UiAction::Open(modal) => ui.modals.push(modal),
        UiAction::Close => {
            ui.modals.pop();
        }
        UiAction::NextTheme => {
            ui.theme = (ui.theme + 1) % model.themes.len().max(1);
            let name = model.theme().name.clone();
            model.ui.flash = Some(format!("theme: {name}"));
        }
        UiAction::FilterPush(c) => ui.filter.push(c),
        UiAction::FilterPop => {
            ui.filter.pop();
        }
        UiAction::FilterClear => {
            ui.filter.clear();
            ui.modals.pop();
        }
        UiAction::Flash(text) => ui.flash = Some(text),
        UiAction::FocusQueue(pick) => {
            if focus == Pane::Feed {
                ui.selected.remove(&Pane::Feed);
            }
            ui.focus = Pane::Approvals;
            if let Some(id) = pick {
                ui.selected.insert(Pane::Approvals, Pick::Incident(id));
            }
            model.settle_selection();
            let on = model
                .selected_incident()
                .map_or(String::new(), |i| format!(" {}", i.id));
            model.ui.flash = Some(format!("approval queue: a again to approve{on}"));
        }
        UiAction::Dismiss(text) => {
            ui.modals.pop();
            ui.flash = Some(text);
        }
    }
    model.settle_selection();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Decision, Event, EventKind, IncidentId, Severity};
    use crate::tui::{Meta, Theme};
    use jiff::Timestamp;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn model() -> Model {
        let meta = Meta {
            mode: "demo".into(),
            started_at: None,
            chaos: Default::default(),
            operator: "alice@ssh:10.0.0.7".into(),
        };
        let mut m = Model::new(Default::default(), meta, vec![Theme::dark()]);
        let ts = Timestamp::from_second(1_700_000_000).unwrap();
        let mut seq = 0;
        let mut push = |m: &mut Model, kind| {
            seq += 1;
            m.apply(Event { seq, ts, kind });
        };
        push(
            &mut m,
            EventKind::EngineStarted {
                version: "0".into(),
                targets: vec!["edge-proxy".into(), "orders-db".into()],
                playbooks: vec![],
                dry_run: false,
                // Chaos offers arrive with the engine's start, as they would from afar.
                chaos: [(
                    "orders-db".to_string(),
                    vec!["DB_TIMEOUT".to_string(), "CRASH".to_string()],
                )]
                .into(),
            },
        );
        for (id, target) in [(1, "orders-db"), (2, "edge-proxy")] {
            push(
                &mut m,
                EventKind::IncidentDetected {
                    incident_id: IncidentId(id),
                    target: target.into(),
                    signature: "DISK_FULL".into(),
                    severity: Severity::High,
                    started_at: ts,
                    chaos: false,
                },
            );
            push(
                &mut m,
                EventKind::IncidentAnalyzed {
                    incident_id: IncidentId(id),
                    playbook: Some("fallback".into()),
                    step: Some("restart".into()),
                    confidence: 0.85,
                    decision: Decision::ApprovalRequired,
                    reason: "confidence 0.85 is below 0.90".into(),
                },
            );
        }
        m.select_row(Pane::Targets, 1);
        m
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

    /// Folds incident `id` into `m`, detected and analyzed as the engine would.
    fn detect(m: &mut Model, id: u64, target: &str) {
        let ts = Timestamp::from_second(1_700_000_000).unwrap();
        for kind in [
            EventKind::IncidentDetected {
                incident_id: IncidentId(id),
                target: target.into(),
                signature: format!("FAULT_{id}"),
                severity: Severity::High,
                started_at: ts,
                chaos: false,
            },
            EventKind::IncidentAnalyzed {
                incident_id: IncidentId(id),
                playbook: Some("fallback".into()),
                step: Some("restart".into()),
                confidence: 0.85,
                decision: Decision::ApprovalRequired,
                reason: "confidence 0.85 is below 0.90".into(),
            },
        ] {
            let seq = m.state.last_seq + 1;
            m.apply(Event { seq, ts, kind });
        }
    }

    #[test]
    fn enter_opens_the_picked_incident_after_new_incidents_arrived() {
        let mut m = model();
        apply(&mut m, UiAction::FocusNext);
        apply(&mut m, UiAction::FocusNext);
        apply(&mut m, UiAction::Move(1));
        // Newest first: #2 #1, so the operator picked #1.
        for id in 3..=5 {
            detect(&mut m, id, "edge-proxy");
        }
        assert_eq!(
            key(&m, press(KeyCode::Enter)),
            Some(Action::Ui(UiAction::Open(Modal::Detail {
                incident: IncidentId(1),
                scroll: 0
            })))
        );
    }

    const ALICE: &str = "alice@ssh:10.0.0.7";

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
            Action::Quit => panic!("{code:?} quit"),
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
        let ts = Timestamp::from_second(1_700_000_000).unwrap();
        let seq = m.state.last_seq + 1;
        let kind = EventKind::ApprovalGranted {
            incident_id: IncidentId(1),
            by: "bob".into(),
        };
        m.apply(Event { seq, ts, kind });
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
        let ts = Timestamp::from_second(1_700_000_000).unwrap();
        let seq = m.state.last_seq + 1;
        let kind = EventKind::ApprovalRejected {
            incident_id: IncidentId(2),
            by: "bob".into(),
        };
        m.apply(Event { seq, ts, kind });
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
        detect(&mut m, 3, "orders-db");
        m.ui.focus = Pane::Approvals;
        m.select_row(Pane::Approvals, 2);
        let ts = Timestamp::from_second(1_700_000_000).unwrap();
        let seq = m.state.last_seq + 1;
        let kind = EventKind::ApprovalGranted {
            incident_id: IncidentId(1),
            by: "bob".into(),
        };
        m.apply(Event { seq, ts, kind });
        step(&mut m, KeyCode::Char('a'));
        assert_eq!(confirming(&m), Some((IncidentId(3), Verdict::Approve)));
    }

    #[test]
    fn a_critical_target_is_recognised_by_severity_or_by_the_planner_reason() {
        let m = model();
        let mut inc = m.state.incidents[&IncidentId(1)].clone();
        assert!(!critical(&inc));
        inc.reason = "orders-db is critical: a human approves every fix".into();
        assert!(critical(&inc));
        inc.reason = "edge-proxy is critical: a human approves every fix".into();
        assert!(!critical(&inc), "another target's criticality");
        inc.severity = Severity::Critical;
        assert!(critical(&inc));
    }

    #[test]
    fn j_moves_from_the_picked_incident_not_from_its_old_row() {
        let mut m = model();
        m.ui.focus = Pane::Incidents;
        m.select_row(Pane::Incidents, 0);
        detect(&mut m, 3, "edge-proxy");
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
}
