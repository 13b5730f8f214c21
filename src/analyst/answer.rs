//! Reading the analyst's answer: the fixed JSON shape and nothing looser. The
//! answer comes from a network peer, so every part of it is checked, and its
//! reason is treated as hostile text.

use serde::Deserialize;

use super::question::Candidate;
use crate::event::AnalystDecision;

/// The largest response body read; a longer one is refused.
pub const MAX_BODY: usize = 64 * 1024;
/// A reason is cut to this many characters.
pub const MAX_REASON: usize = 300;

/// A usable answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub decision: AnalystDecision,
    /// One of the candidates offered; always present for `remediate`.
    pub step: Option<Candidate>,
    pub confidence: f64,
    pub reason: String,
}

/// The answer shape, exactly: no other field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shape {
    decision: AnalystDecision,
    step: Option<String>,
    confidence: f64,
    reason: String,
}

/// Reads a chat-completions response body: `choices[0].message.content` must
/// be the answer's JSON object, alone or inside one Markdown code fence.
pub fn parse(body: &[u8], candidates: &[Candidate]) -> Result<Proposal, String> {
    if body.len() > MAX_BODY {
        return Err(format!("the answer is over {} KiB", MAX_BODY / 1024));
    }
    let response: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the response is not JSON: {e}"))?;
    let content = response
        .pointer("/choices/0/message/content")
        .and_then(serde_json::Value::as_str)
        .ok_or("the response has no choices[0].message.content text")?;
    let json = unfence(content.trim());
    let shape: Shape = serde_json::from_str(json).map_err(|e| {
        format!(
            "the answer is not the JSON object asked for ({e}): {}",
            clean(content, 80)
        )
    })?;
    if !(0.0..=1.0).contains(&shape.confidence) {
        return Err(format!(
            "confidence {} is not between 0 and 1",
            shape.confidence
        ));
    }
    let step = match shape.step.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => Some(
            candidates
                .iter()
                .find(|c| c.id == id)
                .cloned()
                .ok_or_else(|| {
                    format!("step `{}` is not one of the steps offered", clean(id, 80))
                })?,
        ),
    };
    if shape.decision == AnalystDecision::Remediate && step.is_none() {
        return Err("`remediate` without a step".into());
    }
    let reason = clean(&shape.reason, MAX_REASON);
    if reason.is_empty() {
        return Err("the answer gives no reason".into());
    }
    Ok(Proposal {
        decision: shape.decision,
        step,
        confidence: shape.confidence,
        reason,
    }
    .tidy())
}

impl Proposal {
    /// A step goes with `remediate` only: advice to escalate or watch runs nothing.
    fn tidy(mut self) -> Proposal {
        if self.decision != AnalystDecision::Remediate {
            self.step = None;
        }
        self
    }
}

/// The text inside one Markdown code fence (```json ... ```), or `text` as it is.
fn unfence(text: &str) -> &str {
    let Some(inner) = text
        .strip_prefix("```")
        .and_then(|rest| rest.strip_suffix("```"))
    else {
        return text;
    };
    // The fence's first line names the language, if anything.
    match inner.split_once('\n') {
        Some((lang, body)) if lang.trim().chars().all(|c| c.is_ascii_alphanumeric()) => body.trim(),
        _ => inner.trim(),
    }
}

