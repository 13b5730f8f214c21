//! Theme files, user overrides and colour depth.

use autoheal::tui::Theme;
use autoheal::tui::theme::{ColorDepth, find, load_all, parse, shipped};
use ratatui::style::Color;
use std::path::Path;

fn parse_str(text: &str) -> Result<Theme, autoheal::config::LoadError> {
    parse(Path::new("t.yaml"), text)
}

/// An environment holding only `vars`.
fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |key| {
        vars.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    }
}

const DEPTHS: [ColorDepth; 3] = [
    ColorDepth::TrueColor,
    ColorDepth::Ansi256,
    ColorDepth::Ansi16,
];

fn colors(t: &Theme) -> [Color; 12] {
    [
        t.background,
        t.text,
        t.muted,
        t.accent,
        t.ok,
        t.warn,
        t.error,
        t.info,
        t.selection_bg,
        t.selection_fg,
        t.border,
        t.border_focused,
    ]
}

#[test]
fn shipped_themes_come_in_order_with_dark_first() {
    let names: Vec<String> = shipped().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["dark", "light", "high-contrast", "monochrome"]);
    assert_eq!(shipped()[0], Theme::dark());
}

#[test]
fn shipped_status_colours_stay_distinct_at_every_depth() {
    for theme in shipped().iter().filter(|t| t.name != "monochrome") {
        for depth in DEPTHS {
            let t = theme.for_depth(depth);
            let name = format!("{} at {depth:?}", t.name);
            assert!(
                t.ok != t.warn && t.warn != t.error && t.ok != t.error,
                "{name}: {t:?}"
            );
            assert_ne!(t.text, t.background, "{name}");
            assert_ne!(t.selection_bg, t.background, "{name}");
        }
    }
}

#[test]
fn monochrome_uses_only_the_terminal_colours_and_grays() {
    let mono = &shipped()[find(&shipped(), "monochrome").unwrap()];
    let allowed = [
        Color::Reset,
        Color::Black,
        Color::White,
        Color::Gray,
        Color::DarkGray,
    ];
    for c in colors(mono) {
        assert!(allowed.contains(&c), "{c:?}");
    }
    assert_ne!(mono.selection_bg, mono.background);
}

#[test]
fn every_colour_syntax_parses_and_missing_roles_fall_back_to_dark() {
    let t = parse_str(
        "name: mine\ntext: '#102030'\nok: light_green\nwarn: indexed:236\nerror: 196\ninfo: default\n",
    )
    .unwrap();
    assert_eq!(t.text, Color::Rgb(0x10, 0x20, 0x30));
    assert_eq!(t.ok, Color::LightGreen);
    assert_eq!(t.warn, Color::Indexed(236));
    assert_eq!(t.error, Color::Indexed(196));
    assert_eq!(t.info, Color::Reset);
    assert_eq!(t.background, Theme::dark().background);
}

#[test]
fn unknown_key_is_an_error_with_line_and_column() {
    let err = parse_str("name: mine\ncolour: red\n").unwrap_err();
    assert_eq!(err.location, Some((2, 1)), "{err}");
    assert!(err.to_string().starts_with("t.yaml:2:1: "), "{err}");
    assert!(err.message.contains("unknown field `colour`"), "{err}");
}

#[test]
fn bad_colours_are_errors_naming_the_value_and_its_line() {
    let err = parse_str("name: mine\ntext: red\nerror: \"#12345\"\n").unwrap_err();
    assert_eq!(err.location.map(|l| l.0), Some(3), "{err}");
    assert!(err.message.contains("`#12345`"), "{err}");

    let err = parse_str("name: mine\n\nwarn: purple-ish\nok: red\n").unwrap_err();
    assert_eq!(err.location.map(|l| l.0), Some(3), "{err}");
    assert!(err.message.contains("`purple-ish`"), "{err}");

    // Unquoted, the # starts a comment and the value would silently vanish.
    let err = parse_str("name: mine\nerror: #ff0000\n").unwrap_err();
    assert_eq!(err.location.map(|l| l.0), Some(2), "{err}");
    assert!(err.message.contains("quote hex colours"), "{err}");

    assert!(parse_str("name: mine\nerror: 256\n").is_err());
    assert!(
        parse_str("text: red\n")
            .unwrap_err()
            .message
            .contains("`name`")
    );
    assert!(parse_str("name: a\n---\nname: b\n").is_err());
}

#[test]
fn a_broken_user_theme_is_a_warning_and_the_rest_still_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "name: bad\ncolour: red\n").unwrap();
    std::fs::write(dir.path().join("good.yaml"), "name: good\ntext: white\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a theme").unwrap();
    let (themes, warnings) = load_all(Some(dir.path()));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let bad = dir.path().join("bad.yaml");
    assert!(
        warnings[0].starts_with(&format!("{}:2:1: ", bad.display())),
        "{warnings:?}"
    );
    let names: Vec<&str> = themes.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["dark", "light", "high-contrast", "monochrome", "good"]
    );
}

#[test]
fn a_user_theme_replaces_the_shipped_one_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("my-dark.yaml"), "name: Dark\nok: green\n").unwrap();
    let (themes, warnings) = load_all(Some(dir.path()));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(themes.len(), 4);
    assert_eq!(themes[0].name, "Dark");
    assert_eq!(themes[0].ok, Color::Green);
    assert_eq!(find(&themes, "DARK"), Some(0));
    assert_eq!(find(&themes, "High-Contrast"), Some(2));
    assert_eq!(find(&themes, "solarized"), None);
}

