//! The safety rails, as settings. Defaults follow DESIGN.md.

use serde::Deserialize;
use std::time::Duration;

use crate::config::duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Auto-execute only at or above this effective confidence.
    pub confidence_threshold: f64,
    /// After a remediation of (target, playbook), ask before running it again.
    #[serde(deserialize_with = "duration")]
    pub cooldown: Duration,
    /// `flap_max` remediations of one target within `flap_window` stop automation for it.
    pub flap_max: usize,
    #[serde(deserialize_with = "duration")]
    pub flap_window: Duration,
    /// Blast radius: remediations running at once, and started per hour, across all targets.
    pub max_concurrent: usize,
    pub max_per_hour: usize,
    /// How long after an action the target may stay bad before the step counts as failed.
    #[serde(deserialize_with = "duration")]
    pub verify_within: Duration,
    /// Capped exponential backoff between automatic remediations of one target.
    #[serde(deserialize_with = "duration")]
    pub backoff_base: Duration,
    #[serde(deserialize_with = "duration")]
    pub backoff_max: Duration,
    /// A target healthy this long starts again from no backoff.
    #[serde(deserialize_with = "duration")]
    pub backoff_reset: Duration,
    /// Prior weight of a playbook's stated confidence, in observations.
    pub learning_prior: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            confidence_threshold: 0.90,
            cooldown: Duration::from_secs(300),
            flap_max: 3,
            flap_window: Duration::from_secs(600),
            max_concurrent: 2,
            max_per_hour: 30,
            verify_within: Duration::from_secs(10),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            backoff_reset: Duration::from_secs(600),
            learning_prior: 10.0,
        }
    }
}

impl Policy {
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err("`confidence_threshold` must be between 0 and 1".into());
        }
        if self.flap_max == 0 || self.max_concurrent == 0 || self.max_per_hour == 0 {
            return Err(
                "`flap_max`, `max_concurrent` and `max_per_hour` must be at least 1".into(),
            );
        }
        if self.learning_prior < 0.0 {
            return Err("`learning_prior` must not be negative".into());
        }
        Ok(())
    }
}
