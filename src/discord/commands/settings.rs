//! `/meetbot settings …`: each server sets its own policy without editing the bot's files. Every change is
//! checked against the same ranges as the file, answered with the old and the new value, and audited. How a
//! setting reads (`label`, `describe`) is this command's own vocabulary, so it lives here.

use super::autocomplete;
use crate::discord::audit::{actions, entry, record_audit};
use crate::discord::guild::{caller_may_manage, guild_of, roles_of};
use crate::discord::policy::{self, effective};
use crate::discord::reply::{answer, Refusal};
use crate::discord::{Context, Error};
use crate::meeting::policy::{RoleInfo, RoleRef};
use crate::meeting::settings::{self as server_settings, keys, limits, EffectivePolicy};
use poise::serenity_prelude as serenity;
use serde_json::{json, Value};

/// This server's meetbot settings (needs Manage Server).
#[poise::command(
    slash_command,
    guild_only,
    subcommands(
        "show",
        "moderator_roles",
        "host_roles",
        "guest_inviter_roles",
        "admins_are_moderators",
        "default_duration",
        "default_timezone",
        "announcement_channel",
        "audit_channel",
        "join_window",
        "remind_lead",
        "lobby_bypass",
        "invitee_cap",
        "cooldown",
        "live_status"
    ),
    subcommand_required
)]
pub async fn settings(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// What a role list setter does.
#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum RoleAction {
    /// Add the role.
    #[name = "add"]
    Add,
    /// Remove the role.
    #[name = "remove"]
    Remove,
    /// No roles at all on this server.
    #[name = "clear"]
    Clear,
    /// Back to the bot's configuration file.
    #[name = "reset to the file's default"]
    Reset,
}

fn label(key: &str) -> &'static str {
    match key {
        keys::MODERATOR_ROLES => "moderator roles",
        keys::HOST_ROLES => "host roles",
        keys::GUEST_INVITER_ROLES => "guest-inviter roles",
        keys::ADMINS_ARE_MODERATORS => "administrators are moderators",
        keys::DEFAULT_DURATION => "default duration",
        keys::DEFAULT_TIMEZONE => "default time zone",
        keys::ANNOUNCEMENT_CHANNEL => "announcement channel",
        keys::AUDIT_CHANNEL => "audit channel",
        keys::JOIN_WINDOW => "join window",
        keys::REMIND => "reminder lead time",
        keys::LOBBY_BYPASS => "lobby bypass for moderators",
        keys::INVITEE_CAP => "invitee cap",
        keys::COOLDOWN => "per-user cooldown",
        keys::LIVE_STATUS => "live status",
        _ => "setting",
    }
}

const ALL_KEYS: [&str; 14] = [
    keys::MODERATOR_ROLES,
    keys::HOST_ROLES,
    keys::GUEST_INVITER_ROLES,
    keys::ADMINS_ARE_MODERATORS,
    keys::DEFAULT_DURATION,
    keys::DEFAULT_TIMEZONE,
    keys::ANNOUNCEMENT_CHANNEL,
    keys::AUDIT_CHANNEL,
    keys::JOIN_WINDOW,
    keys::REMIND,
    keys::LOBBY_BYPASS,
    keys::INVITEE_CAP,
    keys::COOLDOWN,
    keys::LIVE_STATUS,
];

