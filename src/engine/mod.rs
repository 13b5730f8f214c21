//! The engine: one task owns `State` and turns probe results, finished actions
//! and commands into events. Probes and actions run in tasks of their own and
//! report back on a channel, so nothing slow ever blocks a decision.

mod detect;
mod handle;
mod heartbeat;
mod plan;
pub mod role;
pub mod roster;
mod run;
mod systemd;
mod view;

pub use crate::clock::now_ms;
/// The safety rails live with the rest of the settings; re-exported for the engine's users.
pub use crate::config::Policy;
pub use detect::{Detector, Verdict};
pub use handle::{EngineDied, EngineHandle, Subscriber};
pub use heartbeat::{Heartbeat, PULSE, STALL};
pub use plan::{Context, Plan, decide};
pub use role::{Claim, Fence, Fix, Role};
pub use roster::{MAX_REGISTERED, Registry, Roster};
pub use run::{Engine, STOP_WITHIN, Sample, Settings};
pub use view::View;
