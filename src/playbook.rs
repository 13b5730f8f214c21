//! Playbooks: YAML files that say which failures they fix and how, in ordered
//! steps. Loading checks everything up front, naming file, line and column.

use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::action::{ActionSpec, ExecAction, HttpAction, template};
use crate::config::{
    LoadError, LoadErrors, Problem, YamlPath, locate, opt_duration, parse_yaml_documents, percent,
    templated_http_url,
};
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

/// The most `retries` a playbook may ask for: each retry waits up to a
/// minute or so, and a fix that failed a hundred times is not going to work.
pub const MAX_RETRIES: u32 = 100;

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
    /// Extra attempts of a step whose action failed (not whose verification failed),
    /// at most [`MAX_RETRIES`].
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
            match parse_located(path, text) {
                Ok(books) => all.extend(books),
                Err(e) => errors.extend(e.0),
            }
        }
        let mut seen = HashSet::new();
        for (book, name_at) in &all {
            if !seen.insert(book.name.as_str()) {
                errors.push(LoadError {
                    file: book.file.clone(),
                    location: *name_at,
                    message: format!("playbook name `{}` is used twice", book.name),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Playbooks::new(
            all.into_iter().map(|(book, _)| book).collect(),
        ))
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

/// Parses one file (one playbook per YAML document), reporting every problem.
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<Playbook>, LoadErrors> {
    let books = parse_located(path, text)?;
    Ok(books.into_iter().map(|(book, _)| book).collect())
}

/// Where a playbook's `name` is written, for errors that involve two files.
type NameAt = Option<(usize, usize)>;

fn parse_located(path: &Path, text: &str) -> Result<Vec<(Playbook, NameAt)>, LoadErrors> {
    let raws: Vec<RawPlaybook> = parse_yaml_documents(path, text)?;
    let mut books = Vec::new();
    let mut errors = Vec::new();
    for (document, raw) in raws.into_iter().enumerate() {
        match check(path, raw) {
            Ok(book) => books.push((book, locate(text, document, &YamlPath::root().key("name")))),
            Err(problems) => {
                errors.extend(problems.into_iter().map(|p| p.locate(path, text, document)));
            }
        }
    }
    if errors.is_empty() {
        Ok(books)
    } else {
        Err(LoadErrors::in_file_order(errors))
    }
}

/// Turns a raw playbook into a checked one, or lists everything wrong with it.
fn check(path: &Path, raw: RawPlaybook) -> Result<Playbook, Vec<Problem>> {
    let root = YamlPath::root();
    let mut problems = Vec::new();
    if raw.name.trim().is_empty() {
        problems.push(Problem::new(
            root.key("name"),
            "a playbook has an empty `name`",
        ));
    }
    let mut fail = |at: YamlPath, msg: String| {
        problems.push(Problem::new(at, format!("playbook `{}`: {msg}", raw.name)));
    };
    if !(0.0..=1.0).contains(&raw.confidence) {
        fail(
            root.key("confidence"),
            format!(
                "`confidence` must be between 0 and 1, not {}",
                raw.confidence
            ),
        );
    }
    if raw.retries > MAX_RETRIES {
        fail(
            root.key("retries"),
            format!(
                "`retries` must be at most {MAX_RETRIES}, not {}",
                raw.retries
            ),
        );
    }
    for (key, value) in [
        ("cpu_over", raw.matcher.cpu_over),
        ("memory_over", raw.matcher.memory_over),
    ] {
        if let Some(Err(why)) = value.map(|v| percent(f64::from(v))) {
            fail(root.key("match").key(key), format!("`match.{key}` {why}"));
        }
    }
    let mut steps = Vec::new();
    for (i, step) in raw.steps.iter().enumerate() {
        let at = root.key("steps").index(i);
        let n = i + 1;
        let (kind, action) = match (&step.exec, &step.http) {
            (Some(exec), None) => ("exec", ActionSpec::Exec(exec.clone())),
            (None, Some(http)) => ("http", ActionSpec::Http(http.clone())),
            _ => {
                fail(
                    at,
                    format!("step {n} needs exactly one action: `exec` or `http`"),
                );
                continue;
            }
        };
        let at_action = at.key(kind);
        match &action {
            ActionSpec::Exec(exec) => {
                if exec.argv.is_empty() || (exec.shell && exec.argv.len() != 1) {
                    fail(
                        at_action.key("argv"),
                        format!(
                            "step {n}: `exec.argv` needs the program and its arguments, or with `shell: true` exactly one script"
                        ),
                    );
                }
                if exec.timeout.is_zero() {
                    fail(
                        at_action.key("timeout"),
                        format!("step {n}: `exec.timeout` must be above zero"),
                    );
                }
            }
            ActionSpec::Http(http) => {
                if reqwest::Method::from_bytes(http.method.to_uppercase().as_bytes()).is_err() {
                    fail(
                        at_action.key("method"),
                        format!(
                            "step {n}: `http.method` `{}` is not an HTTP method",
                            http.method
                        ),
                    );
                }
                if let Err(why) = templated_http_url(&http.url) {
                    fail(at_action.key("url"), format!("step {n}: `http.url` {why}"));
                }
                if http.timeout.is_zero() {
                    fail(
                        at_action.key("timeout"),
                        format!("step {n}: `http.timeout` must be above zero"),
                    );
                }
            }
        }
        if let Err(e) = check_templates(&action) {
            fail(at_action, format!("step {n}: {e}"));
        }
        let name = step.name.clone().unwrap_or_else(|| format!("step-{n}"));
        if steps.iter().any(|s: &Step| s.name == name) {
            fail(at.key("name"), format!("step name `{name}` is used twice"));
        }
        steps.push(Step { name, action });
    }
    if !problems.is_empty() {
        return Err(problems);
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
        parse_file(Path::new("pb.yaml"), text).map_err(|mut errors| {
            assert_eq!(errors.0.len(), 1, "{errors}");
            errors.0.remove(0)
        })
    }

    /// Every error of `text`, as `validate` prints them.
    fn errors(text: &str) -> Vec<String> {
        match parse_file(Path::new("pb.yaml"), text) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        }
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
    fn a_playbook_duration_past_ten_years_is_refused() {
        let err = parse(&GOOD.replace("confidence: 0.99", "confidence: 0.99\ncooldown: 1000000h"))
            .unwrap_err();
        assert_eq!(err.location, Some((7, 11)), "{err}");
        assert!(err.message.contains("at most 10 years"), "{err}");
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

    #[test]
    fn every_problem_of_every_playbook_is_reported_at_its_value() {
        let text = "\
name: a
match: { cpu_over: 120 }
severity: high
confidence: .nan
retries: 4294967295
steps:
  - exec: { argv: [systemctl, restart, web], timeout: 0s }
  - http: { url: 'not a url', timeout: 0s }
  - http: { method: 'GE T', url: 'ftp://{{host}}/x' }
  - exec: { argv: [true] }
    http: { url: 'http://x' }
---
name: b
match: {}
severity: low
confidence: 0.5
steps:
  - name: same
    exec: { argv: [true] }
  - name: same
    exec: { argv: [] }
";
        assert_eq!(
            errors(text),
            [
                "pb.yaml:2:20: playbook `a`: `match.cpu_over` must be a percentage from 0 to 100, not 120",
                "pb.yaml:4:13: playbook `a`: `confidence` must be between 0 and 1, not NaN",
                "pb.yaml:5:10: playbook `a`: `retries` must be at most 100, not 4294967295",
                "pb.yaml:7:55: playbook `a`: step 1: `exec.timeout` must be above zero",
                "pb.yaml:8:18: playbook `a`: step 2: `http.url` `not a url` is not an http:// or https:// URL (relative URL without a base)",
                "pb.yaml:8:40: playbook `a`: step 2: `http.timeout` must be above zero",
                "pb.yaml:9:21: playbook `a`: step 3: `http.method` `GE T` is not an HTTP method",
                "pb.yaml:9:34: playbook `a`: step 3: `http.url` `ftp://{{host}}/x` is not an http:// or https:// URL: start it with http://, https:// or a `{{variable}}`",
                "pb.yaml:10:5: playbook `a`: step 4 needs exactly one action: `exec` or `http`",
                "pb.yaml:20:11: playbook `b`: step name `same` is used twice",
                "pb.yaml:21:19: playbook `b`: step 2: `exec.argv` needs the program and its arguments, or with `shell: true` exactly one script",
            ]
        );
    }

    #[test]
    fn a_name_used_twice_across_files_is_reported_where_it_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.yaml"), GOOD).unwrap();
        let again = format!("# the same again\n{GOOD}");
        std::fs::write(dir.path().join("2.yaml"), again).unwrap();
        let errors = Playbooks::load(Some(dir.path()), &[]).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [format!(
                "{}:2:7: playbook name `flush` is used twice",
                dir.path().join("2.yaml").display()
            )]
        );
    }
}
