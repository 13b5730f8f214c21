//! Template values and their trust: who a value comes from decides where it
//! may be placed. See [`super::template`] for the rules as a whole.

use std::collections::BTreeMap;

use super::template::TemplateError;

/// Whose a template value is, which decides where it may be placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The operator's: from the config or a playbook, or made by the engine.
    Trusted,
    /// From outside (a signature, an alert's fields): data, and only a plain
    /// token where it would be parsed.
    Untrusted,
}

/// Template values by name, each with its [`Trust`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars(BTreeMap<String, (String, Trust)>);

impl Vars {
    pub fn trusted(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(name.into(), (value.into(), Trust::Trusted));
        self
    }

    pub fn untrusted(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(name.into(), (value.into(), Trust::Untrusted));
        self
    }

    /// Every value by name, in name order, once each is admitted at `place`:
    /// for handing them all over at once, as an environment.
    pub fn values_at(&self, place: Place) -> Result<Vec<(&str, &str)>, TemplateError> {
        self.0
            .iter()
            .map(|(name, (value, trust))| {
                admit(name, value, *trust, place).map(|()| (name.as_str(), value.as_str()))
            })
            .collect()
    }

    pub(super) fn get(&self, name: &str) -> Result<(&str, Trust), TemplateError> {
        self.0
            .get(name)
            .map(|(value, trust)| (value.as_str(), *trust))
            .ok_or_else(|| TemplateError::Invalid(format!("unknown template variable `{name}`")))
    }
}

/// The operator's own values, such as a target's `vars`: all trusted.
impl From<BTreeMap<String, String>> for Vars {
    fn from(values: BTreeMap<String, String>) -> Self {
        Vars(
            values
                .into_iter()
                .map(|(name, value)| (name, (value, Trust::Trusted)))
                .collect(),
        )
    }
}

/// Where a rendered template goes, which decides what an untrusted value may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A command argument, a shell word or a URL: parsed, so a plain token only.
    Word,
    /// An HTTP header value: no control characters.
    Header,
    /// An environment variable: anything but NUL.
    Env,
    /// A request body: data, but nothing that could close a JSON string, add a
    /// form field or open markup (quotes, `\\`, `<>&`, control characters).
    Data,
}

/// Longest piece of a refused value quoted back in an error.
const QUOTED_VALUE: usize = 60;

/// Whether an untrusted `value` may stand at `place`.
pub(super) fn admit(
    name: &str,
    value: &str,
    trust: Trust,
    place: Place,
) -> Result<(), TemplateError> {
    let why = match (trust, place) {
        (Trust::Trusted, _) => return Ok(()),
        (_, Place::Word) => not_plain_token(value).map(|why| {
            format!(
                "is not a plain token: {why} (a value from outside goes into a command \
                 or URL only as letters, digits and `._:@=+-`, not starting with `-`, without `..`)"
            )
        }),
        (_, Place::Header) => value.chars().find(|c| c.is_control()).map(|c| {
            format!("cannot go into an HTTP header: it holds the control character {c:?}")
        }),
        (_, Place::Data) => value
            .chars()
            .find(|&c| c.is_control() || "\"'\\<>&".contains(c))
            .map(|c| {
                format!("cannot go into a request body: it holds {c:?}, which could change its structure")
            }),
        (_, Place::Env) => value
            .contains('\0')
            .then(|| "cannot go into the environment: it holds a NUL byte".to_string()),
    };
    match why {
        None => Ok(()),
        Some(why) => Err(TemplateError::Untrusted {
            name: name.to_string(),
            value: value[..value.floor_char_boundary(QUOTED_VALUE)].to_string(),
            why,
        }),
    }
}

/// Why `value` is not a plain token, if it is not.
pub fn not_plain_token(value: &str) -> Option<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._:@=+-".contains(c);
    if let Some(c) = value.chars().find(|&c| !plain(c)) {
        Some(format!("it contains {c:?}"))
    } else if value.is_empty() {
        Some("it is empty".into())
    } else if value.starts_with('-') {
        Some("it starts with `-`, so a command would take it for an option".into())
    } else if value.contains("..") {
        Some("it contains `..`".into())
    } else if value == "." {
        Some("it is `.`, a directory".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tokens_are_letters_digits_and_a_few_marks() {
        for ok in ["DB_TIMEOUT", "HighErrorRate", "v1.2", "a:b@c=d+e-f", "x-"] {
            assert_eq!(not_plain_token(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("../../escape", "'/'"),
            ("-rf", "`-`"),
            ("a..b", "`..`"),
            (".", "`.`"),
            ("", "empty"),
            ("a b", "' '"),
            ("a\nb", "'\\n'"),
            ("$(id)", "'$'"),
            ("%2e%2e", "'%'"),
            ("caf\u{e9}", "'é'"),
        ] {
            let found = not_plain_token(bad).unwrap_or_default();
            assert!(found.contains(why), "{bad:?}: {found}");
        }
    }
}
