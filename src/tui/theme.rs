//! Themes name colours for roles, not widgets, so every pane looks right in each.
//!
//! Themes are YAML files (`themes/*.yaml` ship inside the binary; users add
//! their own). Over SSH the terminal may not do 24-bit colour, so a theme is
//! converted once for the terminal's [`ColorDepth`] and the draw path never
//! converts anything.

use ratatui::style::Color;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{LoadError, parse_yaml_documents};

/// Colours by role, not by widget: `text` and `muted` (secondary) text,
/// `accent` for titles and keys, `ok`/`warn`/`error`/`info` for status,
/// `selection_*` for the selected row, `border_focused` for the focused pane.
/// Theme files use the same keys; [`Theme::for_depth`] fits a theme to the terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Shown in the theme menu and matched by [`find`], ignoring case.
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
            // Strong enough to find at a glance, in 256 and 16 colours too (tests/themes.rs).
            selection_bg: Color::Rgb(0x3d, 0x59, 0xa1),
            selection_fg: Color::Rgb(0xe0, 0xe6, 0xff),
            border: Color::Rgb(0x3b, 0x42, 0x61),
            border_focused: Color::Rgb(0x7a, 0xa2, 0xf7),
        }
    }

    /// This theme with every colour converted for a terminal of `depth`.
    /// Call it once when the theme is chosen, not per frame.
    pub fn for_depth(&self, depth: ColorDepth) -> Theme {
        match depth {
            ColorDepth::TrueColor => self.clone(),
            ColorDepth::Ansi256 => self.map_colors(to_ansi256),
            ColorDepth::Ansi16 => self.map_colors(to_ansi16),
            ColorDepth::None => self.map_colors(|_| Color::Reset),
        }
    }
}

/// Lists the colour roles once; if `Theme` gains a field and this list does
/// not, `into_theme` and `map_colors` stop compiling (missing field).
macro_rules! roles {
    ($($role:ident),* $(,)?) => {
        /// A theme as written. A role left out keeps the dark theme's colour.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ThemeFile {
            name: String,
            $(#[serde(default, deserialize_with = "color")] $role: Option<Color>,)*
        }

        impl ThemeFile {
            fn into_theme(self) -> Theme {
                let dark = Theme::dark();
                Theme { name: self.name, $($role: self.$role.unwrap_or(dark.$role),)* }
            }
        }

        impl Theme {
            fn map_colors(&self, f: impl Fn(Color) -> Color) -> Theme {
                Theme { name: self.name.clone(), $($role: f(self.$role),)* }
            }
        }
    };
}

roles! {
    background, text, muted, accent, ok, warn, error, info,
    selection_bg, selection_fg, border, border_focused,
}

/// Themes compiled into the binary, in menu order (dark first: it is the default).
#[rustfmt::skip]
pub const SHIPPED: &[(&str, &str)] = &[
    ("themes/dark.yaml", include_str!("../../themes/dark.yaml")),
    ("themes/light.yaml", include_str!("../../themes/light.yaml")),
    ("themes/high-contrast.yaml", include_str!("../../themes/high-contrast.yaml")),
    ("themes/monochrome.yaml", include_str!("../../themes/monochrome.yaml")),
];

/// Reads one theme file; errors name the file and, where known, line and column.
pub fn parse(path: &Path, text: &str) -> Result<Theme, LoadError> {
    let mut files: Vec<ThemeFile> = parse_yaml_documents(path, text)?;
    if files.len() != 1 {
        let message = format!("a theme file holds one theme, not {}", files.len());
        return Err(LoadError::new(path, message));
    }
    let file = files.remove(0);
    if file.name.trim().is_empty() {
        return Err(LoadError::new(path, "`name` must not be empty"));
    }
    Ok(file.into_theme())
}

/// The shipped themes: dark, light, high-contrast, monochrome.
pub fn shipped() -> Vec<Theme> {
    SHIPPED
        .iter()
        // The tests parse every shipped file, so this cannot fail in a release.
        .map(|(path, text)| parse(Path::new(path), text).expect("shipped theme parses"))
        .collect()
}

