//! The chaos menu: the faults a target offers, picked by their number.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, centered, hints, modal_block};

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect, target: &str) {
    let faults = ctx
        .model
        .meta
        .chaos
        .get(target)
        .map_or(&[][..], Vec::as_slice);
    let key = Style::new()
        .fg(ctx.theme.accent)
        .add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = if faults.is_empty() {
        vec![Line::from(Span::styled(
            format!(" {target} offers no faults to inject"),
            ctx.muted(),
        ))]
    } else {
        faults
            .iter()
            .enumerate()
            .map(|(i, fault)| {
                Line::from(vec![
                    Span::styled(format!(" {} ", i + 1), key),
                    Span::raw(fault.clone()),
                ])
            })
            .collect()
    };
    lines.insert(0, Line::default());
    let title = vec![
        Span::raw("Inject a fault into "),
        Span::styled(target.to_string(), Style::new().fg(ctx.theme.warn)),
    ];
    let title_w = 20 + target.chars().count() + 4;
    let body_w = lines.iter().map(Line::width).max().unwrap_or(0) + 4;
    let width = u16::try_from(title_w.max(body_w).max(30)).unwrap_or(u16::MAX);
    let height = u16::try_from(lines.len() + 3).unwrap_or(u16::MAX);
    let rect = centered(area, width, height);
    let block = modal_block(frame, ctx, rect, title).title_bottom(hints(ctx, &[("Esc", "cancel")]));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    frame.render_widget(Paragraph::new(lines), inner);
}
