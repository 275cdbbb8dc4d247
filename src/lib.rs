//! crypto-saas: the daemon (CLI, configuration, HTTP facade, auth, dashboard page).

pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod import;
pub mod loadtest;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
