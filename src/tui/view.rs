//! Lays out the panes and draws the model. Pure: the clock is passed in.

use jiff::Timestamp;
use ratatui::Frame;

use super::Model;

pub fn draw(_frame: &mut Frame, _model: &Model, _now: Timestamp) {}
