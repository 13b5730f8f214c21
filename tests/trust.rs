//! The trust boundary, end to end: what a peer reports (signatures, alert
//! labels) is data. It cannot steer a command or opt a target into a playbook.
//! Real engines, real child processes.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use autoheal::event::{Command, EventKind, IncidentId};
use common::{Rig, rig};

const WAIT: Duration = Duration::from_secs(5);

/// A target nobody probes: only reports open incidents on it.
fn passive(name: &str, extra: &str) -> String {
    format!("  - name: {name}\n    passive: {{}}\n{extra}")
}

/// Reports a firing alert about `target`, as Alertmanager or intake would.
async fn report(rig: &Rig, target: &str, signature: &str, labels: &[(&str, &str)]) {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    rig.send(Command::Ingest {
        source: "alertmanager".into(),
        target: target.into(),
        text: signature.into(),
        severity: None,
        detail: "reported".into(),
        labels,
        firing: true,
        trace_id: None,
        started_at: None,
    })
    .await;
}

async fn detected(rig: &mut Rig, signature: &str) -> IncidentId {
    let event = rig
        .wait_for(
            WAIT,
            &format!("detection of {signature}"),
            |k| matches!(k, EventKind::IncidentDetected { signature: s, .. } if s == signature),
        )
        .await;
    event.kind.incident_id().unwrap()
}

/// The reason `id` was escalated with.
async fn escalated(rig: &mut Rig, id: IncidentId) -> String {
    let event = rig
        .wait_for(
            WAIT,
            &format!("escalation of {id}"),
            |k| matches!(k, EventKind::IncidentEscalated { incident_id, .. } if *incident_id == id),
        )
        .await;
    match event.kind {
        EventKind::IncidentEscalated { reason, .. } => reason,
        _ => unreachable!(),
    }
}

/// Whether `id`'s action ran to completion with success.
async fn action_ok(rig: &mut Rig, id: IncidentId) -> bool {
    let event = rig
        .wait_for(
            WAIT,
            &format!("action of {id}"),
            |k| matches!(k, EventKind::ActionFinished { incident_id, .. } if *incident_id == id),
        )
        .await;
    matches!(event.kind, EventKind::ActionFinished { ok: true, .. })
}

