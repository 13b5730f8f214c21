//! What ships to run autoheal elsewhere (Dockerfile, deploy/): the files parse, the configs
//! they carry pass autoheal's own `validate`, and the pieces agree with each other (ports,
//! paths, the user, the RBAC the rollout-restart playbook needs). No network, no cluster.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_norway::Value;

#[path = "deploy/files.rs"]
mod files;
use files::*;

const BIN: &str = env!("CARGO_BIN_EXE_autoheal-tui");

fn validate(config: &Path) -> Output {
    Command::new(BIN)
        .args(["validate", "--config"])
        .arg(config)
        .env("HOME", tempfile::tempdir().unwrap().keep())
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap()
}

/// Runs the healer's init container script, as the pod would, on the shipped template.
fn render_healer_config(pod_ip: &str, key: &str) -> (Output, PathBuf) {
    let sts = object("StatefulSet", "autoheal-healer");
    let init = &sts["spec"]["template"]["spec"]["initContainers"][0];
    assert_eq!(str_of(&init["name"]), "render-config");
    assert_eq!(init["command"][0].as_str(), Some("/bin/sh"));
    let script = str_of(&init["args"][0]);
    let dir = tempfile::tempdir().unwrap().keep();
    let template = dir.join("template.yaml");
    std::fs::write(&template, embedded_config("autoheal-healer-config")).unwrap();
    let rendered = dir.join("config.yaml");
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-c", script])
        .env("PATH", path)
        .env("HOME", &dir)
        .env("POD_NAME", "autoheal-healer-1")
        .env("POD_IP", pod_ip)
        .env("AUTOHEAL_ALERTMANAGER_KEY", key)
        .env("CONFIG_TEMPLATE", &template)
        .env("CONFIG", &rendered)
        .output()
        .unwrap();
    (out, rendered)
}

#[test]
fn every_yaml_file_under_deploy_parses() {
    let files = yaml_files();
    for wanted in [
        "deploy/prometheus.yml",
        "deploy/alertmanager.yml",
        "deploy/kubernetes/kustomization.yaml",
    ] {
        assert!(files.iter().any(|(p, _)| p == wanted), "{wanted} missing");
    }
    for (path, text) in &files {
        let docs = documents(path, text);
        assert!(!docs.is_empty(), "{path} is empty");
        if path.starts_with("deploy/kubernetes/") {
            for doc in &docs {
                for key in ["apiVersion", "kind"] {
                    assert!(
                        doc[key].as_str().is_some(),
                        "{path}: an object without {key}"
                    );
                }
            }
        }
    }
}

#[test]
fn kustomization_applies_every_manifest_in_its_directory() {
    let k: Value = serde_norway::from_str(&read("deploy/kubernetes/kustomization.yaml")).unwrap();
    let listed: BTreeSet<String> = seq(&k["resources"])
        .iter()
        .map(|r| str_of(r).to_string())
        .collect();
    let present: BTreeSet<String> = yaml_files()
        .into_iter()
        .filter_map(|(p, _)| p.strip_prefix("deploy/kubernetes/").map(String::from))
        .filter(|p| p != "kustomization.yaml")
        .collect();
    assert_eq!(listed, present);
    // A kustomize-wide namespace would move the Role out of the namespace it is for.
    assert!(k.get("namespace").is_none());
}

#[test]
fn the_agents_config_passes_validate() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, embedded_config("autoheal-agent-config")).unwrap();
    let out = validate(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 targets"), "{stdout}");
}

