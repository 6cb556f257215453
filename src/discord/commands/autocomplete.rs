//! The autocompletes several commands share: a meeting of this server (`/meetings`, `/invite`, `/meetbot audit`)
//! and a time zone (`/meet`, `/meetbot settings default-timezone`).

use crate::discord::guild::guild_facts;
use crate::discord::reply::choices;
use crate::discord::visibility::Caller;
use crate::discord::Context;
use crate::schedule::{describe, timezone_suggestions};
use chrono_tz::Tz;
use poise::serenity_prelude as serenity;

/// Autocomplete for `timezone`.
pub async fn timezone(_ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    choices(
        timezone_suggestions(partial, 25)
            .into_iter()
            .map(|name| (name.to_owned(), name.to_owned())),
    )
}

/// Autocomplete for a meeting of this server: topic, time and id.
pub async fn meeting(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let data = ctx.data();
    let Some(guild) = ctx.guild_id() else {
        return serenity::CreateAutocompleteResponse::new();
    };
    let now = data.clock.now();
    let found = match data.store.find_meetings(guild.get(), partial, 100).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "meeting autocomplete: database unavailable");
            // Discord rejects a choice whose value is empty (1 to 100 characters), which hid this message;
            // "-" is no meeting id, so picking it is answered as an unknown meeting.
            return choices([(
                "The database is unavailable; try again in a moment".to_owned(),
                "-".to_owned(),
            )]);
        }
    };
    // Only the meetings the rule lets the caller see; when the server's roles cannot be read, none.
    let Ok(facts) = guild_facts(ctx.serenity_context(), data, guild).await else {
        return serenity::CreateAutocompleteResponse::new();
    };
    let mut caller = Caller::of(ctx, &facts, guild.get()).await;
    let mut visible = Vec::new();
    for m in found {
        if visible.len() == 25 {
            break;
        }
        if caller.admits(&m).await {
            visible.push(m);
        }
    }
    choices(visible.into_iter().map(|m| {
        let tz = m.timezone.parse::<Tz>().unwrap_or(chrono_tz::UTC);
        let label = format!("{} — {}", m.topic, describe(m.starts_at, tz, now));
        (label, m.id)
    }))
}
