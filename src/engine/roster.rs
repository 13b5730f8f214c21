//! The targets the engine watches now, from the config and registered at run
//! time, shared with the API so that it answers a report or a command about
//! any other at once, without a round trip through the engine.
//!
//! Only the engine loop writes it, and before it answers the command that
//! changed it: a client that registered a service and then reports about it
//! is never told that it does not exist.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::{MAX_NAME, TargetDefaults, UnknownServices};
use crate::event::{Registration, TargetSource};

/// At most this many targets registered at run time (API and intake together):
/// each one costs a probe task or a slot, and a hostile reporter could
/// otherwise create them without end.
pub const MAX_REGISTERED: usize = 1000;

/// How targets registered at run time are set up (part of [`super::Settings`]).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Interval, timeout and thresholds of registered HTTP targets: the
    /// config's `defaults`.
    pub defaults: TargetDefaults,
    /// Whether a report about a service no target names registers one.
    pub unknown_services: UnknownServices,
}

/// One target as the roster knows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Config,
    Registered(Registration),
}

impl Entry {
    pub fn source(&self) -> TargetSource {
        match self {
            Entry::Config => TargetSource::Config,
            Entry::Registered(r) => r.source,
        }
    }
}

#[derive(Clone, Default)]
pub struct Roster(Arc<RwLock<Inner>>);

#[derive(Default)]
struct Inner {
    targets: BTreeMap<String, Entry>,
    unknown_services: UnknownServices,
}

impl Roster {
    pub(super) fn new(unknown_services: UnknownServices) -> Roster {
        Roster(Arc::new(RwLock::new(Inner {
            targets: BTreeMap::new(),
            unknown_services,
        })))
    }

    // A panic elsewhere while holding the lock leaves a map that is still whole.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn knows(&self, name: &str) -> bool {
        self.read().targets.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<Entry> {
        self.read().targets.get(name).cloned()
    }

    /// Every target by name, config and registered.
    pub fn entries(&self) -> Vec<(String, Entry)> {
        let inner = self.read();
        inner
            .targets
            .iter()
            .map(|(n, e)| (n.clone(), e.clone()))
            .collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.read().targets.keys().cloned().collect()
    }

    /// How many targets were registered at run time.
    pub fn registered(&self) -> usize {
        let inner = self.read();
        inner
            .targets
            .values()
            .filter(|e| matches!(e, Entry::Registered(_)))
            .count()
    }

    /// Whether another target can be registered.
    pub fn has_room(&self) -> bool {
        self.registered() < MAX_REGISTERED
    }

    pub fn unknown_services(&self) -> UnknownServices {
        self.read().unknown_services
    }

    pub(super) fn set(&self, name: &str, entry: Entry) {
        self.write().targets.insert(name.to_string(), entry);
    }

    pub(super) fn remove(&self, name: &str) {
        self.write().targets.remove(name);
    }
}

/// Why registering one more target is refused.
pub fn full() -> String {
    format!(
        "at most {MAX_REGISTERED} services can be registered at run time: deregister some \
         (DELETE /api/services/{{service_id}}) or declare them in the config"
    )
}

/// A name a peer may give a target: 1 to [`MAX_NAME`] characters, no control
/// characters, no `/` (it is a path segment of `/api/services/{service_id}`),
/// no blank at either end.
pub fn check_name(field: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(format!("`{field}` must have 1 to {MAX_NAME} characters"));
    }
    if name.chars().any(|c| c.is_control() || c == '/') {
        return Err(format!(
            "`{field}` must not contain `/` or control characters"
        ));
    }
    if name.trim() != name {
        return Err(format!("`{field}` must not begin or end with a blank"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        assert!(check_name("service_id", "payment-api").is_ok());
        assert!(check_name("service_id", "é").is_ok());
        for bad in ["", " x", "x ", "a/b", "a\nb", &"x".repeat(MAX_NAME + 1)] {
            assert!(check_name("service_id", bad).is_err(), "{bad:?}");
        }
    }
}
