//! Which gateway shards this process runs (`discord.shards`, `meetbot run --shards`), which shard a server's
//! events and interactions arrive on, and the order shards may identify in under Discord's `max_concurrency`.
//!
//! Discord sends a server's gateway traffic to shard `(guild_id >> 22) % shard_count`; a bot in 2,500 servers or
//! more must shard. `auto` runs Discord's recommended count (`GET /gateway/bot`) in this process; `0-3/8` runs
//! shards 0 to 3 of 8 here, so four such processes cover the bot. Scheduled work is not sharded: any process runs
//! it for any server.

use std::fmt;
use std::ops::RangeInclusive;

/// The shards this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShardPlan {
    /// Every shard of Discord's recommended count, in this process.
    #[default]
    Auto,
    /// Shards `first..=last` of `total`.
    Range {
        /// The first shard id run here.
        first: u32,
        /// The last shard id run here.
        last: u32,
        /// How many shards the bot runs over all its processes.
        total: u32,
    },
}

/// Why a shard plan cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardPlanError(String);

/// The most shards one plan may name; Discord's largest bots run a few thousand.
const MAX_TOTAL: u32 = 65_536;

impl ShardPlan {
    /// Reads `auto`, `N/TOTAL` (one shard) or `FIRST-LAST/TOTAL`.
    pub fn parse(text: &str) -> Result<ShardPlan, ShardPlanError> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("auto") || t.is_empty() {
            return Ok(ShardPlan::Auto);
        }
        let bad = || {
            ShardPlanError(format!(
                "{:?} is not a shard plan: write `auto`, or `FIRST-LAST/TOTAL` such as `0-3/8` (this process runs \
                 shards 0 to 3 of 8), or `N/TOTAL` for one shard",
                t.chars().take(40).collect::<String>()
            ))
        };
        let (range, total) = t.split_once('/').ok_or_else(bad)?;
        let number = |s: &str| s.trim().parse::<u32>().map_err(|_| bad());
        let total = number(total)?;
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(range)?;
                (n, n)
            }
        };
        if total == 0 || total > MAX_TOTAL {
            return Err(ShardPlanError(format!(
                "the shard count must be 1 to {MAX_TOTAL}, not {total}"
            )));
        }
        if first > last {
            return Err(ShardPlanError(format!(
                "the first shard ({first}) comes after the last ({last})"
            )));
        }
        if last >= total {
            return Err(ShardPlanError(format!(
                "shard ids run from 0 to {} when there are {total}; {last} is not one",
                total - 1
            )));
        }
        Ok(ShardPlan::Range { first, last, total })
    }

    /// The shards this process runs and the total, once Discord's recommended count is known.
    pub fn resolve(self, recommended: u32) -> (RangeInclusive<u32>, u32) {
        match self {
            ShardPlan::Auto => {
                let total = recommended.max(1);
                (0..=total - 1, total)
            }
            ShardPlan::Range { first, last, total } => (first..=last, total),
        }
    }

    /// Whether this process receives the gateway traffic of `guild_id` (with `recommended` for `auto`).
    pub fn holds(self, guild_id: u64, recommended: u32) -> bool {
        let (range, total) = self.resolve(recommended);
        u32::try_from(shard_of(guild_id, total)).is_ok_and(|s| range.contains(&s))
    }
}

impl fmt::Display for ShardPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardPlan::Auto => f.write_str("auto"),
            ShardPlan::Range { first, last, total } if first == last => {
                write!(f, "{first}/{total}")
            }
            ShardPlan::Range { first, last, total } => write!(f, "{first}-{last}/{total}"),
        }
    }
}

/// The shard that receives a server's gateway traffic, as Discord computes it.
pub fn shard_of(guild_id: u64, total: u32) -> u64 {
    (guild_id >> 22) % u64::from(total.max(1))
}

/// The order shards identify in: groups that may identify together (one per `max_concurrency` bucket,
/// `shard_id % max_concurrency`), one group per five seconds.
pub fn identify_groups(shards: RangeInclusive<u32>, max_concurrency: u32) -> Vec<Vec<u32>> {
    let mc = max_concurrency.max(1);
    let mut groups: Vec<Vec<u32>> = Vec::new();
    // Shards identify in id order; a group starts at a multiple of max_concurrency, so that each bucket
    // (`id % mc`) appears at most once in it.
    for id in shards {
        let key = id / mc;
        match groups.last_mut() {
            Some(g) if g.first().is_some_and(|f| f / mc == key) => g.push(id),
            _ => groups.push(vec![id]),
        }
    }
    groups
}

