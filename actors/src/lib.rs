//! The trading core of crypto-saas: domain types, pure rules, the Postgres store and the actors.

pub mod crypto;
pub mod domain;
pub mod error;
pub mod exchange;
pub mod rules;
pub mod store;

pub use error::ApiError;
