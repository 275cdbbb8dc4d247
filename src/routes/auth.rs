//! `/auth`: registration, form login (with TOTP, enforcement and throttling), 2FA setup,
//! enable and disable.

use actix_web::{post, HttpRequest, HttpResponse};
use actors::crypto::{SealedTotp, SecretText};
use actors::domain::{Email, Role, SessionId, UserId};
use actors::store::audit::AuditEvent;
use actors::store::sessions::{self, Logout, NewSession, RevokeAll, Rotated, Rotation};
use actors::store::two_factor::{self, AcceptedCode, CodeUse, NewSecret};
use actors::store::users::{self, NewUser, UserRow};
use actors::store::ShardKey;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::jwt::{self, TokenSession};
use crate::auth::{
    password, password_rules, totp, AccountRefused, AuthRefused, AuthUser, LoginRefused, TwoFactorRefused,
};
use crate::http::error::ValidationIssue;
use crate::http::extract::{Form, Json, OptionalJson};
use crate::http::{ApiError, HttpResult};
use crate::state::Shared;

/// Checks a new password against the rules (`auth::password_rules`), answering 422 in the
/// FastAPI shape, naming the `password` field.
pub fn check_new_password(state: &Shared, password: &str) -> Result<(), ApiError> {
    check_password_field(state, password, "password")
}

/// The same check for a body whose password field is named `field`.
pub fn check_password_field(state: &Shared, password: &str, field: &str) -> Result<(), ApiError> {
    password_rules::check(password, state.settings.password_min_length).map_err(|weak| {
        ApiError::Validation(vec![ValidationIssue::new(
            "body",
            Some(field),
            weak.to_string(),
            weak.kind(),
        )])
    })
}

#[derive(Deserialize)]
pub struct Credentials {
    pub email: Email,
    pub password: String,
}

