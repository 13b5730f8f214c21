//! One incident in full: where it stands, what autoheal proposed and how sure
//! it was (stated and learned), every attempt with its output, who decided,
//! and the whole timeline. Long text wraps here, since this is where an
//! operator comes to read it all.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::wording::{LABEL_W, describe, tone_color};
use super::wrap::wrap;
use super::{Ctx, centered, duration_ms, hints, modal_block, status_color};
use crate::event::IncidentId;
use crate::state::{Analysis, Incident, KEEP_CLOSED, Status, TIMELINE_HEAD};

const FIELD_W: usize = 12;

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect, id: IncidentId, scroll: usize) {
    let width = area.width.saturating_sub(4).min(110);
    let text_w = usize::from(width.saturating_sub(4));
    let (title, lines) = match ctx.model.state.incidents.get(&id) {
        Some(inc) => (
            vec![
                Span::raw(format!("Incident {id}  ")),
                Span::styled(inc.target.clone(), Style::new().fg(ctx.theme.text)),
                Span::styled(format!("  {}", inc.signature), ctx.muted()),
            ],
            body(ctx, inc, text_w),
        ),
        None => (
            vec![Span::raw(format!("Incident {id}"))],
            gone(ctx, id, text_w),
        ),
    };
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2));
    let rect = centered(area, width, height);
    let visible = usize::from(height.saturating_sub(2));
    // The key handler scrolls without knowing the length; the end is clamped here.
    let scroll = scroll.min(lines.len().saturating_sub(visible));
    let shown_to = (scroll + visible).min(lines.len());
    let mut keys = vec![("j k", "scroll"), ("g", "top")];
    if let Some(inc) = ctx.model.state.incidents.get(&id) {
        keys.extend(actions(inc, &ctx.model.meta.operator));
    }
    keys.push(("Esc", "back"));
    let mut position = hints(ctx, &keys);
    if lines.len() > visible {
        position.push_span(Span::styled(
            format!("{}-{shown_to}/{} ", scroll + 1, lines.len()),
            ctx.muted(),
        ));
    }
    let block = modal_block(frame, ctx, rect, title).title_bottom(position);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let scroll = u16::try_from(scroll).unwrap_or(u16::MAX);
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}

/// Only the keys that apply to this incident as it stands.
fn actions(inc: &Incident, operator: &str) -> Vec<(&'static str, &'static str)> {
    let mut keys = Vec::new();
    if inc.status == Status::AwaitingApproval {
        keys.extend([("a", "approve"), ("x", "reject")]);
    }
    if inc.status.can_retry() {
        keys.push(("r", "retry"));
    }
    if inc.status.is_open() {
        if inc.acknowledged_by.as_deref() != Some(operator) {
            keys.push(("o", "own"));
        }
        keys.push(("C", "close…"));
    }
    keys
}

