//! The engine task: the loop that owns `State`, and the probe tasks that feed it.

mod analyst;
mod commands;
mod depends;
mod probes;
mod registry;
mod remedy;
mod replica;
mod resume;
mod schedule;
mod snapshots;
mod trends;
mod watchers;
mod windows;

use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLockReadGuard};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::roster::{Entry, Registry, Roster};
use super::systemd::Systemd;
use super::view::{Published, View};
use super::{Detector, EngineHandle, Heartbeat, PULSE, Policy, now_ms};
use crate::action::ActionOutcome;
use crate::clock;
use crate::config::{ProbeSpec, Target};
use crate::event::{Command, Event, EventKind, IncidentId, TargetSource};
use crate::journal::{self, Journal};
use crate::monitor::{Observation, Prober};
use crate::playbook::{Playbook, Playbooks, Signal, SignalKind};
use crate::state::{Incident, State};
use schedule::Schedule;
use snapshots::{SNAPSHOT_EVERY, Snapshots};

/// Everything the engine needs to run.
pub struct Settings {
    pub targets: Vec<Target>,
    pub playbooks: Playbooks,
    pub policy: Policy,
    pub dry_run: bool,
    /// Append-only journal; `None` keeps events in memory only (tests, benchmarks).
    pub journal: Option<PathBuf>,
    /// Targets added at run time.
    pub registry: Registry,
}

/// Who reported a failure that a probe did not see, for `incident_detected`.
struct Reported {
    /// The reporting tool (`intake`, `alertmanager`, ...).
    by: String,
    trace_id: Option<String>,
    /// The report's words, when they are not the signature.
    text: Option<String>,
}

/// One probe result, for sparklines and metrics. Telemetry, not an event: never journaled.
#[derive(Debug, Clone)]
pub struct Sample {
    pub target: String,
    pub at: Timestamp,
    pub healthy: bool,
    pub latency: Duration,
    pub cpu_percent: Option<f32>,
    pub memory_percent: Option<f32>,
}

/// A prepared engine: the journal is replayed, nothing runs yet. Subscribe
/// before [`Engine::spawn`] to see every event from `engine_started` on.
pub struct Engine {
    settings: Settings,
    state: Published,
    journal: Option<Journal>,
    skipped_lines: usize,
    /// The snapshot start-up began from, and the journal events folded after it.
    snapshot_seq: Option<u64>,
    replayed: u64,
    snapshot_every: u64,
    events: broadcast::Sender<Event>,
    samples: broadcast::Sender<Sample>,
    commands: (mpsc::Sender<Command>, mpsc::Receiver<Command>),
    roster: Roster,
    windows: windows::Windows,
    predict: crate::config::Predict,
    analyst: Option<Arc<crate::analyst::Analyst>>,
    replica: Option<replica::Replicated>,
}

impl Engine {
    /// Rebuilds `State` from the journal's snapshot and the journal after it
    /// (or the whole journal, without a snapshot it can trust). Damaged lines
    /// are skipped with a warning.
    pub fn new(settings: Settings) -> anyhow::Result<Engine> {
        use anyhow::Context as _;
        let mut state = State::default();
        let (mut skipped_lines, mut snapshot_seq, mut replayed) = (0, None, 0);
        let journal = match &settings.journal {
            Some(path) => {
                let restored = journal::snapshot::restore(path)
                    .with_context(|| format!("cannot read journal {}", path.display()))?;
                (state, snapshot_seq, replayed) =
                    (restored.state, restored.snapshot_seq, restored.replayed);
                let skipped = restored.skipped;
                if let Some(why) = used_up(&state) {
                    anyhow::bail!(
                        "journal {p}: {why}, so no new event could be numbered; \
                         move it aside (`mv {p} {p}.full`) and start again with a new journal",
                        p = path.display()
                    );
                }
                for s in &skipped {
                    tracing::warn!(
                        "{}:{}: skipped a damaged journal line: {}",
                        s.file.display(),
                        s.line,
                        s.reason
                    );
                }
                skipped_lines = skipped.len();
                Some(
                    Journal::open(path)
                        .with_context(|| format!("cannot open journal {}", path.display()))?,
                )
            }
            None => None,
        };
        let roster = Roster::new(settings.registry.unknown_services);
        for target in &settings.targets {
            roster.set(&target.name, Entry::Config);
        }
        // Registered targets join when the engine starts (`restore_registered`),
        // but the API may be built before that: it knows them already.
        for (name, registration) in &state.registered {
            if !roster.knows(name) {
                roster.set(name, Entry::Registered(registration.clone()));
            }
        }
        Ok(Engine {
            settings,
            roster,
            state: Published::new(state),
            journal,
            skipped_lines,
            snapshot_seq,
            replayed,
            snapshot_every: SNAPSHOT_EVERY,
            events: broadcast::channel(16_384).0,
            samples: broadcast::channel(1024).0,
            commands: mpsc::channel(1024),
            windows: windows::Windows::default(),
            predict: crate::config::Predict::default(),
            analyst: None,
            replica: None,
        })
    }