/// The shipped themes plus every `*.yaml` (or `*.yml`) in `user_dir`, and warnings.
///
/// A user theme with the name of an earlier theme (any case) replaces it in
/// place; files load in name order. A broken file is skipped with a
/// `file:line:column: why` warning: a typo in one theme must never keep the
/// console from starting.
pub fn load_all(user_dir: Option<&Path>) -> (Vec<Theme>, Vec<String>) {
    let mut themes = shipped();
    let mut warnings = Vec::new();
    for path in user_dir
        .map(|d| theme_files(d, &mut warnings))
        .unwrap_or_default()
    {
        let loaded = std::fs::read_to_string(&path)
            .map_err(|e| LoadError::new(&path, format!("cannot read: {e}")))
            .and_then(|text| parse(&path, &text));
        match loaded {
            Ok(theme) => match find(&themes, &theme.name) {
                Some(i) => themes[i] = theme,
                None => themes.push(theme),
            },
            Err(e) => warnings.push(format!("{e} (theme skipped)")),
        }
    }
    (themes, warnings)
}

/// The YAML files in `dir`, sorted so the same files always load the same way.
fn theme_files(dir: &Path, warnings: &mut Vec<String>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // Most users never create a theme directory.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            warnings.push(format!(
                "{}: cannot read theme directory: {e}",
                dir.display()
            ));
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    paths
}

/// The index of the theme called `name`, ignoring case.
pub fn find(themes: &[Theme], name: &str) -> Option<usize> {
    let name = name.to_lowercase();
    themes.iter().position(|t| t.name.to_lowercase() == name)
}

/// Where user themes live: `<config dir>/autoheal/themes` (XDG on Linux).
pub fn user_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "autoheal").map(|d| d.config_dir().join("themes"))
}

/// Where the theme picked with `t` is remembered: `<state dir>/autoheal/theme`
/// (XDG state on Linux; the data directory elsewhere).
pub fn remembered_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "autoheal")
        .map(|d| d.state_dir().unwrap_or(d.data_dir()).join("theme"))
}

/// The theme name remembered in `file`, if any (a missing or empty file is none).
pub fn remembered(file: &Path) -> Option<String> {
    let name = std::fs::read_to_string(file).ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Remembers `name` in `file` for the next start.
pub fn remember(file: &Path, name: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(file, format!("{name}\n"))
}

/// How many colours the terminal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorDepth {
    /// 24-bit RGB.
    TrueColor,
    /// The xterm 256-colour palette.
    Ansi256,
    /// The 16 named colours, as the user's terminal palette draws them.
    Ansi16,
    /// No colour at all: the terminal's own foreground and background.
    None,
}

impl ColorDepth {
    /// Guesses the depth from the environment; `env` looks a variable up
    /// (pass `|k| std::env::var(k).ok()`), so tests need not touch the process's.
    pub fn detect(env: impl Fn(&str) -> Option<String>) -> ColorDepth {
        // https://no-color.org: set and non-empty means no colour, whatever else says.
        if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return ColorDepth::None;
        }
        let term = env("TERM").unwrap_or_default();
        // Before COLORTERM: Emacs' shell sets TERM=dumb but inherits COLORTERM
        // from the terminal Emacs was started in.
        if term == "dumb" {
            return ColorDepth::None;
        }
        let colorterm = env("COLORTERM").unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" || term.contains("direct") {
            ColorDepth::TrueColor
        } else if term.contains("256color") {
            ColorDepth::Ansi256
        } else {
            ColorDepth::Ansi16
        }
    }
}

/// serde helper: a colour as a string or a bare xterm-256 index.
fn color<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Color>, D::Error> {
    d.deserialize_any(ColorVisitor).map(Some)
}

struct ColorVisitor;

impl Visitor<'_> for ColorVisitor {
    type Value = Color;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a colour: {COLOR_SYNTAX}")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Color, E> {
        parse_color(text).map_err(E::custom)
    }

    // A bare `236` means the same as `"236"` (a negative number is a type error).
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Color, E> {
        self.visit_str(&n.to_string())
    }

    // `error: #ff0000` is a YAML comment, so the value is null: say why.
    fn visit_unit<E: de::Error>(self) -> Result<Color, E> {
        Err(E::custom(
            "missing colour: quote hex colours (\"#rrggbb\"), an unquoted # starts a YAML comment",
        ))
    }
}

const COLOR_SYNTAX: &str =
    "\"#rrggbb\", an ANSI name (red, light_blue, dark_gray, ...), indexed:0-255 or default";

