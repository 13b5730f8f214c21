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
pub use etcd::{Etcd, Leader, LeaderKey};
use jiff::Timestamp;

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
            incarnation: format!("{:016x}", fastrand::u64(..)),
            prefix: config.prefix.trim_end_matches('/').to_string(),
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
                leader: leader.map(|l| candidate_name(&l.value)),
            });
            loop {
                tokio::select! {
                    won = &mut campaign => break won,
                    _ = tokio::time::sleep_until(renewed + renew_every) => {
                        let sent = Instant::now();
                        match renew(&etcd, &lease, renew_every).await {
                            Ok(()) => renewed = sent,
                            Err(why) => break Err(why),
                        }
                        match etcd.leader(&name).await.ok().flatten() {
                            // Our key leads, but its campaign's answer was lost
                            // (its member cut off): we won all the same.
                            Some(l) if l.lease == lease => break Ok(l.key),
                            leader => set(Role::Follower { leader: leader.map(|l| candidate_name(&l.value)) }),
                        }
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
            match renew(&etcd, &lease, left).await {
                Ok(()) => renewed = sent,
                Err(why) => break why,
            }
            // The key can go while the lease lives (deleted by hand, or by a
            // campaign given up): then another replica may lead already.
            match etcd.leader(&name).await {
                Ok(Some(l)) if l.key == key => {}
                Ok(_) => break "this replica's leader key is gone".to_string(),
                Err(why) => break why,
            }
        };
        // Acting stops here, before anything else.
        *lock(&held) = None;
        set(Role::NoQuorum { why });
        etcd.revoke(&lease).await;
    }
}

/// Renews `lease` within `within` in all (every endpoint tried counts).
async fn renew(etcd: &Etcd, lease: &str, within: Duration) -> Result<(), String> {
    match tokio::time::timeout(within, etcd.keepalive(lease, within)).await {
        Ok(Ok(left)) if left > 0 => Ok(()),
        Ok(Ok(_)) => Err("the lease expired".into()),
        Ok(Err(why)) => Err(why),
        Err(_) => Err("etcd did not renew the lease in time".into()),
    }
}

