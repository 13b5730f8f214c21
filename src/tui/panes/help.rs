//! Every key, in one place. Kept in step with the key handler by hand: when a
//! key changes there, change it here.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, centered, hints, modal_block};

/// (keys, what they do), in the order an operator reaches for them.
pub const KEYS: &[(&str, &str)] = &[
    ("q  Ctrl-C", "quit"),
    ("?  Esc", "this help / close"),
    ("Tab  S-Tab", "next / previous pane"),
    ("j k  ↓ ↑", "move the selection"),
    ("PgUp PgDn", "move by ten"),
    ("g  G", "top / bottom"),
    ("Enter", "open the selected incident"),
    ("c", "chaos menu for the selected target"),
    ("a  x", "approve / reject (in approvals)"),
    ("r  o  C", "incident: retry / own / close"),
    ("y  n", "confirm / cancel the question"),
    ("p", "pause / resume automation"),
    ("s", "silence / unsilence target for 1 h"),
    ("t", "next theme"),
    ("/", "filter the feed and incidents"),
    ("S  F", "incidents: next order / next status"),
    ("f", "freeze / follow the activity feed"),
    ("e", "export the incident, copy it"),
    ("L", "recent warnings and errors"),
];

const KEY_W: usize = 13;

pub fn draw(frame: &mut Frame, ctx: &Ctx, area: Rect) {
    let desc_w = KEYS
        .iter()
        .map(|(_, d)| d.chars().count())
        .max()
        .unwrap_or(0);
    let width = u16::try_from(KEY_W + desc_w + 4).unwrap_or(u16::MAX);
    let facts = facts(ctx);
    // A blank line before the facts, when the screen has the row for it.
    let gap = usize::from(KEYS.len() + 4 + facts.len() <= usize::from(area.height));
    let height = u16::try_from(KEYS.len() + 3 + gap + facts.len()).unwrap_or(u16::MAX);
    let rect = centered(area, width, height);
    let block = modal_block(frame, ctx, rect, vec![Span::raw("Keys")])
        .title_bottom(hints(ctx, &[("Esc", "close")]));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);

    let key = Style::new()
        .fg(ctx.theme.accent)
        .add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            let k = k.replace('↓', ctx.glyphs.down).replace('↑', ctx.glyphs.up);
            Line::from(vec![
                Span::raw(" "),
                Span::styled(format!("{k:<w$}", w = KEY_W - 1), key),
                Span::raw(*what),
            ])
        })
        .collect();
    if gap == 1 {
        lines.push(Line::default());
    }
    lines.push(Line::from(vec![
        Span::styled(" theme ", ctx.muted()),
        Span::raw(ctx.theme.name.clone()),
        Span::styled("  approving as ", ctx.muted()),
        Span::raw(ctx.model.meta.operator.clone()),
    ]));
    // Paths are shortened from the middle, keeping the file name whole.
    let room = usize::from(inner.width).saturating_sub(10);
    for (what, path) in facts {
        lines.push(Line::from(vec![
            Span::styled(format!(" {what:<8} "), ctx.muted()),
            Span::raw(ctx.glyphs.fit_middle(&path, room)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Where this run's journal and log are, when it has them.
fn facts(ctx: &Ctx) -> Vec<(&'static str, String)> {
    let meta = &ctx.model.meta;
    let mut facts = Vec::new();
    if let Some(j) = &meta.journal {
        facts.push(("journal", j.display().to_string()));
    }
    if let Some(d) = &meta.log_dir {
        facts.push(("log", d.join("autoheal.log.*").display().to_string()));
    }
    facts
}
