//! Keys: a pure function from (model, key) to what should happen, tested
//! without a terminal. Engine changes leave as `Command`s; the rest is UI.

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Position;
use std::time::Duration;

use super::panes::Hit;
use super::{Modal, Model, Pane, Pick, Verdict};
use crate::api::MAX_NOTE;
use crate::event::{Command, IncidentId, Severity};
use crate::state::{Incident, Status};

/// How long `s` silences a target.
pub const SILENCE_FOR: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quit,
    Command(Command),
    Ui(UiAction),
    /// Write the incident to files and copy it to the clipboard (the app does
    /// the writing: keys stay pure).
    Export(IncidentId),
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
    /// Type into, or take back from, the closing note.
    NotePush(char),
    NotePop,
    /// The incident list's next order (`S`).
    NextSort,
    /// The incident list's next status filter (`F`).
    NextStatusFilter,
    /// Freeze the activity feed where it is, or follow the newest again (`f`).
    ToggleFollow,
    /// A click: focus the pane, and pick the item on the row clicked.
    Click(Pane, Option<Pick>),
    /// The wheel over a pane (or an open timeline): move by this many rows.
    Wheel(Pane, isize),
}

/// Rows the wheel moves per notch.
const WHEEL_ROWS: isize = 3;

/// A mouse event over a frame whose panes and rows landed at `hits` (none
/// while a modal is open: then only the wheel counts, and scrolls it).
pub fn mouse(model: &Model, hits: &[Hit], event: MouseEvent) -> Option<UiAction> {
    let at = Position::new(event.column, event.row);
    let under = |want_row: bool| {
        hits.iter()
            .find(|h| h.pick.is_some() == want_row && h.area.contains(at))
    };
    let wheel = match event.kind {
        MouseEventKind::ScrollDown => WHEEL_ROWS,
        MouseEventKind::ScrollUp => -WHEEL_ROWS,
        MouseEventKind::Down(MouseButton::Left) if model.ui.modals.is_empty() => {
            let hit = under(true).or_else(|| under(false))?;
            return Some(UiAction::Click(hit.pane, hit.pick.clone()));
        }
        _ => return None,
    };
    match model.ui.modals.last() {
        Some(Modal::Detail { .. } | Modal::Log { .. }) => Some(UiAction::Move(wheel)),
        Some(_) => None,
        None => Some(UiAction::Wheel(under(false)?.pane, wheel)),
    }
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
        Some(Modal::Detail { incident, .. }) if dead_letter::KEYS.contains(&key.code) => {
            return Some(dead_letter::key(model, *incident, key.code));
        }
        Some(Modal::Note { incident, text }) => {
            return dead_letter::note(model, *incident, text, key);
        }
        Some(Modal::Detail { incident, .. }) if key.code == KeyCode::Char('e') => {
            return Some(Action::Export(*incident));
        }
        Some(Modal::Help | Modal::Detail { .. } | Modal::Log { .. }) => {
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
        KeyCode::Char('S') => Ui(UiAction::NextSort),
        KeyCode::Char('F') => Ui(UiAction::NextStatusFilter),
        KeyCode::Char('f') => Ui(UiAction::ToggleFollow),
        KeyCode::Char('L') => Ui(UiAction::Open(Modal::Log { scroll: 0 })),
        KeyCode::Char('e') => match model.ui.focus {
            Pane::Incidents | Pane::Approvals => match model.selected_incident() {
                Some(i) => Action::Export(i.id),
                None => Ui(UiAction::Flash("no incident to export".into())),
            },
            _ => match open_target(model) {
                Some(id) => Action::Export(id),
                None => Ui(UiAction::Flash("no incident selected to export".into())),
            },
        },
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
            Verdict::Retry => "retried",
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
    if verdict == Verdict::Retry {
        return dead_letter::retry(model, incident_id);
    }
    let by = model.meta.operator.clone();
    match model.state.incidents.get(&incident_id) {
        Some(i) if i.status == Status::AwaitingApproval => Action::Command(match verdict {
            Verdict::Reject => Command::Reject { incident_id, by },
            _ => Command::Approve { incident_id, by },
        }),
        Some(i) => Action::Ui(UiAction::Dismiss(format!(
            "{incident_id} is {} now: nothing sent",
            i.status.label()
        ))),
        None => Action::Ui(UiAction::Dismiss(format!("no incident {incident_id}"))),
    }
}

/// Whether a human must approve every fix on this incident: a critical
/// severity, or a target marked critical (journaled with the analysis, so
/// attached consoles know it too).
pub fn critical(inc: &Incident) -> bool {
    inc.severity == Severity::Critical || inc.critical
}

/// After `command` left for the engine: the modal that issued it closes, and an
/// approval or rejection is named on the status line until the engine's event shows.
pub fn sent(model: &mut Model, command: &Command) {
    let from_modal = matches!(
        (command, model.ui.modals.last()),
        (Command::InjectChaos { .. }, Some(Modal::Chaos { .. }))
            | (
                Command::Approve { .. } | Command::Reject { .. } | Command::Retry { .. },
                Some(Modal::Confirm { .. })
            )
            | (Command::Close { .. }, Some(Modal::Note { .. }))
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
        _ => dead_letter::sent(model, command),
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
            if let Some(Modal::Detail { scroll, .. } | Modal::Log { scroll }) = ui.modals.last_mut()
            {
                *scroll = scroll.saturating_add_signed(by);
                return;
            }
            let row = model.selected_row(focus).saturating_add_signed(by);
            model.select_row(focus, row);
        }
        UiAction::Top => match ui.modals.last_mut() {
            Some(Modal::Detail { scroll, .. } | Modal::Log { scroll }) => *scroll = 0,
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
        edit @ (UiAction::NotePush(_) | UiAction::NotePop) => {
            if let Some(Modal::Note { text, .. }) = ui.modals.last_mut() {
                match edit {
                    UiAction::NotePush(c) if text.chars().count() < MAX_NOTE => text.push(c),
                    UiAction::NotePop => drop(text.pop()),
                    _ => {}
                }
            }
        }
        UiAction::NextSort => {
            ui.sort = ui.sort.next();
            ui.flash = Some(format!("incidents: {}", ui.sort.label()));
        }
        UiAction::NextStatusFilter => {
            ui.status_filter = ui.status_filter.next();
            ui.flash = Some(format!("incidents: {}", ui.status_filter.label()));
        }
        UiAction::Click(pane, pick) => {
            if focus == Pane::Feed && pane != Pane::Feed {
                ui.selected.remove(&Pane::Feed);
            }
            ui.focus = pane;
            if let Some(pick) = pick {
                ui.selected.insert(pane, pick);
            }
        }
        UiAction::Wheel(pane, by) => {
            if focus == Pane::Feed && pane != Pane::Feed {
                ui.selected.remove(&Pane::Feed);
            }
            ui.focus = pane;
            let row = model.selected_row(pane).saturating_add_signed(by);
            model.select_row(pane, row);
        }
        UiAction::ToggleFollow => {
            ui.feed_frozen_at = match ui.feed_frozen_at {
                Some(_) => {
                    // Following again: back to the newest, as when the feed is left alone.
                    ui.selected.remove(&Pane::Feed);
                    None
                }
                None => Some(model.feed.back().map_or(0, |e| e.seq)),
            };
            model.ui.flash = Some(
                match model.ui.feed_frozen_at {
                    Some(_) => "activity frozen: f to follow",
                    None => "activity follows the newest",
                }
                .into(),
            );
        }
    }
    model.settle_selection();
}

#[cfg(test)]
mod console_tests;
mod dead_letter;
#[cfg(test)]
mod tests;
