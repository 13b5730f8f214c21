//! `predict:`: how trends are fitted and how far ahead they are told.

use serde::Deserialize;
use std::time::Duration;

use super::check::{self, Problem};
use super::duration::duration;
use super::yaml::YamlPath;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Predict {
    /// `false` turns prediction off.
    pub enabled: bool,
    /// The trend is fitted over this much recent history.
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
    /// A threshold crossed further ahead than this is not told.
    #[serde(deserialize_with = "duration")]
    pub horizon: Duration,
    /// Levels for the figures a health endpoint reports in its JSON body
    /// (`disk_percent`, `memory_percent`, `cpu_percent`). A host target uses
    /// its own thresholds: the levels at which its probe fails.
    pub disk_percent: f32,
    pub memory_percent: f32,
    pub cpu_percent: f32,
    /// Also predict an HTTP or TCP target's latency reaching its timeout.
    pub latency: bool,
}

impl Default for Predict {
    fn default() -> Self {
        Predict {
            enabled: true,
            window: Duration::from_secs(30 * 60),
            horizon: Duration::from_secs(6 * 3600),
            disk_percent: 95.0,
            memory_percent: 95.0,
            cpu_percent: 95.0,
            latency: false,
        }
    }
}

/// A window shorter than this holds too few probes to tell a trend from noise.
const SHORTEST_WINDOW: Duration = Duration::from_secs(10);

impl Predict {
    /// Every value prediction could not work with, each at its `predict.*` key.
    pub fn problems(&self) -> Vec<Problem> {
        let at = |key: &str| YamlPath::root().key("predict").key(key);
        let mut out = Vec::new();
        if self.window < SHORTEST_WINDOW {
            out.push(Problem::new(
                at("window"),
                format!(
                    "predict: `window` must be at least {}s: a shorter one cannot tell a trend from noise",
                    SHORTEST_WINDOW.as_secs()
                ),
            ));
        }
        if self.horizon.is_zero() {
            out.push(Problem::new(
                at("horizon"),
                "predict: `horizon` must be above zero".to_string(),
            ));
        }
        for (key, value) in [
            ("disk_percent", self.disk_percent),
            ("memory_percent", self.memory_percent),
            ("cpu_percent", self.cpu_percent),
        ] {
            if let Err(why) = check::percent(f64::from(value)) {
                out.push(Problem::new(at(key), format!("predict: `{key}` {why}")));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_usable_and_nonsense_is_named() {
        assert!(Predict::default().problems().is_empty());
        let bad = Predict {
            window: Duration::from_secs(1),
            horizon: Duration::ZERO,
            disk_percent: 120.0,
            ..Predict::default()
        };
        let messages: Vec<String> = bad.problems().into_iter().map(|p| p.message).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[2].contains("disk_percent"), "{messages:?}");
    }
}
