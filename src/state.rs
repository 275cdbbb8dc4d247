//! What every handler can reach: configuration, the store, and the actors' handles.

use std::sync::Arc;

use actors::registry::UserRegistry;
use actors::store::user_cache::UserCache;
use actors::store::Store;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::jwt::JwtKeys;
use crate::auth::throttle::LoginThrottle;
use crate::config::Settings;

pub struct AppState {
    pub settings: Settings,
    pub store: Store,
    pub jwt: JwtKeys,
    pub metrics: Option<PrometheusHandle>,
    pub users: UserRegistry,
    /// Who tokens name, kept fresh by Postgres notifications.
    pub user_cache: Arc<UserCache>,
    /// Failed-login counters per account and per client address.
    pub login_throttle: LoginThrottle,
}

pub type Shared = actix_web::web::Data<Arc<AppState>>;
