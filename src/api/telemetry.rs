//! Telemetry for attached consoles: `GET /api/telemetry` streams the daemon's
//! probe samples, its host's CPU and memory, and who is attached, as
//! newline-delimited JSON. It is a stream of its own because telemetry is not
//! an event (never journaled, lossy by design): `/api/events` stays exactly the
//! journal. A console names itself with `?who=alice@ssh:10.0.0.7` (the identity
//! it journals approvals with); the consoles streaming at once are the presence
//! list, also served as `GET /api/presence`.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast;

use super::guard::Caller;
use super::{Api, busy, error, server};
use crate::config::{HostProbe, ProbeSpec};
use crate::engine::Sample;
use crate::monitor::{Lane, Prober};

/// How often the daemon samples its host for attached consoles (the console's own rate).
pub const HOST_EVERY: Duration = Duration::from_secs(3);

/// The longest identity a console may give; longer ones are refused (400).
pub const MAX_WHO: usize = 64;

/// One line of `/api/telemetry`, e.g.
/// `{"kind":"sample","target":"orders-db","at":"2026-11-23T14:02:07.120Z","ok":true,"us":812}`.
/// Short keys: a line per target per probe is most of an attached console's traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    /// One probe result.
    Sample {
        target: String,
        #[serde(with = "crate::event::ts_millis")]
        at: Timestamp,
        ok: bool,
        /// Latency in microseconds.
        us: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu: Option<f32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mem: Option<f32>,
    },
    /// The daemon's host, every [`HOST_EVERY`].
    Host {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu: Option<f32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mem: Option<f32>,
    },
    /// Everyone attached, this console included, sorted; sent on opening and on every change.
    Presence { here: Vec<String> },
}

impl Line {
    pub fn from_sample(s: &Sample) -> Line {
        Line::Sample {
            target: s.target.clone(),
            at: s.at,
            ok: s.healthy,
            us: u64::try_from(s.latency.as_micros()).unwrap_or(u64::MAX),
            cpu: s.cpu_percent,
            mem: s.memory_percent,
        }
    }

    /// The sample this line carries, if it carries one.
    pub fn into_sample(self) -> Option<Sample> {
        match self {
            Line::Sample {
                target,
                at,
                ok,
                us,
                cpu,
                mem,
            } => Some(Sample {
                target,
                at,
                healthy: ok,
                latency: Duration::from_micros(us),
                cpu_percent: cpu,
                memory_percent: mem,
            }),
            _ => None,
        }
    }

    fn bytes(&self) -> Bytes {
        let mut text = serde_json::to_vec(self).unwrap_or_default();
        text.push(b'\n');
        Bytes::from(text)
    }
}

/// The daemon's side: one fan-out of telemetry lines for every stream, and who is on them.
pub struct Hub {
    lines: broadcast::Sender<Bytes>,
    /// Identities of the open streams, one entry per stream.
    here: Mutex<Vec<String>>,
    /// The last host line, so a console that opens sees gauges at once.
    host: Mutex<Option<Bytes>>,
}

