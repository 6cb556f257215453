//! Per-user cooldowns for commands that make the bot send messages (`/meet`, `/invite`), so it cannot be used to
//! mass-DM a server. [`CooldownBook`] is what commands ask; [`Cooldowns`] keeps them in this process's memory (a
//! restart forgets them, and each process has its own), the store keeps them for every process and across restarts
//! (`impl CooldownBook for Store`, in `store/cooldowns.rs`), with the same semantics.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Which command a cooldown is for: using one does not block the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `/meet`.
    Meet,
    /// `/invite`.
    Invite,
}

impl Action {
    /// The name stored for this action.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Meet => "meet",
            Action::Invite => "invite",
        }
    }
}

/// The cooldowns could not be consulted (the database behind them is unavailable); the message names the cause.
#[derive(Debug, thiserror::Error)]
#[error("cooldowns are unavailable: {0}")]
pub struct CooldownUnavailable(pub String);

/// Where cooldowns are kept. Semantics shared by every implementation: taking is atomic (two racing takes of one
/// key, in any processes, let exactly one through); a zero or negative length never blocks and records nothing;
/// giving back removes only the use taken at that instant, never a later one.
#[async_trait]
pub trait CooldownBook: Send + Sync {
    /// Takes a use of `action` for `user` in `guild` at `now` when it is free, starting a cooldown of `length`
    /// (`Ok(Ok(()))`); otherwise `Ok(Err(instant it frees up))`.
    async fn try_take(
        &self,
        guild: u64,
        user: u64,
        action: Action,
        now: DateTime<Utc>,
        length: Duration,
    ) -> Result<Result<(), DateTime<Utc>>, CooldownUnavailable>;

    /// Gives back the use taken at `taken_at` (the command was refused and sent nothing), so a typo costs no wait.
    async fn give_back(
        &self,
        guild: u64,
        user: u64,
        action: Action,
        taken_at: DateTime<Utc>,
    ) -> Result<(), CooldownUnavailable>;
}

/// Who used what, where.
type Key = (u64, u64, Action);

/// When a use was taken, and until when the next one must wait.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// Above this many entries, expired ones are swept on the next use (bounds memory on a busy bot).
const SWEEP_ABOVE: usize = 4096;

/// The running cooldowns: for each (server, user, action), when it was last used and until when it must wait.
#[derive(Debug, Default)]
pub struct Cooldowns {
    until: Mutex<HashMap<Key, Span>>,
}

impl Cooldowns {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a use of `action` for `user` in `guild` at `now` when it is free, starting a cooldown of `length`, and
    /// returns `Ok`; otherwise returns the instant it frees up. A zero `length` never blocks.
    pub fn try_take(
        &self,
        guild: u64,
        user: u64,
        action: Action,
        now: DateTime<Utc>,
        length: Duration,
    ) -> Result<(), DateTime<Utc>> {
        if length <= Duration::zero() {
            return Ok(());
        }
        let mut map = self.until.lock().expect("cooldown lock");
        let key = (guild, user, action);
        if let Some((_, until)) = map.get(&key) {
            if *until > now {
                return Err(*until);
            }
        }
        if map.len() >= SWEEP_ABOVE {
            map.retain(|_, (_, until)| *until > now);
        }
        map.insert(key, (now, now + length));
        Ok(())
    }

    /// Gives back a use taken at `taken_at` (the command was refused and sent nothing), so a typo costs no wait.
    /// A later use is left alone.
    pub fn give_back(&self, guild: u64, user: u64, action: Action, taken_at: DateTime<Utc>) {
        let mut map = self.until.lock().expect("cooldown lock");
        let key = (guild, user, action);
        if map.get(&key).is_some_and(|(taken, _)| *taken == taken_at) {
            map.remove(&key);
        }
    }

    /// How many cooldowns are remembered (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.until.lock().expect("cooldown lock").len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl CooldownBook for Cooldowns {
    async fn try_take(
        &self,
        guild: u64,
        user: u64,
        action: Action,
        now: DateTime<Utc>,
        length: Duration,
    ) -> Result<Result<(), DateTime<Utc>>, CooldownUnavailable> {
        Ok(Cooldowns::try_take(self, guild, user, action, now, length))
    }

    async fn give_back(
        &self,
        guild: u64,
        user: u64,
        action: Action,
        taken_at: DateTime<Utc>,
    ) -> Result<(), CooldownUnavailable> {
        Cooldowns::give_back(self, guild, user, action, taken_at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_second_use_within_the_cooldown_is_refused_with_the_time_it_frees_up() {
        let c = Cooldowns::new();
        let len = Duration::seconds(30);
        assert_eq!(c.try_take(1, 2, Action::Meet, t(0), len), Ok(()));
        assert_eq!(c.try_take(1, 2, Action::Meet, t(29), len), Err(t(30)));
    }

    #[test]
    fn the_cooldown_releases_when_its_time_has_passed() {
        let c = Cooldowns::new();
        let len = Duration::seconds(30);
        c.try_take(1, 2, Action::Meet, t(0), len).unwrap();
        assert_eq!(c.try_take(1, 2, Action::Meet, t(30), len), Ok(()));
        // The new use starts a new cooldown.
        assert_eq!(c.try_take(1, 2, Action::Meet, t(31), len), Err(t(60)));
    }

    #[test]
    fn other_users_servers_and_commands_are_not_blocked() {
        let c = Cooldowns::new();
        let len = Duration::seconds(30);
        c.try_take(1, 2, Action::Meet, t(0), len).unwrap();
        assert_eq!(c.try_take(1, 3, Action::Meet, t(1), len), Ok(()));
        assert_eq!(c.try_take(9, 2, Action::Meet, t(1), len), Ok(()));
        assert_eq!(c.try_take(1, 2, Action::Invite, t(1), len), Ok(()));
    }

    #[test]
    fn a_zero_cooldown_never_blocks_and_remembers_nothing() {
        let c = Cooldowns::new();
        for s in 0..5 {
            assert_eq!(
                c.try_take(1, 2, Action::Invite, t(s), Duration::zero()),
                Ok(())
            );
        }
        assert!(c.is_empty());
    }

    #[test]
    fn a_use_given_back_frees_the_user_at_once() {
        let c = Cooldowns::new();
        let len = Duration::seconds(30);
        c.try_take(1, 2, Action::Meet, t(0), len).unwrap();
        c.give_back(1, 2, Action::Meet, t(0));
        assert_eq!(c.try_take(1, 2, Action::Meet, t(1), len), Ok(()));
    }

    #[test]
    fn expired_entries_are_swept_once_many_are_remembered() {
        let c = Cooldowns::new();
        let len = Duration::seconds(10);
        for u in 0..SWEEP_ABOVE as u64 {
            c.try_take(1, u, Action::Meet, t(0), len).unwrap();
        }
        assert_eq!(c.len(), SWEEP_ABOVE);
        c.try_take(1, u64::MAX, Action::Meet, t(100), len).unwrap();
        assert_eq!(c.len(), 1);
    }
}
