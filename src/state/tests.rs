use super::*;
use crate::event::Severity;

#[test]
fn percentile_by_nearest_rank() {
    let s: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&s, 50.0), Some(50));
    assert_eq!(percentile(&s, 95.0), Some(95));
    assert_eq!(percentile(&s, 99.0), Some(99));
    assert_eq!(percentile(&[7], 99.0), Some(7));
    assert_eq!(percentile(&[], 50.0), None);
}

#[test]
fn learning_pulls_confidence_toward_the_record() {
    let mut s = State::default();
    s.learning.insert(
        ("p".into(), "restart".into()),
        StepRecord {
            successes: 0,
            failures: 10,
        },
    );
    let c = s.effective_confidence("p", "restart", 0.95, 10.0);
    assert!((c - 0.475).abs() < 1e-9, "{c}");
    assert_eq!(s.effective_confidence("p", "other", 0.95, 10.0), 0.95);
}

fn at(seq: u64, ts: Timestamp, kind: EventKind) -> Event {
    Event { seq, ts, kind }
}

fn detected(id: u64) -> EventKind {
    EventKind::IncidentDetected {
        incident_id: IncidentId(id),
        target: "t".into(),
        signature: format!("S{id}"),
        severity: Severity::High,
        started_at: Timestamp::UNIX_EPOCH,
        chaos: false,
        trace_id: String::new(),
        reported_by: None,
        text: None,
    }
}

#[test]
fn numbering_follows_the_largest_seen_not_the_last_read() {
    let mut s = State::default();
    let now = Timestamp::UNIX_EPOCH;
    s.apply(&at(9, now, detected(7)));
    s.apply(&at(4, now, detected(2)));
    assert_eq!(s.last_seq, 9);
    assert_eq!(s.next_seq(), Some(10));
    assert_eq!(s.next_incident_id(), Some(IncidentId(8)));
}

#[test]
fn numbers_that_cannot_grow_say_so_instead_of_wrapping() {
    let mut s = State::default();
    assert_eq!(s.next_incident_id(), Some(IncidentId(1)));
    s.apply(&at(u64::MAX, Timestamp::UNIX_EPOCH, detected(u64::MAX)));
    assert_eq!(s.next_seq(), None);
    assert_eq!(s.next_incident_id(), None);
}

#[test]
fn remediations_at_the_ends_of_time_and_endless_windows_do_not_panic() {
    let mut s = State::default();
    for (seq, ts) in [(1, Timestamp::MIN), (3, Timestamp::MAX)] {
        s.apply(&at(seq, ts, detected(seq)));
        s.apply(&at(
            seq + 1,
            ts,
            EventKind::ActionStarted {
                incident_id: IncidentId(seq),
                playbook: "p".into(),
                step: "restart".into(),
                action: "x".into(),
                attempt: u32::MAX,
                term: None,
            },
        ));
    }
    for now in [Timestamp::MIN, Timestamp::UNIX_EPOCH, Timestamp::MAX] {
        for window in [Duration::ZERO, Duration::MAX, Duration::from_secs(u64::MAX)] {
            let _ = s.remediation_count(Some("t"), now, window);
            let _ = s.remediation_count(None, now, window);
        }
    }
    assert_eq!(s.remediation_count(None, Timestamp::MAX, Duration::MAX), 1);
}

#[test]
fn an_interrupted_action_is_a_failed_attempt_but_no_failed_action() {
    let mut s = State::default();
    let now = Timestamp::UNIX_EPOCH;
    s.apply(&at(1, now, detected(1)));
    let (playbook, step, action) = ("p".to_string(), "restart".to_string(), "x".to_string());
    s.apply(&at(
        2,
        now,
        EventKind::ActionStarted {
            incident_id: IncidentId(1),
            playbook: playbook.clone(),
            step: step.clone(),
            action: action.clone(),
            attempt: 1,
            term: None,
        },
    ));
    s.apply(&at(
        3,
        now,
        EventKind::ActionInterrupted {
            incident_id: IncidentId(1),
            playbook,
            step,
            action,
            attempt: 1,
        },
    ));
    let inc = &s.incidents[&IncidentId(1)];
    assert_eq!(inc.attempts[0].ok, Some(false));
    assert_eq!(inc.timeline.len(), 3);
    assert_eq!(s.counts.actions_failed, 0);
}

#[test]
fn an_action_line_after_the_resolution_does_not_reopen_or_count_twice() {
    let ts = Timestamp::from_second(1_700_000_000).unwrap();
    let resolved = || EventKind::IncidentResolved {
        incident_id: IncidentId(1),
        time_to_detect_ms: 1,
        time_to_resolve_ms: 2,
    };
    let started = EventKind::ActionStarted {
        incident_id: IncidentId(1),
        playbook: "p".into(),
        step: "restart".into(),
        action: "exec true".into(),
        attempt: 1,
        term: None,
    };
    let mut s = State::default();
    for (seq, kind) in [
        (1, detected(1)),
        (2, resolved()),
        (3, started),
        (4, resolved()),
    ] {
        s.apply(&at(seq, ts, kind));
    }
    assert_eq!(s.incidents[&IncidentId(1)].status, Status::Resolved);
    assert_eq!(s.counts.resolved, 1);
}

#[test]
fn a_late_link_never_reopens_a_resolved_incident() {
    let mut s = State::default();
    let now = Timestamp::UNIX_EPOCH;
    let resolved = EventKind::IncidentResolved {
        incident_id: IncidentId(1),
        time_to_detect_ms: 1,
        time_to_resolve_ms: 2,
    };
    s.apply(&at(1, now, detected(1)));
    s.apply(&at(2, now, resolved.clone()));
    let linked = EventKind::IncidentLinked {
        incident_id: IncidentId(1),
        root_id: IncidentId(9),
    };
    s.apply(&at(3, now, linked));
    s.apply(&at(4, now, resolved));
    assert_eq!(s.incidents[&IncidentId(1)].status, Status::Resolved);
    assert_eq!(s.incidents[&IncidentId(1)].root, None);
    assert_eq!(s.counts.resolved, 1);
}
