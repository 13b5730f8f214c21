//! Property tests of durations: whatever a config, a playbook or a flag says,
//! it is refused with an error or it runs; no duration ever panics the engine.

use std::path::Path;
use std::time::Duration;

use autoheal::config::{Config, MAX_DURATION, Target, parse_duration};
use autoheal::engine::{Context, Engine, Policy, Settings, decide, now_ms};
use autoheal::event::{Command, Event, EventKind, IncidentId, Severity};
use autoheal::playbook::{Playbook, Playbooks, parse_file};
use autoheal::state::State;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---- generators -----------------------------------------------------------

/// Text a user might write for a duration: every unit and notation, at the
/// bound and around it, beyond any integer, negative, fractional, or nonsense.
fn duration_text() -> impl Strategy<Value = String> {
    let number = prop::sample::select(vec![
        "0",
        "1",
        "59",
        "1.5",
        "0.000000001",
        "87600",
        "87601",
        "315360000",
        "315360001",
        "1000000000",
        "9223372036854775807",
        "18446744073709551615",
        "340282366920938463463374607431768211456",
        "1e30",
        "-1",
        "-0",
    ]);
    let unit = prop::sample::select(vec![
        "ns", "us", "ms", "s", "m", "h", "d", "w", "y", "mo", "", " secs", "hours",
    ]);
    prop_oneof![
        4 => (number.clone(), unit).prop_map(|(n, u)| format!("{n}{u}")),
        1 => (number.clone(), prop::sample::select(vec!["S", "M", "H"])).prop_map(|(n, u)| format!("PT{n}{u}")),
        1 => prop::sample::select(vec![
            "87600h",
            "87600h 1ns",
            "87599h 59m 60s",
            "1h 30m",
            "10y",
            "P1Y",
            "P10Y1D",
            "-PT5S",
            "- 5s",
            "5s ago",
            "",
            " ",
            "∞",
            "NaN s",
        ])
        .prop_map(String::from),
        1 => ".{0,12}",
        1 => (number, number_suffix()).prop_map(|(n, s)| format!("{n}{s}")),
    ]
}

fn number_suffix() -> impl Strategy<Value = String> {
    "[a-z ]{0,4}"
}

/// A YAML value for a duration field: mostly one `parse_duration` accepts (a
/// config is only accepted when all ten are), else any text or another type.
fn yaml_duration() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => prop::sample::select(vec![
            "0s", "1ns", "1ms", "1s", "5m", "1h 30m", "PT2S", "87599h 59m 59s", "87600h",
            "315360000s",
        ])
        .prop_map(String::from),
        2 => duration_text().prop_map(|t| serde_json::to_string(&t).unwrap()),
        1 => prop::sample::select(vec!["5", "-1", ".nan", ".inf", "~", "[]", "{}", "true"])
            .prop_map(String::from),
    ]
}

/// Every duration field of a config, and a playbook `cooldown`.
#[derive(Debug, Clone)]
struct Durations {
    policy: [String; 6],
    defaults: [String; 2],
    target: [String; 2],
    playbook_cooldown: String,
}

fn durations() -> impl Strategy<Value = Durations> {
    let d = yaml_duration;
    ([d(), d(), d(), d(), d(), d()], [d(), d()], [d(), d()], d()).prop_map(
        |(policy, defaults, target, playbook_cooldown)| Durations {
            policy,
            defaults,
            target,
            playbook_cooldown,
        },
    )
}

impl Durations {
    fn config(&self) -> String {
        let [
            cooldown,
            flap_window,
            verify_within,
            backoff_base,
            backoff_max,
            backoff_reset,
        ] = &self.policy;
        let [interval, timeout] = &self.defaults;
        let [t_interval, t_timeout] = &self.target;
        format!(
            "policy:
  cooldown: {cooldown}
  flap_window: {flap_window}
  verify_within: {verify_within}
  backoff_base: {backoff_base}
  backoff_max: {backoff_max}
  backoff_reset: {backoff_reset}
defaults:
  interval: {interval}
  timeout: {timeout}
targets:
  - name: web
    passive: {{}}
    interval: {t_interval}
    timeout: {t_timeout}
"
        )
    }

