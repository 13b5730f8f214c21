//! A highly available central healer: replicas campaign in etcd's election
//! and only the leader acts (config `ha`). The leader holds a lease it renews
//! every third of `lease_ttl`; it steps down on its own clock before etcd
//! could let the lease expire and elect another, and every fix it runs is
//! first claimed in etcd under its term ([`EtcdFence`]), so a leader that was
//! replaced without knowing it is refused, and a fix the previous leader
//! started is verified, never run twice.

mod etcd;

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::share::Peers;
use crate::config::HaConfig;
use crate::engine::{Claim, Fence, Fix, Role, role::Pending};
pub use etcd::{Etcd, LeaderKey};

/// What a replica campaigns with: who it is and where its API is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub name: String,
    #[serde(default)]
    pub api: Option<String>,
}

/// The running election of one replica.
pub struct Replica {
    pub roles: watch::Receiver<Role>,
    pub fence: Arc<EtcdFence>,
    etcd: Arc<Etcd>,
    config: HaConfig,
}

impl Replica {
    /// Starts campaigning as `config.name`, reachable at `api` (for reports
    /// other replicas forward). The role starts as no quorum until etcd answers.
    pub fn start(config: &HaConfig, api: Option<String>) -> Replica {
        let etcd = Arc::new(Etcd::new(config.etcd.clone()));
        let (tx, roles) = watch::channel(Role::NoQuorum {
            why: "connecting to etcd".into(),
        });
        let me = Candidate {
            name: config.name.clone(),
            api: config.advertise.clone().or(api),
        };
        let fence = Arc::new(EtcdFence {
            etcd: etcd.clone(),
            name: config.name.clone(),
            fixes: format!("{}/fix/", config.prefix.trim_end_matches('/')),
            leader: Arc::new(Mutex::new(None)),
        });
        tokio::spawn(campaign(
            etcd.clone(),
            config.clone(),
            me,
            tx,
            fence.leader.clone(),
        ));
        Replica {
            roles,
            fence,
            etcd,
            config: config.clone(),
        }
    }
}

/// The other replicas are those campaigning in the same election.
impl Peers for Replica {
    fn me(&self) -> &str {
        &self.config.name
    }

    fn others(&self) -> Pending<Vec<String>> {
        let (etcd, me) = (self.etcd.clone(), self.config.name.clone());
        let prefix = format!("{}/", election(&self.config));
        Box::pin(async move {
            let listed = match etcd.list(&prefix).await {
                Ok(listed) => listed,
                Err(why) => {
                    tracing::warn!("ha: cannot list the other replicas: {why}");
                    return Vec::new();
                }
            };
            listed
                .into_iter()
                .filter_map(|(_, value)| serde_json::from_str::<Candidate>(&value).ok())
                .filter(|c| c.name != me)
                .filter_map(|c| c.api)
                .collect()
        })
    }
}

fn election(config: &HaConfig) -> String {
    format!("{}/leader", config.prefix.trim_end_matches('/'))
}

