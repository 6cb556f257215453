//! `/meetbot jitsi …`: a server's own Jitsi, set up from Discord by its admins. `setup` reads the site's `config.js`
//! and answers with the Prosody lines (and docker-jitsi-meet `.env`) that make it trust meetbot's key for this server;
//! `setup-secret` takes the site's own shared secret in a modal; `setup-jaas` an 8x8 JaaS key as an attachment.
//! `show`, `test`, `rotate-key`, `reset`. Every one of them asks [`caller_may_manage`] first (reading included: the
//! setup says where the server meets), answers ephemerally, never shows a secret, and records each change in the
//! audit trail. The keeping of keys and setups is `crate::tenant`'s.

use crate::discord::audit::{actions, entry, record_audit};
use crate::discord::guild::{caller_may_manage, guild_of, require_manage_server};
use crate::discord::links::longest_lifetime;
use crate::discord::policy::effective;
use crate::discord::render::clip;
use crate::discord::reply::{answer, edit, ephemeral, Refusal};
use crate::discord::{Context, Data, Error};
use crate::fetch::SafeFetcher;
use crate::jitsi::asap::{verify_via_key_server, KeyServerTrust};
use crate::jitsi::site_config::{config_js_url, parse_config_js, SiteConfig};
use crate::jitsi::trust_config::{docker_env, prosody, TrustLines};
use crate::jitsi::{verify, Expectations, Grant, Identity, Room, Verdict};
use crate::secret::Secret;
use crate::store::{TenantJitsi, TenantKind};
use crate::tenant::{asap_key_server_for, jwks_url_for, Rotation, SetupRequest, SetupSigner};
use poise::serenity_prelude as serenity;
use url::Url;

/// The custom id of the shared-secret modal.
pub const SECRET_MODAL: &str = "meetbot:jitsi-secret";
const FIELD_SITE: &str = "site";
const FIELD_APP_ID: &str = "app_id";
const FIELD_SECRET: &str = "secret";

/// The largest JaaS private key accepted as an upload (a 4096-bit RSA PEM is about 3.3 KiB).
pub const MAX_KEY_UPLOAD: usize = 16 * 1024;

/// The room `/meetbot jitsi test` mints for.
const TEST_ROOM: &str = "meetbot-test";

/// Discord's limit on a message's content.
const MAX_CONTENT: usize = 2000;

/// This server's own Jitsi (needs Manage Server).
#[poise::command(
    slash_command,
    guild_only,
    subcommands(
        "setup",
        "setup_secret",
        "setup_jaas",
        "show",
        "test",
        "rotate_key",
        "reset"
    ),
    subcommand_required
)]
pub async fn jitsi(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Meet on your own Jitsi; its Prosody trusts meetbot's key for this server (no shared secret).
#[poise::command(slash_command, guild_only)]
pub async fn setup(
    ctx: Context<'_>,
    #[description = "Your Jitsi site, e.g. https://meet.example.org"]
    #[max_length = 300]
    site: String,
    #[description = "The tenant (path segment), if your site uses one"]
    #[max_length = 100]
    tenant: Option<String>,
) -> Result<(), Error> {
    answer(ctx, async {
        let (data, guild) = admin(ctx)?;
        let public = key_server_base(data)?;
        let (site, tenant) = parse_site(&site, tenant.as_deref())?;
        let found = read_site(&data.fetcher, &site, tenant.as_deref()).await?;
        let request = SetupRequest {
            guild_id: guild,
            actor_id: ctx.author().id.get(),
            site_url: site,
            tenant,
            xmpp_domain: found.domain.clone(),
            muc: found.muc.clone(),
            issuer: None,
            audience: None,
            signer: SetupSigner::Asap,
        };
        let stored = set_up(data, request).await?;
        let kid = current_kid(data, guild).await;
        Ok(setup_reply(&stored, &found, public, kid.as_deref()))
    })
    .await
}

/// Meet on your own Jitsi signed with its Prosody `app_secret`, typed into a form (never shown again).
#[poise::command(slash_command, guild_only, rename = "setup-secret")]
pub async fn setup_secret(
    ctx: Context<'_>,
    #[description = "Your Jitsi site, e.g. https://meet.example.org"]
    #[max_length = 300]
    site: String,
    #[description = "Your Prosody app_id (JWT_APP_ID)"]
    #[max_length = 100]
    app_id: String,
) -> Result<(), Error> {
    let open = (|| {
        caller_may_manage(ctx)?;
        if !ctx.data().minters.tenants.enabled() {
            return Err(Refusal(crate::tenant::TenantError::Disabled.to_string()));
        }
        Ok(())
    })();
    let Context::Application(app) = ctx else {
        return Ok(());
    };
    let response = match open {
        Err(Refusal(text)) => ephemeral(&text),
        Ok(()) => secret_modal(&site, &app_id),
    };
    app.interaction
        .create_response(ctx.http(), response)
        .await?;
    Ok(())
}

fn input(
    style: serenity::InputTextStyle,
    label: &str,
    id: &str,
    value: Option<&str>,
) -> serenity::CreateActionRow {
    let mut text = serenity::CreateInputText::new(style, label, id).required(true);
    if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
        text = text.value(clip(v, 400));
    }
    serenity::CreateActionRow::InputText(text)
}

