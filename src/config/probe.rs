//! What a target's probe checks, as written in the config, and what makes each unusable.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use super::check::{self, Problem};
use super::duration::opt_duration;
use super::yaml::YamlPath;

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

    /// What the probe at `at` (`targets[i].http`, ...) could not work with;
    /// messages start with `who` (`target `web``).
    pub fn problems(&self, who: &str, at: &YamlPath) -> Vec<Problem> {
        let problem = |key: &str, why: String| {
            Problem::new(at.key(key), format!("{who}: `{}.{key}` {why}", self.kind()))
        };
        let mut out = Vec::new();
        match self {
            ProbeSpec::Http(p) => {
                if let Err(why) = check::http_url(&p.url) {
                    out.push(problem("url", why));
                }
                if p.max_latency.is_some_and(|d| d.is_zero()) {
                    out.push(problem(
                        "max_latency",
                        "must be above zero: no answer is that fast".into(),
                    ));
                }
                if p.fresh_every == Some(0) {
                    out.push(problem(
                        "fresh_every",
                        "must be at least 1 (1: a fresh connection for every probe)".into(),
                    ));
                }
                if let Some(status) = p.expect_status.filter(|s| !(100..=599).contains(s)) {
                    out.push(problem(
                        "expect_status",
                        format!("must be an HTTP status from 100 to 599, not {status}"),
                    ));
                }
            }
            ProbeSpec::Tcp(p) => {
                if let Err(why) = check::socket_address(&p.address) {
                    out.push(problem("address", why));
                }
            }
            ProbeSpec::Host(p) => {
                for (key, value) in [
                    ("cpu_percent", p.cpu_percent),
                    ("memory_percent", p.memory_percent),
                    ("disk_percent", p.disk_percent),
                ] {
                    if let Err(why) = check::percent(f64::from(value)) {
                        out.push(problem(key, why));
                    }
                }
                if p.disk_path.as_os_str().is_empty() {
                    out.push(problem(
                        "disk_path",
                        "must name a mount point, like /".into(),
                    ));
                }
                if let Some(load) = p.load_per_core.filter(|l| !(l.is_finite() && *l > 0.0)) {
                    out.push(problem(
                        "load_per_core",
                        format!("must be a finite number above 0, not {load}"),
                    ));
                }
            }
            ProbeSpec::Process(p) => match (&p.name, &p.pid_file) {
                (Some(name), None) if name.trim().is_empty() => {
                    out.push(problem("name", "must not be empty".into()));
                }
                (Some(_), None) | (None, Some(_)) => {}
                _ => out.push(Problem::new(
                    at.clone(),
                    format!("{who}: `process` needs exactly one of `name` or `pid_file`"),
                )),
            },
            ProbeSpec::Passive(_) => {}
        }
        out
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
    /// Plain http keeps its connection alive between probes and opens a fresh
    /// one every this many probes (1: a fresh connection every probe). A kept
    /// connection shows the server answers, not that it still accepts new
    /// connections; the fresh ones catch a wedged accept loop.
    #[serde(default)]
    pub fresh_every: Option<u32>,
}

impl HttpProbe {
    /// Every 10th probe: a wedged accept loop shows within 10 intervals, while
    /// 9 probes in 10 skip the connect and close.
    pub const DEFAULT_FRESH_EVERY: u32 = 10;

    /// A probe on a new connection every this many probes.
    pub fn fresh_every(&self) -> u32 {
        self.fresh_every.unwrap_or(Self::DEFAULT_FRESH_EVERY)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_every_is_read_and_zero_is_refused() {
        let probe: HttpProbe =
            serde_norway::from_str("{ url: \"http://127.0.0.1:8080/\", fresh_every: 3 }").unwrap();
        assert_eq!(probe.fresh_every(), 3);
        let default: HttpProbe =
            serde_norway::from_str("{ url: \"http://127.0.0.1:8080/\" }").unwrap();
        assert_eq!(default.fresh_every(), HttpProbe::DEFAULT_FRESH_EVERY);
        let zero = ProbeSpec::Http(HttpProbe {
            fresh_every: Some(0),
            ..probe
        });
        let problems = zero.problems("target `web`", &YamlPath::root().key("http"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .message
                .contains("`http.fresh_every` must be at least 1")
        );
        assert_eq!(problems[0].at.to_string(), "http.fresh_every");
    }
}
