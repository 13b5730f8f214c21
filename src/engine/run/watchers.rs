//! The event watchers of probed targets (see [`crate::monitor::watch`]): a
//! pidfd on each process check, and one idle connection per address, shared
//! by every target there, so 10,000 URLs on one server hold one socket, not
//! 10,000 (each would take a file descriptor here and a connection slot there).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::watch as channel;
use tokio::task::AbortHandle;

use super::schedule::Kicker;
use crate::config::{ProbeSpec, Target};
use crate::monitor::{lock, watch};

/// Each probe's verdict, for the watchers that re-arm after a healthy one.
pub(super) type Verdicts = Arc<channel::Sender<watch::Probed>>;

#[derive(Default)]
pub(super) struct Watchers {
    connections: HashMap<String, Shared>,
    processes: HashMap<usize, (AbortHandle, Verdicts)>,
}

struct Shared {
    task: AbortHandle,
    targets: Arc<Mutex<BTreeSet<usize>>>,
    healthy: Verdicts,
}

impl Watchers {
    /// Starts (or joins) the watchers of `target` in slot `idx`, unless it has
    /// `watch: false`; returns what its healthy probes must tell.
    pub fn watch(&mut self, target: &Target, idx: usize, kicker: &Kicker) -> Vec<Verdicts> {
        if !target.watch {
            return Vec::new();
        }
        let mut rearm = Vec::new();
        if let Some(p) = process_check(target) {
            let healthy = Arc::new(channel::Sender::new(watch::Probed::default()));
            let kicker = kicker.clone();
            let fire = move |seen| kicker.kick(idx, Some(seen));
            let task = tokio::spawn(watch::process(p.clone(), healthy.subscribe(), fire));
            self.processes
                .insert(idx, (task.abort_handle(), healthy.clone()));
            rearm.push(healthy);
        }
        if let Some(address) = address(target) {
            let shared = self.connections.entry(address.clone()).or_insert_with(|| {
                let healthy = Arc::new(channel::Sender::new(watch::Probed::default()));
                let targets = Arc::new(Mutex::new(BTreeSet::new()));
                let (kicker, kicked) = (kicker.clone(), targets.clone());
                let fire = move |seen| {
                    for idx in lock(&kicked).iter() {
                        kicker.kick(*idx, Some(seen));
                    }
                };
                let task = tokio::spawn(watch::connection(address, healthy.subscribe(), fire));
                Shared {
                    task: task.abort_handle(),
                    targets,
                    healthy,
                }
            });
            lock(&shared.targets).insert(idx);
            rearm.push(shared.healthy.clone());
        }
        rearm
    }

    /// Stops the watchers of `target` in slot `idx` (a shared connection once
    /// no target uses it).
    pub fn unwatch(&mut self, target: &Target, idx: usize) {
        if let Some((task, _)) = self.processes.remove(&idx) {
            task.abort();
        }
        let Some(address) = address(target) else {
            return;
        };
        if let Some(shared) = self.connections.get(&address) {
            let mut targets = lock(&shared.targets);
            targets.remove(&idx);
            if targets.is_empty() {
                drop(targets);
                shared.task.abort();
                self.connections.remove(&address);
            }
        }
    }

    pub fn stop(&mut self) {
        for (task, _) in self.processes.drain().map(|(_, v)| v) {
            task.abort();
        }
        for shared in self.connections.drain().map(|(_, v)| v) {
            shared.task.abort();
        }
    }
}

fn process_check(target: &Target) -> Option<&crate::config::ProcessProbe> {
    match &target.probe {
        ProbeSpec::Process(p) => Some(p),
        _ => target.process.as_ref(),
    }
}

/// Where an http or tcp target's idle connection goes.
fn address(target: &Target) -> Option<String> {
    match &target.probe {
        ProbeSpec::Http(p) => watch::http_address(&p.url),
        ProbeSpec::Tcp(p) => Some(p.address.clone()),
        _ => None,
    }
}
