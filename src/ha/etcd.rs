//! etcd's own election, lease and transaction RPCs, through the JSON gateway
//! every etcd v3 server serves on its client port (`POST /v3/...`). The gRPC
//! clients for Rust need `protoc` to build; the gateway needs nothing we do
//! not already ship (reqwest), and speaks the same RPCs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One etcd cluster, by its client URLs: a request goes to the one that last
/// answered, and on a connection failure to the next.
pub struct Etcd {
    http: reqwest::Client,
    endpoints: Vec<String>,
    preferred: AtomicUsize,
}

/// This replica's key in the election, as campaign returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderKey {
    /// base64, as the gateway takes it back.
    pub key: String,
    /// Its creation revision: the leader's term (a later leader's is larger).
    pub rev: u64,
}

/// The leader of an election, as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub value: String,
    pub lease: String,
    pub key: LeaderKey,
}

/// How long a plain request may take (a campaign waits as long as it must).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

impl Etcd {
    pub fn new(endpoints: Vec<String>) -> Etcd {
        Etcd {
            http: reqwest::Client::builder()
                .connect_timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap_or_default(),
            endpoints: endpoints
                .into_iter()
                .map(|e| e.trim_end_matches('/').to_string())
                .collect(),
            preferred: AtomicUsize::new(0),
        }
    }

