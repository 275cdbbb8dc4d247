//! The HTTP facade's plumbing: error mapping, extractors, middleware.

pub mod error;
pub mod extract;
pub mod idempotency;
pub mod middleware;
pub mod page;
pub mod precedence;

pub use error::{ApiError, HttpResult};
