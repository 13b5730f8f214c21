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
        Verdict::Retry => "Retry",
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
    let plan = match verdict {
        Verdict::Retry => format!("{playbook}, planned again from its first step"),
        _ => format!("{playbook} / {step}"),
    };
    lines.push(Line::from(vec![
        field("playbook"),
        Span::styled(plan, ctx.fg(t.accent)),
    ]));
    // What the engine journaled the step would run, values filled in.
    let (label, action, style) = match (&inc.action, verdict) {
        (Some(action), Verdict::Retry) => ("last fix", action.as_str(), ctx.muted()),
        (Some(action), _) => ("runs", action.as_str(), ctx.fg(t.accent)),
        (None, _) => (
            "runs",
            "not journaled (an older engine): the journal records it when it runs",
            ctx.muted(),
        ),
    };
    wrap(
        &mut lines,
        vec![field(label)],
        FIELD_W,
        action,
        style,
        text_w,
    );
    if !inc.reason.is_empty() {
        let why = if verdict == Verdict::Retry {
            "why stuck"
        } else {
            "why asked"
        };
        wrap(
            &mut lines,
            vec![field(why)],
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
        Verdict::Retry => format!(
            "the planner decides again: approval, cooldowns and blast radius apply; as {}",
            ctx.model.meta.operator
        ),
    };
    wrap(
        &mut lines,
        vec![Span::raw(" ")],
        1,
        &outcome,
        ctx.muted(),
        text_w,
    );
    let what = match verdict {
        Verdict::Retry => format!("retry {} on ", inc.id),
        _ => format!("{} {step} on ", verb.to_lowercase()),
    };
    let mut question = vec![Span::raw(" "), Span::styled(what, bold)];
    if critical {
        question.push(Span::styled(
            "CRITICAL ",
            ctx.fg(t.error).add_modifier(Modifier::BOLD),
        ));
    }
    question.push(Span::styled(inc.target.clone(), bold));
    question.push(Span::styled("?", bold));
    lines.push(Line::from(question));

    let title = match verdict {
        Verdict::Retry => vec![Span::raw(format!("Retry {}", inc.id))],
        _ => vec![Span::raw(format!("{verb} the fix for {}", inc.id))],
    };
    let keys = [("y Enter", verdict_word(verdict)), ("n Esc", "cancel")];
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

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approve => "approve",
        Verdict::Reject => "reject",
        Verdict::Retry => "retry",
    }
}
