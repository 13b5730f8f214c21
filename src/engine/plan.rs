//! The planner: given an incident and its playbook, decide what to do next and
//! say why. Pure: every input, the clock included, is passed in, so each rail
//! of DESIGN.md's policy is tested on its own.

use jiff::Timestamp;
use std::time::Duration;

use super::Policy;
use crate::clock;
use crate::config::Target;
use crate::event::{Decision, Severity};
use crate::playbook::{Approval, Playbook};
use crate::state::{Incident, State};

#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Nothing automation can offer: a human must act.
    Escalate { reason: String },
    /// A decision about `step` (index into the playbook's steps).
    Step {
        step: usize,
        confidence: f64,
        decision: Decision,
        reason: String,
        /// For `Auto`: wait this long first (backoff between remediations of one target).
        delay: Duration,
    },
    /// Watch only.
    Monitor { reason: String },
}

pub struct Context<'a> {
    pub state: &'a State,
    pub policy: &'a Policy,
    pub target: &'a Target,
    pub now: Timestamp,
}

pub fn decide(cx: &Context, incident: &Incident, playbook: Option<&Playbook>) -> Plan {
    // Nothing known to do: a high or critical failure needs a human now; a
    // medium or low one is watched and journaled, not paged about.
    let Some(playbook) = playbook else {
        let unmatched = format!(
            "no playbook matches {} on {}",
            incident.signature, incident.target
        );
        return match incident.severity >= Severity::High {
            true => Plan::Escalate { reason: unmatched },
            false => Plan::Monitor {
                reason: format!("{unmatched}; {} severity: watched", incident.severity),
            },
        };
    };
    if playbook.steps.is_empty() {
        return if incident.severity >= Severity::High {
            Plan::Escalate {
                reason: format!("playbook {} only watches: a human must act", playbook.name),
            }
        } else {
            Plan::Monitor {
                reason: format!("playbook {} only watches", playbook.name),
            }
        };
    }
    // A retry from a named step starts there; otherwise at the first step.
    let start = incident
        .retry_from
        .as_ref()
        .and_then(|from| playbook.steps.iter().position(|s| &s.name == from))
        .unwrap_or(0);
    let Some(step) = (start..playbook.steps.len())
        .find(|&i| !incident.tried_steps.contains(&playbook.steps[i].name))
    else {
        let tried = match start {
            0 => format!("all {} steps of {}", playbook.steps.len(), playbook.name),
            _ => format!(
                "every step of {} from {} on",
                playbook.name, playbook.steps[start].name
            ),
        };
        return Plan::Escalate {
            reason: format!("{tried} tried; the target is still failing"),
        };
    };
    let name = &playbook.steps[step].name;
    let confidence = cx.state.effective_confidence(
        &playbook.name,
        name,
        playbook.confidence,
        cx.policy.learning_prior,
    );
    let (decision, reason) = gate(cx, incident, playbook, name, confidence);
    let delay = if decision == Decision::Auto {
        backoff(cx, incident)
    } else {
        Duration::ZERO
    };
    let reason = match delay.is_zero() {
        true => reason,
        false => format!(
            "{reason}; backing off {}s after recent remediations",
            delay.as_secs()
        ),
    };
    Plan::Step {
        step,
        confidence,
        decision,
        reason,
        delay,
    }
}

