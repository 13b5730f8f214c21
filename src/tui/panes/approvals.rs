//! Fixes waiting for a human, oldest first: what broke, what autoheal would do,
//! how sure it is, and why it did not just do it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Padding, Paragraph};

use super::{Ctx, fit, pane_block, scroll_offset};
use crate::tui::Pane;

/// Lines per pending fix: what, the proposed step, the reason.
const ITEM_H: usize = 3;

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let focused = ctx.focused(Pane::Approvals);
    let queue = ctx.model.state.approval_queue();
    let t = ctx.theme;
    let count_style = if queue.is_empty() {
        ctx.muted()
    } else {
        ctx.fg(t.accent).add_modifier(Modifier::BOLD)
    };
    let title = vec![
        Span::raw("Awaiting approval "),
        Span::styled(queue.len().to_string(), count_style),
    ];
    let mut block = pane_block(ctx, title, focused).padding(Padding::horizontal(1));
    if !queue.is_empty() {
        // The keys sit on the pane they act on, so nobody has to open help to act.
        let key = ctx.fg(t.accent).add_modifier(Modifier::BOLD);
        block = block.title_bottom(Line::from(vec![
            Span::raw(" "),
            Span::styled("a", key),
            Span::styled(" approve · ", ctx.muted()),
            Span::styled("x", key),
            Span::styled(" reject ", ctx.muted()),
        ]));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if queue.is_empty() {
        let msg = Span::styled("nothing awaiting approval", ctx.muted());
        frame.render_widget(Paragraph::new(msg), inner);
        return;
    }

    let width = usize::from(inner.width);
    let fits = (usize::from(inner.height) / ITEM_H).max(1);
    let selected = ctx.model.selected_row(Pane::Approvals).min(queue.len() - 1);
    let offset = scroll_offset(queue.len(), selected, fits);
    let visible = queue.iter().enumerate().skip(offset).take(fits);
    for (row, (i, inc)) in visible.enumerate() {
        let style = if focused && i == selected {
            ctx.selection()
        } else {
            Style::new()
        };
        let confidence = format!("{:.2}", inc.confidence);
        let head = format!("{} {}  {}", inc.id, inc.target, inc.signature);
        let head = fit(&head, width.saturating_sub(confidence.len() + 1));
        let pad = width.saturating_sub(head.chars().count() + confidence.len());
        let step = match (&inc.playbook, &inc.step) {
            (Some(p), Some(s)) => format!("{p}/{s}"),
            (Some(p), None) => p.clone(),
            _ => "no step proposed".into(),
        };
        let lines = vec![
            Line::from(vec![
                Span::styled(head, Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" ".repeat(pad.max(1))),
                Span::styled(confidence, ctx.fg(t.warn)),
            ]),
            Line::from(vec![
                Span::styled("  fix ", ctx.muted()),
                Span::styled(fit(&step, width.saturating_sub(6)), ctx.fg(t.accent)),
            ]),
            Line::from(vec![
                Span::styled("  why ", ctx.muted()),
                Span::raw(fit(&inc.reason, width.saturating_sub(6))),
            ]),
        ];
        // Each fix gets its own rectangle so the selection spans the pane's width.
        let y = inner.y + u16::try_from(row * ITEM_H).unwrap_or(u16::MAX);
        let item = Rect::new(inner.x, y, inner.width, ITEM_H as u16).intersection(inner);
        frame.render_widget(Paragraph::new(lines).style(style), item);
    }
}
