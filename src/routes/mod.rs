//! HTTP routes, one module per contract section. Handlers are thin: extract, authenticate,
//! send one message (or run one query), map the reply.

pub mod execution;
pub mod health;
pub mod metrics;
pub mod secrets;
pub mod security;
pub mod strategy;

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    health::configure(cfg);
    metrics::configure(cfg);
    secrets::configure(cfg);
    strategy::configure(cfg);
    execution::configure(cfg);
    security::configure(cfg);
}
