//! Building the application: migrations, the store, the actors and the HTTP server.
//! The same `Application::build` serves `main` and the tests.

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actors::cluster::{Cluster, Ownership};
use actors::crypto::SecretText;
use actors::market::{MarketHub, NullTickSink};
use actors::notifier::{Notifier, NotifierConfig};
use actors::prices::{self, PricePoller};
use actors::registry::UserRegistry;
use actors::store::changes::ChangeFeed;
use actors::store::risk_profiles::RiskProfiles;
use actors::store::sessions::Revocations;
use actors::store::tick_suspects::TickSuspects;
use actors::store::trading_control::TradingControls;
use actors::store::user_cache::UserCache;
use actors::store::{Store, StoreError};
use actors::user_actor::{ActorDeps, ExitMode};
use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;

use crate::auth::jwt::JwtKeys;
use crate::config::{ExitMonitorMode, Settings};
use crate::http::ApiError;
use crate::state::AppState;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Applies pending migrations, holding an advisory lock so two daemons starting together
/// do not race.
pub async fn migrate(database_url: &str) -> anyhow::Result<usize> {
    let (mut client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .context("cannot connect to the database named by DATABASE_URL")?;
    let driver = tokio::spawn(connection);
    // The runner's `CREATE TABLE IF NOT EXISTS` otherwise logs a NOTICE at every start.
    client.batch_execute("SET client_min_messages = warning").await?;
    client.execute("SELECT pg_advisory_lock(727274)", &[]).await?;
    let report = embedded::migrations::runner().run_async(&mut client).await;
    client.execute("SELECT pg_advisory_unlock(727274)", &[]).await?;
    let autovacuum: String = client.query_one("SHOW autovacuum", &[]).await?.get(0);
    if autovacuum != "on" {
        tracing::warn!(
            "PostgreSQL runs with autovacuum off: the signals' and positions' dead rows will pile up and slow \
             claims and lists until someone runs VACUUM (turn autovacuum on)"
        );
    }
    drop(client);
    driver.abort();
    let report = report.context("applying migrations")?;
    Ok(report.applied_migrations().len())
}

fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

pub struct Application {
    port: u16,
    server: Server,
    pub state: Arc<AppState>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        migrate(settings.database_url.expose_secret()).await?;
        let store = Store::start(&settings.store_config()).map_err(|e: StoreError| anyhow::anyhow!(e))?;
        let zone = settings.risk_timezone.name();
        if actors::store::dashboard::align_audit_daily_zone(&store, zone)
            .await
            .map_err(|e: StoreError| anyhow::anyhow!(e))?
        {
            tracing::info!(zone, "audit_daily rebuilt for the risk zone");
        }
        let user_cache = Arc::new(UserCache::default());
        let trading = TradingControls::new(store.clone());
        let risk_profiles = RiskProfiles::new(store.clone(), settings.email_profiles());
        let revocations = Revocations::new(store.clone(), ACCESS_TOKEN_LIFE);
        let (market, notifier) = start_exit_monitor(&settings, &store);
        let ownership = Ownership::none();
        let users = UserRegistry::new(ActorDeps {
            persistence: Arc::new(store.clone()),
            profiles: risk_profiles.clone(),
            caps: settings.exposure_caps,
            zone: settings.risk_timezone,
            idle: std::time::Duration::from_secs(settings.user_actor_idle_secs.max(1)),
            market: market.clone(),
            notifier: notifier.clone(),
            exit_mode: match settings.exit_monitor_mode {
                ExitMonitorMode::Alert => ExitMode::Alert,
                ExitMonitorMode::Close => ExitMode::Close,
                ExitMonitorMode::Off => ExitMode::Off,
            },
            trading: trading.clone(),
            max_auto_closes_per_minute: settings.exit_max_auto_closes_per_minute,
            cluster: ownership.clone(),
        });
        // Ticks (polled or pushed) go to the user actors of the users this daemon watches.
        market.set_sink(Arc::new(users.clone()));
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let cluster = Cluster::new(
            store.clone(),
            users.clone(),
            ownership,
            settings.cluster_node_id.unwrap_or_else(|| derived_node_id(port)),
            std::time::Duration::from_secs(settings.cluster_failover_secs),
            settings.exit_monitor_mode != ExitMonitorMode::Off,
        );
        let changes = ChangeFeed::builder()
            .on(actors::store::user_cache::CHANNEL, user_cache.clone())
            .on(actors::store::trading_control::CHANNEL, trading.clone())
            .on(actors::store::risk_profiles::CHANNEL, risk_profiles.clone())
            .on(actors::store::sessions::CHANNEL, revocations.clone())
            .on(actors::cluster::CHANNEL, cluster.clone())
            .start(settings.database_url.expose_secret().to_string());
        // Start-up is recovery: the first lease round loads the users whose positions this daemon
        // watches (every one, when it is alone) before it serves.
        cluster.join().await.map_err(|e: StoreError| anyhow::anyhow!(e))?;
        let keyring = Arc::new(settings.key_ring().map_err(|e| anyhow::anyhow!(e))?);
        for id in keyring.stretched_key_ids() {
            tracing::warn!(
                key_id = id,
                "encryption key is free text stretched with SHA-256; prefer 32 random bytes as base64 or hex"
            );
        }
        // Rows written before TOTP secrets were sealed are sealed before any request reads them.
        let sealed = actors::store::two_factor::seal_plaintext(&store, Arc::clone(&keyring))
            .await
            .map_err(|e: StoreError| anyhow::anyhow!(e))
            .context("sealing plaintext TOTP secrets")?;
        if sealed > 0 {
            tracing::info!(sealed, "plaintext TOTP secrets sealed under the key ring");
        }
        let exchanges = actors::exchange::Exchanges::start(&settings.exchange_config())
            .context("building the exchange HTTP clients")?;
        let state = Arc::new(AppState {
            user_cache,
            trading,
            risk_profiles,
            revocations,
            cluster,
            changes,
            keyring,
            exchanges,
            jwt: JwtKeys::new(&settings.secret_key),
            market,
            notifier,
            store,
            users,
            metrics: metrics_handle(),
            login_throttle: crate::auth::throttle::LoginThrottle::default(),
            settings: settings.clone(),
            db_health: Default::default(),
        });
        crate::cli::bootstrap_admin(&state).await?;
        if let Some(handle) = state.metrics.clone() {
            // Histograms keep their samples until drained: drain them even when nobody scrapes.
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            });
        }
        spawn_identity_purge(state.clone());
        spawn_housekeeping(state.clone());

        let data = web::Data::new(state.clone());
        let body_limit = settings.body_limit_bytes;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .wrap(from_fn(crate::http::middleware::observe))
                .configure(crate::routes::configure)
                .default_service(web::to(not_found))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        // SIGTERM and SIGINT are handled in `run_until_stopped`: the leases go first.
        .disable_signals()
        .run();
        Ok(Application { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT. The leases are handed over first, so the other daemons
    /// watch this one's positions while its requests in flight finish (then it exits).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let server = self.server.handle();
        let cluster = self.state.cluster.clone();
        tokio::spawn(async move {
            stop_requested().await;
            cluster.leave().await;
            server.stop(true).await;
        });
        self.server.await
    }
}

