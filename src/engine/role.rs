//! Whether this engine may act. A lone engine always may; replicas of a
//! central healer (config `ha`) elect one leader, and only it plans and runs
//! fixes. The engine knows roles and fences, not how they are kept (etcd: `crate::ha`).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// This replica's part, as the election last said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// Plans and acts, in `term`: a number every later leader's is larger than.
    Leader { term: u64 },
    /// Probes, takes reports and journals them; `leader` (if known) acts.
    Follower {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<String>,
    },
    /// Cannot reach the election: acts on nothing, so two replicas never act at once.
    NoQuorum { why: String },
}

impl Role {
    /// The term this replica may act in, if it leads.
    pub fn term(&self) -> Option<u64> {
        match self {
            Role::Leader { term } => Some(*term),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Leader { term } => write!(f, "leader (term {term})"),
            Role::Follower { leader: Some(l) } => write!(f, "follower of {l}"),
            Role::Follower { leader: None } => f.write_str("follower"),
            Role::NoQuorum { why } => write!(f, "no quorum: {why}"),
        }
    }
}

/// One attempt at one step of a fix, as replicas know it: a replica's incident
/// ids are its own, and two replicas may name one outage by two signatures,
/// so the fix is named by its target and what it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub target: String,
    pub playbook: String,
    pub step: String,
    /// The operator's retries of the incident: a retry runs every step anew.
    pub retries: u32,
    pub attempt: u32,
}

/// What the election's store said about running a fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours to run: recorded with our term while we still led.
    Granted,
    /// A leader (`by`, in `term`) already started it: verify, do not run it again.
    Taken { by: String, term: u64 },
    /// We no longer lead (or cannot tell): run nothing.
    Refused { why: String },
}

pub type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Fencing: before a leader runs a step it claims it in the election's store,
/// which grants it only while that leader's term is still the current one.
pub trait Fence: Send + Sync {
    fn claim(&self, term: u64, fix: Fix) -> Pending<Claim>;
    /// The leader of `term` resolved (or closed) the failure of `target` with
    /// `signature` at `at`: its claims go, and a mark says so to the next
    /// leader, whose own copy of the incident may be older.
    /// A claim that was granted but not used (a stop, a pause, a term that
    /// ended meanwhile): withdrawn, so no leader takes it for a fix that ran.
    fn unclaim(&self, fix: Fix) -> Pending<()>;
    /// `playbook`, the one whose claims go (another incident on the target
    /// may be in the middle of its own).
    fn resolved(
        &self,
        term: u64,
        target: String,
        signature: String,
        playbook: Option<String>,
        at: Timestamp,
    ) -> Pending<()>;
    /// This replica is stopping: another may lead at once, without waiting for
    /// its lease to run out. Its claims are refused from here on.
    fn resign(&self) -> Pending<()>;
    /// When a leader last resolved that failure, and which replica, if one did lately.
    fn last_resolved(
        &self,
        target: String,
        signature: String,
    ) -> Pending<Option<(String, Timestamp)>>;
}
