//! meetbot: personal, tokenized Jitsi Meet links for Discord communities.

pub mod clock;
pub mod coalesce;
pub mod config;
pub mod discord;
pub mod fetch;
pub mod jitsi;
pub mod logging;
pub mod meeting;
pub mod metrics;
pub mod schedule;
pub mod seal;
pub mod secret;
pub mod store;
pub mod tenant;
pub mod text;
pub mod web;
