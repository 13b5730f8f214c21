//! The real-world playbooks shipped beside the demo's: each matches the target its
//! documentation configures, none touches the demo fleet, and every config in
//! docs/real-world-playbooks.md is valid as written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use autoheal::action::{ActionSpec, template};
use autoheal::config::{Config, Target};
use autoheal::demo::DemoFleet;
use autoheal::playbook::{Approval, Playbook, Playbooks, SHIPPED, Signal, SignalKind};

const DOC: &str = include_str!("../docs/real-world-playbooks.md");

/// Every playbook this file is about, with the label that opts a target in.
const REAL_WORLD: &[(&str, &str, &str)] = &[
    ("systemd-restart", "autoheal.restart", "systemd"),
    ("systemd-probe-error", "autoheal.restart", "systemd"),
    ("nginx-reload", "autoheal.restart", "nginx"),
    ("nginx-upstream-error", "autoheal.restart", "nginx"),
    ("nginx-probe-error", "autoheal.restart", "nginx"),
    ("redis-restart", "autoheal.restart", "redis"),
    ("redis-restart-unresponsive", "autoheal.restart", "redis"),
    (
        "kubernetes-rollout-restart",
        "autoheal.restart",
        "kubernetes",
    ),
    ("docker-restart", "autoheal.restart", "docker"),
    ("docker-probe-error", "autoheal.restart", "docker"),
    ("host-memory-high", "autoheal.watch", "host"),
    ("host-disk-full", "autoheal.watch", "host"),
    ("host-disk-predicted", "autoheal.watch", "host"),
    ("host-cpu-high", "autoheal.watch", "host-cpu"),
    ("host-load-high", "autoheal.watch", "host-cpu"),
];

/// What each target of the doc's configs meets: (target, signature, winning playbook).
const EXPECTED: &[(&str, &str, Option<&str>)] = &[
    ("myapp", "CONNECTION_REFUSED", Some("systemd-restart")),
    ("myapp", "TIMEOUT", Some("systemd-restart")),
    ("myapp", "HTTP_503", Some("systemd-restart")),
    ("myapp", "DB_TIMEOUT", Some("systemd-restart")),
    ("myapp", "BAD_URL", Some("systemd-probe-error")),
    ("nginx", "CONNECTION_REFUSED", Some("nginx-reload")),
    ("nginx", "HTTP_500", Some("nginx-reload")),
    ("nginx", "TIMEOUT", Some("nginx-reload")),
    ("nginx", "HTTP_502", Some("nginx-upstream-error")),
    ("nginx", "HTTP_503", Some("nginx-upstream-error")),
    ("nginx", "HTTP_504", Some("nginx-upstream-error")),
    ("nginx", "BAD_URL", Some("nginx-probe-error")),
    ("redis", "CONNECTION_REFUSED", Some("redis-restart")),
    ("redis", "TIMEOUT", Some("redis-restart-unresponsive")),
    (
        "redis",
        "CONNECTION_ERROR",
        Some("redis-restart-unresponsive"),
    ),
    ("shop-web", "HTTP_503", Some("kubernetes-rollout-restart")),
    (
        "shop-web",
        "LATENCY_HIGH",
        Some("kubernetes-rollout-restart"),
    ),
    ("api", "CONNECTION_REFUSED", Some("docker-restart")),
    ("api", "HTTP_500", Some("docker-restart")),
    ("api", "BAD_URL", Some("docker-probe-error")),
    ("host-capacity", "MEMORY_HIGH", Some("host-memory-high")),
    ("host-capacity", "DISK_FULL", Some("host-disk-full")),
    (
        "host-capacity",
        "PREDICTED_DISK_FULL",
        Some("host-disk-predicted"),
    ),
    // A service's catch-all restart is no fix for a forecast.
    ("myapp", "PREDICTED_DISK_FULL", None),
    // Escalated as unknown: CPU is watched on its own target.
    ("host-capacity", "CPU_HIGH", None),
    ("host-cpu", "CPU_HIGH", Some("host-cpu-high")),
    ("host-cpu", "LOAD_HIGH", Some("host-load-high")),
    ("host-cpu", "MEMORY_HIGH", None),
];

/// Every signature a probe reports, the demo's faults and some service-made tokens.
const SIGNATURES: &[&str] = &[
    "CONNECTION_REFUSED",
    "CONNECTION_ERROR",
    "TIMEOUT",
    "BAD_URL",
    "BAD_ADDRESS",
    "LATENCY_HIGH",
    "BODY_MISMATCH",
    "HTTP_500",
    "HTTP_502",
    "HTTP_503",
    "HTTP_504",
    "HTTP_404",
    "PROCESS_DOWN",
    "PID_FILE_INVALID",
    "PROBE_ERROR",
    "CPU_HIGH",
    "MEMORY_HIGH",
    "DISK_FULL",
    "LOAD_HIGH",
    "DB_TIMEOUT",
    "MEM_LEAK",
    "NET_SPIKE",
    "UNHEALTHY",
];