/// The form: site and app_id prefilled from the command, the secret empty (and never prefilled).
fn secret_modal(site: &str, app_id: &str) -> serenity::CreateInteractionResponse {
    serenity::CreateInteractionResponse::Modal(
        serenity::CreateModal::new(SECRET_MODAL, "Your Jitsi's shared secret").components(vec![
            input(
                serenity::InputTextStyle::Short,
                "Jitsi site",
                FIELD_SITE,
                Some(site),
            ),
            input(
                serenity::InputTextStyle::Short,
                "Prosody app_id",
                FIELD_APP_ID,
                Some(app_id),
            ),
            input(
                serenity::InputTextStyle::Short,
                "Prosody app_secret (stored encrypted)",
                FIELD_SECRET,
                None,
            ),
        ]),
    )
}

fn modal_field(submit: &serenity::ModalInteraction, id: &str) -> Option<String> {
    submit
        .data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .find_map(|c| match c {
            serenity::ActionRowComponent::InputText(t) if t.custom_id == id => t.value.clone(),
            _ => None,
        })
}

/// The shared-secret form, submitted: checked for Manage Server again (anyone can post a modal submit), the site read,
/// the secret stored sealed. The answer never repeats the secret.
pub async fn on_secret_modal(
    sctx: &serenity::Context,
    data: &Data,
    submit: &serenity::ModalInteraction,
) -> Result<(), Error> {
    submit.defer_ephemeral(sctx).await?;
    let text = match secret_submitted(data, submit).await {
        Ok(t) | Err(Refusal(t)) => t,
    };
    if let Err(e) = submit.edit_response(sctx, edit(&text)).await {
        tracing::warn!(error = %e, "could not answer the shared-secret form");
    }
    Ok(())
}

async fn secret_submitted(
    data: &Data,
    submit: &serenity::ModalInteraction,
) -> Result<String, Refusal> {
    require_manage_server(submit.member.as_ref().and_then(|m| m.permissions))?;
    let guild = submit
        .guild_id
        .map(|g| g.get())
        .ok_or_else(|| Refusal("Use this in a server.".into()))?;
    let site = modal_field(submit, FIELD_SITE).unwrap_or_default();
    let app_id = modal_field(submit, FIELD_APP_ID).unwrap_or_default();
    let secret = Secret::new(modal_field(submit, FIELD_SECRET).unwrap_or_default());
    let app_id = app_id.trim().to_owned();
    if app_id.is_empty() {
        return Err(Refusal("The app_id must not be empty.".into()));
    }
    if secret.expose().trim().len() < 16 {
        return Err(Refusal(
            "That secret is shorter than 16 characters; use your Prosody's real `app_secret` (JWT_APP_SECRET)."
                .into(),
        ));
    }
    let (site, tenant) = parse_site(&site, None)?;
    let found = read_site(&data.fetcher, &site, tenant.as_deref()).await?;
    let request = SetupRequest {
        guild_id: guild,
        actor_id: submit.user.id.get(),
        site_url: site,
        tenant,
        xmpp_domain: found.domain.clone(),
        muc: found.muc.clone(),
        issuer: Some(app_id),
        audience: None,
        signer: SetupSigner::Hs256(Secret::new(secret.expose().trim())),
    };
    let stored = set_up(data, request).await?;
    Ok(format!(
        "This server now meets on **{}**, with tokens signed by its own shared secret (stored encrypted; it is not \
         shown again).\n{}Run `/meetbot jitsi test` to check.",
        stored.site_url,
        found_lines(&stored, &found),
    ))
}

