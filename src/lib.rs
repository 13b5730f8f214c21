//! autoheal: a self-healing engine. Probes and ingest produce signals, the engine
//! turns them into incidents, plans fixes from playbooks under policy, runs them,
//! verifies recovery, and emits every transition as an [`event::Event`].
//! See DESIGN.md for the architecture.

pub mod action;
pub mod analyst;
pub mod api;
pub mod chaos;
pub mod clock;
pub mod config;
pub mod demo;
pub mod engine;
pub mod event;
pub mod ha;
pub mod journal;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod playbook;
pub mod predict;
pub mod remote;
pub mod report;
pub mod state;
pub mod trace;
pub mod tui;
pub mod whatif;
