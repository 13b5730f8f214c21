//! The characters the console draws with, chosen once at start like the colour depth.
//!
//! A terminal whose locale is not UTF-8 (`LANG=C`, a bare SSH session) shows
//! box-drawing and block characters as mojibake, and the Linux virtual console's
//! fonts lack most of them; there the console draws with [`Glyphs::ASCII`]. Panes
//! read every non-text character from here, so no pane needs to know which set is
//! in use.

use ratatui::symbols::{bar, border};

/// Which characters the terminal can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// Box drawing, blocks and symbols from Unicode.
    Unicode,
    /// Printable ASCII only.
    Ascii,
}

impl Charset {
    /// Guesses from the environment; `env` looks a variable up (pass
    /// `|k| std::env::var(k).ok()`), so tests need not touch the process's.
    ///
    /// The locale is the first non-empty of `LC_ALL`, `LC_CTYPE` and `LANG`, as
    /// setlocale(3) reads them; none at all is the C locale, which is ASCII.
    pub fn detect(env: impl Fn(&str) -> Option<String>) -> Charset {
        let term = env("TERM").unwrap_or_default();
        // The Linux console's fonts (and `dumb` terminals) lack rounded corners,
        // eighth blocks and most symbols, even in a UTF-8 locale.
        if term == "linux" || term == "dumb" {
            return Charset::Ascii;
        }
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .into_iter()
            .filter_map(&env)
            .find(|v| !v.is_empty())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if locale.contains("utf-8") || locale.contains("utf8") {
            Charset::Unicode
        } else {
            Charset::Ascii
        }
    }
}

/// Every character a pane draws that is not text: frames, bars, charts, marks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glyphs {
    /// Whether text from elsewhere (target names, command output) must be
    /// made ASCII too before it reaches the terminal.
    pub only_ascii: bool,
    pub border: border::Set<'static>,
    /// Sparkline levels, from empty to a full cell.
    pub spark: bar::Set<'static>,
    /// A gauge's filled and empty cells.
    pub gauge_full: &'static str,
    pub gauge_empty: &'static str,
    /// The status dot before a target's name.
    pub dot: &'static str,
    /// Between items on one line: `approve · reject`.
    pub sep: &'static str,
    /// Between two charts side by side.
    pub divider: &'static str,
    /// Marks text cut to fit.
    pub ellipsis: &'static str,
    /// The text cursor in an input line.
    pub cursor: &'static str,
    pub up: &'static str,
    pub down: &'static str,
    /// Before a symptom, listed under its root incident.
    pub under: &'static str,
    /// Before a prediction: a figure on its way to a threshold.
    pub rising: &'static str,
}

impl Glyphs {
    pub const UNICODE: Glyphs = Glyphs {
        only_ascii: false,
        border: border::ROUNDED,
        spark: bar::NINE_LEVELS,
        gauge_full: "█",
        gauge_empty: "░",
        dot: "●",
        sep: " · ",
        divider: " │ ",
        ellipsis: "…",
        cursor: "█",
        up: "↑",
        down: "↓",
        under: "└ ",
        rising: "↗",
    };

    pub const ASCII: Glyphs = Glyphs {
        only_ascii: true,
        // ratatui's PLAIN set is still box drawing.
        border: border::Set {
            top_left: "+",
            top_right: "+",
            bottom_left: "+",
            bottom_right: "+",
            vertical_left: "|",
            vertical_right: "|",
            horizontal_top: "-",
            horizontal_bottom: "-",
        },
        // ` .:-=+*#`: each level has more ink than the one before.
        spark: bar::Set {
            full: "#",
            seven_eighths: "#",
            three_quarters: "*",
            five_eighths: "+",
            half: "=",
            three_eighths: "-",
            one_quarter: ":",
            one_eighth: ".",
            empty: " ",
        },
        gauge_full: "#",
        gauge_empty: "-",
        dot: "*",
        sep: " - ",
        divider: " | ",
        ellipsis: "...",
        cursor: "_",
        up: "Up",
        down: "Dn",
        under: "\\ ",
        rising: "^",
    };

    pub fn for_charset(charset: Charset) -> Glyphs {
        match charset {
            Charset::Unicode => Glyphs::UNICODE,
            Charset::Ascii => Glyphs::ASCII,
        }
    }

    /// Cuts `s` to `width` characters, marking the cut with the ellipsis so a
    /// truncated name is never mistaken for a whole one.
    pub fn fit(&self, s: &str, width: usize) -> String {
        if s.chars().count() <= width {
            return s.to_string();
        }
        let mark = self.ellipsis.chars().count();
        if width <= mark {
            // No room for the mark: the first characters say more than dots.
            return s.chars().take(width).collect();
        }
        let mut out: String = s.chars().take(width - mark).collect();
        out.push_str(self.ellipsis);
        out
    }

    /// Shortens `s` to `width` characters by cutting its middle, keeping the start
    /// and the end (`CONNECT…REFUSED`), where names and signatures say the most.
    pub fn fit_middle(&self, s: &str, width: usize) -> String {
        let n = s.chars().count();
        if n <= width {
            return s.to_string();
        }
        let mark = self.ellipsis.chars().count();
        if width < mark + 2 {
            return self.fit(s, width);
        }
        let head = (width - mark).div_ceil(2);
        let tail = width - mark - head;
        let mut out: String = s.chars().take(head).collect();
        out.push_str(self.ellipsis);
        out.extend(s.chars().skip(n - tail));
        out
    }

