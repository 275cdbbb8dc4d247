//! The kill switch: `/ops/admin/trading-control` for everyone and
//! `/ops/admin/users/{user_id}/trading-control` for one user, and the guard every route that
//! adds exposure calls. The switches are read from the daemon's in-memory copy
//! (`TradingControls`); changes go to the database, which announces them to every daemon.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::domain::{Exchange, TradingState, UserId};
use actors::store::audit::AuditEvent;
use actors::store::trading_control::{self as store, SetTradingControl, TradingControl};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{AccountRefused, OperatorUser};
use crate::http::extract::{path_param, Json};
use crate::http::{ApiError, HttpResult};
use crate::state::Shared;

/// The shortest reason accepted for leaving `ACTIVE`, and the longest reason kept.
const REASON_MIN_CHARS: usize = 8;
const REASON_MAX_CHARS: usize = 500;

/// Refuses new exposure (`action` on `exchange`) when an operator's switch says so, auditing
/// `execution.blocked.kill_switch`. Costs no database read while the switches are current.
pub async fn require_trading(state: &Shared, user_id: UserId, action: &str, exchange: Exchange) -> HttpResult<()> {
    let Err(blocked) = state.trading.gate(user_id).await?.new_exposure() else {
        return Ok(());
    };
    state
        .store
        .audit(
            AuditEvent::new(Some(user_id), "execution.blocked.kill_switch")
                .entity("execution", exchange.as_str())
                .details(json!({
                    "action": action,
                    "exchange": exchange.as_str(),
                    "scope": blocked.scope(),
                    "state": blocked.state(),
                })),
        )
        .await?;
    Err(blocked.into())
}

/// `{trading_enabled: bool, reason}` (false = HALTED, true = ACTIVE) or `{state, reason}`. Either
/// switch may be left out, not sent as `null` (the document says so: it has no null for them).
#[derive(Debug, Deserialize)]
struct ControlIn {
    #[serde(default, deserialize_with = "present")]
    trading_enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    state: Option<TradingState>,
    reason: Option<String>,
}

/// A field that may be left out but, when sent, must hold a value.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl ControlIn {
    /// The state asked for and the reason kept, or the 422 that names what is wrong.
    fn parse(self) -> HttpResult<(TradingState, Option<String>)> {
        let state = match (self.state, self.trading_enabled) {
            (Some(state), None) => state,
            (None, Some(true)) => TradingState::Active,
            (None, Some(false)) => TradingState::Halted,
            (Some(state), Some(enabled)) if enabled == (state == TradingState::Active) => state,
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "body",
                    "state",
                    "state and trading_enabled disagree: send one of them",
                ))
            }
            (None, None) => {
                return Err(ApiError::invalid(
                    "body",
                    "state",
                    "state (ACTIVE, REDUCING, HALTED) or trading_enabled is required",
                ))
            }
        };
        let reason = self.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
        let chars = reason.as_deref().map_or(0, |r| r.chars().count());
        if state != TradingState::Active && chars < REASON_MIN_CHARS {
            return Err(ApiError::invalid(
                "body",
                "reason",
                format!("reason is required (min {REASON_MIN_CHARS} chars) to leave ACTIVE"),
            ));
        }
        if chars > REASON_MAX_CHARS {
            return Err(ApiError::invalid(
                "body",
                "reason",
                format!("reason must be at most {REASON_MAX_CHARS} characters"),
            ));
        }
        Ok((state, reason))
    }
}

fn out(control: &TradingControl) -> serde_json::Value {
    let mut body = json!({
        "trading_enabled": control.state == TradingState::Active,
        "state": control.state,
        "reason": control.reason,
        "updated_by": control.updated_by,
        "updated_at": control.updated_at,
    });
    if let Some(user_id) = control.user_id {
        body["user_id"] = json!(user_id);
    }
    body
}

