//! The running engine as its owner sees it: commands in, events out, its
//! pulse, and how it ended: stopped when asked, or died.

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::{Heartbeat, Roster, View};
use crate::event::{Command, Event};
use crate::state::State;

/// The running engine.
pub struct EngineHandle {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) heartbeat: Heartbeat,
    pub(super) events: broadcast::Sender<Event>,
    pub(super) task: JoinHandle<Result<State, String>>,
    pub(super) roster: Roster,
    pub(super) view: View,
}

/// Hands out subscriptions to the event stream, without the power to send events.
#[derive(Clone)]
pub struct Subscriber(broadcast::Sender<Event>);

impl Subscriber {
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }
}

/// The engine task ended without being asked to: the process should exit
/// non-zero, so that a supervisor restarts it.
#[derive(Debug, thiserror::Error)]
pub enum EngineDied {
    #[error("the engine panicked: {0}")]
    Panicked(String),
    #[error("the engine stopped: {0}")]
    Failed(String),
    #[error("the engine task was cancelled")]
    Cancelled,
}

impl EngineDied {
    fn from_join(
        result: Result<Result<State, String>, tokio::task::JoinError>,
    ) -> Result<State, EngineDied> {
        match result {
            Ok(Ok(state)) => Ok(state),
            Ok(Err(failure)) => Err(EngineDied::Failed(failure)),
            Err(e) if e.is_panic() => {
                let payload = e.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                Err(EngineDied::Panicked(message))
            }
            Err(_) => Err(EngineDied::Cancelled),
        }
    }
}

impl EngineHandle {
    pub fn subscriber(&self) -> Subscriber {
        Subscriber(self.events.clone())
    }

    pub fn commands(&self) -> mpsc::Sender<Command> {
        self.commands.clone()
    }

    /// The targets watched now, config and registered, kept current by the engine.
    pub fn roster(&self) -> Roster {
        self.roster.clone()
    }

    /// The engine's state, always current: read it rather than folding the
    /// event stream into a copy of your own.
    pub fn view(&self) -> View {
        self.view.clone()
    }

    /// The engine loop's pulse, for liveness checks.
    pub fn heartbeat(&self) -> Heartbeat {
        self.heartbeat.clone()
    }

    pub async fn send(&self, command: Command) {
        // Only fails once the engine has stopped, when there is nothing left to tell.
        let _ = self.commands.send(command).await;
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Asks the engine to stop and waits for it: running actions finish, the journal is synced.
    pub async fn shutdown(self, reason: &str) -> Result<State, EngineDied> {
        self.send(Command::Shutdown {
            reason: reason.to_string(),
        })
        .await;
        self.join().await
    }

    /// Waits for the engine to stop (after `Command::Shutdown`, or once every
    /// command sender is gone) and returns its final state; or says how it died.
    pub async fn join(self) -> Result<State, EngineDied> {
        drop(self.commands);
        EngineDied::from_join(self.task.await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handle on `task`, as `Engine::spawn` makes one.
    fn handle(task: JoinHandle<Result<State, String>>) -> EngineHandle {
        EngineHandle {
            commands: mpsc::channel(1).0,
            heartbeat: Heartbeat::default(),
            events: broadcast::channel(1).0,
            task,
            roster: Roster::default(),
            view: View::default(),
        }
    }

    #[tokio::test]
    async fn an_engine_task_that_panics_is_reported_dead_not_stopped() {
        let task = tokio::spawn(async {
            if std::hint::black_box(true) {
                panic!("timestamp overflow");
            }
            Ok(State::default())
        });
        match handle(task).join().await {
            Err(EngineDied::Panicked(message)) => assert_eq!(message, "timestamp overflow"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_engine_that_fails_or_is_cancelled_is_reported_dead() {
        let failed = handle(tokio::spawn(async { Err("numbers used up".to_string()) }));
        assert!(
            matches!(failed.join().await, Err(EngineDied::Failed(m)) if m == "numbers used up")
        );
        let stuck = tokio::spawn(std::future::pending::<Result<State, String>>());
        stuck.abort();
        assert!(matches!(
            handle(stuck).join().await,
            Err(EngineDied::Cancelled)
        ));
    }
}
