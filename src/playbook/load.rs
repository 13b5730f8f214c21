//! Reading playbook files: parse, then check every playbook and report every
//! problem at the line and column of its value.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Approval, Glob, MAX_RETRIES, Match, Playbook, Step};
use crate::action::service::ServiceAction;
use crate::action::{ActionSpec, ExecAction, HttpAction, template};
use crate::config::{
    LoadError, LoadErrors, Problem, YamlPath, locate, opt_duration, parse_yaml_documents, percent,
    templated_http_url,
};
use crate::event::Severity;

/// Reads `*.yaml`/`*.yml` under `dir` (recursively, sorted). A missing extra
/// directory is fine (the user may not have made one); a missing shipped one is not.
pub(super) fn read_dir_into(
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
    #[serde(default)]
    service: Option<ServiceAction>,
}

/// Parses one file (one playbook per YAML document), reporting every problem.
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<Playbook>, LoadErrors> {
    let books = parse_located(path, text)?;
    Ok(books.into_iter().map(|(book, _)| book).collect())
}

/// Where a playbook's `name` is written, for errors that involve two files.
pub(super) type NameAt = Option<(usize, usize)>;

pub(super) fn parse_located(
    path: &Path,
    text: &str,
) -> Result<Vec<(Playbook, NameAt)>, LoadErrors> {
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
    let literal = raw.matcher.signature.as_ref().is_some_and(Glob::is_literal);
    if !raw.matcher.text.is_empty() && !literal {
        fail(
            root.key("match").key("text"),
            "`match.text` names other words for `signature`, so `signature` must be one literal name (no * ? [)".into(),
        );
    }
    let mut steps = Vec::new();
    for (i, step) in raw.steps.iter().enumerate() {
        let at = root.key("steps").index(i);
        let n = i + 1;
        let (kind, action) = match (&step.exec, &step.http, &step.service) {
            (Some(exec), None, None) => ("exec", ActionSpec::Exec(exec.clone())),
            (None, Some(http), None) => ("http", ActionSpec::Http(http.clone())),
            (None, None, Some(service)) => ("service", ActionSpec::Service(service.clone())),
            _ => {
                fail(
                    at,
                    format!("step {n} needs exactly one action: `exec`, `http` or `service`"),
                );
                continue;
            }
        };
        let at_action = at.key(kind);
        for (at, msg) in action_problems(n, &action, &at_action) {
            fail(at, msg);
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

/// What the engine could not run in step `n`'s action (written at `at`).
fn action_problems(n: usize, action: &ActionSpec, at: &YamlPath) -> Vec<(YamlPath, String)> {
    let mut out = Vec::new();
    match action {
        ActionSpec::Exec(exec) => {
            if exec.argv.is_empty() || (exec.shell && exec.argv.len() != 1) {
                out.push((
                    at.key("argv"),
                    format!(
                        "step {n}: `exec.argv` needs the program and its arguments, or with `shell: true` exactly one script"
                    ),
                ));
            }
            if exec.timeout.is_zero() {
                out.push((
                    at.key("timeout"),
                    format!("step {n}: `exec.timeout` must be above zero"),
                ));
            }
        }
        ActionSpec::Service(service) => {
            if service.timeout.is_zero() {
                out.push((
                    at.key("timeout"),
                    format!("step {n}: `service.timeout` must be above zero"),
                ));
            }
        }
        ActionSpec::Http(http) => {
            if reqwest::Method::from_bytes(http.method.to_uppercase().as_bytes()).is_err() {
                out.push((
                    at.key("method"),
                    format!(
                        "step {n}: `http.method` `{}` is not an HTTP method",
                        http.method
                    ),
                ));
            }
            if let Err(why) = templated_http_url(&http.url) {
                out.push((at.key("url"), format!("step {n}: `http.url` {why}")));
            }
            if http.timeout.is_zero() {
                out.push((
                    at.key("timeout"),
                    format!("step {n}: `http.timeout` must be above zero"),
                ));
            }
        }
    }
    out
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
        ActionSpec::Service(s) => {
            template::check(&s.name, false)?;
            s.start.iter().try_for_each(|t| template::check(t, false))
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
    use crate::playbook::Playbooks;
    use crate::playbook::tests::GOOD;

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
                "pb.yaml:10:5: playbook `a`: step 4 needs exactly one action: `exec`, `http` or `service`",
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
