//! HTTP routes, one module per contract section. Handlers are thin: extract, authenticate,
//! send one message (or run one query), map the reply.

pub mod health;
pub mod market;
pub mod metrics;

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    health::configure(cfg);
    metrics::configure(cfg);
    market::configure(cfg);
}