/// Each rail in turn; the first that objects decides.
fn gate(
    cx: &Context,
    incident: &Incident,
    playbook: &Playbook,
    step: &str,
    confidence: f64,
) -> (Decision, String) {
    use Decision::*;
    let (policy, state, target, now) = (cx.policy, cx.state, cx.target, cx.now);
    if let Some(until) = state
        .targets
        .get(&target.name)
        .and_then(|t| t.silenced_until)
        .filter(|u| *u > now)
    {
        return (
            Suppressed,
            format!(
                "{} is silenced until {until:.0}: would run {step}",
                target.name
            ),
        );
    }
    if let Some((window, w)) = state.maintenance_of(&target.name) {
        return (
            Suppressed,
            format!(
                "maintenance ({window}) until {:.0}: would run {step}",
                w.until
            ),
        );
    }
    if state.dry_run {
        return (Suppressed, format!("dry run: would run {step}"));
    }
    if state.paused {
        return (Suppressed, format!("automation paused: would run {step}"));
    }
    if incident.predicted() {
        return (
            ApprovalRequired,
            "a prediction: a human approves every fix before the failure".to_string(),
        );
    }
    if playbook.approval == Approval::Required {
        return (
            ApprovalRequired,
            format!("playbook {} always asks a human", playbook.name),
        );
    }
    if (target.critical || incident.severity == Severity::Critical)
        && playbook.approval != Approval::Auto
    {
        return (
            ApprovalRequired,
            format!("{} is critical: a human approves every fix", target.name),
        );
    }
    if confidence < policy.confidence_threshold {
        return (
            ApprovalRequired,
            format!(
                "confidence {confidence:.2} is below {:.2}",
                policy.confidence_threshold
            ),
        );
    }
    if state.running_actions >= policy.max_concurrent {
        return (
            ApprovalRequired,
            format!(
                "blast radius: {} remediations already running",
                state.running_actions
            ),
        );
    }
    // Injected chaos is a known cause, not a restart loop: the rails below
    // count only real incidents, and only before their first step runs.
    if incident.chaos || !incident.tried_steps.is_empty() {
        return (
            Auto,
            format!(
                "confidence {confidence:.2} >= {:.2}",
                policy.confidence_threshold
            ),
        );
    }
    let hourly = state.remediation_count(None, now, Duration::from_secs(3600));
    if hourly >= policy.max_per_hour {
        return (
            ApprovalRequired,
            format!("blast radius: {hourly} remediations in the last hour"),
        );
    }
    let recent = state.remediation_count(Some(&target.name), now, policy.flap_window);
    if recent >= policy.flap_max {
        return (
            ApprovalRequired,
            format!(
                "flap guard: {recent} remediations of {} within {}; automation stopped for it",
                target.name,
                human(policy.flap_window)
            ),
        );
    }
    let cooldown = playbook.cooldown.unwrap_or(policy.cooldown);
    if let Some(last) = state
        .last_remediation(&target.name, Some(&playbook.name))
        .filter(|last| *last > clock::saturating_sub(now, cooldown))
    {
        let ago = now.duration_since(last).as_secs();
        return (
            ApprovalRequired,
            format!(
                "cooldown: {} ran {ago}s ago (cooldown {})",
                playbook.name,
                human(cooldown)
            ),
        );
    }
    (
        Auto,
        format!(
            "confidence {confidence:.2} >= {:.2}",
            policy.confidence_threshold
        ),
    )
}

