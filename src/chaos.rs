//! The chaos monkey: breaks a random healthy target now and then, so the demo
//! shows the whole loop and the benchmark has incidents to measure.

use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::engine::View;
use crate::event::{Command, Event, EventKind};

/// How long a fault injected into a target (by the monkey or an operator)
/// keeps the monkey away from it before its incident shows; a fault that
/// never shows is forgotten after this.
const UNSEEN_FAULT: Duration = Duration::from_secs(30);

/// A target the monkey may break, with the faults it may inject there.
#[derive(Debug, Clone)]
pub struct Victim {
    pub target: String,
    pub faults: Vec<String>,
}

/// Every `every` (jittered by ±50% so injections land at random points of
/// the probe cycle), injects a random fault into a random victim that is
/// healthy, has no open incident (as `view`, the engine's state, shows), and
/// has no injected fault still to show (an operator's `DISK_FULL` is theirs to
/// watch). Ends when the engine stops.
pub async fn monkey(
    every: Duration,
    victims: Vec<Victim>,
    commands: mpsc::Sender<Command>,
    mut events: broadcast::Receiver<Event>,
    view: View,
) {
    let victims: Vec<Victim> = victims
        .into_iter()
        .filter(|v| !v.faults.is_empty())
        .collect();
    if victims.is_empty() {
        return tracing::warn!("chaos monkey: no target offers a fault it could inject");
    }
    // Faults injected whose incident has not been detected yet, by target.
    let mut injected: HashMap<String, Instant> = HashMap::new();
    let mut next = Instant::now() + jitter(every);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    match &event.kind {
                        EventKind::ChaosInjected { target, .. } => {
                            injected.insert(target.clone(), Instant::now());
                        }
                        EventKind::IncidentDetected { target, .. } => {
                            injected.remove(target);
                        }
                        _ => {}
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(next) => {
                next += jitter(every);
                let healthy: Vec<&Victim> = {
                    let state = view.read();
                    victims
                        .iter()
                        .filter(|v| !state.targets.get(&v.target).is_some_and(|t| t.failing))
                        .filter(|v| state.open_incidents_of(&v.target).next().is_none())
                        .filter(|v| injected.get(&v.target).is_none_or(|at| at.elapsed() > UNSEEN_FAULT))
                        .collect()
                };
                if healthy.is_empty() {
                    continue;
                }
                let victim = healthy[fastrand::usize(..healthy.len())];
                let fault = victim.faults[fastrand::usize(..victim.faults.len())].clone();
                if commands.send(Command::InjectChaos { target: victim.target.clone(), fault }).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn jitter(every: Duration) -> Duration {
    every.mul_f64(0.5 + fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{IncidentId, Severity};

    fn event(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            ts: crate::clock::now_ms(),
            kind,
        }
    }

    #[tokio::test]
    async fn an_injected_fault_is_left_alone_until_its_incident_is_over() {
        let (events, rx) = broadcast::channel(16);
        let (commands, mut injections) = mpsc::channel(16);
        let victim = Victim {
            target: "orders-db".into(),
            faults: vec!["DB_TIMEOUT".into()],
        };
        tokio::spawn(monkey(
            Duration::from_millis(10),
            vec![victim],
            commands,
            rx,
            View::default(),
        ));
        // An operator injects DISK_FULL; its incident has not shown yet.
        let injected = EventKind::ChaosInjected {
            target: "orders-db".into(),
            fault: "DISK_FULL".into(),
        };
        events.send(event(1, injected)).unwrap();
        let early = tokio::time::timeout(Duration::from_millis(300), injections.recv()).await;
        assert!(early.is_err(), "the monkey replaced it: {early:?}");
        let detected = EventKind::IncidentDetected {
            incident_id: IncidentId(1),
            target: "orders-db".into(),
            signature: "DISK_FULL".into(),
            severity: Severity::High,
            started_at: crate::clock::now_ms(),
            chaos: true,
            trace_id: String::new(),
            reported_by: None,
            text: None,
        };
        events.send(event(2, detected)).unwrap();
        let resolved = EventKind::IncidentResolved {
            incident_id: IncidentId(1),
            time_to_detect_ms: 1,
            time_to_resolve_ms: 2,
        };
        events.send(event(3, resolved)).unwrap();
        let later = tokio::time::timeout(Duration::from_secs(2), injections.recv()).await;
        assert!(
            matches!(later, Ok(Some(Command::InjectChaos { .. }))),
            "{later:?}"
        );
    }
}
