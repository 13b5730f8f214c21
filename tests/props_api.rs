//! Property tests of the HTTP API over a real loopback socket: no body and no
//! query string, however hostile, gets a 5xx or stops the engine behind it.

mod common;

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

use autoheal::api::Api;
use autoheal::engine::{Engine, Settings};
use autoheal::event::EventKind;
use autoheal::playbook::{Playbooks, parse_file};
use common::Rig;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const TARGETS: &str = "targets:
  - name: orders-db
    passive: {}
  - name: web
    passive: {}
";

/// Every ingested failure waits for approval; an approved step runs `true`.
/// Nothing a request says can make it run anything else.
const PLAYBOOK: &str = "name: ask-then-noop
match: { kind: ingest }
severity: low
confidence: 1.0
approval: required
steps:
  - name: noop
    exec: { argv: [\"true\"], timeout: 5s }
";

/// A real engine (two passive targets, a journal, metrics) behind the real router.
struct Server {
    base: String,
    rig: Rig,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let playbooks = parse_file(Path::new("p.yaml"), PLAYBOOK).unwrap();
        let settings = Settings {
            playbooks: Playbooks::new(playbooks),
            ..common::settings(dir.path(), TARGETS)
        };
        let engine = Engine::new(settings).unwrap();
        let metrics = autoheal::metrics::spawn(engine.view(), engine.samples());
        let rig = Rig::spawn(engine, dir);
        let base = common::serve(Api {
            metrics: Some(metrics),
            ..rig.api()
        })
        .await;
        Server { base, rig }
    }

    fn engine_stopped(&self) -> bool {
        self.rig.handle.commands().is_closed()
    }
}

/// One server shared by every case of a property, replaced only after a case
/// stopped its engine: the next cases (and the shrinking) then start clean.
struct Harness {
    runtime: Runtime,
    server: RefCell<Option<Server>>,
    http: reqwest::Client,
    probes: RefCell<u64>,
}

enum Request {
    Post(&'static str, Vec<u8>),
    Get(&'static str, String),
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Post(path, body) => {
                let body = String::from_utf8_lossy(body);
                let shown: String = body.chars().take(600).collect();
                write!(f, "POST {path} ({} bytes) {shown}", body.len())
            }
            Request::Get(path, query) => write!(f, "GET {path}?{query}"),
        }
    }
}

impl Harness {
    fn new() -> Harness {
        Harness {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            server: RefCell::new(None),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            probes: RefCell::new(0),
        }
    }

    /// Sends `request` and checks the answer and the engine behind it.
    fn check(&self, request: &Request) -> Result<(), TestCaseError> {
        let mut slot = self.server.borrow_mut();
        if slot.as_ref().is_none_or(Server::engine_stopped) {
            *slot = Some(self.runtime.block_on(Server::start()));
        }
        let server = slot.as_mut().unwrap();
        self.runtime.block_on(async {
            let sent = match request {
                Request::Post(path, body) => self
                    .http
                    .post(format!("{}{path}", server.base))
                    .header("content-type", "application/json")
                    .body(body.clone()),
                Request::Get(path, query) => {
                    self.http.get(format!("{}{path}?{query}", server.base))
                }
            }
            .send()
            .await
            .map_err(|e| TestCaseError::fail(format!("no well-formed answer: {e:?}")))?;
            let status = sent.status();
            // Streams (`/api/events`) are not read to their end: the status is the answer.
            drop(sent);
            prop_assert!(
                status.as_u16() < 500 || (status == 503 && server.engine_stopped()),
                "status {}",
                status
            );
            let n = {
                let mut probes = self.probes.borrow_mut();
                *probes += 1;
                *probes
            };
            self.alive(server, n).await
        })
    }

    /// The engine still takes commands: a pause and a resume come back as events.
    async fn alive(&self, server: &mut Server, n: u64) -> Result<(), TestCaseError> {
        let health = self
            .http
            .get(format!("{}/health", server.base))
            .send()
            .await
            .map_err(|e| TestCaseError::fail(format!("/health: {e}")))?;
        prop_assert_eq!(health.status(), 200, "/health after the request");
        let by = format!("liveness-{n}");
        for command in ["pause", "resume"] {
            let answer = self
                .http
                .post(format!("{}/api/commands", server.base))
                .header("content-type", "application/json")
                .body(json!({ "command": command, "by": by }).to_string())
                .send()
                .await
                .map_err(|e| TestCaseError::fail(format!("{command}: {e}")))?;
            prop_assert_eq!(answer.status(), 202, "{} after the request", command);
        }
        // Pause is a no-op when already paused; resume always lands. Up to 2 s,
        // but a stopped engine is told at once (shrinking runs many such cases).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_millis(50), server.rig.events.recv()).await {
                Ok(Ok(e)) if matches!(&e.kind, EventKind::AutomationResumed { by: b } if *b == by) =>
                {
                    return Ok(());
                }
                Err(_) if server.engine_stopped() => break,
                _ => {}
            }
        }
        Err(TestCaseError::fail(format!(
            "the engine no longer acts on commands (stopped: {})",
            server.engine_stopped()
        )))
    }

    fn run(&self, cases: u32, strategy: impl Strategy<Value = Request>) {
        let config = ProptestConfig {
            cases,
            failure_persistence: None,
            // Each shrink step is a real request; bound the search.
            max_shrink_time: 20_000,
            ..ProptestConfig::default()
        };
        let result = TestRunner::new(config).run(&strategy, |request| self.check(&request));
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}

