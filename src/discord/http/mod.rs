//! Our own Discord REST client and its pacing, kept apart the way twilight keeps twilight-http and its rate
//! limiter: every DM, announcement and event request goes through one [`RestClient`] sharing one [`Pacer`].
//! serenity still owns the gateway and the interaction responses (which Discord exempts from the global limit).

pub mod pacer;
pub mod rest;

pub use pacer::{route_key, Lane, Pacer};
pub use rest::{
    Member, RestClient, RestError, RetryPolicy, Role, RoleMembers, CODE_UNKNOWN_CHANNEL,
};
