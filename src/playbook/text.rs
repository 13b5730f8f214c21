//! Other tools report failures in words (`"query failed: DB_TIMEOUT after
//! 5s"`, `"ERR_DB"`, `"connection pool exhausted"`). A playbook's `match.text`
//! lists what its signature is also called, so a report in any of those words
//! opens an incident under that one signature, and every rule keyed on the
//! signature (playbooks, cooldowns, one open incident per signature) applies.

use serde::{Deserialize, Deserializer};

/// Longest pattern, so a regex's compiled size stays small.
const MAX_PATTERN: usize = 200;

/// A substring (any letter case) or, between slashes, a regular expression
/// (`/pool (exhausted|timed out)/`; add `(?i)` for any case).
#[derive(Debug, Clone)]
pub enum TextPattern {
    /// Held lower-cased.
    Contains(String),
    Regex(regex::Regex),
}

impl TextPattern {
    pub fn new(pattern: &str) -> Result<TextPattern, String> {
        if pattern.trim().is_empty() {
            return Err("a `text` pattern is empty".into());
        }
        if pattern.chars().count() > MAX_PATTERN {
            return Err(format!(
                "a `text` pattern is longer than {MAX_PATTERN} characters"
            ));
        }
        match pattern.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
            Some(re) => regex::RegexBuilder::new(re)
                .size_limit(1 << 20)
                .build()
                .map(TextPattern::Regex)
                .map_err(|e| format!("invalid regular expression `{re}`: {e}")),
            None => Ok(TextPattern::Contains(pattern.to_lowercase())),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextPattern::Contains(words) => text.to_lowercase().contains(words.as_str()),
            TextPattern::Regex(re) => re.is_match(text),
        }
    }

    fn source(&self) -> String {
        match self {
            TextPattern::Contains(words) => words.clone(),
            TextPattern::Regex(re) => format!("/{}/", re.as_str()),
        }
    }
}

impl PartialEq for TextPattern {
    fn eq(&self, other: &TextPattern) -> bool {
        self.source() == other.source()
    }
}

impl<'de> Deserialize<'de> for TextPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TextPattern, D::Error> {
        TextPattern::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Longest signature made from a report's words.
const MAX_SIGNATURE: usize = 64;

/// A report's words as a signature when no playbook recognises them: one plain
/// name stays as it is (`HighErrorRate`, `DB_TIMEOUT`); words become one ASCII
/// name (`gateway timeout` → `GATEWAY_TIMEOUT`), so the same words always make
/// the same incident and a playbook's action may use it as a plain token.
pub fn as_signature(text: &str) -> String {
    let text = text.trim();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_.:-".contains(c);
    if !text.is_empty() && text.chars().count() <= MAX_SIGNATURE && text.chars().all(plain) {
        return text.to_string();
    }
    let mut name = String::new();
    for c in text.chars() {
        match c.is_ascii_alphanumeric() {
            true => name.push(c.to_ascii_uppercase()),
            false if !name.ends_with('_') && !name.is_empty() => name.push('_'),
            false => {}
        }
        if name.chars().count() >= MAX_SIGNATURE {
            break;
        }
    }
    match name.trim_end_matches('_') {
        "" => "REPORTED".to_string(),
        name => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_substring_matches_in_any_letter_case() {
        let p = TextPattern::new("Connection Pool").unwrap();
        assert!(p.matches("ERROR: connection pool exhausted"));
        assert!(!p.matches("connection refused"));
    }

    #[test]
    fn slashes_make_a_regular_expression() {
        let p = TextPattern::new(r"/\bERR_DB\b/").unwrap();
        assert!(p.matches("ERR_DB"));
        assert!(p.matches("query failed (ERR_DB)"));
        assert!(!p.matches("ERR_DBX"));
        assert!(!p.matches("err_db"), "case counts unless (?i)");
    }

    #[test]
    fn a_bad_regex_or_empty_pattern_says_what_is_wrong() {
        let e = TextPattern::new("/(unclosed/").unwrap_err();
        assert!(
            e.starts_with("invalid regular expression `(unclosed`"),
            "{e}"
        );
        assert_eq!(
            TextPattern::new("  ").unwrap_err(),
            "a `text` pattern is empty"
        );
        assert!(TextPattern::new(&"a".repeat(201)).is_err());
    }

    #[test]
    fn words_become_one_name_and_a_name_stays_itself() {
        assert_eq!(as_signature("gateway timeout"), "GATEWAY_TIMEOUT");
        assert_eq!(
            as_signature("  cache miss rate high!"),
            "CACHE_MISS_RATE_HIGH"
        );
        assert_eq!(as_signature("HighErrorRate"), "HighErrorRate");
        assert_eq!(as_signature("DB_TIMEOUT"), "DB_TIMEOUT");
        assert_eq!(
            as_signature("naïve cache"),
            "NA_VE_CACHE",
            "ASCII, so actions may use it"
        );
        assert_eq!(as_signature("!!!"), "REPORTED");
        assert_eq!(as_signature(&"a ".repeat(100)).chars().count(), 63);
    }
}
