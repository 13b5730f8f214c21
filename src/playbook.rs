//! Playbooks: YAML files that say which failures they fix and how, in ordered
//! steps. Loading checks everything up front, naming file, line and column.

use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::action::ActionSpec;
use crate::config::{LoadError, opt_duration};
use crate::event::Severity;

mod load;
mod text;

pub use load::parse_file;
pub use text::{TextPattern, as_signature};

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
        "playbooks/demo/crashing.yaml",
        include_str!("../playbooks/demo/crashing.yaml"),
    ),
    (
        "playbooks/demo/rotate-logs.yaml",
        include_str!("../playbooks/demo/rotate-logs.yaml"),
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
        "playbooks/host-disk-predicted.yaml",
        include_str!("../playbooks/host-disk-predicted.yaml"),
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
    /// Words a report may use for this signature (see [`TextPattern`]); needs a
    /// literal `signature`, which is what such a report is recorded as.
    #[serde(default)]
    pub text: Vec<TextPattern>,
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

/// How a prediction's signature begins (see [`crate::predict::Metric::predicted_signature`]).
pub const PREDICTED: &str = "PREDICTED_";

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
            && self.signature_matches(s.signature)
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

    /// A prediction (`PREDICTED_DISK_FULL`) is matched only by a signature
    /// written for one, never by a catch-all (`*`, or none): a fix for a
    /// failure is not a fix for its forecast.
    fn signature_matches(&self, signature: &str) -> bool {
        let prediction = |text: &str| text.starts_with(PREDICTED);
        match &self.signature {
            Some(g) => g.matches(signature) && prediction(g.0.as_str()) == prediction(signature),
            None => !prediction(signature),
        }
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
            Some(dir) => load::read_dir_into(dir, &mut files, &mut errors, true),
            None => files.extend(
                SHIPPED
                    .iter()
                    .map(|(p, t)| (PathBuf::from(p), t.to_string())),
            ),
        }
        for dir in extra_dirs {
            load::read_dir_into(dir, &mut files, &mut errors, false);
        }
        let mut all = Vec::new();
        for (path, text) in &files {
            match load::parse_located(path, text) {
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

    /// The signature a report worded as `text` is about: `text` itself when a
    /// playbook that could fix `signal` (its target, labels, kind) names it as
    /// its signature, else the signature of the first such playbook whose
    /// `match.text` recognises it.
    pub fn recognise<'p>(&'p self, signal: &Signal, text: &str) -> Option<&'p str> {
        let could_fix = |p: &&Playbook, signature: &str| {
            p.matcher.matches(&Signal {
                signature,
                ..*signal
            })
        };
        let literal = |p: &'p Playbook| {
            p.matcher
                .signature
                .as_ref()
                .filter(|g| g.is_literal())
                .map(|g| g.0.as_str())
        };
        if let Some(exact) = self
            .all
            .iter()
            .filter_map(literal)
            .find(|s| *s == text.trim())
        {
            return Some(exact);
        }
        self.all.iter().find_map(|p| {
            let signature = literal(p)?;
            (could_fix(&p, signature) && p.matcher.text.iter().any(|t| t.matches(text)))
                .then_some(signature)
        })
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
        self.all
            .iter()
            .flat_map(|p| p.steps.iter().map(|s| s.action.timeout()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Playbook> {
        parse_file(Path::new("pb.yaml"), text).unwrap()
    }

    pub(super) const GOOD: &str = "name: flush\nmatch:\n  targets: ['orders-*']\n  signature: DB_TIMEOUT\nseverity: high\nconfidence: 0.99\nsteps:\n  - name: flush pool\n    http: { url: '{{admin_url}}/flush-pool' }\n";

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
        let books = Playbooks::new(parse(GOOD));
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
    fn a_prediction_is_matched_only_by_a_playbook_written_for_one() {
        let catch_all = "name: any\nmatch: { signature: '*' }\nseverity: high\nconfidence: 0.8\n";
        let anything = "name: none\nmatch: { targets: ['*'] }\nseverity: high\nconfidence: 0.8\n";
        let rotate = "name: rotate\nmatch: { signature: 'PREDICTED_DISK_*' }\nseverity: low\nconfidence: 0.8\n";
        let none = BTreeMap::new();
        let books = Playbooks::new(
            [catch_all, anything]
                .iter()
                .flat_map(|t| parse(t))
                .collect(),
        );
        assert!(
            books
                .find(&signal("web", "PREDICTED_DISK_FULL", &none))
                .is_none()
        );
        assert!(books.find(&signal("web", "DISK_FULL", &none)).is_some());
        let books = Playbooks::new(parse(rotate));
        let found = books.find(&signal("web", "PREDICTED_DISK_FULL", &none));
        assert_eq!(found.map(|b| b.name.as_str()), Some("rotate"));
        assert!(books.find(&signal("web", "DISK_FULL", &none)).is_none());
    }

    #[test]
    fn exact_signature_beats_a_catch_all() {
        let fallback = "name: any\nmatch: { signature: '*' }\nseverity: high\nconfidence: 0.8\n";
        let mut all = parse(fallback);
        all.extend(parse(GOOD));
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

    const WORDED: &str = "name: flush\nmatch:\n  labels: { fleet: demo }\n  signature: DB_TIMEOUT\n  text: [ERR_DB, DB_TIMEOUT, '/pool (exhausted|drained)/']\nseverity: high\nconfidence: 0.99\n";

    #[test]
    fn a_report_in_other_words_is_recognised_as_the_playbook_signature() {
        let books = Playbooks::new(parse(WORDED));
        let demo = BTreeMap::from([("fleet".to_string(), "demo".to_string())]);
        let of = |text| books.recognise(&signal("orders-db", text, &demo), text);
        assert_eq!(of("ERR_DB"), Some("DB_TIMEOUT"));
        assert_eq!(of("query failed: db_timeout after 5s"), Some("DB_TIMEOUT"));
        assert_eq!(of("connection pool exhausted"), Some("DB_TIMEOUT"));
        assert_eq!(of("gateway timeout"), None);
        let none = BTreeMap::new();
        assert_eq!(
            books.recognise(&signal("orders-db", "ERR_DB", &none), "ERR_DB"),
            None,
            "a playbook that could not fix this target does not name its failure"
        );
    }

    #[test]
    fn text_needs_one_literal_signature() {
        let text = WORDED.replace("signature: DB_TIMEOUT", "signature: 'DB_*'");
        let e = parse_file(Path::new("pb.yaml"), &text).unwrap_err();
        assert!(
            e.to_string().contains("`match.text` names other words"),
            "{e}"
        );
    }
}
