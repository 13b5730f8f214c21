//! Fixes waiting for a human, oldest first: what broke, what autoheal would do,
//! how sure it is, and why it did not just do it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Padding, Paragraph};

use super::wrap::wrap;
use super::{Ctx, pane_block};
use crate::state::Incident;
use crate::tui::{Pane, Pick};

/// "  why " before the reason; its continuation lines are indented as far.
const WHY_W: usize = 6;

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
            Span::styled(" approve", ctx.muted()),
            Span::styled(ctx.glyphs.sep, ctx.muted()),
            Span::styled("x", key),
            Span::styled(" reject ", ctx.muted()),
        ]));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    ctx.hit(area, Pane::Approvals, None);
    if queue.is_empty() {
        let msg = Span::styled("nothing awaiting approval", ctx.muted());
        frame.render_widget(Paragraph::new(msg), inner);
        return;
    }

    let width = usize::from(inner.width);
    let selected = ctx.model.selected_row(Pane::Approvals).min(queue.len() - 1);
    // Fixes take as many lines as their reason needs. Scroll so the selected
    // fix is on screen, with as many of the fixes before it as still fit.
    let room = usize::from(inner.height);
    let mut offset = selected;
    let mut used = item_lines(ctx, queue[selected], width).len();
    while offset > 0 {
        let h = item_lines(ctx, queue[offset - 1], width).len();
        if used + h > room {
            break;
        }
        used += h;
        offset -= 1;
    }
    let mut y = inner.y;
    for (i, inc) in queue.iter().enumerate().skip(offset) {
        if y >= inner.bottom() {
            break;
        }
        let style = if focused && i == selected {
            ctx.selection()
        } else {
            Style::new()
        };
        let lines = item_lines(ctx, inc, width);
        let h = u16::try_from(lines.len()).unwrap_or(u16::MAX);
        // Each fix gets its own rectangle so the selection spans the pane's width.
        let item = Rect::new(inner.x, y, inner.width, h).intersection(inner);
        ctx.hit(item, Pane::Approvals, Some(Pick::Incident(inc.id)));
        frame.render_widget(Paragraph::new(lines).style(style), item);
        y = y.saturating_add(h);
    }
}

/// The lines of one pending fix: what broke, the proposed step, and the reason
/// wrapped whole, since it is what the operator weighs before approving.
fn item_lines<'a>(ctx: &Ctx, inc: &Incident, width: usize) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let confidence = format!("{:.2}", inc.confidence);
    let head = format!("{} {}  {}", inc.id, inc.target, inc.signature);
    let head = ctx
        .glyphs
        .fit(&head, width.saturating_sub(confidence.len() + 1));
    let pad = width.saturating_sub(head.chars().count() + confidence.len());
    let step = match (&inc.playbook, &inc.step) {
        (Some(p), Some(s)) => format!("{p}/{s}"),
        (Some(p), None) => p.clone(),
        _ => "no step proposed".into(),
    };
    // A proposal of the AI analyst says so before anything else about it.
    let tag = if inc.proposed_by.is_some() { " AI" } else { "" };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(head, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" ".repeat(pad.max(1))),
            Span::styled(confidence, ctx.fg(t.warn)),
        ]),
        Line::from(vec![
            Span::styled("  fix ", ctx.muted()),
            Span::styled(
                ctx.glyphs
                    .fit(&step, width.saturating_sub(WHY_W + tag.len())),
                ctx.fg(t.accent),
            ),
            Span::styled(tag, ctx.fg(t.warn).add_modifier(Modifier::BOLD)),
        ]),
    ];
    let why = vec![Span::styled("  why ", ctx.muted())];
    wrap(&mut lines, why, WHY_W, &inc.reason, Style::new(), width);
    lines
}

/// Rows the approvals pane wants at `width` columns (borders included) to show
/// the selected fix whole; the compact view grows its row to this.
pub fn wanted_height(ctx: &Ctx, width: u16) -> u16 {
    let queue = ctx.model.state.approval_queue();
    if queue.is_empty() {
        return 0;
    }
    let selected = ctx.model.selected_row(Pane::Approvals).min(queue.len() - 1);
    // Borders and the one-column padding on each side.
    let inner = usize::from(width.saturating_sub(4));
    let lines = item_lines(ctx, queue[selected], inner).len();
    u16::try_from(lines + 2).unwrap_or(u16::MAX)
}
