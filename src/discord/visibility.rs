//! The access rule's facts from Discord: which members can see the channel a meeting was posted in, from the
//! server's roles and the channel's permission overwrites (the gateway cache, else REST), and the rule's answer for
//! a member. Commands, buttons and the executor ask here; the rule itself is the core's (`meeting::access`).

use super::guild::{caller_facts, facts_for_command, guild_of, GuildFacts};
use super::http::RestClient;
use super::policy::effective;
use super::render::UNKNOWN_MEETING;
use super::reply::Refusal;
use super::stored::{self, find_meeting};
use super::Context;
use crate::meeting::access::{may_join, Access, Viewer};
use crate::meeting::channel::{ChannelRules, Overwrite, OverwriteTarget};
use crate::store::Meeting;
use poise::serenity_prelude as serenity;
use serde_json::Value;
use std::collections::HashMap;

/// The channels of one server read so far, so a list of meetings reads each channel once.
pub(crate) struct Visibility<'a> {
    sctx: Option<&'a serenity::Context>,
    rest: &'a RestClient,
    facts: &'a GuildFacts,
    guild_id: u64,
    channels: HashMap<u64, Option<ChannelRules>>,
}

impl<'a> Visibility<'a> {
    /// For the server `guild_id` whose facts are `facts`; `sctx` lends the gateway cache when there is one.
    pub(crate) fn new(
        sctx: Option<&'a serenity::Context>,
        rest: &'a RestClient,
        facts: &'a GuildFacts,
        guild_id: u64,
    ) -> Self {
        Self {
            sctx,
            rest,
            facts,
            guild_id,
            channels: HashMap::new(),
        }
    }

    /// The rules of `channel`; `None` when neither the cache nor Discord could tell (then nobody is assumed to see
    /// it: the rule still admits the host, the invitees and moderators).
    pub(crate) async fn rules(&mut self, channel: u64) -> Option<&ChannelRules> {
        if !self.channels.contains_key(&channel) {
            let overwrites = match self.cached(channel) {
                Some(o) => Some(o),
                None => self.fetched(channel).await,
            };
            let rules = overwrites.map(|overwrites| ChannelRules {
                guild_id: self.guild_id,
                owner_id: self.facts.owner_id,
                roles: self
                    .facts
                    .roles
                    .iter()
                    .map(|(r, bits)| (r.id, *bits))
                    .collect(),
                overwrites,
            });
            self.channels.insert(channel, rules);
        }
        self.channels.get(&channel).and_then(Option::as_ref)
    }

    /// Whether the member `user_id` with `role_ids` can see `channel`.
    pub(crate) async fn sees(&mut self, channel: u64, user_id: u64, role_ids: &[u64]) -> bool {
        self.rules(channel)
            .await
            .is_some_and(|r| r.can_view(user_id, role_ids))
    }

    /// The access rule's answer for a member about a stored meeting.
    pub(crate) async fn access(
        &mut self,
        m: &Meeting,
        user_id: u64,
        role_ids: &[u64],
        moderator: bool,
    ) -> Access {
        let viewer = Viewer {
            user_id,
            role_ids,
            moderator,
            sees_channel: self.sees(m.channel_id, user_id, role_ids).await,
        };
        may_join(&stored::access(m), &viewer)
    }

    fn cached(&self, channel: u64) -> Option<Vec<Overwrite>> {
        let guild = self
            .sctx?
            .cache
            .guild(serenity::GuildId::new(self.guild_id))?;
        let c = guild.channels.get(&serenity::ChannelId::new(channel))?;
        Some(
            c.permission_overwrites
                .iter()
                .filter_map(|o| {
                    let target = match o.kind {
                        serenity::PermissionOverwriteType::Member(u) => {
                            OverwriteTarget::Member(u.get())
                        }
                        serenity::PermissionOverwriteType::Role(r) => {
                            OverwriteTarget::Role(r.get())
                        }
                        _ => return None,
                    };
                    Some(Overwrite {
                        target,
                        allow: o.allow.bits(),
                        deny: o.deny.bits(),
                    })
                })
                .collect(),
        )
    }

    async fn fetched(&self, channel: u64) -> Option<Vec<Overwrite>> {
        match self
            .rest
            .request(reqwest::Method::GET, &format!("/channels/{channel}"), None)
            .await
        {
            Ok(c) if c["guild_id"].as_str() == Some(self.guild_id.to_string().as_str()) => {
                Some(overwrites_of(&c))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, channel, "cannot read a channel's permissions; only the invited see its meetings");
                None
            }
        }
    }
}

/// A channel object's `permission_overwrites`.
fn overwrites_of(channel: &Value) -> Vec<Overwrite> {
    let bits = |v: &Value| v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0u64);
    channel["permission_overwrites"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|o| {
                    let id = o["id"].as_str()?.parse().ok()?;
                    let target = match o["type"].as_u64()? {
                        0 => OverwriteTarget::Role(id),
                        1 => OverwriteTarget::Member(id),
                        _ => return None,
                    };
                    Some(Overwrite {
                        target,
                        allow: bits(&o["allow"]),
                        deny: bits(&o["deny"]),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The person who used a command, as the access rule sees them, over the server's channels.
pub(crate) struct Caller<'a> {
    seen: Visibility<'a>,
    user_id: u64,
    role_ids: Vec<u64>,
    moderator: bool,
}

impl<'a> Caller<'a> {
    /// The caller of `ctx` in the server whose facts are `facts`.
    pub(crate) async fn of(ctx: Context<'a>, facts: &'a GuildFacts, guild_id: u64) -> Caller<'a> {
        let data = ctx.data();
        let mf = caller_facts(ctx);
        let policy = effective(&data.config, &data.store, guild_id).await;
        let moderator = policy.guild.is_moderator(&mf, &facts.role_infos());
        Caller {
            seen: Visibility::new(Some(ctx.serenity_context()), &data.rest, facts, guild_id),
            user_id: ctx.author().id.get(),
            role_ids: mf.role_ids,
            moderator,
        }
    }

    /// Whether the rule lets the caller see `m`.
    pub(crate) async fn admits(&mut self, m: &Meeting) -> bool {
        self.seen
            .access(m, self.user_id, &self.role_ids, self.moderator)
            .await
            == Access::Granted
    }
}

/// The meeting `id` of the command's server, if the caller may know of it; otherwise the same answer as for a
/// meeting that does not exist, so a private meeting's topic, host and id never reach the others.
pub(crate) async fn visible_meeting(ctx: Context<'_>, id: &str) -> Result<Meeting, Refusal> {
    let guild = guild_of(ctx)?;
    let m = find_meeting(ctx.data(), guild, id).await?;
    let facts = facts_for_command(ctx, serenity::GuildId::new(guild)).await?;
    if Caller::of(ctx, &facts, guild).await.admits(&m).await {
        Ok(m)
    } else {
        Err(Refusal(UNKNOWN_MEETING.into()))
    }
}
