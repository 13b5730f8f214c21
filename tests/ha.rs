//! A highly available central healer over a real etcd (Debian's `etcd-server`,
//! installed by `.ci/run`): two replicas of `autoheal-tui serve`, the leader
//! killed with `kill -9` while its fix runs, the follower taking over, and the
//! fix run exactly once; then etcd itself stopped, and neither replica acts.

mod common;

use axum::routing::get;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEASE_TTL: Duration = Duration::from_secs(2);

/// One test at a time: two etcd servers and four replicas at once on a small
/// CI machine could delay a lease renewal past its deadline.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A child process killed when dropped, test failure or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// etcd on loopback with its data in `dir`; `None` (and a message) without the binary.
async fn etcd(dir: &Path) -> Option<(Killed, String)> {
    let bin = ["/usr/bin/etcd", "/usr/local/bin/etcd"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let (client, peer) = (common::free_port(), common::free_port());
    let url = format!("http://127.0.0.1:{client}");
    let child = Command::new(bin)
        .args(["--data-dir", &dir.join("etcd").display().to_string()])
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args([
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{peer}"),
        ])
        .args([
            "--initial-cluster",
            &format!("default=http://127.0.0.1:{peer}"),
        ])
        .stdout(Stdio::null())
        // Read when a test cannot get a leader: etcd says why it did not start.
        .stderr(std::fs::File::create(dir.join("etcd.log")).ok()?)
        .spawn()
        .ok()?;
    let etcd = Killed(child);
    if !common::accepting(client).await {
        let log = std::fs::read_to_string(dir.join("etcd.log")).unwrap_or_default();
        panic!("etcd did not start on {url}:\n{log}");
    }
    Some((etcd, url))
}

/// A service whose health fails while the file `broken` exists in `dir`.
async fn service(dir: PathBuf) -> u16 {
    let broken = dir.join("broken");
    let app = axum::Router::new().route(
        "/health",
        get(move || {
            let broken = broken.clone();
            async move {
                match broken.exists() {
                    true => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "BROKEN_FLAG"),
                    false => (axum::http::StatusCode::OK, "ok"),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

struct Replica {
    name: &'static str,
    child: Child,
    journal: PathBuf,
    api: String,
}

impl Replica {
    fn start(name: &'static str, dir: &Path, config: &Path) -> Replica {
        let journal = dir.join(format!("{name}.jsonl"));
        let port = common::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_autoheal-tui"))
            .arg("serve")
            .args(["--config", &config.display().to_string()])
            .args(["--journal", &journal.display().to_string()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("XDG_CONFIG_HOME", dir.join("xdg"))
            .env("XDG_DATA_HOME", dir.join("xdg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("autoheal-tui starts");
        Replica {
            name,
            child,
            journal,
            api: format!("http://127.0.0.1:{port}"),
        }
    }

    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.journal)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn kinds(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }

    fn role(&self) -> Option<String> {
        let last = self.kinds("role_changed").pop()?;
        last["role"].as_str().map(str::to_string)
    }

    async fn wait(&self, what: &str, within: Duration, done: impl Fn(&Replica) -> bool) {
        let deadline = Instant::now() + within;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{}: no {what} within {within:?}; journal:\n{}",
                self.name,
                std::fs::read_to_string(&self.journal).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the replica's own state has `target` failing (`/api/state`).
    async fn failing(&self, target: &str) -> bool {
        let Ok(answer) = reqwest::get(format!("{}/api/state", self.api)).await else {
            return false;
        };
        let state: Value = answer.json().await.unwrap_or_default();
        state["state"]["targets"][target]["failing"] == true
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(dir: &Path, etcd: &str, service: u16, name: &str) -> PathBuf {
    let fixes = dir.join("fixes.log");
    let broken = dir.join("broken");
    let books = dir.join("playbooks");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::write(
        books.join("fix.yaml"),
        format!(
            "name: fix-svc\nmatch: {{ targets: [svc] }}\nseverity: high\nconfidence: 1.0\nsteps:\n  - name: fix\n    exec: {{ argv: [sh, -c, \"echo run >> {} && sleep 5 && rm -f {}\"], timeout: 10s }}\n---\nname: fix-billing\nmatch: {{ targets: [billing] }}\nseverity: high\nconfidence: 1.0\nsteps:\n  - name: fix\n    exec: {{ argv: [sh, -c, \"echo billing >> {}\"] }}\n",
            fixes.display(),
            broken.display(),
            fixes.display()
        ),
    )
    .unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "playbooks: [{}]\npolicy: {{ verify_within: 10s }}\ntargets:\n  - {{ name: billing, passive: {{}} }}\n  - name: svc\n    http: {{ url: \"http://127.0.0.1:{service}/health\" }}\n    interval: 200ms\n    timeout: 1s\n    failure_threshold: 1\nha: {{ etcd: [\"{etcd}\"], name: {name}, lease_ttl: {}s, prefix: /test }}\n",
            books.display(),
            LEASE_TTL.as_secs()
        ),
    )
    .unwrap();
    path
}

fn fixes(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("fixes.log"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// etcd, the service, and two replicas of the healer: `a` leading, `b` following.
struct Pair {
    etcd: Killed,
    a: Replica,
    b: Replica,
    a_config: PathBuf,
    dir: tempfile::TempDir,
}

/// `None` (and a message) without etcd.
async fn pair() -> Option<Pair> {
    let dir = tempfile::tempdir().unwrap();
    let Some((etcd, url)) = etcd(dir.path()).await else {
        eprintln!("skipped: no etcd binary (apt-get install etcd-server)");
        return None;
    };
    let port = service(dir.path().to_path_buf()).await;
    let (a_config, b_config) = (
        config(dir.path(), &url, port, "a"),
        config(dir.path(), &url, port, "b"),
    );
    let a = Replica::start("a", dir.path(), &a_config);
    a.wait("leadership", Duration::from_secs(15), |r| {
        r.role().as_deref() == Some("leader")
    })
    .await;
    let b = Replica::start("b", dir.path(), &b_config);
    b.wait("following", Duration::from_secs(10), |r| {
        r.role().as_deref() == Some("follower")
    })
    .await;
    Some(Pair {
        etcd,
        a,
        b,
        a_config,
        dir,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_takes_over_a_killed_leader_and_the_fix_runs_once() {
    let _one = SERIAL.lock().await;
    let Some(Pair {
        etcd,
        mut a,
        b,
        a_config,
        dir,
    }) = pair().await
    else {
        return;
    };
    let health: Value = reqwest::get(format!("{}/health", b.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (health["role"]["role"].as_str(), health["replica"].as_str()),
        (Some("follower"), Some("b")),
        "{health}"
    );

    // A follower turns approvals away, naming the leader.
    let (status, error) = common::command(
        &b.api,
        r#"{"command":"approve","incident_id":1,"by":"ops"}"#,
    )
    .await;
    assert_eq!(status, 409, "{error}");
    assert!(error.contains("b follows a"), "{error}");

    // The service breaks; the leader's fix takes 5 s (longer than a takeover),
    // and the leader dies in it.
    std::fs::write(dir.path().join("broken"), "").unwrap();
    a.wait("the fix started", Duration::from_secs(5), |r| {
        !r.kinds("action_started").is_empty()
    })
    .await;
    // Journaled before its process runs: killed once the fix has really begun.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fixes(dir.path()) == 0 {
        assert!(Instant::now() < deadline, "the fix never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = &a.kinds("action_started")[0];
    let term = started["term"]
        .as_u64()
        .expect("an action carries its term");
    // What the claim in etcd costs: from the decision to the start.
    let at = |e: &Value| {
        e["ts"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    let analyzed = &a.kinds("incident_analyzed")[0];
    let claim = at(started).duration_since(at(analyzed));
    a.kill();
    let killed = Instant::now();
    b.wait("takeover", 3 * LEASE_TTL, |r| {
        r.role().as_deref() == Some("leader")
    })
    .await;
    let takeover = killed.elapsed();
    assert!(takeover <= 2 * LEASE_TTL, "took over in {takeover:?}");
    let new_term = b.kinds("role_changed").pop().unwrap()["term"]
        .as_u64()
        .unwrap();
    assert!(new_term > term, "{new_term} > {term}");
    b.wait("the incident resolved", Duration::from_secs(15), |r| {
        !r.kinds("incident_resolved").is_empty()
    })
    .await;
    assert!(b.kinds("action_started").is_empty(), "b ran nothing");
    let skipped = b.kinds("action_skipped");
    assert!(
        skipped.iter().any(|e| e["reason"]
            .as_str()
            .unwrap_or("")
            .contains("already started")),
        "{skipped:?}"
    );
    assert_eq!(fixes(dir.path()), 1, "the fix ran exactly once");
    eprintln!(
        "takeover after kill -9: {takeover:?} (lease_ttl {LEASE_TTL:?}); claim before the fix: {} ms",
        claim.as_millis()
    );

    // etcd gone: no replica acts, whatever breaks.
    let a = Replica::start("a", dir.path(), &a_config);
    a.wait("following again", Duration::from_secs(10), |r| {
        r.role().as_deref() == Some("follower")
    })
    .await;
    drop(etcd);
    for r in [&a, &b] {
        r.wait("no quorum", 3 * LEASE_TTL, |r| {
            r.role().as_deref() == Some("no_quorum")
        })
        .await;
    }
    std::fs::write(dir.path().join("broken"), "").unwrap();
    for r in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(5);
        // Each replica sees the failure (its own probe, in its own state)...
        while !r.failing("svc").await {
            assert!(Instant::now() < deadline, "{} never saw svc fail", r.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // ...and neither acts on it.
    tokio::time::sleep(2 * LEASE_TTL).await;
    assert_eq!(fixes(dir.path()), 1, "nothing ran without etcd");
    assert!(b.kinds("action_started").is_empty());
    assert!(a.kinds("action_started").len() == 1, "only the first run's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_sent_to_a_follower_is_acted_on_by_the_leader_once() {
    let _one = SERIAL.lock().await;
    // etcd bound: a part left to `..` is dropped here, and etcd would stop.
    let Some(Pair {
        etcd: _etcd,
        a,
        b,
        dir,
        ..
    }) = pair().await
    else {
        return;
    };
    let status = reqwest::Client::new()
        .post(format!("{}/incident", b.api))
        .json(&serde_json::json!({ "service": "billing", "error": "BILLING_DOWN", "severity": "high" }))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    a.wait("the shared report acted on", Duration::from_secs(5), |r| {
        !r.kinds("action_started").is_empty()
    })
    .await;
    let detected = a.kinds("incident_detected");
    assert_eq!(detected[0]["signature"], "BILLING_DOWN", "{detected:?}");
    // The follower journaled it too, and ran nothing.
    assert_eq!(b.kinds("incident_detected").len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(b.kinds("action_started").is_empty());
    let billing = std::fs::read_to_string(dir.path().join("fixes.log")).unwrap_or_default();
    assert_eq!(billing.lines().count(), 1, "{billing}");

    // A pause given to the follower holds the leader too.
    let (status, error) = common::command(&b.api, r#"{"command":"pause","by":"ops"}"#).await;
    assert_eq!(status, 202, "{error}");
    a.wait("the shared pause", Duration::from_secs(5), |r| {
        !r.kinds("automation_paused").is_empty()
    })
    .await;

    // A leader stopped cleanly hands over at once, not when its lease runs out.
    let pid = i32::try_from(a.child.id()).unwrap();
    // SAFETY: a signal to our own child process, which is still ours to reap.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let stopped = Instant::now();
    b.wait("the handover", LEASE_TTL, |r| {
        r.role().as_deref() == Some("leader")
    })
    .await;
    eprintln!("handover after SIGTERM: {:?}", stopped.elapsed());
}