fn describe_roles(refs: &[RoleRef], roles: &[RoleInfo]) -> String {
    if refs.is_empty() {
        return "(none)".into();
    }
    refs.iter()
        .map(|r| match roles.iter().find(|role| r.matches(role)) {
            Some(role) => format!("<@&{}>", role.id),
            None => format!("{r} (not a role here)"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn on_off(b: bool) -> String {
    if b { "on" } else { "off" }.into()
}

fn mins(d: std::time::Duration) -> String {
    let m = d.as_secs() / 60;
    format!("{m} minute{}", if m == 1 { "" } else { "s" })
}

/// How one setting reads in `p`.
fn describe(p: &EffectivePolicy, key: &str, roles: &[RoleInfo]) -> String {
    match key {
        keys::MODERATOR_ROLES => describe_roles(&p.guild.moderator_roles, roles),
        keys::HOST_ROLES => {
            if p.guild.host_roles.is_empty() {
                "(none: everyone may host)".into()
            } else {
                describe_roles(&p.guild.host_roles, roles)
            }
        }
        keys::GUEST_INVITER_ROLES => describe_roles(&p.guest_inviter_roles, roles),
        keys::ADMINS_ARE_MODERATORS => on_off(p.guild.administrators_are_moderators),
        keys::DEFAULT_DURATION => mins(p.default_duration),
        keys::DEFAULT_TIMEZONE => p.default_timezone.name().to_string(),
        keys::ANNOUNCEMENT_CHANNEL => p
            .announcement_channel
            .map(|c| format!("<#{c}>"))
            .unwrap_or_else(|| "(none: where /meet is used)".into()),
        keys::AUDIT_CHANNEL => p
            .audit_channel
            .map(|c| format!("<#{c}>"))
            .unwrap_or_else(|| "(none)".into()),
        keys::JOIN_WINDOW => mins(p.join_window),
        keys::REMIND => mins(p.remind),
        keys::LOBBY_BYPASS => on_off(p.lobby_bypass_for_moderators),
        keys::INVITEE_CAP => format!("{} people", p.guild.invitee_cap),
        keys::COOLDOWN => format!("{} seconds", p.cooldown.as_secs()),
        keys::LIVE_STATUS => format!("{} ({})", p.live_status, p.live_status.describe()),
        _ => String::new(),
    }
}

fn db_refusal(e: crate::store::StoreError) -> Refusal {
    tracing::warn!(error = %e, "settings: database error");
    Refusal(if e.is_unavailable() {
        "The database is unavailable; nothing was changed. Please try again in a moment.".into()
    } else {
        "I could not save the setting; nothing was changed.".into()
    })
}

/// Stores (`Some`) or removes (`None`: back to the file's default) one setting, answers with the old and new
/// value, and records the change in the audit trail.
async fn change(ctx: Context<'_>, key: &str, value: Option<Value>) -> Result<String, Refusal> {
    caller_may_manage(ctx)?;
    let data = ctx.data();
    let guild = guild_of(ctx)?;
    let roles = roles_of(ctx, guild).await?;
    let before = effective(&data.config, &data.store, guild).await;
    let now = data.clock.now();
    let actor = ctx.author().id.get();
    let old = match &value {
        Some(v) => data.store.set_setting(guild, key, v, actor, now).await,
        None => data.store.remove_setting(guild, key).await,
    }
    .map_err(db_refusal)?;
    let after = effective(&data.config, &data.store, guild).await;
    let (was, now_is) = (
        describe(&before, key, &roles),
        describe(&after, key, &roles),
    );
    let was = if old.is_none() {
        format!("{was} (the file's default)")
    } else {
        was
    };
    let now_is = if value.is_none() {
        format!("{now_is} (the file's default)")
    } else {
        now_is
    };
    tracing::info!(guild, key, by = actor, "server setting changed");
    let detail = format!("changed the {}: {was} → {now_is}", label(key));
    // A newly set audit channel gets this change too: it shows the channel works.
    let channel = after.audit_channel.or(before.audit_channel);
    record_audit(
        &data.rest,
        &data.store,
        channel,
        entry(
            guild,
            now,
            actor,
            actions::SETTING,
            None,
            key.to_string(),
            detail,
        ),
    )
    .await;
    Ok(format!(
        "Changed the **{}**.\nWas: {was}\nNow: {now_is}",
        label(key)
    ))
}

/// Show this server's settings.
#[poise::command(slash_command, guild_only)]
pub async fn show(ctx: Context<'_>) -> Result<(), Error> {
    answer(ctx, async {
        caller_may_manage(ctx)?;
        let data = ctx.data();
        let guild = guild_of(ctx)?;
        let roles = roles_of(ctx, guild).await?;
        let stored = data.store.settings(guild).await.map_err(db_refusal)?;
        let p = policy::merge_settings(
            policy::from_config(&data.config, guild),
            &stored,
            data.config.meetings.max_duration,
        );
        let mut s = String::from(
            "**meetbot settings on this server** (✎ set here; the rest follow the bot's file)\n",
        );
        for key in ALL_KEYS {
            let mark = if stored
                .iter()
                .any(|st| st.key == key && !p.ignored.iter().any(|i| i == key))
            {
                " ✎"
            } else {
                ""
            };
            s.push_str(&format!(
                "• {}: {}{mark}\n",
                label(key),
                describe(&p, key, &roles)
            ));
        }
        if !p.ignored.is_empty() {
            s.push_str("Some stored values do not read and are ignored; set them again.\n");
        }
        Ok(s)
    })
    .await
}

async fn set_roles(
    ctx: Context<'_>,
    key: &'static str,
    action: RoleAction,
    role: Option<serenity::RoleId>,
) -> Result<String, Refusal> {
    caller_may_manage(ctx)?;
    let data = ctx.data();
    let guild = guild_of(ctx)?;
    let current: Vec<u64> = {
        let p = effective(&data.config, &data.store, guild).await;
        let refs = match key {
            keys::MODERATOR_ROLES => p.guild.moderator_roles,
            keys::HOST_ROLES => p.guild.host_roles,
            _ => p.guest_inviter_roles,
        };
        // Names from the file become ids here, so the stored list is exact.
        let roles = roles_of(ctx, guild).await?;
        refs.iter()
            .filter_map(|r| match r {
                RoleRef::Id(id) => Some(*id),
                RoleRef::Name(_) => roles.iter().find(|info| r.matches(info)).map(|i| i.id),
            })
            .collect()
    };
    let new = match action {
        RoleAction::Reset => return change(ctx, key, None).await,
        RoleAction::Clear => Vec::new(),
        RoleAction::Add | RoleAction::Remove => {
            let Some(role) = role.map(|r| r.get()) else {
                return Err(Refusal("Pick the `role` to add or remove.".into()));
            };
            if role == guild {
                return Err(Refusal(
                    "`@everyone` cannot be used here: pick a role.".into(),
                ));
            }
            let roles = roles_of(ctx, guild).await?;
            if !roles.iter().any(|r| r.id == role) {
                return Err(Refusal(format!("<@&{role}> is not a role of this server.")));
            }
            let mut list = current.clone();
            if matches!(action, RoleAction::Add) {
                if list.contains(&role) {
                    return Err(Refusal(format!(
                        "<@&{role}> is already one of the {}.",
                        label(key)
                    )));
                }
                list.push(role);
            } else {
                if !list.contains(&role) {
                    return Err(Refusal(format!(
                        "<@&{role}> is not one of the {}.",
                        label(key)
                    )));
                }
                list.retain(|r| *r != role);
            }
            list
        }
    };
    change(ctx, key, Some(server_settings::roles_value(&new))).await
}

/// Roles whose members are moderators in meetings.
#[poise::command(slash_command, guild_only, rename = "moderator-roles")]
pub async fn moderator_roles(
    ctx: Context<'_>,
    #[description = "add, remove, clear, or reset to the file's default"] action: RoleAction,
    #[description = "The role (for add and remove)"] role: Option<serenity::RoleId>,
) -> Result<(), Error> {
    answer(ctx, set_roles(ctx, keys::MODERATOR_ROLES, action, role)).await
}

/// Roles whose members may start meetings (none: everyone).
#[poise::command(slash_command, guild_only, rename = "host-roles")]
pub async fn host_roles(
    ctx: Context<'_>,
    #[description = "add, remove, clear, or reset to the file's default"] action: RoleAction,
    #[description = "The role (for add and remove)"] role: Option<serenity::RoleId>,
) -> Result<(), Error> {
    answer(ctx, set_roles(ctx, keys::HOST_ROLES, action, role)).await
}

/// Roles whose members may /invite guests (moderators always may).
#[poise::command(slash_command, guild_only, rename = "guest-inviter-roles")]
pub async fn guest_inviter_roles(
    ctx: Context<'_>,
    #[description = "add, remove, clear, or reset to the file's default"] action: RoleAction,
    #[description = "The role (for add and remove)"] role: Option<serenity::RoleId>,
) -> Result<(), Error> {
    answer(ctx, set_roles(ctx, keys::GUEST_INVITER_ROLES, action, role)).await
}

/// Whether administrators are moderators.
#[poise::command(slash_command, guild_only, rename = "admins-are-moderators")]
pub async fn admins_are_moderators(
    ctx: Context<'_>,
    #[description = "On or off"] value: bool,
) -> Result<(), Error> {
    answer(
        ctx,
        change(ctx, keys::ADMINS_ARE_MODERATORS, Some(json!(value))),
    )
    .await
}

/// Whether moderators' links skip the lobby (needs the server's token_lobby_bypass module).
#[poise::command(slash_command, guild_only, rename = "lobby-bypass")]
pub async fn lobby_bypass(
    ctx: Context<'_>,
    #[description = "On or off"] value: bool,
) -> Result<(), Error> {
    answer(ctx, change(ctx, keys::LOBBY_BYPASS, Some(json!(value)))).await
}

/// Checks a number against its range, with the sentence a person reads when it is out.
fn ranged(what: &str, value: i64, (lo, hi): (i64, i64), unit: &str) -> Result<Value, Refusal> {
    if (lo..=hi).contains(&value) {
        Ok(json!(value))
    } else {
        Err(Refusal(format!(
            "The {what} must be from {lo} to {hi} {unit}; you gave {value}. Nothing was changed."
        )))
    }
}

/// Length of a meeting when /meet does not say.
#[poise::command(slash_command, guild_only, rename = "default-duration")]
pub async fn default_duration(
    ctx: Context<'_>,
    #[description = "Minutes"] minutes: i64,
) -> Result<(), Error> {
    let max = (ctx.data().config.meetings.max_duration.as_secs() / 60) as i64;
    answer(ctx, async {
        // The same bounds /meet applies to its own `duration` option.
        let min = crate::meeting::request::MIN_MINUTES;
        let v = ranged("default duration", minutes, (min, max), "minutes")?;
        change(ctx, keys::DEFAULT_DURATION, Some(v)).await
    })
    .await
}

/// Time zone for `when` when the command does not say.
#[poise::command(slash_command, guild_only, rename = "default-timezone")]
pub async fn default_timezone(
    ctx: Context<'_>,
    #[description = "IANA zone, e.g. Europe/Berlin"]
    #[autocomplete = "autocomplete::timezone"]
    #[max_length = 64]
    zone: String,
) -> Result<(), Error> {
    answer(ctx, async {
        let tz = crate::schedule::parse_timezone(&zone)
            .map_err(|e| Refusal(format!("{e}. Nothing was changed.")))?;
        change(ctx, keys::DEFAULT_TIMEZONE, Some(json!(tz.name()))).await
    })
    .await
}

/// Checks that a picked channel is a channel of this server (when the cache knows the server).
fn check_channel(ctx: Context<'_>, guild: u64, channel: u64) -> Result<(), Refusal> {
    if let Some(g) = ctx
        .serenity_context()
        .cache
        .guild(serenity::GuildId::new(guild))
    {
        if !g.channels.contains_key(&serenity::ChannelId::new(channel)) {
            return Err(Refusal(format!(
                "<#{channel}> is not a channel of this server. Nothing was changed."
            )));
        }
    }
    Ok(())
}

async fn set_channel(
    ctx: Context<'_>,
    key: &'static str,
    channel: Option<serenity::ChannelId>,
) -> Result<String, Refusal> {
    let guild = guild_of(ctx)?;
    match channel {
        Some(c) => {
            check_channel(ctx, guild, c.get())?;
            change(ctx, key, Some(server_settings::channel_value(c.get()))).await
        }
        None => change(ctx, key, None).await,
    }
}

/// Where scheduled meetings are announced by default (leave empty to go back to: where /meet is used).
#[poise::command(slash_command, guild_only, rename = "announcement-channel")]
pub async fn announcement_channel(
    ctx: Context<'_>,
    #[description = "The channel (empty: back to the default)"]
    #[channel_types("Text")]
    channel: Option<serenity::ChannelId>,
) -> Result<(), Error> {
    answer(ctx, set_channel(ctx, keys::ANNOUNCEMENT_CHANNEL, channel)).await
}

/// Where moderator links, guest invitations and settings changes are logged (empty: not posted).
#[poise::command(slash_command, guild_only, rename = "audit-channel")]
pub async fn audit_channel(
    ctx: Context<'_>,
    #[description = "The channel (empty: no posts)"]
    #[channel_types("Text")]
    channel: Option<serenity::ChannelId>,
) -> Result<(), Error> {
    answer(ctx, set_channel(ctx, keys::AUDIT_CHANNEL, channel)).await
}

/// How many minutes before the start links open.
#[poise::command(slash_command, guild_only, rename = "join-window")]
pub async fn join_window(
    ctx: Context<'_>,
    #[description = "Minutes"] minutes: i64,
) -> Result<(), Error> {
    answer(ctx, async {
        let v = ranged(
            "join window",
            minutes,
            limits::JOIN_WINDOW_MINUTES,
            "minutes",
        )?;
        change(ctx, keys::JOIN_WINDOW, Some(v)).await
    })
    .await
}

/// How many minutes before the start personal links are DMed (0: at the start).
#[poise::command(slash_command, guild_only, rename = "remind-lead")]
pub async fn remind_lead(
    ctx: Context<'_>,
    #[description = "Minutes"] minutes: i64,
) -> Result<(), Error> {
    answer(ctx, async {
        let v = ranged(
            "reminder lead time",
            minutes,
            limits::REMIND_MINUTES,
            "minutes",
        )?;
        change(ctx, keys::REMIND, Some(v)).await
    })
    .await
}

/// The most people one meeting may invite.
#[poise::command(slash_command, guild_only, rename = "invitee-cap")]
pub async fn invitee_cap(
    ctx: Context<'_>,
    #[description = "People"] count: i64,
) -> Result<(), Error> {
    answer(ctx, async {
        let v = ranged("invitee cap", count, limits::INVITEE_CAP, "people")?;
        change(ctx, keys::INVITEE_CAP, Some(v)).await
    })
    .await
}

/// How long one person waits between two uses of /meet (or of /invite); 0 turns it off.
#[poise::command(slash_command, guild_only)]
pub async fn cooldown(
    ctx: Context<'_>,
    #[description = "Seconds"] seconds: i64,
) -> Result<(), Error> {
    answer(ctx, async {
        let v = ranged("cooldown", seconds, limits::COOLDOWN_SECONDS, "seconds")?;
        change(ctx, keys::COOLDOWN, Some(v)).await
    })
    .await
}

/// What a live status can be set to.
#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum LiveStatusChoice {
    /// Who is in the call (never for private meetings).
    #[name = "names"]
    Names,
    /// How many are in the call.
    #[name = "counts"]
    Counts,
    /// Nothing live.
    #[name = "off"]
    Off,
    /// Back to the default (names).
    #[name = "reset to the default"]
    Reset,
}

/// What meeting posts tell of a live call: names, counts or off (private meetings never show names).
#[poise::command(slash_command, guild_only, rename = "live-status")]
pub async fn live_status(
    ctx: Context<'_>,
    #[description = "names, counts, off, or reset"] value: LiveStatusChoice,
) -> Result<(), Error> {
    use crate::meeting::live::LiveStatus;
    let chosen = match value {
        LiveStatusChoice::Names => Some(LiveStatus::Names),
        LiveStatusChoice::Counts => Some(LiveStatus::Counts),
        LiveStatusChoice::Off => Some(LiveStatus::Off),
        LiveStatusChoice::Reset => None,
    };
    answer(
        ctx,
        change(ctx, keys::LIVE_STATUS, chosen.map(|s| json!(s.as_str()))),
    )
    .await
}
