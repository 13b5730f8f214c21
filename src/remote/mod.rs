//! A console's link to a daemon (`autoheal-tui attach`): the daemon's event
//! stream and its telemetry arrive on local channels, and commands leave as
//! HTTP posts, so the console folds them as it would a local engine's. What a
//! local engine never has, the link reports beside them: whether the daemon
//! answers ([`LinkState`], with the reconnect countdown), who else is attached,
//! and what became of each command ([`Link::notices`]). The link knows nothing
//! of the console; the console reads these.

use jiff::Timestamp;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

use crate::api::PublicCommand;
use crate::api::telemetry::{self, Line};
use crate::clock::now_ms;
use crate::engine::Sample;
use crate::event::{Command, Event};

pub mod fleet;
pub mod fleet_file;
pub mod merge;

/// The first reconnect waits this long; each failure after it doubles the wait…
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// …up to this, so a daemon back from a restart is seen within a few seconds.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long a connection attempt may take before the daemon counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A daemon without `/api/telemetry` (an older one) is asked again this rarely.
const TELEMETRY_MISSING_RETRY: Duration = Duration::from_secs(30);

/// Whether the daemon answers, as the event stream finds it.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkState {
    /// The first attempt has not been answered yet.
    Connecting,
    /// The event stream is open.
    Connected { since: Timestamp },
    /// No stream since `since`; the next attempt is at `retry_at`.
    Down {
        since: Timestamp,
        retry_at: Timestamp,
        cause: Cause,
        /// Failed attempts in a row, for the backoff.
        failures: u32,
    },
}

/// Why the link is down.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// Nothing answers at the URL (refused, timed out, no route, no such name).
    Unreachable,
    /// The daemon answered 401 or 403: the token is missing or wrong.
    TokenRefused(u16),
    /// The daemon answered another status (503 while it has too many streams).
    Answered(u16, String),
}

impl LinkState {
    /// The stream opened.
    pub fn up(&mut self, now: Timestamp) {
        *self = LinkState::Connected { since: now };
    }

    /// An attempt failed at `now` (the daemon was last seen at `lost`, when it
    /// was seen): the link is down since then, and the next attempt waits
    /// longer each time, from [`RETRY_FIRST`] to [`RETRY_MAX`]. Returns the wait.
    pub fn down(&mut self, cause: Cause, now: Timestamp, lost: Option<Timestamp>) -> Duration {
        let (since, failures) = match self {
            LinkState::Down {
                since, failures, ..
            } => (*since, failures.saturating_add(1)),
            _ => (lost.unwrap_or(now), 1),
        };
        let wait = RETRY_FIRST
            .saturating_mul(1 << failures.saturating_sub(1).min(8))
            .min(RETRY_MAX);
        *self = LinkState::Down {
            since,
            retry_at: now.saturating_add(wait).unwrap_or(now),
            cause,
            failures,
        };
        wait
    }
}

/// What the console shows about its daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkStatus {
    /// The URL as given, e.g. `http://127.0.0.1:7311`.
    pub url: String,
    /// The daemon's `host:port`, its name on screen.
    pub daemon: String,
    pub state: LinkState,
    /// The other consoles attached, by the identity they approve with.
    pub others: Vec<String>,
    /// Attached to a fleet: each daemon's own state, in fleet order (empty
    /// for one daemon). `state` is then the fleet's: up while any daemon is.
    pub members: Vec<Member>,
}

/// One daemon of a fleet, as the header shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    pub state: LinkState,
}

impl LinkStatus {
    pub fn new(url: &str) -> LinkStatus {
        LinkStatus {
            url: url.to_string(),
            daemon: daemon_name(url),
            state: LinkState::Connecting,
            others: Vec::new(),
            members: Vec::new(),
        }
    }

    /// Why a command cannot be sent now, or `None` when it can.
    pub fn refusal(&self) -> Option<String> {
        match &self.state {
            LinkState::Connected { .. } => None,
            LinkState::Connecting => Some("not sent: not connected to the daemon yet".into()),
            LinkState::Down {
                cause: Cause::TokenRefused(_),
                ..
            } => Some("not sent: the daemon refused the token".into()),
            LinkState::Down { .. } => Some("not sent: daemon unreachable".into()),
        }
    }
}

