//! The config file: targets to watch, policy, paths. Everything has a default,
//! so the smallest useful config is a list of targets.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine::Policy;

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
}

impl NotifyEvent {
    pub fn all() -> Vec<NotifyEvent> {
        vec![
            NotifyEvent::Escalated,
            NotifyEvent::Resolved,
            NotifyEvent::Failed,
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

/// Settings of `autoheal-tui serve`'s HTTP API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Bearer token every `/api` call must carry; `AUTOHEAL_TOKEN` overrides it.
    #[serde(default)]
    pub token: Option<String>,
    /// `Host` names the API answers besides IP addresses and `localhost`, e.g. the
    /// name a reverse proxy forwards (`autoheal.example.com`, or `name:port` for one port).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://ops.example.com`) allowed to call the API; a request
    /// with any other `Origin` is refused, so a web page cannot drive the engine.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// Probe settings shared by every target unless it sets its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetDefaults {
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
}

impl Default for TargetDefaults {
    fn default() -> Self {
        TargetDefaults {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            failure_threshold: 2,
            success_threshold: 1,
        }
    }
}

/// One target as written in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub name: String,
    #[serde(default)]
    pub http: Option<HttpProbe>,
    #[serde(default)]
    pub tcp: Option<TcpProbe>,
    #[serde(default)]
    pub host: Option<HostProbe>,
    #[serde(default)]
    pub process: Option<ProcessProbe>,
    /// No probe: incidents arrive through the API (Alertmanager, intake tools).
    #[serde(default)]
    pub passive: Option<PassiveProbe>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub interval: Option<Duration>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub failure_threshold: Option<u32>,
    #[serde(default)]
    pub success_threshold: Option<u32>,
    /// Every fix for a critical target waits for approval unless its playbook says `approval: auto`.
    #[serde(default)]
    pub critical: bool,
    /// Matched by playbooks (`match.labels`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Templated into actions as `{{name}}`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    #[serde(default)]
    pub chaos: Option<ChaosSpec>,
}

/// A target ready to probe: defaults applied, exactly one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub probe: ProbeSpec,
    pub interval: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub critical: bool,
    pub labels: BTreeMap<String, String>,
    pub vars: BTreeMap<String, String>,
    pub chaos: Option<ChaosSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProbeSpec {
    Http(HttpProbe),
    Tcp(TcpProbe),
    Host(HostProbe),
    Process(ProcessProbe),
    Passive(PassiveProbe),
}

impl ProbeSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Http(_) => "http",
            ProbeSpec::Tcp(_) => "tcp",
            ProbeSpec::Host(_) => "host",
            ProbeSpec::Process(_) => "process",
            ProbeSpec::Passive(_) => "ingest",
        }
    }
}

/// Healthy when the status is 2xx (or `expect_status`), the answer came
/// within `max_latency`, and the body contains `body_contains`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    pub url: String,
    #[serde(default)]
    pub expect_status: Option<u16>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub max_latency: Option<Duration>,
    #[serde(default)]
    pub body_contains: Option<String>,
}

/// Healthy when a TCP connection to `address` (host:port) opens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    pub address: String,
}

/// The local host, against thresholds in percent (load: per core).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostProbe {
    pub cpu_percent: f32,
    pub memory_percent: f32,
    pub disk_percent: f32,
    /// Mount point whose usage is checked.
    pub disk_path: PathBuf,
    pub load_per_core: Option<f64>,
}

impl Default for HostProbe {
    fn default() -> Self {
        HostProbe {
            cpu_percent: 95.0,
            memory_percent: 95.0,
            disk_percent: 95.0,
            disk_path: PathBuf::from("/"),
            load_per_core: None,
        }
    }
}

/// Healthy when a process with this exact name runs, or the pid in `pid_file` is alive.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessProbe {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
}

/// A target autoheal does not probe: it learns of failures (and recoveries)
/// from the tools that watch it, through `serve`'s API.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveProbe {}

/// A target that can break on request (the demo fleet): `POST {url}/{fault}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosSpec {
    pub url: String,
    pub faults: Vec<String>,
}

