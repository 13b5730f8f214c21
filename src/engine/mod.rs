//! The engine: one task owns `State` and turns probe results, finished actions
//! and commands into events. Probes and actions run in tasks of their own and
//! report back on a channel, so nothing slow ever blocks a decision.

mod detect;
mod heartbeat;
mod plan;
mod run;

/// The safety rails live with the rest of the settings; re-exported for the engine's users.
pub use crate::config::Policy;
pub use detect::{Detector, Verdict};
pub use heartbeat::{Heartbeat, PULSE, STALL};
pub use plan::{Context, Plan, decide};
pub use run::{Engine, EngineHandle, Sample, Settings, Subscriber};

use jiff::Timestamp;

/// Now, to the millisecond: events carry exactly what the journal can hold,
/// so a replayed state equals the live one.
pub fn now_ms() -> Timestamp {
    Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap_or(Timestamp::UNIX_EPOCH)
}
