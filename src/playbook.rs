//! Playbooks: YAML files that say which failures they fix and how, in ordered
//! steps. Loading checks everything up front, naming file, line and column.

use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::action::{ActionSpec, ExecAction, HttpAction, template};
use crate::config::{LoadError, opt_duration, parse_yaml_documents};
use crate::event::Severity;

/// Playbooks compiled into the binary, so a fresh install heals the demo fleet.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "playbooks/demo/db-timeout.yaml",
        include_str!("../playbooks/demo/db-timeout.yaml"),
    ),
    (
        "playbooks/demo/mem-leak.yaml",
        include_str!("../playbooks/demo/mem-leak.yaml"),
    ),
    (
        "playbooks/demo/net-spike.yaml",
        include_str!("../playbooks/demo/net-spike.yaml"),
    ),
    (
        "playbooks/demo/crash.yaml",
        include_str!("../playbooks/demo/crash.yaml"),
    ),
    (
        "playbooks/demo/fallback-restart.yaml",
        include_str!("../playbooks/demo/fallback-restart.yaml"),
    ),
    (
        "playbooks/systemd-restart.yaml",
        include_str!("../playbooks/systemd-restart.yaml"),
    ),
    (
        "playbooks/nginx-reload.yaml",
        include_str!("../playbooks/nginx-reload.yaml"),
    ),
    (
        "playbooks/redis-restart.yaml",
        include_str!("../playbooks/redis-restart.yaml"),
    ),
    (
        "playbooks/docker-restart.yaml",
        include_str!("../playbooks/docker-restart.yaml"),
    ),
    (
        "playbooks/kubernetes-rollout-restart.yaml",
        include_str!("../playbooks/kubernetes-rollout-restart.yaml"),
    ),
    (
        "playbooks/host-memory.yaml",
        include_str!("../playbooks/host-memory.yaml"),
    ),
    (
        "playbooks/host-disk.yaml",
        include_str!("../playbooks/host-disk.yaml"),
    ),
    (
        "playbooks/host-cpu.yaml",
        include_str!("../playbooks/host-cpu.yaml"),
    ),
    (
        "playbooks/host-load.yaml",
        include_str!("../playbooks/host-load.yaml"),
    ),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub name: String,
    pub description: String,
    pub file: PathBuf,
    pub matcher: Match,
    pub severity: Severity,
    pub confidence: f64,
    pub approval: Approval,
    /// Overrides the policy cooldown for this playbook.
    pub cooldown: Option<Duration>,
    /// Extra attempts of a step whose action failed (not whose verification failed).
    pub retries: u32,
    /// Tried in order; an empty list means "watch and escalate, never act".
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub action: ActionSpec,
}

/// Whether the policy may run this playbook without a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Confidence and criticality decide (DESIGN.md).
    #[default]
    Policy,
    /// Even for a critical target.
    Auto,
    /// Always ask.
    Required,
}

/// What a playbook fixes. Every field set must match.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Target name globs; any target when empty.
    #[serde(default)]
    pub targets: Vec<Glob>,
    /// Target labels that must be equal.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Signal kind: http, tcp, host, process, ingest.
    #[serde(default)]
    pub kind: Option<SignalKind>,
    /// Signature glob, e.g. `DB_TIMEOUT` or `HTTP_5*`; any when absent.
    #[serde(default)]
    pub signature: Option<Glob>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub latency_over: Option<Duration>,
    #[serde(default)]
    pub body_contains: Option<String>,
    #[serde(default)]
    pub cpu_over: Option<f32>,
    #[serde(default)]
    pub memory_over: Option<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    Http,
    Tcp,
    Host,
    Process,
    Ingest,
}

impl SignalKind {
    pub fn parse(kind: &str) -> Option<SignalKind> {
        serde_json::from_value(serde_json::Value::String(kind.to_string())).ok()
    }
}

