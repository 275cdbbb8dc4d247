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

use crate::http::precedence::{self, Decoding, Judging};
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

/// Judges the caller, in FastAPI's order of refusals (`http::precedence`): a refusal waits for
/// the body's decoding, and the fields' refusals wait for this.
fn authenticate(req: &HttpRequest, fresh: bool) -> Pin<Box<dyn Future<Output = Result<AuthUser, ApiError>>>> {
    let token = bearer_token(req);
    let state = app_state(req);
    let judging = precedence::begin::<Judging>(req);
    let req = req.clone();
    Box::pin(async move {
        let judged = judge(state, token, fresh).await;
        if judged.is_err() {
            precedence::finished::<Decoding>(&req).await;
        }
        drop(judging);
        judged
    })
}

/// Who the bearer token names. `fresh` skips the identity cache (for decisions that must see a
/// role change the instant it commits).
async fn judge(
    state: Result<Arc<AppState>, ApiError>,
    token: Result<String, AuthRefused>,
    fresh: bool,
) -> Result<AuthUser, ApiError> {
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

/// Who may call a route: anyone, anyone signed in but `disabled` (the `AuthUser` extractor
/// alone), or the roles of one gated extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Public,
    SignedIn,
    Admin,
    Operator,
    Viewer,
    Trader,
    PriceFeed,
}

/// Every role `AuthUser` admits: all but `disabled`.
const SIGNED_IN: &[Role] = &[Role::Admin, Role::Operator, Role::Viewer, Role::Trader, Role::Service];

impl Gate {
    pub const ALL: [Gate; 7] = [
        Gate::Public,
        Gate::SignedIn,
        Gate::Admin,
        Gate::Operator,
        Gate::Viewer,
        Gate::Trader,
        Gate::PriceFeed,
    ];

    /// The extractor a handler behind this gate takes (`None`: it takes none).
    pub fn extractor(self) -> Option<&'static str> {
        match self {
            Gate::Public => None,
            Gate::SignedIn => Some("AuthUser"),
            Gate::Admin => Some("AdminUser"),
            Gate::Operator => Some("OperatorUser"),
            Gate::Viewer => Some("ViewerUser"),
            Gate::Trader => Some("TraderUser"),
            Gate::PriceFeed => Some("PriceFeedUser"),
        }
    }

    /// The roles a signed-in caller needs (`None`: no one needs to sign in).
    pub fn roles(self) -> Option<&'static [Role]> {
        match self {
            Gate::Public => None,
            Gate::SignedIn => Some(SIGNED_IN),
            Gate::Admin => Some(AdminUser::ROLES),
            Gate::Operator => Some(OperatorUser::ROLES),
            Gate::Viewer => Some(ViewerUser::ROLES),
            Gate::Trader => Some(TraderUser::ROLES),
            Gate::PriceFeed => Some(PriceFeedUser::ROLES),
        }
    }

    fn summary(self) -> &'static str {
        match self {
            Gate::Public => "anyone, no token",
            Gate::SignedIn => "the caller's own account, lists, audit events and sessions",
            Gate::Admin => "user, role, secret and profile changes; admin-only reads",
            Gate::Operator => "every /ops read (audit of all, assignments) and trading control",
            Gate::Viewer => "dashboard summary, daily compare, security posture, risk profiles",
            Gate::Trader => "signals, positions, execution checks and orders, own exchange secrets",
            Gate::PriceFeed => "POST /ops/market/prices",
        }
    }
}

