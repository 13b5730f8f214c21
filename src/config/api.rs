//! `api:` in the config: who may call `serve`'s HTTP API, and from where.

use serde::Deserialize;
use std::fmt;

use super::check::{MAX_NAME, Problem};
use super::yaml::YamlPath;

/// Settings of `autoheal-tui serve`'s HTTP API.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// A key with every right (`operate`), named `token`; `AUTOHEAL_TOKEN` overrides it.
    #[serde(default)]
    pub token: Option<String>,
    /// Named keys, each with a role, sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`.
    #[serde(default)]
    pub keys: Vec<ApiKey>,
    /// `Host` names the API answers besides IP addresses and `localhost`, e.g. the
    /// name a reverse proxy forwards (`autoheal.example.com`, or `name:port` for one port).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://ops.example.com`) allowed to call the API; a request
    /// with any other `Origin` is refused, so a web page cannot drive the engine.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// One caller's credential. Its name is journaled with what it does; the key
/// itself never is, nor logged.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub name: String,
    pub key: String,
    pub role: Role,
}

impl ApiKey {
    /// The `token`: a key named `token` with every right.
    pub fn token(key: impl Into<String>) -> ApiKey {
        ApiKey {
            name: "token".into(),
            key: key.into(),
            role: Role::Operate,
        }
    }
}

/// What a key may do. Each role is one kind of caller, not a rank: a script that
/// reports incidents cannot read the fleet, a dashboard cannot report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every `GET`.
    Read,
    /// Report incidents and register services.
    Intake,
    /// Everything, approvals and commands included.
    Operate,
}

impl Role {
    pub fn allows(self, needed: Role) -> bool {
        self == Role::Operate || self == needed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Intake => "intake",
            Role::Operate => "operate",
        }
    }
}

impl ApiConfig {
    /// Every key, the `token` (or `AUTOHEAL_TOKEN`, passed as `token`) first.
    pub fn all_keys(&self, token: Option<String>) -> Vec<ApiKey> {
        let token = token.or(self.token.clone()).filter(|t| !t.is_empty());
        token
            .map(ApiKey::token)
            .into_iter()
            .chain(self.keys.clone())
            .collect()
    }

    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let at = YamlPath::root().key("api");
        if self.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            out.push(Problem::new(at.key("token"), "`api.token` is empty"));
        }
        for (i, k) in self.keys.iter().enumerate() {
            let at = at.key("keys").index(i);
            let bad_name = k.name.is_empty()
                || k.name.chars().count() > MAX_NAME
                || k.name.chars().any(char::is_control)
                || k.name == "token";
            if bad_name {
                out.push(Problem::new(
                    at.key("name"),
                    format!(
                        "key name `{}` must be 1 to {MAX_NAME} plain characters, not `token`",
                        k.name.escape_debug()
                    ),
                ));
            }
            if self.keys[..i].iter().any(|o| o.name == k.name) {
                out.push(Problem::new(
                    at.key("name"),
                    format!("key name `{}` is used twice", k.name),
                ));
            }
            if k.key.trim().is_empty() || k.key.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                out.push(Problem::new(
                    at.key("key"),
                    format!(
                        "key `{}`: the key must be non-empty, without spaces",
                        k.name
                    ),
                ));
            } else if self.keys[..i].iter().any(|o| o.key == k.key)
                || self.token.as_deref() == Some(k.key.as_str())
            {
                out.push(Problem::new(
                    at.key("key"),
                    format!(
                        "key `{}` has the same key as another: each caller needs its own",
                        k.name
                    ),
                ));
            }
        }
        out
    }
}

/// Debug without keys, so a logged config never leaks them.
impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("keys", &self.keys)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_origins", &self.allowed_origins)
            .finish()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        let api: ApiConfig = serde_norway::from_str(yaml).unwrap();
        api.problems().into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn keys_need_a_name_of_their_own_and_a_key_of_their_own() {
        let found = problems(
            "keys:\n  - { name: ci, key: abc, role: intake }\n  - { name: ci, key: abc, role: read }\n  - { name: token, key: 'a b', role: operate }\n",
        );
        assert_eq!(
            found,
            [
                "key name `ci` is used twice",
                "key `ci` has the same key as another: each caller needs its own",
                "key name `token` must be 1 to 200 plain characters, not `token`",
                "key `token`: the key must be non-empty, without spaces",
            ]
        );
        let role = serde_norway::from_str::<ApiConfig>("keys: [{ name: x, key: y, role: admin }]");
        assert!(
            role.unwrap_err()
                .to_string()
                .contains("unknown variant `admin`")
        );
    }

    #[test]
    fn debug_never_shows_a_key() {
        let api: ApiConfig =
            serde_norway::from_str("token: t0ken\nkeys: [{ name: ci, key: s3cret, role: read }]\n")
                .unwrap();
        let shown = format!("{api:?}");
        assert!(
            !shown.contains("t0ken") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(shown.contains("ci"));
    }
}
