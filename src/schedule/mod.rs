//! Scheduling: reading the times people type, and repeat rules.

pub mod repeat;
pub mod when;