fn candidate_name(value: &str) -> String {
    serde_json::from_str::<Candidate>(value).map_or_else(|_| value.to_string(), |c| c.name)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Fixes claimed in etcd: `{prefix}/fix/TARGET/PLAYBOOK/STEP/RETRIES.ATTEMPT`, by
/// target and not signature (two replicas may see one outage as a refused
/// connection and as a 503),
/// put only while this replica's leader key still has its term's revision, on
/// a lease of an hour (so a claim no replica released does not last); and
/// `{prefix}/resolved/TARGET/SIGNATURE`, the mark a leader leaves when it
/// resolves a failure. Each part is escaped, so `a/b` never reads as two.
pub struct EtcdFence {
    etcd: Arc<Etcd>,
    name: String,
    /// This process, among every run of this replica: a claim it made itself
    /// (a retry of a step, or a claim granted while its term ended) is its to run.
    incarnation: String,
    prefix: String,
    leader: Arc<Mutex<Option<LeaderKey>>>,
}

/// How long a claim outlives the incident that nobody closed, and how long a
/// resolution mark tells a new leader that its older copy is over.
const CLAIM_TTL: u64 = 3600;

impl EtcdFence {
    fn key(&self, kind: &str, parts: &[&str]) -> String {
        let escaped: Vec<String> = parts.iter().map(|p| escape(p)).collect();
        format!("{}/{kind}/{}", self.prefix, escaped.join("/"))
    }

    /// `1.2` ends the key of the second attempt after the operator's first retry.
    fn claim_key(&self, fix: &Fix) -> String {
        let attempt = format!("{}.{}", fix.retries, fix.attempt);
        self.key("fix", &[&fix.target, &fix.playbook, &fix.step, &attempt])
    }
}

/// `%` and `/` escaped, so a name with a slash stays one part of a key.
fn escape(part: &str) -> String {
    part.replace('%', "%25").replace('/', "%2F")
}

impl Fence for EtcdFence {
    fn claim(&self, term: u64, fix: Fix) -> Pending<Claim> {
        let held = lock(&self.leader).clone();
        let (etcd, incarnation) = (self.etcd.clone(), self.incarnation.clone());
        let key = self.claim_key(&fix);
        let value =
            serde_json::json!({ "by": self.name, "term": term, "incarnation": incarnation })
                .to_string();
        Box::pin(async move {
            let Some(leader) = held.filter(|k| k.rev == term) else {
                return Claim::Refused {
                    why: format!("term {term} is over"),
                };
            };
            let lease = match etcd.grant(CLAIM_TTL).await {
                Ok(lease) => lease,
                Err(why) => return Claim::Refused { why },
            };
            let claim = match etcd.put_if_leading(&leader, &key, &value, &lease).await {
                Ok(None) => return Claim::Granted,
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
            };
            etcd.revoke(&lease).await; // nothing was put on it
            claim
        })
    }

    fn unclaim(&self, fix: Fix) -> Pending<()> {
        let etcd = self.etcd.clone();
        let key = self.claim_key(&fix);
        let ours = self.incarnation.clone();
        Box::pin(async move {
            // Only a claim this process made: compared by its value.
            let value = etcd.get(&key).await.ok().flatten().unwrap_or_default();
            let theirs: serde_json::Value = serde_json::from_str(&value).unwrap_or_default();
            if theirs["incarnation"].as_str() == Some(ours.as_str())
                && let Err(why) = etcd.delete_if_value(&key, &value).await
            {
                tracing::warn!("ha: cannot withdraw the unused claim {key}: {why}");
            }
        })
    }

    fn resolved(
        &self,
        term: u64,
        target: String,
        signature: String,
        playbook: Option<String>,
        at: Timestamp,
    ) -> Pending<()> {
        let held = lock(&self.leader).clone();
        let etcd = self.etcd.clone();
        // Only the claims of the playbook that ran: another incident on the
        // target may be in the middle of its own.
        let claims = playbook.map(|p| format!("{}/", self.key("fix", &[&target, &p])));
        let mark = self.key("resolved", &[&target, &signature]);
        let value = serde_json::json!({ "by": self.name, "at": at.to_string() }).to_string();
        Box::pin(async move {
            let Some(leader) = held.filter(|k| k.rev == term) else {
                return; // a new leader's resolution will say it
            };
            let lease = match etcd.grant(CLAIM_TTL).await {
                Ok(lease) => lease,
                Err(why) => {
                    return tracing::warn!("ha: cannot mark {target} {signature} resolved: {why}");
                }
            };
            match (etcd.replace_if_leading(&leader, claims.as_deref(), &mark, &value, &lease)).await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(
                        "ha: {target} {signature} not marked resolved: term {term} is over"
                    );
                    etcd.revoke(&lease).await;
                }
                Err(why) => {
                    tracing::warn!("ha: cannot mark {target} {signature} resolved: {why}");
                    etcd.revoke(&lease).await;
                }
            }
        })
    }

    fn resign(&self) -> Pending<()> {
        let held = lock(&self.leader).take();
        let etcd = self.etcd.clone();
        Box::pin(async move {
            if let Some(key) = held
                && let Err(why) = etcd.delete_raw(&key.key).await
            {
                tracing::warn!("ha: cannot resign: {why}; the lease will run out instead");
            }
        })
    }

    fn last_resolved(
        &self,
        target: String,
        signature: String,
    ) -> Pending<Option<(String, Timestamp)>> {
        let etcd = self.etcd.clone();
        let mark = self.key("resolved", &[&target, &signature]);
        Box::pin(async move {
            let value: serde_json::Value =
                serde_json::from_str(&etcd.get(&mark).await.ok()??).ok()?;
            let at = value["at"].as_str()?.parse().ok()?;
            Some((value["by"].as_str()?.to_string(), at))
        })
    }
}
