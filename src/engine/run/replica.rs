//! One replica of several (config `ha`): the engine acts only while the
//! election says it leads. A follower, or a replica that lost etcd, detects
//! and journals as usual but plans nothing, runs nothing and refuses
//! approvals; on becoming leader it plans what it has seen meanwhile.

use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::watch;

use super::Runner;
use crate::engine::{Fence, Role};
use crate::event::{EventKind, IncidentId};
use crate::state::Status;

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
        let lead = matches!(role, Role::Leader { .. });
        let stalled = std::mem::take(&mut replica.stalled);
        self.emit(EventKind::RoleChanged {
            replica: replica_name(&self.replica),
            role,
        });
        if !lead {
            if let Some(r) = &mut self.replica {
                r.stalled = stalled;
            }
            return;
        }
        // What was seen while another led, or nobody did.
        let waiting: Vec<IncidentId> = {
            let state = self.state.read();
            state
                .incidents
                .values()
                .filter(|i| {
                    i.status == Status::Detected
                        || (i.status == Status::Remediating && stalled.contains(&i.id))
                })
                .map(|i| i.id)
                .collect()
        };
        for id in waiting {
            self.plan(id);
        }
    }

    /// A closed incident's claims in etcd may go.
    pub(super) fn release_claims(&self, kind: &EventKind) {
        let Some(replica) = &self.replica else {
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
        tokio::spawn(replica.fence.release(inc.target, inc.signature));
    }
}

fn replica_name(replica: &Option<Replicated>) -> String {
    replica.as_ref().map(|r| r.name.clone()).unwrap_or_default()
}
