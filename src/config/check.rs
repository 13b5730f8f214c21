//! Checks serde cannot make: values that parse but that the engine could not
//! use. Each is found after parsing, so every one in a file is reported at once.

use std::net::Ipv6Addr;
use std::path::Path;

use super::LoadError;
use super::yaml::{YamlPath, locate};

/// Longest name (a target's, or one a peer sends: target, fault, signature,
/// who approved), in characters; a name never holds control characters.
pub const MAX_NAME: usize = 200;

/// A value that parsed but is unusable: what is wrong, and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub at: YamlPath,
    pub message: String,
}

impl Problem {
    pub fn new(at: YamlPath, message: impl Into<String>) -> Problem {
        Problem {
            at,
            message: message.into(),
        }
    }

    /// Pins the problem to its line and column in `text` (its `document`-th YAML document).
    pub fn locate(self, file: &Path, text: &str, document: usize) -> LoadError {
        LoadError {
            file: file.to_path_buf(),
            location: locate(text, document, &self.at),
            message: self.message,
        }
    }
}

/// An absolute http:// or https:// URL with a host.
pub fn http_url(text: &str) -> Result<(), String> {
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(()),
        Ok(url) => Err(format!(
            "`{text}` is not an http:// or https:// URL (scheme `{}`)",
            url.scheme()
        )),
        Err(e) => Err(format!("`{text}` is not an http:// or https:// URL ({e})")),
    }
}

/// A URL that may hold `{{vars}}`: a literal one must be a whole [`http_url`];
/// a templated one must start with http://, https:// or a variable (say, `{{admin_url}}`).
pub fn templated_http_url(text: &str) -> Result<(), String> {
    if !text.contains("{{") {
        return http_url(text);
    }
    let lower = text.to_ascii_lowercase();
    if ["http://", "https://", "{{"]
        .iter()
        .any(|start| lower.starts_with(start))
    {
        Ok(())
    } else {
        Err(format!(
            "`{text}` is not an http:// or https:// URL: start it with http://, https:// or a `{{{{variable}}}}`"
        ))
    }
}

/// `host:port`, as a TCP probe connects to it: a name or IPv4 address, or an
/// IPv6 address in brackets, and a port from 1 to 65535.
pub fn socket_address(text: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "invalid address `{text}`: {why}; write host:port, like db.internal:5432 or [::1]:6379"
        ))
    };
    let Some((host, port)) = text.rsplit_once(':') else {
        return bad("no port");
    };
    match port.parse::<u16>() {
        Ok(0) | Err(_) => return bad("the port must be a number from 1 to 65535"),
        Ok(_) => {}
    }
    if let Some(ip) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if ip.parse::<Ipv6Addr>().is_err() {
            return bad("not an IPv6 address between the brackets");
        }
    } else if host.is_empty() {
        return bad("no host");
    } else if host.contains(':') {
        return bad("an IPv6 address needs brackets");
    } else if host.contains(|c: char| c.is_whitespace() || c == '/') {
        return bad("not a host name");
    }
    Ok(())
}

/// A threshold in percent: a finite number from 0 to 100.
pub fn percent(value: f64) -> Result<(), String> {
    if value.is_finite() && (0.0..=100.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("must be a percentage from 0 to 100, not {value}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_with_a_host_pass() {
        assert!(http_url("http://127.0.0.1:8080/health").is_ok());
        assert!(http_url("https://example.com").is_ok());
        assert!(http_url("not a url").is_err());
        assert!(
            http_url("ftp://example.com/x")
                .unwrap_err()
                .contains("`ftp`")
        );
        assert!(http_url("http://").is_err());
    }

    #[test]
    fn a_templated_url_needs_a_web_scheme_or_a_variable_up_front() {
        assert!(templated_http_url("{{admin_url}}/flush").is_ok());
        assert!(templated_http_url("http://{{host}}:8080/x").is_ok());
        assert!(templated_http_url("https://example.com/restart").is_ok());
        assert!(templated_http_url("not a url").is_err());
        assert!(templated_http_url("ftp://{{host}}/x").is_err());
        assert!(templated_http_url("/restart/{{target}}").is_err());
    }

    #[test]
    fn an_address_is_host_and_port() {
        for good in ["db:5432", "127.0.0.1:6379", "[::1]:80", "a.b.example:65535"] {
            assert_eq!(socket_address(good), Ok(()), "{good}");
        }
        for bad in [
            "nope", "db:", ":80", "db:0", "db:65536", "db:http", "::1:80", "[x]:1",
        ] {
            assert!(socket_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentages_are_finite_and_in_range() {
        assert!(percent(0.0).is_ok() && percent(100.0).is_ok());
        for bad in [-5.0, 100.5, f64::NAN, f64::INFINITY] {
            assert!(percent(bad).is_err(), "{bad}");
        }
    }
}