/// Meet on 8x8 JaaS with your own API key (the private key uploaded as a file, stored encrypted).
#[poise::command(slash_command, guild_only, rename = "setup-jaas")]
pub async fn setup_jaas(
    ctx: Context<'_>,
    #[description = "Your AppID (vpaas-magic-cookie-…)"]
    #[max_length = 100]
    app_id: String,
    #[description = "The API key id (the part after AppID/)"]
    #[max_length = 200]
    key_id: String,
    #[description = "The API key's private key (.pk / PEM file)"] private_key: serenity::Attachment,
) -> Result<(), Error> {
    answer(ctx, async {
        let (data, guild) = admin(ctx)?;
        if !data.minters.tenants.enabled() {
            return Err(Refusal(crate::tenant::TenantError::Disabled.to_string()));
        }
        let pem = fetch_upload(&data.fetcher, &private_key).await?;
        let app_id = app_id.trim().to_owned();
        let key_id = key_id
            .trim()
            .trim_start_matches(&format!("{app_id}/"))
            .to_owned();
        let request = SetupRequest {
            guild_id: guild,
            actor_id: ctx.author().id.get(),
            site_url: Url::parse("https://8x8.vc/").expect("fixed URL"),
            tenant: None,
            xmpp_domain: "8x8.vc".into(),
            muc: None,
            issuer: None,
            audience: None,
            signer: SetupSigner::Jaas {
                app_id,
                key_id,
                private_pem: pem,
            },
        };
        let stored = set_up(data, request).await?;
        Ok(format!(
            "This server now meets on **8x8 JaaS** (AppID `{}`, key `{}`); the private key is stored encrypted and \
             not shown again. Run `/meetbot jitsi test` to check.",
            stored.jaas_app_id.as_deref().unwrap_or_default(),
            stored.jaas_key_id.as_deref().unwrap_or_default()
        ))
    })
    .await
}

/// An uploaded private key, fetched from Discord's CDN under the fetch policy, size-capped, read as a PEM.
async fn fetch_upload(
    fetcher: &SafeFetcher,
    file: &serenity::Attachment,
) -> Result<Secret, Refusal> {
    if file.size as usize > MAX_KEY_UPLOAD {
        return Err(Refusal(format!(
            "That file is {} bytes; a private key is a few KiB (at most {MAX_KEY_UPLOAD} bytes).",
            file.size
        )));
    }
    let fetched = fetcher
        .get(&file.url)
        .await
        .map_err(|e| Refusal(format!("I could not read the uploaded file: {e}")))?;
    if fetched.status != 200 || fetched.body.len() > MAX_KEY_UPLOAD {
        return Err(Refusal(
            "I could not read the uploaded file; upload it again.".into(),
        ));
    }
    let text = String::from_utf8(fetched.body)
        .map_err(|_| Refusal("That file is not a PEM private key (it is not text).".into()))?;
    if !text.contains("-----BEGIN") || !text.contains("PRIVATE KEY-----") {
        return Err(Refusal(
            "That file is not a PEM private key (no `-----BEGIN PRIVATE KEY-----`).".into(),
        ));
    }
    Ok(Secret::new(text.trim()))
}