#[test]
fn each_healer_replica_gets_its_own_name_and_address_and_a_valid_config() {
    let (out, rendered) = render_healer_config("10.1.2.3", "0123abcd");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The init container's own `validate` passed; the replica's values are in place.
    assert!(stdout.contains("ok"), "{stdout}");
    let config: Value =
        serde_norway::from_str(&std::fs::read_to_string(&rendered).unwrap()).unwrap();
    assert_eq!(config["ha"]["name"].as_str(), Some("autoheal-healer-1"));
    assert_eq!(
        config["ha"]["advertise"].as_str(),
        Some("http://10.1.2.3:7311")
    );
    assert_eq!(config["ha"]["lease_ttl"].as_str(), Some("5s"));
    assert_eq!(config["api"]["keys"][0]["key"].as_str(), Some("0123abcd"));
    assert_eq!(config["api"]["keys"][0]["role"].as_str(), Some("intake"));

    let (out, rendered) = render_healer_config("fd00::7", "0123abcd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: Value =
        serde_norway::from_str(&std::fs::read_to_string(&rendered).unwrap()).unwrap();
    assert_eq!(
        config["ha"]["advertise"].as_str(),
        Some("http://[fd00::7]:7311")
    );
}

#[test]
fn the_healer_refuses_a_key_that_would_change_its_config() {
    for key in ["", "a\"b", "x, role: operate }", "a b"] {
        let (out, rendered) = render_healer_config("10.1.2.3", key);
        assert_eq!(out.status.code(), Some(1), "key {key:?} was taken");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("render-config:"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!rendered.exists(), "a config was written for key {key:?}");
    }
}

#[test]
fn containers_run_as_the_images_user_never_root_with_read_only_roots() {
    let user = runtime_user();
    for (workload, pod) in workloads() {
        let sc = &pod["securityContext"];
        assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true), "{workload}");
        assert_eq!(
            sc["runAsUser"].as_u64(),
            Some(user),
            "{workload}: the image's uid"
        );
        assert!(
            pod.get("hostNetwork").is_none(),
            "{workload} needs no host network"
        );
        let containers = seq(&pod["containers"])
            .into_iter()
            .chain(seq(&pod["initContainers"]));
        for c in containers {
            let name = format!("{workload}/{}", str_of(&c["name"]));
            let csc = &c["securityContext"];
            assert_eq!(
                csc["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{name}"
            );
            assert_eq!(
                csc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{name}"
            );
            assert_eq!(
                seq(&csc["capabilities"]["drop"]),
                vec![Value::from("ALL")],
                "{name}"
            );
            assert!(
                csc.get("privileged").is_none() && csc.get("runAsUser").is_none(),
                "{name}"
            );
        }
        // Whatever the pod takes from its node, it only reads.
        let host_volumes: Vec<String> = seq(&pod["volumes"])
            .iter()
            .filter(|v| v.get("hostPath").is_some())
            .map(|v| str_of(&v["name"]).to_string())
            .collect();
        for c in seq(&pod["containers"]) {
            for m in seq(&c["volumeMounts"]) {
                if host_volumes.iter().any(|h| h == str_of(&m["name"])) {
                    assert_eq!(m["readOnly"].as_bool(), Some(true), "{workload}: {m:?}");
                }
            }
        }
    }
}

#[test]
fn the_image_runs_serve_as_a_fixed_non_root_user_with_the_journal_on_a_volume() {
    runtime_user();
    let stage = runtime_stage();
    assert!(
        stage[0].starts_with("FROM debian:bookworm-slim"),
        "{}",
        stage[0]
    );
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert_eq!(exec_form("ENTRYPOINT"), ["autoheal-tui"]);
    assert_eq!(exec_form("CMD")[0], "serve");
    let journal = cmd_flag("--journal");
    let volume = stage
        .iter()
        .find_map(|l| l.strip_prefix("VOLUME "))
        .expect("a VOLUME");
    assert!(
        Path::new(&journal).starts_with(volume),
        "journal {journal} is not on VOLUME {volume}"
    );
    assert_eq!(cmd_flag("--config"), "/etc/autoheal/config.yaml");
    // A container is reached from outside it: the API listens on every address.
    let listen = cmd_flag("--listen");
    let port = listen.strip_prefix("0.0.0.0:").expect("listens on 0.0.0.0");
    assert!(stage.contains(&format!("EXPOSE {port}")), "EXPOSE {port}");
    assert!(
        read(".dockerignore")
            .lines()
            .any(|l| l.trim_end_matches('/') == "target")
    );
}

#[test]
fn config_and_journal_are_on_volumes_in_every_workload() {
    let config_path = cmd_flag("--config");
    let journal = cmd_flag("--journal");
    for (configmap, kind, name) in [
        ("autoheal-agent-config", "DaemonSet", "autoheal-agent"),
        ("autoheal-healer-config", "StatefulSet", "autoheal-healer"),
    ] {
        let workload = object(kind, name);
        let container = &workload["spec"]["template"]["spec"]["containers"][0];
        // The image's CMD runs: the paths the manifests mount are the image's.
        assert!(
            container.get("args").is_none() && container.get("command").is_none(),
            "{name}"
        );
        let config: Value = serde_norway::from_str(&embedded_config(configmap)).unwrap();
        assert_eq!(
            config["journal"].as_str(),
            Some(journal.as_str()),
            "{configmap}"
        );

        let mount =
            mount_of(container, &journal).unwrap_or_else(|| panic!("{name}: journal not mounted"));
        assert_ne!(
            mount["readOnly"].as_bool(),
            Some(true),
            "{name}: journal read-only"
        );
        let volume = str_of(&mount["name"]);
        let backed = seq(&workload["spec"]["template"]["spec"]["volumes"])
            .iter()
            .any(|v| v["name"].as_str() == Some(volume) && v.get("emptyDir").is_some())
            || seq(&workload["spec"]["volumeClaimTemplates"])
                .iter()
                .any(|c| c["metadata"]["name"].as_str() == Some(volume));
        assert!(
            backed,
            "{name}: journal volume {volume} is neither an emptyDir nor a claim"
        );

        let mount =
            mount_of(container, &config_path).unwrap_or_else(|| panic!("{name}: no config"));
        assert_eq!(
            mount["readOnly"].as_bool(),
            Some(true),
            "{name}: config writable"
        );
    }
    // The healer's journals outlive their pods: one claim per replica.
    let healer = object("StatefulSet", "autoheal-healer");
    assert_eq!(healer["spec"]["replicas"].as_u64(), Some(2));
    let pdb = object("PodDisruptionBudget", "autoheal-healer");
    assert_eq!(pdb["spec"]["minAvailable"].as_u64(), Some(1));
}

