//! Reading what ships: the YAML under deploy/, the Kubernetes objects in it, and the
//! Dockerfile's runtime stage.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_norway::Value;

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every YAML file under deploy/, recursively, as (path relative to the repo, text).
pub fn yaml_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&repo("deploy"), &mut paths);
    paths.sort();
    let root = repo("");
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().display().to_string();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Each document of a (multi-document) YAML text.
pub fn documents(path: &str, text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

/// Every Kubernetes object under deploy/kubernetes.
pub fn objects() -> Vec<Value> {
    yaml_files()
        .iter()
        .filter(|(path, _)| path.starts_with("deploy/kubernetes/"))
        .flat_map(|(path, text)| documents(path, text))
        .filter(|doc| doc["kind"].as_str() != Some("Kustomization"))
        .collect()
}

pub fn object(kind: &str, name: &str) -> Value {
    objects()
        .into_iter()
        .find(|o| o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name} under deploy/kubernetes"))
}

pub fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

pub fn seq(v: &Value) -> Vec<Value> {
    v.as_sequence().cloned().unwrap_or_default()
}

/// The workloads (DaemonSet, StatefulSet, Deployment) and their pod templates.
pub fn workloads() -> Vec<(String, Value)> {
    let found: Vec<_> = objects()
        .into_iter()
        .filter(|o| {
            matches!(
                o["kind"].as_str(),
                Some("DaemonSet" | "StatefulSet" | "Deployment")
            )
        })
        .map(|o| {
            let name = format!("{} {}", str_of(&o["kind"]), str_of(&o["metadata"]["name"]));
            (name, o["spec"]["template"]["spec"].clone())
        })
        .collect();
    assert!(found.len() >= 2, "the agent and the healer: {found:?}");
    found
}

/// The autoheal config a ConfigMap carries.
pub fn embedded_config(configmap: &str) -> String {
    str_of(&object("ConfigMap", configmap)["data"]["config.yaml"]).to_string()
}

/// The Dockerfile's last stage, what the image runs: one instruction a line, continued
/// lines joined, comments left out.
pub fn runtime_stage() -> Vec<String> {
    let mut instructions: Vec<String> = Vec::new();
    let mut continued = false;
    for line in read("Dockerfile").lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let text = line.trim_end_matches('\\').trim();
        match instructions.last_mut() {
            Some(last) if continued => {
                last.push(' ');
                last.push_str(text);
            }
            _ => instructions.push(text.to_string()),
        }
        continued = line.ends_with('\\');
    }
    let from = instructions
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("a FROM");
    instructions.split_off(from)
}

/// A JSON-form instruction of the runtime stage (`CMD ["serve", ...]`).
pub fn exec_form(instruction: &str) -> Vec<String> {
    let prefix = format!("{instruction} ");
    let line = runtime_stage()
        .into_iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {instruction} in the runtime stage"));
    serde_json::from_str(&line[prefix.len()..])
        .unwrap_or_else(|e| panic!("{instruction} is not in exec (JSON) form: {e}"))
}

/// The value after `flag` in the image's CMD.
pub fn cmd_flag(flag: &str) -> String {
    let cmd = exec_form("CMD");
    let at = cmd
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("CMD has no {flag}: {cmd:?}"));
    cmd[at + 1].clone()
}

/// The uid of the runtime stage's USER, which must not be root.
pub fn runtime_user() -> u64 {
    let user = runtime_stage()
        .into_iter()
        .rfind(|l| l.starts_with("USER "))
        .expect("the runtime stage sets a USER");
    let uid = user["USER ".len()..].split(':').next().unwrap_or_default();
    let uid: u64 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER should be a fixed numeric uid: {user}"));
    assert_ne!(uid, 0, "the image runs as root");
    uid
}

/// The mount of `path` in a container: the deepest mount path it lies under.
pub fn mount_of<'a>(container: &'a Value, path: &str) -> Option<&'a Value> {
    container["volumeMounts"]
        .as_sequence()?
        .iter()
        .filter(|m| Path::new(path).starts_with(str_of(&m["mountPath"])))
        .max_by_key(|m| str_of(&m["mountPath"]).len())
}