/// Parses `"#rrggbb"`, an ANSI name, `indexed:N` or `N`, or `default`/`reset`.
fn parse_color(text: &str) -> Result<Color, String> {
    let bad = || format!("invalid colour `{text}`: expected {COLOR_SYNTAX}");
    let s = text.trim();
    if let Some(index) = s.strip_prefix("indexed:") {
        return index.parse().map(Color::Indexed).map_err(|_| bad());
    }
    if s.eq_ignore_ascii_case("default") {
        return Ok(Color::Reset);
    }
    // ratatui's parser takes hex, indices and names in any common spelling.
    s.parse().map_err(|_| bad())
}

/// The 16 named colours in palette order, with xterm's default RGB for each.
#[rustfmt::skip]
const ANSI16: [(Color, [u8; 3]); 16] = [
    (Color::Black, [0, 0, 0]),            (Color::Red, [205, 0, 0]),
    (Color::Green, [0, 205, 0]),          (Color::Yellow, [205, 205, 0]),
    (Color::Blue, [0, 0, 238]),           (Color::Magenta, [205, 0, 205]),
    (Color::Cyan, [0, 205, 205]),         (Color::Gray, [229, 229, 229]),
    (Color::DarkGray, [127, 127, 127]),   (Color::LightRed, [255, 0, 0]),
    (Color::LightGreen, [0, 255, 0]),     (Color::LightYellow, [255, 255, 0]),
    (Color::LightBlue, [92, 92, 255]),    (Color::LightMagenta, [255, 0, 255]),
    (Color::LightCyan, [0, 255, 255]),    (Color::White, [255, 255, 255]),
];

/// The levels of each channel in the xterm 6x6x6 colour cube (indices 16..=231).
const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// The RGB xterm draws for a palette index.
fn xterm_rgb(index: u8) -> [u8; 3] {
    match index {
        0..=15 => ANSI16[usize::from(index)].1,
        16..=231 => {
            let i = usize::from(index - 16);
            [CUBE[i / 36], CUBE[i / 6 % 6], CUBE[i % 6]]
        }
        // The gray ramp: 8, 18, ..., 238.
        _ => [8 + 10 * (index - 232); 3],
    }
}

fn to_ansi256(c: Color) -> Color {
    match c {
        Color::Rgb(r, g, b) => Color::Indexed(nearest_256([r, g, b])),
        other => other,
    }
}

/// The nearest cube or gray-ramp index by squared RGB distance; a tie goes to
/// the cube. Indices 0..=15 are skipped: the user's palette may redefine them.
fn nearest_256(rgb: [u8; 3]) -> u8 {
    let distance = |other: [u8; 3]| -> u32 {
        (0..3)
            .map(|i| u32::from(rgb[i].abs_diff(other[i])).pow(2))
            .sum()
    };
    // min_by_key keeps the first of equals, and the cube comes first.
    (16..=255u8)
        .min_by_key(|&i| distance(xterm_rgb(i)))
        .unwrap_or(16)
}

fn to_ansi16(c: Color) -> Color {
    match c {
        Color::Rgb(r, g, b) => nearest_16([r, g, b]),
        Color::Indexed(i) if i < 16 => ANSI16[usize::from(i)].0,
        Color::Indexed(i) => nearest_16(xterm_rgb(i)),
        other => other,
    }
}

/// Below this OKLCh chroma a colour reads as a tinted gray. Between the dark
/// theme's blue-gray muted (0.068) and the light theme's teal info (0.084).
const GRAY_CHROMA: f64 = 0.075;

/// The named colour nearest to `rgb`, matching hue before lightness.
///
/// Plain RGB distance fails here: the 16 colours are fully saturated and
/// themes use softer ones, so it sends the dark theme's ok and error to
/// DarkGray, the same as muted text. Instead a gray (low chroma) becomes the
/// named gray of nearest lightness, and anything else the named colour of
/// nearest hue, normal or light by lightness, all in the perceptual OKLCh space.
fn nearest_16(rgb: [u8; 3]) -> Color {
    let (lightness, chroma, hue) = oklch(rgb);
    let tinted = chroma >= GRAY_CHROMA;
    let score = |named: [u8; 3]| {
        let (l, _, h) = oklch(named);
        // Hue is an angle (350 and 10 degrees are 20 apart); named hues are ~60 apart.
        let turn = (hue - h).abs();
        let hue_gap = turn.min(360.0 - turn) / 60.0;
        let hue_term = if tinted { hue_gap.powi(2) } else { 0.0 };
        hue_term + (lightness - l).powi(2)
    };
    ANSI16
        .iter()
        .filter(|(_, named)| (named[0] == named[1] && named[1] == named[2]) != tinted)
        .min_by(|a, b| score(a.1).total_cmp(&score(b.1)))
        .map_or(Color::Reset, |(color, _)| *color)
}