#[test]
fn the_healer_may_restart_deployments_in_its_targets_namespaces_and_nothing_cluster_wide() {
    let all = objects();
    for o in &all {
        let kind = str_of(&o["kind"]);
        assert!(!kind.starts_with("Cluster"), "a cluster-wide {kind}");
    }
    let role = object("Role", "autoheal-rollout-restart");
    let rules = seq(&role["rules"]);
    let allows = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            seq(&r["apiGroups"]).contains(&Value::from(group))
                && seq(&r["resources"]).contains(&Value::from(resource))
                && seq(&r["verbs"]).contains(&Value::from(verb))
        })
    };
    assert!(
        allows("apps", "deployments", "patch"),
        "rollout restart patches the deployment"
    );
    for verb in ["get", "watch"] {
        assert!(
            allows("apps", "deployments", verb),
            "rollout status needs {verb}"
        );
    }
    for rule in &rules {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(
                !seq(&rule[field]).contains(&Value::from("*")),
                "a wildcard in {rule:?}"
            );
        }
        assert!(
            !seq(&rule["resources"]).contains(&Value::from("secrets")),
            "{rule:?}"
        );
        for verb in seq(&rule["verbs"]) {
            let allowed = ["get", "list", "watch", "patch"];
            assert!(
                allowed.contains(&str_of(&verb)),
                "{verb:?} is more than the playbook runs"
            );
        }
    }

    // Bound to the healer's own account, in every namespace a kubernetes target names.
    let binding = object("RoleBinding", "autoheal-rollout-restart");
    assert_eq!(binding["roleRef"]["kind"].as_str(), Some("Role"));
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["metadata"]["namespace"],
        role["metadata"]["namespace"]
    );
    let healer = object("StatefulSet", "autoheal-healer");
    let subject = &binding["subjects"][0];
    assert_eq!(
        subject["name"],
        healer["spec"]["template"]["spec"]["serviceAccountName"]
    );
    assert_eq!(subject["namespace"], healer["metadata"]["namespace"]);
    let config: Value = serde_norway::from_str(&embedded_config("autoheal-healer-config")).unwrap();
    let namespaces: Vec<&Value> = config["targets"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|t| t["labels"]["autoheal.restart"].as_str() == Some("kubernetes"))
        .map(|t| &t["vars"]["namespace"])
        .collect();
    assert!(!namespaces.is_empty());
    for ns in namespaces {
        assert_eq!(
            ns, &role["metadata"]["namespace"],
            "no Role where the target lives"
        );
    }
    // The agent calls no Kubernetes API: it gets no token.
    let agent = object("DaemonSet", "autoheal-agent");
    assert_eq!(
        agent["spec"]["template"]["spec"]["automountServiceAccountToken"].as_bool(),
        Some(false)
    );
}

