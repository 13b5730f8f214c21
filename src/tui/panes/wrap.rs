//! Word wrapping for the detail view. Wrapping before the Paragraph sees the
//! text keeps the line count exact, so scrolling can stop at the last line.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// Pushes `text` after `prefix` (which is `indent` wide), word-wrapped to
/// `width` with continuation lines indented.
pub fn wrap<'a>(
    out: &mut Vec<Line<'a>>,
    prefix: Vec<Span<'a>>,
    indent: usize,
    text: &str,
    style: Style,
    width: usize,
) {
    let room = width.saturating_sub(indent).max(8);
    let mut prefix = Some(prefix);
    for source in text.lines() {
        for chunk in word_wrap(source, room) {
            let mut spans = prefix
                .take()
                .unwrap_or_else(|| vec![Span::raw(" ".repeat(indent))]);
            spans.push(Span::styled(chunk, style));
            out.push(Line::from(spans));
        }
    }
    if let Some(spans) = prefix {
        out.push(Line::from(spans));
    }
}

/// Greedy word wrap to `room` characters; a word longer than a line (a URL,
/// a JSON body) is split where the line ends. An empty line stays one line.
fn word_wrap(text: &str, room: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        if len > 0 && len + 1 + word.len() > room {
            lines.push(std::mem::take(&mut line));
            len = 0;
        }
        if len > 0 {
            line.push(' ');
            len += 1;
        }
        while len + word.len() > room {
            let rest = word.split_off(room - len);
            line.extend(word);
            lines.push(std::mem::take(&mut line));
            len = 0;
            word = rest;
        }
        len += word.len();
        line.extend(word);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::word_wrap;

    #[test]
    fn wraps_at_words_and_splits_only_words_too_long_for_a_line() {
        assert_eq!(
            word_wrap("confidence 0.95 >= 0.90", 12),
            ["confidence", "0.95 >= 0.90"]
        );
        assert_eq!(word_wrap("abcdefghij kl", 4), ["abcd", "efgh", "ij", "kl"]);
        assert_eq!(word_wrap("", 4), [""]);
    }
}