/// OKLCh lightness (0..1), chroma and hue in degrees (https://bottosson.github.io/posts/oklab/).
fn oklch(rgb: [u8; 3]) -> (f64, f64, f64) {
    let [r, g, b] = rgb.map(|c| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    });
    let l = (0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b).cbrt();
    let m = (0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b).cbrt();
    let s = (0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b).cbrt();
    let lightness = 0.2104542553 * l + 0.7936177850 * m - 0.0040720468 * s;
    let a = 1.9779984951 * l - 2.4285922050 * m + 0.4505937099 * s;
    let b = 0.0259040371 * l + 0.7827717662 * m - 0.8086757660 * s;
    let hue = b.atan2(a).to_degrees().rem_euclid(360.0);
    (lightness, a.hypot(b), hue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theme_colour_syntax() {
        assert_eq!(parse_color("#FF8000"), Ok(Color::Rgb(255, 128, 0)));
        assert_eq!(parse_color("indexed:236"), Ok(Color::Indexed(236)));
        assert_eq!(parse_color("236"), Ok(Color::Indexed(236)));
        assert_eq!(parse_color("Dark-Gray"), Ok(Color::DarkGray));
        assert_eq!(parse_color("light_cyan"), Ok(Color::LightCyan));
        assert_eq!(parse_color("default"), Ok(Color::Reset));
        assert_eq!(parse_color("reset"), Ok(Color::Reset));
        for bad in [
            "#12345",
            "#1234567",
            "indexed:256",
            "indexed:red",
            "256",
            "purple-ish",
            "",
        ] {
            let err = parse_color(bad).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn theme_nearest_256_of_pure_colours() {
        assert_eq!(nearest_256([0xff, 0, 0]), 196);
        // Black is both cube 16 and (nearly) gray 232 = #080808: the cube is exact.
        assert_eq!(nearest_256([0, 0, 0]), 16);
        // Gray ramp 232 + 12 is 8 + 10 * 12 = 128 exactly; the cube's nearest is 135.
        assert_eq!(nearest_256([0x80, 0x80, 0x80]), 244);
        assert_eq!(nearest_256([0xff, 0xff, 0xff]), 231);
        // #1a1b26 (the dark background): gray 234 (#1c1c1c) beats cube 16 (#000000).
        assert_eq!(nearest_256([0x1a, 0x1b, 0x26]), 234);
    }

    #[test]
    fn theme_every_palette_colour_maps_to_itself() {
        for i in 16..=255u8 {
            assert_eq!(nearest_256(xterm_rgb(i)), i);
        }
        for (color, rgb) in ANSI16 {
            assert_eq!(nearest_16(rgb), color, "{rgb:?}");
        }
    }

    #[test]
    fn theme_reds_stay_red_in_16_colours() {
        assert_eq!(nearest_16([0xff, 0, 0]), Color::LightRed);
        assert_eq!(nearest_16([0xcd, 0, 0]), Color::Red);
        assert_eq!(nearest_16([0xb0, 0x20, 0x20]), Color::Red);
        assert_eq!(to_ansi16(Color::Indexed(1)), Color::Red);
        assert_eq!(to_ansi16(Color::Indexed(196)), Color::LightRed);
    }

    #[test]
    fn theme_dark_degrades_to_the_16_colours_a_person_would_pick() {
        let t = Theme::dark().for_depth(ColorDepth::Ansi16);
        let got = [t.background, t.text, t.muted, t.ok, t.warn, t.error];
        let want = [
            Color::Black,
            Color::Gray,
            Color::DarkGray,
            Color::Green,
            Color::Yellow,
            Color::LightRed,
        ];
        assert_eq!(got, want);
    }
}