/// `host:port` of `url` (scheme, path and credentials dropped).
pub fn daemon_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.to_string()
}

pub struct Link {
    pub events: broadcast::Receiver<Event>,
    /// The daemon's probe samples, for the sparklines.
    pub samples: broadcast::Receiver<Sample>,
    pub commands: mpsc::Sender<Command>,
    pub feeds: Feeds,
}

/// What a link reports that a local engine has no need to.
pub struct Feeds {
    /// The daemon's host CPU and memory, for the gauges.
    pub host: mpsc::Receiver<(Option<f32>, Option<f32>)>,
    pub status: watch::Receiver<LinkStatus>,
    /// One line per command the daemon did not take ("daemon refused approve #7: 409 …").
    pub notices: mpsc::Receiver<String>,
}

/// Starts following `base` (e.g. `http://127.0.0.1:7311`) from the first event,
/// as `who` (shown to the other consoles). When the stream ends (the daemon
/// restarted, or we fell behind) it reconnects by itself, resuming after the
/// last `seq` it saw.
pub fn connect(base: &str, token: Option<String>, who: &str) -> Link {
    let base = base.trim_end_matches('/').to_string();
    // A host that drops packets must not leave the console "connecting" for
    // minutes, nor a cut network leave a silent stream looking open: keepalive
    // probes find a vanished peer in about 5 + 3 x 2 s even when no event flows.
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_keepalive(Duration::from_secs(5))
        .tcp_keepalive_interval(Duration::from_secs(2))
        .tcp_keepalive_retries(3)
        .build()
        .unwrap_or_default();
    let (events_tx, events) = broadcast::channel(16_384);
    let (samples_tx, samples) = broadcast::channel(1024);
    let (host_tx, host) = mpsc::channel(1);
    let (commands, commands_rx) = mpsc::channel::<Command>(64);
    let (notices_tx, notices) = mpsc::channel(16);
    let (status_tx, status) = watch::channel(LinkStatus::new(&base));
    let peer = Peer {
        client,
        base,
        token,
    };
    tokio::spawn(follow_events(peer.clone(), events_tx, status_tx.clone()));
    let who = telemetry::valid_who(who).then(|| who.to_string());
    if who.is_none() {
        tracing::warn!("not shown to other consoles: `{who:?}` is not a plain identity");
    }
    tokio::spawn(follow_telemetry(
        peer.clone(),
        who,
        samples_tx,
        host_tx,
        status_tx,
    ));
    tokio::spawn(send_commands(peer, commands_rx, notices_tx));
    Link {
        events,
        samples,
        commands,
        feeds: Feeds {
            host,
            status,
            notices,
        },
    }
}

#[derive(Clone)]
struct Peer {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Peer {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.authorized(self.client.get(format!("{}{path}", self.base)))
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Opens `path` as a stream: the response, or why the link is down.
    async fn open(&self, path: &str) -> Result<reqwest::Response, (Cause, String)> {
        let response = self
            .get(path)
            .send()
            .await
            .map_err(|e| (Cause::Unreachable, e.to_string()))?;
        match response.status().as_u16() {
            200..=299 => Ok(response),
            code @ (401 | 403) => Err((Cause::TokenRefused(code), reason(response).await)),
            code => {
                let why = reason(response).await;
                Err((Cause::Answered(code, why.clone()), why))
            }
        }
    }
}

/// The `error` of a daemon's JSON answer, else its status.
async fn reason(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let said = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_string));
    // A peer's text reaches the screen: printable characters only, and not a page of them.
    let said: Option<String> =
        said.map(|s| s.chars().filter(|c| !c.is_control()).take(160).collect());
    match said {
        Some(said) => format!("{} {said}", status.as_u16()),
        None => status.to_string(),
    }
}

