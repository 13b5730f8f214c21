//! The activity feed: every event, newest first, in columns (time, label,
//! target, text), worded by [`super::wording`].

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row, Table};

use super::wording::{Described, LABEL_W, describe, tone_color};
use super::{Ctx, filter_span, pane_block, scroll_offset};
use crate::event::Event;
use crate::tui::{Pane, Pick};

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let focused = ctx.focused(Pane::Feed);
    let events = ctx.model.feed();
    let mut title = vec![Span::raw("Activity")];
    if ctx.model.ui.feed_frozen_at.is_some() {
        let unseen = ctx.model.feed_unseen();
        title.push(Span::styled(ctx.glyphs.sep, ctx.muted()));
        title.push(Span::styled(
            format!("frozen{}{unseen} new", ctx.glyphs.sep),
            ctx.fg(ctx.theme.warn),
        ));
    }
    title.extend(filter_span(ctx));
    let block = pane_block(ctx, title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    ctx.hit(area, Pane::Feed, None);
    if events.is_empty() {
        let msg = if ctx.model.ui.filter.is_empty() {
            " no events yet"
        } else {
            " no events match the filter"
        };
        frame.render_widget(Paragraph::new(Span::styled(msg, ctx.muted())), inner);
        return;
    }

    let height = usize::from(inner.height);
    let selected = ctx.model.selected_row(Pane::Feed).min(events.len() - 1);
    let offset = scroll_offset(events.len(), selected, height);
    // Only the visible events are worded: the feed may hold hundreds.
    let visible: Vec<(usize, Described, &Event)> = events
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, e)| (i, describe(ctx, e), *e))
        .collect();
    for (row, (_, _, e)) in visible.iter().enumerate() {
        let y = inner
            .y
            .saturating_add(u16::try_from(row).unwrap_or(u16::MAX));
        let row_area = Rect::new(inner.x, y, inner.width, 1);
        ctx.hit(row_area, Pane::Feed, Some(Pick::Event(e.seq)));
    }
    let target_w = visible
        .iter()
        .map(|(_, d, _)| d.target.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 16);
    // Cut with a mark rather than mid-word at the border.
    let text_w = usize::from(inner.width).saturating_sub(8 + LABEL_W + target_w + 3);
    let rows = visible.into_iter().map(|(i, d, e)| {
        let style = if focused && i == selected {
            ctx.selection()
        } else {
            Style::new()
        };
        Row::new([
            Span::styled(ctx.clock(e.ts), ctx.muted()),
            Span::styled(d.label, ctx.fg(tone_color(ctx, d.tone))),
            Span::raw(ctx.glyphs.fit(&d.target, target_w)),
            Span::raw(ctx.glyphs.fit(&d.text, text_w)),
        ])
        .style(style)
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(LABEL_W as u16),
        Constraint::Length(u16::try_from(target_w).unwrap_or(16)),
        Constraint::Fill(1),
    ];
    frame.render_widget(Table::new(rows, widths).column_spacing(1), inner);
}
