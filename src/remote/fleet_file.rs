//! The daemons one console attaches to: URLs on the command line, or a fleet
//! file (`attach --fleet FILE`) that names each and says where its token is:
//!
//! ```yaml
//! daemons:
//!   - { name: web-1, url: "http://10.0.0.5:7311", token_env: WEB1_TOKEN }
//!   - { name: db-1, url: "http://10.0.0.7:7311", token_file: db1.token }
//!   - { url: "http://10.0.0.8:7311" }   # named 10.0.0.8:7311; AUTOHEAL_TOKEN
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

use super::daemon_name;
use crate::config::{LoadError, LoadErrors, MAX_NAME, Problem, YamlPath, http_url};

/// One daemon of the fleet, its token read.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    /// Its name on screen and before its targets (`web-1/orders-db`).
    pub name: String,
    pub url: String,
    pub token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    daemons: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Option<String>,
    url: String,
    /// The variable that holds its token.
    token_env: Option<String>,
    /// The file that holds its token (relative to the fleet file).
    token_file: Option<PathBuf>,
}

/// The daemons at `urls`, named by host and port, all with `token`.
pub fn from_urls(urls: &[String], token: Option<String>) -> Result<Vec<Daemon>, String> {
    let daemons: Vec<Daemon> = urls
        .iter()
        .map(|url| Daemon {
            name: daemon_name(url),
            url: url.clone(),
            token: token.clone(),
        })
        .collect();
    for (i, d) in daemons.iter().enumerate() {
        if daemons[..i].iter().any(|o| o.name == d.name) {
            return Err(format!("{} is given twice", d.url));
        }
    }
    Ok(daemons)
}