/// Hostile text made safe to journal and show: control characters become
/// spaces, runs of white space one space, at most `max` characters (`…` marks a cut).
pub fn clean(text: &str, max: usize) -> String {
    let words = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty());
    let mut out = String::new();
    for word in words {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() > max {
            break;
        }
    }
    if out.chars().count() > max {
        out = out.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered() -> Vec<Candidate> {
        vec![
            Candidate::new(
                "web-restart",
                "restart",
                "systemctl restart web".into(),
                0.8,
            ),
            Candidate::new(
                "web-restart",
                "clear-cache",
                "rm -rf /var/cache/web".into(),
                0.6,
            ),
        ]
    }

    fn chat(content: &str) -> Vec<u8> {
        serde_json::json!({"choices": [{"message": {"role": "assistant", "content": content}}]})
            .to_string()
            .into_bytes()
    }

    fn read(content: &str) -> Result<Proposal, String> {
        parse(&chat(content), &offered())
    }

    #[test]
    fn a_proposal_in_the_fixed_shape_names_an_offered_step() {
        let p = read(r#"{"decision":"remediate","step":"web-restart/restart","confidence":0.7,"reason":"It crashed; a restart fixes it."}"#).unwrap();
        assert_eq!(p.decision, AnalystDecision::Remediate);
        assert_eq!(
            p.step.map(|c| (c.playbook, c.step)),
            Some(("web-restart".into(), "restart".into()))
        );
        assert_eq!(p.confidence, 0.7);
        assert_eq!(p.reason, "It crashed; a restart fixes it.");
    }

    #[test]
    fn one_code_fence_is_tolerated_and_nothing_looser() {
        let json =
            r#"{"decision":"escalate","step":null,"confidence":0.4,"reason":"disk hardware"}"#;
        for fenced in [
            format!("```json\n{json}\n```"),
            format!("```\n{json}\n```"),
            format!("  {json}  "),
        ] {
            assert_eq!(
                read(&fenced).unwrap().decision,
                AnalystDecision::Escalate,
                "{fenced}"
            );
        }
        for loose in [
            format!("Sure! Here is my answer: {json}"),
            format!("{json}\nHope this helps"),
            format!("```json\n{json}\n``` and more"),
            "I think you should restart it.".to_string(),
            String::new(),
        ] {
            let e = read(&loose).unwrap_err();
            assert!(e.contains("not the JSON object asked for"), "{loose}: {e}");
        }
    }

    #[test]
    fn an_unknown_step_or_a_remediation_without_one_is_refused() {
        let e = read(
            r#"{"decision":"remediate","step":"rm-rf/everything","confidence":0.9,"reason":"r"}"#,
        )
        .unwrap_err();
        assert!(
            e.contains("`rm-rf/everything` is not one of the steps offered"),
            "{e}"
        );
        let e = read(r#"{"decision":"remediate","step":null,"confidence":0.9,"reason":"r"}"#)
            .unwrap_err();
        assert!(e.contains("without a step"), "{e}");
        // Advice to watch runs nothing, even when it names a step.
        let p = read(
            r#"{"decision":"monitor","step":"web-restart/restart","confidence":0.3,"reason":"r"}"#,
        )
        .unwrap();
        assert_eq!(p.step, None);
    }

    #[test]
    fn confidence_must_be_a_number_from_0_to_1() {
        for bad in ["1.5", "-0.1", "1e400", "\"high\"", "null"] {
            let content =
                format!(r#"{{"decision":"escalate","step":null,"confidence":{bad},"reason":"r"}}"#);
            assert!(read(&content).is_err(), "{bad}");
        }
        for good in ["0", "1", "0.55"] {
            let content = format!(
                r#"{{"decision":"escalate","step":null,"confidence":{good},"reason":"r"}}"#
            );
            assert!(read(&content).is_ok(), "{good}");
        }
    }

    #[test]
    fn other_decisions_fields_and_envelopes_are_refused() {
        for content in [
            r#"{"decision":"reboot","step":null,"confidence":0.5,"reason":"r"}"#,
            r#"{"decision":"escalate","step":null,"confidence":0.5,"reason":"r","run":"rm -rf /"}"#,
            r#"{"decision":"escalate","confidence":0.5}"#,
            r#"["escalate"]"#,
        ] {
            assert!(read(content).is_err(), "{content}");
        }
        assert!(
            parse(b"<html>502</html>", &offered())
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            parse(br#"{"choices":[]}"#, &offered())
                .unwrap_err()
                .contains("choices[0]")
        );
        let no_text = br#"{"choices":[{"message":{"content":null,"tool_calls":[]}}]}"#;
        assert!(parse(no_text, &offered()).is_err());
        let huge = chat(&" ".repeat(MAX_BODY));
        assert!(
            parse(&huge, &offered())
                .unwrap_err()
                .contains("over 64 KiB")
        );
    }

    #[test]
    fn a_hostile_reason_is_trimmed_cleaned_and_cut() {
        let evil = format!("  \u{1b}[2J\u{1b}]0;pwned\u{7}ok\r\n{}  ", "x".repeat(1000));
        let content = serde_json::json!({"decision": "escalate", "step": null, "confidence": 0.5, "reason": evil});
        let p = read(&content.to_string()).unwrap();
        assert!(!p.reason.chars().any(char::is_control), "{:?}", p.reason);
        assert!(p.reason.starts_with("[2J ]0;pwned ok x"), "{:?}", p.reason);
        assert_eq!(p.reason.chars().count(), MAX_REASON);
        assert!(p.reason.ends_with('…'));
        let blank = r#"{"decision":"escalate","step":null,"confidence":0.5,"reason":" \u0007 "}"#;
        assert!(read(blank).unwrap_err().contains("no reason"));
    }
}
