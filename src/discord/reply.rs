//! How commands and buttons answer the person who used them: a [`Refusal`] (a sentence for them; nothing was
//! done), the deferred ephemeral reply, and the ephemeral message a button click gets. Nothing here pings anyone:
//! replies echo what people typed.

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
        // Replies echo what people typed (topics, mentions); they must never ping anyone.
        let edit = serenity::EditInteractionResponse::new()
            .content(content)
            .allowed_mentions(serenity::CreateAllowedMentions::new());
        if let Err(e) = app.interaction.edit_response(ctx.http(), edit).await {
            tracing::warn!(error = %e, "could not edit the interaction reply");
        }
    }
}

/// Sends one more ephemeral message after the reply (a command with more to say than one message holds).
pub(crate) async fn followup(ctx: Context<'_>, content: &str) {
    let more = poise::CreateReply::default()
        .content(content)
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
    let text = match work.await {
        Ok(t) | Err(Refusal(t)) => t,
    };
    reply(ctx, &text).await;
    Ok(())
}

/// The ephemeral message that answers a button click; it may name a topic, which may hold mentions: ping nobody.
pub(crate) fn ephemeral(content: String) -> serenity::CreateInteractionResponse {
    serenity::CreateInteractionResponse::Message(
        serenity::CreateInteractionResponseMessage::new()
            .content(content)
            .ephemeral(true)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
}
