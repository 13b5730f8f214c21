//! Shared test harness: a real engine over the real demo fleet.
#![allow(dead_code)]

pub mod tmux;

use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::broadcast;

use autoheal::config::Config;
use autoheal::demo::DemoFleet;
use autoheal::engine::{Engine, EngineHandle, Policy, Settings};
use autoheal::event::{Command, Decision, Event, EventKind, IncidentId, Severity};
use autoheal::playbook::Playbooks;
use autoheal::state::State;

pub struct Run {
    pub fleet: DemoFleet,
    pub handle: EngineHandle,
    pub events: broadcast::Receiver<Event>,
    /// Every event seen so far, in order.
    pub seen: Vec<Event>,
    pub journal: PathBuf,
    pub _dir: tempfile::TempDir,
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
        let journal = dir.path().join("journal.jsonl");
        Fleet {
            fleet,
            journal,
            dir,
        }
    }

    /// Starts an engine on the fleet.
    pub fn engine(self, tune: impl FnOnce(&mut Policy, &mut Settings)) -> Run {
        let config: Config = self.fleet.config();
        let mut targets = config.resolve_targets().unwrap();
        // The host probe would turn a busy CI machine (CPU_HIGH) into incidents no test asked for.
        targets.retain(|t| t.name != "localhost");
        let mut settings = Settings {
            targets,
            playbooks: Playbooks::load(None, &[]).unwrap(),
            policy: config.policy.clone(),
            dry_run: false,
            journal: Some(self.journal.clone()),
        };
        let mut policy = settings.policy.clone();
        tune(&mut policy, &mut settings);
        settings.policy = policy;
        let engine = Engine::new(settings).unwrap();
        let events = engine.subscribe();
        let handle = engine.spawn();
        Run {
            fleet: self.fleet,
            handle,
            events,
            seen: Vec::new(),
            journal: self.journal,
            _dir: self.dir,
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
            },
            EventKind::IncidentAnalyzed {
                incident_id: IncidentId(1),
                playbook: Some(playbook.into()),
                step: Some(step.into()),
                confidence: 0.9,
                decision: Decision::Auto,
                reason: "confidence 0.90 >= 0.90".into(),
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
    /// Waits (up to `within`) for an event matching `pred`, remembering every event seen.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        what: &str,
        pred: impl Fn(&EventKind) -> bool,
    ) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("no {what} within {within:?}; saw:\n{}", self.transcript())
                })
                .expect("event stream open");
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

    /// Breaks a service behind the engine's back, as a real outage would.
    pub async fn break_directly(&self, target: &str, fault: &str) {
        break_service(&self.fleet, target, fault).await;
    }

    /// Every event seen so far of this kind (`kind` as in the journal).
    pub fn seen_kind(&self, kind: &str) -> Vec<&Event> {
        self.seen.iter().filter(|e| e.kind.name() == kind).collect()
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

    pub async fn stop(self) -> (State, PathBuf, tempfile::TempDir) {
        let state = self
            .handle
            .shutdown("test over")
            .await
            .expect("engine stops cleanly");
        self.fleet.shutdown();
        (state, self.journal, self._dir)
    }
}

/// An engine over a config and playbooks of the test's own, in a temp dir
/// that holds them and the journal. For tests that need no demo fleet.
pub struct Rig {
    pub handle: EngineHandle,
    pub events: broadcast::Receiver<Event>,
    /// Every event seen so far, in order.
    pub seen: Vec<Event>,
    pub journal: PathBuf,
    pub dir: tempfile::TempDir,
}

/// Starts an engine on `config` (YAML) with `playbooks` (one YAML file each),
/// written into `dir`; the journal goes there too.
pub fn rig(dir: tempfile::TempDir, config: &str, playbooks: &[&str]) -> Rig {
    let books = dir.path().join("playbooks");
    std::fs::create_dir_all(&books).unwrap();
    for (i, book) in playbooks.iter().enumerate() {
        std::fs::write(books.join(format!("{i}.yaml")), book).unwrap();
    }
    let (config, targets) =
        Config::parse(std::path::Path::new("test.yaml"), config).expect("test config is valid");
    let journal = dir.path().join("journal.jsonl");
    let engine = Engine::new(Settings {
        targets,
        playbooks: Playbooks::load(Some(&books), &[]).expect("test playbooks load"),
        policy: config.policy,
        dry_run: false,
        journal: Some(journal.clone()),
    })
    .unwrap();
    let events = engine.subscribe();
    let handle = engine.spawn();
    Rig {
        handle,
        events,
        seen: Vec::new(),
        journal,
        dir,
    }
}

impl Rig {
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

    pub async fn send(&self, command: Command) {
        self.handle.send(command).await;
    }

    /// Stops the engine (syncing the journal) and returns its final state.
    pub async fn stop(self) -> (State, tempfile::TempDir) {
        let state = self
            .handle
            .shutdown("test over")
            .await
            .expect("engine stops cleanly");
        (state, self.dir)
    }
}
