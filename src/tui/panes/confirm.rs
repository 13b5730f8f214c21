//! The question before a fix runs or is turned down: which incident, what will
//! run (playbook, step, action), and for a critical target its name again, so
//! the second key is pressed knowing what it does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::wrap::wrap;
use super::{Ctx, centered, hints, modal_block};
use crate::event::IncidentId;
use crate::tui::Verdict;
use crate::tui::keys::critical;

const FIELD_W: usize = 12;

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect, id: IncidentId, verdict: Verdict) {
    let t = ctx.theme;
    let width = area.width.saturating_sub(4).min(72);
    let text_w = usize::from(width.saturating_sub(2));
    let field = |name: &str| Span::styled(format!(" {name:<w$}", w = FIELD_W - 1), ctx.muted());
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let Some(inc) = ctx.model.state.incidents.get(&id) else {
        return;
    };
    let critical = critical(inc);
    let verb = match verdict {
        Verdict::Approve => "Approve",
        Verdict::Reject => "Reject",
    };
    let step = inc.step.as_deref().unwrap_or("the proposed fix");
    let playbook = inc.playbook.as_deref().unwrap_or("no playbook");

    let mut lines = vec![Line::default()];
    lines.push(Line::from(vec![
        field("incident"),
        Span::styled(format!("{} {}", inc.id, inc.target), bold),
        Span::styled(format!("  {}", inc.signature), ctx.muted()),
    ]));
    lines.push(Line::from(vec![
        field("severity"),
        Span::raw(inc.severity.to_string()),
        Span::styled(format!("   confidence {:.2}", inc.confidence), ctx.muted()),
    ]));
    lines.push(Line::from(vec![
        field("playbook"),
        Span::styled(format!("{playbook} / {step}"), ctx.fg(t.accent)),
    ]));
    // The console knows the step's name, not its command: the engine fills the
    // action in (target, ports) when it runs it, and journals it then.
    wrap(
        &mut lines,
        vec![field("action")],
        FIELD_W,
        &format!(
            "as step {step} of playbook {playbook} defines it; \
             the journal records the exact command or URL when it runs"
        ),
        ctx.muted(),
        text_w,
    );
    if !inc.reason.is_empty() {
        wrap(
            &mut lines,
            vec![field("why asked")],
            FIELD_W,
            &inc.reason,
            Style::new(),
            text_w,
        );
    }
    lines.push(Line::default());
    let outcome = match verdict {
        Verdict::Approve => format!("{step} runs now, as {}", ctx.model.meta.operator),
        Verdict::Reject => format!("nothing runs; {} stays open as rejected", inc.id),
    };
    wrap(
        &mut lines,
        vec![Span::raw(" ")],
        1,
        &outcome,
        ctx.muted(),
        text_w,
    );
    let mut question = vec![
        Span::raw(" "),
        Span::styled(format!("{} {step} on ", verb.to_lowercase()), bold),
    ];
    if critical {
        question.push(Span::styled(
            "CRITICAL ",
            ctx.fg(t.error).add_modifier(Modifier::BOLD),
        ));
    }
    question.push(Span::styled(inc.target.clone(), bold));
    question.push(Span::styled("?", bold));
    lines.push(Line::from(question));

    let title = vec![Span::raw(format!("{verb} the fix for {}", inc.id))];
    let keys = match verdict {
        Verdict::Approve => [("y Enter", "approve"), ("n Esc", "cancel")],
        Verdict::Reject => [("y Enter", "reject"), ("n Esc", "cancel")],
    };
    let height = u16::try_from(lines.len() + 3).unwrap_or(u16::MAX);
    let rect = centered(area, width, height);
    let border = if critical { t.error } else { t.border_focused };
    let block = modal_block(frame, ctx, rect, title)
        .border_style(Style::new().fg(border))
        .title_bottom(hints(ctx, &keys));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    frame.render_widget(Paragraph::new(lines), inner);
}