/// The longest duration accepted anywhere (config, CLI, API): ten years. Far
/// beyond any useful cooldown or silence, and far enough from the limits of
/// time arithmetic that `now + d` and `now - d` always hold.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Parses "500ms", "2s", "5m", "1h 30m" (and ISO 8601 "PT2S"), at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = text.trim().parse().map_err(|_| {
        format!("invalid duration `{text}`: write a number and a unit, like 500ms, 2s, 5m or 1h")
    })?;
    let d = Duration::try_from(signed)
        .map_err(|_| format!("invalid duration `{text}`: must not be negative"))?;
    if d > MAX_DURATION {
        return Err(format!(
            "invalid duration `{text}`: at most 10 years (87600h)"
        ));
    }
    Ok(d)
}

/// serde helper: a duration written as text.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// serde helper: an optional duration written as text.
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

impl Config {
    /// Reads and checks a config file; every problem names the file and, where known, line and column.
    pub fn load(path: &Path) -> Result<(Config, Vec<Target>), LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<(Config, Vec<Target>), LoadError> {
        let config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_norway::from_str(text).map_err(|e| LoadError::from_yaml(path, text, e))?
        };
        let targets = config
            .resolve_targets()
            .map_err(|m| LoadError::new(path, m))?;
        config
            .policy
            .check()
            .map_err(|m| LoadError::new(path, format!("policy: {m}")))?;
        Ok((config, targets))
    }

    /// Applies defaults and checks what serde cannot: one probe per target, unique names.
    pub fn resolve_targets(&self) -> Result<Vec<Target>, String> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for t in &self.targets {
            if t.name.trim().is_empty() {
                return Err("a target has an empty `name`".into());
            }
            if !seen.insert(t.name.as_str()) {
                return Err(format!("target `{}` is defined twice", t.name));
            }
            let mut probes = Vec::new();
            if let Some(p) = &t.http {
                probes.push(ProbeSpec::Http(p.clone()));
            }
            if let Some(p) = &t.tcp {
                probes.push(ProbeSpec::Tcp(p.clone()));
            }
            if let Some(p) = &t.host {
                probes.push(ProbeSpec::Host(p.clone()));
            }
            if let Some(p) = &t.passive {
                probes.push(ProbeSpec::Passive(p.clone()));
            }
            if let Some(p) = &t.process {
                if p.name.is_none() == p.pid_file.is_none() {
                    return Err(format!(
                        "target `{}`: `process` needs exactly one of `name` or `pid_file`",
                        t.name
                    ));
                }
                probes.push(ProbeSpec::Process(p.clone()));
            }
            if probes.len() != 1 {
                return Err(format!(
                    "target `{}` needs exactly one probe: `http`, `tcp`, `host`, `process` or `passive` (found {})",
                    t.name,
                    probes.len()
                ));
            }
            let d = &self.defaults;
            let target = Target {
                name: t.name.clone(),
                probe: probes.remove(0),
                interval: t.interval.unwrap_or(d.interval),
                timeout: t.timeout.unwrap_or(d.timeout),
                failure_threshold: t.failure_threshold.unwrap_or(d.failure_threshold).max(1),
                success_threshold: t.success_threshold.unwrap_or(d.success_threshold).max(1),
                critical: t.critical,
                labels: t.labels.clone(),
                vars: t.vars.clone(),
                chaos: t.chaos.clone(),
            };
            if target.interval.is_zero() || target.timeout.is_zero() {
                return Err(format!(
                    "target `{}`: `interval` and `timeout` must be above zero",
                    t.name
                ));
            }
            out.push(target);
        }
        Ok(out)
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

    fn parse(text: &str) -> Result<Vec<Target>, LoadError> {
        Config::parse(Path::new("cfg.yaml"), text).map(|(_, t)| t)
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
    fn a_target_needs_exactly_one_probe() {
        let err = parse("targets:\n  - name: web\n").unwrap_err();
        assert!(err.message.contains("exactly one probe"), "{err}");
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("-2s").is_err());
    }

    #[test]
    fn durations_past_ten_years_are_refused() {
        assert_eq!(parse_duration("87600h"), Ok(MAX_DURATION));
        let err = parse_duration("1000000000h").unwrap_err();
        assert!(err.contains("at most 10 years"), "{err}");
    }

    fn parse_config(text: &str) -> Result<Config, LoadError> {
        Config::parse(Path::new("cfg.yaml"), text).map(|(c, _)| c)
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