// ---- generators -----------------------------------------------------------

/// Strings a hostile or unlucky client sends.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["orders-db", "web", "alice", "DB_TIMEOUT", ""])
            .prop_map(String::from),
        2 => ".{0,12}",
        1 => Just("../../../etc/passwd".to_string()),
        1 => Just("-rf".to_string()),
        1 => "[\\x00-\\x1f\\x7f\u{2028}]{1,6}",
        1 => Just("x".repeat(20_000)),
    ]
}

/// Numbers at the edges of every type a field might be read into.
fn number() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(0),
        json!(1),
        json!(7),
        json!(-1),
        json!(1.5),
        json!(1e30),
        json!(-1e30),
        json!(u32::MAX),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(315_360_000u64), // ten years in seconds
        json!(315_360_001u64), // just over
        json!(1_000_000_000_000u64),
        json!("5m"),
        json!("7"),
        Value::Null,
    ])
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Some fields of `fields`, each with a value of its kind or any JSON at all.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> impl Strategy<Value = Value> {
    let each: Vec<_> = fields
        .into_iter()
        .map(|(name, value)| {
            // Absent first: shrinking moves towards earlier arms, so a minimal
            // failing body keeps only the fields that matter.
            prop_oneof![
                1 => Just(None),
                24 => value.prop_map(Some),
                1 => any_json().prop_map(Some),
            ]
            .prop_map(move |v| v.map(|v| (name.to_string(), v)))
        })
        .collect();
    each.prop_map(|pairs| Value::Object(pairs.into_iter().flatten().collect()))
}

fn string() -> BoxedStrategy<Value> {
    text().prop_map(Value::String).boxed()
}

