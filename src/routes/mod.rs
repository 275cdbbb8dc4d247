//! HTTP routes, one module per contract section. Handlers are thin: extract, authenticate,
//! send one message (or run one query), map the reply.

pub mod audit;
pub mod auth;
pub mod cluster;
pub mod dashboard;
pub mod docs;
pub mod execution;
pub mod health;
pub mod keyed;
pub mod market;
pub mod metrics;
pub mod positions;
pub mod risk_profiles;
pub mod secrets;
pub mod security;
pub mod signals;
pub mod strategy;
pub mod trading_control;
pub mod users;

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    dashboard::configure(cfg);
    health::configure(cfg);
    metrics::configure(cfg);
    signals::configure(cfg);
    positions::configure(cfg);
    risk_profiles::configure(cfg);
    auth::configure(cfg);
    docs::configure(cfg);
    users::configure(cfg);
    audit::configure(cfg);
    market::configure(cfg);
    secrets::configure(cfg);
    strategy::configure(cfg);
    trading_control::configure(cfg);
    cluster::configure(cfg);
    execution::configure(cfg);
    security::configure(cfg);
}
