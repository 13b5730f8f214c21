//! The safety rails, as settings. Defaults follow DESIGN.md.

use serde::Deserialize;
use std::time::Duration;

use super::check::Problem;
use super::duration::duration;
use super::yaml::YamlPath;

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
    /// After a target's dependency was fixed, how long its failure still counts
    /// as a symptom of that fix's incident (`depends_on`).
    #[serde(deserialize_with = "duration")]
    pub dependency_settle: Duration,
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
            dependency_settle: Duration::from_secs(10),
        }
    }
}

impl Policy {
    /// Every value the engine could not work with, each at its `policy.*` key.
    pub fn problems(&self) -> Vec<Problem> {
        let at = |key: &str| YamlPath::root().key("policy").key(key);
        let mut out = Vec::new();
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            out.push(Problem::new(
                at("confidence_threshold"),
                format!(
                    "policy: `confidence_threshold` must be between 0 and 1, not {}",
                    self.confidence_threshold
                ),
            ));
        }
        for (key, value) in [
            ("flap_max", self.flap_max),
            ("max_concurrent", self.max_concurrent),
            ("max_per_hour", self.max_per_hour),
        ] {
            if value == 0 {
                out.push(Problem::new(
                    at(key),
                    format!("policy: `{key}` must be at least 1"),
                ));
            }
        }
        if !(self.learning_prior.is_finite() && self.learning_prior >= 0.0) {
            out.push(Problem::new(
                at("learning_prior"),
                format!(
                    "policy: `learning_prior` must be a finite number, 0 or more, not {}",
                    self.learning_prior
                ),
            ));
        }
        out
    }
}