fn one_of(words: &[&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![
        8 => prop::sample::select(words.to_vec()).prop_map(|w| json!(w)),
        1 => string(),
    ]
    .boxed()
}

fn labels() -> BoxedStrategy<Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "alertname",
            "service",
            "job",
            "instance",
            "severity",
            "autoheal.restart",
            "unit",
        ])
        .prop_map(String::from),
        text(),
    ];
    btree_map(key, string(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
        .boxed()
}

/// A command as documented, or one of the engine's internal ones, with every
/// field drawn from its edge cases: the silence overflow of issue 7 lives here.
fn command(names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let fields = object(vec![
        ("incident_id", number().boxed()),
        ("by", string()),
        (
            "target",
            one_of(&["orders-db", "web", "orders-db", "web", "nope"]),
        ),
        ("fault", string()),
        ("duration", number().boxed()),
        ("reason", string()),
        ("source", string()),
        ("signature", string()),
        ("severity", one_of(&["low", "high", "critical", "page"])),
        ("detail", string()),
        ("labels", labels()),
        ("firing", any::<bool>().prop_map(Value::Bool).boxed()),
        ("url", string()),
        ("error", string()),
    ]);
    (prop::sample::select(names), fields).prop_map(|(name, mut fields)| {
        fields["command"] = json!(name);
        fields
    })
}

const PUBLIC: &[&str] = &autoheal::api::PUBLIC_COMMANDS;
const INTERNAL: &[&str] = &["shutdown", "ingest", "record_notification_failure", "bogus"];

fn status() -> BoxedStrategy<Value> {
    one_of(&[
        "firing", "resolved", "firing", "resolved", "firing", "FIRING", "unknown",
    ])
}

fn intake() -> impl Strategy<Value = Value> {
    object(vec![
        (
            "service",
            one_of(&["orders-db", "web", "orders-db", "web", "nope"]),
        ),
        ("error", string()),
        (
            "severity",
            one_of(&["critical", "warning", "info", "bogus"]),
        ),
        ("status", status()),
        ("detail", string()),
    ])
}

fn published() -> impl Strategy<Value = Value> {
    let payload = object(vec![
        (
            "service",
            one_of(&["orders-db", "web", "orders-db", "web", "nope"]),
        ),
        (
            "severity",
            one_of(&["critical", "warning", "info", "low", "bogus"]),
        ),
        ("status", status()),
        ("detail", string()),
    ]);
    object(vec![
        ("type", string()),
        ("source", string()),
        ("payload", payload.boxed()),
    ])
}

fn alertmanager() -> impl Strategy<Value = Value> {
    let annotations = prop_oneof![
        Just(Value::Null),
        btree_map(
            prop::sample::select(vec!["summary", "description"]).prop_map(String::from),
            string(),
            0..2
        )
        .prop_map(|m| Value::Object(m.into_iter().collect())),
    ];
    let alert = object(vec![
        ("status", status()),
        ("labels", labels()),
        ("annotations", annotations.boxed()),
    ]);
    object(vec![
        ("version", Just(json!("4")).boxed()),
        ("alerts", vec(alert, 0..4).prop_map(Value::Array).boxed()),
    ])
}

/// Bytes that are not (or not quite) JSON: random, truncated, deeply nested, oversized.
fn junk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..256),
        Just(b"[".repeat(100_000)),
        Just(format!("{}1{}", "[".repeat(5000), "]".repeat(5000)).into_bytes()),
        Just(vec![b' '; 70_000]),
        Just(b"{\"command\":\"pause\",\"by\":\"x\"".to_vec()),
    ]
}

fn post(path: &'static str, body: impl Strategy<Value = Value>) -> impl Strategy<Value = Request> {
    prop_oneof![
        4 => body.prop_map(move |v| Request::Post(path, v.to_string().into_bytes())),
        1 => any_json().prop_map(move |v| Request::Post(path, v.to_string().into_bytes())),
        1 => junk().prop_map(move |b| Request::Post(path, b)),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "since=0",
            "since=1",
            "since=18446744073709551615",
            "since=18446744073709551616",
            "since=-1",
            "since=1e3",
            "since=",
            "since",
            "since=1&since=2",
            "%",
            "%zz",
            "since=%00",
        ])
        .prop_map(String::from),
        "[a-z0-9=&%+;. -]{0,40}",
        "since=[0-9]{0,25}",
    ]
}

// ---- properties -----------------------------------------------------------

/// Documented commands with fields at their edges, e.g. a silence of `u64::MAX` seconds.
#[test]
fn documented_commands_never_stop_the_engine() {
    Harness::new().run(160, post("/api/commands", command(PUBLIC)));
}

/// Issue 7, item 1: a silence of any length, even one no clock can reach,
/// is refused or capped; it never kills the engine.
#[test]
fn a_silence_of_any_duration_never_stops_the_engine() {
    let duration = prop_oneof![
        number(),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
    ];
    let body = (duration, one_of(&["orders-db", "web"])).prop_map(|(duration, target)| {
        json!({ "command": "silence", "target": target, "duration": duration, "by": "prop" })
    });
    Harness::new().run(64, post("/api/commands", body));
}

/// Internal command names (`shutdown`, `ingest`, ...) and anything else: at
/// most refused, never obeyed in a way that stops the engine.
#[test]
fn any_command_body_never_stops_the_engine() {
    Harness::new().run(128, post("/api/commands", command(INTERNAL)));
}

/// The three intake endpoints with their real shapes, any JSON, or junk.
#[test]
fn intake_bodies_never_stop_the_engine() {
    let request = prop_oneof![
        post("/api/incidents", intake()),
        post("/api/events/publish", published()),
        post("/api/alertmanager", alertmanager()),
    ];
    Harness::new().run(192, request);
}

/// Every GET endpoint with any query string.
#[test]
fn any_query_string_is_answered() {
    let path = prop::sample::select(vec!["/api/events", "/api/state", "/health", "/metrics"]);
    Harness::new().run(96, (path, query()).prop_map(|(p, q)| Request::Get(p, q)));
}
