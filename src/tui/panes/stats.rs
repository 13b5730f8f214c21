//! Live numbers: how many incidents, how many still need someone, how fast
//! things get fixed, and how loaded the host is. A boxed grid with gauges when
//! there is room, one line when there is not.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Padding, Paragraph};

use super::{Ctx, duration_ms, load_color, pane_block};
use crate::state::Status;

/// The numbers, computed once per frame.
struct Numbers {
    total: usize,
    resolved: usize,
    open: usize,
    awaiting: usize,
    escalated: usize,
    confidence: Option<f64>,
    p50: Option<u64>,
    p95: Option<u64>,
}

fn numbers(ctx: &Ctx) -> Numbers {
    let state = &ctx.model.state;
    // One pass over all incidents: summing is cheap even at 10,000; sorting is not.
    let (sum, analyzed) = state
        .incidents
        .values()
        .filter(|i| i.decision.is_some())
        .fold((0.0, 0usize), |(s, n), i| (s + i.confidence, n + 1));
    let [p50, p95] = percentiles(&state.ttr_ms.to_vec(), [50.0, 95.0]);
    Numbers {
        total: state.counts.detected,
        resolved: state.counts.resolved,
        open: state.open_count(),
        awaiting: state
            .open_incidents()
            .filter(|i| i.status == Status::AwaitingApproval)
            .count(),
        escalated: state.counts.escalated,
        confidence: (analyzed > 0).then(|| sum / analyzed as f64),
        p50,
        p95,
    }
}

/// Nearest-rank percentiles as `state::percentile` defines them, found by
/// selection in linear time instead of sorting every sample each frame.
pub fn percentiles<const N: usize>(samples: &[u64], ps: [f64; N]) -> [Option<u64>; N] {
    if samples.is_empty() {
        return [None; N];
    }
    let mut buf = samples.to_vec();
    let len = buf.len();
    ps.map(|p| {
        let rank = ((p / 100.0) * len as f64).ceil() as usize;
        Some(*buf.select_nth_unstable(rank.clamp(1, len) - 1).1)
    })
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), duration_ms)
}

/// The boxed grid: two columns of numbers, then host gauges if rows remain.
pub fn draw_box(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let block = pane_block(ctx, vec![Span::raw("Stats")], false).padding(Padding::horizontal(1));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let n = numbers(ctx);
    let t = ctx.theme;
    let half = usize::from(inner.width / 2);
    let when = |cond: bool, c: Color| if cond { c } else { t.text };
    let grid = [
        (
            ("incidents", n.total.to_string(), t.text),
            (
                "resolved",
                n.resolved.to_string(),
                when(n.resolved > 0, t.ok),
            ),
        ),
        (
            ("open", n.open.to_string(), when(n.open > 0, t.warn)),
            (
                "escalated",
                n.escalated.to_string(),
                when(n.escalated > 0, t.error),
            ),
        ),
        (
            (
                "awaiting",
                n.awaiting.to_string(),
                when(n.awaiting > 0, t.accent),
            ),
            (
                "confidence",
                n.confidence.map_or("-".into(), |c| format!("{c:.2}")),
                t.text,
            ),
        ),
        (
            ("ttr p50", ms(n.p50), t.text),
            ("ttr p95", ms(n.p95), t.text),
        ),
    ];
    let mut lines: Vec<Line> = grid
        .into_iter()
        .map(|(a, b)| {
            let mut spans = pair(ctx, a, half.saturating_sub(2));
            spans.push(Span::raw("  "));
            spans.extend(pair(ctx, b, half.saturating_sub(1)));
            Line::from(spans)
        })
        .collect();
    let gauges_fit = usize::from(inner.height) >= lines.len() + 2;
    if gauges_fit {
        if usize::from(inner.height) >= lines.len() + 3 {
            lines.push(Line::default());
        }
        let width = usize::from(inner.width);
        lines.push(gauge(ctx, "cpu", ctx.model.telemetry.cpu_percent, width));
        lines.push(gauge(ctx, "mem", ctx.model.telemetry.memory_percent, width));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `label      value`, the value right-aligned so digits line up down the column.
fn pair<'a>(
    ctx: &Ctx,
    (label, value, color): (&'a str, String, Color),
    width: usize,
) -> Vec<Span<'a>> {
    let pad = width.saturating_sub(label.len() + value.len()).max(1);
    vec![
        Span::styled(label, ctx.muted()),
        Span::raw(" ".repeat(pad)),
        Span::styled(value, Style::new().fg(color)),
    ]
}

/// `cpu ██████░░░░░░  34%`; `-` when the host probe has not reported.
fn gauge<'a>(ctx: &Ctx, label: &'a str, percent: Option<f32>, width: usize) -> Line<'a> {
    let Some(p) = percent else {
        return Line::from(vec![Span::styled(label, ctx.muted()), Span::raw("  -")]);
    };
    let p = p.clamp(0.0, 100.0);
    let bar = width.saturating_sub(label.len() + 6);
    let filled = ((p / 100.0) * bar as f32).round() as usize;
    Line::from(vec![
        Span::styled(label, ctx.muted()),
        Span::raw(" "),
        Span::styled(
            ctx.glyphs.gauge_full.repeat(filled),
            ctx.fg(load_color(ctx.theme, p)),
        ),
        Span::styled(
            ctx.glyphs.gauge_empty.repeat(bar - filled.min(bar)),
            ctx.fg(ctx.theme.border),
        ),
        Span::raw(format!(" {p:>3.0}%")),
    ])
}

