//! Access tokens minted by the load generator itself.
//!
//! Logging in thousands of users would measure argon2, not the routes under test, so the load
//! generator signs the same HS256 JWT the daemon issues (`{sub: email, role, iat, exp}`) with
//! the SECRET_KEY it is given. The daemon verifies it exactly as one of its own, and reads the
//! role from the database (the claim is only a hint).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// Lifetime of a minted token, as the daemon's own (60 minutes); scenarios mint when they start.
pub const TOKEN_SECONDS: i64 = 3600;

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    role: &'a str,
    iat: i64,
    exp: i64,
}

/// Signs tokens with one key.
#[derive(Clone)]
pub struct Minter {
    key: EncodingKey,
}

impl Minter {
    pub fn new(secret: &str) -> Minter {
        Minter {
            key: EncodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// A token for `email` with `role`, issued at `now` (unix seconds).
    pub fn token(&self, email: &str, role: &str, now: i64) -> String {
        let claims = Claims {
            sub: email,
            role,
            iat: now,
            exp: now + TOKEN_SECONDS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .expect("HS256 encoding of plain claims cannot fail")
    }

    /// The `Authorization` header value for `email`.
    pub fn bearer(&self, email: &str, role: &str) -> String {
        format!("Bearer {}", self.token(email, role, chrono::Utc::now().timestamp()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[derive(serde::Deserialize)]
    struct Decoded {
        sub: String,
        role: String,
        iat: i64,
        exp: i64,
    }

    #[test]
    fn minted_tokens_verify_with_the_same_key_only() {
        let token = Minter::new("k1").token("a@load.test", "trader", 1_000);
        assert!(token.len() > 100, "clients expect tokens longer than 100 characters");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<Decoded>(&token, &DecodingKey::from_secret(b"k1"), &validation).unwrap();
        assert_eq!(data.claims.sub, "a@load.test");
        assert_eq!(data.claims.role, "trader");
        assert_eq!(data.claims.exp - data.claims.iat, TOKEN_SECONDS);
        assert!(jsonwebtoken::decode::<Decoded>(&token, &DecodingKey::from_secret(b"k2"), &validation).is_err());
        assert!(Minter::new("k1")
            .bearer("a@load.test", "admin")
            .starts_with("Bearer ey"));
    }
}
