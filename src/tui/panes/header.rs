//! The status line: what is running, whether automation may act, and the time.
//! Automation state comes right after the name because it changes what every
//! other number on screen means. An attached console names its daemon and who
//! else is attached, and while the daemon is gone a banner says so under it.

mod banner;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::wrap::wrap;
use super::{Ctx, uptime};
use crate::engine::Role;
use crate::remote::{LinkState, Member};

/// Rows the status line needs at `width`: one, plus the lines of a message
/// (a theme warning, a selection notice) too long to sit at the end of it,
/// which gets lines of its own rather than lose its end.
pub fn height(ctx: &Ctx, width: u16) -> u16 {
    let lines = flash_lines(ctx, width).map_or(0, |l| l.len());
    let banner = banner::banner(ctx, usize::from(width)).map_or(0, |_| 1);
    (1 + banner) + u16::try_from(lines).unwrap_or(u16::MAX)
}

/// The flash wrapped under the status line, or `None` when it fits on it.
fn flash_lines<'a>(ctx: &Ctx, width: u16) -> Option<Vec<Line<'a>>> {
    let flash = ctx.model.ui.flash.as_deref()?;
    let (left, right) = status(ctx, width);
    let used = Line::from(left).width() + right.width() + 2;
    if used + flash.chars().count() <= usize::from(width) {
        return None;
    }
    let mut lines = Vec::new();
    let style = ctx.fg(ctx.theme.accent);
    wrap(
        &mut lines,
        vec![Span::raw(" ")],
        1,
        flash,
        style,
        usize::from(width) - 1,
    );
    Some(lines)
}

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let (mut left, right) = status(ctx, area.width);
    let banner = banner::banner(ctx, usize::from(area.width));
    let [status_area, banner_area, below] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner.as_ref().map_or(0, |_| 1)),
        Constraint::Fill(1),
    ]));
    if let Some((text, style)) = banner {
        // The style spans the whole row, so the bar reads as one line across.
        frame.render_widget(Paragraph::new(text).style(style), banner_area);
    }
    match flash_lines(ctx, area.width) {
        Some(lines) => frame.render_widget(Paragraph::new(lines), below),
        None => {
            if let Some(flash) = &ctx.model.ui.flash {
                left.push(Span::raw("  "));
                left.push(Span::styled(flash.clone(), ctx.fg(ctx.theme.accent)));
            }
        }
    }
    let right_width = u16::try_from(right.width()).unwrap_or(u16::MAX);
    let [left_area, right_area] = status_area.layout(&Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(right_width),
    ]));
    frame.render_widget(Paragraph::new(Line::from(left)), left_area);
    frame.render_widget(Paragraph::new(right), right_area);
}

