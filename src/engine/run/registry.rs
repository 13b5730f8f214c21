//! Targets added and removed at run time: registered through the API, or for
//! a report about a service no target names. Both are journaled, so a restart
//! brings them back; the config's targets can be neither replaced nor removed.

use std::collections::BTreeMap;
use tokio::time::Instant;

use super::{Runner, Runtime};
use crate::config::{HttpProbe, PassiveProbe, ProbeSpec, Target, UnknownServices};
use crate::engine::roster::{self, Entry, MAX_REGISTERED};
use crate::event::{Command, Declined, EventKind, IncidentId, Registration, TargetSource};

impl Runner {
    /// Brings back the targets earlier runs registered (folded from the journal).
    pub(super) fn restore_registered(&mut self) {
        let registered: Vec<Registration> =
            self.state.read().registered.values().cloned().collect();
        for registration in registered {
            if registration.source == TargetSource::Config {
                tracing::warn!(
                    "journal: ignored a registration of {} as a config target",
                    registration.target
                );
                continue;
            }
            if self.by_name.contains_key(&registration.target) {
                // The config names it now, and the config wins.
                self.emit(EventKind::TargetDeregistered {
                    target: registration.target,
                    by: "config".into(),
                });
                continue;
            }
            self.install(registration);
        }
    }

    /// Whether a `Register` or `Deregister` applies, and if not why; `None`
    /// for other commands.
    pub(super) fn registration_applies(&self, command: &Command) -> Option<Result<(), Declined>> {
        Some(match command {
            Command::Register(r) => self.may_register(&r.target),
            Command::Deregister { target, .. } => self.may_deregister(target),
            _ => return None,
        })
    }

    fn may_register(&self, name: &str) -> Result<(), Declined> {
        match self.by_name.get(name) {
            Some(&i) if self.targets[i].source == TargetSource::Config => Err(config_owns(name)),
            None if self.roster.registered() >= MAX_REGISTERED => {
                Err(Declined::Conflict(roster::full()))
            }
            _ => Ok(()),
        }
    }

    fn may_deregister(&self, name: &str) -> Result<(), Declined> {
        match self.by_name.get(name) {
            Some(&i) if self.targets[i].source == TargetSource::Config => Err(config_owns(name)),
            Some(_) => Ok(()),
            None => Err(Declined::NotFound(format!(
                "no registered service named {name}"
            ))),
        }
    }

    /// Adds the target, or changes it when it is registered already; a
    /// registration that changes nothing journals nothing.
    pub(super) fn register(&mut self, registration: Registration) {
        let name = &registration.target;
        if let Some(&idx) = self.by_name.get(name) {
            if (self.state.read().registered.get(name))
                .is_some_and(|old| old.same_as(&registration))
            {
                return;
            }
            self.retire(idx);
        }
        self.emit(EventKind::TargetRegistered(registration.clone()));
        self.install(registration);
    }

    /// Removes a registered target: its open incidents are closed (nobody
    /// would ever see them end), its probe stops and its name is unknown again.
    pub(super) fn deregister(&mut self, target: String, by: String) {
        let Some(&idx) = self.by_name.get(&target) else {
            return;
        };
        let open: Vec<IncidentId> = self
            .state
            .read()
            .open_incidents_of(&target)
            .map(|i| i.id)
            .collect();
        for incident_id in open {
            self.verifying.remove(&incident_id);
            self.resume.remove(&incident_id);
            self.emit(EventKind::IncidentClosed {
                incident_id,
                note: format!("{target} was deregistered"),
                by: by.clone(),
            });
        }
        self.retire(idx);
        self.emit(EventKind::TargetDeregistered { target, by });
    }

    /// A report from `source` about `target`, which no target names: with
    /// `intake.unknown_services: accept` and room left, a passive target is
    /// registered for it and its slot returned.
    pub(super) fn adopt(&mut self, source: &str, target: &str) -> Option<usize> {
        if self.settings.registry.unknown_services == UnknownServices::Reject {
            return None;
        }
        if let Err(why) = roster::check_name("service", target) {
            tracing::warn!("{source}: not registering a service for this report: {why}");
            return None;
        }
        if let Err(why) = self.may_register(target) {
            tracing::warn!("{source}: not registering {target}: {why}");
            return None;
        }
        self.register(Registration {
            target: target.to_string(),
            source: TargetSource::Intake,
            health_url: None,
            display_name: None,
            critical: false,
            labels: BTreeMap::new(),
            webhook_url: None,
            by: source.to_string(),
        });
        self.by_name.get(target).copied()
    }

    /// Puts the target in a slot (a freed one first) and starts probing it at once.
    fn install(&mut self, registration: Registration) {
        let target = self.target_of(&registration);
        let runtime = Runtime::new(&target, registration.source);
        let idx = match self.free.pop() {
            Some(idx) => {
                self.settings.targets[idx] = target;
                self.targets[idx] = runtime;
                idx
            }
            None => {
                self.settings.targets.push(target);
                self.targets.push(runtime);
                self.targets.len() - 1
            }
        };
        let name = registration.target.clone();
        self.roster.set(&name, Entry::Registered(registration));
        self.by_name.insert(name, idx);
        self.start_probe(idx);
        self.kick(idx);
    }

    /// Empties a slot: no more probes, and any still on their way are ignored.
    fn retire(&mut self, idx: usize) {
        self.unschedule(idx);
        self.targets[idx].born = Instant::now();
        let name = self.settings.targets[idx].name.clone();
        self.by_name.remove(&name);
        self.roster.remove(&name);
        self.free.push(idx);
    }

    /// The target a registration describes, with the config's `defaults`.
    fn target_of(&self, r: &Registration) -> Target {
        let defaults = &self.settings.registry.defaults;
        let probe = match &r.health_url {
            Some(url) => ProbeSpec::Http(HttpProbe {
                url: url.clone(),
                expect_status: None,
                max_latency: None,
                body_contains: None,
                fresh_every: None,
            }),
            None => ProbeSpec::Passive(PassiveProbe {}),
        };
        Target {
            name: r.target.clone(),
            probe,
            interval: defaults.interval,
            timeout: defaults.timeout,
            failure_threshold: defaults.failure_threshold,
            success_threshold: defaults.success_threshold,
            critical: r.critical,
            labels: r.labels.clone(),
            vars: BTreeMap::new(),
            chaos: None,
            depends_on: Vec::new(),
            process: None,
            watch: true,
        }
    }
}

fn config_owns(name: &str) -> Declined {
    Declined::Conflict(format!(
        "{name} is a target of the config file: change it there, not through the API"
    ))
}
