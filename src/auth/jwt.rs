//! HS256 tokens. Access tokens: `sub` (email), `role`, `exp` (60 minutes), `iat`, `jti` (a fresh
//! UUID), `typ: "access"` and `sid`, the login session they belong to. Refresh tokens: `sub` (the
//! user id), `sid`, `jti` (which the session stores as its current one), `exp` (7 days) and
//! `typ: "refresh"`. Only HS256 is accepted: `alg: none`, other algorithms, bad signatures and
//! past `exp` are all refused. Tokens the old service issued (`sub`, `role`, `exp`; no `iat`,
//! `jti`, `typ` or `sid`) are accepted until they expire; a token of another `typ` is not an
//! access token.

use actors::domain::{derived_uuid, SessionId, UserId};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub const TOKEN_MINUTES: i64 = 60;
pub const REFRESH_DAYS: i64 = 7;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// Absent from refresh tokens, which must still decode to be told apart (`Invalid token type`).
    #[serde(default)]
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
    /// The login session; absent from the old service's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<SessionId>,
}

pub const ACCESS: &str = "access";
pub const REFRESH: &str = "refresh";

impl Claims {
    /// Whether these claims may authenticate a request: an access token, or an old-service token.
    pub fn is_access(&self) -> bool {
        self.typ.as_deref().is_none_or(|typ| typ == ACCESS)
    }

    /// What revoking this token means: its session, or for a token without one, a session of its
    /// own (an id derived from its signature) and its issue time.
    pub fn session(&self, token: &str) -> TokenSession {
        match self.sid {
            Some(id) => TokenSession::Login(id),
            None => {
                let signature = token.rsplit('.').next().unwrap_or_default();
                TokenSession::Sessionless {
                    id: SessionId::from_uuid(derived_uuid(signature.as_bytes())),
                    issued_at: self.iat.unwrap_or(self.exp - TOKEN_MINUTES * 60),
                    expires_at: self.exp,
                }
            }
        }
    }
}

/// The session an access token stops working with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSession {
    /// Issued by a login or a refresh of this session.
    Login(SessionId),
    /// A token without a session (the old service's): revoked alone by its derived id, or with
    /// the user's other session-less tokens issued until a revoke-all.
    Sessionless {
        id: SessionId,
        issued_at: i64,
        expires_at: i64,
    },
}

impl TokenSession {
    pub fn id(&self) -> SessionId {
        match self {
            TokenSession::Login(id) | TokenSession::Sessionless { id, .. } => *id,
        }
    }
}

/// A refresh token's claims.
#[derive(Debug, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub sub: UserId,
    pub sid: SessionId,
    pub jti: uuid::Uuid,
    pub typ: String,
    pub iat: i64,
    pub exp: i64,
}

/// What a login or a refresh answers.
#[derive(Debug, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub refresh_token: String,
    /// The access token's life in seconds.
    pub expires_in: i64,
}

/// When a refresh token issued now expires.
pub fn refresh_expiry() -> DateTime<Utc> {
    Utc::now() + Duration::days(REFRESH_DAYS)
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

    /// An access token without a session (as the old service issued them, with this daemon's
    /// claims): for tools and tests that need a token without logging in.
    pub fn issue(&self, email: &str, role: &str) -> String {
        self.access(email, role, None)
    }

    fn access(&self, email: &str, role: &str, sid: Option<SessionId>) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: email.to_string(),
            role: role.to_string(),
            iat: Some(now),
            exp: now + TOKEN_MINUTES * 60,
            jti: Some(uuid::Uuid::new_v4().to_string()),
            typ: Some(ACCESS.to_string()),
            sid,
        };
        self.encode(&claims)
    }

    /// A login's or a refresh's tokens: an access token of the session and the refresh token
    /// whose id the session now holds as current (it expires at `refresh_expires_at`).
    pub fn issue_pair(
        &self,
        user: (UserId, &str, &str),
        session: SessionId,
        refresh_id: uuid::Uuid,
        refresh_expires_at: DateTime<Utc>,
    ) -> TokenPair {
        let (user_id, email, role) = user;
        let refresh = RefreshClaims {
            sub: user_id,
            sid: session,
            jti: refresh_id,
            typ: REFRESH.to_string(),
            iat: Utc::now().timestamp(),
            exp: refresh_expires_at.timestamp(),
        };
        TokenPair {
            access_token: self.access(email, role, Some(session)),
            token_type: "bearer",
            refresh_token: self.encode(&refresh),
            expires_in: TOKEN_MINUTES * 60,
        }
    }

    fn encode<T: Serialize>(&self, claims: &T) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 encoding of plain claims cannot fail")
    }

    /// The claims of a valid token; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The claims of a valid refresh token; `None` for anything else (an access token included).
    pub fn verify_refresh(&self, token: &str) -> Option<RefreshClaims> {
        jsonwebtoken::decode::<RefreshClaims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
            .filter(|claims| claims.typ == REFRESH)
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
            sid: None,
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

    #[test]
    fn a_pair_names_its_session_and_neither_token_passes_for_the_other() {
        let (user, session, refresh_id) = (UserId::new(), SessionId::new(), uuid::Uuid::new_v4());
        let pair = keys().issue_pair((user, "a@b.co", "trader"), session, refresh_id, refresh_expiry());
        assert_eq!(pair.expires_in, 3600);
        let access = keys().verify(&pair.access_token).unwrap();
        assert!(access.is_access());
        assert_eq!(access.session(&pair.access_token), TokenSession::Login(session));
        let refresh = keys().verify_refresh(&pair.refresh_token).unwrap();
        assert_eq!((refresh.sub, refresh.sid, refresh.jti), (user, session, refresh_id));
        assert!(refresh.exp - refresh.iat >= REFRESH_DAYS * 86_400 - 5);
        assert!(keys().verify_refresh(&pair.access_token).is_none());
        assert!(!keys().verify(&pair.refresh_token).unwrap().is_access());
        assert!(JwtKeys::new(&SecretString::from("other"))
            .verify_refresh(&pair.refresh_token)
            .is_none());
    }

    #[test]
    fn a_token_without_a_session_is_its_own_session() {
        let (one, two) = (keys().issue("a@b.co", "trader"), keys().issue("a@b.co", "trader"));
        let session = |token: &str| keys().verify(token).unwrap().session(token);
        assert_eq!(session(&one), session(&one));
        assert_ne!(session(&one).id(), session(&two).id());
        let TokenSession::Sessionless {
            issued_at, expires_at, ..
        } = session(&one)
        else {
            panic!("a token without sid is session-less");
        };
        assert_eq!(expires_at - issued_at, TOKEN_MINUTES * 60);
    }
}
