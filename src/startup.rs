//! Building the application: migrations, the store, the actors and the HTTP server.
//! The same `Application::build` serves `main` and the tests.

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actors::store::{Store, StoreError};
use actors::ApiError;
use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;

use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::http::HttpError;
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
    client.execute("SELECT pg_advisory_lock(727274)", &[]).await?;
    let report = embedded::migrations::runner().run_async(&mut client).await;
    client.execute("SELECT pg_advisory_unlock(727274)", &[]).await?;
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
        let keyring = Arc::new(settings.key_ring().map_err(|e| anyhow::anyhow!(e))?);
        for id in keyring.stretched_key_ids() {
            tracing::warn!(
                key_id = id,
                "encryption key is free text stretched with SHA-256; prefer 32 random bytes as base64 or hex"
            );
        }
        let exchanges = actors::exchange::Exchanges::start(&settings.exchange_config())
            .context("building the exchange HTTP clients")?;
        let state = Arc::new(AppState {
            keyring,
            exchanges,
            jwt: JwtKeys::new(&settings.secret_key),
            store,
            metrics: metrics_handle(),
            settings: settings.clone(),
        });
        crate::cli::bootstrap_admin(&state).await?;

        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
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
        .run();
        Ok(Application { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT; in-flight requests finish first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Unknown routes answer JSON, and a known path with the wrong method answers 405.
async fn not_found(_req: HttpRequest) -> Result<HttpResponse, HttpError> {
    Err(HttpError::Api(ApiError::RouteNotFound))
}