/// Kubernetes-style: the n-th remediation of a target within `backoff_reset`
/// waits `base * 2^(n-1)` (capped) after the previous one.
fn backoff(cx: &Context, incident: &Incident) -> Duration {
    if incident.chaos || !incident.tried_steps.is_empty() {
        return Duration::ZERO;
    }
    let recent = cx
        .state
        .remediation_count(Some(&cx.target.name), cx.now, cx.policy.backoff_reset);
    let Some(last) = cx
        .state
        .last_remediation(&cx.target.name, None)
        .filter(|_| recent > 0)
    else {
        return Duration::ZERO;
    };
    let exp = u32::try_from(recent - 1).unwrap_or(u32::MAX).min(16);
    let wait = cx
        .policy
        .backoff_base
        .saturating_mul(1 << exp)
        .min(cx.policy.backoff_max);
    let since = Duration::try_from(cx.now.duration_since(last)).unwrap_or(Duration::ZERO);
    wait.saturating_sub(since)
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s >= 3600 && s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s >= 60 && s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ProbeSpec, TcpProbe};
    use crate::event::{Event, EventKind, IncidentId};
    use crate::playbook::parse_file;
    use std::path::Path;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn target(critical: bool) -> Target {
        Target {
            name: "web".into(),
            probe: ProbeSpec::Tcp(TcpProbe {
                address: "127.0.0.1:1".into(),
            }),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            failure_threshold: 1,
            success_threshold: 1,
            critical,
            labels: Default::default(),
            vars: Default::default(),
            chaos: None,
            depends_on: Vec::new(),
            process: None,
            watch: true,
        }
    }

    fn playbook(confidence: f64) -> Playbook {
        let text = format!(
            "name: restart\nmatch: {{ signature: DOWN }}\nseverity: high\nconfidence: {confidence}\nsteps:\n  - name: one\n    exec: {{ argv: [true] }}\n  - name: two\n    exec: {{ argv: [true] }}\n"
        );
        parse_file(Path::new("t.yaml"), &text).unwrap().remove(0)
    }

    /// A state in which `web` had a real incident remediated at each of `times`.
    fn state_with_remediations(times: &[i64]) -> State {
        let mut s = State::default();
        let mut seq = 0;
        let mut push = |s: &mut State, at: i64, kind: EventKind| {
            seq += 1;
            s.apply(&Event {
                seq,
                ts: ts(at),
                kind,
            });
        };
        for (i, at) in times.iter().enumerate() {
            let id = IncidentId(i as u64 + 1);
            push(
                &mut s,
                *at,
                EventKind::IncidentDetected {
                    incident_id: id,
                    target: "web".into(),
                    signature: "DOWN".into(),
                    severity: Severity::High,
                    started_at: ts(*at),
                    chaos: false,
                    trace_id: String::new(),
                    reported_by: None,
                    text: None,
                },
            );
            let (playbook, step, action) = (
                "restart".to_string(),
                "one".to_string(),
                "exec true".to_string(),
            );
            push(
                &mut s,
                *at,
                EventKind::ActionStarted {
                    incident_id: id,
                    playbook: playbook.clone(),
                    step: step.clone(),
                    action: action.clone(),
                    attempt: 1,
                    term: None,
                },
            );
            push(
                &mut s,
                *at,
                EventKind::ActionFinished {
                    incident_id: id,
                    playbook,
                    step,
                    action,
                    attempt: 1,
                    ok: true,
                    duration_ms: 1,
                    output: String::new(),
                },
            );
            push(
                &mut s,
                *at,
                EventKind::IncidentResolved {
                    incident_id: id,
                    time_to_detect_ms: 0,
                    time_to_resolve_ms: 0,
                },
            );
        }
        push(
            &mut s,
            1000,
            EventKind::IncidentDetected {
                incident_id: IncidentId(99),
                target: "web".into(),
                signature: "DOWN".into(),
                severity: Severity::High,
                started_at: ts(1000),
                chaos: false,
                trace_id: String::new(),
                reported_by: None,
                text: None,
            },
        );
        s
    }

    fn decide_at(state: &State, target: &Target, book: &Playbook, now: i64) -> Plan {
        decide_under(&Policy::default(), state, target, Some(book), now)
    }

    /// Decides incident #99 (the one `state_with_remediations` leaves open).
    fn decide_under(
        policy: &Policy,
        state: &State,
        target: &Target,
        book: Option<&Playbook>,
        now: i64,
    ) -> Plan {
        let cx = Context {
            state,
            policy,
            target,
            now: ts(now),
        };
        decide(&cx, &state.incidents[&IncidentId(99)], book)
    }

    fn decision(plan: &Plan) -> (Decision, &str) {
        match plan {
            Plan::Step {
                decision, reason, ..
            } => (*decision, reason.as_str()),
            other => panic!("expected a step, got {other:?}"),
        }
    }

    #[test]
    fn confident_fix_runs_by_itself() {
        let s = state_with_remediations(&[]);
        assert_eq!(
            decision(&decide_at(&s, &target(false), &playbook(0.95), 1000)).0,
            Decision::Auto
        );
    }

    #[test]
    fn low_confidence_waits_for_approval() {
        let s = state_with_remediations(&[]);
        let plan = decide_at(&s, &target(false), &playbook(0.85), 1000);
        assert_eq!(
            decision(&plan),
            (Decision::ApprovalRequired, "confidence 0.85 is below 0.90")
        );
    }

    #[test]
    fn critical_target_waits_for_approval() {
        let s = state_with_remediations(&[]);
        let plan = decide_at(&s, &target(true), &playbook(0.99), 1000);
        assert_eq!(decision(&plan).0, Decision::ApprovalRequired);
    }

    #[test]
    fn cooldown_stops_a_second_run_of_the_same_playbook() {
        let s = state_with_remediations(&[900]);
        let plan = decide_at(&s, &target(false), &playbook(0.95), 1000);
        let (d, reason) = decision(&plan);
        assert_eq!(d, Decision::ApprovalRequired);
        assert!(
            reason.starts_with("cooldown: restart ran 100s ago"),
            "{reason}"
        );
    }

    #[test]
    fn flap_guard_stops_the_fourth_remediation_in_ten_minutes() {
        let s = state_with_remediations(&[500, 600, 650]);
        let policy = Policy {
            cooldown: Duration::ZERO,
            ..Policy::default()
        };
        let plan = decide_under(&policy, &s, &target(false), Some(&playbook(0.95)), 1000);
        let (d, reason) = decision(&plan);
        assert_eq!(d, Decision::ApprovalRequired);
        assert!(
            reason.starts_with("flap guard: 3 remediations of web within 10m"),
            "{reason}"
        );
    }

    #[test]
    fn blast_radius_limits_remediations_per_hour() {
        let s = state_with_remediations(&[100, 200]);
        let policy = Policy {
            max_per_hour: 2,
            ..Policy::default()
        };
        let plan = decide_under(&policy, &s, &target(false), Some(&playbook(0.95)), 1000);
        assert_eq!(
            decision(&plan),
            (
                Decision::ApprovalRequired,
                "blast radius: 2 remediations in the last hour"
            )
        );
    }

    #[test]
    fn blast_radius_limits_remediations_running_at_once() {
        let mut s = state_with_remediations(&[]);
        s.running_actions = 2;
        let plan = decide_at(&s, &target(false), &playbook(0.95), 1000);
        assert_eq!(
            decision(&plan),
            (
                Decision::ApprovalRequired,
                "blast radius: 2 remediations already running"
            )
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = state_with_remediations(&[990, 995]);
        let policy = Policy {
            cooldown: Duration::ZERO,
            ..Policy::default()
        };
        match decide_under(&policy, &s, &target(false), Some(&playbook(0.95)), 1000) {
            // Second remediation within the window: 10 s * 2 = 20 s after the last (5 s ago).
            Plan::Step {
                decision: Decision::Auto,
                delay,
                ..
            } => assert_eq!(delay, Duration::from_secs(15)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn learning_sends_a_failing_step_to_approval() {
        let mut s = state_with_remediations(&[]);
        s.learning.insert(
            ("restart".into(), "one".into()),
            crate::state::StepRecord {
                successes: 0,
                failures: 3,
            },
        );
        let (d, _) = decision(&decide_at(&s, &target(false), &playbook(0.95), 1000));
        assert_eq!(d, Decision::ApprovalRequired);
    }

    #[test]
    fn after_the_last_step_the_incident_escalates() {
        let mut s = state_with_remediations(&[]);
        s.incidents.get_mut(&IncidentId(99)).unwrap().tried_steps =
            vec!["one".into(), "two".into()];
        assert!(matches!(
            decide_at(&s, &target(false), &playbook(0.95), 1000),
            Plan::Escalate { .. }
        ));
    }

    #[test]
    fn no_playbook_escalates() {
        let s = state_with_remediations(&[]);
        let plan = decide_under(&Policy::default(), &s, &target(false), None, 1000);
        assert!(matches!(plan, Plan::Escalate { .. }));
    }

    #[test]
    fn enormous_durations_never_panic_and_mean_forever() {
        // A remediation some 30 years before `now`, under rails of every size.
        let s = state_with_remediations(&[-1_000_000_000]);
        for huge in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::from_secs(1 << 40),
        ] {
            let policy = Policy {
                cooldown: huge,
                flap_window: huge,
                verify_within: huge,
                backoff_base: huge,
                backoff_max: huge,
                backoff_reset: huge,
                ..Policy::default()
            };
            let plan = decide_under(&policy, &s, &target(false), Some(&playbook(0.95)), 1000);
            let (d, reason) = decision(&plan);
            assert_eq!(d, Decision::ApprovalRequired, "{huge:?}");
            assert!(reason.starts_with("cooldown: restart ran"), "{reason}");
        }
        // An enormous silence: silenced until the far future.
        let mut s = state_with_remediations(&[]);
        s.apply(&Event {
            seq: 100,
            ts: ts(1000),
            kind: EventKind::TargetSilenced {
                target: "web".into(),
                until: crate::clock::saturating_add(ts(1000), Duration::MAX),
                by: "x".into(),
            },
        });
        let plan = decide_at(&s, &target(false), &playbook(0.95), 1000);
        assert_eq!(decision(&plan).0, Decision::Suppressed);
        assert!(
            s.is_silenced(
                "web",
                Timestamp::MAX
                    .saturating_sub(Duration::from_secs(1))
                    .unwrap()
            )
        );
    }
}
