//! The trading core of crypto-saas: domain types, pure rules, the Postgres store and the actors.

pub mod cluster;
pub mod crypto;
pub mod daily_summary;
pub mod domain;
pub mod exchange;
pub mod mailbox;
pub mod market;
pub mod notifier;
pub mod prices;
pub mod refusals;
pub mod registry;
pub mod rules;
pub mod store;
pub mod user_actor;
