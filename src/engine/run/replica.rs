//! One replica of several (config `ha`): the engine acts only while the
//! election says it leads. A follower, or a replica that lost etcd, detects
//! and journals as usual but plans nothing, runs nothing and refuses
//! approvals; on becoming leader it plans what it has seen meanwhile.

use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::watch;

use jiff::Timestamp;

use super::{Internal, Runner};
use crate::engine::{Fence, Role, now_ms};
use crate::event::{EventKind, IncidentId};
use crate::state::{Incident, Status};

pub(super) struct Replicated {
    name: String,
    roles: watch::Receiver<Role>,
    pub(super) fence: Arc<dyn Fence>,
    /// The role the engine last acted on; `None` before the election's first word.
    pub(super) role: Option<Role>,
    /// Incidents whose step was not run because this replica did not lead:
    /// planned again when it does.
    pub(super) stalled: HashSet<IncidentId>,
    /// Incidents whose claim is on its way to etcd.
    pub(super) claiming: HashSet<IncidentId>,
    /// Incidents asked about (`last_resolved`) on becoming leader, not answered yet.
    waiting: HashSet<IncidentId>,
}

impl Replicated {
    /// The term this replica may act in, if it leads.
    pub(super) fn term(&self) -> Option<u64> {
        self.role.as_ref().and_then(Role::term)
    }

    pub(super) fn new(name: &str, mut roles: watch::Receiver<Role>, fence: Arc<dyn Fence>) -> Self {
        // The role the election holds now is news to the engine too.
        roles.mark_changed();
        Replicated {
            name: name.to_string(),
            role: None,
            roles,
            fence,
            stalled: HashSet::new(),
            claiming: HashSet::new(),
            waiting: HashSet::new(),
        }
    }
}

/// The next role the election reports; never, for a lone engine.
pub(super) async fn next_role(replica: &mut Option<Replicated>) -> Option<Role> {
    match replica {
        Some(r) => {
            if r.roles.changed().await.is_err() {
                return std::future::pending().await;
            }
            Some(r.roles.borrow_and_update().clone())
        }
        None => std::future::pending().await,
    }
}

impl Runner {
    /// Whether this engine may plan and act now.
    pub(super) fn may_act(&self) -> bool {
        self.replica.as_ref().is_none_or(|r| r.term().is_some())
    }

    /// Why an operator's approval is refused here, if this replica does not lead.
    pub(super) fn not_leading(&self) -> Option<String> {
        let r = self.replica.as_ref()?;
        match &r.role {
            Some(Role::Leader { .. }) => None,
            Some(Role::Follower { leader: Some(l) }) => {
                Some(format!("{} follows {l}: send it to the leader", r.name))
            }
            Some(other) => Some(format!("{} does not lead ({other})", r.name)),
            None => Some(format!("{} is not elected yet", r.name)),
        }
    }

    pub(super) fn on_role(&mut self, role: Role) {
        let Some(replica) = &mut self.replica else {
            return;
        };
        // A lost quorum is journaled once, whatever each retry's error says.
        let same = match (&replica.role, &role) {
            (Some(Role::NoQuorum { .. }), Role::NoQuorum { .. }) => true,
            (old, new) => old.as_ref() == Some(new),
        };
        if same {
            return;
        }
        replica.role = Some(role.clone());
        let fence = replica.fence.clone();
        self.emit(EventKind::RoleChanged {
            replica: replica_name(&self.replica),
            role: role.clone(),
        });
        if role.term().is_none() {
            return;
        }
        // What was seen while another led, or nobody did. Another leader may
        // have resolved it meanwhile: etcd says, before anything is planned.
        let stalled = self
            .replica
            .as_mut()
            .map(|r| std::mem::take(&mut r.stalled))
            .unwrap_or_default();
        let waiting: Vec<Incident> = {
            let state = self.state.read();
            state
                .incidents
                .values()
                .filter(|i| {
                    i.status.is_open()
                        && (i.status == Status::Detected || stalled.contains(&i.id))
                        && !self.in_flight(i)
                })
                .cloned()
                .collect()
        };
        for inc in waiting {
            let Some(r) = &mut self.replica else {
                return;
            };
            if !r.waiting.insert(inc.id) {
                continue; // asked already, after an earlier election
            }
            let (tx, asked) = (
                self.internal_tx.clone(),
                fence.last_resolved(inc.target.clone(), inc.signature.clone()),
            );
            tokio::spawn(async move {
                let resolved = asked.await;
                let _ = tx.send(Internal::Waited {
                    incident: inc.id,
                    resolved,
                });
            });
        }
    }

    /// Whether something is under way for `inc` here: a claim on its way, an
    /// action running, a verification.
    fn in_flight(&self, inc: &Incident) -> bool {
        self.verifying.contains_key(&inc.id)
            || self
                .replica
                .as_ref()
                .is_some_and(|r| r.claiming.contains(&inc.id))
            || inc.attempts.last().is_some_and(|a| a.ok.is_none())
    }

    /// An incident that waited for this replica to lead: closed if a leader
    /// resolved that failure after this copy began, else planned.
    pub(super) fn waited(&mut self, id: IncidentId, resolved: Option<(String, Timestamp)>) {
        if !self.replica.as_mut().is_some_and(|r| r.waiting.remove(&id)) {
            return;
        }
        let Some(inc) = self.open_copy(id).filter(|i| !self.in_flight(i)) else {
            return;
        };
        if !self.may_act() {
            return self.stall(id); // it lost the lead meanwhile
        }
        if let Some((by, at)) = resolved.filter(|(_, at)| *at >= inc.detected_at) {
            return self.emit(EventKind::IncidentClosed {
                incident_id: id,
                note: format!("{by} resolved it as leader at {at:.0} while this replica followed"),
                by: "autoheal".into(),
            });
        }
        match inc.status {
            Status::Detected => self.plan_or_link(id),
            _ => self.plan(id),
        }
    }

    /// Not leading: `id` is planned once this replica leads.
    pub(super) fn stall(&mut self, id: IncidentId) {
        let Some(r) = &mut self.replica else {
            return;
        };
        if r.stalled.insert(id) && r.stalled.len() % 64 == 0 {
            // A long follower's list keeps only what is still open.
            let state = self.state.read();
            r.stalled
                .retain(|i| state.incidents.get(i).is_some_and(|i| i.status.is_open()));
        }
    }

    /// A leader that resolved (or closed) an incident tells etcd: its claims go,
    /// and the next leader learns its own copy is over. Only a leader does.
    pub(super) fn release_claims(&self, kind: &EventKind) {
        let Some(term) = self.replica.as_ref().and_then(Replicated::term) else {
            return;
        };
        let (EventKind::IncidentResolved { incident_id, .. }
        | EventKind::IncidentClosed { incident_id, .. }) = kind
        else {
            return;
        };
        let Some(inc) = self.state.read().incidents.get(incident_id).cloned() else {
            return;
        };
        if let Some(r) = &self.replica {
            let resolved =
                r.fence
                    .resolved(term, inc.target, inc.signature, inc.playbook, now_ms());
            tokio::spawn(resolved);
        }
    }
}

fn replica_name(replica: &Option<Replicated>) -> String {
    replica.as_ref().map(|r| r.name.clone()).unwrap_or_default()
}
