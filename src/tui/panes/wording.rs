//! Events in words come from `report::describe`, so the console and headless
//! mode say the same thing; here each tone gets its theme colour.

use ratatui::style::Color;

use super::Ctx;
use crate::event::Event;
use crate::report::{self, Tone};

pub use crate::report::{Described, LABEL_W};

pub fn describe(ctx: &Ctx, event: &Event) -> Described {
    report::describe(event, &ctx.model.state, ctx.tz)
}

pub fn tone_color(ctx: &Ctx, tone: Tone) -> Color {
    let t = ctx.theme;
    match tone {
        Tone::Bad => t.error,
        Tone::Good => t.ok,
        Tone::Action => t.warn,
        Tone::Info => t.info,
        Tone::Attention => t.accent,
        Tone::Quiet => t.muted,
    }
}
