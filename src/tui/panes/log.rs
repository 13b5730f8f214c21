//! `L`: the recent warnings and errors of this process, newest first, with
//! where the whole log is. What used to reach only the log file (reconnects,
//! refused commands, theme warnings) is read here without leaving the console.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ctx, centered, hints, modal_block};
use crate::tui::log_ring::LogRecord;

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect, scroll: usize) {
    let records = ctx.model.meta.recent_log.newest_first();
    let width = area.width.saturating_sub(8).max(40);
    let lines = lines(ctx, &records);
    // As tall as the wrapped lines need, up to the screen less a margin.
    let inner_w = usize::from(width.saturating_sub(2)).max(1);
    let wrapped: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let height = u16::try_from(wrapped + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(4).max(8));
    let rect = centered(area, width, height);
    let title = vec![
        Span::raw("Warnings and errors "),
        Span::styled(records.len().to_string(), ctx.muted()),
    ];
    let block = modal_block(frame, ctx, rect, title)
        .title_bottom(hints(ctx, &[("j k", "scroll"), ("Esc", "close")]));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let scroll = u16::try_from(scroll).unwrap_or(u16::MAX);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
}

/// One line per record, newest first, then where the whole log is.
fn lines<'a>(ctx: &Ctx, records: &[LogRecord]) -> Vec<Line<'a>> {
    let mut lines: Vec<Line> = Vec::new();
    if records.is_empty() {
        lines.push(Line::styled(
            " nothing warned or failed since the console started",
            ctx.muted(),
        ));
    }
    for r in records {
        let (word, color) = match r.error {
            true => ("ERROR", ctx.theme.error),
            false => ("WARN ", ctx.theme.warn),
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {} ", ctx.clock(r.at)), ctx.muted()),
            Span::styled(word, ctx.fg(color)),
            Span::styled(format!(" {} ", short_target(&r.target)), ctx.muted()),
            Span::raw(r.message.clone()),
        ]));
    }
    if let Some(dir) = &ctx.model.meta.log_dir {
        lines.push(Line::default());
        lines.push(Line::from(vec![
            Span::styled(" all of it: ", ctx.muted()),
            Span::raw(dir.join("autoheal.log.*").display().to_string()),
        ]));
    }
    lines
}

/// `autoheal::remote` reads `remote`: the crate name tells the operator nothing.
fn short_target(target: &str) -> &str {
    target.rsplit("::").next().unwrap_or(target)
}
