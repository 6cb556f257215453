//! Scheduling: reading the times people type, and repeat rules.

pub mod repeat;
pub mod when;

pub use repeat::{Repeat, UnknownRepeat};
pub use when::{
    describe, parse_timezone, parse_when, parse_when_within, timezone_suggestions, WhenError,
};
