//! How commands and buttons answer the person who used them: a [`Refusal`] (a sentence for them; nothing was
//! done), the deferred ephemeral reply, the ephemeral message a button click gets, and an autocomplete's choices.
//! Nothing here pings anyone: replies echo what people typed. Every answer to an interaction is built here, and
//! made to fit Discord's limits here ([`super::limits`]): a reply over them is refused whole, which would leave the
//! person with no answer at all.

use super::limits::{self, fit};
use super::{Context, Error};
use poise::serenity_prelude as serenity;

/// A sentence for the person who asked; what they asked for was not done.
pub(crate) struct Refusal(pub(crate) String);

impl<E: std::fmt::Display> From<E> for Refusal {
    fn from(e: E) -> Self {
        Refusal(e.to_string())
    }
}

/// Edits the deferred ephemeral reply; a failure here can only be logged.
pub(crate) async fn reply(ctx: Context<'_>, content: &str) {
    if let Context::Application(app) = ctx {
        if let Err(e) = app
            .interaction
            .edit_response(ctx.http(), edit(content))
            .await
        {
            tracing::warn!(error = %e, "could not edit the interaction reply");
        }
    }
}

/// Sends one more ephemeral message after the reply (a command with more to say than one message holds), or the
/// first answer when nothing was sent yet (an option that could not be read).
pub(crate) async fn followup(ctx: Context<'_>, content: &str) {
    let more = poise::CreateReply::default()
        .content(fit(content, limits::CONTENT))
        .ephemeral(true)
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    if let Err(e) = ctx.send(more).await {
        tracing::warn!(error = %e, "could not send a follow-up message");
    }
}

/// Answers a command: defer (Discord allows 3 s for the first response), run, reply with the sentence either way.
pub(crate) async fn answer(
    ctx: Context<'_>,
    work: impl std::future::Future<Output = Result<String, Refusal>>,
) -> Result<(), Error> {
    ctx.defer_ephemeral().await?;
    ack_observed(crate::metrics::InteractionKind::Command, ctx.id());
    let (text, outcome) = match work.await {
        Ok(t) => (t, crate::metrics::CommandOutcome::Ok),
        Err(Refusal(t)) => {
            let outcome = refusal_outcome(&t);
            (t, outcome)
        }
    };
    // Read by the framework's post_command hook, which counts the command by name.
    ctx.set_invocation_data(outcome).await;
    reply(ctx, &text).await;
    Ok(())
}

/// How a refusal counts in `meetbot_commands_total`: an outage the caller is asked to wait out, a permission the
/// caller lacks, or any other refusal (bad input, a limit).
fn refusal_outcome(text: &str) -> crate::metrics::CommandOutcome {
    use crate::metrics::CommandOutcome;
    let t = text.to_ascii_lowercase();
    if t.contains("unavailable") || t.contains("try again in a moment") {
        CommandOutcome::Unavailable
    } else if t.contains("you may not")
        || t.contains("manage server")
        || t.contains("only its host")
    {
        CommandOutcome::Denied
    } else {
        CommandOutcome::Refused
    }
}

/// Records how long after its creation (its snowflake's time, which Discord's 3-second budget counts from) an
/// interaction got its first answer. A time off by more than a minute either way says the clocks disagree: skipped.
pub(crate) fn ack_observed(kind: crate::metrics::InteractionKind, id: u64) {
    let created_ms = (id >> 22) + 1_420_070_400_000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    if let Some(after) = now_ms.checked_sub(created_ms).filter(|ms| *ms < 60_000) {
        crate::metrics::interaction_ack(kind, std::time::Duration::from_millis(after));
    }
}

/// The edit that puts `content` into a deferred reply.
pub(crate) fn edit(content: &str) -> serenity::EditInteractionResponse {
    // Replies echo what people typed (topics, mentions); they must never ping anyone.
    serenity::EditInteractionResponse::new()
        .content(fit(content, limits::CONTENT))
        .allowed_mentions(serenity::CreateAllowedMentions::new())
}

/// The ephemeral message that answers a click or a command at once; it may name a topic, which may hold mentions:
/// ping nobody.
pub(crate) fn ephemeral(content: &str) -> serenity::CreateInteractionResponse {
    serenity::CreateInteractionResponse::Message(
        serenity::CreateInteractionResponseMessage::new()
            .content(fit(content, limits::CONTENT))
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
}

/// An autocomplete's answer: (name shown, value sent back) pairs, at most 25, each within Discord's limits.
pub(crate) fn choices(
    items: impl IntoIterator<Item = (String, String)>,
) -> serenity::CreateAutocompleteResponse {
    let choices = limits::fit_choices(items)
        .into_iter()
        .map(|(name, value)| serenity::AutocompleteChoice::new(name, value))
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}
