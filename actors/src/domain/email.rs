//! Email addresses, and the contract's classification of test and service accounts.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// True for the emails the contract's "real user" filter leaves out.
pub fn is_test_email(email: &str) -> bool {
    let e = email.to_ascii_lowercase();
    e.starts_with("smoke.")
        || e.starts_with("disabled_")
        || e.ends_with("@example.com")
        || e.ends_with("@example.invalid")
}

/// True for the emails of service users (bots), which the dashboard hides unless asked.
pub fn is_service_email(email: &str) -> bool {
    email.to_ascii_lowercase().starts_with("ops.bot.")
}

/// A syntactically valid email address (local@domain.tld), kept as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        let email = raw.trim();
        let invalid = || "value is not a valid email address".to_string();
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_addresses() {
        assert!(Email::parse("a@b.co").is_ok());
        assert!(Email::parse("smoke.x@example.invalid").is_ok());
        for bad in ["", "a", "a@b", "@b.co", "a b@c.d", "a@b..c", "a@.b.c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_and_service_accounts_follow_the_contract() {
        assert!(is_test_email("smoke.a@x.io"));
        assert!(is_test_email("disabled_bob@desk.io"));
        assert!(is_test_email("x@EXAMPLE.com"));
        assert!(is_test_email("x@example.invalid"));
        assert!(!is_test_email("trader@desk.io"));
        assert!(is_service_email("ops.bot.1@desk.io"));
        assert!(!is_service_email("trader@desk.io"));
    }
}
