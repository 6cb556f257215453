//! Scheduling: reading the times people type, repeat rules, and the loop that runs due jobs.

pub mod lease;
pub mod repeat;
pub mod runner;
pub mod when;

pub use repeat::{Repeat, UnknownRepeat};
pub use when::{
    describe, parse_timezone, parse_when, parse_when_within, timezone_suggestions, WhenError,
};