/// Reads the fleet file at `path`; `env` reads the environment (tokens).
/// Every problem is reported at once, by file, line and field.
pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Vec<Daemon>, LoadErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError::new(path, format!("cannot read the fleet file: {e}")))?;
    let mut files = crate::config::parse_yaml_documents::<FleetFile>(path, &text)?;
    let file = match (files.pop(), files.is_empty()) {
        (Some(file), true) => file,
        (None, _) => return Err(LoadError::new(path, "empty: it needs `daemons:`").into()),
        (Some(_), false) => {
            return Err(LoadError::new(path, "one YAML document only, not several").into());
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let (daemons, problems) = check(file, dir, env);
    if problems.is_empty() {
        return Ok(daemons);
    }
    let errors = problems
        .into_iter()
        .map(|p| p.locate(path, &text, 0))
        .collect();
    Err(LoadErrors::in_file_order(errors))
}

/// The daemons of `file`, and what is wrong with it.
fn check(
    file: FleetFile,
    dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> (Vec<Daemon>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut daemons: Vec<Daemon> = Vec::new();
    let root = YamlPath::root().key("daemons");
    if file.daemons.is_empty() {
        problems.push(Problem::new(root.clone(), "`daemons` lists none"));
    }
    for (i, entry) in file.daemons.into_iter().enumerate() {
        let at = root.index(i);
        if let Err(e) = http_url(&entry.url) {
            problems.push(Problem::new(
                at.key("url"),
                format!("daemons[{i}].url: {e}"),
            ));
        }
        let name = entry
            .name
            .clone()
            .unwrap_or_else(|| daemon_name(&entry.url));
        let name_at = at.key(if entry.name.is_some() { "name" } else { "url" });
        if name.is_empty()
            || name.contains('/')
            || name.chars().any(char::is_control)
            || name.chars().count() > MAX_NAME
        {
            problems.push(Problem::new(
                name_at.clone(),
                format!(
                    "daemons[{i}].name `{name}`: 1 to {MAX_NAME} plain characters, no `/` (it goes before each target: `{name}/api`)"
                ),
            ));
        } else if daemons.iter().any(|d| d.name == name) {
            problems.push(Problem::new(
                name_at,
                format!("daemons[{i}]: the name `{name}` is taken by an earlier daemon; give each its own `name`"),
            ));
        }
        let token = match (&entry.token_env, &entry.token_file) {
            (Some(_), Some(_)) => {
                problems.push(Problem::new(
                    at.key("token_file"),
                    format!("daemons[{i}]: `token_env` or `token_file`, not both"),
                ));
                None
            }
            (Some(var), None) => match env(var) {
                Some(token) if !token.trim().is_empty() => Some(token.trim().to_string()),
                _ => {
                    problems.push(Problem::new(
                        at.key("token_env"),
                        format!("daemons[{i}].token_env: `{var}` is not set"),
                    ));
                    None
                }
            },
            (None, Some(file)) => match std::fs::read_to_string(dir.join(file)) {
                Ok(token) if !token.trim().is_empty() => Some(token.trim().to_string()),
                Ok(_) => {
                    problems.push(Problem::new(
                        at.key("token_file"),
                        format!("daemons[{i}].token_file: {} is empty", file.display()),
                    ));
                    None
                }
                Err(e) => {
                    problems.push(Problem::new(
                        at.key("token_file"),
                        format!(
                            "daemons[{i}].token_file: cannot read {}: {e}",
                            file.display()
                        ),
                    ));
                    None
                }
            },
            (None, None) => env("AUTOHEAL_TOKEN"),
        };
        daemons.push(Daemon {
            name,
            url: entry.url,
            token,
        });
    }
    (daemons, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Vec<Daemon>, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db1.token"), "s3cret\n").unwrap();
        let path = dir.path().join("fleet.yaml");
        std::fs::write(&path, text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(&path, |k| {
            env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        })
        // Errors as a user reads them, without the temporary directory.
        .map_err(|e| {
            e.to_string()
                .replace(&format!("{}/", dir.path().display()), "")
        })
    }

    #[test]
    fn names_urls_and_every_token_source() {
        let daemons = load_text(
            "daemons:\n  - { name: web-1, url: \"http://10.0.0.5:7311\", token_env: WEB1_TOKEN }\n  - { name: db-1, url: \"http://10.0.0.7:7311\", token_file: db1.token }\n  - { url: \"http://10.0.0.8:7311\" }\n",
            &[("WEB1_TOKEN", "w1"), ("AUTOHEAL_TOKEN", "shared")],
        )
        .unwrap();
        let got: Vec<(&str, &str, Option<&str>)> = daemons
            .iter()
            .map(|d| (d.name.as_str(), d.url.as_str(), d.token.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("web-1", "http://10.0.0.5:7311", Some("w1")),
                ("db-1", "http://10.0.0.7:7311", Some("s3cret")),
                ("10.0.0.8:7311", "http://10.0.0.8:7311", Some("shared")),
            ]
        );
    }

    #[test]
    fn a_misspelt_field_is_named_with_its_line() {
        let err = load_text(
            "daemons:\n  - name: web-1\n    url: http://10.0.0.5:7311\n    token_var: X\n",
            &[],
        )
        .unwrap_err();
        assert!(err.starts_with("fleet.yaml:4:"), "{err}");
        assert!(err.contains("token_var"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_its_line() {
        let err = load_text(
            "daemons:\n  - name: web-1\n    url: http://10.0.0.5:7311\n  - name: web-1\n    url: ftp://x\n  - name: db-1\n    url: http://10.0.0.7:7311\n    token_env: MISSING\n",
            &[],
        )
        .unwrap_err();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 3, "{err}");
        assert!(
            lines[0].starts_with("fleet.yaml:4:") && lines[0].contains("`web-1` is taken"),
            "{err}"
        );
        assert!(
            lines[1].starts_with("fleet.yaml:5:") && lines[1].contains("daemons[1].url"),
            "{err}"
        );
        assert!(
            lines[2].starts_with("fleet.yaml:8:") && lines[2].contains("`MISSING` is not set"),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_token_file_and_a_slash_in_a_name_are_errors() {
        let err = load_text(
            "daemons:\n  - { name: a/b, url: \"http://h:1\", token_file: nope.token }\n",
            &[],
        )
        .unwrap_err();
        assert!(err.contains("no `/`"), "{err}");
        assert!(err.contains("cannot read nope.token"), "{err}");
        let err = load_text("daemons: []\n", &[]).unwrap_err();
        assert!(err.contains("lists none"), "{err}");
    }

    #[test]
    fn the_same_url_twice_on_the_command_line_is_an_error() {
        let urls = [
            "http://127.0.0.1:7311".to_string(),
            "http://127.0.0.1:7311/".into(),
        ];
        assert!(from_urls(&urls, None).unwrap_err().contains("given twice"));
        let urls = [
            "http://127.0.0.1:7311".to_string(),
            "http://127.0.0.1:7312".into(),
        ];
        let names: Vec<String> = from_urls(&urls, None)
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["127.0.0.1:7311", "127.0.0.1:7312"]);
    }
}
