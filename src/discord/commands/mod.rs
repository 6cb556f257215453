//! The slash commands, one file per command group, each a thin adapter: options → core → render. Nothing outside
//! this folder imports a command: shared pieces live in the shared rooms of `discord/`.

pub mod audit;
pub mod autocomplete;
pub mod invite;
pub mod jitsi;
pub mod meet;
pub mod meetings;
pub mod settings;

use crate::discord::{Context, Data, Error};

/// The commands the bot serves, as registered.
pub fn all() -> Vec<poise::Command<Data, Error>> {
    vec![
        meet::meet(),
        meetings::meetings(),
        invite::invite(),
        meetbot(),
    ]
}

/// Manage meetbot on this server.
#[poise::command(
    slash_command,
    guild_only,
    subcommands("settings::settings", "audit::audit", "jitsi::jitsi"),
    subcommand_required,
    default_member_permissions = "MANAGE_GUILD"
)]
pub async fn meetbot(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// A submitted modal the commands opened; `false` when the modal is none of theirs.
pub async fn on_modal_submit(
    sctx: &poise::serenity_prelude::Context,
    data: &Data,
    submit: &poise::serenity_prelude::ModalInteraction,
) -> Result<bool, Error> {
    if submit.data.custom_id == jitsi::SECRET_MODAL {
        jitsi::on_secret_modal(sctx, data, submit).await?;
        return Ok(true);
    }
    Ok(false)
}
