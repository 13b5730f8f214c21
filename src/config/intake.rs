//! `intake:`: what happens to reports about services no target names.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    #[serde(default)]
    pub unknown_services: UnknownServices,
}

/// A report (`/api/incidents`, `/api/events/publish`, Alertmanager) about a
/// service that no target names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownServices {
    /// A passive target is registered for it (`target_registered`, source
    /// `intake`) and the report is handled like any other.
    #[default]
    Accept,
    /// Refused with 404, naming the known targets.
    Reject,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn undeclared_services_are_accepted_unless_the_config_says_reject() {
        let parse = |text: &str| Config::parse(Path::new("cfg.yaml"), text).map(|(c, _)| c);
        assert_eq!(
            Config::default().intake.unknown_services,
            UnknownServices::Accept
        );
        let config = parse("intake: { unknown_services: reject }\n").unwrap();
        assert_eq!(config.intake.unknown_services, UnknownServices::Reject);
        let errors = parse("intake:\n  unknown_services: maybe\n").unwrap_err();
        let text = errors.to_string();
        assert!(text.starts_with("cfg.yaml:2:"), "{text}");
        assert!(text.contains("unknown variant `maybe`"), "{text}");
        let errors = parse("intake: { unknown: reject }\n").unwrap_err();
        assert!(
            errors.to_string().contains("unknown field `unknown`"),
            "{errors}"
        );
    }
}
