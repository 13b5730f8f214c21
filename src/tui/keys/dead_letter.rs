//! Keys of the incident detail view for working the dead-letter queue: retry
//! (after a confirmation), acknowledge (own it), close by hand with a note.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Action, UiAction};
use crate::event::{Command, IncidentId};
use crate::tui::{Modal, Model, Verdict};

/// `r` retry, `o` own (acknowledge), `C` close with a note: none is a global key.
pub const KEYS: [KeyCode; 3] = [KeyCode::Char('r'), KeyCode::Char('o'), KeyCode::Char('C')];

/// A dead-letter key in the detail view of `incident`: the step it starts,
/// or why it does not apply to this incident.
pub fn key(model: &Model, incident: IncidentId, code: KeyCode) -> Action {
    let flash = |text: String| Action::Ui(UiAction::Flash(text));
    let Some(inc) = model.state.incidents.get(&incident) else {
        return flash(format!("no incident {incident}"));
    };
    let status = inc.status.label();
    match code {
        KeyCode::Char('r') if inc.status.can_retry() => {
            Action::Ui(UiAction::Open(Modal::Confirm {
                incident,
                verdict: Verdict::Retry,
            }))
        }
        KeyCode::Char('r') => flash(format!(
            "{incident} is {status}: only escalated or rejected incidents are retried"
        )),
        _ if !inc.status.is_open() => flash(format!("{incident} is {status} already")),
        KeyCode::Char('o') if inc.acknowledged_by.as_ref() == Some(&model.meta.operator) => {
            flash(format!("{incident} is yours already"))
        }
        KeyCode::Char('o') => Action::Command(Command::Acknowledge {
            incident_id: incident,
            by: model.meta.operator.clone(),
        }),
        _ => Action::Ui(UiAction::Open(Modal::Note {
            incident,
            text: String::new(),
        })),
    }
}

/// The confirmed retry, unless the incident left the dead-letter queue meanwhile.
pub fn retry(model: &Model, incident_id: IncidentId) -> Action {
    match model.state.incidents.get(&incident_id) {
        Some(i) if i.status.can_retry() => Action::Command(Command::Retry {
            incident_id,
            step: None,
            by: model.meta.operator.clone(),
        }),
        Some(i) => Action::Ui(UiAction::Dismiss(format!(
            "{incident_id} is {} now: nothing sent",
            i.status.label()
        ))),
        None => Action::Ui(UiAction::Dismiss(format!("no incident {incident_id}"))),
    }
}

/// Typing the closing note: Enter sends it (a note is required), Esc cancels.
pub fn note(model: &Model, incident_id: IncidentId, text: &str, key: KeyEvent) -> Option<Action> {
    Some(match key.code {
        KeyCode::Esc => Action::Ui(UiAction::Dismiss(format!(
            "{incident_id} left open: not closed"
        ))),
        KeyCode::Enter if text.trim().is_empty() => {
            Action::Ui(UiAction::Flash("type why it is closed, then Enter".into()))
        }
        KeyCode::Enter => match model.state.incidents.get(&incident_id) {
            Some(i) if i.status.is_open() => Action::Command(Command::Close {
                incident_id,
                note: text.trim().to_string(),
                by: model.meta.operator.clone(),
            }),
            Some(i) => Action::Ui(UiAction::Dismiss(format!(
                "{incident_id} is {} now: nothing sent",
                i.status.label()
            ))),
            None => Action::Ui(UiAction::Dismiss(format!("no incident {incident_id}"))),
        },
        KeyCode::Backspace => Action::Ui(UiAction::NotePop),
        KeyCode::Char(c) if !c.is_control() => Action::Ui(UiAction::NotePush(c)),
        _ => return None,
    })
}

/// After a dead-letter command left: say so until the engine's event shows.
pub fn sent(model: &mut Model, command: &Command) {
    let text = match command {
        Command::Retry { incident_id, .. } => format!("retrying {incident_id}"),
        Command::Acknowledge { incident_id, .. } => format!("acknowledging {incident_id}"),
        Command::Close { incident_id, .. } => format!("closing {incident_id}"),
        _ => return,
    };
    model.ui.flash = Some(text);
}
