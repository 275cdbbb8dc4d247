//! `/users`: the caller's profile, admin creation and listing of users, and risk settings
//! (the capital base). (Exchange secrets live in their own module.)

use actix_web::{get, patch, post, put, HttpRequest, HttpResponse};
use actors::domain::{CapitalBase, Role, UserId};
use actors::store::risk_settings::{self, CapitalBaseChange};
use actors::store::sessions::{self, RevokeAll};
use actors::store::users::{self, AdminRoleChange, CredentialReset, NewUser, RoleChanged, UserRow};
use actors::store::ShardKey;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::auth::{password, AccountRefused, AdminUser, AuthUser};
use crate::http::extract::{path_param, Json};
use crate::http::{ApiError, HttpResult};
use crate::routes::auth::{applied_revocations, check_new_password, check_password_field, Credentials};
use crate::state::Shared;

/// A user as the contract shows them.
#[derive(Serialize)]
pub struct UserOut {
    pub id: UserId,
    pub email: String,
    pub display_name: Option<String>,
    pub role: Role,
}

impl From<&UserRow> for UserOut {
    fn from(u: &UserRow) -> Self {
        UserOut {
            id: u.id,
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
        }
    }
}

#[get("/users/me")]
pub async fn me(user: AuthUser) -> HttpResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(UserOut {
        id: user.id,
        email: user.email,
        display_name: user.display_name,
        role: user.role,
    }))
}

#[post("/users")]
pub async fn create(
    state: Shared,
    AdminUser(admin): AdminUser,
    Json(body): Json<Credentials>,
) -> HttpResult<HttpResponse> {
    check_new_password(&state, &body.password)?;
    let hash = password::hash(SecretString::from(body.password)).await?;
    let new = NewUser {
        email: body.email.as_str().to_string(),
        password_hash: hash,
        role: Role::Trader,
        audit_action: Some("user.create"),
        actor_id: Some(admin.id),
    };
    match state.store.write(ShardKey::Unowned, None, new, users::create).await? {
        Some(user) => Ok(HttpResponse::Created().json(UserOut::from(&user))),
        None => Err(AccountRefused::EmailAlreadyExists.into()),
    }
}

#[get("/users")]
pub async fn list(state: Shared, _admin: AdminUser) -> HttpResult<HttpResponse> {
    let rows = users::list(&state.store).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(UserOut::from).collect::<Vec<_>>()))
}

/// A user's risk settings as the routes show them.
#[derive(Serialize)]
struct RiskSettingsOut {
    user_id: UserId,
    capital_base_usd: Decimal,
}

#[derive(Deserialize)]
struct RiskSettingsIn {
    capital_base_usd: CapitalBase,
}

async fn risk_settings_of(state: &Shared, user_id: UserId) -> HttpResult<HttpResponse> {
    match risk_settings::capital_base(&state.store, user_id).await? {
        Some(capital_base_usd) => Ok(HttpResponse::Ok().json(RiskSettingsOut {
            user_id,
            capital_base_usd,
        })),
        None => Err(AccountRefused::UserNotFound.into()),
    }
}

/// Registered before `/users/{user_id}/risk-settings`, so `me` is never read as a user id.
/// `/users/me/risk-settings` is a path of its own (OpenAPI: a concrete path wins over
/// `/users/{user_id}/risk-settings`), so its other methods answer 405, not the PUT's 422.
pub async fn my_risk_settings(state: Shared, user: AuthUser) -> HttpResult<HttpResponse> {
    risk_settings_of(&state, user.id).await
}

#[get("/users/{user_id}/risk-settings")]
pub async fn user_risk_settings(state: Shared, _admin: AdminUser, req: HttpRequest) -> HttpResult<HttpResponse> {
    risk_settings_of(&state, path_param(&req, "user_id")?).await
}

#[put("/users/{user_id}/risk-settings")]
pub async fn set_risk_settings(
    state: Shared,
    AdminUser(admin): AdminUser,
    req: HttpRequest,
    Json(body): Json<RiskSettingsIn>,
) -> HttpResult<HttpResponse> {
    let user_id: UserId = path_param(&req, "user_id")?;
    let change = CapitalBaseChange {
        by: admin.id,
        user_id,
        capital_base_usd: body.capital_base_usd,
    };
    match state
        .store
        .write(user_id.into(), Some(user_id), change, risk_settings::set_capital_base)
        .await?
    {
        Some(capital_base_usd) => Ok(HttpResponse::Ok().json(RiskSettingsOut {
            user_id,
            capital_base_usd,
        })),
        None => Err(AccountRefused::UserNotFound.into()),
    }
}

#[derive(Deserialize)]
struct RoleIn {
    role: Role,
    reason: String,
}