/// A shell-style pattern (`*`, `?`, `[a-z]`), checked when the file loads.
#[derive(Debug, Clone, PartialEq)]
pub struct Glob(glob::Pattern);

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        glob::Pattern::new(pattern)
            .map(Glob)
            .map_err(|e| format!("invalid glob `{pattern}`: {}", e.msg))
    }

    pub fn matches(&self, text: &str) -> bool {
        self.0.matches(text)
    }

    fn is_literal(&self) -> bool {
        !self.0.as_str().contains(['*', '?', '['])
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Glob, D::Error> {
        Glob::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What a playbook is matched against: one failing target (or ingested alert).
#[derive(Debug, Clone, Copy)]
pub struct Signal<'a> {
    pub target: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub kind: SignalKind,
    pub signature: &'a str,
    pub status: Option<u16>,
    pub latency: Option<Duration>,
    pub body: Option<&'a str>,
    pub cpu_percent: Option<f32>,
    pub memory_percent: Option<f32>,
}

impl Match {
    pub fn matches(&self, s: &Signal) -> bool {
        (self.targets.is_empty() || self.targets.iter().any(|g| g.matches(s.target)))
            && self.labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
            && self.kind.is_none_or(|k| k == s.kind)
            && self
                .signature
                .as_ref()
                .is_none_or(|g| g.matches(s.signature))
            && self.status.is_none_or(|st| s.status == Some(st))
            && self
                .latency_over
                .is_none_or(|l| s.latency.is_some_and(|x| x > l))
            && self
                .body_contains
                .as_ref()
                .is_none_or(|t| s.body.is_some_and(|b| b.contains(t.as_str())))
            && self
                .cpu_over
                .is_none_or(|c| s.cpu_percent.is_some_and(|x| x > c))
            && self
                .memory_over
                .is_none_or(|m| s.memory_percent.is_some_and(|x| x > m))
    }

    /// More specific playbooks win: an exact signature beats a glob, a named
    /// target beats any target, each condition adds weight.
    fn specificity(&self) -> u32 {
        let signature = match &self.signature {
            Some(g) if g.is_literal() => 8,
            Some(g) if g.0.as_str() != "*" => 4,
            _ => 0,
        };
        let targets = match self.targets.iter().all(Glob::is_literal) {
            true if !self.targets.is_empty() => 2,
            _ => u32::from(self.targets.iter().any(|g| g.0.as_str() != "*")),
        };
        let conditions = [
            self.kind.is_some(),
            self.status.is_some(),
            self.latency_over.is_some(),
            self.body_contains.is_some(),
            self.cpu_over.is_some(),
            self.memory_over.is_some(),
        ];
        signature
            + targets
            + self.labels.len() as u32
            + conditions.iter().filter(|c| **c).count() as u32
    }
}

/// Every loaded playbook, in match order.
#[derive(Debug, Clone, Default)]
pub struct Playbooks {
    all: Vec<Playbook>,
}

impl Playbooks {
    /// Loads the shipped playbooks (or `shipped_dir` instead, if given) and then
    /// every extra directory. All errors are collected, so `validate` shows them at once.
    pub fn load(
        shipped_dir: Option<&Path>,
        extra_dirs: &[PathBuf],
    ) -> Result<Playbooks, Vec<LoadError>> {
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        let mut errors = Vec::new();
        match shipped_dir {
            Some(dir) => read_dir_into(dir, &mut files, &mut errors, true),
            None => files.extend(
                SHIPPED
                    .iter()
                    .map(|(p, t)| (PathBuf::from(p), t.to_string())),
            ),
        }
        for dir in extra_dirs {
            read_dir_into(dir, &mut files, &mut errors, false);
        }
        let mut all = Vec::new();
        for (path, text) in &files {
            match parse_file(path, text) {
                Ok(books) => all.extend(books),
                Err(e) => errors.push(e),
            }
        }
        let mut seen = HashSet::new();
        for book in &all {
            if !seen.insert(book.name.as_str()) {
                errors.push(LoadError::new(
                    &book.file,
                    format!("playbook name `{}` is used twice", book.name),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Playbooks::new(all))
    }

    pub fn new(mut all: Vec<Playbook>) -> Playbooks {
        all.sort_by(|a, b| {
            b.matcher
                .specificity()
                .cmp(&a.matcher.specificity())
                .then(a.name.cmp(&b.name))
        });
        Playbooks { all }
    }

    /// The most specific playbook that matches.
    pub fn find(&self, signal: &Signal) -> Option<&Playbook> {
        self.all.iter().find(|p| p.matcher.matches(signal))
    }

    pub fn get(&self, name: &str) -> Option<&Playbook> {
        self.all.iter().find(|p| p.name == name)
    }

    pub fn names(&self) -> Vec<String> {
        self.all.iter().map(|p| p.name.clone()).collect()
    }

    /// The longest action timeout of any step: how long a shutdown waits for running actions.
    pub fn longest_timeout(&self) -> Duration {
        let timeout = |s: &Step| match &s.action {
            ActionSpec::Exec(e) => e.timeout,
            ActionSpec::Http(h) => h.timeout,
        };
        self.all
            .iter()
            .flat_map(|p| p.steps.iter().map(timeout))
            .max()
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

/// Reads `*.yaml`/`*.yml` under `dir` (recursively, sorted). A missing extra
/// directory is fine (the user may not have made one); a missing shipped one is not.
fn read_dir_into(
    dir: &Path,
    files: &mut Vec<(PathBuf, String)>,
    errors: &mut Vec<LoadError>,
    must_exist: bool,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            return errors.push(LoadError::new(
                dir,
                format!("cannot read playbook directory: {e}"),
            ));
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            read_dir_into(&path, files, errors, true);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push((path, text)),
                Err(e) => errors.push(LoadError::new(&path, format!("cannot read: {e}"))),
            }
        }
    }
}

/// The playbook as written; [`Playbook`] is what it becomes once checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "match")]
    matcher: Match,
    severity: Severity,
    confidence: f64,
    #[serde(default)]
    approval: Approval,
    #[serde(default, deserialize_with = "opt_duration")]
    cooldown: Option<Duration>,
    #[serde(default)]
    retries: u32,
    #[serde(default)]
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    exec: Option<ExecAction>,
    #[serde(default)]
    http: Option<HttpAction>,
}

/// Parses one file (one playbook per YAML document).
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<Playbook>, LoadError> {
    let raws: Vec<RawPlaybook> = parse_yaml_documents(path, text)?;
    raws.into_iter().map(|raw| check(path, raw)).collect()
}

fn check(path: &Path, raw: RawPlaybook) -> Result<Playbook, LoadError> {
    let fail = |msg: String| LoadError::new(path, format!("playbook `{}`: {msg}", raw.name));
    if raw.name.trim().is_empty() {
        return Err(LoadError::new(path, "a playbook has an empty `name`"));
    }
    if !(0.0..=1.0).contains(&raw.confidence) {
        return Err(fail(format!(
            "`confidence` must be between 0 and 1, not {}",
            raw.confidence
        )));
    }
    let mut steps = Vec::new();
    for (i, step) in raw.steps.iter().enumerate() {
        let action = match (&step.exec, &step.http) {
            (Some(exec), None) => {
                if exec.argv.is_empty() || (exec.shell && exec.argv.len() != 1) {
                    return Err(fail(format!(
                        "step {}: `exec.argv` needs the program and its arguments, or with `shell: true` exactly one script",
                        i + 1
                    )));
                }
                ActionSpec::Exec(exec.clone())
            }
            (None, Some(http)) => {
                if reqwest::Method::from_bytes(http.method.to_uppercase().as_bytes()).is_err() {
                    return Err(fail(format!(
                        "step {}: `http.method` `{}` is not an HTTP method",
                        i + 1,
                        http.method
                    )));
                }
                ActionSpec::Http(http.clone())
            }
            _ => {
                return Err(fail(format!(
                    "step {} needs exactly one action: `exec` or `http`",
                    i + 1
                )));
            }
        };
        if let Err(e) = check_templates(&action) {
            return Err(fail(format!("step {}: {e}", i + 1)));
        }
        let name = step
            .name
            .clone()
            .unwrap_or_else(|| format!("step-{}", i + 1));
        if steps.iter().any(|s: &Step| s.name == name) {
            return Err(fail(format!("step name `{name}` is used twice")));
        }
        steps.push(Step { name, action });
    }
    Ok(Playbook {
        name: raw.name,
        description: raw.description,
        file: path.to_path_buf(),
        matcher: raw.matcher,
        severity: raw.severity,
        confidence: raw.confidence,
        approval: raw.approval,
        cooldown: raw.cooldown,
        retries: raw.retries,
        steps,
    })
}

/// Template syntax (and, for shell scripts, where values may go) is checked
/// when the playbook loads, not when it first runs at 2 AM.
fn check_templates(action: &ActionSpec) -> Result<(), String> {
    match action {
        ActionSpec::Exec(e) => {
            e.argv
                .iter()
                .try_for_each(|a| template::check(a, e.shell))?;
            e.env.values().try_for_each(|v| template::check(v, false))
        }
        ActionSpec::Http(h) => {
            template::check(&h.url, false)?;
            h.headers
                .values()
                .try_for_each(|v| template::check(v, false))?;
            h.body.iter().try_for_each(|b| template::check(b, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Playbook>, LoadError> {
        parse_file(Path::new("pb.yaml"), text)
    }

    const GOOD: &str = "name: flush\nmatch:\n  targets: ['orders-*']\n  signature: DB_TIMEOUT\nseverity: high\nconfidence: 0.99\nsteps:\n  - name: flush pool\n    http: { url: '{{admin_url}}/flush-pool' }\n";

    fn signal<'a>(
        target: &'a str,
        signature: &'a str,
        labels: &'a BTreeMap<String, String>,
    ) -> Signal<'a> {
        Signal {
            target,
            labels,
            kind: SignalKind::Http,
            signature,
            status: Some(503),
            latency: None,
            body: None,
            cpu_percent: None,
            memory_percent: None,
        }
    }

    #[test]
    fn shipped_playbooks_load() {
        let books = Playbooks::load(None, &[]).unwrap();
        assert!(books.len() >= 5);
    }

    #[test]
    fn a_good_playbook_matches_its_target_and_signature_only() {
        let books = Playbooks::new(parse(GOOD).unwrap());
        let none = BTreeMap::new();
        assert_eq!(
            books
                .find(&signal("orders-db", "DB_TIMEOUT", &none))
                .unwrap()
                .name,
            "flush"
        );
        assert!(
            books
                .find(&signal("payments", "DB_TIMEOUT", &none))
                .is_none()
        );
        assert!(
            books
                .find(&signal("orders-db", "MEM_LEAK", &none))
                .is_none()
        );
    }

    #[test]
    fn exact_signature_beats_a_catch_all() {
        let fallback = "name: any\nmatch: { signature: '*' }\nseverity: high\nconfidence: 0.8\n";
        let mut all = parse(fallback).unwrap();
        all.extend(parse(GOOD).unwrap());
        let books = Playbooks::new(all);
        let none = BTreeMap::new();
        assert_eq!(
            books
                .find(&signal("orders-db", "DB_TIMEOUT", &none))
                .unwrap()
                .name,
            "flush"
        );
        assert_eq!(
            books
                .find(&signal("orders-db", "DISK_FULL", &none))
                .unwrap()
                .name,
            "any"
        );
    }

    #[test]
    fn unknown_key_is_an_error_with_line_and_column() {
        let err = parse(&GOOD.replace("severity: high", "severity: high\nretry: 3")).unwrap_err();
        assert_eq!(err.location, Some((6, 1)), "{err}");
        assert!(err.message.contains("unknown field `retry`"), "{err}");
    }

    #[test]
    fn bad_glob_points_at_the_pattern() {
        let err = parse(&GOOD.replace("'orders-*'", "'orders-[a'")).unwrap_err();
        assert_eq!(err.location.map(|l| l.0), Some(3), "{err}");
        assert!(err.message.contains("invalid glob `orders-[a`"), "{err}");
    }

    #[test]
    fn bad_duration_points_at_the_value() {
        let err = parse(&GOOD.replace(
            "{{admin_url}}/flush-pool' }",
            "{{admin_url}}/flush-pool', timeout: 5 parsecs }",
        ))
        .unwrap_err();
        assert_eq!(err.location.map(|l| l.0), Some(9), "{err}");
        assert!(
            err.message.contains("invalid duration `5 parsecs`"),
            "{err}"
        );
    }

    #[test]
    fn a_step_needs_exactly_one_action() {
        let err =
            parse(&GOOD.replace("    http:", "    exec: { argv: [true] }\n    http:")).unwrap_err();
        assert!(
            err.message.contains("step 1 needs exactly one action"),
            "{err}"
        );
    }

    #[test]
    fn a_value_inside_shell_double_quotes_is_refused_at_load() {
        let text = GOOD.replace(
            "http: { url: '{{admin_url}}/flush-pool' }",
            "exec: { shell: true, argv: ['echo \"restarting {{target}}\"'] }",
        );
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("step 1: template variable `target`"),
            "{err}"
        );
    }

    #[test]
    fn several_documents_in_one_file() {
        let two = format!("{GOOD}---\n{}", GOOD.replace("name: flush", "name: flush2"));
        assert_eq!(parse(&two).unwrap().len(), 2);
    }
}
