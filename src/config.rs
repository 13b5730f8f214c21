//! The config file: targets to watch, policy, paths. Everything has a default,
//! so the smallest useful config is a list of targets.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::path::{Path, PathBuf};

mod analyst;
mod api;
mod check;
mod duration;
mod ha;
mod intake;
pub mod maintenance;
mod policy;
mod predict;
mod probe;
mod target;
mod yaml;

pub use analyst::AnalystConfig;
pub use api::{ApiConfig, ApiKey, Role};
pub use check::{MAX_NAME, Problem, http_url, percent, socket_address, templated_http_url};
pub use duration::{MAX_DURATION, duration, opt_duration, parse_duration};
pub use ha::HaConfig;
pub use intake::{IntakeConfig, UnknownServices};
pub use maintenance::Maintenance;
pub use policy::Policy;
pub use predict::Predict;
pub use probe::{ChaosSpec, HostProbe, HttpProbe, PassiveProbe, ProbeSpec, ProcessProbe, TcpProbe};
pub use target::{Target, TargetConfig, TargetDefaults};
pub use yaml::{YamlPath, locate};

/// A config or playbook file that could not be read, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct LoadError {
    pub file: PathBuf,
    /// 1-based line and column, when the YAML parser knows them.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl LoadError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        LoadError {
            file: file.to_path_buf(),
            location: None,
            message: message.into(),
        }
    }

    fn from_yaml(file: &Path, text: &str, err: serde_norway::Error) -> Self {
        let mut location = err.location().map(|l| (l.line(), l.column()));
        // The parser appends " at line L column C"; we print the location up front.
        let mut message = err.to_string();
        if let Some(cut) = message.find(" at line ") {
            message.truncate(cut);
        }
        // A value our own code rejected (a bad duration or glob) is reported at the
        // start of its mapping; point at the value itself, which the message quotes.
        if let (Some((line, _)), Some(quoted)) = (location, first_quoted(&message)) {
            location = text
                .lines()
                .enumerate()
                .skip(line - 1)
                .find_map(|(i, l)| l.find(quoted).map(|col| (i + 1, col + 1)))
                .or(location);
        }
        LoadError {
            file: file.to_path_buf(),
            location,
            message,
        }
    }
}

fn first_quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len]).filter(|q| !q.is_empty())
}

/// Every error found in one or more files, so one run shows them all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl LoadErrors {
    /// Errors of one file, sorted by where they are, as an editor would walk them.
    pub fn in_file_order(mut errors: Vec<LoadError>) -> LoadErrors {
        errors.sort_by_key(|e| e.location.unwrap_or((usize::MAX, usize::MAX)));
        LoadErrors(errors)
    }
}

impl From<LoadError> for LoadErrors {
    fn from(error: LoadError) -> Self {
        LoadErrors(vec![error])
    }
}

/// Parses every YAML document in `text` (documents are separated by `---`).
pub fn parse_yaml_documents<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<Vec<T>, LoadError> {
    let mut out = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        out.push(T::deserialize(document).map_err(|e| LoadError::from_yaml(file, text, e))?);
    }
    Ok(out)
}

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the journal lives; `--journal` overrides it.
    #[serde(default)]
    pub journal: Option<PathBuf>,
    /// When the live journal becomes a compressed segment beside it.
    #[serde(default)]
    pub journal_rotate: crate::journal::Rotate,
    /// How much of the journal's segments is kept.
    #[serde(default)]
    pub journal_retention: crate::journal::Retention,
    /// Extra playbook directories, searched after the shipped playbooks.
    #[serde(default)]
    pub playbooks: Vec<PathBuf>,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub defaults: TargetDefaults,
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    #[serde(default)]
    pub api: ApiConfig,
    /// Webhooks told about escalations, resolutions and failures.
    #[serde(default)]
    pub notify: Vec<NotifyConfig>,
    /// Reports about services no target names.
    #[serde(default)]
    pub intake: IntakeConfig,
    /// Scheduled silences: detected and journaled, not acted on.
    #[serde(default)]
    pub maintenance: Vec<Maintenance>,
    /// Trend prediction: on by default.
    #[serde(default)]
    pub predict: Predict,
    /// An AI analyst asked about incidents no playbook fixes; off when absent.
    #[serde(default)]
    pub analyst: Option<AnalystConfig>,
    /// Replicas electing one leader through etcd; absent: this one always acts.
    #[serde(default)]
    pub ha: Option<HaConfig>,
}