    /// Sets when the journal rotates and which segments it keeps
    /// (the default: [`journal::Rotate`], [`journal::Retention`]).
    pub fn journal_policy(
        mut self,
        rotate: journal::Rotate,
        retention: journal::Retention,
    ) -> Self {
        if let Some(journal) = &mut self.journal {
            journal.set_policy(rotate, retention);
        }
        self
    }

    /// Maintenance windows (config `maintenance`), their times in the host's zone.
    pub fn maintenance(mut self, windows: Vec<crate::config::Maintenance>) -> Self {
        self.windows.all = windows;
        self
    }

    /// Trend prediction (config `predict`; on by default).
    pub fn predict(mut self, predict: crate::config::Predict) -> Self {
        self.predict = predict;
        self
    }

    /// One replica of several (config `ha`): it acts only while `roles` says
    /// it leads, and claims each fix through `fence` first.
    pub fn replica(
        mut self,
        name: &str,
        roles: tokio::sync::watch::Receiver<super::Role>,
        fence: Arc<dyn super::Fence>,
    ) -> Self {
        self.replica = Some(replica::Replicated::new(name, roles, fence));
        self
    }

    /// The AI analyst (config `analyst`) asked about escalated and unmatched
    /// incidents; none (the default) keeps every incident on this machine.
    pub fn analyst(mut self, config: Option<&crate::config::AnalystConfig>) -> Self {
        self.analyst = analyst::from_config(config);
        self
    }

    /// Writes a snapshot every `n` events (default [`SNAPSHOT_EVERY`]).
    pub fn snapshot_every(mut self, n: u64) -> Self {
        self.snapshot_every = n;
        self
    }

    /// The seq of the snapshot start-up began from, if it found one to trust.
    pub fn snapshot_seq(&self) -> Option<u64> {
        self.snapshot_seq
    }

    /// How many journal events start-up folded (after the snapshot, if any).
    pub fn replayed_events(&self) -> u64 {
        self.replayed
    }

