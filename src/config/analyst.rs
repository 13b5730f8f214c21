//! `analyst:`: an optional AI analyst, any server that speaks the
//! OpenAI-compatible chat-completions API (llama.cpp, Ollama, vLLM, a hosted
//! one). Absent, no incident data ever leaves the machine.

use serde::Deserialize;
use std::time::Duration;

use super::check::{MAX_NAME, Problem, http_url};
use super::duration::duration;
use super::yaml::YamlPath;

/// Where to ask, which model, and how long to wait.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalystConfig {
    /// The API base (`http://127.0.0.1:11434/v1`); a URL that already ends in
    /// `/chat/completions` is used as it is.
    pub url: String,
    pub model: String,
    /// The environment variable holding a bearer token, if the server wants one.
    /// The token itself is never written in the config, journaled or logged.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// How long one question may take, answer included (default 20s).
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(20)
}

impl AnalystConfig {
    /// Where questions are POSTed: `{url}/chat/completions`.
    pub fn endpoint(&self) -> String {
        let base = self.url.trim_end_matches('/');
        match base.ends_with("/chat/completions") {
            true => base.to_string(),
            false => format!("{base}/chat/completions"),
        }
    }

    pub fn problems(&self) -> Vec<Problem> {
        let at = YamlPath::root().key("analyst");
        let mut out = Vec::new();
        match http_url(&self.url) {
            Err(why) => out.push(Problem::new(at.key("url"), format!("analyst: `url` {why}"))),
            Ok(()) => {
                let has_secret = reqwest::Url::parse(&self.url)
                    .is_ok_and(|u| !u.username().is_empty() || u.password().is_some());
                if has_secret {
                    out.push(Problem::new(
                        at.key("url"),
                        "analyst: `url` must not hold credentials: name the variable holding the token in `api_key_env`",
                    ));
                }
            }
        }
        let model = self.model.trim();
        if model.is_empty()
            || model.chars().count() > MAX_NAME
            || model.chars().any(char::is_control)
        {
            out.push(Problem::new(
                at.key("model"),
                format!("analyst: `model` must name a model in 1 to {MAX_NAME} plain characters, like llama3.1:8b"),
            ));
        }
        if let Some(var) = &self.api_key_env {
            let valid = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                out.push(Problem::new(
                    at.key("api_key_env"),
                    format!(
                        "analyst: `api_key_env` `{}` is not an environment variable name: write one like ANALYST_TOKEN (the variable holds the token, not the config)",
                        var.escape_debug()
                    ),
                ));
            }
        }
        if self.timeout.is_zero() {
            out.push(Problem::new(
                at.key("timeout"),
                "analyst: `timeout` must be above zero",
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;
    use std::time::Duration;

    fn errors(text: &str) -> Vec<String> {
        match Config::parse(Path::new("cfg.yaml"), text) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn the_analyst_is_off_unless_configured_and_waits_20s_by_default() {
        assert!(Config::default().analyst.is_none());
        let text = "analyst: { url: 'http://127.0.0.1:11434/v1/', model: llama3 }\n";
        let (config, _) = Config::parse(Path::new("cfg.yaml"), text).unwrap();
        let analyst = config.analyst.unwrap();
        assert_eq!(analyst.timeout, Duration::from_secs(20));
        assert_eq!(analyst.api_key_env, None);
        assert_eq!(
            analyst.endpoint(),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        let full = crate::config::AnalystConfig {
            url: "https://api.example/v1/chat/completions".into(),
            ..analyst
        };
        assert_eq!(full.endpoint(), "https://api.example/v1/chat/completions");
    }

    #[test]
    fn every_analyst_problem_names_its_line() {
        let text = "\
analyst:
  url: ftp://models.example/v1
  model: ''
  api_key_env: 'sk-abc 123'
  timeout: 0s
";
        assert_eq!(
            errors(text),
            [
                "cfg.yaml:2:8: analyst: `url` `ftp://models.example/v1` is not an http:// or https:// URL (scheme `ftp`)",
                "cfg.yaml:3:10: analyst: `model` must name a model in 1 to 200 plain characters, like llama3.1:8b",
                "cfg.yaml:4:16: analyst: `api_key_env` `sk-abc 123` is not an environment variable name: write one like ANALYST_TOKEN (the variable holds the token, not the config)",
                "cfg.yaml:5:12: analyst: `timeout` must be above zero",
            ]
        );
        let secret = "analyst: { url: 'https://me:pw@api.example/v1', model: m }\n";
        assert!(
            errors(secret)[0].contains("must not hold credentials"),
            "{:?}",
            errors(secret)
        );
        let unknown = "analyst: { url: 'http://h/v1', model: m, api_key: x }\n";
        assert!(
            errors(unknown)[0].contains("unknown field `api_key`"),
            "{:?}",
            errors(unknown)
        );
    }
}
