//! One row per target: a state word in its colour, the last latency, a latency
//! sparkline and what is wrong, each added only while the pane is wide enough.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

use super::{Ctx, duration_ms, pane_block, scroll_offset, uptime};
use crate::state::TargetState;
use crate::tui::{Pane, Pick};

/// What the operator needs to know about a target, most telling first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Failing, and silenced by an operator: the failure still shows first.
    SilencedFailing,
    /// Silenced by an operator: detected and journaled, never acted on.
    Silenced,
    /// Failing during a maintenance window: held like a silence.
    MaintenanceFailing,
    /// In a maintenance window (config `maintenance`).
    Maintenance,
    /// A fix is running or being verified.
    Remediating,
    Failing,
    /// Healthy, but a trend will cross a threshold within the horizon (`prediction`).
    AtRisk,
    /// No probe sample yet: nothing is known.
    Unknown,
    Up,
}

impl Health {
    /// The state column's words; `sep` joins a silenced failure's two.
    pub fn word(self, sep: &str) -> String {
        match self {
            Health::SilencedFailing => return format!("failing{sep}silenced"),
            Health::MaintenanceFailing => return format!("failing{sep}maintenance"),
            Health::Silenced => "silenced",
            Health::Maintenance => "maintenance",
            Health::Remediating => "remediating",
            Health::Failing => "failing",
            Health::AtRisk => "at risk",
            Health::Unknown => "unknown",
            Health::Up => "up",
        }
        .to_string()
    }

    pub fn color(self, ctx: &Ctx) -> Color {
        match self {
            Health::Silenced | Health::Maintenance | Health::Unknown => ctx.theme.muted,
            Health::SilencedFailing | Health::MaintenanceFailing => ctx.theme.warn,
            Health::Remediating | Health::AtRisk => ctx.theme.warn,
            Health::Failing => ctx.theme.error,
            Health::Up => ctx.theme.ok,
        }
    }
}

pub fn health(ctx: &Ctx, name: &str, target: &TargetState) -> Health {
    let state = &ctx.model.state;
    if target.silenced_until.is_some_and(|until| until > ctx.now) {
        match target.failing {
            true => Health::SilencedFailing,
            false => Health::Silenced,
        }
    } else if state.maintenance_of(name).is_some() {
        match target.failing {
            true => Health::MaintenanceFailing,
            false => Health::Maintenance,
        }
    } else if state.open_incidents_of(name).any(|i| i.status.is_acting()) {
        Health::Remediating
    } else if target.failing {
        Health::Failing
    } else if !target.predictions.is_empty() {
        Health::AtRisk
    } else if !ctx.model.telemetry.last.is_empty() && !ctx.model.telemetry.last.contains_key(name) {
        // Not probed yet, while others are. A console attached to a daemon gets no
        // probe samples at all; there the journal's word (not failing) stands.
        Health::Unknown
    } else {
        Health::Up
    }
}

const STATE_W: usize = 11; // "remediating"
const LATENCY_W: usize = 6;
const SPARK_MIN: usize = 8;
const SPARK_MAX: usize = 30;

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let state = &ctx.model.state;
    let focused = ctx.focused(Pane::Targets);
    let up = state.targets.values().filter(|t| !t.failing).count();
    let title = vec![
        Span::raw("Targets "),
        Span::styled(format!("{up}/{}", state.targets.len()), ctx.muted()),
    ];
    let block = pane_block(ctx, title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    ctx.hit(area, Pane::Targets, None);
    if state.targets.is_empty() {
        let msg = Span::styled(" no targets yet", ctx.muted());
        frame.render_widget(Paragraph::new(msg), inner);
        return;
    }

    // Wide enough for every state word on screen ("failing · silenced" only when one is).
    let state_w = state
        .targets
        .iter()
        .map(|(n, t)| health(ctx, n, t).word(ctx.glyphs.sep).chars().count())
        .max()
        .unwrap_or(0)
        .max(STATE_W);
    let len = state.targets.len();
    let selected = ctx.model.selected_row(Pane::Targets).min(len - 1);
    let height = usize::from(inner.height);
    let offset = scroll_offset(len, selected, height);
    let width = usize::from(inner.width);
    let name_w = state
        .targets
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 18)
        .min(width.saturating_sub(2 + state_w + 1));
    // Columns after the name, each only if it still fits: latency, sparkline, detail.
    let fixed = 2 + name_w + 1 + state_w;
    let show_latency = width >= fixed + 1 + LATENCY_W;
    let rest = width.saturating_sub(fixed + 1 + LATENCY_W + 2);
    // The sparkline takes a third of what is left: what is wrong matters more than how fast.
    let spark_w = if show_latency && rest >= SPARK_MIN {
        (rest / 3).clamp(SPARK_MIN, SPARK_MAX)
    } else {
        0
    };

    for (row, (name, target)) in state.targets.iter().enumerate().skip(offset).take(height) {
        let y = inner.y + u16::try_from(row - offset).unwrap_or(0);
        let row_area = Rect::new(inner.x, y, inner.width, 1);
        ctx.hit(row_area, Pane::Targets, Some(Pick::Target(name.clone())));
        let h = health(ctx, name, target);
        let color = h.color(ctx);
        let is_selected = focused && row == selected;
        let base = if is_selected {
            ctx.selection()
        } else {
            Style::new()
        };
        let mut spans = vec![
            Span::styled(ctx.glyphs.dot, ctx.fg(color)),
            Span::raw(" "),
            Span::raw(ctx.glyphs.cell(name, name_w)),
            Span::raw(" "),
            Span::styled(
                ctx.glyphs.cell(&h.word(ctx.glyphs.sep), state_w),
                ctx.fg(color),
            ),
        ];
        if show_latency {
            let latency = ctx
                .model
                .telemetry
                .last_latency(name)
                .map_or("-".into(), latency);
            spans.push(Span::raw(format!(" {latency:>LATENCY_W$}")));
        }
        let used: usize = spans.iter().map(Span::width).sum();
        let detail_x = used + if spark_w > 0 { 2 + spark_w + 2 } else { 2 };
        let detail = detail_text(ctx, name, h, target);
        if !detail.is_empty() && width > detail_x {
            spans.push(Span::raw(" ".repeat(detail_x - used)));
            spans.push(Span::styled(
                ctx.glyphs.fit(&detail, width - detail_x),
                ctx.fg(color),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)).style(base), row_area);
        if spark_w > 0 {
            let spark_area = Rect::new(
                inner.x + u16::try_from(used + 2).unwrap_or(0),
                y,
                u16::try_from(spark_w).unwrap_or(0),
                1,
            );
            draw_sparkline(frame, ctx, name, spark_area, base);
        }
    }
}