#[test]
fn no_user_dir_is_not_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (themes, warnings) = load_all(Some(&dir.path().join("missing")));
    assert_eq!((themes.len(), warnings.len()), (4, 0));
    assert_eq!(load_all(None).0, shipped());
}

#[test]
fn detect_reads_the_environment() {
    let detect = |vars: &[(&str, &str)]| ColorDepth::detect(env(vars));
    assert_eq!(
        detect(&[("NO_COLOR", "1"), ("COLORTERM", "truecolor")]),
        ColorDepth::None
    );
    assert_eq!(
        detect(&[("NO_COLOR", ""), ("TERM", "xterm")]),
        ColorDepth::Ansi16
    );
    assert_eq!(
        detect(&[("COLORTERM", "truecolor"), ("TERM", "xterm-256color")]),
        ColorDepth::TrueColor
    );
    assert_eq!(detect(&[("COLORTERM", "24bit")]), ColorDepth::TrueColor);
    assert_eq!(detect(&[("TERM", "xterm-direct")]), ColorDepth::TrueColor);
    assert_eq!(detect(&[("TERM", "xterm-256color")]), ColorDepth::Ansi256);
    assert_eq!(detect(&[("TERM", "xterm")]), ColorDepth::Ansi16);
    assert_eq!(detect(&[]), ColorDepth::Ansi16);
    assert_eq!(detect(&[("TERM", "dumb")]), ColorDepth::None);
    // Emacs' M-x shell: TERM=dumb with COLORTERM inherited from the outer terminal.
    assert_eq!(
        detect(&[("TERM", "dumb"), ("COLORTERM", "truecolor")]),
        ColorDepth::None
    );
}

#[test]
fn for_depth_converts_every_colour() {
    let dark = Theme::dark();
    assert_eq!(dark.for_depth(ColorDepth::TrueColor), dark);
    for c in colors(&dark.for_depth(ColorDepth::None)) {
        assert_eq!(c, Color::Reset);
    }
    for c in colors(&dark.for_depth(ColorDepth::Ansi256)) {
        assert!(matches!(c, Color::Indexed(16..=255)), "{c:?}");
    }
    for c in colors(&dark.for_depth(ColorDepth::Ansi16)) {
        assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{c:?}");
    }
    // Named and indexed colours already fit 256 colours and follow the user's palette.
    let mine = parse_str("name: mine\nok: green\nwarn: 244\nerror: '#ff0000'\n").unwrap();
    let t = mine.for_depth(ColorDepth::Ansi256);
    assert_eq!(
        (t.ok, t.warn, t.error),
        (Color::Green, Color::Indexed(244), Color::Indexed(196))
    );
    let t = mine.for_depth(ColorDepth::Ansi16);
    assert_eq!(
        (t.ok, t.warn, t.error),
        (Color::Green, Color::DarkGray, Color::LightRed)
    );
}

/// The RGB a terminal draws for `c` (xterm's palette for the named colours).
fn rgb(c: Color) -> [u8; 3] {
    const NAMED: [(Color, [u8; 3]); 16] = [
        (Color::Black, [0, 0, 0]),
        (Color::Red, [205, 0, 0]),
        (Color::Green, [0, 205, 0]),
        (Color::Yellow, [205, 205, 0]),
        (Color::Blue, [0, 0, 238]),
        (Color::Magenta, [205, 0, 205]),
        (Color::Cyan, [0, 205, 205]),
        (Color::Gray, [229, 229, 229]),
        (Color::DarkGray, [127, 127, 127]),
        (Color::LightRed, [255, 0, 0]),
        (Color::LightGreen, [0, 255, 0]),
        (Color::LightYellow, [255, 255, 0]),
        (Color::LightBlue, [92, 92, 255]),
        (Color::LightMagenta, [255, 0, 255]),
        (Color::LightCyan, [0, 255, 255]),
        (Color::White, [255, 255, 255]),
    ];
    const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];
    match c {
        Color::Rgb(r, g, b) => [r, g, b],
        Color::Indexed(i @ 0..=15) => NAMED[usize::from(i)].1,
        Color::Indexed(i @ 16..=231) => {
            let i = usize::from(i - 16);
            [CUBE[i / 36], CUBE[i / 6 % 6], CUBE[i % 6]]
        }
        Color::Indexed(i) => [8 + 10 * (i - 232); 3],
        named => NAMED.iter().find(|(n, _)| *n == named).expect("named").1,
    }
}

/// WCAG contrast ratio of two colours (1 = none, 21 = black on white).
fn contrast(a: Color, b: Color) -> f64 {
    let luminance = |c: Color| {
        let [r, g, b] = rgb(c).map(|v| {
            let v = f64::from(v) / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        });
        0.2126 * r + 0.7152 * g + 0.0722 * b
    };
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[test]
fn the_dark_selection_stands_out_at_every_depth() {
    for depth in DEPTHS {
        let t = Theme::dark().for_depth(depth);
        let row = contrast(t.selection_bg, t.background);
        let text = contrast(t.selection_fg, t.selection_bg);
        // The old #283457 on #1a1b26 was 1.4: a row the eye had to look for.
        assert!(row >= 2.0, "{depth:?}: selected row vs background {row:.2}");
        assert!(text >= 4.0, "{depth:?}: text on the selection {text:.2}");
    }
}