/// What this server's own Jitsi is (never a secret).
#[poise::command(slash_command, guild_only)]
pub async fn show(ctx: Context<'_>) -> Result<(), Error> {
    answer(ctx, async {
        let (data, guild) = admin(ctx)?;
        let Some(setup) = data.minters.tenants.store().tenant_jitsi(guild).await? else {
            return Ok(match default_site(data) {
                Some(site) => format!(
                    "This server has no Jitsi of its own: it meets on the bot's default, {site}. An admin can set \
                     one up with `/meetbot jitsi setup site:…`."
                ),
                None => crate::discord::minters::NO_JITSI.to_owned(),
            });
        };
        let kid = current_kid(data, guild).await;
        let mut out = format!(
            "This server meets on **{}** ({}).\nTokens: `sub` {}, `iss` {}, `aud` {}.",
            setup.site_url,
            kind_words(setup.kind),
            code(&sub_of(&setup)),
            code(&setup.issuer),
            code(&setup.audience)
        );
        if let Some(kid) = &kid {
            out.push_str(&format!("\nCurrent key: `{kid}`."));
        }
        if setup.kind == TenantKind::Asap {
            if let Some(public) = data.config.http.public_url.as_ref() {
                out.push_str(&format!(
                    "\nKey URL (`asap_key_server`): {}\nJWKS (`cache_keys_url`): {}",
                    asap_key_server_for(public, guild),
                    jwks_url_for(public, guild)
                ));
            }
        }
        out.push_str(&format!(
            "\nSet by <@{}> <t:{}:R>.",
            setup.updated_by,
            setup.updated_at.timestamp()
        ));
        Ok(out)
    })
    .await
}

/// Mint a test token and check it as this server's Jitsi would: token, key URL, site.
#[poise::command(slash_command, guild_only)]
pub async fn test(ctx: Context<'_>) -> Result<(), Error> {
    answer(ctx, async {
        let (data, guild) = admin(ctx)?;
        let tenants = &data.minters.tenants;
        let Some(setup) = tenants.store().tenant_jitsi(guild).await? else {
            return Err(crate::tenant::TenantError::NotSetUp.into());
        };
        let minter = tenants
            .minter(guild, data.minter.settings())
            .await?
            .ok_or(crate::tenant::TenantError::NotSetUp)?;
        let now = data.clock.now();
        let room = Room::from_user_input(TEST_ROOM).expect("fixed room name");
        let identity = Identity {
            id: ctx.author().id.get().to_string(),
            name: ctx.author().name.clone(),
            avatar: None,
            email: None,
        };
        let grant = Grant::new(room.clone(), identity, false, now, minter.settings());
        let minted = minter.mint(&grant)?;
        let verdict = match setup.kind {
            TenantKind::Asap => {
                let public = key_server_base(data)?;
                let trust = KeyServerTrust {
                    asap_key_server: asap_key_server_for(public, guild),
                    accepted_issuers: vec![setup.issuer.clone()],
                    accepted_audiences: vec![setup.audience.clone()],
                    sub: Some(sub_of(&setup)),
                    room: Some(room.as_str().to_owned()),
                    allow_wildcard_room: false,
                };
                verify_via_key_server(minted.token.expose(), &trust, &data.fetcher, now).await
            }
            TenantKind::Hs256 | TenantKind::Jaas => {
                let expect = Expectations::from_settings(minter.settings(), Some(room.as_str()))?;
                verify(minted.token.expose(), &expect, now)
            }
        };
        let site = site_answers(&data.fetcher, &setup.site_url).await;
        Ok(test_reply(&setup, &verdict, &site))
    })
    .await
}

/// Whether the site answers at all: (passed, what was seen).
async fn site_answers(fetcher: &SafeFetcher, site: &str) -> (bool, String) {
    match fetcher.get(site).await {
        Ok(f) if f.status < 500 => (true, format!("{site} answers (HTTP {})", f.status)),
        Ok(f) => (false, format!("{site} answers HTTP {}", f.status)),
        Err(e) => (false, e.to_string()),
    }
}

