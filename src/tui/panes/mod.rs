//! One file per pane. Each pane draws itself into the area the view gives it and
//! decides for itself what to leave out when that area is small; the view only
//! decides where panes go. Shared helpers (blocks, durations, clocks) live here so
//! every pane words and colours things the same way.

pub mod approvals;
pub mod chaos;
pub mod confirm;
pub mod detail;
pub mod feed;
pub mod filter;
pub mod header;
pub mod help;
pub mod incidents;
pub mod log;
pub mod note;
pub mod stats;
pub mod targets;
pub mod wording;
pub mod wrap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear};

use super::{Glyphs, Model, Pane, Pick, Theme};
use crate::state::Status;
use std::cell::RefCell;

/// Everything a pane reads: the model, the theme in use, and the time of this frame.
pub struct Ctx<'a> {
    pub model: &'a Model,
    pub theme: &'a Theme,
    /// Unicode or ASCII frames, bars and marks, as the terminal can show them.
    pub glyphs: &'a Glyphs,
    /// The frame's clock: panes never read the real one, so frames are reproducible.
    pub now: Timestamp,
    /// The zone clock times are shown in (the system zone live, UTC in tests).
    pub tz: &'a TimeZone,
    /// Where each pane and row landed in this frame, for the mouse.
    pub hits: RefCell<Vec<Hit>>,
}

/// A pane, or one of its rows, where it was drawn: a click there picks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub area: Rect,
    pub pane: Pane,
    /// The row's item; none for the pane as a whole.
    pub pick: Option<Pick>,
}

impl Ctx<'_> {
    /// `HH:MM:SS` in the display zone; via the civil time so no string formatting
    /// machinery runs per row.
    pub fn clock(&self, ts: Timestamp) -> String {
        let dt = self.tz.to_datetime(ts);
        format!("{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second())
    }

    /// Notes that `pane` (or its row of `pick`) was drawn at `area`.
    pub fn hit(&self, area: Rect, pane: Pane, pick: Option<Pick>) {
        self.hits.borrow_mut().push(Hit { area, pane, pick });
    }

    pub fn fg(&self, color: Color) -> Style {
        Style::new().fg(color)
    }

    pub fn muted(&self) -> Style {
        self.fg(self.theme.muted)
    }

    pub fn focused(&self, pane: Pane) -> bool {
        self.model.ui.focus == pane
    }

    /// The selected row's base style; coloured spans drawn over it keep their own
    /// foreground, so a selected failing target still reads red.
    /// With no colour at all (`NO_COLOR`, `TERM=dumb`), reverse video marks it instead.
    pub fn selection(&self) -> Style {
        let style = Style::new()
            .bg(self.theme.selection_bg)
            .fg(self.theme.selection_fg);
        match self.theme.selection_bg {
            ratatui::style::Color::Reset => style.add_modifier(ratatui::style::Modifier::REVERSED),
            _ => style,
        }
    }
}

/// A pane's frame: the focused pane gets `border_focused` and a bold title, so the
/// eye finds where keys go without reading.
pub fn pane_block<'a>(ctx: &Ctx, title: Vec<Span<'a>>, focused: bool) -> Block<'a> {
    let (border, title_style) = if focused {
        (
            ctx.theme.border_focused,
            Style::new()
                .fg(ctx.theme.border_focused)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        (ctx.theme.border, Style::new().fg(ctx.theme.text))
    };
    let mut spans = vec![Span::raw(" ")];
    spans.extend(title);
    spans.push(Span::raw(" "));
    Block::bordered()
        .border_set(ctx.glyphs.border)
        .border_style(Style::new().fg(border))
        .title(Line::from(spans).style(title_style))
}

/// Clears `area` and frames it as a modal: modals always look focused, since
/// keys go to the top one.
pub fn modal_block<'a>(
    frame: &mut Frame,
    ctx: &Ctx,
    area: Rect,
    title: Vec<Span<'a>>,
) -> Block<'a> {
    frame.render_widget(Clear, area);
    pane_block(ctx, title, true).style(Style::new().fg(ctx.theme.text).bg(ctx.theme.background))
}

/// `Esc close`-style key hints for a modal's bottom border.
pub fn hints<'a>(ctx: &Ctx, keys: &[(&'a str, &'a str)]) -> Line<'a> {
    let key = Style::new()
        .fg(ctx.theme.accent)
        .add_modifier(Modifier::BOLD);
    let mut spans = vec![Span::raw(" ")];
    for (i, (k, what)) in keys.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(ctx.glyphs.sep, ctx.muted()));
        }
        spans.push(Span::styled(*k, key));
        spans.push(Span::styled(format!(" {what}"), ctx.muted()));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// The filter as a title suffix, so a filtered list never passes for the whole one.
pub fn filter_span<'a>(ctx: &Ctx) -> Option<Span<'a>> {
    let f = &ctx.model.ui.filter;
    (!f.is_empty()).then(|| Span::styled(format!(" /{f}"), ctx.fg(ctx.theme.accent)))
}

pub use crate::report::duration_ms;

/// Uptime at a glance: `42s`, `5m03s`, `1h02m`, `3d04h`. Negative (clock skew) reads `0s`.
pub fn uptime(d: SignedDuration) -> String {
    let s = u64::try_from(d.as_secs()).unwrap_or(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{:02}h", s / 86_400, s / 3600 % 24),
    }
}

/// The first visible row of a list of `len` rows shown `height` at a time, so that
/// `selected` is on screen. Stateless: the view keeps no scroll offset of its own.
pub fn scroll_offset(len: usize, selected: usize, height: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    selected
        .min(len - 1)
        .saturating_sub(height - 1)
        .min(len - height)
}

/// A centred rectangle of at most `width` x `height`, kept inside `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    area.centered(
        Constraint::Length(width.min(area.width)),
        Constraint::Length(height.min(area.height)),
    )
}

/// Each incident status in the colour of what it asks of the operator.
pub fn status_color(theme: &Theme, status: Status) -> Color {
    match status {
        Status::Resolved => theme.ok,
        Status::Detected | Status::Escalated => theme.error,
        Status::Remediating | Status::Verifying => theme.warn,
        Status::AwaitingApproval => theme.accent,
        Status::Monitoring
        | Status::Suppressed
        | Status::Symptom
        | Status::Rejected
        | Status::Closed => theme.muted,
    }
}

/// Host gauge colour: calm until it is worth a look.
pub fn load_color(theme: &Theme, percent: f32) -> Color {
    match percent {
        p if p >= 90.0 => theme.error,
        p if p >= 75.0 => theme.warn,
        _ => theme.ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_stays_visible() {
        assert_eq!(scroll_offset(100, 0, 10), 0);
        assert_eq!(scroll_offset(100, 9, 10), 0);
        assert_eq!(scroll_offset(100, 10, 10), 1);
        assert_eq!(scroll_offset(100, 500, 10), 90);
        assert_eq!(scroll_offset(5, 4, 10), 0);
        assert_eq!(scroll_offset(5, 4, 0), 0);
    }
}
