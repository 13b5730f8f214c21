//! Lays out the panes and draws the model. Pure: the clock is passed in, and
//! the time zone too (see [`draw_in`]), so a frame depends only on its inputs.
//!
//! Two arrangements. Roomy (from 100x32, e.g. 120x40):
//!
//! ```text
//! header
//! Stats (gauges)      | Targets (latency sparklines)
//! Activity feed               | Awaiting approval
//! Incidents: per-minute and time-to-resolve sparklines, then the list
//! ```
//!
//! Compact (down to 60x16, e.g. 80x24): the stats shrink to one line, targets
//! and approvals share a row, and the feed and incident list get full width;
//! host gauges go first, and the incident history shrinks to one chart row
//! (it is left out only below 80x24).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};

use super::panes::{self, Ctx, Hit};
use super::{Modal, Model};

/// Below this the panes cannot say anything useful; a message says so instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From here on every pane gets its own space and its charts.
const ROOMY_WIDTH: u16 = 100;
const ROOMY_HEIGHT: u16 = 32;

/// Draws one frame with clock times in the system's zone, as the operator's
/// other tools (and headless mode) show them.
pub fn draw(frame: &mut Frame, model: &Model, now: Timestamp) {
    draw_in(frame, model, now, &TimeZone::system());
}

/// Draws one frame with clock times in `tz`. Tests pass UTC so snapshots are
/// the same on every machine whatever its zone.
pub fn draw_in(frame: &mut Frame, model: &Model, now: Timestamp, tz: &TimeZone) {
    draw_mapped(frame, model, now, tz);
}

/// Draws one frame and returns where its panes and rows landed, for the mouse.
pub fn draw_mapped(frame: &mut Frame, model: &Model, now: Timestamp, tz: &TimeZone) -> Vec<Hit> {
    let theme = model.theme();
    let ctx = Ctx {
        model,
        theme,
        glyphs: &model.glyphs,
        now,
        tz,
        hits: Default::default(),
    };
    let area = frame.area();
    frame.render_widget(
        Block::new().style(Style::new().fg(theme.text).bg(theme.background)),
        area,
    );
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, &ctx, area);
    } else {
        panes_and_modals(frame, &ctx, area);
    }
    if model.glyphs.only_ascii {
        only_ascii(frame.buffer_mut());
    }
    // Under a modal, clicks belong to the modal, not to the panes beneath.
    match model.ui.modals.is_empty() {
        true => ctx.hits.into_inner(),
        false => Vec::new(),
    }
}

/// Text the console does not write (an action's output, a target's name) may
/// be UTF-8; a terminal that cannot show it gets `?`, one cell each, so the
/// columns stay where they are.
fn only_ascii(buffer: &mut ratatui::buffer::Buffer) {
    for cell in buffer.content.iter_mut().filter(|c| !c.symbol().is_ascii()) {
        cell.set_symbol("?");
    }
}

fn panes_and_modals(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let model = ctx.model;
    if area.width >= ROOMY_WIDTH && area.height >= ROOMY_HEIGHT {
        roomy(frame, ctx, area);
    } else {
        compact(frame, ctx, area);
    }
    for modal in &model.ui.modals {
        match modal {
            Modal::Help => panes::help::draw(frame, ctx, area),
            Modal::Detail { incident, scroll } => {
                panes::detail::draw(frame, ctx, area, *incident, *scroll);
            }
            Modal::Chaos { target } => panes::chaos::draw(frame, ctx, area, target),
            Modal::Filter => panes::filter::draw(frame, ctx, area),
            Modal::Confirm { incident, verdict } => {
                panes::confirm::draw(frame, ctx, area, *incident, *verdict);
            }
            Modal::Note { incident, text } => panes::note::draw(frame, ctx, area, *incident, text),
            Modal::Log { scroll } => panes::log::draw(frame, ctx, area, *scroll),
        }
    }
}

