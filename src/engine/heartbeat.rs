//! The engine loop's pulse, so `/health` and systemd's watchdog can tell a
//! running engine from a stalled or dead one while the process lives on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often an idle engine loop still turns, to show it is alive.
pub const PULSE: Duration = Duration::from_secs(1);

/// An engine loop whose last turn is older than this has stalled.
pub const STALL: Duration = Duration::from_secs(5);

/// Shared between the engine loop, which beats it every turn, and whoever
/// asks how long ago that was. Cloning shares the same pulse.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    base: Instant,
    /// Milliseconds from `base` to the last beat.
    last: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            base: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    /// How long ago the engine loop last turned.
    pub fn age(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(last)
    }

    pub fn stalled(&self) -> bool {
        self.age() > STALL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_resets_the_age() {
        let heart = Heartbeat::default();
        std::thread::sleep(Duration::from_millis(20));
        assert!(heart.age() >= Duration::from_millis(20));
        heart.clone().beat();
        assert!(heart.age() < Duration::from_millis(20));
        assert!(!heart.stalled());
    }
}
