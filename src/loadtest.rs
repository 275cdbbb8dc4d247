//! `crypto-saas loadtest seed-users`: many traders for the load generator, through the CLI.
//!
//! argon2 makes registration deliberately slow, so the load generator cannot create thousands
//! of users through `POST /auth/register`. This command hashes the password ONCE and inserts
//! `count` traders (`<prefix><n>@<domain>`, n from `start`) with their trading rows in one
//! transaction. It refuses any domain outside the reserved `.test` top-level domain
//! (RFC 6761), so it can never create an account a real person could own.

use actors::domain::Email;
use actors::store::loadtest::{seed_traders, SeedTraders};
use actors::store::Store;
use anyhow::bail;
use secrecy::SecretString;

/// The most users one command creates.
pub const MAX_SEED: u64 = 1_000_000;

/// Which users to create.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    pub prefix: String,
    pub start: u64,
    pub count: u64,
    pub domain: String,
}

/// True for a domain under the reserved `.test` top-level domain (RFC 6761), e.g. `load.test`.
pub fn is_reserved_test_domain(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    d == "test" || (d.ends_with(".test") && !d.starts_with('.') && !d.contains(".."))
}

/// The emails the spec names, or why it is refused.
pub fn emails(spec: &SeedSpec) -> Result<Vec<String>, String> {
    if !is_reserved_test_domain(&spec.domain) {
        return Err(format!(
            "refusing to seed users in domain {:?}: only the reserved .test domain (e.g. load.test) is allowed",
            spec.domain
        ));
    }
    if spec.count == 0 || spec.count > MAX_SEED {
        return Err(format!("--count must be between 1 and {MAX_SEED}"));
    }
    if spec.start.checked_add(spec.count).is_none() {
        return Err("--start + --count is too large".into());
    }
    if !spec
        .prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
    {
        return Err("--prefix may only hold letters, digits and . _ - +".into());
    }
    (spec.start..spec.start + spec.count)
        .map(|n| {
            let email = format!("{}{n}@{}", spec.prefix, spec.domain);
            Email::parse(&email)
                .map(|e| e.as_str().to_string())
                .map_err(|e| format!("{email}: {e}"))
        })
        .collect()
}

/// Creates the users; returns how many were new.
pub async fn seed_users(store: &Store, spec: &SeedSpec, password: SecretString) -> anyhow::Result<u64> {
    let emails = match emails(spec) {
        Ok(emails) => emails,
        Err(why) => bail!(why),
    };
    let password_hash = crate::auth::password::hash(password).await?;
    let input = SeedTraders { emails, password_hash };
    Ok(store
        .write(actors::store::ShardKey::Unowned, None, input, seed_traders)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(prefix: &str, domain: &str, start: u64, count: u64) -> SeedSpec {
        SeedSpec {
            prefix: prefix.into(),
            start,
            count,
            domain: domain.into(),
        }
    }

    #[test]
    fn only_the_reserved_test_domain_is_accepted() {
        for ok in ["load.test", "LOAD.TEST", "a.b.test", "test"] {
            assert!(is_reserved_test_domain(ok), "{ok}");
        }
        for bad in [
            "example.com",
            "load.test.com",
            "gmail.com",
            "loadtest",
            ".test",
            "a..test",
            "testing",
        ] {
            assert!(!is_reserved_test_domain(bad), "{bad}");
        }
        let refused = emails(&spec("load.", "example.com", 0, 3)).unwrap_err();
        assert!(refused.contains("only the reserved .test domain"), "{refused}");
    }

    #[test]
    fn emails_are_numbered_from_start() {
        assert_eq!(
            emails(&spec("load.r1.u", "load.test", 7, 3)).unwrap(),
            vec!["load.r1.u7@load.test", "load.r1.u8@load.test", "load.r1.u9@load.test"]
        );
    }

    #[test]
    fn bad_counts_and_prefixes_are_refused() {
        assert!(emails(&spec("load.", "load.test", 0, 0)).is_err());
        assert!(emails(&spec("load.", "load.test", 0, MAX_SEED + 1)).is_err());
        assert!(emails(&spec("lo ad", "load.test", 0, 1)).is_err());
        assert!(emails(&spec("a@b", "load.test", 0, 1)).is_err());
        assert!(emails(&spec("load.", "load.test", u64::MAX, 2)).is_err());
    }
}