/// The event stream, reconnected for as long as the console listens, with
/// the link's state kept in `status`.
async fn follow_events(
    peer: Peer,
    events: broadcast::Sender<Event>,
    status: watch::Sender<LinkStatus>,
) {
    let mut last = 0;
    // When a stream that was open ended: the daemon was last seen then.
    let mut lost = None;
    loop {
        let ended = match peer.open(&format!("/api/events?since={last}")).await {
            Ok(response) => {
                status.send_modify(|s| s.state.up(now_ms()));
                let opened = tokio::time::Instant::now();
                let ended = read_events(response, &peer.base, &mut last, &events).await;
                if events.receiver_count() == 0 {
                    return; // the console has gone
                }
                // Try again at once: a stream that ends is usually a daemon
                // restarting or a console that fell behind, not a dead one.
                lost = Some(now_ms());
                tracing::warn!("event stream from {}: {ended}; reconnecting", peer.base);
                // …but not in a tight loop, should it keep ending as soon as it opens.
                tokio::time::sleep_until(opened + RETRY_FIRST).await;
                continue;
            }
            Err(failed) => failed,
        };
        let (cause, why) = ended;
        tracing::warn!("event stream from {}: {why}", peer.base);
        let mut wait = RETRY_FIRST;
        status.send_modify(|s| {
            wait = s.state.down(cause, now_ms(), lost);
            s.others.clear();
        });
        tokio::time::sleep(wait).await;
        if events.receiver_count() == 0 {
            return;
        }
    }
}

/// Reads one connection's worth of the stream, advancing `last`; says why it ended.
async fn read_events(
    mut response: reqwest::Response,
    base: &str,
    last: &mut u64,
    events: &broadcast::Sender<Event>,
) -> String {
    let mut pending = Vec::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return "the stream ended".into(),
            Err(e) => return e.to_string(),
        };
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            match serde_json::from_slice::<Event>(&line) {
                Ok(event) if event.seq > *last => {
                    *last = event.seq;
                    if events.send(event).is_err() {
                        return "the console has gone".into();
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("skipped an event line from {base}: {e}"),
            }
        }
    }
}

