//! The filter input: what is typed narrows the feed and the incident list as
//! it is typed, so the line shows the text and where the next key lands.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, centered, hints, modal_block};

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let width = area.width.saturating_sub(8).min(60);
    let rect = centered(area, width, 3);
    let block = modal_block(frame, ctx, rect, vec![Span::raw("Filter")])
        .title_bottom(hints(ctx, &[("Enter", "keep"), ("Esc", "clear")]));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);

    // Show the end of a long filter: that is where typing happens.
    let room = usize::from(inner.width).saturating_sub(4);
    let filter = &ctx.model.ui.filter;
    let skip = filter.chars().count().saturating_sub(room);
    let shown: String = filter.chars().skip(skip).collect();
    // A drawn cursor rather than the terminal's: the app hides the real one.
    let cursor = Style::new()
        .fg(ctx.theme.accent)
        .add_modifier(Modifier::SLOW_BLINK);
    let line = Line::from(vec![
        Span::styled(" / ", Style::new().fg(ctx.theme.accent)),
        Span::raw(shown),
        Span::styled(ctx.glyphs.cursor, cursor),
    ]);
    frame.render_widget(Paragraph::new(line), inner);
}