/// The status line's left side (without the flash) and its right side, at
/// `width`: uptime and who else is attached come only when they fit whole.
fn status<'a>(ctx: &Ctx, width: u16) -> (Vec<Span<'a>>, Line<'a>) {
    let theme = ctx.theme;
    let state = &ctx.model.state;
    let bold = Modifier::BOLD;

    let mut left = vec![Span::styled(
        " autoheal ",
        Style::new().fg(theme.accent).add_modifier(bold),
    )];
    if let Some(link) = ctx.model.link.as_ref().filter(|l| !l.members.is_empty()) {
        left.extend(fleet(ctx, &link.members));
        left.push(Span::styled(ctx.glyphs.sep, ctx.muted()));
    } else if let Some(link) = &ctx.model.link {
        left.push(Span::styled(ctx.glyphs.tail(&link.daemon, 32), ctx.muted()));
        left.push(Span::styled(ctx.glyphs.sep, ctx.muted()));
    } else if !ctx.model.meta.mode.is_empty() {
        // A config path can be long; its end (the file name) is the part that tells.
        left.push(Span::styled(
            ctx.glyphs.tail(&ctx.model.meta.mode, 24),
            ctx.muted(),
        ));
        left.push(Span::styled(ctx.glyphs.sep, ctx.muted()));
    }
    let automation = match (state.paused, state.dry_run) {
        (true, true) => Span::styled(
            format!("PAUSED{}DRY RUN", ctx.glyphs.sep),
            ctx.fg(theme.warn).add_modifier(bold),
        ),
        (true, false) => Span::styled("PAUSED", ctx.fg(theme.warn).add_modifier(bold)),
        (false, true) => Span::styled("DRY RUN", ctx.fg(theme.warn).add_modifier(bold)),
        (false, false) => Span::styled("auto", ctx.fg(theme.ok)),
    };
    left.push(automation);
    // A replica of a central healer acts only while it leads (config `ha`).
    if let Some((_, role)) = &state.replica {
        let (text, style) = match role {
            Role::Leader { .. } => ("leader".to_string(), ctx.fg(theme.ok)),
            Role::Follower { leader: Some(l) } => {
                (format!("follower of {l}"), ctx.fg(theme.accent))
            }
            Role::Follower { leader: None } => ("follower".to_string(), ctx.fg(theme.accent)),
            Role::NoQuorum { .. } => (
                "NO QUORUM: acting on nothing".to_string(),
                ctx.fg(theme.error).add_modifier(bold),
            ),
        };
        left.push(Span::styled(ctx.glyphs.sep, ctx.muted()));
        left.push(Span::styled(text, style));
    }
    // "Up" is "not failing": a target with no sample yet is not known to be down.
    let total = state.targets.len();
    let up = state.targets.values().filter(|t| !t.failing).count();
    let up_color = if up == total { theme.ok } else { theme.error };
    left.extend([
        Span::styled(ctx.glyphs.sep, ctx.muted()),
        Span::styled("targets ", ctx.muted()),
        Span::styled(format!("{up}/{total}"), ctx.fg(up_color)),
        Span::styled(" up", ctx.muted()),
    ]);
    let mut optional = Vec::new();
    // A maintenance window holds fixes as surely as a pause: said first, as room allows.
    if let Some((window, w)) = state.maintenance.iter().next() {
        let more = match state.maintenance.len() {
            1 => String::new(),
            n => format!(" +{}", n - 1),
        };
        let until = ctx.clock(w.until);
        let loud = ctx.fg(theme.warn).add_modifier(bold);
        let window = ctx.glyphs.tail(window, 24);
        optional.push(
            [
                format!("MAINTENANCE {window} until {until}{more}"),
                format!("MAINTENANCE until {until}{more}"),
                "MAINTENANCE".to_string(),
            ]
            .map(|text| {
                vec![
                    Span::styled(ctx.glyphs.sep, ctx.muted()),
                    Span::styled(text, loud),
                ]
            })
            .to_vec(),
        );
    }
    // A daemon that does not answer has no uptime we know of: the banner says since when.
    let answering = ctx
        .model
        .link
        .as_ref()
        .is_none_or(|l| matches!(l.state, LinkState::Connected { .. }));
    // A fleet has no one uptime: its last `engine_started` is any daemon's.
    let fleet = ctx
        .model
        .link
        .as_ref()
        .is_some_and(|l| !l.members.is_empty());
    if let Some(started) = ctx.model.meta.started_at
        && answering
        && !fleet
    {
        optional.push(vec![vec![
            Span::styled(ctx.glyphs.sep, ctx.muted()),
            Span::styled("uptime ", ctx.muted()),
            Span::raw(uptime(ctx.now.duration_since(started))),
        ]]);
    }
    if let Some(link) = &ctx.model.link
        && !link.others.is_empty()
    {
        // All the names, else how many.
        optional.push(vec![
            vec![
                Span::styled(ctx.glyphs.sep, ctx.muted()),
                Span::styled("also here: ", ctx.muted()),
                Span::styled(link.others.join(", "), ctx.fg(theme.accent)),
            ],
            vec![
                Span::styled(ctx.glyphs.sep, ctx.muted()),
                Span::styled(format!("+{}", link.others.len()), ctx.fg(theme.accent)),
                Span::styled(" attached", ctx.muted()),
            ],
        ]);
    }
    let zone = ctx.tz.to_offset_info(ctx.now);
    // The leading space keeps a cut-off left side from running into the clock.
    let right = Line::from(vec![
        Span::raw(" "),
        Span::raw(ctx.clock(ctx.now)),
        Span::styled(format!(" {} ", zone.abbreviation()), ctx.muted()),
        Span::styled(" ? ", ctx.fg(theme.accent).add_modifier(bold)),
        Span::styled("help ", ctx.muted()),
    ]);
    let room = usize::from(width).saturating_sub(right.width());
    for wordings in optional {
        let used = Line::from(left.clone()).width();
        if let Some(fits) = wordings
            .into_iter()
            .find(|w| used + Line::from(w.clone()).width() <= room)
        {
            left.extend(fits);
        }
    }
    (left, right)
}

/// Each daemon of a fleet and whether it answers: `web-1 ✓ · web-2 down 3s`.
fn fleet<'a>(ctx: &Ctx, members: &[Member]) -> Vec<Span<'a>> {
    let mut spans = Vec::new();
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(ctx.glyphs.sep, ctx.muted()));
        }
        let (mark, color) = match &m.state {
            LinkState::Connected { .. } if ctx.glyphs.only_ascii => ("ok".into(), ctx.theme.ok),
            LinkState::Connected { .. } => ("✓".into(), ctx.theme.ok),
            LinkState::Connecting => ("...".into(), ctx.theme.warn),
            LinkState::Down { since, .. } => (
                format!("down {}", uptime(ctx.now.duration_since(*since))),
                ctx.theme.error,
            ),
        };
        spans.push(Span::styled(ctx.glyphs.tail(&m.name, 24), ctx.muted()));
        spans.push(Span::styled(format!(" {mark}"), ctx.fg(color)));
    }
    spans
}