async fn change(
    state: &Shared,
    admin: &OperatorUser,
    user_id: Option<UserId>,
    body: ControlIn,
) -> HttpResult<HttpResponse> {
    let (new_state, reason) = body.parse()?;
    let cmd = SetTradingControl {
        user_id,
        state: new_state,
        reason,
        by_id: admin.0.id,
        by_email: admin.0.email.clone(),
    };
    let set = state
        .store
        .write(admin.0.id.into(), None, cmd, store::set)
        .await?
        .ok_or(AccountRefused::UserNotFound)?;
    state.trading.applied(&set);
    tracing::warn!(
        scope = user_id.map_or("global".to_string(), |id| id.to_string()),
        from = %set.previous,
        to = %set.control.state,
        by = %admin.0.email,
        "trading control changed"
    );
    Ok(HttpResponse::Ok().json(out(&set.control)))
}

/// A user named by the path, who must exist.
async fn existing_user(state: &Shared, req: &HttpRequest) -> HttpResult<UserId> {
    let user_id: UserId = path_param(req, "user_id")?;
    actors::store::users::find_by_id(&state.store, user_id)
        .await?
        .ok_or(AccountRefused::UserNotFound)?;
    Ok(user_id)
}

#[get("/ops/admin/trading-control")]
async fn get_global(state: Shared, _operator: OperatorUser) -> HttpResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(out(&store::read(&state.store, None).await?)))
}

#[post("/ops/admin/trading-control")]
async fn set_global(state: Shared, admin: OperatorUser, body: Json<ControlIn>) -> HttpResult<HttpResponse> {
    change(&state, &admin, None, body.0).await
}

#[get("/ops/admin/users/{user_id}/trading-control")]
async fn get_user(state: Shared, _operator: OperatorUser, req: HttpRequest) -> HttpResult<HttpResponse> {
    let user_id = existing_user(&state, &req).await?;
    Ok(HttpResponse::Ok().json(out(&store::read(&state.store, Some(user_id)).await?)))
}

#[post("/ops/admin/users/{user_id}/trading-control")]
async fn set_user(
    state: Shared,
    admin: OperatorUser,
    req: HttpRequest,
    body: Json<ControlIn>,
) -> HttpResult<HttpResponse> {
    let user_id: UserId = path_param(&req, "user_id")?;
    change(&state, &admin, Some(user_id), body.0).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_global)
        .service(set_global)
        .service(get_user)
        .service(set_user);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: serde_json::Value) -> HttpResult<(TradingState, Option<String>)> {
        serde_json::from_value::<ControlIn>(body).unwrap().parse()
    }

    #[test]
    fn either_form_names_the_state() {
        let reason = "exchange outage in progress";
        assert_eq!(
            parsed(json!({"trading_enabled": false, "reason": reason})).unwrap(),
            (TradingState::Halted, Some(reason.into()))
        );
        assert_eq!(
            parsed(json!({"trading_enabled": true})).unwrap(),
            (TradingState::Active, None)
        );
        assert_eq!(
            parsed(json!({"state": "reducing", "reason": reason})).unwrap().0,
            TradingState::Reducing
        );
        assert!(parsed(json!({"state": "HALTED", "trading_enabled": true, "reason": reason})).is_err());
        assert!(parsed(json!({"reason": reason})).is_err());
    }

    #[test]
    fn leaving_active_needs_a_reason_of_eight_characters() {
        assert!(parsed(json!({"state": "HALTED", "reason": "  short  "})).is_err());
        assert!(parsed(json!({"state": "HALTED"})).is_err());
        assert!(parsed(json!({"state": "HALTED", "reason": "12345678"})).is_ok());
        assert!(parsed(json!({"state": "ACTIVE", "reason": "ok"})).is_ok());
        let long = "x".repeat(REASON_MAX_CHARS + 1);
        assert!(parsed(json!({"state": "ACTIVE", "reason": long})).is_err());
    }
}