fn started(rig: &Rig, id: IncidentId) -> bool {
    rig.seen.iter().any(
        |e| matches!(&e.kind, EventKind::ActionStarted { incident_id, .. } if *incident_id == id),
    )
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const TOUCH: &str = "name: flag\nmatch: { targets: [svc], signature: '*' }\nseverity: high\nconfidence: 0.95\nsteps:\n  - name: touch\n    exec: { argv: [touch, '{{flags}}/{{signature}}'], timeout: 5s }\n";

#[tokio::test]
async fn a_signature_that_climbs_out_of_its_directory_is_refused_and_escalated() {
    let dir = tempfile::tempdir().unwrap();
    // `flags/../../escape` would be `<dir>/escape`.
    let flags = dir.path().join("a").join("flags");
    std::fs::create_dir_all(&flags).unwrap();
    let vars = format!("    vars: {{ flags: '{}' }}\n", flags.display());
    let config = format!("targets:\n{}", passive("svc", &vars));
    let mut rig = rig(dir, &config, &[TOUCH]);

    // A name that climbs (`..`) reaches the template check, which refuses it.
    report(&rig, "svc", "x..escape", &[]).await;
    let refused = detected(&mut rig, "x..escape").await;
    let reason = escalated(&mut rig, refused).await;
    // Words that are not one plain name become one, `ESCAPE`, which runs the
    // same playbook; the words are kept beside it.
    report(&rig, "svc", "../../escape", &[]).await;
    let worded = detected(&mut rig, "ESCAPE").await;
    assert!(action_ok(&mut rig, worded).await, "{}", rig.transcript());

    assert_eq!(
        reason,
        "step touch refused: signature \"x..escape\" is not a plain token: it contains `..` \
         (a value from outside goes into a command or URL only as letters, digits and \
         `._:@=+-`, not starting with `-`, without `..`)"
    );
    assert!(!started(&rig, refused), "nothing ran: {}", rig.transcript());
    assert_eq!(files_in(&flags), ["ESCAPE"]);
    let detection = rig.seen_kind("incident_detected")[1].clone();
    let line = serde_json::to_value(&detection).unwrap();
    assert_eq!(
        line["text"], "../../escape",
        "the reporter's words are journaled"
    );
    let (state, _, dir) = rig.stop().await;
    assert!(!dir.path().join("escape").exists(), "the signature escaped");
    assert_eq!(
        files_in(dir.path()),
        ["a", "journal.jsonl", "journal.jsonl.snapshot", "playbooks"]
    );
    // A human has it, with the reason, in the audit journal too.
    assert_eq!(state.incidents[&refused].reason, reason);
    let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
    let line = journal
        .lines()
        .find(|l| l.contains("\"incident_escalated\"") && l.contains("x..escape"))
        .expect("the refusal is journaled");
    assert!(line.contains("not a plain token"), "{line}");
    // Refusing is not failing: the step's record counts no failure.
    assert!(
        state.learning.values().all(|r| r.failures == 0),
        "{:?}",
        state.learning
    );
}

#[tokio::test]
async fn a_signature_that_looks_like_an_option_never_reaches_argv() {
    let dir = tempfile::tempdir().unwrap();
    // Records its argv, one argument per line.
    let recorder = dir.path().join("record.sh");
    let log = dir.path().join("argv.log");
    std::fs::write(
        &recorder,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&recorder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let vars = format!("    vars: {{ recorder: '{}' }}\n", recorder.display());
    let config = format!("targets:\n{}", passive("svc", &vars));
    let book = "name: clean\nmatch: { targets: [svc], signature: '*' }\nseverity: high\nconfidence: 0.95\nsteps:\n  - name: clean\n    exec: { argv: ['{{recorder}}', '{{signature}}'], timeout: 5s }\n";
    let mut rig = rig(dir, &config, &[book]);

    report(&rig, "svc", "-rf", &[]).await;
    let refused = detected(&mut rig, "-rf").await;
    let reason = escalated(&mut rig, refused).await;
    report(&rig, "svc", "DB_TIMEOUT", &[]).await;
    let plain = detected(&mut rig, "DB_TIMEOUT").await;
    assert!(action_ok(&mut rig, plain).await, "{}", rig.transcript());

    assert!(
        reason.starts_with(
            "step clean refused: signature \"-rf\" is not a plain token: it starts with `-`"
        ),
        "{reason}"
    );
    assert!(!started(&rig, refused));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "DB_TIMEOUT\n");
    rig.stop().await;
}

const OPT_IN: &str = "name: systemd-like\nmatch: { labels: { autoheal.restart: systemd }, signature: '*' }\nseverity: high\nconfidence: 0.95\nsteps:\n  - name: restart\n    exec: { argv: [touch, '{{flags}}/{{target}}'], timeout: 5s }\n";

#[tokio::test]
async fn an_alert_cannot_opt_a_target_into_a_playbook() {
    let dir = tempfile::tempdir().unwrap();
    let flags = dir.path().join("flags");
    std::fs::create_dir(&flags).unwrap();
    let vars = format!("    vars: {{ flags: '{}' }}\n", flags.display());
    let opted = format!("{vars}    labels: {{ autoheal.restart: systemd }}\n");
    let config = format!(
        "targets:\n{}{}",
        passive("plain", &vars),
        passive("opted", &opted)
    );
    let mut rig = rig(dir, &config, &[OPT_IN]);

    // A peer claims the opt-in label, in any case.
    let claims = [
        ("autoheal.restart", "systemd"),
        ("AutoHeal.Restart", "systemd"),
    ];
    report(&rig, "plain", "HighErrorRate", &claims).await;
    let forged = detected(&mut rig, "HighErrorRate").await;
    let reason = escalated(&mut rig, forged).await;
    // On the operator's opted-in target, a peer cannot switch the label off either.
    report(
        &rig,
        "opted",
        "HighLatency",
        &[("autoheal.restart", "docker")],
    )
    .await;
    let real = detected(&mut rig, "HighLatency").await;
    assert!(action_ok(&mut rig, real).await, "{}", rig.transcript());

    assert!(reason.starts_with("no playbook matches"), "{reason}");
    assert!(!started(&rig, forged));
    assert_eq!(files_in(&flags), ["opted"]);
    rig.stop().await;
}

const SHOP: &str = "name: shop-fix\nmatch: { labels: { team: shop }, signature: '*' }\nseverity: high\nconfidence: 0.95\nsteps:\n  - name: touch\n    exec: { argv: [touch, '{{flags}}/{{signature}}'], timeout: 5s }\n";

#[tokio::test]
async fn an_alerts_labels_choose_no_playbook_once_it_is_resolved() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let flags = dir.path().join("flags");
    std::fs::create_dir(&flags).unwrap();
    let config = format!(
        "defaults: {{ interval: 100ms, failure_threshold: 1 }}\ntargets:\n  - name: svc\n    tcp: {{ address: '{address}' }}\n    vars: {{ flags: '{}' }}\n",
        flags.display()
    );
    let mut rig = rig(dir, &config, &[SHOP]);
    // An alert says the service belongs to `team: shop`, then that it is over.
    report(&rig, "svc", "HighLatency", &[("team", "shop")]).await;
    let alerted = detected(&mut rig, "HighLatency").await;
    assert!(action_ok(&mut rig, alerted).await, "{}", rig.transcript());
    rig.send(Command::Ingest {
        source: "alertmanager".into(),
        target: "svc".into(),
        text: "HighLatency".into(),
        severity: None,
        detail: String::new(),
        labels: BTreeMap::new(),
        firing: false,
        trace_id: None,
        started_at: None,
    })
    .await;
    // Later the probe finds the port closed: the old alert's label picks nothing.
    drop(listener);
    let probed = detected(&mut rig, "CONNECTION_REFUSED").await;
    let reason = escalated(&mut rig, probed).await;
    assert!(reason.starts_with("no playbook matches"), "{reason}");
    assert_eq!(files_in(&flags), ["HighLatency"]);
    rig.stop().await;
}
