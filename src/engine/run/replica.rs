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
                        && !i.status.is_acting()
                        && (i.status == Status::Detected || stalled.contains(&i.id))
                })
                .cloned()
                .collect()
        };
        for inc in waiting {
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

    /// An incident that waited for this replica to lead: closed if a leader
    /// resolved that failure after this copy began, else planned.
    pub(super) fn waited(&mut self, id: IncidentId, resolved: Option<(String, Timestamp)>) {
        let Some(inc) = self.open_copy(id) else {
            return;
        };
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
        if let Some(r) = &mut self.replica {
            r.stalled.insert(id);
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
            tokio::spawn(r.fence.resolved(term, inc.target, inc.signature, now_ms()));
        }
    }
}

fn replica_name(replica: &Option<Replicated>) -> String {
    replica.as_ref().map(|r| r.name.clone()).unwrap_or_default()
}