fn body<'a>(ctx: &Ctx, inc: &Incident, width: usize) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let mut out = Vec::new();
    let field = |name: &str| Span::styled(format!(" {name:<w$}", w = FIELD_W - 1), ctx.muted());

    let mut status = vec![
        field("status"),
        Span::styled(inc.status.label(), ctx.fg(status_color(t, inc.status))),
    ];
    if let Some(ttr) = inc.time_to_resolve_ms {
        status.push(Span::raw(format!(" in {}", duration_ms(ttr))));
    }
    status.push(Span::styled(
        format!("   severity {}", inc.severity),
        ctx.muted(),
    ));
    if inc.chaos {
        status.push(Span::styled("   injected by chaos", ctx.fg(t.warn)));
    }
    out.push(Line::from(status));

    let mut times = format!(
        "started {}  detected {}",
        ctx.clock(inc.started_at),
        ctx.clock(inc.detected_at)
    );
    if let Some(at) = inc.resolved_at {
        times.push_str(&format!("  resolved {}", ctx.clock(at)));
    }
    out.push(Line::from(vec![field("when"), Span::raw(times)]));

    let step = match (&inc.playbook, &inc.step) {
        (Some(p), Some(s)) => format!("{p} / {s}"),
        (Some(p), None) => p.clone(),
        _ => "no playbook matched".into(),
    };
    out.push(Line::from(vec![
        field("playbook"),
        Span::styled(step, ctx.fg(t.accent)),
    ]));

    let mut confidence = vec![
        field("confidence"),
        Span::raw(format!("{:.2} stated", inc.confidence)),
    ];
    if let (Some(p), Some(s)) = (&inc.playbook, &inc.step) {
        // The raw record, not a blend: the prior is the planner's setting, not ours.
        let r = ctx
            .model
            .state
            .learning
            .get(&(p.clone(), s.clone()))
            .copied()
            .unwrap_or_default();
        let n = r.successes + r.failures;
        let rate = if n == 0 {
            "no record yet".to_string()
        } else {
            format!("{:.0}%", 100.0 * f64::from(r.successes) / f64::from(n))
        };
        confidence.push(Span::styled(
            format!(
                " {} learned {} ok, {} failed ({rate})",
                ctx.glyphs.sep, r.successes, r.failures
            ),
            ctx.muted(),
        ));
    }
    out.push(Line::from(confidence));
    if !inc.reason.is_empty() {
        wrap(
            &mut out,
            vec![field("reason")],
            FIELD_W,
            &inc.reason,
            Style::new(),
            width,
        );
    }
    if let Some(by) = &inc.approved_by {
        let whose = inc
            .proposed_by
            .as_ref()
            .map_or(String::new(), |m| format!(", AI analyst {m}'s proposal"));
        out.push(Line::from(vec![
            field("approved"),
            Span::styled(format!("by {by}{whose}"), ctx.fg(t.ok)),
        ]));
    }
    if let Some(by) = &inc.rejected_by {
        out.push(Line::from(vec![
            field("rejected"),
            Span::styled(format!("by {by}"), ctx.fg(t.muted)),
        ]));
    }
    // What waits for approval, or what was last tried before it got stuck.
    let action_label = match inc.status {
        Status::AwaitingApproval => Some("proposed"),
        s if s.can_retry() => Some("last fix"),
        _ => None,
    };
    if let (Some(label), Some(action)) = (action_label, inc.action.as_deref()) {
        wrap(
            &mut out,
            vec![field(label)],
            FIELD_W,
            action,
            ctx.fg(t.accent),
            width,
        );
    }
    if let Some(by) = &inc.acknowledged_by {
        out.push(Line::from(vec![field("owner"), Span::raw(by.clone())]));
    }
    // The root cause, or what it caused (`depends_on`).
    let state = &ctx.model.state;
    if let Some(root) = inc.root {
        let on = state.incidents.get(&root).map_or("", |r| r.target.as_str());
        out.push(Line::from(vec![
            field("symptom of"),
            Span::styled(format!("{root} {on}"), ctx.fg(t.accent)),
        ]));
    }
    let symptoms: Vec<String> = (state.incidents.values())
        .filter(|i| i.root == Some(inc.id))
        .map(|i| format!("{} {} ({})", i.id, i.target, i.status.label()))
        .collect();
    if !symptoms.is_empty() {
        wrap(
            &mut out,
            vec![field("symptoms")],
            FIELD_W,
            &symptoms.join(", "),
            Style::new(),
            width,
        );
    }
    if let Some(by) = &inc.closed_by {
        let note = inc.close_note.as_deref().unwrap_or_default();
        wrap(
            &mut out,
            vec![field("closed")],
            FIELD_W,
            &format!("by {by}: {note}"),
            Style::new(),
            width,
        );
    }

    if let Some(analysis) = &inc.analysis {
        out.push(Line::default());
        out.push(heading(ctx, "AI analyst"));
        analyst_lines(ctx, analysis, width, &mut out);
    }

    out.push(Line::default());
    out.push(heading(ctx, "Attempts"));
    if inc.attempts.is_empty() {
        out.push(Line::from(Span::styled("  none", ctx.muted())));
    }
    for a in &inc.attempts {
        let (result, color) = match a.ok {
            Some(true) => ("ok", t.ok),
            Some(false) => ("failed", t.error),
            None => ("running", t.warn),
        };
        let took = a
            .duration_ms
            .map_or(String::new(), |d| format!(" in {}", duration_ms(d)));
        let head = vec![
            Span::styled(format!("  {} ", ctx.clock(a.started_at)), ctx.muted()),
            Span::styled(a.step.clone(), Style::new().add_modifier(Modifier::BOLD)),
            Span::styled(format!(" (attempt {})  ", a.attempt), ctx.muted()),
            Span::styled(result, ctx.fg(color)),
            Span::styled(took, ctx.muted()),
        ];
        out.push(Line::from(head));
        wrap(
            &mut out,
            vec![Span::raw("    ")],
            4,
            &a.action,
            ctx.fg(t.accent),
            width,
        );
        if !a.output.is_empty() {
            wrap(
                &mut out,
                vec![Span::raw("    ")],
                4,
                &a.output,
                ctx.muted(),
                width,
            );
        }
    }

    out.push(Line::default());
    out.push(heading(ctx, "Timeline"));
    for (i, event) in inc.timeline.iter().enumerate() {
        if i == TIMELINE_HEAD && inc.timeline_elided > 0 {
            let elided = inc.timeline_elided;
            let text = format!(
                "  … {elided} more events, not kept in memory: see GET /api/incidents/{} or the journal",
                inc.id.0
            );
            wrap(&mut out, vec![], 4, &text, ctx.muted(), width);
        }
        let d = describe(ctx, event);
        let label_w = LABEL_W;
        let prefix = vec![
            Span::styled(format!("  {} ", ctx.clock(event.ts)), ctx.muted()),
            Span::styled(
                format!("{:<label_w$} ", d.label),
                ctx.fg(tone_color(ctx, d.tone)),
            ),
        ];
        // The title names the incident; repeating its number on every line is noise.
        let own = format!("{} ", inc.id);
        let text = d.text.strip_prefix(&own).unwrap_or(&d.text);
        wrap(
            &mut out,
            prefix,
            2 + 8 + 1 + label_w + 1,
            text,
            Style::new(),
            width,
        );
    }
    out
}