async fn stop_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "SIGTERM cannot be handled; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("stopping: handing the cluster leases over, then finishing the requests in flight");
}

/// A daemon's id when `CLUSTER_NODE_ID` is not set: the same for the same host and port, so a
/// daemon restarted in place takes its own leases back at once instead of waiting for them to lapse.
fn derived_node_id(port: u16) -> uuid::Uuid {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
    actors::domain::derived_uuid(format!("{}:{port}", host.trim()).as_bytes())
}

/// How often cached identities past their life are dropped (the cache is also bounded in size).
const IDENTITY_PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Drops expired cached identities. The memory they and stopped user actors held goes back to
/// the OS by the allocator itself (mimalloc returns freed pages after a short delay).
fn spawn_identity_purge(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(IDENTITY_PURGE_EVERY);
        loop {
            every.tick().await;
            let purged = state.user_cache.purge_expired();
            if purged > 0 {
                tracing::debug!(purged, "expired cached identities dropped");
            }
        }
    });
}

/// How often rows that outlived their use are removed, and at most how many idempotency keys per
/// round: a backlog (after a long stop) drains over a few rounds instead of in one long statement.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(300);
const IDEMPOTENCY_EXPIRY_BATCH: i64 = 5_000;
const SESSION_EXPIRY_BATCH: i64 = 5_000;