/// Why the state word is what it is: the failure and for how long, the fix
/// under way, or how long the silence or maintenance lasts.
fn detail_text(ctx: &Ctx, name: &str, h: Health, target: &TargetState) -> String {
    let failure = || {
        let sig = target.signature.as_deref().unwrap_or("failing");
        // How long it has been bad tells a blip from an outage.
        let since = target.since.map_or(String::new(), |t| {
            format!(" for {}", uptime(ctx.now.duration_since(t)))
        });
        format!("{sig}{since}  {}", target.detail)
            .trim()
            .to_string()
    };
    match h {
        Health::Silenced | Health::SilencedFailing => {
            let until = target
                .silenced_until
                .map_or(String::new(), |u| format!("until {}", ctx.clock(u)));
            if target.failing {
                format!("{until}  {}", failure())
            } else {
                until
            }
        }
        Health::Maintenance | Health::MaintenanceFailing => {
            let window = ctx.model.state.maintenance_of(name);
            let until = window.map_or(String::new(), |(w, window)| {
                format!("{w} until {}", ctx.clock(window.until))
            });
            if target.failing {
                format!("{until}  {}", failure())
            } else {
                until
            }
        }
        Health::Remediating => ctx
            .model
            .state
            .open_incidents_of(name)
            .find(|i| i.status.is_acting())
            .map_or_else(String::new, |i| {
                let step = i.step.as_deref().unwrap_or("");
                format!("{} {}  {} {step}", i.id, i.signature, i.status.label())
            }),
        Health::Failing => failure(),
        Health::AtRisk => forecasts(ctx, target),
        Health::Unknown | Health::Up => String::new(),
    }
}

/// `↗ disk 95.0 % in about 42 s (now 61.0 %)`, one per figure, counted down from
/// when each was told.
fn forecasts(ctx: &Ctx, target: &TargetState) -> String {
    let lines: Vec<String> = target
        .predictions
        .iter()
        .map(|(metric, p)| {
            let left = u64::try_from(p.arrives.duration_since(ctx.now).as_secs()).unwrap_or(0);
            format!(
                "{} {metric} {} in about {} (now {})",
                ctx.glyphs.rising,
                metric.show(p.threshold),
                crate::predict::about(left),
                metric.show(p.value),
            )
        })
        .collect();
    lines.join("  ")
}

/// Whole milliseconds, and `<1ms` for loopback-fast answers: a number that
/// flickers between 0.7 and 0.9 every second tells nothing and costs bytes.
fn latency(d: std::time::Duration) -> String {
    match d.as_millis() {
        0 => "<1ms".into(),
        ms => duration_ms(u64::try_from(ms).unwrap_or(u64::MAX)),
    }
}

/// The most recent samples that fit, newest on the right.
fn draw_sparkline(frame: &mut Frame, ctx: &Ctx, name: &str, area: Rect, base: Style) {
    let Some(ring) = ctx.model.telemetry.trend_us.get(name) else {
        return;
    };
    let w = usize::from(area.width);
    let data = ring.iter().skip(ring.len().saturating_sub(w)).copied();
    let spark = Sparkline::default()
        .data(data)
        .bar_set(ctx.glyphs.spark.clone())
        .style(base.fg(ctx.theme.info));
    frame.render_widget(spark, area);
}
