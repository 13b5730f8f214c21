//! Root causes instead of restart storms. A target that fails while a target
//! it depends on (`depends_on`, followed through) is failing, or whose failure
//! began before such a target's fix of the last `dependency_settle`, is a
//! symptom of that root incident: linked to it and not remediated on its own.
//! When the root is resolved, the symptoms' targets are probed at once and
//! close by themselves; one still failing after the settle time is planned as
//! usual.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::{Internal, Runner};
use crate::clock;
use crate::config::ProbeSpec;
use crate::engine::now_ms;
use crate::event::{EventKind, IncidentId};
use crate::state::Status;

/// How long a dependency's probe may take, beyond its timeout, before a
/// dependent held for it is planned on its own (it is planned as soon as
/// every dependency has answered healthy, see [`Runner::recheck_held`]).
const CONFIRM_SLACK: Duration = Duration::from_millis(100);

/// What a failing target's dependencies say about its incident.
enum Root {
    /// None of them is failing or was fixed lately: plan it.
    None,
    /// This incident, on a dependency, is the cause.
    Found(IncidentId),
    /// A dependency is failing with no incident yet, or not probed since:
    /// wait for its probe (at most this long).
    Unknown(Duration),
}

impl Runner {
    /// Plans a new incident, unless it is a symptom of one on a target it
    /// depends on; and makes it the root of incidents held for its target.
    pub(super) fn plan_or_link(&mut self, id: IncidentId) {
        match self.root_of(id, true) {
            Root::Found(root) => self.link(id, root),
            Root::Unknown(wait) => {
                self.held_for_dependencies.insert(id, Instant::now());
                self.after(wait, Internal::Dependencies { incident: id });
            }
            Root::None => self.plan(id),
        }
        let Some(target) = self
            .state
            .read()
            .incidents
            .get(&id)
            .map(|i| i.target.clone())
        else {
            return;
        };
        let waiting: Vec<IncidentId> = self.held_for_dependencies.keys().copied().collect();
        for held in waiting {
            let on = self
                .state
                .read()
                .incidents
                .get(&held)
                .map(|i| i.target.clone());
            if on.is_some_and(|t| self.needs(&t, &target)) {
                self.held_for_dependencies.remove(&held);
                self.link(held, id);
            }
        }
    }

    /// After a probe result: a held incident whose dependencies have all
    /// been probed healthy since it was held is planned now, not at its timer.
    /// (A dependency found failing links it instead, through `plan_or_link`.)
    pub(super) fn recheck_held(&mut self) {
        if self.held_for_dependencies.is_empty() {
            return;
        }
        let cleared: Vec<IncidentId> = (self.held_for_dependencies.iter())
            .filter(|&(id, since)| self.dependencies_healthy_since(*id, *since))
            .map(|(id, _)| *id)
            .collect();
        for id in cleared {
            self.dependencies_probed(id);
        }
    }

    /// Whether every probed dependency of incident `id`'s target (followed
    /// through) has had a healthy probe that began at or after `since`.
    fn dependencies_healthy_since(&self, id: IncidentId, since: Instant) -> bool {
        let state = self.state.read();
        let Some(target) = state.incidents.get(&id).map(|i| i.target.as_str()) else {
            return true;
        };
        let mut seen: HashSet<String> = HashSet::from([target.to_string()]);
        let mut queue: VecDeque<String> = self.depends_on(target).into();
        while let Some(dep) = queue.pop_front() {
            if !seen.insert(dep.clone()) {
                continue;
            }
            if let Some(&idx) = self.by_name.get(&dep)
                && !matches!(self.settings.targets[idx].probe, ProbeSpec::Passive(_))
            {
                let rt = &self.targets[idx];
                if !(rt.last.healthy && rt.last_started.is_some_and(|t| t >= since)) {
                    return false;
                }
            }
            queue.extend(self.depends_on(&dep));
        }
        true
    }

    /// The dependencies of a held incident had their probe: link or plan it now.
    pub(super) fn dependencies_probed(&mut self, id: IncidentId) {
        if self.held_for_dependencies.remove(&id).is_none() {
            return; // linked or planned meanwhile
        }
        let still_new =
            (self.state.read().incidents.get(&id)).is_some_and(|i| i.status == Status::Detected);
        if !still_new {
            return;
        }
        match self.root_of(id, false) {
            Root::Found(root) => self.link(id, root),
            Root::None | Root::Unknown(_) => self.plan(id),
        }
    }

