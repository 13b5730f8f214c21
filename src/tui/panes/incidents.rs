//! Incident history: how often things broke in the last hour and how long the
//! last fixes took (when there is room), above the incident list, newest first.

use jiff::SignedDuration;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Sparkline, Table};

use super::{Ctx, duration_ms, filter_span, pane_block, scroll_offset, status_color};
use crate::state::{Incident, Status};
use crate::tui::listing::{Sort, StatusFilter};
use crate::tui::{Pane, Pick};

const MINUTES: usize = 60;
const LAST_RESOLVED: usize = 20;
/// Full history: a label, two chart rows and a gap, when the list keeps five rows.
const HISTORY_FULL_HEIGHT: u16 = 3 + 1 + 6;
/// Short history: a label and one chart row, when the list keeps three rows.
/// This is what 80x24 gets; the view gives this pane the rows for it.
pub const HISTORY_SHORT_HEIGHT: u16 = 2 + 4;
const HISTORY_MIN_WIDTH: u16 = 40;
/// From this inner width (a 120-column terminal) the history gains a third
/// column, the last fixes with their confidence and time to resolve, and a
/// chart row when the pane is tall enough to keep its list.
const FIXES_MIN_WIDTH: u16 = 110;
/// The time-to-resolve chart's width beside the recent fixes: its 20 bars
/// and the shorter label.
const TTR_NARROW_W: u16 = LAST_RESOLVED as u16 + 4;
const TARGET_W: usize = 14;
const SIGNATURE_MIN_W: usize = 14;
const SIGNATURE_MAX_W: usize = 28;

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let focused = ctx.focused(Pane::Incidents);
    let incidents = ctx.model.incidents();
    let mut title = vec![
        Span::raw("Incidents "),
        Span::styled(incidents.len().to_string(), ctx.muted()),
    ];
    // The order and the statuses shown, so a partial list never passes for the whole.
    let ui = &ctx.model.ui;
    let accent = ctx.fg(ctx.theme.accent);
    if ui.sort != Sort::default() {
        title.push(Span::styled(ctx.glyphs.sep, ctx.muted()));
        title.push(Span::styled(ui.sort.label(), accent));
    }
    if ui.status_filter != StatusFilter::default() {
        title.push(Span::styled(ctx.glyphs.sep, ctx.muted()));
        title.push(Span::styled(ui.status_filter.label(), accent));
    }
    title.extend(filter_span(ctx));
    let block = pane_block(ctx, title, focused);
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    ctx.hit(area, Pane::Incidents, None);

    // The history is the console's central picture: it shrinks to one chart
    // row before it goes, and goes only when the list would have no room.
    let history_h = match inner.height {
        h if h >= HISTORY_FULL_HEIGHT + 2 && inner.width >= FIXES_MIN_WIDTH => Some((4, 1)),
        h if h >= HISTORY_FULL_HEIGHT => Some((3, 1)),
        h if h >= HISTORY_SHORT_HEIGHT => Some((2, 0)),
        _ => None,
    };
    if let Some((rows, gap)) = history_h
        && inner.width >= HISTORY_MIN_WIDTH
    {
        let [history, _gap, list] = inner.layout(&Layout::vertical([
            Constraint::Length(rows),
            Constraint::Length(gap),
            Constraint::Fill(1),
        ]));
        draw_history(frame, ctx, history);
        inner = list;
    }
    if incidents.is_empty() {
        let ui = &ctx.model.ui;
        let msg = if !ui.filter.is_empty() {
            " no incidents match the filter".to_string()
        } else if ui.status_filter != StatusFilter::All {
            format!(
                " no {} incidents (F: next status)",
                ui.status_filter.label()
            )
        } else {
            " no incidents".to_string()
        };
        frame.render_widget(Paragraph::new(Span::styled(msg, ctx.muted())), inner);
        return;
    }
    draw_list(frame, ctx, inner, &incidents, focused);
}

/// Incidents per minute over the last hour, oldest minute first. Incidents are
/// numbered in detection order, so walking back from the newest stops at the
/// first one older than an hour instead of visiting all of them.
pub fn per_minute(ctx: &Ctx) -> [u64; MINUTES] {
    let mut buckets = [0u64; MINUTES];
    let hour = SignedDuration::from_secs(60 * MINUTES as i64);
    let since = ctx.now - hour;
    for inc in ctx
        .model
        .state
        .incidents
        .values()
        .rev()
        .take_while(|i| i.detected_at > since)
    {
        // Detections stamped after `now` (clock skew) are left out, not misfiled.
        let age = ctx.now.duration_since(inc.detected_at);
        if let Ok(minutes) = usize::try_from(age.as_secs() / 60)
            && minutes < MINUTES
        {
            buckets[MINUTES - 1 - minutes] += 1;
        }
    }
    buckets
}

