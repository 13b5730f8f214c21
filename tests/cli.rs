//! The binary as a user runs it.

use std::process::Command;

fn autoheal(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
        .args(args)
        // A fresh HOME: no user config, no user playbooks.
        .env("HOME", tempfile::tempdir().unwrap().keep())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap()
}

#[test]
fn validate_names_file_line_and_column_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "name: x\nmatch: { targets: ['web-[1'] }\nseverity: high\nconfidence: 0.9\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("worse.yaml"),
        "name: y\nmatch: {}\nseverity: high\nconfidence: 0.9\ncooldown: 5 fortnights\n",
    )
    .unwrap();
    let out = autoheal(&["validate", "--playbooks", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bad.yaml:2:21: match.targets: invalid glob `web-[1`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("worse.yaml:5:11: invalid duration `5 fortnights`"),
        "{stderr}"
    );
    assert!(stderr.contains("2 error(s)"), "{stderr}");
}

#[test]
fn validate_rejects_a_broken_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        "targets:\n  - name: web\n    http: { url: 'http://x' }\n    critcal: true\n",
    )
    .unwrap();
    let out = autoheal(&["validate", "--config", cfg.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("config.yaml:4:5: targets[0]: unknown field `critcal`"),
        "{stderr}"
    );
}

#[test]
fn validate_reports_every_unusable_value_with_its_line_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        "\
playbooks: [/nonexistent/autoheal-playbooks]
policy:
  learning_prior: .nan
targets:
  - name: web
    http: { url: 'not a url' }
  - name: files
    http: { url: 'ftp://files.example/' }
  - name: db
    tcp: { address: nope }
    interval: 0s
  - name: web
    host: { cpu_percent: -5 }
",
    )
    .unwrap();
    let books = dir.path().join("books");
    std::fs::create_dir(&books).unwrap();
    std::fs::write(
        books.join("restart.yaml"),
        "\
name: restart
match: { signature: DOWN }
severity: high
confidence: 0.9
retries: 4294967295
steps:
  - exec: { argv: [systemctl, restart, web], timeout: 0s }
  - http: { url: 'not a url' }
",
    )
    .unwrap();
    let out = autoheal(&[
        "validate",
        "--config",
        cfg.to_str().unwrap(),
        "--playbooks",
        books.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let (c, b) = (
        cfg.display(),
        books.join("restart.yaml").display().to_string(),
    );
    for expected in [
        format!("{c}:1:13: playbook directory `/nonexistent/autoheal-playbooks` does not exist"),
        format!("{c}:3:19: policy: `learning_prior` must be a finite number, 0 or more, not NaN"),
        format!("{c}:6:18: target `web`: `http.url` `not a url` is not an http:// or https:// URL"),
        format!(
            "{c}:8:18: target `files`: `http.url` `ftp://files.example/` is not an http:// or https:// URL (scheme `ftp`)"
        ),
        format!("{c}:10:21: target `db`: `tcp.address` invalid address `nope`: no port"),
        format!("{c}:11:15: target `db`: `interval` must be above zero"),
        format!("{c}:12:11: target `web` is defined twice"),
        format!(
            "{c}:13:26: target `web`: `host.cpu_percent` must be a percentage from 0 to 100, not -5"
        ),
        format!("{b}:5:10: playbook `restart`: `retries` must be at most 100, not 4294967295"),
        format!("{b}:7:55: playbook `restart`: step 1: `exec.timeout` must be above zero"),
        format!(
            "{b}:8:18: playbook `restart`: step 2: `http.url` `not a url` is not an http:// or https:// URL"
        ),
    ] {
        assert!(
            stderr.contains(&format!("error: {expected}")),
            "missing {expected}\n{stderr}"
        );
    }
    assert!(stderr.ends_with("11 error(s)\n"), "{stderr}");
}

#[test]
fn headless_demo_heals_chaos_and_prints_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.jsonl");
    let out = autoheal(&[
        "--headless",
        "--for",
        "6s",
        "--chaos-every",
        "1s",
        "--journal",
        journal.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("STARTED"), "{stderr}");
    assert!(stderr.contains("RESOLVED"), "{stderr}");
    assert!(stderr.contains("time to resolve  p50"), "{stderr}");
    let journal = std::fs::read_to_string(journal).unwrap();
    let last: serde_json::Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "engine_stopped");
    assert_eq!(last["reason"], "--for elapsed");
}

