//! The engine: detect, plan, execute, verify.

mod policy;

pub use policy::Policy;
