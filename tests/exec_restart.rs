//! An `exec` playbook brings back a real process that died.

mod common;

use std::path::Path;
use std::time::Duration;

use autoheal::event::EventKind;
use common::rig;

const START: &str = "cd {{dir}} && python3 -m http.server {{port}} --bind 127.0.0.1 >/dev/null 2>&1 & echo $! > {{pidfile}}";

fn pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn kill(pid: i32) {
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_playbook_restarts_a_killed_process() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: python3 is not installed (apt-get install -y python3)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let pidfile = dir.path().join("web.pid");
    let config = format!(
        "targets:\n  - name: web\n    http: {{ url: 'http://127.0.0.1:{port}/' }}\n    interval: 300ms\n    vars: {{ port: '{port}', pidfile: '{}', dir: '{}' }}\npolicy: {{ verify_within: 10s }}\n",
        pidfile.display(),
        dir.path().display()
    );
    let playbook = format!(
        "name: restart-web\nmatch: {{ targets: [web], signature: CONNECTION_REFUSED }}\nseverity: high\nconfidence: 0.95\nsteps:\n  - name: start\n    exec: {{ shell: true, argv: ['{START}'], timeout: 5s }}\n"
    );

    // The service, started the way the playbook starts it.
    let script = START
        .replace("{{dir}}", &dir.path().display().to_string())
        .replace("{{port}}", &port.to_string())
        .replace("{{pidfile}}", &pidfile.display().to_string());
    std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert!(
        common::accepting(port).await,
        "python3 -m http.server did not start"
    );
    let first = pid(&pidfile);

    let mut rig = rig(dir, &config, &[&playbook]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    kill(first);

    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match rig.events.recv().await.unwrap().kind {
                EventKind::IncidentResolved { .. } => return Ok(()),
                EventKind::IncidentEscalated { reason, .. } => return Err(reason),
                _ => {}
            }
        }
    })
    .await;
    let second = pid(&pidfile);
    let (state, _journal, _dir) = rig.stop().await;
    let back = alive(second) && common::accepting(port).await;
    kill(second);
    assert_eq!(outcome, Ok(Ok(())), "{:#?}", state.incidents);
    assert_ne!(first, second, "a new process was started");
    assert!(back, "the restarted server answers");
    let incident = state.incidents.values().next().unwrap();
    assert_eq!(incident.signature, "CONNECTION_REFUSED");
    assert_eq!(incident.attempts[0].ok, Some(true));
}
