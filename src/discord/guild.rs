//! What the policy needs to know about a guild and its members: the guild's facts (name, owner, roles with their
//! permissions) from the gateway cache or REST, a member's facts from an interaction, member lookups, and the
//! expansion of an `invite` list to the people who get links.

use super::http::{Member, RestClient, RestError};
use super::reply::Refusal;
use super::{Context, Data};
use crate::meeting::invite::InviteList;
use crate::meeting::policy::{GuildPolicy, MemberFacts, RoleInfo};
use crate::meeting::recipients::Invitee;
use poise::serenity_prelude as serenity;
use std::collections::HashSet;

/// The Administrator permission bit.
const ADMINISTRATOR: u64 = 1 << 3;

/// What the policy needs about the guild: its roles (with permissions) and owner.
pub(crate) struct GuildFacts {
    /// The server's name, for DMs (which have no server context).
    pub name: String,
    /// The owner, who is an administrator whatever the roles say.
    pub owner_id: u64,
    /// Every role with its permission bits.
    pub roles: Vec<(RoleInfo, u64)>,
    /// The roles anyone may ping.
    pub mentionable: Vec<u64>,
}

impl GuildFacts {
    /// The roles as the policy matches them.
    pub(crate) fn role_infos(&self) -> Vec<RoleInfo> {
        self.roles.iter().map(|(r, _)| r.clone()).collect()
    }

    /// Administrator by role permissions (the @everyone role has the guild's id) or ownership.
    pub(crate) fn is_administrator(&self, guild_id: u64, user_id: u64, role_ids: &[u64]) -> bool {
        user_id == self.owner_id
            || self.roles.iter().any(|(r, perms)| {
                (r.id == guild_id || role_ids.contains(&r.id)) && perms & ADMINISTRATOR != 0
            })
    }
}

/// The guild's facts, from the gateway cache when it has them.
pub(crate) async fn guild_facts(
    sctx: &serenity::Context,
    data: &Data,
    guild_id: serenity::GuildId,
) -> Result<GuildFacts, RestError> {
    if let Some(g) = sctx.cache.guild(guild_id) {
        return Ok(GuildFacts {
            name: g.name.clone(),
            owner_id: g.owner_id.get(),
            roles: g
                .roles
                .values()
                .map(|r| {
                    (
                        RoleInfo {
                            id: r.id.get(),
                            name: r.name.clone(),
                        },
                        r.permissions.bits(),
                    )
                })
                .collect(),
            mentionable: g
                .roles
                .values()
                .filter(|r| r.mentionable)
                .map(|r| r.id.get())
                .collect(),
        });
    }
    // Not cached (e.g. right after a restart): ask Discord.
    guild_facts_rest(&data.rest, guild_id.get()).await
}

/// The guild's name, owner and roles from the REST API (the scheduler has no gateway cache at hand).
pub(crate) async fn guild_facts_rest(rest: &RestClient, g: u64) -> Result<GuildFacts, RestError> {
    let guild = rest
        .request(reqwest::Method::GET, &format!("/guilds/{g}"), None)
        .await?;
    let roles = rest.get_roles(g).await?;
    Ok(GuildFacts {
        name: guild["name"].as_str().unwrap_or("this server").to_string(),
        owner_id: guild["owner_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        mentionable: roles
            .iter()
            .filter(|r| r.mentionable)
            .map(|r| r.id)
            .collect(),
        roles: roles
            .into_iter()
            .map(|r| {
                (
                    RoleInfo {
                        id: r.id,
                        name: r.name,
                    },
                    r.permissions,
                )
            })
            .collect(),
    })
}

/// The guild's facts for a command, or the sentence to refuse it with when Discord cannot say.
pub(crate) async fn facts_for_command(
    ctx: Context<'_>,
    guild_id: serenity::GuildId,
) -> Result<GuildFacts, Refusal> {
    guild_facts(ctx.serenity_context(), ctx.data(), guild_id)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, guild = guild_id.get(), "cannot read the server's roles");
            Refusal(
                "I cannot read this server's roles right now; please try again in a moment.".into(),
            )
        })
}

/// Who may change or read the server's meetbot setup (`/meetbot settings`, `/meetbot jitsi`, the modal behind it):
/// members with Manage Server or Administrator, as the interaction's own permissions say. Discord hides the commands
/// from others, but a server can change that in its integration settings, so every handler asks this, and only this.
pub(crate) fn require_manage_server(
    permissions: Option<serenity::Permissions>,
) -> Result<(), Refusal> {
    if permissions.is_some_and(|p| p.manage_guild() || p.administrator()) {
        Ok(())
    } else {
        Err(Refusal(
            "Changing or reading meetbot's setup needs the **Manage Server** permission.".into(),
        ))
    }
}

/// [`require_manage_server`] for the member who used a command.
pub(crate) fn caller_may_manage(ctx: Context<'_>) -> Result<(), Refusal> {
    require_manage_server(caller(ctx).and_then(|m| m.permissions))
}

/// The server a command was used in, or the sentence for a command used elsewhere.
pub(crate) fn guild_of(ctx: Context<'_>) -> Result<u64, Refusal> {
    ctx.guild_id()
        .map(|g| g.get())
        .ok_or_else(|| Refusal("Use this in a server.".into()))
}

/// The server's roles for a command (see [`facts_for_command`]).
pub(crate) async fn roles_of(ctx: Context<'_>, guild: u64) -> Result<Vec<RoleInfo>, Refusal> {
    facts_for_command(ctx, serenity::GuildId::new(guild))
        .await
        .map(|f| f.role_infos())
}