fn test_reply(setup: &TenantJitsi, verdict: &Verdict, site: &(bool, String)) -> String {
    let mark = |ok: bool| if ok { "✅" } else { "❌" };
    let mut out = format!(
        "Test of this server's Jitsi ({}, room `{TEST_ROOM}`):\n",
        kind_words(setup.kind)
    );
    if setup.kind == TenantKind::Asap {
        let key_ok = verdict
            .checks
            .iter()
            .filter(|c| matches!(c.name, "kid" | "key" | "signature"))
            .all(|c| c.passed);
        out.push_str(&format!(
            "{} the key URL serves this server's current key\n",
            mark(key_ok)
        ));
    }
    out.push_str(&format!(
        "{} a test token passes meetbot's Prosody-strict checks with this server's settings\n",
        mark(verdict.accepted())
    ));
    for c in verdict.checks.iter().filter(|c| !c.passed) {
        out.push_str(&format!("  • {}: {}\n", c.name, clip(&c.detail, 200)));
    }
    out.push_str(&format!("{} {}\n", mark(site.0), clip(&site.1, 300)));
    if verdict.accepted() && site.0 {
        out.push_str("All good: links for this server are signed for its own Jitsi.");
    } else {
        out.push_str("Fix what failed (see `/meetbot jitsi show` and the lines `/meetbot jitsi setup` gave), then test again.");
    }
    clip(&out, MAX_CONTENT)
}

/// Make a new signing key for this server; the old one keeps working until its last link expires.
#[poise::command(slash_command, guild_only, rename = "rotate-key")]
pub async fn rotate_key(ctx: Context<'_>) -> Result<(), Error> {
    answer(ctx, async {
        let (data, guild) = admin(ctx)?;
        let tenants = &data.minters.tenants;
        let rotation = tenants
            .rotate_key(guild, longest_lifetime(&data.config))
            .await?;
        let actor = ctx.author().id.get();
        match rotation {
            Rotation::Rotated {
                kid,
                retired,
                serve_until,
            } => {
                let detail = format!(
                    "rotated this server's Jitsi signing key: new key {kid}{}",
                    retired
                        .as_deref()
                        .map(|r| format!(", old key {r} served until {}", serve_until.format("%Y-%m-%d %H:%M UTC")))
                        .unwrap_or_default()
                );
                record(data, guild, actor, detail).await;
                Ok(format!(
                    "New key `{kid}` signs from now on.{}",
                    retired
                        .map(|r| format!(
                            " The old key `{r}` stays at the key URL until <t:{}:f>, so links already sent keep \
                             working until they expire.",
                            serve_until.timestamp()
                        ))
                        .unwrap_or_default()
                ))
            }
            Rotation::Concurrent { kid } => Ok(format!(
                "Another rotation happened at the same moment; key `{kid}` is the current one."
            )),
        }
    })
    .await
}

/// Go back to the bot's default Jitsi (links already sent keep working until they expire).
#[poise::command(slash_command, guild_only)]
pub async fn reset(ctx: Context<'_>) -> Result<(), Error> {
    answer(ctx, async {
        let (data, guild) = admin(ctx)?;
        let removed = data
            .minters
            .tenants
            .reset(guild, longest_lifetime(&data.config))
            .await?;
        let Some(removed) = removed else {
            return Ok("This server has no Jitsi of its own; nothing to reset.".into());
        };
        record(
            data,
            guild,
            ctx.author().id.get(),
            format!(
                "removed this server's own Jitsi ({} at {}); back to the bot's default",
                removed.kind, removed.site_url
            ),
        )
        .await;
        let now_on = match default_site(data) {
            Some(site) => format!("This server meets on the bot's default Jitsi again ({site})."),
            None => "This server has no Jitsi now (the bot has no default one): links cannot be made until an admin \
                     sets one up again."
                .to_owned(),
        };
        Ok(format!(
            "{now_on} Links already sent for {} keep working until they expire; you can remove meetbot's lines from \
             your Prosody after that.",
            removed.site_url
        ))
    })
    .await
}

// ---- shared pieces ----

/// The operator's default meeting site, when the bot has one.
fn default_site(data: &Data) -> Option<String> {
    data.minters
        .has_default
        .then(|| data.minter.settings().public_url.to_string())
}

/// The one access check of every subcommand (reading included), and the server it is about.
fn admin(ctx: Context<'_>) -> Result<(&Data, u64), Refusal> {
    caller_may_manage(ctx)?;
    Ok((ctx.data(), guild_of(ctx)?))
}