    /// The state rebuilt from the journal (until it is spawned).
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read()
    }

    /// The engine's state, always current once it runs: read it rather than
    /// folding the event stream into a copy of your own.
    pub fn view(&self) -> View {
        self.state.view()
    }

    /// How many journal lines could not be read back.
    pub fn skipped_lines(&self) -> usize {
        self.skipped_lines
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn samples(&self) -> broadcast::Receiver<Sample> {
        self.samples.subscribe()
    }

    pub fn commands(&self) -> mpsc::Sender<Command> {
        self.commands.0.clone()
    }

    /// The targets watched now, kept current by the engine.
    pub fn roster(&self) -> Roster {
        self.roster.clone()
    }

    /// Starts probing and acting. The engine runs until `Command::Shutdown`
    /// or until every command sender is dropped.
    pub fn spawn(mut self) -> EngineHandle {
        let snapshots = self
            .settings
            .journal
            .clone()
            .map(|path| Snapshots::new(path, self.snapshot_every, self.snapshot_seq));
        if let Some(journal) = &mut self.journal {
            journal.retain(needed_seq(&self.state.read(), snapshots.as_ref()));
        }
        let (commands_tx, commands_rx) = self.commands;
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let targets = self
            .settings
            .targets
            .iter()
            .map(|t| Runtime::new(t, TargetSource::Config))
            .collect();
        let by_name = self
            .settings
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let runner = Runner {
            settings: self.settings,
            state: self.state,
            journal: self.journal,
            journal_failed: false,
            snapshots,
            events: self.events.clone(),
            samples: self.samples,
            schedule: Schedule::start(ProbeDied(internal_tx.clone())),
            watchers: watchers::Watchers::default(),
            internal_tx,
            targets,
            by_name,
            verifying: HashMap::new(),
            held_for_dependencies: HashMap::new(),
            resume: HashMap::new(),
            failure: None,
            systemd: Systemd::new(),
            in_flight: 0,
            client: reqwest::Client::builder()
                .user_agent(concat!("autoheal/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            prober: Arc::new(Prober::new()),
            free: Vec::new(),
            roster: self.roster.clone(),
            stopping: None,
            heartbeat: Heartbeat::default(),
            windows: self.windows,
            foresight: trends::Foresight::new(self.predict),
            analyst: self.analyst,
            consulted: HashMap::new(),
            replica: self.replica,
        };
        let heartbeat = runner.heartbeat.clone();
        let view = runner.state.view();
        let task = tokio::spawn(runner.run(commands_rx, internal_rx));
        EngineHandle {
            roster: self.roster,
            view,
            commands: commands_tx,
            heartbeat,
            events: self.events,
            task,
        }
    }
}

/// The first seq a start still needs: what open incidents need
/// ([`journal::first_needed_seq`]) and the snapshot's last event on.
fn needed_seq(state: &State, snapshots: Option<&Snapshots>) -> Option<u64> {
    let needed = journal::first_needed_seq(state);
    match (needed, snapshots.and_then(Snapshots::covered)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Why a replayed journal leaves no number for a new event or incident, if it does.
fn used_up(state: &State) -> Option<String> {
    if state.next_seq().is_none() {
        return Some(format!(
            "its seq has reached {}, the largest there is",
            u64::MAX
        ));
    }
    if state.next_incident_id().is_none() {
        return Some(format!(
            "an incident id has reached {}, the largest there is",
            u64::MAX
        ));
    }
    None
}

/// Messages from the engine's own tasks.
enum Internal {
    Probe {
        target: usize,
        obs: Observation,
        started: Instant,
        at: Timestamp,
    },
    ActionDone {
        incident: IncidentId,
        step: usize,
        attempt: u32,
        outcome: ActionOutcome,
    },
    StartStep {
        incident: IncidentId,
        step: usize,
        attempt: u32,
    },
    /// `verify_within` has passed since a fix on a passive target.
    Silent {
        incident: IncidentId,
    },
    /// The dependencies of a new incident's target have had their probe.
    Dependencies {
        incident: IncidentId,
    },
    /// `dependency_settle` has passed since a symptom's root was fixed.
    Settled {
        incident: IncidentId,
    },
    ProbeDied {
        target: usize,
        why: String,
    },
    ChaosDone {
        target: usize,
        fault: String,
        sent_at: Timestamp,
        result: Result<(), String>,
    },
    /// What etcd said about a fix this leader claimed in `term`.
    Claimed {
        incident: IncidentId,
        step: usize,
        attempt: u32,
        term: u64,
        claim: super::Claim,
    },
    /// Whether a leader resolved a failure an incident that waited for this
    /// replica to lead is about, and when.
    Waited {
        incident: IncidentId,
        resolved: Option<(String, Timestamp)>,
    },
    /// The AI analyst answered about an incident (or failed to).
    Analyst {
        incident: IncidentId,
        result: Result<crate::analyst::Proposal, String>,
    },
}

struct Runtime {
    detector: Detector,
    /// A fault injected at this time, not yet seen by a probe; and when the
    /// injection returned (`None` while in flight: a watcher may see the fault first).
    chaos: Option<(Timestamp, Option<Instant>)>,
    /// The latest observation, for playbook conditions.
    last: Observation,
    /// The target's labels, plus those of the last alert about it: playbooks match on both.
    labels: BTreeMap<String, String>,
    source: TargetSource,
    /// Probes that began before this belong to a target that held the slot before.
    born: Instant,
    /// On the schedule: probed at its ticks and when kicked.
    probed: bool,
    /// When its latest probe (whose result has arrived) began.
    last_started: Option<Instant>,
    /// Set when it leaves the schedule: its probes stop at once, even before
    /// the scheduler hears of it.
    retired: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Runtime {
    fn new(target: &Target, source: TargetSource) -> Runtime {
        Runtime {
            detector: Detector::new(target.failure_threshold, target.success_threshold),
            chaos: None,
            last: Observation::default(),
            labels: target.labels.clone(),
            source,
            born: Instant::now(),
            probed: false,
            last_started: None,
            retired: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}

/// Tells the engine a probe panicked (its target would go unwatched).
struct ProbeDied(mpsc::UnboundedSender<Internal>);

impl schedule::Jobs for ProbeDied {
    fn died(&self, target: usize, why: String) {
        let _ = self.0.send(Internal::ProbeDied { target, why });
    }
}

/// Re-probing a target after its fix ran.
struct Verify {
    target: usize,
    /// Only probes that began after the action finished count.
    since: Instant,
    deadline: Instant,
    good: u32,
    delay: Duration,
}

const VERIFY_FIRST_DELAY: Duration = Duration::from_millis(25);
const VERIFY_MAX_DELAY: Duration = Duration::from_secs(1);

/// At shutdown, running actions get at most this long to finish.
const ACTION_DRAIN: Duration = Duration::from_secs(60);

/// An engine asked to stop has stopped within this long, or it is stuck.
pub const STOP_WITHIN: Duration = Duration::from_secs(ACTION_DRAIN.as_secs() + 15);

struct Runner {
    settings: Settings,
    state: Published,
    journal: Option<Journal>,
    journal_failed: bool,
    /// `None` without a journal.
    snapshots: Option<Snapshots>,
    events: broadcast::Sender<Event>,
    samples: broadcast::Sender<Sample>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    schedule: Schedule,
    /// Event watchers that kick probes (pidfd, idle connection).
    watchers: watchers::Watchers,
    targets: Vec<Runtime>,
    by_name: HashMap<String, usize>,
    verifying: HashMap<IncidentId, Verify>,
    /// New incidents waiting for their target's dependencies to be probed, and since when.
    held_for_dependencies: HashMap<IncidentId, Instant>,
    /// Incidents a previous run left unfinished, waiting for the first probe of their target.
    resume: HashMap<IncidentId, resume::Resume>,
    /// Why the engine cannot go on (numbers used up): the loop ends with it.
    failure: Option<String>,
    systemd: Systemd,
    in_flight: usize,
    client: reqwest::Client,
    prober: Arc<Prober>,
    /// Slots of deregistered targets, for the next registration: indexes stay stable.
    free: Vec<usize>,
    roster: Roster,
    stopping: Option<(String, Instant)>,
    heartbeat: Heartbeat,
    windows: windows::Windows,
    /// Trend prediction; `None` when turned off.
    foresight: Option<trends::Foresight>,
    analyst: Option<Arc<crate::analyst::Analyst>>,
    /// The escalation (or watch) reason each open incident was last put to the analyst for.
    consulted: HashMap<IncidentId, String>,
    /// One replica of several (config `ha`); `None`: a lone engine, always acting.
    replica: Option<replica::Replicated>,
}

impl Runner {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
    ) -> Result<State, String> {
        self.emit(EventKind::EngineStarted {
            version: env!("CARGO_PKG_VERSION").to_string(),
            targets: self
                .settings
                .targets
                .iter()
                .map(|t| t.name.clone())
                .collect(),
            playbooks: self.settings.playbooks.names(),
            dry_run: self.settings.dry_run,
            chaos: self
                .settings
                .targets
                .iter()
                .filter_map(|t| Some((t.name.clone(), t.chaos.as_ref()?.faults.clone())))
                .collect(),
        });
        self.systemd.ready();
        self.restore_registered();
        self.resume_unfinished();
        self.withdraw_stale_offers();
        for i in 0..self.settings.targets.len() {
            self.start_probe(i);
        }
        let mut pulse = tokio::time::interval(PULSE);
        pulse.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.heartbeat.beat();
            let deadline = self.stopping.as_ref().map(|(_, d)| *d);
            tokio::select! {
                // Keep-alives only from here: a loop that stalls stops them.
                _ = pulse.tick() => {
                    self.systemd.alive();
                    self.on_clock();
                }
                command = commands.recv(), if self.stopping.is_none() => match command {
                    Some(command) => self.on_command(command),
                    None => self.stop("every command sender closed".into()),
                },
                Some(message) = internal.recv() => self.on_internal(message),
                Some(role) = replica::next_role(&mut self.replica) => self.on_role(role),
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    tracing::warn!("{} actions still running at shutdown; stopping without their results", self.in_flight);
                    break;
                }
            }
            if self.failure.is_some() || (self.stopping.is_some() && self.in_flight == 0) {
                break;
            }
        }
        if let Some(failure) = self.failure.take() {
            // Dropping the journal syncs it.
            return Err(failure);
        }
        let reason = self.stopping.take().map(|(r, _)| r).unwrap_or_default();
        self.emit(EventKind::EngineStopped { reason });
        if let Some(journal) = &mut self.journal
            && let Err(e) = journal.sync()
        {
            tracing::error!("cannot sync journal {}: {e}", journal.path().display());
        }
        // A snapshot must hold only what the journal holds.
        if let Some(snapshots) = &mut self.snapshots
            && !self.journal_failed
        {
            let position = self.journal.as_ref().and_then(Journal::position);
            let state = self.state.read().clone();
            snapshots.finish(state, position).await;
        }
        match self.failure.take() {
            Some(failure) => Err(failure),
            None => Ok(self.state.read().clone()),
        }
    }

    /// Stamps, applies, journals and broadcasts one transition.
    fn emit(&mut self, kind: EventKind) {
        if self.failure.is_some() {
            return;
        }
        let Some(seq) = self.state.read().next_seq() else {
            return self.fail(format!(
                "cannot number {}: seq {} is the largest there is",
                kind.name(),
                self.state.read().last_seq
            ));
        };
        let event = Event {
            seq,
            ts: now_ms(),
            kind,
        };
        self.state.apply(&event);
        if let Some(journal) = &mut self.journal
            && let Err(e) = journal.append(&event, || {
                needed_seq(&self.state.read(), self.snapshots.as_ref())
            })
            && !std::mem::replace(&mut self.journal_failed, true)
        {
            tracing::error!(
                "cannot write journal {}: {e}; events go on in memory",
                journal.path().display()
            );
        }
        if let Some(snapshots) = &mut self.snapshots
            && !self.journal_failed
        {
            let position = self.journal.as_ref().and_then(Journal::position);
            snapshots.after_event(&self.state.read(), position);
        }
        self.release_claims(&event.kind);
        let _ = self.events.send(event);
    }

    /// Ends the engine with an error: the process exits non-zero and its supervisor restarts it.
    fn fail(&mut self, why: String) {
        tracing::error!("{why}");
        self.failure.get_or_insert(why);
    }

    /// Stops probing and lets running actions finish: for at most the longest
    /// action timeout (capped at [`ACTION_DRAIN`]) and a second.
    fn stop(&mut self, reason: String) {
        self.systemd.stopping();
        // A leader that stops hands over now, not when its lease runs out.
        if let Some(r) = &self.replica {
            tokio::spawn(r.fence.resign());
        }
        self.schedule.stop();
        self.watchers.stop();
        let longest = self.settings.playbooks.longest_timeout().min(ACTION_DRAIN);
        let grace = longest.saturating_add(Duration::from_secs(1));
        self.stopping = Some((reason, clock::deadline(Instant::now(), grace)));
    }

    /// Puts the target in slot `i` on the schedule and starts its watchers,
    /// unless it is passive (its failures arrive as `Command::Ingest`) or
    /// already probed.
    fn start_probe(&mut self, i: usize) {
        let target = &self.settings.targets[i];
        if matches!(target.probe, ProbeSpec::Passive(_)) || self.targets[i].probed {
            return;
        }
        let rearm = self.watchers.watch(target, i, &self.schedule.kicker());
        let probe = probes::probe_job(
            Arc::new(target.clone()),
            self.prober.clone(),
            rearm,
            self.targets[i].retired.subscribe(),
            self.internal_tx.clone(),
        );
        self.schedule.add(i, &target.name, target.interval, probe);
        self.targets[i].probed = true;
    }

    /// Takes the target in slot `i` off the schedule and stops its watchers.
    fn unschedule(&mut self, i: usize) {
        self.forget_trends(i);
        if std::mem::take(&mut self.targets[i].probed) {
            self.targets[i].retired.send_replace(true);
            self.schedule.remove(i);
            self.watchers.unwatch(&self.settings.targets[i], i);
        }
    }

    /// Probes the target in slot `i` at once (one running is followed by another).
    fn kick(&self, i: usize) {
        self.schedule.kick_after(i, Duration::ZERO);
    }

    fn after(&self, delay: Duration, message: Internal) {
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(message);
        });
    }

    fn on_internal(&mut self, message: Internal) {
        match message {
            Internal::Probe {
                target,
                obs,
                started,
                at,
            } if started >= self.targets[target].born => {
                self.on_probe(target, obs, started, at);
                self.recheck_held();
            }
            // Of a target deregistered (or registered anew) since it began.
            Internal::Probe { .. } => {}
            Internal::ActionDone {
                incident,
                step,
                attempt,
                outcome,
            } => self.on_action_done(incident, step, attempt, outcome),
            Internal::StartStep {
                incident,
                step,
                attempt,
            } => self.start_scheduled(incident, step, attempt),
            Internal::Silent { incident } => self.silent(incident),
            Internal::Dependencies { incident } => self.dependencies_probed(incident),
            Internal::Settled { incident } => self.settled(incident),
            Internal::Analyst { incident, result } => self.analyst_answered(incident, result),
            Internal::Claimed {
                incident,
                step,
                attempt,
                term,
                claim,
            } => self.claimed(incident, step, attempt, term, claim),
            Internal::Waited { incident, resolved } => self.waited(incident, resolved),
            Internal::ProbeDied { target, why } => {
                let name = &self.settings.targets[target].name;
                self.fail(format!("the probe of {name} died: {why}"));
            }
            Internal::ChaosDone {
                target,
                fault,
                sent_at,
                result,
            } => match result {
                Ok(()) => {
                    self.targets[target].chaos = Some((sent_at, Some(Instant::now())));
                    let name = self.settings.targets[target].name.clone();
                    self.emit(EventKind::ChaosInjected {
                        target: name,
                        fault,
                    });
                }
                Err(e) => {
                    self.targets[target].chaos = None;
                    tracing::warn!(
                        "chaos {fault} on {}: {e}",
                        self.settings.targets[target].name
                    )
                }
            },
        }
    }

    /// A copy of incident `id` while it is open: the state is not held meanwhile.
    fn open_copy(&self, id: IncidentId) -> Option<Incident> {
        let state = self.state.read();
        state
            .incidents
            .get(&id)
            .filter(|i| i.status.is_open())
            .cloned()
    }

    fn resolve(&mut self, id: IncidentId) {
        let Some(inc) = self.open_copy(id) else {
            return;
        };
        let now = now_ms();
        let ms = |d: jiff::SignedDuration| u64::try_from(d.as_millis()).unwrap_or(0);
        let (time_to_detect_ms, time_to_resolve_ms) = (
            ms(inc.detected_at.duration_since(inc.started_at)),
            ms(now.duration_since(inc.started_at)),
        );
        self.resume.remove(&id);
        self.emit(EventKind::IncidentResolved {
            incident_id: id,
            time_to_detect_ms,
            time_to_resolve_ms,
        });
        self.root_resolved(id);
    }

    fn signal<'a>(&'a self, idx: usize, signature: &'a str) -> Signal<'a> {
        let (target, obs) = (&self.settings.targets[idx], &self.targets[idx].last);
        Signal {
            target: &target.name,
            labels: &self.targets[idx].labels,
            kind: SignalKind::parse(obs.check.unwrap_or(target.probe.kind()))
                .unwrap_or(SignalKind::Http),
            signature,
            status: obs.status,
            latency: Some(obs.latency),
            body: obs.body.as_deref(),
            cpu_percent: obs.cpu_percent,
            memory_percent: obs.memory_percent,
        }
    }

    fn find_playbook(&self, idx: usize, signature: &str) -> Option<&Playbook> {
        self.settings.playbooks.find(&self.signal(idx, signature))
    }

    /// Where the incident's current step stands in its playbook, if both still exist.
    fn step_index(&self, inc: &Incident) -> Option<usize> {
        let playbook = self.settings.playbooks.get(inc.playbook.as_deref()?)?;
        let step = inc.step.as_ref()?;
        playbook.steps.iter().position(|s| &s.name == step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineDied;
    use crate::event::Severity;

    fn settings(journal: PathBuf) -> Settings {
        Settings {
            targets: Vec::new(),
            playbooks: Playbooks::default(),
            policy: Policy::default(),
            dry_run: false,
            journal: Some(journal),
            registry: Registry::default(),
        }
    }

    fn line(seq: u64, kind: EventKind) -> String {
        let ts = now_ms();
        serde_json::to_string(&Event { seq, ts, kind }).unwrap() + "\n"
    }

    #[tokio::test]
    async fn numbers_that_cannot_grow_refuse_to_start_naming_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let paused = EventKind::AutomationPaused { by: "x".into() };
        std::fs::write(&path, line(u64::MAX, paused)).unwrap();
        let e = Engine::new(settings(path.clone())).err().expect("refused");
        let text = format!("{e:#}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("move it aside"), "{text}");

        let detected = EventKind::IncidentDetected {
            incident_id: IncidentId(u64::MAX),
            target: "t".into(),
            signature: "S".into(),
            severity: Severity::High,
            started_at: now_ms(),
            chaos: false,
            trace_id: String::new(),
            reported_by: None,
            text: None,
        };
        std::fs::write(&path, line(1, detected)).unwrap();
        let e = Engine::new(settings(path)).err().expect("refused");
        assert!(format!("{e:#}").contains("incident id"), "{e:#}");
    }

    #[tokio::test]
    async fn new_events_follow_the_largest_seq_even_after_an_out_of_order_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let paused = || EventKind::AutomationPaused { by: "x".into() };
        let text = line(40, paused()) + "torn{\n" + &line(7, paused());
        std::fs::write(&path, text).unwrap();
        let engine = Engine::new(settings(path.clone())).unwrap();
        assert_eq!(engine.skipped_lines(), 1);
        engine.spawn().shutdown("test").await.unwrap();
        let mut seqs = Vec::new();
        journal::replay(&path, |e| seqs.push(e.seq)).unwrap();
        assert_eq!(
            seqs,
            [40, 7, 41, 42],
            "engine_started and engine_stopped after 40"
        );
    }

    #[tokio::test]
    async fn running_out_of_numbers_mid_run_stops_the_engine_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let paused = EventKind::AutomationPaused { by: "x".into() };
        std::fs::write(&path, line(u64::MAX - 1, paused)).unwrap();
        // engine_started takes the last seq; the stop cannot be numbered.
        let handle = Engine::new(settings(path.clone())).unwrap().spawn();
        match handle.shutdown("test").await {
            Err(EngineDied::Failed(why)) => assert!(why.contains("engine_stopped"), "{why}"),
            other => panic!("{other:?}"),
        }
        let mut last = 0;
        journal::replay(&path, |e| last = e.seq).unwrap();
        assert_eq!(last, u64::MAX, "nothing wrapped to 0");
    }
}
