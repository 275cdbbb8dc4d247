//! The trading core of crypto-saas: domain types, pure rules, the Postgres store and the actors.

pub mod crypto;
pub mod daily_summary;
pub mod domain;
pub mod error;
pub mod exchange;
pub mod market;
pub mod notifier;
pub mod prices;
pub mod rules;
pub mod store;

pub use error::ApiError;
pub mod registry;
pub mod user_actor;
