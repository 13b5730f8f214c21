//! `e`: the selected incident as JSON and Markdown files, and the Markdown on
//! the clipboard through OSC 52, which the operator's own terminal honours
//! even over SSH (and tmux with `set-clipboard on`).

use jiff::Timestamp;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::report::{duration_ms, line};
use crate::state::{Incident, State};

/// Writes `incident` as `incident-<id>-<time>.json` and `.md` into `dir`
/// (created if missing). Returns the Markdown path and text.
pub fn write(
    dir: &Path,
    incident: &Incident,
    state: &State,
    now: Timestamp,
) -> std::io::Result<(PathBuf, String)> {
    std::fs::create_dir_all(dir)?;
    let stem = format!(
        "incident-{}-{}",
        incident.id.0,
        now.strftime("%Y%m%dT%H%M%SZ")
    );
    let json = serde_json::to_string_pretty(incident).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(format!("{stem}.json")), json + "\n")?;
    let md = markdown(incident, state);
    let md_path = dir.join(format!("{stem}.md"));
    std::fs::write(&md_path, &md)?;
    Ok((md_path, md))
}

/// A report a colleague can read in a ticket: the facts, then the timeline.
pub fn markdown(i: &Incident, state: &State) -> String {
    let mut md = format!("# Incident {} on {}: {}\n\n", i.id, i.target, i.signature);
    let ttr = i.time_to_resolve_ms.map_or("-".into(), duration_ms);
    let rows = [
        ("status", i.status.label().to_string()),
        ("severity", format!("{:?}", i.severity).to_lowercase()),
        ("detected", i.detected_at.to_string()),
        ("playbook", i.playbook.clone().unwrap_or_else(|| "-".into())),
        ("step", i.step.clone().unwrap_or_else(|| "-".into())),
        ("confidence", format!("{:.2}", i.confidence)),
        ("reason", i.reason.clone()),
        ("time to resolve", ttr),
    ];
    md.push_str("| | |\n|---|---|\n");
    for (k, v) in rows {
        let _ = writeln!(md, "| {k} | {} |", v.replace('|', "\\|"));
    }
    md.push_str("\n## Timeline\n\n```\n");
    for (n, event) in i.timeline.iter().enumerate() {
        if n == crate::state::TIMELINE_HEAD && i.timeline_elided > 0 {
            let _ = writeln!(md, "... {} more events (in the journal)", i.timeline_elided);
        }
        let _ = writeln!(md, "{}", line(event, state));
    }
    md.push_str("```\n");
    md
}

/// The OSC 52 escape that puts `text` on the terminal's clipboard.
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", base64(text.as_bytes()))
}

/// Standard base64 with padding: a dozen lines instead of a dependency.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63])),
                false => out.push('='),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain}");
        }
        assert_eq!(osc52("hi"), "\x1b]52;c;aGk=\x07");
    }
}