    /// After a root is resolved: its symptoms' targets are probed at once
    /// (a healthy probe closes them); after the settle time, those still open
    /// are planned.
    pub(super) fn root_resolved(&mut self, root: IncidentId) {
        let symptoms: Vec<(IncidentId, String)> = (self.state.read().open_incidents())
            .filter(|i| i.root == Some(root) && i.status == Status::Symptom)
            .map(|i| (i.id, i.target.clone()))
            .collect();
        for (id, target) in symptoms {
            if let Some(&idx) = self.by_name.get(&target) {
                self.kick(idx);
            }
            let settle = self.settings.policy.dependency_settle;
            self.after(settle, Internal::Settled { incident: id });
        }
    }

    /// The settle time after its root's fix has passed and the symptom is still open.
    pub(super) fn settled(&mut self, id: IncidentId) {
        let held = (self.state.read().incidents.get(&id))
            .is_some_and(|i| i.status == Status::Symptom && i.status.is_open());
        if held {
            self.plan(id);
        }
    }

    fn link(&mut self, id: IncidentId, root: IncidentId) {
        self.emit(EventKind::IncidentLinked {
            incident_id: id,
            root_id: root,
        });
        let root_resolved =
            (self.state.read().incidents.get(&root)).is_some_and(|r| r.status == Status::Resolved);
        if root_resolved {
            // Fixed moments ago: give this one the settle time to recover too.
            let settle = self.settings.policy.dependency_settle;
            self.after(settle, Internal::Settled { incident: id });
        }
    }

    /// The root cause of incident `id` among its target's dependencies.
    /// `first`: the incident was just opened, so a dependency not known to be
    /// healthy is probed now and waited for.
    fn root_of(&mut self, id: IncidentId, first: bool) -> Root {
        // Injected chaos has a known cause: its own.
        let Some((target, began)) = (self.state.read().incidents.get(&id))
            .filter(|i| !i.chaos)
            .map(|i| (i.target.clone(), i.started_at))
        else {
            return Root::None;
        };
        let now = now_ms();
        let settle = self.settings.policy.dependency_settle;
        let mut wait = Duration::ZERO;
        let mut seen: HashSet<String> = HashSet::from([target.clone()]);
        let mut queue: VecDeque<String> = self.depends_on(&target).into();
        while let Some(dep) = queue.pop_front() {
            if !seen.insert(dep.clone()) {
                continue;
            }
            let state = self.state.read();
            let open = state
                .open_incidents_of(&dep)
                .min_by_key(|i| (i.status == Status::Symptom, i.id));
            if let Some(inc) = open {
                return Root::Found(
                    inc.root
                        .filter(|_| inc.status == Status::Symptom)
                        .unwrap_or(inc.id),
                );
            }
            // Fixed lately, and this failure began before that fix: seen late
            // (a slower probe), not a new fault of its own.
            let fixed_lately = (state.incidents.values().rev())
                .filter(|i| i.target == dep && i.status == Status::Resolved)
                .find(|i| {
                    i.resolved_at
                        .is_some_and(|at| began <= at && clock::saturating_add(at, settle) > now)
                });
            if let Some(inc) = fixed_lately {
                return Root::Found(inc.root.unwrap_or(inc.id));
            }
            let failing = state.targets.get(&dep).is_some_and(|t| t.failing);
            drop(state);
            if let Some(&idx) = self.by_name.get(&dep)
                && first
            {
                // Not known to be failing: its probe now tells (a passive one never will).
                let t = &self.settings.targets[idx];
                if failing || !matches!(t.probe, ProbeSpec::Passive(_)) {
                    self.kick(idx);
                    wait = wait.max(t.timeout.saturating_add(CONFIRM_SLACK));
                }
            }
            queue.extend(self.depends_on(&dep));
        }
        match wait.is_zero() {
            true => Root::None,
            false => Root::Unknown(wait),
        }
    }

    /// Whether `target` depends on `other`, directly or through others.
    fn needs(&self, target: &str, other: &str) -> bool {
        let mut seen: HashSet<String> = HashSet::new();
        let mut queue: VecDeque<String> = self.depends_on(target).into();
        while let Some(dep) = queue.pop_front() {
            if dep == other {
                return true;
            }
            if seen.insert(dep.clone()) {
                queue.extend(self.depends_on(&dep));
            }
        }
        false
    }

    fn depends_on(&self, target: &str) -> Vec<String> {
        (self.by_name.get(target))
            .map(|&i| self.settings.targets[i].depends_on.clone())
            .unwrap_or_default()
    }
}
