//! One file per pane.
