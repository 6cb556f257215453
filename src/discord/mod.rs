//! Discord adapters: the REST client with its pacing, and the DM fan-out.

pub mod delivery;
pub mod pacer;
pub mod rest;
