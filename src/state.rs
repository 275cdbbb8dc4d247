//! What every handler can reach: configuration, the store, and the actors' handles.

use std::sync::Arc;

use actors::market::MarketHub;
use actors::notifier::Notifier;
use actors::registry::UserRegistry;
use actors::store::changes::ChangeFeed;
use actors::store::risk_profiles::RiskProfiles;
use actors::store::sessions::Revocations;
use actors::store::trading_control::TradingControls;
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
    /// The operators' kill switches (global and per user), kept current by notifications.
    pub trading: Arc<TradingControls>,
    /// The sessions revoked recently (logout, revoke-all, resets), kept current by notifications.
    pub revocations: Arc<Revocations>,
    /// The risk profiles and per-user overrides, kept current by notifications.
    pub risk_profiles: Arc<RiskProfiles>,
    /// This daemon's leases on the user partitions whose positions it watches.
    pub cluster: Arc<actors::cluster::Cluster>,
    /// The daemon's one LISTEN connection; kept alive for as long as the state lives.
    pub changes: Arc<ChangeFeed>,
    /// Failed-login counters per account and per client address.
    pub login_throttle: LoginThrottle,
    /// Who holds open positions in which market; the fan-out of price ticks.
    pub market: Arc<MarketHub>,
    /// Telegram notifications (never blocks, never fails the caller).
    pub notifier: Notifier,
    /// Exchange-secret encryption keys, newest first.
    pub keyring: Arc<actors::crypto::KeyRing>,
    /// The ExchangeActors (BINANCE, IBKR).
    pub exchanges: actors::exchange::Exchanges,
    /// The shared database probe behind the health routes.
    pub db_health: crate::routes::health::DbHealth,
}

pub type Shared = actix_web::web::Data<Arc<AppState>>;