/// Every route the daemon serves, as `docs/openapi.json` names it, and the gate its handler
/// takes. Tests keep it equal to the document and to the extractor each handler declares, and
/// call every route as every role to check the answers follow it; a new route goes here too.
pub const ROUTES: &[(&str, &str, Gate)] = &[
    ("GET", "/", Gate::Public),
    ("GET", "/healthz", Gate::Public),
    ("GET", "/ops/health", Gate::Public),
    ("GET", "/metrics", Gate::Public),
    ("GET", "/docs", Gate::Public),
    ("GET", "/openapi.json", Gate::Public),
    ("GET", "/ops/dashboard", Gate::Public),
    ("POST", "/auth/register", Gate::Public),
    ("POST", "/auth/login", Gate::Public),
    ("POST", "/auth/refresh", Gate::Public),
    ("POST", "/auth/logout", Gate::SignedIn),
    ("POST", "/auth/revoke-all", Gate::SignedIn),
    ("POST", "/auth/2fa/setup", Gate::SignedIn),
    ("POST", "/auth/2fa/verify-enable", Gate::SignedIn),
    ("POST", "/auth/2fa/disable", Gate::SignedIn),
    ("GET", "/users/me", Gate::SignedIn),
    ("GET", "/users/me/risk-settings", Gate::SignedIn),
    ("GET", "/users/exchange-secrets", Gate::SignedIn),
    ("POST", "/users/exchange-secrets", Gate::Trader),
    ("DELETE", "/users/exchange-secrets/{exchange}", Gate::Trader),
    ("GET", "/users", Gate::Admin),
    ("POST", "/users", Gate::Admin),
    ("GET", "/users/risk-profiles", Gate::Admin),
    ("GET", "/users/{user_id}/risk-settings", Gate::Admin),
    ("PUT", "/users/{user_id}/risk-settings", Gate::Admin),
    ("PUT", "/users/{user_id}/risk-profile", Gate::Admin),
    ("PATCH", "/users/{user_id}/role", Gate::Admin),
    ("PUT", "/users/{user_id}/password", Gate::Admin),
    ("POST", "/users/{user_id}/2fa/reset", Gate::Admin),
    ("POST", "/users/{user_id}/revoke-sessions", Gate::Admin),
    ("GET", "/signals", Gate::SignedIn),
    ("POST", "/signals", Gate::Trader),
    ("POST", "/signals/claim", Gate::Trader),
    ("GET", "/positions", Gate::SignedIn),
    ("GET", "/positions/risk/today", Gate::SignedIn),
    ("POST", "/positions/open_from_signal", Gate::Trader),
    ("POST", "/positions/close", Gate::Trader),
    ("POST", "/ops/execution/pretrade/binance/check", Gate::Trader),
    ("POST", "/ops/execution/pretrade/ibkr/check", Gate::Trader),
    ("POST", "/ops/execution/exit/binance/check", Gate::Trader),
    ("POST", "/ops/execution/exit/ibkr/check", Gate::Trader),
    ("POST", "/ops/execution/prepare", Gate::Trader),
    ("POST", "/ops/execution/binance/test-order", Gate::Trader),
    ("POST", "/ops/execution/ibkr/test-order", Gate::Trader),
    ("GET", "/ops/audit/me", Gate::SignedIn),
    ("GET", "/ops/audit/all", Gate::Operator),
    ("GET", "/ops/strategy/assignments", Gate::Operator),
    ("POST", "/ops/strategy/assign", Gate::Admin),
    ("GET", "/ops/admin/trading-control", Gate::Operator),
    ("POST", "/ops/admin/trading-control", Gate::Operator),
    ("GET", "/ops/admin/users/{user_id}/trading-control", Gate::Operator),
    ("POST", "/ops/admin/users/{user_id}/trading-control", Gate::Operator),
    ("GET", "/ops/cluster", Gate::Operator),
    ("GET", "/ops/dashboard/summary", Gate::Viewer),
    ("GET", "/ops/risk/daily-compare", Gate::Viewer),
    ("GET", "/ops/security/posture", Gate::Viewer),
    ("GET", "/ops/admin/risk/profiles", Gate::Viewer),
    ("PUT", "/ops/admin/risk/profiles/{profile_name}", Gate::Admin),
    ("POST", "/ops/security/reencrypt-exchange-secrets", Gate::Admin),
    ("POST", "/ops/admin/cleanup-smoke-users", Gate::Admin),
    ("POST", "/ops/market/prices", Gate::PriceFeed),
];

/// The gate of a documented route (`None`: the route is not in [`ROUTES`]).
pub fn gate_of(method: &str, path: &str) -> Option<Gate> {
    ROUTES
        .iter()
        .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path)
        .map(|(_, _, gate)| *gate)
}

fn role_names(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

/// The permission table as `docs/auth.md` prints it (a test keeps the two equal).
pub fn permission_table() -> String {
    let mut table = String::from("| gate | roles | routes |\n|---|---|---|\n");
    for gate in Gate::ALL {
        if let (Some(extractor), Some(roles)) = (gate.extractor(), gate.roles()) {
            table.push_str(&format!(
                "| `{extractor}` | {} | {} |\n",
                role_names(roles),
                gate.summary()
            ));
        }
    }
    table
}

/// Every route with its gate, as `docs/auth.md` prints it (a test keeps the two equal).
pub fn route_table() -> String {
    let mut table = String::from("| route | gate | roles |\n|---|---|---|\n");
    for (method, path, gate) in ROUTES {
        let (extractor, roles) = match (gate.extractor(), gate.roles()) {
            (Some(extractor), Some(roles)) => (format!("`{extractor}`"), role_names(roles)),
            _ => ("public".to_string(), gate.summary().to_string()),
        };
        table.push_str(&format!("| `{method} {path}` | {extractor} | {roles} |\n"));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_print_the_permission_table_of_the_code() {
        let doc = include_str!("../../docs/auth.md");
        for table in [permission_table(), route_table()] {
            assert!(doc.contains(&table), "docs/auth.md must contain:\n{table}");
        }
    }

    #[test]
    fn signed_in_admits_every_role_but_disabled() {
        let expected: Vec<Role> = Role::ALL.iter().copied().filter(|r| *r != Role::Disabled).collect();
        let mut got = SIGNED_IN.to_vec();
        got.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(got, expected);
    }

    #[test]
    fn the_route_table_lists_each_documented_operation_once() {
        let mut table: Vec<(String, String)> = ROUTES.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
        table.sort();
        let before = table.len();
        table.dedup();
        assert_eq!(table.len(), before, "a route is listed twice");
        let mut documented = crate::openapi::operations();
        documented.sort();
        assert_eq!(
            table, documented,
            "ROUTES and docs/openapi.json must name the same operations"
        );
    }
}
