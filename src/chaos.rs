//! The chaos monkey: breaks a random healthy target now and then, so the demo
//! shows the whole loop and the benchmark has incidents to measure.

use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

use crate::event::{Command, Event};
use crate::state::State;

/// A target the monkey may break, with the faults it may inject there.
#[derive(Debug, Clone)]
pub struct Victim {
    pub target: String,
    pub faults: Vec<String>,
}

/// Every `every` (jittered by ±50% so injections land at random points of
/// the probe cycle), injects a random fault into a random victim that is
/// healthy and has no open incident. Ends when the engine stops.
pub async fn monkey(
    every: Duration,
    victims: Vec<Victim>,
    commands: mpsc::Sender<Command>,
    mut events: broadcast::Receiver<Event>,
) {
    let victims: Vec<Victim> = victims
        .into_iter()
        .filter(|v| !v.faults.is_empty())
        .collect();
    if victims.is_empty() {
        return tracing::warn!("chaos monkey: no target offers a fault it could inject");
    }
    // Our own fold of the event stream, to know who is healthy.
    let mut state = State::default();
    let mut next = tokio::time::Instant::now() + jitter(every);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => state.apply(&event),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(next) => {
                next += jitter(every);
                let healthy: Vec<&Victim> = victims
                    .iter()
                    .filter(|v| !state.targets.get(&v.target).is_some_and(|t| t.failing))
                    .filter(|v| state.open_incidents_of(&v.target).next().is_none())
                    .collect();
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