/// A revoked session must be remembered while an access token of it may live: one token's life,
/// plus a minute for clocks.
const ACCESS_TOKEN_LIFE: std::time::Duration =
    std::time::Duration::from_secs(crate::auth::jwt::TOKEN_MINUTES as u64 * 60 + 60);

/// Removes idempotency keys older than `IDEMPOTENCY_KEY_MAX_AGE_DAYS`, failed-login counts out of
/// the throttle's window, sessions long expired, and revocations no live token needs. Every daemon
/// runs it; rounds of two daemons at once are harmless.
fn spawn_housekeeping(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
        loop {
            every.tick().await;
            let days = state.settings.idempotency_key_max_age_days;
            match actors::store::idempotency::expire(&state.store, days, IDEMPOTENCY_EXPIRY_BATCH).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "expired idempotency keys removed"),
                Err(err) => tracing::warn!(error = %err, "expired idempotency keys not removed"),
            }
            let window = state.login_throttle.limits().window;
            if let Err(err) = actors::store::login_failures::prune(&state.store, window).await {
                tracing::warn!(error = %err, "old failed-login counts not removed");
            }
            state.revocations.prune();
            let sessions =
                actors::store::sessions::remove_expired(&state.store, ACCESS_TOKEN_LIFE, SESSION_EXPIRY_BATCH);
            if let Err(err) = sessions.await {
                tracing::warn!(error = %err, "expired sessions not removed");
            }
        }
    });
}

/// The notifier, the market hub, the price pollers (one per exchange, unless
/// `EXIT_MONITOR_MODE=off`) and the daily-summary task.
fn start_exit_monitor(settings: &Settings, store: &Store) -> (Arc<MarketHub>, Notifier) {
    let notifier = Notifier::start(NotifierConfig {
        api_base_url: settings.telegram_api_base_url.clone(),
        bot_token: settings
            .telegram_bot_token
            .as_ref()
            .map(|t| SecretText::new(t.expose_secret().to_string())),
        chat_id: settings.telegram_chat_id.clone(),
        ..NotifierConfig::default()
    });
    // Counts ticks until the user-actor registry is wired in as the sink (just below). Every
    // tick of a held symbol passes the tick-jump guard first; held ticks are audited off the
    // tick path.
    let market = Arc::new(
        MarketHub::new(Arc::new(NullTickSink::default()))
            .with_tick_guard(settings.exit_tick_guard, Arc::new(TickSuspects::start(store.clone()))),
    );
    if settings.exit_monitor_mode != ExitMonitorMode::Off {
        let interval = std::time::Duration::from_secs(settings.price_poll_interval_secs.max(1));
        let client = prices::http_client(std::time::Duration::from_secs(10));
        let binance = prices::BinancePrices::new(client.clone(), &settings.binance_base_url);
        PricePoller::new(Arc::new(binance), market.clone(), interval).spawn();
        if let Some(bridge) = &settings.ibkr_bridge_base_url {
            let ibkr = prices::IbkrBridgePrices::new(client, bridge);
            PricePoller::new(Arc::new(ibkr), market.clone(), interval).spawn();
        }
    }
    if notifier.is_enabled() {
        tokio::spawn(actors::daily_summary::run_daily_summaries(
            store.clone(),
            notifier.clone(),
            settings.risk_timezone,
        ));
    }
    (market, notifier)
}

/// Unknown routes answer JSON, and a known path with the wrong method answers 405.
/// A path is "known" when the OpenAPI document lists it (a `{param}` is one segment).
pub(crate) async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = crate::openapi::allowed_methods(req.path());
    if allowed.is_empty() {
        Err(ApiError::RouteNotFound)
    } else {
        Err(ApiError::MethodNotAllowed {
            allow: allowed.join(", "),
        })
    }
}