/// One line for small terminals. Items are dropped by priority (host load first,
/// then confidence) rather than cut mid-word.
pub fn draw_line(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let n = numbers(ctx);
    let t = ctx.theme;
    let num =
        |v: usize, c: Color| Span::styled(v.to_string(), ctx.fg(if v > 0 { c } else { t.text }));
    let word = |s: &'static str| Span::styled(s, ctx.muted());
    let pct = |p: Option<f32>| {
        p.map_or(Span::raw("-"), |p| {
            Span::styled(format!("{p:.0}%"), ctx.fg(load_color(t, p)))
        })
    };
    // (priority: lower survives longer, spans) in display order.
    let items: Vec<(u8, Vec<Span>)> = vec![
        (0, vec![num(n.total, t.text), word(" incidents")]),
        (5, vec![num(n.resolved, t.ok), word(" resolved")]),
        (1, vec![num(n.open, t.warn), word(" open")]),
        (2, vec![num(n.awaiting, t.accent), word(" awaiting")]),
        (3, vec![num(n.escalated, t.error), word(" escalated")]),
        (
            4,
            vec![
                word("ttr p50 "),
                Span::raw(ms(n.p50)),
                word(" p95 "),
                Span::raw(ms(n.p95)),
            ],
        ),
        (
            6,
            vec![
                word("conf "),
                Span::raw(n.confidence.map_or("-".into(), |c| format!("{c:.2}"))),
            ],
        ),
        (7, vec![word("cpu "), pct(ctx.model.telemetry.cpu_percent)]),
        (
            8,
            vec![word("mem "), pct(ctx.model.telemetry.memory_percent)],
        ),
    ];
    const GAP: usize = 2;
    let width = |spans: &[Span]| spans.iter().map(Span::width).sum::<usize>();
    // One leading space; every item but the first is preceded by a gap.
    let mut budget = usize::from(area.width.saturating_sub(1)) + GAP;
    // In order of priority until one does not fit: a less important item
    // never takes the place of a more important one just for being shorter.
    let mut keep = [false; 9];
    let mut by_priority: Vec<usize> = (0..items.len()).collect();
    by_priority.sort_by_key(|&i| items[i].0);
    for i in by_priority {
        let need = width(&items[i].1) + GAP;
        if need > budget {
            break;
        }
        keep[i] = true;
        budget -= need;
    }
    let mut line = vec![Span::raw(" ")];
    for (i, (_, spans)) in items.into_iter().enumerate().filter(|(i, _)| keep[*i]) {
        if i > 0 && line.len() > 1 {
            line.push(Span::raw(" ".repeat(GAP)));
        }
        line.extend(spans);
    }
    frame.render_widget(Paragraph::new(Line::from(line)), area);
}

#[cfg(test)]
mod tests {
    use super::percentiles;
    use crate::state::percentile;

    #[test]
    fn percentiles_agree_with_the_state_definition() {
        let samples: Vec<u64> = (1..=37).map(|i| (i * 7919) % 101).collect();
        for p in [0.0, 1.0, 50.0, 95.0, 99.0, 100.0] {
            assert_eq!(
                percentiles(&samples, [p])[0],
                percentile(&samples, p),
                "p{p}"
            );
        }
        assert_eq!(percentiles(&[], [50.0, 95.0]), [None, None]);
    }
}