#[test]
fn sigterm_stops_cleanly_with_the_journal_flushed() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
        .args(["--headless", "--journal", journal.to_str().unwrap()])
        .env("HOME", dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("STARTED")),
        "the engine started"
    );
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success());
    assert!(
        rest.iter()
            .any(|l| l.contains("STOPPED     terminated (SIGTERM)")),
        "{rest:?}"
    );
    let journal = std::fs::read_to_string(journal).unwrap();
    let last: serde_json::Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "engine_stopped");
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// README's `validate` example: the broken config, the broken playbook, and
/// the output it shows for them.
const BROKEN_EXAMPLE: &str = "With this `config.yaml` and `books/restart.yaml`:";

fn broken_example(readme: &str) -> (&str, &str, &str) {
    let after = &readme[readme.find(BROKEN_EXAMPLE).expect("README has the example")..];
    let mut blocks = after.split("```").skip(1).step_by(2);
    let mut next = || blocks.next().unwrap().split_once('\n').unwrap().1;
    (next(), next(), next())
}

#[test]
fn the_readme_example_configs_validate() {
    let readme = readme();
    let (broken, _, _) = broken_example(&readme);
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    // Every YAML block in README that is a whole config file (it lists targets).
    for block in readme
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
    {
        if !block.lines().any(|l| l.starts_with("targets:")) || block == broken {
            continue;
        }
        let path = dir.path().join(format!("readme-{checked}.yaml"));
        std::fs::write(&path, with_playbook_dirs_in(dir.path(), block)).unwrap();
        let out = autoheal(&["validate", "--config", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{block}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 3, "found {checked} config blocks in README");
}

/// The playbook directories a README config names (`/etc/autoheal/playbooks`)
/// must exist to validate: made under `sandbox`, and the config pointed there.
fn with_playbook_dirs_in(sandbox: &std::path::Path, config: &str) -> String {
    let value: serde_norway::Value = serde_norway::from_str(config).unwrap();
    let mut config = config.to_string();
    let dirs = value.get("playbooks").and_then(|p| p.as_sequence());
    for named in dirs.into_iter().flatten().filter_map(|d| d.as_str()) {
        let made = sandbox.join(named.trim_start_matches('/'));
        std::fs::create_dir_all(&made).unwrap();
        config = config.replace(named, made.to_str().unwrap());
    }
    config
}

#[test]
fn the_readme_validate_example_prints_what_readme_shows() {
    let readme = readme();
    let (config, playbook, shown) = broken_example(&readme);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    std::fs::create_dir(dir.path().join("books")).unwrap();
    std::fs::write(dir.path().join("books/restart.yaml"), playbook).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
        .args([
            "validate",
            "--config",
            "config.yaml",
            "--playbooks",
            "books",
        ])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    // The command line, then stderr, then the exit status.
    let mut lines = shown.lines().skip(1).collect::<Vec<_>>();
    let status = lines.pop().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .collect::<Vec<_>>(),
        lines
    );
    assert_eq!(out.status.code().unwrap().to_string(), status);
}

#[test]
fn validate_checks_the_playbooks_of_a_config_that_has_problems() {
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("books");
    std::fs::create_dir(&books).unwrap();
    std::fs::write(books.join("bad.yaml"), "name: bad\nretries: 1\n").unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "playbooks: [{}]\ntargets:\n  - name: web\n    tcp: {{ address: nope }}\n",
            books.display()
        ),
    )
    .unwrap();
    let out = autoheal(&["validate", "--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("config.yaml:4:21: target `web`: `tcp.address`"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.yaml:1:1: missing field"), "{stderr}");
    assert!(stderr.ends_with("2 error(s)\n"), "{stderr}");
}