    async fn call(
        &self,
        path: &str,
        body: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, String> {
        let n = self.endpoints.len().max(1);
        let first = self.preferred.load(Ordering::Relaxed);
        let mut last = "no etcd endpoint".to_string();
        for i in 0..n {
            let at = (first + i) % n;
            let Some(base) = self.endpoints.get(at) else {
                break;
            };
            let mut request = self.http.post(format!("{base}{path}")).json(&body);
            if let Some(t) = timeout {
                request = request.timeout(t);
            }
            match request.send().await {
                // A member that answers but cannot serve (no leader, partitioned):
                // the next may.
                Ok(response) if response.status().is_server_error() => {
                    let status = response.status();
                    let value: Value = response.json().await.unwrap_or_default();
                    last = format!("{base}: {status} {}", gateway_error(&value));
                }
                Ok(response) => {
                    self.preferred.store(at, Ordering::Relaxed);
                    let status = response.status();
                    let value: Value = response.json().await.map_err(|e| format!("{base}: {e}"))?;
                    if !status.is_success() || value.get("error").is_some() {
                        return Err(format!("{base}: {status} {}", gateway_error(&value)));
                    }
                    return Ok(value);
                }
                Err(e) => last = format!("{base}: {}", reason(&e)),
            }
        }
        Err(last)
    }

    /// A lease of `ttl` seconds: keys on it go when it expires.
    pub async fn grant(&self, ttl: u64) -> Result<String, String> {
        let v = self
            .call(
                "/v3/lease/grant",
                json!({ "TTL": ttl }),
                Some(REQUEST_TIMEOUT),
            )
            .await?;
        v["ID"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no lease in {v}"))
    }

    /// Renews `lease`; the seconds it has left, 0 when it has expired.
    pub async fn keepalive(&self, lease: &str, timeout: Duration) -> Result<i64, String> {
        let v = self
            .call("/v3/lease/keepalive", json!({ "ID": lease }), Some(timeout))
            .await?;
        Ok(number(&v["result"]["TTL"]).unwrap_or(0))
    }

    pub async fn revoke(&self, lease: &str) {
        let _ = self
            .call(
                "/v3/lease/revoke",
                json!({ "ID": lease }),
                Some(REQUEST_TIMEOUT),
            )
            .await;
    }

    /// Waits until this replica leads election `name`.
    pub async fn campaign(
        &self,
        name: &str,
        lease: &str,
        value: &str,
    ) -> Result<LeaderKey, String> {
        let body = json!({ "name": b64(name), "lease": lease, "value": b64(value) });
        let v = self.call("/v3/election/campaign", body, None).await?;
        let leader = &v["leader"];
        match (leader["key"].as_str(), number(&leader["rev"])) {
            (Some(key), Some(rev)) if rev > 0 => Ok(LeaderKey {
                key: key.to_string(),
                rev: rev as u64,
            }),
            _ => Err(format!("campaign answered no leader key: {v}")),
        }
    }

    /// The current leader of `name`, if there is one: the value it campaigned
    /// with, its lease, and its key.
    pub async fn leader(&self, name: &str) -> Result<Option<Leader>, String> {
        let body = json!({ "name": b64(name) });
        let v = match self
            .call("/v3/election/leader", body, Some(REQUEST_TIMEOUT))
            .await
        {
            Ok(v) => v,
            Err(e) if e.contains("no leader") => return Ok(None),
            Err(e) => return Err(e),
        };
        let kv = &v["kv"];
        let (Some(value), Some(lease), Some(key), Some(rev)) = (
            kv["value"].as_str().and_then(unb64),
            kv["lease"].as_str(),
            kv["key"].as_str(),
            number(&kv["create_revision"]).filter(|r| *r > 0),
        ) else {
            return Ok(None);
        };
        Ok(Some(Leader {
            value,
            lease: lease.to_string(),
            key: LeaderKey {
                key: key.to_string(),
                rev: rev as u64,
            },
        }))
    }

    /// Every key under `prefix` with its value.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, String)>, String> {
        let body = json!({ "key": b64(prefix), "range_end": b64(&prefix_end(prefix)) });
        let v = self
            .call("/v3/kv/range", body, Some(REQUEST_TIMEOUT))
            .await?;
        let kvs = v["kvs"].as_array().cloned().unwrap_or_default();
        Ok(kvs
            .iter()
            .filter_map(|kv| Some((unb64(kv["key"].as_str()?)?, unb64(kv["value"].as_str()?)?)))
            .collect())
    }

    /// Puts `key` = `value` on `lease` only if `leader` still holds revision
    /// `term` and `key` does not exist yet. `Ok(None)`: done; otherwise what
    /// stood in the way: whether the term is over, and the key's value.
    pub async fn put_if_leading(
        &self,
        leader: &LeaderKey,
        key: &str,
        value: &str,
        lease: &str,
    ) -> Result<Option<(bool, Option<String>)>, String> {
        let body = json!({
            "compare": [
                { "key": leader.key, "target": "CREATE", "result": "EQUAL", "create_revision": leader.rev.to_string() },
                { "key": b64(key), "target": "VERSION", "result": "EQUAL", "version": "0" },
            ],
            "success": [{ "request_put": { "key": b64(key), "value": b64(value), "lease": lease } }],
            "failure": [
                { "request_range": { "key": leader.key } },
                { "request_range": { "key": b64(key) } },
            ],
        });
        let v = self.call("/v3/kv/txn", body, Some(REQUEST_TIMEOUT)).await?;
        if v["succeeded"].as_bool() == Some(true) {
            return Ok(None);
        }
        let responses = v["responses"].as_array().cloned().unwrap_or_default();
        let kvs = |i: usize| {
            responses
                .get(i)
                .and_then(|r| r["response_range"]["kvs"].as_array().cloned())
                .unwrap_or_default()
        };
        let leading = kvs(0)
            .first()
            .is_some_and(|kv| number(&kv["create_revision"]) == Some(leader.rev as i64));
        let taken = kvs(1)
            .first()
            .and_then(|kv| kv["value"].as_str().and_then(unb64));
        Ok(Some((!leading, taken)))
    }

    /// Deletes every key under `prefix` (if any) and puts `key` = `value` on
    /// `lease`, only while `leader` still holds revision `term`. `Ok(false)`:
    /// the term is over.
    pub async fn replace_if_leading(
        &self,
        leader: &LeaderKey,
        prefix: Option<&str>,
        key: &str,
        value: &str,
        lease: &str,
    ) -> Result<bool, String> {
        let mut success = Vec::new();
        if let Some(prefix) = prefix {
            success.push(json!({ "request_delete_range": { "key": b64(prefix), "range_end": b64(&prefix_end(prefix)) } }));
        }
        success.push(
            json!({ "request_put": { "key": b64(key), "value": b64(value), "lease": lease } }),
        );
        let body = json!({
            "compare": [
                { "key": leader.key, "target": "CREATE", "result": "EQUAL", "create_revision": leader.rev.to_string() },
            ],
            "success": success,
        });
        let v = self.call("/v3/kv/txn", body, Some(REQUEST_TIMEOUT)).await?;
        Ok(v["succeeded"].as_bool() == Some(true))
    }

    /// Deletes `key` only if its value is still `value`.
    pub async fn delete_if_value(&self, key: &str, value: &str) -> Result<(), String> {
        let body = json!({
            "compare": [{ "key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(value) }],
            "success": [{ "request_delete_range": { "key": b64(key) } }],
        });
        self.call("/v3/kv/txn", body, Some(REQUEST_TIMEOUT))
            .await
            .map(|_| ())
    }

    /// The value of `key`, if it exists.
    pub async fn get(&self, key: &str) -> Result<Option<String>, String> {
        let v = self
            .call(
                "/v3/kv/range",
                json!({ "key": b64(key) }),
                Some(REQUEST_TIMEOUT),
            )
            .await?;
        Ok(v["kvs"][0]["value"].as_str().and_then(unb64))
    }

    /// Deletes the key `key`, given in base64 as the gateway returned it.
    pub async fn delete_raw(&self, key: &str) -> Result<(), String> {
        self.call(
            "/v3/kv/deleterange",
            json!({ "key": key }),
            Some(REQUEST_TIMEOUT),
        )
        .await
        .map(|_| ())
    }
}

/// The words of a gateway error: `{"error": "...", "message": "..."}`, or a
/// streamed one `{"error": {"message": "..."}}`.
fn gateway_error(value: &Value) -> String {
    let error = &value["error"];
    error
        .as_str()
        .or(error["message"].as_str())
        .or(value["message"].as_str())
        .unwrap_or("")
        .to_string()
}

fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

fn unb64(text: &str) -> Option<String> {
    String::from_utf8(STANDARD.decode(text).ok()?).ok()
}

/// The gateway writes 64-bit numbers as strings.
fn number(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
}

/// The end of the range of keys that start with `prefix` (etcd's convention).
fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0x7f {
            bytes.push(last + 1);
            return String::from_utf8(bytes).unwrap_or_default();
        }
    }
    "\0".into()
}

fn reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_after_its_last_byte() {
        assert_eq!(prefix_end("/autoheal/fix/"), "/autoheal/fix0");
        assert_eq!(unb64(&b64("web/1")).as_deref(), Some("web/1"));
        assert_eq!(number(&json!("42")), Some(42));
        assert_eq!(number(&json!(7)), Some(7));
    }
}