fn shipped() -> Playbooks {
    Playbooks::load(None, &[]).expect("the shipped playbooks load")
}

fn signal<'a>(target: &'a Target, signature: &'a str) -> Signal<'a> {
    Signal {
        target: &target.name,
        labels: &target.labels,
        kind: SignalKind::parse(target.probe.kind()).unwrap(),
        signature,
        status: signature.strip_prefix("HTTP_").and_then(|s| s.parse().ok()),
        latency: None,
        body: None,
        cpu_percent: None,
        memory_percent: None,
    }
}

/// The ```yaml blocks of the doc: each is a complete config file.
fn doc_configs() -> Vec<String> {
    let mut configs = Vec::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```yaml" {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            configs.push(block.join("\n") + "\n");
        }
    }
    assert!(configs.len() >= 6, "found only {} configs", configs.len());
    configs
}

/// Every target configured in the doc.
fn doc_targets() -> Vec<Target> {
    doc_configs()
        .iter()
        .enumerate()
        .flat_map(|(i, text)| {
            let path = PathBuf::from(format!("doc-config-{i}.yaml"));
            Config::parse(&path, text)
                .unwrap_or_else(|e| panic!("{e}\n{text}"))
                .1
        })
        .collect()
}

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

fn real_world(books: &Playbooks) -> Vec<&Playbook> {
    REAL_WORLD
        .iter()
        .map(|(name, ..)| {
            books
                .get(name)
                .unwrap_or_else(|| panic!("{name} is shipped"))
        })
        .collect()
}

#[test]
fn every_playbook_file_is_shipped_and_loads() {
    let books = shipped();
    assert_eq!(books.len(), 7 + REAL_WORLD.len(), "{:?}", books.names());
    real_world(&books);

    fn yaml_files(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                yaml_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                let root = Path::new(env!("CARGO_MANIFEST_DIR"));
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut on_disk = Vec::new();
    yaml_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks"),
        &mut on_disk,
    );
    on_disk.sort();
    let mut listed: Vec<String> = SHIPPED.iter().map(|(p, _)| p.to_string()).collect();
    listed.sort();
    assert_eq!(listed, on_disk, "SHIPPED lists every file under playbooks/");
}

#[test]
fn each_playbook_needs_its_label_and_nothing_else_opts_in() {
    let books = shipped();
    for (book, (name, key, value)) in real_world(&books).iter().zip(REAL_WORLD) {
        assert_eq!(
            book.matcher.labels,
            BTreeMap::from([(key.to_string(), value.to_string())]),
            "{name}"
        );
        assert!(book.matcher.targets.is_empty(), "{name} names no target");
    }
}

#[test]
fn each_doc_target_meets_the_playbook_the_doc_promises() {
    let books = shipped();
    let targets = doc_targets();
    for (target, signature, expected) in EXPECTED {
        let target = targets
            .iter()
            .find(|t| t.name == *target)
            .unwrap_or_else(|| panic!("the doc configures {target}"));
        let found = books
            .find(&signal(target, signature))
            .map(|p| p.name.as_str());
        assert_eq!(found, *expected, "{} {signature}", target.name);
    }
    // Every real-world playbook is reached by some documented target.
    for (name, ..) in REAL_WORLD {
        assert!(
            EXPECTED.iter().any(|(_, _, e)| e == &Some(*name)),
            "{name} is exercised"
        );
    }
}

#[test]
fn each_doc_target_provides_the_vars_its_actions_use() {
    let books = shipped();
    for target in doc_targets() {
        let mut vars = autoheal::action::vars::Vars::from(target.vars.clone());
        for builtin in [
            "incident_id",
            "target",
            "signature",
            "severity",
            "playbook",
            "step",
        ] {
            vars.trusted(builtin, "x");
        }
        for signature in SIGNATURES {
            let Some(book) = books.find(&signal(&target, signature)) else {
                continue;
            };
            for step in &book.steps {
                let exec = match &step.action {
                    ActionSpec::Exec(exec) => exec,
                    // `start` is only needed where no service manager runs.
                    ActionSpec::Service(service) => {
                        let name = template::render(
                            &service.name,
                            &vars,
                            autoheal::action::vars::Place::Word,
                        );
                        if let Err(e) = name {
                            panic!("{} / {} on {}: {e}", book.name, step.name, target.name);
                        }
                        continue;
                    }
                    ActionSpec::Http(_) => panic!("{}: real-world steps run commands", book.name),
                };
                for arg in &exec.argv {
                    let rendered = match exec.shell {
                        true => template::render_shell(arg, &vars),
                        false => template::render(arg, &vars, autoheal::action::vars::Place::Word),
                    };
                    if let Err(e) = rendered {
                        panic!("{} / {} on {}: {e}", book.name, step.name, target.name);
                    }
                }
            }
        }
    }
}

#[test]
fn restarts_run_alone_only_where_the_doc_says() {
    let books = shipped();
    for name in [
        "systemd-restart",
        "nginx-reload",
        "redis-restart",
        "docker-restart",
    ] {
        let book = books.get(name).unwrap();
        assert_eq!(book.approval, Approval::Policy, "{name}");
        assert!(
            (0.9..0.95).contains(&book.confidence),
            "{name}: {}",
            book.confidence
        );
        assert_eq!(
            book.cooldown,
            Some(std::time::Duration::from_secs(600)),
            "{name}"
        );
    }
    for name in ["redis-restart-unresponsive", "kubernetes-rollout-restart"] {
        let book = books.get(name).unwrap();
        assert_eq!(book.approval, Approval::Required, "{name}");
        assert!(book.confidence < 0.9, "{name}");
    }
    // The restarts run argv directly (a `service` step, or exec), never a shell.
    for name in [
        "systemd-restart",
        "nginx-reload",
        "redis-restart",
        "docker-restart",
    ] {
        let book = books.get(name).unwrap();
        assert!(
            book.steps.iter().all(|s| match &s.action {
                ActionSpec::Exec(e) => !e.shell,
                ActionSpec::Service(_) => true,
                ActionSpec::Http(_) => false,
            }),
            "{name}"
        );
    }
    let argv = |name: &str| match &books.get(name).unwrap().steps[0].action {
        ActionSpec::Exec(e) => e.argv.clone(),
        ActionSpec::Service(s) => vec![s.name.clone(), format!("{:?}", s.action)],
        ActionSpec::Http(_) => panic!("{name} runs a command"),
    };
    assert_eq!(argv("systemd-restart"), ["{{unit}}", "Restart"]);
    assert_eq!(argv("redis-restart"), ["{{unit}}", "Restart"]);
    assert_eq!(argv("nginx-reload"), ["nginx", "ReloadOrRestart"]);
    assert_eq!(
        argv("docker-restart"),
        ["docker", "restart", "{{container}}"]
    );
}

#[test]
fn the_watch_only_playbooks_have_no_steps() {
    use autoheal::event::Severity;
    let books = shipped();
    for (name, severity) in [
        ("host-memory-high", Severity::High),
        ("host-disk-full", Severity::High),
        ("host-cpu-high", Severity::Medium),
        ("host-load-high", Severity::Medium),
        ("systemd-probe-error", Severity::High),
        ("nginx-upstream-error", Severity::High),
        ("nginx-probe-error", Severity::High),
        ("docker-probe-error", Severity::High),
    ] {
        let book = books.get(name).unwrap();
        assert!(book.steps.is_empty(), "{name} only watches");
        assert_eq!(book.severity, severity, "{name}");
    }
}

#[test]
fn a_playbook_of_yours_that_names_the_target_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.yaml"),
        "name: my-shop-web\nmatch: { targets: [shop-web], signature: '*' }\nseverity: high\nconfidence: 0.95\napproval: policy\nsteps:\n  - exec: { argv: [true] }\n",
    )
    .unwrap();
    let books = Playbooks::load(None, &[dir.path().to_path_buf()]).unwrap();
    let targets = doc_targets();
    let web = targets.iter().find(|t| t.name == "shop-web").unwrap();
    assert_eq!(
        books.find(&signal(web, "HTTP_503")).unwrap().name,
        "my-shop-web"
    );
    let myapp = targets.iter().find(|t| t.name == "myapp").unwrap();
    assert_eq!(
        books.find(&signal(myapp, "HTTP_503")).unwrap().name,
        "systemd-restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fleet_meets_only_its_own_playbooks() {
    let fleet = DemoFleet::start().await.expect("demo fleet starts");
    let targets = fleet.config().resolve_targets().unwrap();
    assert!(targets.iter().any(|t| t.probe.kind() == "host"));
    let all = shipped();
    let demo_only = Playbooks::load(
        Some(&Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/demo")),
        &[],
    )
    .unwrap();
    for target in &targets {
        for signature in SIGNATURES {
            let s = signal(target, signature);
            let found = all.find(&s).map(|p| p.name.as_str());
            let demo = demo_only.find(&s).map(|p| p.name.as_str());
            assert_eq!(found, demo, "{} {signature}", target.name);
        }
    }
}

/// Runs `step` of `playbook` on the doc's `target` for real, with stub `systemctl`,
/// `nginx`, `docker` and `kubectl` first on PATH that log their arguments (and fail
/// when named in `fail`). Returns whether the action succeeded and what was called.
async fn run_step(playbook: &str, step: &str, target: &str, fail: &str) -> (bool, Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    for tool in ["systemctl", "nginx", "docker", "kubectl"] {
        let stub = dir.path().join(tool);
        std::fs::write(
            &stub,
            format!(
                "#!/bin/sh\necho {tool} \"$@\" >> \"$STUB_LOG\"\n[ {tool} != \"$STUB_FAIL\" ]\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let books = shipped();
    let book = books.get(playbook).unwrap();
    let action = book
        .steps
        .iter()
        .find(|s| s.name == step)
        .unwrap_or_else(|| panic!("{playbook} has a step {step}"))
        .action
        .clone();
    let path = format!("{}:/usr/bin:/bin", dir.path().display());
    let env = [
        ("PATH".to_string(), path),
        ("STUB_LOG".to_string(), log.display().to_string()),
        ("STUB_FAIL".to_string(), fail.to_string()),
    ];
    let targets = doc_targets();
    let mut vars = targets
        .iter()
        .find(|t| t.name == target)
        .unwrap()
        .vars
        .clone();
    vars.insert("target".into(), target.into());
    let outcome = match action {
        ActionSpec::Exec(mut exec) => {
            exec.env.extend(env);
            autoheal::action::exec::run(&exec, &vars.into()).await
        }
        // As on a host with systemd and no nginx running.
        ActionSpec::Service(service) => {
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
            let host = autoheal::action::service::Host {
                root: root.path().to_path_buf(),
                proc: root.path().join("proc"),
            };
            let mut ready = autoheal::action::service::prepare_on(&host, &service, &vars.into())
                .unwrap_or_else(|e| panic!("{playbook}/{step}: {e}"));
            ready.env.extend(env);
            ready.run().await
        }
        ActionSpec::Http(_) => panic!("{playbook}/{step} runs a command"),
    };
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    (outcome.ok, calls.lines().map(String::from).collect())
}

#[tokio::test]
async fn each_step_runs_the_documented_commands() {
    for (playbook, step, target, calls) in [
        (
            "systemd-restart",
            "restart",
            "myapp",
            &["systemctl restart myapp.service"][..],
        ),
        (
            "nginx-reload",
            "reload",
            "nginx",
            &["nginx -t", "systemctl reload-or-restart nginx"],
        ),
        (
            "nginx-reload",
            "test-and-restart",
            "nginx",
            &["nginx -t", "systemctl restart nginx"],
        ),
        (
            "redis-restart",
            "restart",
            "redis",
            &["systemctl restart redis-server.service"],
        ),
        (
            "redis-restart-unresponsive",
            "restart",
            "redis",
            &["systemctl restart redis-server.service"],
        ),
        (
            "kubernetes-rollout-restart",
            "rollout-restart",
            "shop-web",
            &[
                "kubectl rollout restart deployment/web -n shop",
                "kubectl rollout status deployment/web -n shop --timeout=120s",
            ],
        ),
        ("docker-restart", "restart", "api", &["docker restart api"]),
    ] {
        let (ok, called) = run_step(playbook, step, target, "").await;
        assert!(ok, "{playbook}/{step}: {called:?}");
        assert_eq!(called, calls, "{playbook}/{step}");
    }
    // A config that fails `nginx -t` is never restarted into.
    let (ok, called) = run_step("nginx-reload", "test-and-restart", "nginx", "nginx").await;
    assert!(!ok);
    assert_eq!(called, ["nginx -t"]);
    // Nor does a rollout that could not be started get waited for.
    let (ok, called) = run_step(
        "kubernetes-rollout-restart",
        "rollout-restart",
        "shop-web",
        "kubectl",
    )
    .await;
    assert!(!ok);
    assert_eq!(called, ["kubectl rollout restart deployment/web -n shop"]);
}

#[test]
fn validate_accepts_the_playbook_directory() {
    let out = autoheal(&[
        "validate",
        "--playbooks",
        concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in REAL_WORLD
        .iter()
        .map(|(name, ..)| *name)
        .chain(["demo-flush-db-pool"])
    {
        assert!(stdout.contains(name), "{name}: {stdout}");
    }
}

#[test]
fn validate_accepts_every_config_in_the_doc() {
    let dir = tempfile::tempdir().unwrap();
    for (i, text) in doc_configs().iter().enumerate() {
        let path = dir.path().join(format!("config-{i}.yaml"));
        std::fs::write(&path, text).unwrap();
        let out = autoheal(&["validate", "--config", path.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("targets"), "{stdout}");
        assert!(stdout.ends_with("ok\n"), "{stdout}");
    }
}
