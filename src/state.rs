//! What every handler can reach: configuration, the store, and the actors' handles.

use std::sync::Arc;

use actors::store::Store;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::jwt::JwtKeys;
use crate::config::Settings;

pub struct AppState {
    pub settings: Settings,
    pub store: Store,
    pub jwt: JwtKeys,
    pub metrics: Option<PrometheusHandle>,
    /// Exchange-secret encryption keys, newest first.
    pub keyring: Arc<actors::crypto::KeyRing>,
    /// The ExchangeActors (BINANCE, IBKR).
    pub exchanges: actors::exchange::Exchanges,
}

pub type Shared = actix_web::web::Data<Arc<AppState>>;