/// One webhook: where to POST, in which shape, and for which events.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(deserialize_with = "hook_url")]
    pub url: String,
    #[serde(default)]
    pub format: NotifyFormat,
    /// Key of the `X-Autoheal-Signature` HMAC; never logged or journaled.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default = "NotifyEvent::all")]
    pub events: Vec<NotifyEvent>,
}

/// Debug without the secret, so a logged config never leaks it.
impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("url", &self.url)
            .field("format", &self.format)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("events", &self.events)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyFormat {
    /// `{"event", "incident", "text"}`.
    #[default]
    Json,
    /// `{"text"}`, what Slack (and Mattermost, Rocket.Chat) incoming webhooks take.
    Slack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    Escalated,
    Resolved,
    /// A failed action or a step that did not fix it.
    Failed,
    /// A trend will cross a threshold within the horizon (`prediction`).
    Predicted,
}

impl NotifyEvent {
    pub fn all() -> Vec<NotifyEvent> {
        vec![
            NotifyEvent::Escalated,
            NotifyEvent::Resolved,
            NotifyEvent::Failed,
            NotifyEvent::Predicted,
        ]
    }
}

/// serde helper: an absolute http or https URL.
fn hook_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    match reqwest::Url::parse(&text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(text),
        _ => Err(serde::de::Error::custom(format!(
            "invalid webhook url `{text}`: write an http:// or https:// URL"
        ))),
    }
}

impl Config {
    /// Reads and checks a config file; every problem names the file and, where known, line and column.
    pub fn load(path: &Path) -> Result<(Config, Vec<Target>), LoadErrors> {
        match Self::load_all(path) {
            (Some(config), errors) if errors.0.is_empty() => {
                let targets = config.targets();
                Ok((config, targets))
            }
            (_, errors) => Err(errors),
        }
    }

    /// Parses `text`: a YAML or type error stops there; after that every
    /// problem is reported, each at the line and column of its value.
    pub fn parse(path: &Path, text: &str) -> Result<(Config, Vec<Target>), LoadErrors> {
        match Self::parse_all(path, text) {
            (Some(config), errors) if errors.0.is_empty() => {
                let targets = config.targets();
                Ok((config, targets))
            }
            (_, errors) => Err(errors),
        }
    }

    /// Every error of the file, and the config as far as it parsed even when it
    /// has problems, so `validate` goes on to the playbooks it lists.
    pub fn load_all(path: &Path) -> (Option<Config>, LoadErrors) {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse_all(path, &text),
            Err(e) => (
                None,
                LoadError::new(path, format!("cannot read: {e}")).into(),
            ),
        }
    }

    fn parse_all(path: &Path, text: &str) -> (Option<Config>, LoadErrors) {
        let config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            match serde_norway::from_str(text) {
                Ok(config) => config,
                Err(e) => return (None, LoadError::from_yaml(path, text, e).into()),
            }
        };
        let errors = config
            .problems()
            .into_iter()
            .map(|p| p.locate(path, text, 0));
        let errors = LoadErrors::in_file_order(errors.collect());
        (Some(config), errors)
    }

    /// Everything serde cannot check, in file order: playbook directories,
    /// policy, defaults, targets (one probe each, unique names, usable values).
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        for (i, dir) in self.playbooks.iter().enumerate() {
            if !dir.is_dir() {
                let why = if dir.exists() {
                    "is not a directory"
                } else {
                    "does not exist"
                };
                out.push(Problem::new(
                    YamlPath::root().key("playbooks").index(i),
                    format!("playbook directory `{}` {why}", dir.display()),
                ));
            }
        }
        out.extend(self.policy.problems());
        out.extend(self.predict.problems());
        out.extend(self.ha.iter().flat_map(HaConfig::problems));
        out.extend(self.api.problems());
        out.extend(target::problems(&self.defaults, &self.targets));
        for (i, window) in self.maintenance.iter().enumerate() {
            out.extend(window.problems(YamlPath::root().key("maintenance").index(i)));
        }
        out.extend(self.analyst.iter().flat_map(AnalystConfig::problems));
        out
    }

    /// Applies defaults to every target, once [`Config::problems`] found none;
    /// otherwise says what is wrong, one problem a line.
    pub fn resolve_targets(&self) -> Result<Vec<Target>, String> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(self.targets());
        }
        let lines: Vec<String> = problems.into_iter().map(|p| p.message).collect();
        Err(lines.join("\n"))
    }

    fn targets(&self) -> Vec<Target> {
        self.targets
            .iter()
            .filter_map(|t| Target::resolve(t, &self.defaults))
            .collect()
    }
}