/// Not in memory: closed before the last `KEEP_CLOSED`, it is in the journal
/// (this console does not read it back), or it never was.
fn gone(ctx: &Ctx, id: IncidentId, width: usize) -> Vec<Line<'static>> {
    let Some(span) = ctx.model.state.archived.get(id) else {
        return vec![Line::from(Span::styled(" no such incident", ctx.muted()))];
    };
    let text = format!(
        "older than the last {KEEP_CLOSED} closed incidents: see GET /api/incidents/{} or the journal (seq {}-{})",
        id.0, span.first_seq, span.last_seq
    );
    let mut out = Vec::new();
    wrap(&mut out, vec![Span::raw(" ")], 1, &text, ctx.muted(), width);
    out
}

/// What the analyst advised (or why it could not), which model said it, and
/// that model's record so far: advice, weighed by the operator.
fn analyst_lines<'a>(ctx: &Ctx, a: &Analysis, width: usize, out: &mut Vec<Line<'a>>) {
    let t = ctx.theme;
    let field = |name: &str| Span::styled(format!("  {name:<w$}", w = FIELD_W - 1), ctx.muted());
    let r = ctx
        .model
        .state
        .analyst
        .get(&a.model)
        .copied()
        .unwrap_or_default();
    out.push(Line::from(vec![
        field("model"),
        Span::raw(a.model.clone()),
        Span::styled(
            format!(
                "  {} {} proposed, {} approved, {} worked, {} failed",
                ctx.glyphs.sep, r.proposed, r.approved, r.worked, r.failed
            ),
            ctx.muted(),
        ),
    ]));
    let Some(decision) = a.decision else {
        out.push(Line::from(vec![
            field("advice"),
            Span::styled("no usable answer", ctx.fg(t.error)),
        ]));
        wrap(
            out,
            vec![field("error")],
            FIELD_W + 1,
            &a.reason,
            ctx.muted(),
            width,
        );
        return;
    };
    let mut advice = vec![
        field("advice"),
        Span::styled(decision.as_str(), Style::new().add_modifier(Modifier::BOLD)),
    ];
    if let (Some(p), Some(s)) = (&a.playbook, &a.step) {
        advice.push(Span::styled(format!(" {p} / {s}"), ctx.fg(t.accent)));
    }
    advice.push(Span::raw(format!("  confidence {:.2}", a.confidence)));
    if a.queued {
        advice.push(Span::styled("  sent to approval", ctx.fg(t.warn)));
    }
    advice.push(Span::styled(
        format!("  at {}", ctx.clock(a.at)),
        ctx.muted(),
    ));
    out.push(Line::from(advice));
    wrap(
        out,
        vec![field("reason")],
        FIELD_W + 1,
        &a.reason,
        Style::new(),
        width,
    );
}

fn heading<'a>(ctx: &Ctx, name: &'a str) -> Line<'a> {
    Line::from(Span::styled(
        format!(" {name}"),
        Style::new()
            .fg(ctx.theme.accent)
            .add_modifier(Modifier::BOLD),
    ))
}
