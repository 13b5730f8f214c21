//! The engine: one task owns `State` and turns probe results, finished actions
//! and commands into events. Probes and actions run in tasks of their own and
//! report back on a channel, so nothing slow ever blocks a decision.

mod detect;
mod handle;
mod heartbeat;
mod plan;
mod policy;
mod run;
mod systemd;

pub use crate::clock::now_ms;
pub use detect::{Detector, Verdict};
pub use handle::{EngineDied, EngineHandle, Subscriber};
pub use heartbeat::{Heartbeat, PULSE, STALL};
pub use plan::{Context, Plan, decide};
pub use policy::Policy;
pub use run::{Engine, Sample, Settings};
