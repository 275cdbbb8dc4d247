//! The HTTP facade's plumbing: error mapping, extractors, middleware.

pub mod error;
pub mod extract;
pub mod middleware;

pub use error::{ApiError, HttpResult};
