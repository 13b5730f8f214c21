//! Targets as written (with shared defaults) and as the engine probes them.

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::check::{self, MAX_NAME, Problem};
use super::duration::{duration, opt_duration};
use super::probe::{
    ChaosSpec, HostProbe, HttpProbe, PassiveProbe, ProbeSpec, ProcessProbe, TcpProbe,
};
use super::yaml::YamlPath;

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

impl TargetDefaults {
    fn problems(&self) -> Vec<Problem> {
        let at = YamlPath::root().key("defaults");
        let mut out = zero_durations(
            &at,
            "defaults",
            [
                ("interval", Some(self.interval)),
                ("timeout", Some(self.timeout)),
            ],
        );
        out.extend(zero_thresholds(
            &at,
            "defaults",
            [
                ("failure_threshold", Some(self.failure_threshold)),
                ("success_threshold", Some(self.success_threshold)),
            ],
        ));
        out
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
    /// Targets this one needs: while one of them fails, this one's failure is
    /// a symptom of it, not remediated on its own.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Event-driven detection (a pidfd on a process, one idle connection to an
    /// http or tcp target) on top of polling. On unless `watch: false`.
    #[serde(default)]
    pub watch: Option<bool>,
}

impl TargetConfig {
    /// Its probes, each with the key it is written under.
    fn probes(&self) -> Vec<(&'static str, ProbeSpec)> {
        let mut out = Vec::new();
        if let Some(p) = &self.http {
            out.push(("http", ProbeSpec::Http(p.clone())));
        }
        if let Some(p) = &self.tcp {
            out.push(("tcp", ProbeSpec::Tcp(p.clone())));
        }
        if let Some(p) = &self.host {
            out.push(("host", ProbeSpec::Host(p.clone())));
        }
        if let Some(p) = &self.process {
            out.push(("process", ProbeSpec::Process(p.clone())));
        }
        if let Some(p) = &self.passive {
            out.push(("passive", ProbeSpec::Passive(p.clone())));
        }
        out
    }

    /// Everything wrong with this target alone (`at` is `targets[i]`).
    fn problems(&self, at: &YamlPath) -> Vec<Problem> {
        let who = format!("target `{}`", self.name);
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(Problem::new(at.key("name"), "a target has an empty `name`"));
        } else if self.name.chars().any(char::is_control) || self.name.chars().count() > MAX_NAME {
            out.push(Problem::new(
                at.key("name"),
                format!("{who}: a name is at most {MAX_NAME} characters, none of them control characters"),
            ));
        }
        let probes = self.probes();
        let keys: Vec<&str> = probes.iter().map(|(k, _)| *k).collect();
        if probes.is_empty() {
            out.push(Problem::new(
                at.clone(),
                format!(
                    "{who} needs a probe: `http`, `tcp`, `host`, `process` or `passive`, \
                     or `process` with `http` or `tcp`"
                ),
            ));
        } else if probes.len() > 1 && split_checks(probes.clone()).is_none() {
            out.push(Problem::new(
                at.key(keys[1]),
                format!(
                    "{who}: `{}` cannot go with `{}`: a target has one probe, or a `process` \
                     check with one `http` or `tcp` check",
                    keys[1], keys[0]
                ),
            ));
        }
        for (key, probe) in &probes {
            out.extend(probe.problems(&who, &at.key(key)));
        }
        out.extend(zero_durations(
            at,
            &who,
            [("interval", self.interval), ("timeout", self.timeout)],
        ));
        out.extend(zero_thresholds(
            at,
            &who,
            [
                ("failure_threshold", self.failure_threshold),
                ("success_threshold", self.success_threshold),
            ],
        ));
        if let Some(chaos) = &self.chaos
            && let Err(why) = check::http_url(&chaos.url)
        {
            out.push(Problem::new(
                at.key("chaos").key("url"),
                format!("{who}: `chaos.url` {why}"),
            ));
        }
        out
    }
}