#[post("/auth/register")]
pub async fn register(state: Shared, Json(body): Json<Credentials>) -> HttpResult<HttpResponse> {
    if !state.settings.public_registration {
        return Err(AccountRefused::RegistrationClosed.into());
    }
    check_new_password(&state, &body.password)?;
    let hash = password::hash(SecretString::from(body.password)).await?;
    let new = NewUser {
        email: body.email.as_str().to_string(),
        password_hash: hash,
        role: Role::Trader,
        audit_action: Some("auth.register.success"),
        actor_id: None,
    };
    match state.store.write(ShardKey::Unowned, None, new, users::create).await? {
        Some(_) => Ok(HttpResponse::Created().json(json!({ "message": "User created successfully" }))),
        None => Err(AccountRefused::EmailAlreadyRegistered.into()),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub otp: Option<String>,
}

fn unix_now() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

/// Whether this account must use 2FA to log in.
fn two_factor_enforced(state: &Shared, user: &UserRow) -> bool {
    (state.settings.enforce_2fa_for_admins && user.role == Role::Admin)
        || state
            .settings
            .enforce_2fa_emails
            .iter()
            .any(|e| e.eq_ignore_ascii_case(user.email.trim()))
}

#[post("/auth/login")]
pub async fn login(state: Shared, req: HttpRequest, Form(form): Form<LoginForm>) -> HttpResult<HttpResponse> {
    let address = req.peer_addr().map(|a| a.ip());
    let throttle = &state.login_throttle;
    let email = form.username.trim().to_string();
    throttle
        .check(&state.store, &email, address)
        .await?
        .map_err(|retry_after_secs| LoginRefused::Throttled { retry_after_secs })?;

    let user = state.user_cache.refresh(&state.store, &email).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let given = SecretString::from(form.password);
    let password_ok = password::verify(given.clone(), stored).await?;
    let user = match user {
        Some(user) if password_ok => user,
        _ => {
            throttle.record_failure(&state.store, &email, address).await?;
            return Err(LoginRefused::IncorrectCredentials.into());
        }
    };
    if user.role == Role::Disabled {
        return Err(LoginRefused::Disabled.into());
    }

    if !user.totp_enabled {
        if two_factor_enforced(&state, &user) {
            return Err(LoginRefused::TwoFactorRequired.into());
        }
        let event = AuditEvent::new(Some(user.id), "auth.login.success")
            .entity("user", user.id)
            .details(json!({ "two_factor": false }));
        state.store.audit(event).await?;
    } else {
        let code = form.otp.as_deref().map(str::trim).unwrap_or_default();
        if code.is_empty() {
            return Err(LoginRefused::OtpRequired.into());
        }
        let consumed = match &user.totp_secret {
            Some(sealed) => accept_code(&state, user.id, sealed, user.totp_last_step, code, CodeUse::Login).await?,
            None => false,
        };
        if !consumed {
            throttle.record_failure(&state.store, &email, address).await?;
            return Err(LoginRefused::InvalidOtp.into());
        }
    }

    throttle.clear_account(&state.store, &email).await?;
    if password::is_legacy(&user.password_hash) {
        upgrade_legacy_hash(&state, &user, given).await;
    }
    let (session, refresh_id, expires_at) = (SessionId::new(), Uuid::new_v4(), jwt::refresh_expiry());
    let new = NewSession {
        id: session,
        user_id: user.id,
        refresh_id,
        expires_at,
    };
    state.store.write(user.id.into(), None, new, sessions::open).await?;
    // Someone who logs in is about to trade: their actor loads now, not on the first order.
    state.users.wake(user.id);
    let identity = (user.id, user.email.as_str(), user.role.as_str());
    let pair = state.jwt.issue_pair(identity, session, refresh_id, expires_at);
    Ok(HttpResponse::Ok().json(pair))
}

#[derive(Deserialize)]
pub struct RefreshBody {
    pub refresh_token: String,
}

/// Rotates a refresh token: the session's current one buys a new pair; one used already revokes
/// the session (RFC 9700: reuse means the token was stolen).
#[post("/auth/refresh")]
pub async fn refresh(state: Shared, Json(body): Json<RefreshBody>) -> HttpResult<HttpResponse> {
    let claims = state
        .jwt
        .verify_refresh(body.refresh_token.trim())
        .ok_or(AuthRefused::InvalidRefreshToken)?;
    let (next, expires_at) = (Uuid::new_v4(), jwt::refresh_expiry());
    let rotation = Rotation {
        session_id: claims.sid,
        presented: claims.jti,
        next,
        expires_at,
    };
    match state
        .store
        .write(claims.sub.into(), None, rotation, sessions::rotate)
        .await?
    {
        Rotated::Rotated { user_id, email, role } => {
            let pair = state
                .jwt
                .issue_pair((user_id, &email, role.as_str()), claims.sid, next, expires_at);
            Ok(HttpResponse::Ok().json(pair))
        }
        Rotated::Reused => {
            state.revocations.applied(&[claims.sid]);
            Err(AuthRefused::RefreshTokenReused.into())
        }
        Rotated::Revoked => Err(AuthRefused::SessionRevoked.into()),
        Rotated::Disabled => Err(AuthRefused::Disabled.into()),
        Rotated::Unknown => Err(AuthRefused::InvalidRefreshToken.into()),
    }
}

#[derive(Deserialize)]
pub struct LogoutBody {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Ends the session of the request's token, and that of the refresh token given (the caller's own).
#[post("/auth/logout")]
pub async fn logout(
    state: Shared,
    user: AuthUser,
    OptionalJson(body): OptionalJson<LogoutBody>,
) -> HttpResult<HttpResponse> {
    let mut ending = Vec::with_capacity(2);
    let mut sessionless = None;
    match user.session {
        TokenSession::Login(id) => ending.push(id),
        TokenSession::Sessionless { id, expires_at, .. } => {
            let expires_at = chrono::DateTime::from_timestamp(expires_at, 0).unwrap_or_else(chrono::Utc::now);
            sessionless = Some((id, expires_at));
        }
    }
    if let Some(token) = body.and_then(|body| body.refresh_token) {
        let claims = state
            .jwt
            .verify_refresh(token.trim())
            .filter(|claims| claims.sub == user.id)
            .ok_or(AuthRefused::InvalidRefreshToken)?;
        ending.push(claims.sid);
    }
    let logout = Logout {
        user_id: user.id,
        sessions: ending,
        sessionless,
    };
    let revoked = state
        .store
        .write(user.id.into(), None, logout, sessions::logout)
        .await?;
    state.revocations.applied(&revoked);
    Ok(HttpResponse::Ok().json(json!({ "message": "Session revoked" })))
}

/// Ends every session of the caller: each token issued until now stops working.
#[post("/auth/revoke-all")]
pub async fn revoke_all(state: Shared, user: AuthUser) -> HttpResult<HttpResponse> {
    let cmd = RevokeAll {
        by: user.id,
        user_id: user.id,
    };
    let revoked = state
        .store
        .write(user.id.into(), None, cmd, sessions::revoke_all)
        .await?;
    let revoked = revoked.ok_or(AuthRefused::UserNotFound)?;
    applied_revocations(&state, &revoked.email, &revoked.sessions);
    Ok(HttpResponse::Ok().json(json!({ "message": "All sessions revoked" })))
}

/// Applies the revocations of a change to a user's account this daemon committed to its own
/// copies at once (the notifications reach the others): the sessions, and the cached identity
/// that carries the user's revocation of session-less tokens.
pub fn applied_revocations(state: &Shared, email: &str, sessions: &[SessionId]) {
    state.revocations.applied(sessions);
    state.user_cache.invalidate(email);
}

/// Replaces an imported bcrypt hash by argon2id. A failure (hashing pool full, database busy)
/// is logged and the login still succeeds: the next one tries again.
async fn upgrade_legacy_hash(state: &Shared, user: &UserRow, given: SecretString) {
    let upgrade = async {
        let change = users::PasswordUpgrade {
            user_id: user.id,
            old_hash: user.password_hash.clone(),
            new_hash: password::hash(given).await?,
        };
        state
            .store
            .write(user.id.into(), None, change, users::upgrade_password_hash)
            .await?;
        Ok::<_, ApiError>(())
    };
    if let Err(error) = upgrade.await {
        tracing::warn!(user_id = %user.id, ?error, "the bcrypt password hash was not upgraded");
    }
}

/// Opens the user's stored TOTP secret to check a code. One that does not open (its key left
/// the ring, or the row was altered) is the deployment's fault, not the user's: a 500 without
/// details, logged without the secret, and not counted as a failed login.
fn open_totp(state: &Shared, user_id: UserId, sealed: &SealedTotp) -> Result<SecretText, ApiError> {
    sealed.open(&state.keyring, user_id).map_err(|error| {
        tracing::error!(%user_id, %error, "the stored TOTP secret does not open with the key ring");
        ApiError::Internal
    })
}

#[post("/auth/2fa/setup")]
pub async fn setup(state: Shared, user: AuthUser) -> HttpResult<HttpResponse> {
    let secret = totp::generate_secret();
    let sealed = SealedTotp::seal(&state.keyring, user.id, &secret).map_err(|error| {
        tracing::error!(user_id = %user.id, %error, "a new TOTP secret could not be sealed");
        ApiError::Internal
    })?;
    let input = NewSecret {
        user_id: user.id,
        sealed,
    };
    if !state
        .store
        .write(user.id.into(), None, input, two_factor::store_secret)
        .await?
    {
        return Err(AuthRefused::UserNotFound.into());
    }
    Ok(HttpResponse::Ok().json(json!({
        "message": "Scan the otpauth URI with an authenticator app, then confirm with /auth/2fa/verify-enable",
        "secret": secret,
        "otpauth_uri": totp::otpauth_uri(&user.email, &secret),
    })))
}

#[derive(Deserialize)]
pub struct OtpBody {
    pub otp: String,
}

/// Checks `code` against the user's current secret and consumes its step for `purpose`.
async fn consume(state: &Shared, user_id: UserId, code: &str, purpose: CodeUse) -> HttpResult<()> {
    let Some(row) = users::find_by_id(&state.store, user_id).await? else {
        return Err(AuthRefused::UserNotFound.into());
    };
    let sealed = match (purpose, row.totp_secret) {
        (CodeUse::Enable, None) => return Err(TwoFactorRefused::SetupNotFound.into()),
        (CodeUse::Disable, None) => return Err(TwoFactorRefused::NotEnabled.into()),
        (CodeUse::Disable, Some(_)) if !row.totp_enabled => return Err(TwoFactorRefused::NotEnabled.into()),
        (_, Some(sealed)) => sealed,
        (CodeUse::Login, None) => return Err(TwoFactorRefused::NotEnabled.into()),
    };
    match accept_code(state, user_id, &sealed, row.totp_last_step, code, purpose).await? {
        true => Ok(()),
        false => Err(TwoFactorRefused::InvalidOtp.into()),
    }
}

/// Checks `code` against the secret `sealed` opens to and consumes its step for `purpose`;
/// `false` for a wrong code or one used already (here or on another daemon).
async fn accept_code(
    state: &Shared,
    user_id: UserId,
    sealed: &SealedTotp,
    last_step: Option<i64>,
    code: &str,
    purpose: CodeUse,
) -> HttpResult<bool> {
    let secret = open_totp(state, user_id, sealed)?;
    let Some(step) = totp::accepted_step(secret.expose(), code, unix_now(), last_step) else {
        return Ok(false);
    };
    let accepted = AcceptedCode {
        user_id,
        sealed: sealed.clone(),
        step,
        purpose,
    };
    Ok(state
        .store
        .write(user_id.into(), None, accepted, two_factor::consume_code)
        .await?)
}

#[post("/auth/2fa/verify-enable")]
pub async fn verify_enable(state: Shared, user: AuthUser, Json(body): Json<OtpBody>) -> HttpResult<HttpResponse> {
    consume(&state, user.id, &body.otp, CodeUse::Enable).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "2FA enabled" })))
}

#[post("/auth/2fa/disable")]
pub async fn disable(state: Shared, user: AuthUser, Json(body): Json<OtpBody>) -> HttpResult<HttpResponse> {
    consume(&state, user.id, &body.otp, CodeUse::Disable).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "2FA disabled" })))
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(register)
        .service(login)
        .service(refresh)
        .service(logout)
        .service(revoke_all)
        .service(setup)
        .service(verify_enable)
        .service(disable);
}