#[test]
fn prometheus_scrapes_the_port_the_service_exposes() {
    let service = object("Service", "autoheal-healer");
    let port = &service["spec"]["ports"][0];
    let port_number = port["port"].as_u64().unwrap();
    assert_eq!(port["targetPort"].as_str(), Some("api"));
    for (workload, pod) in workloads() {
        let ports = seq(&pod["containers"][0]["ports"]);
        let api = ports
            .iter()
            .find(|p| p["name"].as_str() == Some("api"))
            .unwrap_or_else(|| panic!("{workload}"));
        assert_eq!(
            api["containerPort"].as_u64(),
            Some(port_number),
            "{workload}"
        );
    }
    let prometheus: Value = serde_norway::from_str(&read("deploy/prometheus.yml")).unwrap();
    let job = &prometheus["scrape_configs"][0];
    assert_eq!(job["metrics_path"].as_str(), Some("/metrics"));
    let keeps: Vec<&Value> = job["relabel_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|r| r["action"].as_str() == Some("keep"))
        .collect();
    let kept_port = keeps
        .iter()
        .find(|r| {
            r["source_labels"][0].as_str() == Some("__meta_kubernetes_pod_container_port_number")
        })
        .expect("keeps one port");
    assert_eq!(
        kept_port["regex"].as_str(),
        Some(port_number.to_string().as_str())
    );
    // The pods carry what the job keeps them by.
    for kind_name in [
        ("DaemonSet", "autoheal-agent"),
        ("StatefulSet", "autoheal-healer"),
    ] {
        let meta = &object(kind_name.0, kind_name.1)["spec"]["template"]["metadata"];
        assert_eq!(
            meta["annotations"]["prometheus.io/scrape"].as_str(),
            Some("true")
        );
        assert_eq!(
            meta["labels"]["app.kubernetes.io/name"].as_str(),
            Some("autoheal")
        );
    }
    let local = &prometheus["scrape_configs"][1]["static_configs"][0]["targets"][0];
    assert_eq!(
        local.as_str(),
        Some(format!("127.0.0.1:{port_number}").as_str())
    );
}

#[test]
fn alertmanager_posts_to_the_healers_webhook_by_an_allowed_name() {
    let am: Value = serde_norway::from_str(&read("deploy/alertmanager.yml")).unwrap();
    assert_eq!(am["route"]["receiver"], am["receivers"][0]["name"]);
    let hook = &am["receivers"][0]["webhook_configs"][0];
    assert_eq!(
        hook["send_resolved"].as_bool(),
        Some(true),
        "incidents must close"
    );
    let url = str_of(&hook["url"]);
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_once('/').unwrap();
    assert_eq!(path, "api/alertmanager");
    let (host, port) = authority.split_once(':').unwrap();
    let service = object("Service", "autoheal-healer");
    assert_eq!(
        port.parse::<u64>().ok(),
        service["spec"]["ports"][0]["port"].as_u64()
    );
    assert!(host.starts_with("autoheal-healer."), "{host}");
    let config: Value = serde_norway::from_str(&embedded_config("autoheal-healer-config")).unwrap();
    assert!(
        seq(&config["api"]["allowed_hosts"]).contains(&Value::from(host)),
        "{host} would get 403"
    );
    let auth = &hook["http_config"]["authorization"];
    assert_eq!(auth["type"].as_str(), Some("Bearer"));
    assert!(
        auth["credentials_file"]
            .as_str()
            .is_some_and(|f| f.ends_with("/alertmanager"))
    );
}

/// The image's CMD with its paths moved into `dir` and the port chosen by the system.
fn image_command(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("var")).unwrap();
    exec_form("CMD")
        .into_iter()
        .map(|arg| {
            arg.replace("/etc/autoheal", &dir.join("etc").display().to_string())
                .replace("/var/lib/autoheal", &dir.join("var").display().to_string())
                .replace("0.0.0.0:7311", "0.0.0.0:0")
        })
        .collect()
}

fn get(port: u16, path: &str, token: Option<&str>) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn the_images_command_serves_the_agent_config_only_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let args = image_command(dir.path());
    let journal = PathBuf::from(&args[args.iter().position(|a| a == "--journal").unwrap() + 1]);
    std::fs::write(
        dir.path().join("etc/config.yaml"),
        embedded_config("autoheal-agent-config").replace(
            "/var/lib/autoheal",
            &dir.path().join("var").display().to_string(),
        ),
    )
    .unwrap();
    let run = |token: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .env("HOME", dir.path())
            .env_remove("AUTOHEAL_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(token) = token {
            cmd.env("AUTOHEAL_TOKEN", token);
        }
        cmd
    };

    // `docker run` without AUTOHEAL_TOKEN: refused, and it says what to do.
    let out = run(None).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("AUTOHEAL_TOKEN"), "{stderr}");

    let mut child = run(Some("s3cret")).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let port = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("serve said where it listens");
        if let Some(rest) = line.split("API on http://0.0.0.0:").nth(1) {
            break rest.split(' ').next().unwrap().parse::<u16>().unwrap();
        }
    };
    // The API answers before the engine's first turn; /health is 200 from then on.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let health = loop {
        let health = get(port, "/health", None);
        if health.starts_with("HTTP/1.1 200") || std::time::Instant::now() > deadline {
            break health;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = get(port, "/status", None);
    let authorized = get(port, "/status", Some("s3cret"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("\"ok\""),
        "{health}"
    );
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    assert!(authorized.starts_with("HTTP/1.1 200"), "{authorized}");
    assert!(journal.exists(), "no journal at {}", journal.display());
}