/// What the policy needs about a member, from the interaction: their roles, and the permissions Discord computed
/// (no extra request, and the owner has them all).
pub(crate) fn member_facts(member: &serenity::Member) -> MemberFacts {
    MemberFacts {
        role_ids: member.roles.iter().map(|r| r.get()).collect(),
        is_administrator: member.permissions.is_some_and(|p| p.administrator()),
    }
}

/// The member who used the command, when it was used in a server.
pub(crate) fn caller(ctx: Context<'_>) -> Option<&serenity::Member> {
    match ctx {
        Context::Application(app) => app.interaction.member.as_deref(),
        _ => None,
    }
}

/// [`member_facts`] of the member who used the command (none: no roles, no permissions).
pub(crate) fn caller_facts(ctx: Context<'_>) -> MemberFacts {
    caller(ctx).map(member_facts).unwrap_or_default()
}

/// The person behind an interaction as an invitee: their name in this server, their avatar.
pub(crate) fn invitee_of(
    user: &serenity::User,
    member: &serenity::Member,
    moderator: bool,
) -> Invitee {
    Invitee {
        user_id: user.id.get(),
        name: display_name(user, member.nick.as_deref()),
        avatar: Some(user.face()),
        moderator,
    }
}

fn display_name(user: &serenity::User, nick: Option<&str>) -> String {
    nick.map(str::to_string)
        .or_else(|| user.global_name.clone())
        .unwrap_or_else(|| user.name.clone())
}

/// A member found by a lookup as an invitee, moderator by the server's policy.
pub(crate) fn invitee_from_member(
    m: &Member,
    guild_id: u64,
    facts: &GuildFacts,
    policy: &GuildPolicy,
    roles: &[RoleInfo],
) -> Invitee {
    let mf = MemberFacts {
        role_ids: m.roles.clone(),
        is_administrator: facts.is_administrator(guild_id, m.user_id, &m.roles),
    };
    Invitee {
        user_id: m.user_id,
        name: m.display_name().to_string(),
        avatar: m.avatar_url.clone(),
        moderator: policy.is_moderator(&mf, roles),
    }
}

/// What [`resolve_invitees`] does when more than `cap` people are invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverCap {
    /// Refuse, naming how many were found (a command: the caller invites fewer).
    Refuse,
    /// Keep the first `cap + 1` (a reminder: the core reminds the first `cap` and says how many were left out).
    Keep,
}

/// Expands mentions to people: roles to their members; without bots, the caller and duplicates; at most `cap`.
/// Mentioned users who are not members come back separately, to be reported, not invited.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn resolve_invitees(
    rest: &RestClient,
    guild_id: u64,
    facts: &GuildFacts,
    policy: &GuildPolicy,
    invites: &InviteList,
    caller_id: u64,
    cap: usize,
    over: OverCap,
) -> Result<(Vec<Invitee>, Vec<u64>), Refusal> {
    let roles = facts.role_infos();
    for r in &invites.roles {
        if *r == guild_id {
            return Err(Refusal(
                "`@everyone` cannot be invited: it would DM the whole server. Mention a role or people instead.".into(),
            ));
        }
        if !roles.iter().any(|info| info.id == *r) {
            return Err(Refusal(format!("<@&{r}> is not a role of this server.")));
        }
    }
    let mut seen = HashSet::new();
    seen.insert(caller_id);
    let mut out = Vec::new();
    let mut not_members = Vec::new();
    let over_cap = |n: usize| {
        Refusal(format!(
            "That would invite {n} people or more; the limit here is {cap}. Invite fewer people or a smaller role."
        ))
    };
    for u in &invites.users {
        if !seen.insert(*u) {
            continue;
        }
        match rest.get_member(guild_id, *u).await {
            Ok(Some(m)) if m.bot => {}
            Ok(Some(m)) => out.push(invitee_from_member(&m, guild_id, facts, policy, &roles)),
            Ok(None) => not_members.push(*u),
            Err(e) => {
                tracing::warn!(error = %e, guild = guild_id, "member lookup failed");
                return Err(Refusal(
                    "I could not look up the people you invited; please try again in a moment."
                        .into(),
                ));
            }
        }
        if out.len() > cap {
            match over {
                OverCap::Refuse => return Err(over_cap(out.len())),
                OverCap::Keep => return Ok((out, not_members)),
            }
        }
    }
    if !invites.roles.is_empty() {
        // Listing stops as soon as the cap is exceeded: a role in a huge server costs a page or two, not the guild.
        let room = match over {
            OverCap::Refuse => cap.saturating_sub(out.len()),
            OverCap::Keep => cap.saturating_add(1).saturating_sub(out.len()),
        };
        let found = rest
            .members_with_roles(guild_id, &invites.roles, room.saturating_add(seen.len()))
            .await
            .map_err(|e| {
            tracing::warn!(error = %e, guild = guild_id, "listing members failed");
            match e {
                RestError::Forbidden { .. } => Refusal(
                    "I cannot list the members of a role: the bot needs the Server Members intent (Developer Portal → Bot → Privileged Gateway Intents). Mention people directly meanwhile.".into(),
                ),
                _ => Refusal("I could not list the role's members; please try again in a moment.".into()),
            }
        })?;
        for m in found.members {
            if !seen.insert(m.user_id) {
                continue;
            }
            out.push(invitee_from_member(&m, guild_id, facts, policy, &roles));
            if out.len() > cap {
                match over {
                    OverCap::Refuse => return Err(over_cap(out.len())),
                    OverCap::Keep => break,
                }
            }
        }
    }
    Ok((out, not_members))
}