fn draw_history(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let area = if area.width >= FIXES_MIN_WIDTH {
        let charts_w = MINUTES as u16 + 3 + TTR_NARROW_W;
        let [charts, rule, fixes] = area.layout(&Layout::horizontal([
            Constraint::Length(charts_w),
            Constraint::Length(3),
            Constraint::Fill(1),
        ]));
        draw_rule(frame, ctx, rule);
        draw_recent_fixes(frame, ctx, fixes);
        charts
    } else {
        area
    };
    // One column per minute: wider would only stretch the gap to "now". The
    // time-to-resolve chart gets what is left, behind a rule so the two never
    // read as one chart.
    let minutes_w = (MINUTES as u16).min(area.width);
    let [left, rule, right] = area.layout(&Layout::horizontal([
        Constraint::Length(minutes_w),
        Constraint::Length(3),
        Constraint::Length(
            (LAST_RESOLVED as u16 + 20).min(area.width.saturating_sub(minutes_w + 3)),
        ),
    ]));
    let buckets = per_minute(ctx);
    let last_hour: u64 = buckets.iter().sum();
    let peak = buckets.iter().copied().max().unwrap_or(0);
    let span = if usize::from(minutes_w) < MINUTES {
        format!("detected per minute, last {minutes_w} min  ")
    } else {
        "detected per minute, last hour  ".into()
    };
    let label = Line::from(vec![
        Span::styled(span, ctx.muted()),
        Span::raw(format!("{last_hour} total")),
        Span::styled(format!("  peak {peak}/min"), ctx.muted()),
    ]);
    let [l_label, l_spark] = left.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
    ]));
    frame.render_widget(Paragraph::new(label), l_label);
    // Newest minute on the right; a narrow pane keeps the most recent minutes.
    let w = usize::from(l_spark.width);
    let spark = Sparkline::default()
        .data(buckets.iter().skip(MINUTES.saturating_sub(w)).copied())
        .bar_set(ctx.glyphs.spark.clone())
        .style(ctx.fg(ctx.theme.error));
    frame.render_widget(spark, l_spark);

    let ttr = &ctx.model.state.ttr_ms;
    let shown = LAST_RESOLVED.min(usize::from(right.width));
    let recent = &ttr.last(shown)[..];
    let Some(label) = ttr_label(ctx, recent, usize::from(right.width)) else {
        return;
    };
    draw_rule(frame, ctx, rule);
    let [r_label, r_spark] = right.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
    ]));
    frame.render_widget(Paragraph::new(label), r_label);
    let spark = Sparkline::default()
        .data(recent.iter().copied())
        .bar_set(ctx.glyphs.spark.clone())
        .style(ctx.fg(ctx.theme.ok));
    frame.render_widget(spark, r_spark);
}

/// A vertical rule between two charts, so they never read as one.
fn draw_rule(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let bar = Paragraph::new(vec![
        Line::styled(ctx.glyphs.divider, ctx.muted());
        usize::from(area.height)
    ]);
    frame.render_widget(bar, area);
}