/// The shortest and longest reason an admin gives for a change to someone's account.
const REASON_CHARS: std::ops::RangeInclusive<usize> = 8..=500;

/// An admin's reason, trimmed, within `REASON_CHARS` (else 422 naming `reason`).
fn admin_reason(reason: &str) -> HttpResult<String> {
    let reason = reason.trim();
    match REASON_CHARS.contains(&reason.chars().count()) {
        true => Ok(reason.to_string()),
        false => Err(ApiError::invalid("body", "reason", "reason must be 8-500 characters")),
    }
}

#[patch("/users/{user_id}/role")]
pub async fn set_role(
    state: Shared,
    AdminUser(admin): AdminUser,
    req: HttpRequest,
    Json(body): Json<RoleIn>,
) -> HttpResult<HttpResponse> {
    let user_id: UserId = path_param(&req, "user_id")?;
    let reason = admin_reason(&body.reason)?;
    if user_id == admin.id {
        return Err(AccountRefused::OwnRole.into());
    }
    let change = AdminRoleChange {
        by: admin.id,
        user_id,
        role: body.role,
        reason,
    };
    match state
        .store
        .write(user_id.into(), None, change, users::change_role)
        .await?
    {
        RoleChanged::Changed(user, revoked) => {
            applied_revocations(&state, &user.email, &revoked);
            Ok(HttpResponse::Ok().json(serde_json::json!({
                "id": user.id,
                "email": user.email,
                "role": user.role,
            })))
        }
        RoleChanged::NotFound => Err(AccountRefused::UserNotFound.into()),
        RoleChanged::LastAdmin => Err(AccountRefused::LastAdmin.into()),
    }
}

#[derive(Deserialize)]
struct PasswordResetIn {
    new_password: String,
    reason: String,
}

#[derive(Deserialize)]
struct ReasonIn {
    reason: String,
}

async fn reset(state: &Shared, reset: CredentialReset, message: &str) -> HttpResult<HttpResponse> {
    let user_id = reset.user_id;
    let revoked = state
        .store
        .write(user_id.into(), None, reset, users::reset_credentials)
        .await?
        .ok_or(AccountRefused::UserNotFound)?;
    applied_revocations(state, &revoked.email, &revoked.sessions);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "message": message })))
}

/// The admin ends every session of the user: each of their tokens issued until now stops working.
#[post("/users/{user_id}/revoke-sessions")]
pub async fn revoke_sessions(state: Shared, AdminUser(admin): AdminUser, req: HttpRequest) -> HttpResult<HttpResponse> {
    let user_id: UserId = path_param(&req, "user_id")?;
    let cmd = RevokeAll { by: admin.id, user_id };
    let revoked = state
        .store
        .write(user_id.into(), None, cmd, sessions::revoke_all)
        .await?
        .ok_or(AccountRefused::UserNotFound)?;
    applied_revocations(&state, &revoked.email, &revoked.sessions);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "message": "All sessions revoked" })))
}

/// The admin sets a new password (argon2id); the old one stops working at once.
#[put("/users/{user_id}/password")]
pub async fn reset_password(
    state: Shared,
    AdminUser(admin): AdminUser,
    req: HttpRequest,
    Json(body): Json<PasswordResetIn>,
) -> HttpResult<HttpResponse> {
    let user_id: UserId = path_param(&req, "user_id")?;
    check_password_field(&state, &body.new_password, "new_password")?;
    let reason = admin_reason(&body.reason)?;
    let hash = password::hash(SecretString::from(body.new_password)).await?;
    let change = CredentialReset {
        by: admin.id,
        user_id,
        reason,
        new_password_hash: Some(hash),
    };
    reset(&state, change, "Password reset").await
}

/// The admin turns the user's 2FA off; the user sets it up again.
#[post("/users/{user_id}/2fa/reset")]
pub async fn reset_two_factor(
    state: Shared,
    AdminUser(admin): AdminUser,
    req: HttpRequest,
    Json(body): Json<ReasonIn>,
) -> HttpResult<HttpResponse> {
    let user_id: UserId = path_param(&req, "user_id")?;
    let change = CredentialReset {
        by: admin.id,
        user_id,
        reason: admin_reason(&body.reason)?,
        new_password_hash: None,
    };
    reset(&state, change, "2FA reset").await
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(me)
        .service(set_role)
        .service(reset_password)
        .service(reset_two_factor)
        .service(revoke_sessions)
        .service(create)
        .service(list)
        .service(
            actix_web::web::resource("/users/me/risk-settings")
                .get(my_risk_settings)
                .default_service(actix_web::web::to(crate::startup::not_found)),
        )
        .service(user_risk_settings)
        .service(set_risk_settings);
}