impl Hub {
    /// Forwards the engine's `samples` (take them before `Engine::spawn`) and
    /// samples the host, only while some console listens.
    pub fn spawn(mut samples: broadcast::Receiver<Sample>) -> Arc<Hub> {
        let hub = Arc::new(Hub {
            lines: broadcast::channel(1024).0,
            here: Mutex::new(Vec::new()),
            host: Mutex::new(None),
        });
        let forward = Arc::downgrade(&hub);
        tokio::spawn(async move {
            loop {
                let sample = match samples.recv().await {
                    Ok(sample) => sample,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(hub) = forward.upgrade() else { return };
                if hub.lines.receiver_count() > 0 {
                    let _ = hub.lines.send(Line::from_sample(&sample).bytes());
                }
            }
        });
        let sampler = Arc::downgrade(&hub);
        tokio::spawn(async move {
            let (prober, spec) = (Prober::new(), ProbeSpec::Host(HostProbe::default()));
            let lane = Lane::default();
            let mut every = tokio::time::interval(HOST_EVERY);
            loop {
                every.tick().await;
                let Some(hub) = sampler.upgrade() else { return };
                if hub.lines.receiver_count() == 0 {
                    continue;
                }
                let obs = prober.probe_on(&lane, &spec, Duration::from_secs(2)).await;
                let line = Line::Host {
                    cpu: obs.cpu_percent,
                    mem: obs.memory_percent,
                }
                .bytes();
                *lock(&hub.host) = Some(line.clone());
                let _ = hub.lines.send(line);
            }
        });
        hub
    }

    /// Everyone attached, sorted.
    pub fn here(&self) -> Vec<String> {
        let mut here = lock(&self.here).clone();
        here.sort();
        here
    }

    fn announce(&self) {
        let _ = self
            .lines
            .send(Line::Presence { here: self.here() }.bytes());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes `who` off the presence list when its stream ends, however it ends.
struct Attached {
    hub: Arc<Hub>,
    who: Option<String>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        let Some(who) = &self.who else { return };
        let mut here = lock(&self.hub.here);
        if let Some(i) = here.iter().position(|h| h == who) {
            here.swap_remove(i);
        }
        drop(here);
        self.hub.announce();
    }
}

/// A console's identity as `operator()` forms it (`alice@ssh:10.0.0.7`,
/// `uid1000@local`): short, printable, no spaces, so it is shown as given.
pub fn valid_who(who: &str) -> bool {
    (1..=MAX_WHO).contains(&who.len())
        && who
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@.:-_".contains(c))
}

#[derive(Deserialize)]
pub(super) struct Who {
    who: Option<String>,
}

/// `GET /api/telemetry?who=ID`: samples, host gauges and presence, newline-delimited JSON.
/// Shares the event streams' cap. A console that falls behind misses samples, never events.
pub(super) async fn stream(
    State(api): State<Arc<Api>>,
    streams: Option<Extension<server::Streams>>,
    caller: Option<Extension<Caller>>,
    Query(Who { who }): Query<Who>,
) -> Response {
    let Some(hub) = api.telemetry.clone() else {
        return error(StatusCode::NOT_FOUND, "this API serves no telemetry");
    };
    if let Some(who) = &who
        && !valid_who(who)
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("`who` must be 1 to {MAX_WHO} letters, digits or @.:-_"),
        );
    }
    let place = match streams.map(|Extension(streams)| streams.take()) {
        Some(None) => return busy("too many streams are open; retry in a moment"),
        place => place.flatten(),
    };
    // Named by what the caller says, and by the named key that vouches for it
    // (the one shared token tells nothing about who holds it).
    let who = match (who, caller) {
        (Some(who), Some(Extension(Caller(key)))) if key != "token" => {
            Some(format!("{who} (key {key})"))
        }
        (who, _) => who,
    };
    let live = hub.lines.subscribe();
    if let Some(who) = &who {
        lock(&hub.here).push(who.clone());
        hub.announce();
    }
    let mut first = vec![Line::Presence { here: hub.here() }.bytes()];
    first.extend(lock(&hub.host).clone());
    let attached = Attached { hub, who };
    let state = (first, live, place, attached);
    let body =
        futures_util::stream::unfold(state, |(mut first, mut live, place, attached)| async move {
            if !first.is_empty() {
                let line = first.remove(0);
                return Some((Ok::<_, Infallible>(line), (first, live, place, attached)));
            }
            loop {
                match live.recv().await {
                    Ok(line) => return Some((Ok(line), (first, live, place, attached))),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(body),
    )
        .into_response()
}

/// `GET /api/presence`: `{"here":["alice@ssh:10.0.0.7","bob@local"]}`.
pub(super) async fn presence(State(api): State<Arc<Api>>) -> Response {
    match &api.telemetry {
        Some(hub) => Json(serde_json::json!({ "here": hub.here() })).into_response(),
        None => error(StatusCode::NOT_FOUND, "this API serves no telemetry"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_short_plain_tokens() {
        for ok in ["alice@ssh:10.0.0.7", "uid1000@local", "bob@ssh:fe80::1"] {
            assert!(valid_who(ok), "{ok}");
        }
        let long = "a".repeat(MAX_WHO + 1);
        for bad in ["", "alice smith", "x\u{1b}[31m", "bob\n", long.as_str()] {
            assert!(!valid_who(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_sample_crosses_the_wire_in_a_short_line() {
        let sample = Sample {
            target: "orders-db".into(),
            at: "2026-11-23T14:02:07.120Z".parse().unwrap(),
            healthy: true,
            latency: Duration::from_micros(812),
            cpu_percent: None,
            memory_percent: None,
        };
        let line = Line::from_sample(&sample).bytes();
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"kind\":\"sample\",\"target\":\"orders-db\",\"at\":\"2026-11-23T14:02:07.120Z\",\"ok\":true,\"us\":812}\n"
        );
        let back: Line = serde_json::from_slice(&line).unwrap();
        let back = back.into_sample().unwrap();
        assert_eq!((back.target, back.latency), (sample.target, sample.latency));
    }
}
