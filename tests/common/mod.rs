//! Shared test harness: a real engine under test (`Rig`), alone over a config
//! of the test's own or watching the real demo fleet (`Run`).
#![allow(dead_code)]

pub mod tmux;

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::broadcast;

use autoheal::api::{self, Api, Limits, router};
use autoheal::config::Config;
use autoheal::demo::DemoFleet;
use autoheal::engine::{Engine, EngineHandle, Policy, Registry, Settings};
use autoheal::event::{Command, Decision, Event, EventKind, IncidentId, Severity};
use autoheal::playbook::Playbooks;
use autoheal::state::State;

/// Where an engine under test journals: in its temp dir.
pub fn journal_in(dir: &Path) -> PathBuf {
    dir.join("journal.jsonl")
}

/// A running engine, followed from its first event: its handle, every event
/// seen so far, and the temp dir that holds its journal.
pub struct Rig {
    pub handle: EngineHandle,
    pub events: broadcast::Receiver<Event>,
    /// Every event seen so far, in order.
    pub seen: Vec<Event>,
    pub journal: PathBuf,
    pub dir: tempfile::TempDir,
}

/// Settings for an engine over `config` (YAML, as a user writes it) and the
/// shipped playbooks, journaling into `dir`.
pub fn settings(dir: &Path, config: &str) -> Settings {
    let (config, targets) =
        Config::parse(Path::new("test.yaml"), config).expect("test config is valid");
    Settings {
        targets,
        playbooks: Playbooks::load(None, &[]).unwrap(),
        policy: config.policy,
        dry_run: false,
        journal: Some(journal_in(dir)),
        registry: Registry {
            defaults: config.defaults,
            unknown_services: config.intake.unknown_services,
        },
    }
}

/// Starts an engine on `config` (YAML) with only `playbooks` (one YAML file
/// each), written into `dir`; the journal goes there too.
pub fn rig(dir: tempfile::TempDir, config: &str, playbooks: &[&str]) -> Rig {
    let books = dir.path().join("playbooks");
    std::fs::create_dir_all(&books).unwrap();
    for (i, book) in playbooks.iter().enumerate() {
        std::fs::write(books.join(format!("{i}.yaml")), book).unwrap();
    }
    let settings = Settings {
        playbooks: Playbooks::load(Some(&books), &[]).expect("test playbooks load"),
        ..settings(dir.path(), config)
    };
    Rig::start(settings, dir)
}

/// Serves `api` on an ephemeral loopback port; returns its base URL.
pub async fn serve(api: Api) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api::serve(listener, router(api), Limits::default()));
    base
}

impl Rig {
    /// Starts an engine on `settings`, whose journal (if any) is in `dir`.
    pub fn start(settings: Settings, dir: tempfile::TempDir) -> Rig {
        Rig::spawn(Engine::new(settings).expect("engine starts"), dir)
    }

    /// Spawns `engine`, built by the test (to take its samples, say) on a journal in `dir`.
    pub fn spawn(engine: Engine, dir: tempfile::TempDir) -> Rig {
        let events = engine.subscribe();
        let handle = engine.spawn();
        Rig {
            handle,
            events,
            seen: Vec::new(),
            journal: journal_in(dir.path()),
            dir,
        }
    }

    /// The API of this engine, over its journal.
    pub fn api(&self) -> Api {
        Api {
            journal: Some(self.journal.clone()),
            ..Api::new(&self.handle)
        }
    }

    /// Waits (up to `within`) for an event matching `pred`, remembering every event seen.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        what: &str,
        pred: impl Fn(&EventKind) -> bool,
    ) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let Ok(event) = tokio::time::timeout_at(deadline, self.events.recv()).await else {
                panic!("no {what} within {within:?}; saw:\n{}", self.transcript());
            };
            let event = event.expect("event stream open");
            self.seen.push(event.clone());
            if pred(&event.kind) {
                return event;
            }
        }
    }

    pub fn transcript(&self) -> String {
        self.seen
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every event seen so far of this kind (`kind` as in the journal).
    pub fn seen_kind(&self, kind: &str) -> Vec<&Event> {
        self.seen.iter().filter(|e| e.kind.name() == kind).collect()
    }

    pub async fn send(&self, command: Command) {
        self.handle.send(command).await;
    }

    pub async fn inject(&self, target: &str, fault: &str) {
        self.send(Command::InjectChaos {
            target: target.into(),
            fault: fault.into(),
        })
        .await;
    }

    pub async fn detected(&mut self, target: &str, signature: &str) -> IncidentId {
        let e = self
            .wait_for(Duration::from_secs(5), &format!("{signature} on {target}"), |k| {
                matches!(k, EventKind::IncidentDetected { target: t, signature: s, .. } if t == target && s == signature)
            })
            .await;
        e.kind.incident_id().unwrap()
    }

    pub async fn resolved(&mut self, id: IncidentId) -> Event {
        self.wait_for(
            Duration::from_secs(8),
            &format!("resolution of {id}"),
            |k| matches!(k, EventKind::IncidentResolved { incident_id, .. } if *incident_id == id),
        )
        .await
    }

    /// Stops the engine (syncing the journal); returns its final state, the
    /// journal and the dir that holds it.
    pub async fn stop(self) -> (State, PathBuf, tempfile::TempDir) {
        let state = self
            .handle
            .shutdown("test over")
            .await
            .expect("engine stops cleanly");
        (state, self.journal, self.dir)
    }
}

/// An engine watching the demo fleet.
pub struct Run {
    pub fleet: DemoFleet,
    pub rig: Rig,
}