/// The last fixes, newest first: which incident, how sure the playbook was,
/// and how long the fix took. Walks back from the newest incident and stops
/// as soon as it has enough.
fn draw_recent_fixes(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let rows = usize::from(area.height.saturating_sub(1));
    let fixes: Vec<&Incident> = ctx
        .model
        .state
        .incidents
        .values()
        .rev()
        .filter(|i| i.status == Status::Resolved && i.playbook.is_some())
        .take(rows)
        .collect();
    let width = usize::from(area.width);
    let mut lines = vec![Line::styled("recent fixes", ctx.muted())];
    if fixes.is_empty() {
        lines.push(Line::styled("none yet", ctx.muted()));
    }
    for inc in fixes {
        let ttr = inc.time_to_resolve_ms.map_or("-".into(), duration_ms);
        let numbers = format!(" {:.2} {ttr:>6}", inc.confidence);
        let id = format!("{} ", inc.id);
        let target_w = width.saturating_sub(id.len() + numbers.len());
        lines.push(Line::from(vec![
            Span::styled(id, ctx.muted()),
            Span::raw(
                ctx.glyphs
                    .cell(&ctx.glyphs.fit_middle(&inc.target, target_w), target_w),
            ),
            Span::styled(numbers, ctx.fg(ctx.theme.ok)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The time-to-resolve chart's label, as long as `width` allows; never one
/// with its numbers cut. `None` when even the shortest does not fit.
fn ttr_label<'a>(ctx: &Ctx, recent: &[u64], width: usize) -> Option<Line<'a>> {
    let longest = recent
        .iter()
        .copied()
        .max()
        .map_or("-".into(), |m| format!("max {}", duration_ms(m)));
    let n = recent.len();
    [
        format!("time to resolve, last {n} fixes  "),
        format!("last {n} fixes  "),
        "ttr ".to_string(),
    ]
    .into_iter()
    .find(|head| head.chars().count() + longest.chars().count() <= width)
    .map(|head| Line::from(vec![Span::styled(head, ctx.muted()), Span::raw(longest)]))
}

fn draw_list(frame: &mut Frame, ctx: &Ctx, area: Rect, incidents: &[&Incident], focused: bool) {
    let rows_h = usize::from(area.height.saturating_sub(1));
    let selected = ctx
        .model
        .selected_row(Pane::Incidents)
        .min(incidents.len() - 1);
    let offset = scroll_offset(incidents.len(), selected, rows_h);
    // Rows start below the column header.
    for (row, inc) in incidents.iter().skip(offset).take(rows_h).enumerate() {
        let y = area
            .y
            .saturating_add(1 + u16::try_from(row).unwrap_or(u16::MAX));
        let row_area = Rect::new(area.x, y, area.width, 1);
        ctx.hit(row_area, Pane::Incidents, Some(Pick::Incident(inc.id)));
    }
    let wide = area.width >= 100;
    let visible = || incidents.iter().skip(offset).take(rows_h);
    // Ids are never cut; signatures get the width of the longest one on
    // screen, up to what the other columns leave (and a sane cap), and are
    // shortened from the middle past that.
    let id_w = visible()
        .map(|i| digits(i.id.0) + 1)
        .max()
        .unwrap_or(0)
        .max(6);
    let fixed = id_w + 8 + TARGET_W + 17 + 7 + 5;
    let room = if wide {
        SIGNATURE_MAX_W
    } else {
        usize::from(area.width)
            .saturating_sub(fixed)
            .min(SIGNATURE_MAX_W)
    };
    let longest = visible().map(|i| i.signature.chars().count()).max();
    let sig_w = longest
        .unwrap_or(0)
        .clamp(SIGNATURE_MIN_W, room.max(SIGNATURE_MIN_W));
    // A symptom listed under its root says so; the root says how many it has.
    // Built only when some incident has a root: most frames have none.
    let mut symptoms: std::collections::HashMap<crate::event::IncidentId, usize> =
        Default::default();
    for root in incidents.iter().filter_map(|i| i.root) {
        *symptoms.entry(root).or_default() += 1;
    }
    let listed: std::collections::HashSet<crate::event::IncidentId> = match symptoms.is_empty() {
        true => Default::default(),
        false => incidents.iter().map(|i| i.id).collect(),
    };
    let symptoms_of = |id| symptoms.get(&id).copied().unwrap_or(0);
    // Only the rows on screen are formatted, however many incidents there are.
    let rows = incidents
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows_h)
        .map(|(i, inc)| {
            let style = if focused && i == selected {
                ctx.selection()
            } else {
                Style::new()
            };
            let ttr = inc.time_to_resolve_ms.map_or("-".into(), duration_ms);
            let target = match inc.root.is_some_and(|r| listed.contains(&r)) {
                true => format!("{}{}", ctx.glyphs.under, inc.target),
                false => inc.target.clone(),
            };
            let status = match symptoms_of(inc.id) {
                0 => inc.status.label().to_string(),
                n => {
                    let with = format!("{} +{n}", inc.status.label());
                    if with.chars().count() <= 17 {
                        with
                    } else {
                        inc.status.label().to_string()
                    }
                }
            };
            let mut cells = vec![
                Span::styled(inc.id.to_string(), ctx.muted()),
                Span::styled(ctx.clock(inc.detected_at), ctx.muted()),
                Span::raw(ctx.glyphs.fit_middle(&target, TARGET_W)),
                Span::raw(ctx.glyphs.fit_middle(&inc.signature, sig_w)),
                Span::styled(status, ctx.fg(status_color(ctx.theme, inc.status))),
                Span::raw(ttr),
            ];
            if wide {
                let step = match (&inc.playbook, &inc.step) {
                    (Some(p), Some(s)) => format!("{p}/{s}"),
                    (Some(p), None) => p.clone(),
                    _ => String::new(),
                };
                cells.push(Span::styled(step, ctx.muted()));
            }
            Row::new(cells).style(style)
        });
    let mut header = vec!["ID", "DETECTED", "TARGET", "SIGNATURE", "STATUS", "TTR"];
    let mut widths = vec![
        Constraint::Length(id_w as u16),
        Constraint::Length(8),
        Constraint::Length(TARGET_W as u16),
        Constraint::Length(sig_w as u16),
        Constraint::Length(17),
        Constraint::Length(7),
    ];
    if wide {
        header.push("PLAYBOOK");
        widths.push(Constraint::Fill(1));
    }
    let header = Row::new(header).style(ctx.muted().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    frame.render_widget(table, area);
}

/// Decimal digits of `n`, without formatting it.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}
