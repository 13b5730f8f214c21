//! The note an incident is closed with by hand: one line, typed like the
//! filter, sent with Enter. The journal keeps it beside who closed it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, centered, hints, modal_block};
use crate::event::IncidentId;

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect, id: IncidentId, text: &str) {
    let width = area.width.saturating_sub(8).min(72);
    let rect = centered(area, width, 3);
    let target = ctx
        .model
        .state
        .incidents
        .get(&id)
        .map_or(String::new(), |i| format!(" on {}", i.target));
    let title = vec![Span::raw(format!("Close {id}{target} by hand: why?"))];
    let block = modal_block(frame, ctx, rect, title)
        .title_bottom(hints(ctx, &[("Enter", "close it"), ("Esc", "cancel")]));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);

    // Show the end of a long note: that is where typing happens.
    let room = usize::from(inner.width).saturating_sub(4);
    let skip = text.chars().count().saturating_sub(room);
    let shown: String = text.chars().skip(skip).collect();
    let cursor = Style::new()
        .fg(ctx.theme.accent)
        .add_modifier(Modifier::SLOW_BLINK);
    let line = Line::from(vec![
        Span::styled(" > ", Style::new().fg(ctx.theme.accent)),
        Span::raw(shown),
        Span::styled(ctx.glyphs.cursor, cursor),
    ]);
    frame.render_widget(Paragraph::new(line), inner);
}