fn roomy(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    // Targets grow with the fleet, up to a quarter of the screen; the stats need 9 rows.
    let targets = u16::try_from(ctx.model.state.targets.len()).unwrap_or(u16::MAX);
    let top = targets.saturating_add(2).clamp(9, (area.height / 4).max(9));
    let header_h = panes::header::height(ctx, area.width).min(area.height / 4);
    let [header, top, middle, bottom] = area.layout(&Layout::vertical([
        Constraint::Length(header_h),
        Constraint::Length(top),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ]));
    panes::header::draw(frame, ctx, header);
    let [stats, targets] = top.layout(&Layout::horizontal([
        Constraint::Length(40),
        Constraint::Fill(1),
    ]));
    panes::stats::draw_box(frame, ctx, stats);
    panes::targets::draw(frame, ctx, targets);
    let [feed, approvals] = middle.layout(&Layout::horizontal([
        Constraint::Percentage(60),
        Constraint::Percentage(40),
    ]));
    panes::feed::draw(frame, ctx, feed);
    panes::approvals::draw(frame, ctx, approvals);
    panes::incidents::draw(frame, ctx, bottom);
}

fn compact(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    // The row is at least 5 high and fits up to 4 targets; it grows (to 8, and
    // to 3/8 of the screen) when the selected fix's wrapped reason needs it, so
    // the reason is read whole.
    let targets = u16::try_from(ctx.model.state.targets.len()).unwrap_or(u16::MAX);
    let split = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]);
    let [_, approvals] = Rect::new(0, 0, area.width, 1).layout(&split);
    let wanted = panes::approvals::wanted_height(ctx, approvals.width)
        .min(8)
        .min(area.height * 3 / 8);
    let top = targets.saturating_add(2).clamp(5, 6).max(wanted);
    // The feed gives up two rows so the incident history fits (from 80x24);
    // below that the two split what is left evenly.
    let header_h = panes::header::height(ctx, area.width).min(area.height / 4);
    let rest = area.height.saturating_sub(header_h + 1 + top);
    let history = panes::incidents::HISTORY_SHORT_HEIGHT;
    let feed_h = if rest / 2 + 2 >= history + 2 {
        (rest - 2) / 2
    } else {
        rest / 2
    };
    let [header, stats, top, feed, incidents] = area.layout(&Layout::vertical([
        Constraint::Length(header_h),
        Constraint::Length(1),
        Constraint::Length(top),
        Constraint::Length(feed_h),
        Constraint::Fill(1),
    ]));
    panes::header::draw(frame, ctx, header);
    panes::stats::draw_line(frame, ctx, stats);
    let [targets, approvals] = top.layout(&split);
    panes::targets::draw(frame, ctx, targets);
    panes::approvals::draw(frame, ctx, approvals);
    panes::feed::draw(frame, ctx, feed);
    panes::incidents::draw(frame, ctx, incidents);
}

fn too_small(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let need = format!("need {MIN_WIDTH}x{MIN_HEIGHT},");
    let have = format!("have {}x{}", area.width, area.height);
    let lines: Vec<Line> = pack(
        &["terminal too small:", &need, &have],
        usize::from(area.width),
    )
    .into_iter()
    .map(|l| Line::styled(l, ctx.fg(ctx.theme.warn)))
    .collect();
    let height = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let [middle] = area.layout(&Layout::vertical([Constraint::Length(height)]).flex(Flex::Center));
    frame.render_widget(Paragraph::new(lines).centered(), middle);
}

/// Packs phrases into lines of at most `width` characters, breaking between
/// phrases, so a size like `need 60x16` stays together. A phrase wider than a
/// line is broken between its words, never inside one, so no digit is lost.
fn pack(phrases: &[&str], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let words = phrases.iter().flat_map(|p| {
        let split = p.chars().count() > width;
        p.split(' ')
            .filter(move |_| split)
            .chain(Some(*p).filter(|_| !split))
    });
    for phrase in words {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + phrase.chars().count() <= width => {
                line.push(' ');
                line.push_str(phrase);
            }
            _ => lines.push((*phrase).to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::pack;

    #[test]
    fn packing_breaks_only_between_phrases() {
        let p = ["terminal too small:", "need 60x16,", "have 40x12"];
        assert_eq!(pack(&p, 80), ["terminal too small: need 60x16, have 40x12"]);
        assert_eq!(
            pack(&p, 40),
            ["terminal too small: need 60x16,", "have 40x12"]
        );
        assert_eq!(
            pack(&p, 20),
            ["terminal too small:", "need 60x16,", "have 40x12"]
        );
        assert_eq!(
            pack(&p, 12),
            ["terminal too", "small:", "need 60x16,", "have 40x12"]
        );
        assert_eq!(
            pack(&p, 5),
            [
                "terminal", "too", "small:", "need", "60x16,", "have", "40x12"
            ]
        );
    }
}