/// A probe interval or timeout of zero would spin the engine.
fn zero_durations<const N: usize>(
    at: &YamlPath,
    who: &str,
    values: [(&str, Option<Duration>); N],
) -> Vec<Problem> {
    values
        .into_iter()
        .filter(|(_, d)| d.is_some_and(|d| d.is_zero()))
        .map(|(key, _)| Problem::new(at.key(key), format!("{who}: `{key}` must be above zero")))
        .collect()
}

/// A threshold of zero probes would never be reached, or always be.
fn zero_thresholds<const N: usize>(
    at: &YamlPath,
    who: &str,
    values: [(&str, Option<u32>); N],
) -> Vec<Problem> {
    values
        .into_iter()
        .filter(|(_, n)| *n == Some(0))
        .map(|(key, _)| Problem::new(at.key(key), format!("{who}: `{key}` must be at least 1")))
        .collect()
}

/// Problems of the defaults and of every target, names unique among them.
pub(super) fn problems(defaults: &TargetDefaults, targets: &[TargetConfig]) -> Vec<Problem> {
    let mut out = defaults.problems();
    let mut seen = HashSet::new();
    for (i, t) in targets.iter().enumerate() {
        let at = YamlPath::root().key("targets").index(i);
        if !t.name.trim().is_empty() && !seen.insert(t.name.as_str()) {
            out.push(Problem::new(
                at.key("name"),
                format!("target `{}` is defined twice", t.name),
            ));
        }
        out.extend(t.problems(&at));
    }
    out.extend(dependency_problems(targets));
    out
}

/// `depends_on` names other targets, and never comes back round to where it began.
fn dependency_problems(targets: &[TargetConfig]) -> Vec<Problem> {
    let index: std::collections::HashMap<&str, usize> = (targets.iter().enumerate())
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut out = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        for (j, dep) in t.depends_on.iter().enumerate() {
            let at = YamlPath::root()
                .key("targets")
                .index(i)
                .key("depends_on")
                .index(j);
            if !index.contains_key(dep.as_str()) {
                out.push(Problem::new(
                    at,
                    format!(
                        "target `{}` depends on `{dep}`, which no target is called",
                        t.name
                    ),
                ));
            }
        }
    }
    // Each cycle once, from the first of its targets in the file.
    let mut reported: HashSet<usize> = HashSet::new();
    for start in 0..targets.len() {
        if reported.contains(&start) {
            continue;
        }
        if let Some(cycle) = cycle_from(start, targets, &index) {
            reported.extend(cycle.iter().copied());
            let names: Vec<String> = (cycle.iter().chain([&cycle[0]]))
                .map(|&i| format!("`{}`", targets[i].name))
                .collect();
            out.push(Problem::new(
                YamlPath::root()
                    .key("targets")
                    .index(start)
                    .key("depends_on"),
                format!(
                    "targets depend on each other in a cycle: {}",
                    names.join(" -> ")
                ),
            ));
        }
    }
    out
}

/// A cycle through `start`, as the targets along it, if there is one.
fn cycle_from(
    start: usize,
    targets: &[TargetConfig],
    index: &std::collections::HashMap<&str, usize>,
) -> Option<Vec<usize>> {
    // Depth-first with an explicit stack of (target, next dependency to try).
    let mut path: Vec<(usize, usize)> = vec![(start, 0)];
    let mut done: HashSet<usize> = HashSet::new();
    while let Some(&mut (at, ref mut next)) = path.last_mut() {
        let Some(dep) = targets[at].depends_on.get(*next) else {
            done.insert(at);
            path.pop();
            continue;
        };
        *next += 1;
        let Some(&dep) = index.get(dep.as_str()) else {
            continue;
        };
        if dep == start {
            return Some(path.iter().map(|(i, _)| *i).collect());
        }
        if !done.contains(&dep) && !path.iter().any(|(i, _)| *i == dep) {
            path.push((dep, 0));
        }
    }
    None
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
    /// Targets this one needs (see [`TargetConfig::depends_on`]).
    pub depends_on: Vec<String>,
    /// A process check run before `probe` (then an http or tcp check): either
    /// failing fails the target, as one incident stream.
    pub process: Option<ProcessProbe>,
    /// Event-driven detection on top of polling (`watch`, default on).
    pub watch: bool,
}

