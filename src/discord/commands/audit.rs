//! `/meetbot audit`: the recent audit trail of this server (moderator links, guest invitations, settings
//! changes), for moderators and members with Manage Server. The writer is `discord::audit`.

use super::autocomplete;
use crate::discord::guild::{caller, caller_facts, guild_of, roles_of};
use crate::discord::policy::effective;
use crate::discord::render;
use crate::discord::reply::{answer, Refusal};
use crate::discord::{Context, Data, Error};

/// Recent moderator links, guest invitations and settings changes (moderators).
#[poise::command(slash_command, guild_only)]
pub async fn audit(
    ctx: Context<'_>,
    #[description = "Only this meeting"]
    #[autocomplete = "autocomplete::meeting"]
    #[max_length = 100]
    meeting: Option<String>,
) -> Result<(), Error> {
    answer(ctx, audit_text(ctx, meeting)).await
}

async fn audit_text(ctx: Context<'_>, meeting: Option<String>) -> Result<String, Refusal> {
    let data: &Data = ctx.data();
    let guild = guild_of(ctx)?;
    let p = effective(&data.config, &data.store, guild).await;
    let roles = roles_of(ctx, guild).await?;
    let manages = caller(ctx)
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.manage_guild());
    if !manages && !p.guild.is_moderator(&caller_facts(ctx), &roles) {
        return Err(Refusal(format!(
            "The audit trail is for moderators ({}) and members with Manage Server.",
            p.guild.describe_moderator_roles(&roles)
        )));
    }
    let meeting = meeting.as_deref().map(str::trim).filter(|m| !m.is_empty());
    let entries = data
        .store
        .recent_audit(guild, meeting, 50)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "reading the audit trail failed");
            Refusal("The database is unavailable; please try again in a moment.".into())
        })?;
    Ok(render::audit_page(&entries, meeting))
}
