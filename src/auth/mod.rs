//! Authentication: tokens, passwords, and the extractors that turn a request into a user.

pub mod jwt;
pub mod password;
mod refusals;
pub mod throttle;
pub mod totp;

pub use refusals::{AccountRefused, AuthRefused, LoginRefused, TwoFactorRefused};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use actors::domain::{Role, UserId};

use crate::http::ApiError;
use crate::state::AppState;

/// The caller, as the database knows them now (the role is the current one, not the token's).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub display_name: Option<String>,
    pub totp_enabled: bool,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, AuthRefused> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(AuthRefused::NotAuthenticated)?;
    let value = header.to_str().map_err(|_| AuthRefused::InvalidToken)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthRefused::NotAuthenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthRefused::NotAuthenticated);
    }
    Ok(token.trim().to_string())
}

fn app_state(req: &HttpRequest) -> Result<Arc<AppState>, ApiError> {
    req.app_data::<web::Data<Arc<AppState>>>()
        .map(|d| d.get_ref().clone())
        .ok_or(ApiError::Internal)
}

/// Who the bearer token names. `fresh` skips the identity cache (for decisions that must see a
/// role change the instant it commits).
fn authenticate(req: &HttpRequest, fresh: bool) -> Pin<Box<dyn Future<Output = Result<AuthUser, ApiError>>>> {
    let token = bearer_token(req);
    let state = app_state(req);
    Box::pin(async move {
        let state = state?;
        let claims = state.jwt.verify(&token?).ok_or(AuthRefused::InvalidToken)?;
        let user = if fresh {
            // Boxed for the reason `UserCache::get` boxes its read: keep this future small.
            Box::pin(actors::store::users::find_by_email(&state.store, &claims.sub)).await?
        } else {
            state.user_cache.get(&state.store, &claims.sub).await?
        };
        let user = user.ok_or(AuthRefused::UserNotFound)?;
        Ok(AuthUser {
            id: user.id,
            email: user.email,
            role: user.role,
            display_name: user.display_name,
            totp_enabled: user.totp_enabled,
        })
    })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authenticate(req, false)
    }
}

/// An authenticated admin; anyone else gets 403 `Insufficient permissions`. The role is read
/// from the database on every admin request, so a demoted admin loses admin routes at once.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = authenticate(req, true);
        Box::pin(async move {
            let user = user.await?;
            if user.is_admin() {
                Ok(AdminUser(user))
            } else {
                Err(AuthRefused::Forbidden.into())
            }
        })
    }
}
