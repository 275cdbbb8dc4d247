//! HS256 access tokens: `sub` (email), `role`, `exp` (60 minutes), `iat`, `jti` (a fresh UUID) and
//! `typ: "access"`. Only HS256 is accepted: `alg: none`, other algorithms, bad signatures and past
//! `exp` are all refused. Tokens the old service issued (`sub`, `role`, `exp`; no `iat`, `jti` or
//! `typ`) are accepted until they expire; a token of another `typ` is not an access token.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub const TOKEN_MINUTES: i64 = 60;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub exp: i64,
    /// Absent from the old service's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The token's own id (absent from the old service's tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `access` for the tokens this daemon issues; the old service's carry none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

pub const ACCESS: &str = "access";

impl Claims {
    /// Whether these claims may authenticate a request: an access token, or an old-service token.
    pub fn is_access(&self) -> bool {
        self.typ.as_deref().is_none_or(|typ| typ == ACCESS)
    }
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
        }
    }

    pub fn issue(&self, email: &str, role: &str) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: email.to_string(),
            role: role.to_string(),
            iat: Some(now),
            exp: now + TOKEN_MINUTES * 60,
            jti: Some(uuid::Uuid::new_v4().to_string()),
            typ: Some(ACCESS.to_string()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims cannot fail")
    }

    /// The claims of a valid token; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> JwtKeys {
        JwtKeys::new(&SecretString::from("test-secret"))
    }

    #[test]
    fn round_trip_and_length() {
        let token = keys().issue("a@b.co", "trader");
        assert!(token.len() > 100);
        assert_eq!(keys().verify(&token).unwrap().sub, "a@b.co");
    }

    #[test]
    fn refuses_tampering_none_and_expiry() {
        let token = keys().issue("a@b.co", "trader");
        assert!(JwtKeys::new(&SecretString::from("other")).verify(&token).is_none());
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("{}.{}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#), payload);
        assert!(keys().verify(&none).is_none());
        let claims = Claims {
            sub: "a@b.co".into(),
            role: "admin".into(),
            iat: Some(0),
            exp: Utc::now().timestamp() - 1,
            jti: None,
            typ: None,
        };
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"test-secret"),
        )
        .unwrap();
        assert!(keys().verify(&expired).is_none());
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(b"test-secret"),
        )
        .unwrap();
        assert!(keys().verify(&hs512).is_none());
    }

    #[test]
    fn issued_tokens_are_access_tokens_with_their_own_id() {
        let claims = keys().verify(&keys().issue("a@b.co", "trader")).unwrap();
        assert!(claims.is_access());
        assert_eq!(claims.typ.as_deref(), Some("access"));
        let other = keys().verify(&keys().issue("a@b.co", "trader")).unwrap();
        assert_ne!(claims.jti, other.jti);
        assert!(claims.jti.unwrap().parse::<uuid::Uuid>().is_ok());
        let refresh = Claims {
            typ: Some("refresh".into()),
            ..other
        };
        assert!(!refresh.is_access());
    }

    #[test]
    fn tokens_the_old_service_issued_are_accepted_until_they_expire() {
        let old = |exp: i64| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &serde_json::json!({"sub": "a@b.co", "role": "trader", "exp": exp}),
                &EncodingKey::from_secret(b"test-secret"),
            )
            .unwrap()
        };
        let claims = keys().verify(&old(Utc::now().timestamp() + 600)).unwrap();
        assert_eq!((claims.sub.as_str(), claims.iat), ("a@b.co", None));
        assert!(keys().verify(&old(Utc::now().timestamp() - 1)).is_none());
    }
}
