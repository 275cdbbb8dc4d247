//! Pure rules: plain functions over plain data, no I/O. Actors and handlers call these;
//! nothing else re-implements them.

pub mod dashboard;
pub mod exit_guard;
pub mod risk;
pub mod risk_profiles;
pub mod strategy;
pub mod trading_control;
