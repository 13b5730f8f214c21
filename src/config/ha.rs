//! `ha:`: replicas of a central healer that elect one leader through etcd.

use serde::Deserialize;
use std::time::Duration;

use super::check::{self, Problem};
use super::duration::duration;
use super::yaml::YamlPath;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaConfig {
    /// etcd client URLs (`http://10.0.0.1:2379`), tried in order.
    pub etcd: Vec<String>,
    /// This replica's name, unique among the replicas: shown as the leader's.
    pub name: String,
    /// How long a leader that stops renewing stays leader in etcd. It stops
    /// acting sooner than that on its own clock, so two never act at once.
    #[serde(default = "default_ttl", deserialize_with = "duration")]
    pub lease_ttl: Duration,
    /// Keys live under this prefix: one cluster of replicas per prefix.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Where the other replicas reach this one's API to forward reports
    /// (`http://10.0.0.2:7311`); by default the address `serve` listens on.
    #[serde(default)]
    pub advertise: Option<String>,
}

fn default_ttl() -> Duration {
    Duration::from_secs(5)
}

fn default_prefix() -> String {
    "/autoheal".into()
}

/// Shorter leases expire between two renewals on a busy machine.
const SHORTEST_TTL: Duration = Duration::from_secs(2);

impl HaConfig {
    pub fn problems(&self) -> Vec<Problem> {
        let at = |key: &str| YamlPath::root().key("ha").key(key);
        let mut out = Vec::new();
        if self.etcd.is_empty() {
            out.push(Problem::new(
                at("etcd"),
                "ha: `etcd` must list at least one endpoint".to_string(),
            ));
        }
        for (i, url) in self.etcd.iter().enumerate() {
            if let Err(why) = check::http_url(url) {
                out.push(Problem::new(
                    at("etcd").index(i),
                    format!("ha: `etcd` {why}"),
                ));
            }
        }
        if self.name.trim().is_empty() || self.name.len() > check::MAX_NAME {
            out.push(Problem::new(
                at("name"),
                format!("ha: `name` must be 1 to {} characters", check::MAX_NAME),
            ));
        }
        // etcd leases are whole seconds: a fraction would be lost there and
        // kept here, and with it the margin a leader steps down by.
        if self.lease_ttl < SHORTEST_TTL
            || self.lease_ttl.as_secs() > 3600
            || self.lease_ttl.subsec_nanos() != 0
        {
            out.push(Problem::new(
                at("lease_ttl"),
                "ha: `lease_ttl` must be whole seconds from 2s to 1h".to_string(),
            ));
        }
        if !self.prefix.starts_with('/') {
            out.push(Problem::new(
                at("prefix"),
                format!("ha: `prefix` must start with /, not `{}`", self.prefix),
            ));
        }
        if let Some(url) = &self.advertise
            && let Err(why) = check::http_url(url)
        {
            out.push(Problem::new(
                at("advertise"),
                format!("ha: `advertise` {why}"),
            ));
        }
        out
    }
}