/// The election loop: a lease, a campaign while renewing it, leadership while
/// it is renewed in time; any failure starts over from a new lease.
async fn campaign(
    etcd: Arc<Etcd>,
    config: HaConfig,
    me: Candidate,
    roles: watch::Sender<Role>,
    held: Arc<Mutex<Option<LeaderKey>>>,
) {
    let ttl = config.lease_ttl;
    let renew_every = ttl / 3;
    // Etcd ends the lease no sooner than `ttl` after it received the last renewal,
    // which we sent no later than we count from: stepping down this much before
    // that leaves no instant with two leaders acting.
    let margin = ttl / 5;
    let name = election(&config);
    let value = serde_json::to_string(&me).unwrap_or_default();
    let set = |role: Role| {
        roles.send_if_modified(|r| {
            let changed = *r != role;
            if changed {
                tracing::info!("ha: {} is now {role}", me.name);
            }
            *r = role;
            changed
        });
    };
    loop {
        *lock(&held) = None;
        let sent = Instant::now();
        let lease = match etcd.grant(ttl.as_secs().max(1)).await {
            Ok(lease) => lease,
            Err(why) => {
                set(Role::NoQuorum { why });
                tokio::time::sleep(renew_every.min(Duration::from_secs(1))).await;
                continue;
            }
        };
        let mut renewed = sent;
        // Follow, renewing, until the campaign is won.
        let won = {
            let campaign = etcd.campaign(&name, &lease, &value);
            tokio::pin!(campaign);
            let leader = etcd.leader(&name).await.ok().flatten();
            set(Role::Follower {
                leader: leader.as_deref().map(candidate_name),
            });
            loop {
                tokio::select! {
                    won = &mut campaign => break won,
                    _ = tokio::time::sleep_until(renewed + renew_every) => {
                        let sent = Instant::now();
                        match etcd.keepalive(&lease, renew_every).await {
                            Ok(left) if left > 0 => renewed = sent,
                            Ok(_) => break Err("the lease expired".into()),
                            Err(why) => break Err(why),
                        }
                        let leader = etcd.leader(&name).await.ok().flatten();
                        set(Role::Follower { leader: leader.as_deref().map(candidate_name) });
                    }
                }
            }
        };
        let key = match won {
            Ok(key) => key,
            Err(why) => {
                set(Role::NoQuorum { why });
                etcd.revoke(&lease).await;
                continue;
            }
        };
        *lock(&held) = Some(key.clone());
        set(Role::Leader { term: key.rev });
        // Lead while every renewal lands before the deadline.
        let why = loop {
            let deadline = renewed + ttl.saturating_sub(margin);
            tokio::time::sleep_until((renewed + renew_every).min(deadline)).await;
            let sent = Instant::now();
            let left = deadline.saturating_duration_since(sent);
            if left.is_zero() {
                break "the lease was not renewed in time".to_string();
            }
            match etcd.keepalive(&lease, left).await {
                Ok(ttl_left) if ttl_left > 0 => renewed = sent,
                Ok(_) => break "the lease expired".to_string(),
                Err(why) => break why,
            }
        };
        // Acting stops here, before anything else.
        *lock(&held) = None;
        set(Role::NoQuorum { why });
        etcd.revoke(&lease).await;
    }
}

fn candidate_name(value: &str) -> String {
    serde_json::from_str::<Candidate>(value).map_or_else(|_| value.to_string(), |c| c.name)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Fixes claimed in etcd: `{prefix}/fix/{target}/{signature}/{step}/{attempt}`,
/// put only while this replica's leader key still has its term's revision, on
/// a lease of an hour (so a claim no replica released does not last).
pub struct EtcdFence {
    etcd: Arc<Etcd>,
    name: String,
    fixes: String,
    leader: Arc<Mutex<Option<LeaderKey>>>,
}

/// How long a claim outlives the incident that nobody closed.
const CLAIM_TTL: u64 = 3600;

impl Fence for EtcdFence {
    fn claim(&self, term: u64, fix: Fix) -> Pending<Claim> {
        let held = lock(&self.leader).clone();
        let (etcd, name) = (self.etcd.clone(), self.name.clone());
        let key = format!(
            "{}{}/{}/{}/{}",
            self.fixes, fix.target, fix.signature, fix.step, fix.attempt
        );
        Box::pin(async move {
            let Some(leader) = held.filter(|k| k.rev == term) else {
                return Claim::Refused {
                    why: format!("term {term} is over"),
                };
            };
            let value = serde_json::json!({ "by": name, "term": term }).to_string();
            let lease = match etcd.grant(CLAIM_TTL).await {
                Ok(lease) => lease,
                Err(why) => return Claim::Refused { why },
            };
            match etcd.put_if_leading(&leader, &key, &value, &lease).await {
                Ok(None) => Claim::Granted,
                Ok(Some((true, _))) => Claim::Refused {
                    why: format!("term {term} is over: another replica leads"),
                },
                Ok(Some((false, taken))) => {
                    let taken: serde_json::Value = taken
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or_default();
                    Claim::Taken {
                        by: taken["by"].as_str().unwrap_or("?").to_string(),
                        term: taken["term"].as_u64().unwrap_or(0),
                    }
                }
                Err(why) => Claim::Refused { why },
            }
        })
    }

    fn release(&self, target: String, signature: String) -> Pending<()> {
        let etcd = self.etcd.clone();
        let prefix = format!("{}{target}/{signature}/", self.fixes);
        Box::pin(async move {
            if let Err(why) = etcd.delete_prefix(&prefix).await {
                tracing::warn!("ha: cannot release the claims of {prefix}: {why}");
            }
        })
    }
}
