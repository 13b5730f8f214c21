//! The engine's state as the rest of the process sees it. There is one fold
//! per process, the engine's: the API, the metrics, the notifier and the
//! headless printer read it here instead of folding the event stream into
//! copies of their own (each copy was as large as the engine's).

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::event::Event;
use crate::state::State;

/// A read-only, always current view of the engine's [`State`]. Cheap to
/// clone. Hold a read guard briefly: the engine waits for it before its next
/// event (a guard cannot be held across an `.await` in a spawned task).
#[derive(Clone, Default)]
pub struct View(Arc<RwLock<State>>);

impl View {
    /// A view of `state` with no engine behind it (tests, tools).
    pub fn of(state: State) -> View {
        View(Arc::new(RwLock::new(state)))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        // Only the engine writes, and an engine that panicked has died: what
        // it left is still the last state it reached.
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The engine's side of a [`View`]: the only writer. Writing takes `&mut
/// self`, so the borrow checker keeps the engine from holding a read guard of
/// its own across a write (which would deadlock).
pub(super) struct Published(View);

impl Published {
    pub(super) fn new(state: State) -> Published {
        Published(View::of(state))
    }

    pub(super) fn view(&self) -> View {
        self.0.clone()
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.0.read()
    }

    pub(super) fn write(&mut self) -> RwLockWriteGuard<'_, State> {
        self.0.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn apply(&mut self, event: &Event) {
        self.write().apply(event);
    }
}
