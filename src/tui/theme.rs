//! Themes name colours for roles, not widgets, so every pane looks right in each.

use ratatui::style::Color;

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub background: Color,
    pub text: Color,
    pub muted: Color,
    pub accent: Color,
    pub ok: Color,
    pub warn: Color,
    pub error: Color,
    pub info: Color,
    pub selection_bg: Color,
    pub selection_fg: Color,
    pub border: Color,
    pub border_focused: Color,
}

impl Theme {
    /// The built-in default: a dark theme.
    pub fn dark() -> Theme {
        Theme {
            name: "dark".into(),
            background: Color::Rgb(0x1a, 0x1b, 0x26),
            text: Color::Rgb(0xc0, 0xca, 0xf5),
            muted: Color::Rgb(0x56, 0x5f, 0x89),
            accent: Color::Rgb(0x7a, 0xa2, 0xf7),
            ok: Color::Rgb(0x9e, 0xce, 0x6a),
            warn: Color::Rgb(0xe0, 0xaf, 0x68),
            error: Color::Rgb(0xf7, 0x76, 0x8e),
            info: Color::Rgb(0x7d, 0xcf, 0xff),
            selection_bg: Color::Rgb(0x28, 0x34, 0x57),
            selection_fg: Color::Rgb(0xc0, 0xca, 0xf5),
            border: Color::Rgb(0x3b, 0x42, 0x61),
            border_focused: Color::Rgb(0x7a, 0xa2, 0xf7),
        }
    }
}
