//! HTTP routes, one module per contract section. Handlers are thin: extract, authenticate,
//! send one message (or run one query), map the reply.

pub mod dashboard;
pub mod health;
pub mod metrics;

pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    dashboard::configure(cfg);
    health::configure(cfg);
    metrics::configure(cfg);
}