/// Where files live when no flag says otherwise (XDG on Linux).
pub struct Paths {
    pub config_file: PathBuf,
    pub user_playbooks: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    pub fn discover() -> Paths {
        match directories::ProjectDirs::from("", "", "autoheal") {
            Some(dirs) => Paths {
                config_file: dirs.config_dir().join("config.yaml"),
                user_playbooks: dirs.config_dir().join("playbooks"),
                data_dir: dirs.data_dir().to_path_buf(),
            },
            // No home directory (a bare container): keep everything beside us.
            None => Paths {
                config_file: PathBuf::from("autoheal.yaml"),
                user_playbooks: PathBuf::from("playbooks.d"),
                data_dir: PathBuf::from("."),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(text: &str) -> Result<Vec<Target>, LoadError> {
        Config::parse(Path::new("cfg.yaml"), text)
            .map(|(_, t)| t)
            .map_err(only)
    }

    fn only(mut errors: LoadErrors) -> LoadError {
        assert_eq!(errors.0.len(), 1, "{errors}");
        errors.0.remove(0)
    }

    /// Every error of `text`, as `validate` prints them.
    fn errors(text: &str) -> Vec<String> {
        match Config::parse(Path::new("cfg.yaml"), text) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn defaults_fill_in_what_a_target_leaves_out() {
        let targets =
            parse("targets:\n  - name: web\n    http: { url: 'http://127.0.0.1:1/health' }\n")
                .unwrap();
        assert_eq!(targets[0].interval, Duration::from_secs(10));
        assert_eq!(targets[0].failure_threshold, 2);
        assert_eq!(targets[0].probe.kind(), "http");
    }

    #[test]
    fn unknown_key_names_file_line_and_field() {
        let err = parse("targets:\n  - name: web\n    htp: { url: x }\n").unwrap_err();
        assert_eq!(err.location, Some((3, 5)), "{err}");
        assert!(err.to_string().starts_with("cfg.yaml:3:5: "), "{err}");
        assert!(err.message.contains("unknown field `htp`"), "{err}");
    }

    #[test]
    fn bad_duration_names_its_line() {
        let err =
            parse("targets:\n  - name: web\n    tcp: { address: 'a:1' }\n    interval: soon\n")
                .unwrap_err();
        assert_eq!(err.location, Some((4, 15)), "{err}");
        assert!(err.message.contains("invalid duration `soon`"), "{err}");
    }

    #[test]
    fn a_target_needs_a_probe() {
        let err = parse("targets:\n  - name: web\n").unwrap_err();
        assert!(err.message.contains("needs a probe"), "{err}");
    }

    #[test]
    fn every_problem_in_the_file_is_reported_at_its_value() {
        let text = "\
defaults:
  interval: 0s
targets:
  - name: web
    http: { url: 'not a url' }
  - name: ftp
    http:
      url: ftp://files.example/x
  - name: db
    tcp: { address: nope }
    timeout: 0s
  - name: web
    host: { cpu_percent: -5, load_per_core: .inf }
  - name: both
    tcp: { address: 'db:5432' }
    passive: {}
  - name: demo
    passive: {}
    chaos: { url: 'localhost', faults: [crash] }
";
        assert_eq!(
            errors(text),
            [
                "cfg.yaml:2:13: defaults: `interval` must be above zero",
                "cfg.yaml:5:18: target `web`: `http.url` `not a url` is not an http:// or https:// URL (relative URL without a base)",
                "cfg.yaml:8:12: target `ftp`: `http.url` `ftp://files.example/x` is not an http:// or https:// URL (scheme `ftp`)",
                "cfg.yaml:10:21: target `db`: `tcp.address` invalid address `nope`: no port; write host:port, like db.internal:5432 or [::1]:6379",
                "cfg.yaml:11:14: target `db`: `timeout` must be above zero",
                "cfg.yaml:12:11: target `web` is defined twice",
                "cfg.yaml:13:26: target `web`: `host.cpu_percent` must be a percentage from 0 to 100, not -5",
                "cfg.yaml:13:45: target `web`: `host.load_per_core` must be a finite number above 0, not inf",
                "cfg.yaml:16:14: target `both`: `passive` cannot go with `tcp`: a target has one probe, or a `process` check with one `http` or `tcp` check",
                "cfg.yaml:19:19: target `demo`: `chaos.url` `localhost` is not an http:// or https:// URL (relative URL without a base)",
            ]
        );
    }

    #[test]
    fn dependencies_name_targets_and_never_go_round_in_a_cycle() {
        let text = "\
targets:
  - { name: db, tcp: { address: \"127.0.0.1:5432\" }, depends_on: [api] }
  - { name: api, tcp: { address: \"127.0.0.1:8080\" }, depends_on: [edge, db] }
  - { name: edge, tcp: { address: \"127.0.0.1:80\" }, depends_on: [nowhere] }
  - { name: cache, tcp: { address: \"127.0.0.1:6379\" }, depends_on: [cache] }
  - { name: web, tcp: { address: \"127.0.0.1:81\" }, depends_on: [db, cache] }
";
        assert_eq!(
            errors(text),
            [
                "cfg.yaml:2:65: targets depend on each other in a cycle: `db` -> `api` -> `db`",
                "cfg.yaml:4:66: target `edge` depends on `nowhere`, which no target is called",
                "cfg.yaml:5:68: targets depend on each other in a cycle: `cache` -> `cache`",
            ]
        );
        let fine = "\
targets:
  - { name: db, tcp: { address: \"127.0.0.1:5432\" } }
  - { name: api, tcp: { address: \"127.0.0.1:8080\" }, depends_on: [db] }
  - { name: edge, tcp: { address: \"127.0.0.1:80\" }, depends_on: [api, db] }
";
        assert!(errors(fine).is_empty(), "{:?}", errors(fine));
    }

    #[test]
    fn policy_numbers_must_be_usable() {
        for (value, shown) in [(".nan", "NaN"), (".inf", "inf"), ("-1", "-1")] {
            let text = format!("policy:\n  cooldown: 1m\n  learning_prior: {value}\n");
            assert_eq!(
                errors(&text),
                [format!(
                    "cfg.yaml:3:19: policy: `learning_prior` must be a finite number, 0 or more, not {shown}"
                )]
            );
        }
        assert_eq!(
            errors("policy: { confidence_threshold: .nan, max_per_hour: 0 }\n"),
            [
                "cfg.yaml:1:33: policy: `confidence_threshold` must be between 0 and 1, not NaN",
                "cfg.yaml:1:53: policy: `max_per_hour` must be at least 1",
            ]
        );
    }

    #[test]
    fn a_duration_past_ten_years_is_refused_at_its_value() {
        let err = parse("policy:\n  cooldown: 1000000000h\n").unwrap_err();
        assert_eq!(err.location, Some((2, 13)), "{err}");
        assert!(err.message.contains("at most 10 years"), "{err}");
    }

    #[test]
    fn a_listed_playbook_directory_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let there = dir.path().display();
        let text = format!("playbooks:\n  - {there}\n  - {there}/missing\n");
        assert_eq!(
            errors(&text),
            [format!(
                "cfg.yaml:3:5: playbook directory `{there}/missing` does not exist"
            )]
        );
    }

    #[test]
    fn a_process_probe_needs_a_name_or_a_pid_file() {
        let text =
            "targets:\n  - name: p\n    process: {}\n  - name: q\n    process: { name: '' }\n";
        assert_eq!(
            errors(text),
            [
                "cfg.yaml:3:14: target `p`: `process` needs exactly one of `name` or `pid_file`",
                "cfg.yaml:5:22: target `q`: `process.name` must not be empty",
            ]
        );
    }

    #[test]
    fn thresholds_latencies_paths_and_names_must_be_usable() {
        let text = "\
defaults: { success_threshold: 0 }
targets:
  - name: \"bell\\a\"
    http: { url: 'http://127.0.0.1/', max_latency: 0s }
    failure_threshold: 0
  - name: disk
    host: { disk_path: '' }
";
        assert_eq!(
            errors(text),
            [
                "cfg.yaml:1:32: defaults: `success_threshold` must be at least 1",
                "cfg.yaml:3:11: target `bell\u{7}`: a name is at most 200 characters, none of them control characters",
                "cfg.yaml:4:52: target `bell\u{7}`: `http.max_latency` must be above zero: no answer is that fast",
                "cfg.yaml:5:24: target `bell\u{7}`: `failure_threshold` must be at least 1",
                "cfg.yaml:7:24: target `disk`: `host.disk_path` must name a mount point, like /",
            ]
        );
    }

    #[test]
    fn good_addresses_and_urls_pass() {
        let text = "targets:\n  - name: a\n    tcp: { address: '[::1]:6379' }\n  - name: b\n    http: { url: 'https://example.com/health' }\n";
        assert_eq!(parse(text).unwrap().len(), 2);
    }

    fn parse_config(text: &str) -> Result<Config, LoadError> {
        Config::parse(Path::new("cfg.yaml"), text)
            .map(|(c, _)| c)
            .map_err(only)
    }

    #[test]
    fn a_hook_defaults_to_json_and_every_event() {
        let config = parse_config("notify:\n  - url: https://hooks.example/x\n").unwrap();
        let hook = &config.notify[0];
        assert_eq!(hook.format, NotifyFormat::Json);
        assert_eq!(hook.secret, None);
        assert_eq!(hook.events, NotifyEvent::all());
        assert!(Config::default().notify.is_empty());
    }

    #[test]
    fn a_hook_reads_format_secret_and_events() {
        let config = parse_config(
            "notify:\n  - url: http://127.0.0.1:9/h\n    format: slack\n    secret: s3cret\n    events: [resolved]\n",
        )
        .unwrap();
        let hook = &config.notify[0];
        assert_eq!(hook.format, NotifyFormat::Slack);
        assert_eq!(hook.events, vec![NotifyEvent::Resolved]);
        assert!(!format!("{hook:?}").contains("s3cret"), "{hook:?}");
    }

    #[test]
    fn an_unknown_format_names_its_line_and_column() {
        let err =
            parse_config("notify:\n  - url: https://h.example/x\n    format: teams\n").unwrap_err();
        assert_eq!(err.location, Some((3, 13)), "{err}");
        assert!(err.message.contains("unknown variant `teams`"), "{err}");
        assert!(err.message.contains("json"), "{err}");
    }

    #[test]
    fn an_unknown_hook_field_or_event_or_url_is_an_error() {
        let err =
            parse_config("notify:\n  - url: https://h.example/x\n    token: t\n").unwrap_err();
        assert!(err.message.contains("unknown field `token`"), "{err}");
        let err = parse_config("notify:\n  - url: https://h.example/x\n    events: [fixed]\n")
            .unwrap_err();
        assert!(err.message.contains("unknown variant `fixed`"), "{err}");
        let err = parse_config("notify:\n  - url: ftp://h.example/x\n").unwrap_err();
        assert_eq!(err.location, Some((2, 10)), "{err}");
        assert!(err.message.contains("invalid webhook url"), "{err}");
    }
}
