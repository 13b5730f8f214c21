//! The operations console: a ratatui view over the engine's events. Keys become
//! `Command`s; the console never runs an action itself.

pub mod app;
pub mod export;
pub mod glyphs;
pub mod keys;
pub mod listing;
pub mod log_ring;
pub mod model;
pub mod panes;
#[cfg(test)]
mod testkit;
pub mod theme;
pub mod view;

pub use glyphs::{Charset, Glyphs};
pub use model::{Meta, Modal, Model, Pane, Pick, Telemetry, UiState, Verdict};
pub use theme::Theme;