/// The telemetry stream: samples, the daemon host's gauges, and presence.
async fn follow_telemetry(
    peer: Peer,
    who: Option<String>,
    samples: broadcast::Sender<Sample>,
    host: mpsc::Sender<(Option<f32>, Option<f32>)>,
    status: watch::Sender<LinkStatus>,
) {
    let path = match &who {
        Some(who) => format!("/api/telemetry?who={who}"),
        None => "/api/telemetry".to_string(),
    };
    let mut failures = 0u32;
    loop {
        let wait = match peer.open(&path).await {
            Ok(mut response) => {
                failures = 0;
                let mut pending = Vec::new();
                while let Ok(Some(chunk)) = response.chunk().await {
                    pending.extend_from_slice(&chunk);
                    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        match serde_json::from_slice::<Line>(&line) {
                            Ok(Line::Host { cpu, mem }) => {
                                // A full channel holds a reading not yet shown: skip this one.
                                let _ = host.try_send((cpu, mem));
                            }
                            Ok(Line::Presence { here }) => {
                                let others = others(here, who.as_deref());
                                status.send_if_modified(|s| {
                                    let changed = s.others != others;
                                    s.others = others;
                                    changed
                                });
                            }
                            Ok(line) => {
                                if let Some(sample) = line.into_sample() {
                                    let _ = samples.send(sample);
                                }
                            }
                            Err(e) => tracing::debug!("skipped a telemetry line: {e}"),
                        }
                    }
                }
                RETRY_FIRST
            }
            Err((Cause::Answered(404, _), _)) => TELEMETRY_MISSING_RETRY,
            Err(_) => {
                failures = failures.saturating_add(1);
                RETRY_FIRST.saturating_mul(failures.min(5)).min(RETRY_MAX)
            }
        };
        if samples.receiver_count() == 0 && host.is_closed() {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

/// Everyone `here` but this console (one entry of `who`: the same operator
/// attached twice sees the other one). Behind named keys the daemon adds the
/// key to each name (`alice@local (key ops)`).
fn others(mut here: Vec<String>, who: Option<&str>) -> Vec<String> {
    let me =
        |h: &String, w: &str| h == w || h.strip_prefix(w).is_some_and(|k| k.starts_with(" (key "));
    if let Some(i) = who.and_then(|w| here.iter().position(|h| me(h, w))) {
        here.remove(i);
    }
    here
}

/// Posts each command; what the daemon did not take becomes a notice.
async fn send_commands(
    peer: Peer,
    mut commands: mpsc::Receiver<Command>,
    notices: mpsc::Sender<String>,
) {
    while let Some(command) = commands.recv().await {
        // The daemon takes only the public vocabulary; a console never needs the rest.
        let command = match PublicCommand::try_from(command) {
            Ok(c) => c,
            Err(internal) => {
                tracing::warn!("not sent to {}, which accepts no {internal:?}", peer.base);
                continue;
            }
        };
        let what = describe(&command);
        let request = peer.authorized(
            peer.client
                .post(format!("{}/api/commands", peer.base))
                .json(&command),
        );
        let notice = match request.send().await {
            Ok(r) if r.status().is_success() => continue,
            Ok(r) => format!("daemon refused {what}: {}", reason(r).await),
            Err(e) => {
                tracing::warn!("cannot send {what} to {}: {e}", peer.base);
                format!("not sent: daemon unreachable ({what})")
            }
        };
        tracing::warn!("{notice}");
        let _ = notices.try_send(notice);
    }
}

/// `approve #7`, `silence orders-db`: the command as the operator would name it.
fn describe(command: &PublicCommand) -> String {
    let value = serde_json::to_value(command).unwrap_or_default();
    let name = value["command"]
        .as_str()
        .unwrap_or("command")
        .replace('_', " ");
    match (value.get("incident_id"), value.get("target")) {
        (Some(id), _) => format!("{name} #{id}"),
        (None, Some(serde_json::Value::String(target))) => format!("{name} {target}"),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn reconnects_back_off_from_one_second_to_five_and_keep_since() {
        let mut state = LinkState::Connected { since: at(0) };
        // The stream ended at 10; the first retry failed at once.
        let waits: Vec<u64> = (0..6)
            .map(|i| {
                state
                    .down(Cause::Unreachable, at(10 + i), Some(at(10)))
                    .as_secs()
            })
            .collect();
        assert_eq!(waits, [1, 2, 4, 5, 5, 5]);
        let LinkState::Down {
            since,
            retry_at,
            failures,
            ..
        } = state.clone()
        else {
            panic!("{state:?}")
        };
        assert_eq!((since, retry_at, failures), (at(10), at(20), 6));
        // Back: the next loss starts again at one second.
        state.up(at(30));
        assert_eq!(state, LinkState::Connected { since: at(30) });
        assert_eq!(state.down(Cause::Unreachable, at(40), None).as_secs(), 1);
    }

    #[test]
    fn a_link_that_never_came_up_is_down_since_its_first_attempt() {
        let mut state = LinkState::Connecting;
        state.down(Cause::TokenRefused(401), at(5), None);
        assert!(matches!(state, LinkState::Down { since, .. } if since == at(5)));
    }

    #[test]
    fn commands_are_refused_unless_connected() {
        let mut status = LinkStatus::new("http://127.0.0.1:7311");
        assert!(status.refusal().is_some());
        status.state.up(at(0));
        assert_eq!(status.refusal(), None);
        status.state.down(Cause::Unreachable, at(1), None);
        assert_eq!(
            status.refusal().as_deref(),
            Some("not sent: daemon unreachable")
        );
    }

    #[test]
    fn the_daemon_is_named_by_host_and_port() {
        assert_eq!(daemon_name("http://127.0.0.1:7311"), "127.0.0.1:7311");
        assert_eq!(
            daemon_name("https://ops.example:443/x?y"),
            "ops.example:443"
        );
        assert_eq!(daemon_name("http://u:p@[::1]:7311/"), "[::1]:7311");
        assert_eq!(daemon_name("127.0.0.1:7311"), "127.0.0.1:7311");
    }

    #[test]
    fn presence_leaves_out_this_console_once() {
        let here = vec![
            "alice@local".into(),
            "alice@local".into(),
            "bob@local".into(),
        ];
        assert_eq!(
            others(here, Some("alice@local")),
            ["alice@local", "bob@local"]
        );
        let keyed = vec!["alice@local (key ops)".into(), "bob@local (key ro)".into()];
        assert_eq!(others(keyed, Some("alice@local")), ["bob@local (key ro)"]);
    }

    #[test]
    fn commands_are_named_as_an_operator_would() {
        let approve = PublicCommand::Approve {
            incident_id: crate::event::IncidentId(7),
            by: "alice".into(),
        };
        assert_eq!(describe(&approve), "approve #7");
        let pause = PublicCommand::Pause { by: "alice".into() };
        assert_eq!(describe(&pause), "pause");
    }
}