/// A target's probes as (main probe, extra process check): one probe alone,
/// or a process check with one http or tcp check. `None` for anything else.
fn split_checks(
    mut probes: Vec<(&'static str, ProbeSpec)>,
) -> Option<(ProbeSpec, Option<ProcessProbe>)> {
    match probes.len() {
        1 => Some((probes.remove(0).1, None)),
        2 => {
            let (_, b) = probes.remove(1);
            let (_, a) = probes.remove(0);
            match (a, b) {
                (main @ (ProbeSpec::Http(_) | ProbeSpec::Tcp(_)), ProbeSpec::Process(p)) => {
                    Some((main, Some(p)))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

impl Target {
    /// Applies `defaults`; `None` unless its probes are a valid set
    /// (callers check [`problems`] first).
    pub(super) fn resolve(t: &TargetConfig, d: &TargetDefaults) -> Option<Target> {
        let (probe, process) = split_checks(t.probes())?;
        Some(Target {
            name: t.name.clone(),
            probe,
            interval: t.interval.unwrap_or(d.interval),
            timeout: t.timeout.unwrap_or(d.timeout),
            failure_threshold: t.failure_threshold.unwrap_or(d.failure_threshold),
            success_threshold: t.success_threshold.unwrap_or(d.success_threshold),
            critical: t.critical,
            labels: t.labels.clone(),
            vars: t.vars.clone(),
            chaos: t.chaos.clone(),
            depends_on: t.depends_on.clone(),
            process,
            watch: t.watch.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ProbeSpec};
    use std::path::Path;

    fn parse(text: &str) -> Result<Vec<super::Target>, String> {
        Config::parse(Path::new("cfg.yaml"), text)
            .map(|(_, t)| t)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_process_check_may_go_with_an_http_or_tcp_check() {
        let targets = parse(
            "targets:\n  - name: web\n    process: { pid_file: /run/nginx.pid }\n    http: { url: 'http://127.0.0.1/' }\n  - name: db\n    tcp: { address: '127.0.0.1:6379' }\n    process: { name: redis-server }\n    watch: false\n",
        )
        .unwrap();
        assert!(matches!(targets[0].probe, ProbeSpec::Http(_)));
        assert!(
            targets[0]
                .process
                .as_ref()
                .is_some_and(|p| p.pid_file.is_some())
        );
        assert!(targets[0].watch, "watch is on by default");
        assert!(matches!(targets[1].probe, ProbeSpec::Tcp(_)));
        assert!(targets[1].process.is_some());
        assert!(!targets[1].watch);
    }

    #[test]
    fn other_pairs_of_checks_name_the_key_that_cannot_go() {
        let err = parse(
            "targets:\n  - name: web\n    http: { url: 'http://127.0.0.1/' }\n    tcp: { address: '127.0.0.1:80' }\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("cfg.yaml:4:10: target `web`: `tcp` cannot go with `http`"),
            "{err}"
        );
        let err = parse("targets:\n  - name: box\n    host: {}\n    process: { name: sshd }\n")
            .unwrap_err();
        assert!(err.contains("`process` cannot go with `host`"), "{err}");
        let err = parse(
            "targets:\n  - name: web\n    process: { name: x }\n    http: { url: 'http://127.0.0.1/' }\n    tcp: { address: '127.0.0.1:80' }\n",
        )
        .unwrap_err();
        assert!(err.contains("`tcp` cannot go with `http`"), "{err}");
    }
}