    /// The last `width` characters of `s`, marked when cut: the end of a path
    /// (the file name) is the part that tells.
    pub fn tail(&self, s: &str, width: usize) -> String {
        let n = s.chars().count();
        if n <= width {
            return s.to_string();
        }
        let mark = self.ellipsis.chars().count();
        if width <= mark {
            return s.chars().skip(n - width).collect();
        }
        let rest: String = s.chars().skip(n + mark - width).collect();
        format!("{}{rest}", self.ellipsis)
    }

    /// `s` padded or cut to exactly `width` characters.
    pub fn cell(&self, s: &str, width: usize) -> String {
        format!("{:<width$}", self.fit(s, width))
    }
}

impl Default for Glyphs {
    fn default() -> Glyphs {
        Glyphs::UNICODE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(vars: &[(&str, &str)]) -> Charset {
        Charset::detect(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn a_utf8_locale_gets_unicode_in_any_spelling() {
        assert_eq!(detect(&[("LANG", "en_US.UTF-8")]), Charset::Unicode);
        assert_eq!(detect(&[("LANG", "de_DE.utf8")]), Charset::Unicode);
        assert_eq!(detect(&[("LC_CTYPE", "C.Utf-8")]), Charset::Unicode);
        assert_eq!(
            detect(&[("LANG", "en_US.UTF-8"), ("TERM", "xterm-256color")]),
            Charset::Unicode
        );
    }

    #[test]
    fn the_c_locale_or_none_gets_ascii() {
        assert_eq!(detect(&[("LANG", "C")]), Charset::Ascii);
        assert_eq!(detect(&[("LANG", "POSIX")]), Charset::Ascii);
        assert_eq!(detect(&[("LANG", "en_US.ISO-8859-1")]), Charset::Ascii);
        assert_eq!(detect(&[]), Charset::Ascii);
    }

    #[test]
    fn lc_all_overrides_lc_ctype_overrides_lang() {
        assert_eq!(
            detect(&[("LC_ALL", "C"), ("LANG", "en_US.UTF-8")]),
            Charset::Ascii
        );
        assert_eq!(
            detect(&[("LC_CTYPE", "en_US.UTF-8"), ("LANG", "C")]),
            Charset::Unicode
        );
        assert_eq!(
            detect(&[("LC_ALL", "C"), ("LC_CTYPE", "en_US.UTF-8")]),
            Charset::Ascii
        );
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        assert_eq!(
            detect(&[("LC_ALL", ""), ("LANG", "en_US.UTF-8")]),
            Charset::Unicode
        );
    }

    #[test]
    fn the_linux_console_and_dumb_terminals_get_ascii_even_in_utf8() {
        for term in ["linux", "dumb"] {
            assert_eq!(
                detect(&[("LANG", "en_US.UTF-8"), ("TERM", term)]),
                Charset::Ascii,
                "{term}"
            );
        }
    }

    #[test]
    fn every_ascii_glyph_is_ascii() {
        let g = Glyphs::ASCII;
        let b = g.border;
        let s = g.spark;
        let all = [
            b.top_left,
            b.top_right,
            b.bottom_left,
            b.bottom_right,
            b.vertical_left,
            b.vertical_right,
            b.horizontal_top,
            b.horizontal_bottom,
            s.full,
            s.seven_eighths,
            s.three_quarters,
            s.five_eighths,
            s.half,
            s.three_eighths,
            s.one_quarter,
            s.one_eighth,
            s.empty,
            g.gauge_full,
            g.gauge_empty,
            g.dot,
            g.sep,
            g.divider,
            g.ellipsis,
            g.cursor,
            g.up,
            g.down,
        ];
        for glyph in all {
            assert!(glyph.is_ascii(), "{glyph:?}");
        }
    }

    #[test]
    fn cuts_are_marked_in_either_set() {
        let (u, a) = (Glyphs::UNICODE, Glyphs::ASCII);
        assert_eq!(u.fit("payments-api", 8), "payment…");
        assert_eq!(a.fit("payments-api", 8), "payme...");
        assert_eq!(a.fit("payments-api", 2), "pa");
        assert_eq!(a.fit("db", 8), "db");
        assert_eq!(a.cell("db", 4), "db  ");
        assert_eq!(u.fit_middle("CONNECTION_REFUSED", 11), "CONNE…FUSED");
        assert_eq!(u.fit_middle("abcdef", 2), "a…");
        assert_eq!(a.fit_middle("CONNECTION_REFUSED", 11), "CONN...USED");
        assert_eq!(a.fit_middle("DISK_FULL", 12), "DISK_FULL");
        assert_eq!(u.tail("/etc/autoheal/prod.yaml", 10), "…prod.yaml");
        assert_eq!(a.tail("/etc/autoheal/prod.yaml", 13), ".../prod.yaml");
        assert_eq!(a.tail("demo", 10), "demo");
    }
}