/// The buckets (`shard_id % max_concurrency`) the shards `shards` identify in, each once, in order: what a
/// process must hold the turn for before its shards identify.
pub fn identify_buckets(shards: RangeInclusive<u32>, max_concurrency: u32) -> Vec<u32> {
    let mc = max_concurrency.max(1);
    let mut buckets: Vec<u32> = shards.map(|s| s % mc).collect();
    buckets.sort_unstable();
    buckets.dedup();
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identify_buckets_are_the_shards_modulo_max_concurrency() {
        assert_eq!(identify_buckets(0..=3, 1), vec![0]);
        assert_eq!(identify_buckets(4..=7, 16), vec![4, 5, 6, 7]);
        assert_eq!(identify_buckets(6..=9, 4), vec![0, 1, 2, 3]);
        assert_eq!(identify_buckets(0..=0, 0), vec![0], "0 counts as 1");
    }

    #[test]
    fn plans_read_auto_ranges_and_single_shards() {
        assert_eq!(ShardPlan::parse("auto"), Ok(ShardPlan::Auto));
        assert_eq!(ShardPlan::parse(" AUTO "), Ok(ShardPlan::Auto));
        assert_eq!(
            ShardPlan::parse("0-3/8"),
            Ok(ShardPlan::Range {
                first: 0,
                last: 3,
                total: 8
            })
        );
        assert_eq!(
            ShardPlan::parse("5/8"),
            Ok(ShardPlan::Range {
                first: 5,
                last: 5,
                total: 8
            })
        );
        assert_eq!(ShardPlan::parse("4-7/8").unwrap().to_string(), "4-7/8");
        assert_eq!(ShardPlan::parse("2/3").unwrap().to_string(), "2/3");
    }

    #[test]
    fn bad_plans_say_what_is_wrong() {
        for (text, needle) in [
            ("0-3", "not a shard plan"),
            ("a-b/8", "not a shard plan"),
            ("0-8/8", "0 to 7"),
            ("3-1/8", "comes after"),
            ("0/0", "1 to"),
            ("-1/4", "not a shard plan"),
        ] {
            let e = ShardPlan::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn a_guild_lands_on_the_shard_discord_computes() {
        let g = 197_038_439_483_310_086u64;
        assert_eq!(shard_of(g, 2), (g >> 22) % 2);
        assert_eq!(shard_of(g, 1), 0);
        let plan = ShardPlan::parse("0-3/12").unwrap();
        let mine = (0..1000u64)
            .map(|k| (k << 22) | 7)
            .filter(|g| plan.holds(*g, 99))
            .count();
        // 1,000 = 83 × 12 + 4: shards 0 to 3 get 84 servers each.
        assert_eq!(mine, 4 * 84, "shards 0-3 of 12 hold their servers");
        assert!(ShardPlan::Auto.holds(g, 16));
    }

    #[test]
    fn auto_runs_the_recommended_count_here() {
        assert_eq!(ShardPlan::Auto.resolve(4), (0..=3, 4));
        assert_eq!(ShardPlan::Auto.resolve(0), (0..=0, 1));
        assert_eq!(
            ShardPlan::parse("8-11/12").unwrap().resolve(4),
            (8..=11, 12)
        );
    }

    #[test]
    fn identify_groups_never_put_two_shards_of_one_bucket_together() {
        assert_eq!(
            identify_groups(0..=3, 1),
            vec![vec![0], vec![1], vec![2], vec![3]]
        );
        assert_eq!(
            identify_groups(0..=5, 4),
            vec![vec![0, 1, 2, 3], vec![4, 5]]
        );
        assert_eq!(identify_groups(2..=5, 4), vec![vec![2, 3], vec![4, 5]]);
        for g in identify_groups(0..=99, 16) {
            let mut keys: Vec<u32> = g.iter().map(|s| s % 16).collect();
            keys.dedup();
            assert_eq!(keys.len(), g.len());
        }
    }
}