/// Stores a setup (checked by `crate::tenant`) and records it in the audit trail.
async fn set_up(data: &Data, request: SetupRequest) -> Result<TenantJitsi, Refusal> {
    let actor = request.actor_id;
    let (stored, old) = data
        .minters
        .tenants
        .set_up(
            request,
            data.minter.settings(),
            longest_lifetime(&data.config),
        )
        .await?;
    audit_change(data, actor, &stored, old.as_ref()).await;
    Ok(stored)
}

/// meetbot's public base URL for key servers, or why own-key setups cannot work on this bot.
fn key_server_base(data: &Data) -> Result<&Url, Refusal> {
    data.config.http.public_url.as_ref().ok_or_else(|| {
        Refusal(
            "This bot cannot publish keys yet: its operator has not set `http.public_url` (where Jitsi servers \
             reach meetbot). Use `/meetbot jitsi setup-secret` with your Prosody's shared secret instead, or ask \
             the operator."
                .into(),
        )
    })
}

/// The site as typed: `https://` added when no scheme is given, a one-segment path read as the tenant.
fn parse_site(text: &str, tenant: Option<&str>) -> Result<(Url, Option<String>), Refusal> {
    let t = text.trim();
    let with_scheme = if t.contains("://") {
        t.to_owned()
    } else {
        format!("https://{t}")
    };
    let bad = || {
        Refusal(format!(
            "`{}` is not a site address; write it like `https://meet.example.org`.",
            clip(t, 100)
        ))
    };
    let mut url = Url::parse(&with_scheme).map_err(|_| bad())?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(bad());
    }
    url.set_query(None);
    url.set_fragment(None);
    let path: Vec<String> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let mut tenant = tenant
        .map(|t| t.trim().trim_matches('/').to_owned())
        .filter(|t| !t.is_empty());
    match path.as_slice() {
        [] => {}
        [one] if tenant.is_none() || tenant.as_deref() == Some(one.as_str()) => {
            tenant = Some(one.clone())
        }
        _ => {
            return Err(Refusal(
                "Give the site without a path (`https://meet.example.org`), and a tenant in the `tenant` option."
                    .into(),
            ))
        }
    }
    if let Some(t) = &tenant {
        let ok = t
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
        if !ok || t.len() > 63 {
            return Err(Refusal(format!(
                "`{}` is not a valid tenant; use lowercase letters, digits, '-', '_' or '.'.",
                clip(t, 70)
            )));
        }
    }
    url.set_path("/");
    Ok((url, tenant))
}

/// Fetches and reads the site's `config.js` under the operator's fetch policy.
async fn read_site(
    fetcher: &SafeFetcher,
    site: &Url,
    tenant: Option<&str>,
) -> Result<SiteConfig, Refusal> {
    let url = config_js_url(site, tenant);
    let fetched = fetcher
        .get(url.as_str())
        .await
        .map_err(|e| Refusal(format!("I could not read {url}: {e}\nNothing was changed.")))?;
    if fetched.status != 200 {
        return Err(Refusal(format!(
            "{url} answered HTTP {}; is this a Jitsi Meet site? Nothing was changed.",
            fetched.status
        )));
    }
    let text = String::from_utf8_lossy(&fetched.body);
    parse_config_js(&text)
        .map_err(|e| Refusal(format!("I read {url}, but {e}. Nothing was changed.")))
}

async fn current_kid(data: &Data, guild: u64) -> Option<String> {
    match data
        .minters
        .tenants
        .store()
        .current_signing_key(guild)
        .await
    {
        Ok(k) => k.map(|k| k.kid),
        Err(e) => {
            tracing::warn!(error = %e, guild, "cannot read the server's current key");
            None
        }
    }
}

fn sub_of(setup: &TenantJitsi) -> String {
    setup
        .tenant
        .clone()
        .unwrap_or_else(|| setup.xmpp_domain.clone())
}

fn kind_words(kind: TenantKind) -> &'static str {
    match kind {
        TenantKind::Asap => "signed with meetbot's key for this server, which its Prosody fetches",
        TenantKind::Hs256 => "signed with the site's own shared secret",
        TenantKind::Jaas => "8x8 JaaS, signed with the server's own API key",
    }
}

fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
}

/// What config.js said and what the tokens will carry, two lines.
fn found_lines(stored: &TenantJitsi, found: &SiteConfig) -> String {
    format!(
        "Found in config.js: XMPP domain `{}`{}.\nTokens: `sub` {}, `iss` {}, `aud` {}.\n",
        found.domain,
        found
            .muc
            .as_deref()
            .map(|m| format!(", MUC `{m}`"))
            .unwrap_or_default(),
        code(&sub_of(stored)),
        code(&stored.issuer),
        code(&stored.audience),
    )
}

fn setup_reply(
    stored: &TenantJitsi,
    found: &SiteConfig,
    public: &Url,
    kid: Option<&str>,
) -> String {
    let guild = stored.guild_id;
    let key_server = asap_key_server_for(public, guild);
    let jwks = jwks_url_for(public, guild);
    let lines = TrustLines {
        xmpp_domain: &stored.xmpp_domain,
        issuer: &stored.issuer,
        audience: &stored.audience,
        asap_key_server: &key_server,
        jwks_url: &jwks,
    };
    let head = format!(
        "This server now meets on **{}**, with tokens signed by meetbot's own key for it{}.\n{}",
        stored.site_url,
        kid.map(|k| format!(" (`{k}`)")).unwrap_or_default(),
        found_lines(stored, found),
    );
    let prosody_block = format!(
        "**Prosody** (`/etc/prosody/conf.d/{}.cfg.lua`, then restart Prosody):\n```lua\n{}```\n",
        stored.xmpp_domain,
        prosody(&lines)
    );
    let docker_block = format!(
        "**docker-jitsi-meet** (`.env`, then `docker compose up -d`):\n```sh\n{}```\n",
        docker_env(&lines)
    );
    let tail = "Then run `/meetbot jitsi test`. Until your Prosody trusts this key, links for this server do not work.";
    let full = format!("{head}{prosody_block}{docker_block}{tail}");
    if full.chars().count() <= MAX_CONTENT {
        return full;
    }
    // Long names: the docker lines are the README's; the Prosody lines always fit.
    clip(
        &format!("{head}{prosody_block}docker-jitsi-meet: see the README (One meetbot for many servers).\n{tail}"),
        MAX_CONTENT,
    )
}

/// Records a change of the server's own Jitsi in the audit trail (never a secret).
async fn audit_change(data: &Data, actor: u64, stored: &TenantJitsi, old: Option<&TenantJitsi>) {
    let detail = format!(
        "set up this server's own Jitsi: {} at {} (sub {}, iss {}, aud {}){}",
        stored.kind,
        stored.site_url,
        sub_of(stored),
        stored.issuer,
        stored.audience,
        old.map(|o| format!(", replacing {} at {}", o.kind, o.site_url))
            .unwrap_or_default()
    );
    record(data, stored.guild_id, actor, detail).await;
}

async fn record(data: &Data, guild: u64, actor: u64, detail: String) {
    let policy = effective(&data.config, &data.store, guild).await;
    record_audit(
        &data.rest,
        &data.store,
        policy.audit_channel,
        entry(
            guild,
            data.clock.now(),
            actor,
            actions::OWN_JITSI,
            None,
            "jitsi".into(),
            detail,
        ),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_are_read_with_or_without_scheme_and_a_path_is_the_tenant() {
        let (u, t) = parse_site("meet.example.org", None).ok().unwrap();
        assert_eq!((u.as_str(), t), ("https://meet.example.org/", None));
        let (u, t) = parse_site("https://meet.example.org/acme/", None)
            .ok()
            .unwrap();
        assert_eq!(
            (u.as_str(), t.as_deref()),
            ("https://meet.example.org/", Some("acme"))
        );
        assert!(parse_site("https://meet.example.org/a/b", None).is_err());
        assert!(parse_site("ftp://meet.example.org", None).is_err());
        assert!(parse_site("https://x.org", Some("Bad Tenant")).is_err());
        assert!(parse_site("https://x.org/one", Some("two")).is_err());
    }
}