impl Deref for Run {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.rig
    }
}

impl DerefMut for Run {
    fn deref_mut(&mut self) -> &mut Rig {
        &mut self.rig
    }
}

/// The demo fleet and an engine watching it, journaling to a temp dir.
pub async fn demo(tune: impl FnOnce(&mut Policy, &mut Settings)) -> Run {
    Fleet::start().await.engine(tune)
}

async fn break_service(fleet: &DemoFleet, target: &str, fault: &str) {
    let url = format!("{}/services/{target}/chaos/{fault}", fleet.supervisor_url());
    let status = reqwest::Client::new()
        .post(url)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
}

/// The demo fleet and a journal path, before any engine watches them: to
/// break a service or write the journal a previous run left.
pub struct Fleet {
    pub fleet: DemoFleet,
    pub journal: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Fleet {
    pub async fn start() -> Fleet {
        let fleet = DemoFleet::start().await.expect("demo fleet starts");
        let dir = tempfile::tempdir().unwrap();
        let journal = journal_in(dir.path());
        Fleet {
            fleet,
            journal,
            dir,
        }
    }

    /// Settings for an engine on the fleet, journaling in the fleet's dir.
    pub fn settings(&self) -> Settings {
        let config: Config = self.fleet.config();
        let mut targets = config.resolve_targets().unwrap();
        // The host probe would turn a busy CI machine (CPU_HIGH) into incidents no test asked for.
        targets.retain(|t| t.name != "localhost");
        Settings {
            targets,
            playbooks: Playbooks::load(None, &[]).unwrap(),
            policy: config.policy.clone(),
            dry_run: false,
            journal: Some(self.journal.clone()),
            registry: Registry::default(),
        }
    }

    /// Starts an engine on the fleet.
    pub fn engine(self, tune: impl FnOnce(&mut Policy, &mut Settings)) -> Run {
        let mut settings = self.settings();
        let mut policy = settings.policy.clone();
        tune(&mut policy, &mut settings);
        settings.policy = policy;
        self.watched_by(Engine::new(settings).unwrap())
    }

    /// Spawns `engine`, built by the test on `settings()`, to watch the fleet.
    pub fn watched_by(self, engine: Engine) -> Run {
        Run {
            fleet: self.fleet,
            rig: Rig::spawn(engine, self.dir),
        }
    }

    /// Breaks a service behind the engine's back, as a real outage would.
    pub async fn break_directly(&self, target: &str, fault: &str) {
        break_service(&self.fleet, target, fault).await;
    }

    /// Writes the journal of a run killed (kill -9) while `step` of
    /// `playbook` was running against `target`: incident #1, its action
    /// started and never finished.
    pub fn journal_killed_mid_action(
        &self,
        target: &str,
        signature: &str,
        playbook: &str,
        step: &str,
    ) {
        let ts = autoheal::engine::now_ms();
        let kinds = [
            EventKind::EngineStarted {
                version: "0".into(),
                targets: vec![target.into()],
                playbooks: vec![playbook.into()],
                dry_run: false,
                chaos: Default::default(),
            },
            EventKind::ProbeFailed {
                target: target.into(),
                signature: signature.into(),
                detail: "connection refused".into(),
            },
            EventKind::IncidentDetected {
                incident_id: IncidentId(1),
                target: target.into(),
                signature: signature.into(),
                severity: Severity::High,
                started_at: ts,
                chaos: false,
                trace_id: String::new(),
                reported_by: None,
                text: None,
            },
            EventKind::IncidentAnalyzed {
                incident_id: IncidentId(1),
                playbook: Some(playbook.into()),
                step: Some(step.into()),
                confidence: 0.9,
                decision: Decision::Auto,
                reason: "confidence 0.90 >= 0.90".into(),
                action: None,
                critical: false,
            },
            EventKind::ActionStarted {
                incident_id: IncidentId(1),
                playbook: playbook.into(),
                step: step.into(),
                action: format!(
                    "POST {}/services/{target}/restart",
                    self.fleet.supervisor_url()
                ),
                attempt: 1,
                term: None,
            },
        ];
        let lines: Vec<String> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| {
                let seq = i as u64 + 1;
                serde_json::to_string(&Event { seq, ts, kind }).unwrap() + "\n"
            })
            .collect();
        std::fs::write(&self.journal, lines.concat()).unwrap();
    }
}

impl Run {
    /// The API of this engine.
    pub fn api(&self) -> Api {
        self.rig.api()
    }

    /// Breaks a service behind the engine's back, as a real outage would.
    pub async fn break_directly(&self, target: &str, fault: &str) {
        break_service(&self.fleet, target, fault).await;
    }

    pub async fn health(&self, target: &str) -> Option<u16> {
        let url = format!("{}/health", self.fleet.service_url(target).unwrap());
        reqwest::Client::new()
            .get(url)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// Stops the engine, then the fleet.
    pub async fn stop(self) -> (State, PathBuf, tempfile::TempDir) {
        let stopped = self.rig.stop().await;
        self.fleet.shutdown();
        stopped
    }
}

/// Posts `body` as JSON to `/api/commands`, returning the status and the `error` text.
pub async fn command(base: &str, body: &str) -> (u16, String) {
    let answer = reqwest::Client::new()
        .post(format!("{base}/api/commands"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let json: serde_json::Value = answer.json().await.unwrap_or_default();
    (
        status,
        json["error"].as_str().unwrap_or_default().to_string(),
    )
}

/// A loopback port nothing listens on now (the OS picked it, then let it go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Whether something accepts connections on loopback `port` within 5 s.
pub async fn accepting(port: u16) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
