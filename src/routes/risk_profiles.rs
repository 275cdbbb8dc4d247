//! Risk profiles in the database: `GET /ops/admin/risk/profiles`,
//! `PUT /ops/admin/risk/profiles/{profile_name}`, `PUT /users/{user_id}/risk-profile` (a per-user
//! override) and `GET /users/risk-profiles`. Changes go to the database, which announces them to
//! every daemon; this daemon applies its own change before answering, so its next request already
//! sees it.

use actix_web::{get, put, HttpRequest, HttpResponse};
use actors::domain::UserId;
use actors::refusals::RiskProfileRefused;
use actors::rules::risk::{LOOSE, MODEL2};
use actors::rules::risk_profiles::{ProfileLimits, ProfileSource};
use actors::store::risk_profiles::{self as store, OverrideChange, OverrideOutcome, ProfileUpdate, StoredProfile};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{AccountRefused, AdminUser, ViewerUser};
use crate::http::extract::{path_param, Json};
use crate::http::{ApiError, HttpResult};
use crate::state::Shared;

/// Who the profile is for, as the contract's table says.
fn who(name: &str) -> &'static str {
    match name {
        MODEL2 => "default, and RISK_PROFILE_MODEL2_EMAIL",
        LOOSE => "RISK_PROFILE_LOOSE_EMAIL",
        _ => "users with an override",
    }
}

fn out(stored: &StoredProfile) -> serde_json::Value {
    let p = &stored.profile;
    json!({
        "profile_name": p.profile_name,
        "who": who(&p.profile_name),
        "max_risk_per_trade_pct": p.max_risk_per_trade_pct,
        "max_daily_loss_pct": p.max_daily_loss_pct,
        "max_trades_per_day": p.max_trades_per_day,
        "max_open_positions": p.max_open_positions,
        "cooldown_between_trades_minutes": p.cooldown_between_trades_minutes,
        "max_leverage": p.max_leverage,
        "stop_loss_required": p.stop_loss_required,
        "min_rr": p.min_rr,
        "updated_at": stored.updated_at,
        "updated_by": stored.updated_by,
    })
}

#[get("/ops/admin/risk/profiles")]
async fn list(state: Shared, _viewer: ViewerUser) -> HttpResult<HttpResponse> {
    let profiles = store::list(&state.store).await?;
    Ok(HttpResponse::Ok().json(profiles.iter().map(out).collect::<Vec<_>>()))
}

/// Every field of the profile (the name is the path's; a `profile_name` in the body must agree).
#[derive(Debug, Deserialize)]
struct ProfileIn {
    profile_name: Option<String>,
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    max_risk_per_trade_pct: Decimal,
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    max_daily_loss_pct: Decimal,
    max_trades_per_day: i64,
    max_open_positions: i64,
    cooldown_between_trades_minutes: i64,
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    max_leverage: Decimal,
    stop_loss_required: bool,
    #[serde(deserialize_with = "actors::domain::deserialize_decimal")]
    min_rr: Decimal,
}

impl ProfileIn {
    fn limits(&self) -> ProfileLimits {
        ProfileLimits {
            max_risk_per_trade_pct: self.max_risk_per_trade_pct,
            max_daily_loss_pct: self.max_daily_loss_pct,
            max_trades_per_day: self.max_trades_per_day,
            max_open_positions: self.max_open_positions,
            cooldown_between_trades_minutes: self.cooldown_between_trades_minutes,
            max_leverage: self.max_leverage,
            stop_loss_required: self.stop_loss_required,
            min_rr: self.min_rr,
        }
    }
}

#[put("/ops/admin/risk/profiles/{profile_name}")]
async fn update(
    state: Shared,
    AdminUser(admin): AdminUser,
    req: HttpRequest,
    Json(body): Json<ProfileIn>,
) -> HttpResult<HttpResponse> {
    let name: String = path_param(&req, "profile_name")?;
    if body.profile_name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::invalid(
            "body",
            "profile_name",
            "profile_name must be the one in the path",
        ));
    }
    let profile = body
        .limits()
        .validate(&name)
        .map_err(|e| ApiError::invalid("body", e.field, e.message))?;
    let cmd = ProfileUpdate {
        profile,
        by_id: admin.id,
        by_email: admin.email.clone(),
    };
    let stored = state
        .store
        .write(admin.id.into(), None, cmd, store::update)
        .await?
        .ok_or(RiskProfileRefused::NotFound)?;
    state.risk_profiles.applied_profile(&stored);
    tracing::warn!(profile = %name, by = %admin.email, "risk profile changed");
    Ok(HttpResponse::Ok().json(out(&stored)))
}

/// A user's profile as `GET /users/risk-profiles` lists it.
#[derive(Serialize)]
struct UserProfileOut {
    user_id: UserId,
    email: String,
    risk_profile: String,
    risk_profile_source: ProfileSource,
}

#[get("/users/risk-profiles")]
async fn users(state: Shared, _admin: AdminUser) -> HttpResult<HttpResponse> {
    let emails = state.risk_profiles.emails();
    let users: Vec<UserProfileOut> = store::users(&state.store)
        .await?
        .into_iter()
        .map(|u| {
            let (name, source) = emails.resolve(u.override_name.as_deref(), &u.email);
            UserProfileOut {
                risk_profile: name.to_string(),
                risk_profile_source: source,
                user_id: u.user_id,
                email: u.email,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(users))
}

/// `{"profile_name": "..."}`; null (or absent) clears the override.
#[derive(Debug, Deserialize)]
struct OverrideIn {
    profile_name: Option<String>,
}

/// Sets a user's override. An unknown user is 404 `User not found` (looked for first); an
/// unknown profile is 404 `Risk profile not found`.
#[put("/users/{user_id}/risk-profile")]
async fn set_override(
    state: Shared,
    AdminUser(admin): AdminUser,
    req: HttpRequest,
    Json(body): Json<OverrideIn>,
) -> HttpResult<HttpResponse> {
    let user_id: UserId = path_param(&req, "user_id")?;
    let change = OverrideChange {
        by: admin.id,
        user_id,
        profile_name: body.profile_name,
    };
    let (email, profile_name, version) = match state
        .store
        .write(user_id.into(), None, change, store::set_override)
        .await?
    {
        OverrideOutcome::Set {
            email,
            profile_name,
            version,
        } => (email, profile_name, version),
        OverrideOutcome::UserNotFound => return Err(AccountRefused::UserNotFound.into()),
        OverrideOutcome::ProfileNotFound => return Err(RiskProfileRefused::NotFound.into()),
    };
    state
        .risk_profiles
        .applied_override(user_id, profile_name.clone(), version);
    let (name, source) = state.risk_profiles.emails().resolve(profile_name.as_deref(), &email);
    Ok(HttpResponse::Ok().json(UserProfileOut {
        user_id,
        risk_profile: name.to_string(),
        risk_profile_source: source,
        email,
    }))
}

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(list).service(update).service(users).service(set_override);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_becomes_the_limits_it_names() {
        let body: ProfileIn = serde_json::from_value(json!({
            "max_risk_per_trade_pct": 0.4, "max_daily_loss_pct": 1.5, "max_trades_per_day": 3,
            "max_open_positions": 1, "cooldown_between_trades_minutes": 0, "max_leverage": 1.0,
            "stop_loss_required": true, "min_rr": 1.5
        }))
        .unwrap();
        let profile = body.limits().validate(MODEL2).unwrap();
        assert_eq!(profile.max_risk_per_trade_pct.to_string(), "0.4");
        assert_eq!(profile.max_open_positions, 1);
        assert!(body.profile_name.is_none());
    }
}
