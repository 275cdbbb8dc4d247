//! Authentication: tokens, passwords, and the extractors that turn a request into a user.

pub mod jwt;
pub mod password;
pub mod password_rules;
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
    /// The session the request's token belongs to (what logout ends).
    pub session: jwt::TokenSession,
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
        let token_text = token?;
        let claims = state.jwt.verify(&token_text).ok_or(AuthRefused::InvalidToken)?;
        if !claims.is_access() {
            return Err(AuthRefused::WrongTokenType.into());
        }
        let user = if fresh {
            // Boxed for the reason `UserCache::get` boxes its read: keep this future small.
            Box::pin(actors::store::users::find_by_email(&state.store, &claims.sub)).await?
        } else {
            state.user_cache.get(&state.store, &claims.sub).await?
        };
        let user = user.ok_or(AuthRefused::UserNotFound)?;
        if user.role == Role::Disabled {
            return Err(AuthRefused::Disabled.into());
        }
        let session = claims.session(&token_text);
        let revoked = match session {
            jwt::TokenSession::Sessionless { issued_at, .. }
                if user
                    .sessionless_tokens_revoked_at
                    .is_some_and(|revoked_at| issued_at <= revoked_at.timestamp()) =>
            {
                true
            }
            _ => state.revocations.is_revoked(session.id()).await?,
        };
        if revoked {
            return Err(AuthRefused::SessionRevoked.into());
        }
        Ok(AuthUser {
            session,
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

/// The roles each gated route admits, in one table: a handler names what it needs by the
/// extractor it takes; `AuthUser` alone admits every role but `disabled`. A role a route does
/// not admit gets 403 `Insufficient permissions`. Admin routes read the role past the identity
/// cache, so a demoted admin loses them at once; the others accept the cache's copy, which every
/// daemon drops within milliseconds of a change (`user_changed`).
macro_rules! gated {
    ($(#[$meta:meta])* $name:ident, fresh: $fresh:expr, roles: [$($role:ident),+]) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name(pub AuthUser);

        impl $name {
            pub const ROLES: &'static [Role] = &[$(Role::$role),+];
        }

        impl std::ops::Deref for $name {
            type Target = AuthUser;
            fn deref(&self) -> &AuthUser {
                &self.0
            }
        }

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let user = authenticate(req, $fresh);
                Box::pin(async move {
                    let user = user.await?;
                    match $name::ROLES.contains(&user.role) {
                        true => Ok($name(user)),
                        false => Err(AuthRefused::Forbidden.into()),
                    }
                })
            }
        }
    };
}

gated!(
    /// User, role, secret and profile changes, and every admin-only read.
    AdminUser, fresh: true, roles: [Admin]
);
gated!(
    /// Every read of `/ops` (audit of all, assignments, trading control) and trading control itself.
    OperatorUser, fresh: false, roles: [Admin, Operator]
);
gated!(
    /// The read-only views: dashboard summary, daily compare, security posture, risk profiles.
    ViewerUser, fresh: false, roles: [Admin, Operator, Viewer]
);
gated!(
    /// Trading: signals, positions, execution checks and orders, the caller's exchange secrets.
    TraderUser, fresh: false, roles: [Admin, Trader]
);
gated!(
    /// Prices pushed to the exit monitor.
    PriceFeedUser, fresh: false, roles: [Admin, Service]
);

/// The permission table as `docs/auth.md` prints it (a test keeps the two equal).
pub fn permission_table() -> String {
    let gates: [(&str, &[Role], &str); 5] = [
        (
            "AdminUser",
            AdminUser::ROLES,
            "user, role, secret and profile changes; admin-only reads",
        ),
        (
            "OperatorUser",
            OperatorUser::ROLES,
            "every /ops read (audit of all, assignments) and trading control",
        ),
        (
            "ViewerUser",
            ViewerUser::ROLES,
            "dashboard summary, daily compare, security posture, risk profiles",
        ),
        (
            "TraderUser",
            TraderUser::ROLES,
            "signals, positions, execution checks and orders, own exchange secrets",
        ),
        ("PriceFeedUser", PriceFeedUser::ROLES, "POST /ops/market/prices"),
    ];
    let mut table = String::from("| gate | roles | routes |\n|---|---|---|\n");
    for (gate, roles, routes) in gates {
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        table.push_str(&format!("| `{gate}` | {} | {routes} |\n", roles.join(", ")));
    }
    table
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_docs_print_the_permission_table_of_the_code() {
        let doc = include_str!("../../docs/auth.md");
        let table = super::permission_table();
        assert!(doc.contains(&table), "docs/auth.md must contain:\n{table}");
    }
}