    /// A playbook for every ingested failure of `web`; its own cooldown is arbitrary too.
    fn playbook(&self) -> Playbook {
        let text = |cooldown: &str| {
            format!(
                "name: noop
match: {{ kind: ingest }}
severity: low
confidence: 1.0
approval: auto
{cooldown}steps:
  - name: one
    exec: {{ argv: [\"true\"], timeout: 5s }}
  - name: two
    exec: {{ argv: [\"true\"], timeout: 5s }}
"
            )
        };
        let with = format!("cooldown: {}\n", self.playbook_cooldown);
        parse_file(Path::new("p.yaml"), &text(&with))
            .or_else(|_| parse_file(Path::new("p.yaml"), &text("")))
            .expect("the playbook without cooldown parses")
            .remove(0)
    }
}

// ---- parse_duration -------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    /// Any text is a duration of at most ten years, or an error that says why.
    #[test]
    fn parse_duration_never_panics(text in prop_oneof![duration_text(), any::<String>()]) {
        match parse_duration(&text) {
            Ok(d) => prop_assert!(d <= MAX_DURATION, "{text:?} gave {d:?}, above the bound"),
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }
}

// ---- the planner: `now - cooldown` and friends ----------------------------

/// `web` was remediated `ago` before now (incident 1, resolved), and has just
/// failed again (incident 2, nothing tried yet).
fn state_with_past_remediation(playbook: &str, now: Timestamp, ago: SignedDuration) -> State {
    let then = now.checked_sub(ago).unwrap_or(now);
    let mut state = State::default();
    let events = [
        (
            then,
            EventKind::IncidentDetected {
                incident_id: IncidentId(1),
                target: "web".into(),
                signature: "DOWN".into(),
                severity: Severity::Low,
                started_at: then,
                chaos: false,
                trace_id: String::new(),
                reported_by: None,
                text: None,
            },
        ),
        (
            then,
            EventKind::ActionStarted {
                incident_id: IncidentId(1),
                playbook: playbook.into(),
                step: "one".into(),
                action: "exec".into(),
                attempt: 1,
                term: None,
            },
        ),
        (
            then,
            EventKind::IncidentResolved {
                incident_id: IncidentId(1),
                time_to_detect_ms: 0,
                time_to_resolve_ms: 0,
            },
        ),
        (
            now,
            EventKind::IncidentDetected {
                incident_id: IncidentId(2),
                target: "web".into(),
                signature: "DOWN".into(),
                severity: Severity::Low,
                started_at: now,
                chaos: false,
                trace_id: String::new(),
                reported_by: None,
                text: None,
            },
        ),
    ];
    for (seq, (ts, kind)) in events.into_iter().enumerate() {
        state.apply(&Event {
            seq: seq as u64 + 1,
            ts,
            kind,
        });
    }
    state
}

fn ago() -> impl Strategy<Value = SignedDuration> {
    prop_oneof![
        Just(SignedDuration::ZERO),
        Just(SignedDuration::from_secs(1)),
        Just(SignedDuration::from_hours(1)),
        Just(SignedDuration::from_hours(24 * 365 * 10)),
        (0..100_000_000i64).prop_map(SignedDuration::from_secs),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// A config is refused, or its policy plans the second remediation of a
    /// target (cooldown, flap guard, backoff) without a panic.
    #[test]
    fn accepted_durations_plan_without_panic(d in durations(), ago in ago()) {
        let Ok((config, targets)) = Config::parse(Path::new("c.yaml"), &d.config()) else {
            return Ok(());
        };
        let playbook = d.playbook();
        let now = now_ms();
        let state = state_with_past_remediation(&playbook.name, now, ago);
        let cx = Context { state: &state, policy: &config.policy, target: &targets[0], now };
        // Whatever it decides, it decides.
        let _ = decide(&cx, &state.incidents[&IncidentId(2)], Some(&playbook));
    }
}

// ---- a real engine --------------------------------------------------------

async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    what: &str,
    pred: impl Fn(&EventKind) -> bool,
) -> Result<Event, TestCaseError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(e)) if pred(&e.kind) => return Ok(e),
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            _ => return Err(TestCaseError::fail(format!("no {what} within 3 s"))),
        }
    }
}

fn ingest(signature: &str, firing: bool) -> Command {
    Command::Ingest {
        source: "test".into(),
        target: "web".into(),
        text: signature.into(),
        severity: None,
        detail: String::new(),
        labels: Default::default(),
        firing,
        trace_id: None,
        started_at: None,
    }
}

/// Two failures of `web` in a row: the second is planned right after the
/// first was remediated, then the engine must still answer a command.
async fn two_remediations(
    policy: Policy,
    targets: Vec<Target>,
    playbook: Playbook,
) -> Result<(), TestCaseError> {
    let engine = Engine::new(Settings {
        targets,
        playbooks: Playbooks::new(vec![playbook]),
        policy,
        dry_run: false,
        journal: None,
        registry: Default::default(),
    })
    .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    let mut events = engine.subscribe();
    let handle = engine.spawn();
    handle.send(ingest("FIRST", true)).await;
    next_event(&mut events, "first action", |k| {
        matches!(k, EventKind::ActionFinished { .. })
    })
    .await?;
    handle.send(ingest("FIRST", false)).await;
    handle.send(ingest("SECOND", true)).await;
    next_event(
        &mut events,
        "plan of the second failure",
        |k| matches!(k, EventKind::IncidentAnalyzed { incident_id, .. } if incident_id.0 == 2),
    )
    .await?;
    handle.send(Command::Pause { by: "prop".into() }).await;
    next_event(&mut events, "pause", |k| {
        matches!(k, EventKind::AutomationPaused { .. })
    })
    .await?;
    let stopped = tokio::time::timeout(Duration::from_secs(10), handle.shutdown("test over")).await;
    prop_assert!(stopped.is_ok(), "the engine did not stop within 10 s");
    Ok(())
}

proptest! {
    #![proptest_config(config(32))]

    /// A config that is accepted runs: two remediations of one target with its
    /// cooldown, backoff and verification window, and the engine lives on.
    #[test]
    fn accepted_durations_run_in_a_real_engine(d in durations()) {
        let Ok((config, targets)) = Config::parse(Path::new("c.yaml"), &d.config()) else {
            return Ok(());
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(two_remediations(config.policy, targets, d.playbook()))?;
    }
}
