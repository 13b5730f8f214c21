//! `autoheal-tui replay`: a recorded journal re-planned under changed playbooks,
//! through the release-style binary as a CI job would run it.

mod common;

use std::path::Path;
use std::process::Command;

/// Runs `replay JOURNAL --demo --playbooks DIR ARGS` with a HOME of its own
/// (so no user playbooks join in); its exit code and stdout.
fn replay(journal: &Path, playbooks: &Path, args: &[&str]) -> (i32, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
        .arg("replay")
        .arg(journal)
        .arg("--demo")
        .arg("--playbooks")
        .arg(playbooks)
        .args(args)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some(), "{stderr}");
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &stderr,
    )
}

/// The shipped playbooks (demo ones included) as `edit` leaves them: it gets
/// each file's name and text and returns the text to keep, or `None` to drop it.
fn playbooks(edit: impl Fn(&str, String) -> Option<String>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    for (from, into) in [
        (shipped.clone(), dir.path().to_path_buf()),
        (shipped.join("demo"), dir.path().join("demo")),
    ] {
        std::fs::create_dir_all(&into).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if let Some(text) = edit(&name, text) {
                std::fs::write(into.join(&name), text).unwrap();
            }
        }
    }
    dir
}

#[tokio::test]
async fn a_lowered_confidence_moves_exactly_its_incidents_from_automatic_to_approval() {
    // A recorded journal: one NET_SPIKE and one DB_TIMEOUT, both fixed automatically.
    let mut run = common::demo(|_, _| {}).await;
    run.inject("edge-proxy", "NET_SPIKE").await;
    let spike = run.detected("edge-proxy", "NET_SPIKE").await;
    run.resolved(spike).await;
    run.inject("orders-db", "DB_TIMEOUT").await;
    let pool = run.detected("orders-db", "DB_TIMEOUT").await;
    run.resolved(pool).await;
    let (_, journal, _dir) = run.stop().await;

    // The same playbooks: nothing moves.
    let same = playbooks(|_, text| Some(text));
    let (code, out) = replay(&journal, same.path(), &["--fail-on", "changed"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 incidents: 2 same, 0 changed"), "{out}");

    // net-spike's confidence drops below the 0.90 threshold.
    let lowered = playbooks(|name, text| match name {
        "net-spike.yaml" => Some(text.replace("confidence: 0.92", "confidence: 0.50")),
        _ => Some(text),
    });
    let (code, out) = replay(&journal, lowered.path(), &["--json"]);
    assert_eq!(code, 0, "no --fail-on: {out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect(&out);
    let changed: Vec<&serde_json::Value> = report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["change"] != "same")
        .collect();
    assert_eq!(changed.len(), 1, "{report:#}");
    let moved = changed[0];
    assert_eq!(moved["incident_id"], spike.0, "{moved:#}");
    assert_eq!(moved["change"], "changed");
    assert_eq!(moved["before"]["decision"], "auto");
    assert_eq!(moved["after"]["decision"], "approval_required");
    assert_eq!(moved["after"]["playbook"], "demo-enable-waf");
    assert!(
        moved["after"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("confidence 0.50 is below 0.90")),
        "{moved:#}"
    );
    assert_eq!(report["summary"]["same"], 1, "{report:#}");

    // As a CI gate: the table names the incident, and the exit code fails the job.
    let (code, out) = replay(&journal, lowered.path(), &["--fail-on", "changed"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("#{}", spike.0)), "{out}");
    assert!(!out.contains(&format!("#{} ", pool.0)), "{out}");
    let (code, out) = replay(&journal, lowered.path(), &["--fail-on", "newly-automatic"]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_playbook_removed_leaves_its_incidents_newly_unmatched_and_a_bad_flag_is_named() {
    let mut run = common::demo(|_, _| {}).await;
    run.inject("edge-proxy", "NET_SPIKE").await;
    let spike = run.detected("edge-proxy", "NET_SPIKE").await;
    run.resolved(spike).await;
    let (_, journal, _dir) = run.stop().await;
    // Neither the WAF playbook nor the demo's catch-all restart is deployed any more.
    let gone = playbooks(|name, text| {
        (!matches!(name, "net-spike.yaml" | "fallback-restart.yaml")).then_some(text)
    });
    let (code, out) = replay(&journal, gone.path(), &["--fail-on", "unmatched"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("newly-unmatched"), "{out}");
    let (code, out) = replay(&journal, gone.path(), &["--fail-on", "sometimes"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("`sometimes`"), "{out}");
}
