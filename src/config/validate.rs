//! From the raw values to the typed [`Config`]: every range and every choice is checked here, each problem names the
//! setting and the fix, and all of them are collected so the operator sees every problem at once.
//!
//! This is where the file and the environment meet, so it reads `file`'s raw structs and `env`'s variables;
//! neither of those reads this file (no circle).

use super::env::{parse_bool, signing_key, Vars};
use super::file::{
    RawConfig, RawDiscord, RawFetch, RawHttp, RawJitsi, RawMeetings, RawScheduler, RawStorage,
    RawToken,
};
use super::{
    Config, ConfigError, DiscordSettings, HttpSettings, MeetingSettings, Problem, RegisterOnStart,
    SchedulerSettings, StorageSettings,
};
use crate::jitsi::{Algorithm, JitsiSettings, LinkStyle, ModeratorClaims, Preset, SigningKey};
use crate::meeting::policy::{GuildPolicy, ModeratorPolicy, RoleRef};
use crate::secret::Secret;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Checks every section in the order the file lists them and builds the [`Config`], or returns every problem found.
pub(super) fn build(
    raw: RawConfig,
    source: Option<PathBuf>,
    vars: &Vars,
) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    // The operator's own Jitsi is optional once servers can bring theirs (a master key is set): with none of its
    // settings given, the token preferences are kept on a stand-in site that never signs (`default_jitsi` off).
    let master_key_set = matches!(vars.master_key, Ok(Some(_)));
    let default_jitsi = !(master_key_set && no_operator_jitsi(&raw.jitsi, &raw.token, vars));
    let stand_in;
    let jitsi_vars = if default_jitsi {
        vars
    } else {
        stand_in = stand_in_vars(vars);
        &stand_in
    };
    let jitsi = jitsi(
        raw.jitsi,
        raw.token,
        jitsi_vars,
        &mut problems,
        &mut warnings,
    );
    let discord = discord(raw.discord, vars, &mut problems, &mut warnings);
    let meetings = meetings(raw.meetings, &mut problems);
    let scheduler = scheduler(raw.scheduler, &mut problems);
    let storage = storage(raw.storage, vars, &mut problems);
    let http = http(raw.http, vars, &mut problems, &mut warnings);
    let fetch = fetch(raw.fetch, &mut problems, &mut warnings);
    let master_key = match &vars.master_key {
        Ok(k) => k.clone(),
        Err(e) => {
            problem(&mut problems, crate::seal::MASTER_KEY_ENV, e.to_string());
            None
        }
    };

    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    let Some(jitsi) = jitsi else {
        // Every `None` in `jitsi` pushed a problem, so this cannot be reached with an empty list.
        return Err(ConfigError::Invalid(vec![Problem {
            setting: "configuration".into(),
            message: "incomplete".into(),
        }]));
    };
    Ok(Config {
        source,
        jitsi,
        discord,
        meetings,
        scheduler,
        storage,
        http,
        fetch,
        master_key,
        default_jitsi,
        log_filter: raw.log.level,
        warnings,
    })
}

/// `[http]`: the listener's address with the secrets from the environment, and the URL it is reached at.
fn http(
    raw: RawHttp,
    vars: &Vars,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> HttpSettings {
    let mut out = HttpSettings::default();
    let listen = raw.listen.trim();
    if !listen.is_empty() {
        match listen.parse::<std::net::SocketAddr>() {
            Err(_) => problem(
                problems,
                "http.listen",
                format!("{listen:?} is not an address and port; write e.g. \"127.0.0.1:8080\" or \"[::1]:8080\""),
            ),
            Ok(addr) => match crate::web::WebOptions::new(
                addr,
                vars.jitsi_events_token.clone(),
                vars.jaas_webhook_secret.clone(),
            ) {
                Ok(web) => {
                    warnings.extend(web.warnings());
                    out.web = Some(web);
                }
                Err(e) => problem(problems, "http.listen", e.to_string()),
            },
        }
    } else if vars.jitsi_events_token.is_some() || vars.jaas_webhook_secret.is_some() {
        warnings.push(
            "JITSI_EVENTS_TOKEN or JAAS_WEBHOOK_SECRET is set but http.listen is empty, so nothing receives Jitsi's events"
                .into(),
        );
    }
    let public = raw.public_url.trim().trim_end_matches('/');
    if !public.is_empty() {
        match Url::parse(public) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if u.scheme() == "http" {
                    warnings.push(format!(
                        "http.public_url {public} is plain http: Jitsi servers would fetch meetbot's keys unprotected; put the listener behind https"
                    ));
                }
                out.public_url = Some(u);
            }
            _ => problem(
                problems,
                "http.public_url",
                format!(
                    "{public:?} is not an http(s) URL; write e.g. \"https://meetbot.example.com\""
                ),
            ),
        }
    }
    out
}

/// Whether the operator configured no Jitsi of their own at all: no site, secret, key or app id anywhere.
fn no_operator_jitsi(jitsi: &RawJitsi, token: &RawToken, vars: &Vars) -> bool {
    let file_says = jitsi
        .public_url
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty())
        || jitsi
            .app_id
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty())
        || jitsi
            .xmpp_domain
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty());
    let env_says = vars.public_url.is_some()
        || vars.app_id.is_some()
        || vars.xmpp_domain.is_some()
        || vars.app_secret.is_some()
        || vars.kid.is_some()
        || vars.private_key_file.is_some();
    let default_choices = jitsi.preset.eq_ignore_ascii_case("self-hosted")
        && token.algorithm.eq_ignore_ascii_case("HS256")
        && jitsi.tenant.trim().is_empty();
    !file_says && !env_says && default_choices
}

/// The variables with a stand-in site and a random secret: the token preferences validate, and nothing signed
/// with them is ever handed out (`Config::default_jitsi` is off).
fn stand_in_vars(vars: &Vars) -> Vars {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Vars {
        public_url: Some("https://no-default-jitsi.invalid".into()),
        app_id: Some("meetbot".into()),
        xmpp_domain: Some("no-default-jitsi.invalid".into()),
        app_secret: Some(Secret::new(secret)),
        kid: None,
        private_key_file: None,
        discord_token: vars.discord_token.clone(),
        discord_api_base: vars.discord_api_base.clone(),
        database_url: vars.database_url.clone(),
        jitsi_events_token: vars.jitsi_events_token.clone(),
        jaas_webhook_secret: vars.jaas_webhook_secret.clone(),
        master_key: vars.master_key.clone(),
    }
}

/// `[fetch]`: what admin-typed URLs may reach beyond public https sites.
fn fetch(
    raw: RawFetch,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> crate::fetch::FetchPolicy {
    let mut out = crate::fetch::FetchPolicy::default();
    for text in &raw.allow_networks {
        let t = text.trim();
        // A bare address is a network of one.
        let parsed = t
            .parse::<ipnet::IpNet>()
            .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(net) => out.allow_networks.push(net),
            Err(_) => problem(
                problems,
                "fetch.allow_networks",
                format!("{t:?} is not a network; write e.g. \"10.20.0.0/16\" or \"192.168.1.5\""),
            ),
        }
    }
    if !out.allow_networks.is_empty() {
        warnings.push(format!(
            "fetch.allow_networks opens {} to URLs that servers' admins type; only do this for your own Jitsi servers",
            raw.allow_networks.join(", ")
        ));
    }
    out.allow_http = raw.allow_http;
    match raw.timeout_seconds {
        s @ 1..=60 => out.timeout = Duration::from_secs(s as u64),
        s => problem(
            problems,
            "fetch.timeout_seconds",
            format!("{s} is out of range; use 1 to 60 seconds"),
        ),
    }
    match raw.max_kib {
        k @ 16..=4096 => out.max_bytes = k as usize * 1024,
        k => problem(
            problems,
            "fetch.max_kib",
            format!("{k} is out of range; use 16 to 4096 KiB"),
        ),
    }
    out
}

fn problem(problems: &mut Vec<Problem>, setting: &str, message: String) {
    problems.push(Problem {
        setting: setting.into(),
        message,
    })
}

/// `[jitsi]` and `[token]`, which judge each other (the preset fixes the algorithm; the key fixes JaaS's tenant).
/// `None` when a value the settings cannot do without is missing; a problem says which.
fn jitsi(
    jitsi: RawJitsi,
    token: RawToken,
    vars: &Vars,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> Option<JitsiSettings> {
    let preset = match jitsi.preset.to_ascii_lowercase().as_str() {
        "self-hosted" | "selfhosted" | "self_hosted" => Preset::SelfHosted,
        "jaas" | "8x8" => Preset::Jaas,
        other => {
            problem(
                problems,
                "jitsi.preset",
                format!("{other:?} is not a preset; use \"self-hosted\" or \"jaas\""),
            );
            Preset::SelfHosted
        }
    };

    let algorithm = match (preset, token.algorithm.to_ascii_uppercase().as_str()) {
        (Preset::Jaas, _) => Algorithm::Rs256,
        (_, "HS256") => Algorithm::Hs256,
        (_, "RS256") => Algorithm::Rs256,
        (_, other) => {
            problem(
                problems,
                "token.algorithm",
                format!("{other:?} is not supported; use \"HS256\" (JWT_APP_SECRET) or \"RS256\" (JWT_PRIVATE_KEY_FILE), the same as the Jitsi server"),
            );
            Algorithm::Hs256
        }
    };

    let key = signing_key(preset, algorithm, vars, problems);

    let jaas_app_id = match (&key, preset) {
        (Some(SigningKey::Rsa { kid, .. }), Preset::Jaas) => {
            let app = kid.split('/').next().unwrap_or_default().to_string();
            if !app.starts_with("vpaas-magic-cookie-") || !kid.contains('/') {
                problem(
                    problems,
                    "JWT_KID",
                    "a JaaS key id looks like vpaas-magic-cookie-<id>/<keyid>; copy it from the JaaS console's API Keys page".into(),
                );
            }
            Some(app)
        }
        _ => None,
    };

    let public_url_text = vars
        .public_url
        .clone()
        .or(jitsi.public_url.clone().filter(|s| !s.is_empty()))
        .or_else(|| (preset == Preset::Jaas).then(|| "https://8x8.vc".to_string()));
    let mut tenant =
        Some(jitsi.tenant.trim().trim_matches('/').to_string()).filter(|t| !t.is_empty());
    let public_url = match public_url_text.as_deref().map(Url::parse) {
        None => {
            problem(
                problems,
                "PUBLIC_URL",
                "not set; put the address of your meeting site in the environment, e.g. PUBLIC_URL=https://meet.example.com".into(),
            );
            None
        }
        Some(Err(e)) => {
            problem(
                problems,
                "PUBLIC_URL",
                format!("is not a URL ({e}); write it like https://meet.example.com"),
            );
            None
        }
        Some(Ok(mut u)) => {
            if u.scheme() != "https" && !(u.scheme() == "http" && jitsi.allow_insecure_url) {
                problem(
                    problems,
                    "PUBLIC_URL",
                    format!(
                        "must start with https:// (links carry tokens); got {}://. For a local test server only, set jitsi.allow_insecure_url = true",
                        u.scheme()
                    ),
                );
            }
            if u.host_str().is_none() {
                problem(
                    problems,
                    "PUBLIC_URL",
                    "has no host name; write it like https://meet.example.com".into(),
                );
            }
            // A path on PUBLIC_URL is the tenant (https://host/<tenant>).
            let path = u.path().trim_matches('/').to_string();
            if !path.is_empty() {
                if path.contains('/') {
                    problem(problems, "PUBLIC_URL", format!("has a path {path:?} with more than one segment; a tenant is a single segment"));
                } else if tenant.as_deref().is_some_and(|t| t != path) {
                    problem(
                        problems,
                        "jitsi.tenant",
                        format!("{:?} disagrees with the tenant {path:?} in PUBLIC_URL; set one of them", tenant.as_deref().unwrap_or("")),
                    );
                } else {
                    tenant = Some(path);
                }
            }
            u.set_path("/");
            u.set_query(None);
            u.set_fragment(None);
            Some(u)
        }
    };
    if preset == Preset::Jaas {
        if let Some(app) = &jaas_app_id {
            if tenant.as_deref().is_some_and(|t| t != app) {
                problem(
                    problems,
                    "jitsi.tenant",
                    format!("for JaaS the tenant is the AppID {app}; leave it empty"),
                );
            }
            tenant = Some(app.clone());
        }
    }
    if let Some(t) = &tenant {
        if !t
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        {
            problem(
                problems,
                "jitsi.tenant",
                format!("{t:?} is not a valid tenant; use lowercase letters, digits, '-', '_' or '.' only"),
            );
        }
    }

    let app_id = match preset {
        Preset::Jaas => jaas_app_id.clone().unwrap_or_default(),
        Preset::SelfHosted => {
            match vars
                .app_id
                .clone()
                .or(jitsi.app_id.clone().filter(|s| !s.is_empty()))
            {
                Some(id) => id,
                None => {
                    problem(
                    problems,
                    "JWT_APP_ID",
                    "not set; use the `app_id` of your Prosody VirtualHost (docker-jitsi-meet: JWT_APP_ID in its .env)".into(),
                );
                    String::new()
                }
            }
        }
    };

    let xmpp_domain = match vars
        .xmpp_domain
        .clone()
        .or(jitsi.xmpp_domain.clone().filter(|s| !s.is_empty()))
    {
        Some(d) => d,
        None => {
            let host = public_url
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            if preset == Preset::SelfHosted && tenant.is_none() {
                warnings.push(format!(
                    "XMPP_DOMAIN is not set; tokens use the public host {host:?} as `sub`. On docker-jitsi-meet the XMPP domain is \"meet.jitsi\": set XMPP_DOMAIN=meet.jitsi"
                ));
            }
            host
        }
    };

    let lifetime = parse_duration("token.lifetime", &token.lifetime, problems);
    if let Some(l) = lifetime {
        if l < Duration::from_secs(60) || l > Duration::from_secs(7 * 24 * 3600) {
            problem(
                problems,
                "token.lifetime",
                "must be between 1m and 7d; tokens are meant to be short-lived".into(),
            );
        } else if l > Duration::from_secs(24 * 3600) {
            warnings
                .push("token.lifetime is over a day; a leaked link stays usable that long".into());
        }
    }
    let nbf_backdate = parse_duration("token.nbf_backdate", &token.nbf_backdate, problems);
    if nbf_backdate.is_some_and(|d| d > Duration::from_secs(3600)) {
        problem(
            problems,
            "token.nbf_backdate",
            "must be at most 1h; 30s covers ordinary clock skew".into(),
        );
    }
    let link_style = match token.link_style.to_ascii_lowercase().as_str() {
        "query" => LinkStyle::Query,
        "fragment" => LinkStyle::Fragment,
        other => {
            problem(
                problems,
                "token.link_style",
                format!("{other:?} is not a link style; use \"query\" or \"fragment\""),
            );
            LinkStyle::Query
        }
    };
    let moderator_claims = match (preset, token.moderator_claims.to_ascii_lowercase().as_str()) {
        (Preset::Jaas, _) => ModeratorClaims::Jaas,
        (_, "all") => ModeratorClaims::All,
        (_, "jaas") => ModeratorClaims::Jaas,
        (_, other) => {
            problem(
                problems,
                "token.moderator_claims",
                format!("{other:?} is not a claim style; use \"all\" or \"jaas\""),
            );
            ModeratorClaims::All
        }
    };
    let prejoin = match token.prejoin.to_ascii_lowercase().as_str() {
        "" => None,
        other => match parse_bool(other) {
            Some(b) => Some(b),
            None => {
                problem(
                    problems,
                    "token.prejoin",
                    format!("{other:?}: use \"\", \"on\" or \"off\""),
                );
                None
            }
        },
    };
    let audience = token.audience.trim().to_string();
    if audience.is_empty() {
        problem(
            problems,
            "token.audience",
            "must not be empty: Jitsi requires an `aud` claim; use \"jitsi\"".into(),
        );
    }

    let (Some(key), Some(public_url), Some(lifetime), Some(nbf_backdate)) =
        (key, public_url, lifetime, nbf_backdate)
    else {
        return None;
    };
    Some(JitsiSettings {
        preset,
        public_url,
        tenant,
        app_id,
        xmpp_domain,
        audience,
        algorithm,
        key,
        lifetime,
        nbf_backdate,
        link_style,
        moderator_claims,
        lobby_bypass_for_moderators: token.lobby_bypass_for_moderators,
        moderator_features: token.moderator_features,
        member_features: token.member_features,
        include_email: token.include_email,
        prejoin,
        prefill_display_name: token.prefill_display_name,
    })
}

/// `[discord]`, with the per-guild policy overrides, and the Discord variables of the environment.
fn discord(
    raw: RawDiscord,
    vars: &Vars,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> DiscordSettings {
    let token = vars.discord_token.clone();
    if let Some(t) = &token {
        if let Err(why) = check_discord_token_shape(t.expose()) {
            problem(problems, "DISCORD_TOKEN", why);
        }
    }
    let api_base_text = vars
        .discord_api_base
        .clone()
        .or(Some(raw.api_base.clone()).filter(|s| !s.is_empty()));
    let api_base = match api_base_text.as_deref().map(Url::parse) {
        None => None,
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
        Some(_) => {
            problem(
                problems,
                "DISCORD_API_BASE",
                "is not an http(s) URL; write it like http://127.0.0.1:8080".into(),
            );
            None
        }
    };
    let register_on_start = match raw.register_on_start.trim().to_ascii_lowercase().as_str() {
        "" | "off" | "false" | "no" => RegisterOnStart::Off,
        "global" => RegisterOnStart::Global,
        other => match other.parse::<u64>() {
            Ok(id) if id > 0 => RegisterOnStart::Guild(id),
            _ => {
                problem(
                    problems,
                    "discord.register_on_start",
                    format!("{other:?}: use \"off\", \"global\" or a guild id"),
                );
                RegisterOnStart::Off
            }
        },
    };
    let moderator_roles = parse_roles("discord.moderator_roles", &raw.moderator_roles, problems);
    let host_roles = parse_roles("discord.host_roles", &raw.host_roles, problems);
    let guest_inviter_roles = parse_roles(
        "discord.guest_inviter_roles",
        &raw.guest_inviter_roles,
        problems,
    );
    if !(0..=86_400).contains(&raw.cooldown_seconds) {
        problem(
            problems,
            "discord.cooldown_seconds",
            "use a number of seconds from 0 (off) to 86400".into(),
        );
    }
    let invitee_cap = positive("discord.invitee_cap", raw.invitee_cap, 1000, problems) as usize;
    let default_policy = GuildPolicy {
        moderator_roles,
        host_roles,
        administrators_are_moderators: raw.administrators_are_moderators,
        invitee_cap,
    };
    let mut overrides = HashMap::new();
    for (gid, g) in &raw.guilds {
        let Ok(id) = gid.parse::<u64>() else {
            problem(
                problems,
                &format!("discord.guilds.{gid}"),
                "guild keys must be guild ids (numbers)".into(),
            );
            continue;
        };
        let base = default_policy.clone();
        let p = GuildPolicy {
            moderator_roles: g
                .moderator_roles
                .as_ref()
                .map(|r| {
                    parse_roles(
                        &format!("discord.guilds.{gid}.moderator_roles"),
                        r,
                        problems,
                    )
                })
                .unwrap_or(base.moderator_roles),
            host_roles: g
                .host_roles
                .as_ref()
                .map(|r| parse_roles(&format!("discord.guilds.{gid}.host_roles"), r, problems))
                .unwrap_or(base.host_roles),
            administrators_are_moderators: g
                .administrators_are_moderators
                .unwrap_or(base.administrators_are_moderators),
            invitee_cap: g
                .invitee_cap
                .map(|c| {
                    positive(
                        &format!("discord.guilds.{gid}.invitee_cap"),
                        c,
                        1000,
                        problems,
                    ) as usize
                })
                .unwrap_or(base.invitee_cap),
        };
        overrides.insert(id, p);
    }
    if default_policy.moderator_roles.is_empty() && !default_policy.administrators_are_moderators {
        warnings.push(
            "no moderator roles and administrators_are_moderators = false: nobody will get a moderator token".into(),
        );
    }
    let requests_per_second = positive(
        "discord.requests_per_second",
        raw.requests_per_second,
        50,
        problems,
    ) as u32;
    let dm_concurrency =
        positive("discord.dm_concurrency", raw.dm_concurrency, 64, problems) as usize;

    DiscordSettings {
        token,
        api_base,
        register_on_start,
        policy: ModeratorPolicy::new(default_policy, overrides),
        requests_per_second,
        dm_concurrency,
        guest_inviter_roles,
        cooldown: Duration::from_secs(raw.cooldown_seconds.clamp(0, 86_400) as u64),
    }
}

/// `[meetings]`.
fn meetings(raw: RawMeetings, problems: &mut Vec<Problem>) -> MeetingSettings {
    let default_minutes = positive(
        "meetings.default_duration_minutes",
        raw.default_duration_minutes,
        24 * 60,
        problems,
    );
    if (1..crate::meeting::request::MIN_MINUTES).contains(&default_minutes) {
        problem(
            problems,
            "meetings.default_duration_minutes",
            format!(
                "{default_minutes} is shorter than the {} minutes /meet accepts; use at least that",
                crate::meeting::request::MIN_MINUTES
            ),
        );
    }
    let max_minutes = positive(
        "meetings.max_duration_minutes",
        raw.max_duration_minutes,
        7 * 24 * 60,
        problems,
    );
    if default_minutes > max_minutes {
        problem(
            problems,
            "meetings.default_duration_minutes",
            format!(
                "{default_minutes} is longer than meetings.max_duration_minutes ({max_minutes})"
            ),
        );
    }
    let grace = positive(
        "meetings.grace_minutes",
        raw.grace_minutes.max(1),
        24 * 60,
        problems,
    );
    let join_window = positive(
        "meetings.join_window_minutes",
        raw.join_window_minutes.max(1),
        24 * 60,
        problems,
    );
    if raw.remind_minutes < 0 || raw.remind_minutes > 7 * 24 * 60 {
        problem(
            problems,
            "meetings.remind_minutes",
            "use a number of minutes from 0 to 10080".into(),
        );
    }
    let default_timezone = match raw.default_timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => tz,
        Err(_) => {
            problem(
                problems,
                "meetings.default_timezone",
                format!(
                    "{:?} is not an IANA time zone; write it like \"Europe/Berlin\" or \"UTC\"",
                    raw.default_timezone
                ),
            );
            chrono_tz::UTC
        }
    };
    let max_days = positive(
        "meetings.max_days_ahead",
        raw.max_days_ahead,
        5 * 366,
        problems,
    );
    let guest_max_validity = parse_duration(
        "meetings.guest_max_validity",
        &raw.guest_max_validity,
        problems,
    )
    .unwrap_or(Duration::from_secs(86_400));
    if guest_max_validity < Duration::from_secs(60)
        || guest_max_validity > Duration::from_secs(30 * 86_400)
    {
        problem(
            problems,
            "meetings.guest_max_validity",
            "use a duration from 1m to 30 days, e.g. \"24h\"".into(),
        );
    }
    MeetingSettings {
        default_duration: Duration::from_secs(default_minutes as u64 * 60),
        max_duration: Duration::from_secs(max_minutes as u64 * 60),
        grace: Duration::from_secs(grace as u64 * 60),
        join_window: Duration::from_secs(join_window as u64 * 60),
        remind: Duration::from_secs(raw.remind_minutes.clamp(0, 7 * 24 * 60) as u64 * 60),
        default_timezone,
        max_ahead: Duration::from_secs(max_days as u64 * 86400),
        guest_max_validity,
    }
}

/// `[scheduler]`.
fn scheduler(raw: RawScheduler, problems: &mut Vec<Problem>) -> SchedulerSettings {
    let lease = positive("scheduler.lease_seconds", raw.lease_seconds, 3600, problems);
    let poll = positive("scheduler.poll_seconds", raw.poll_seconds, 600, problems);
    SchedulerSettings {
        lease: Duration::from_secs(lease as u64),
        poll: Duration::from_secs(poll as u64),
    }
}

/// `[storage]` and DATABASE_URL.
fn storage(raw: RawStorage, vars: &Vars, problems: &mut Vec<Problem>) -> StorageSettings {
    let data_dir = PathBuf::from(raw.data_dir);
    let database_url = vars.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("meetbot.db").display()
        )
    });
    let postgres =
        database_url.starts_with("postgres://") || database_url.starts_with("postgresql://");
    if !(database_url.starts_with("sqlite:") || postgres) {
        problem(
            problems,
            "DATABASE_URL",
            "use sqlite://PATH or postgres://USER@HOST/DB".into(),
        );
    } else if postgres {
        // The URL may hold a password, so the parser's reason is given, never the text.
        if let Err(e) = Url::parse(&database_url) {
            problem(
                problems,
                "DATABASE_URL",
                format!("is not a valid URL ({e}); write it like postgres://USER:PASSWORD@HOST:5432/DB, percent-encoding special characters in the password"),
            );
        }
    }

    StorageSettings {
        database_url: Secret::new(database_url),
        data_dir,
    }
}

fn parse_duration(setting: &str, text: &str, problems: &mut Vec<Problem>) -> Option<Duration> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) => Some(d),
        Err(_) => {
            problems.push(Problem {
                setting: setting.into(),
                message: format!(
                    "{text:?} is not a duration; write it like \"2h\", \"90m\" or \"30s\""
                ),
            });
            None
        }
    }
}

fn parse_roles(setting: &str, values: &[toml::Value], problems: &mut Vec<Problem>) -> Vec<RoleRef> {
    let mut out = Vec::new();
    for v in values {
        match v {
            toml::Value::String(s) if !s.trim().is_empty() => out.push(RoleRef::parse(s)),
            toml::Value::Integer(i) if *i > 0 => out.push(RoleRef::Id(*i as u64)),
            other => problems.push(Problem {
                setting: setting.into(),
                message: format!("{other} is not a role name or id; write names as strings, e.g. [\"Moderators\"]"),
            }),
        }
    }
    out
}

fn positive(setting: &str, value: i64, max: i64, problems: &mut Vec<Problem>) -> i64 {
    if value < 1 || value > max {
        problems.push(Problem {
            setting: setting.into(),
            message: format!("{value} is out of range; use a number from 1 to {max}"),
        });
        1
    } else {
        value
    }
}

/// A bot token is three dot-separated base64url parts; catching a pasted client secret or an empty value here gives
/// a clear message instead of a gateway close code later.
pub fn check_discord_token_shape(token: &str) -> Result<(), String> {
    let t = token.trim();
    let t = t.strip_prefix("Bot ").unwrap_or(t);
    let parts: Vec<&str> = t.split('.').collect();
    let ok = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err("does not look like a bot token (three parts separated by dots). Copy it from the Developer Portal: your application → Bot → Reset Token".into())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_default_jitsi_is_optional_only_with_a_master_key_and_no_jitsi_settings_at_all() {
        let key = (
            "MEETBOT_MASTER_KEY",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        );
        let c = load_with(&[key], None).unwrap();
        assert!(!c.default_jitsi);
        assert!(c.describe().contains("none: every server sets up its own"));
        assert!(load_with(&base(), None).unwrap().default_jitsi);
        let mut with_key = base();
        with_key.push(key);
        assert!(load_with(&with_key, None).unwrap().default_jitsi);
        // Without a master key, a missing Jitsi is still a problem; half a Jitsi is one even with a key.
        assert!(load_with(&[], None).is_err());
        assert!(load_with(&[key, ("PUBLIC_URL", "https://meet.example.com")], None).is_err());
        // A malformed master key is a problem of its own, never a plaintext fallback.
        let mut bad = base();
        bad.push(("MEETBOT_MASTER_KEY", "short"));
        let err = load_with(&bad, None).unwrap_err().to_string();
        assert!(err.contains("MEETBOT_MASTER_KEY"), "{err}");
    }

    #[test]
    fn fetch_networks_are_read_and_bad_ones_named() {
        let mut v = base();
        v.push(("MEETBOT_FETCH_ALLOW_NETWORKS", "10.20.0.0/16, 192.168.1.5"));
        let c = load_with(&v, None).unwrap();
        assert_eq!(c.fetch.allow_networks.len(), 2);
        assert!(c
            .warnings
            .iter()
            .any(|w| w.contains("fetch.allow_networks")));
        v.push(("MEETBOT_FETCH_ALLOW_NETWORKS", "not-a-net"));
        let err = load_with(&v, None).unwrap_err().to_string();
        assert!(err.contains("fetch.allow_networks"), "{err}");
    }

    use crate::config::testing::*;
    use crate::meeting::policy::RoleRef;
    use std::time::Duration;

    #[test]
    fn the_http_listener_is_off_unless_an_address_is_set() {
        let c = load_with(&base(), None).unwrap();
        assert!(c.http.web.is_none());
        assert!(c.describe().contains("off (http.listen is empty)"));
    }

    #[test]
    fn the_http_listener_takes_its_secrets_from_the_environment_and_shows_only_whether_they_are_set(
    ) {
        let token = "events-token-0123456789abcdef-0123456789";
        let vars = with(
            with(base(), "MEETBOT_HTTP_LISTEN", "127.0.0.1:8080"),
            "JITSI_EVENTS_TOKEN",
            token,
        );
        let c = load_with(&vars, None).unwrap();
        let web = c.http.web.as_ref().expect("listener configured");
        assert_eq!(web.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(web.events_token.as_ref().map(|t| t.expose()), Some(token));
        let shown = c.describe();
        assert!(
            shown.contains("127.0.0.1:8080 (Jitsi events token set, JaaS webhook secret not set)"),
            "{shown}"
        );
        assert!(!shown.contains(token) && !format!("{c:?}").contains(token));
    }

    #[test]
    fn a_bad_listen_address_a_public_one_without_token_and_a_weak_token_are_refused() {
        let p = problems(load_with(
            &with(base(), "MEETBOT_HTTP_LISTEN", "localhost"),
            None,
        ));
        assert_eq!(p[0].setting, "http.listen");
        assert!(p[0].message.contains("127.0.0.1:8080"), "{}", p[0].message);
        let p = problems(load_with(
            &with(base(), "MEETBOT_HTTP_LISTEN", "203.0.113.7:8080"),
            None,
        ));
        assert!(
            p[0].message.contains("JITSI_EVENTS_TOKEN"),
            "{}",
            p[0].message
        );
        let weak = with(
            with(base(), "MEETBOT_HTTP_LISTEN", "127.0.0.1:8080"),
            "JITSI_EVENTS_TOKEN",
            "short",
        );
        assert_eq!(problems(load_with(&weak, None))[0].setting, "http.listen");
    }

    #[test]
    fn events_secrets_without_a_listener_are_warned_about() {
        let c = load_with(&with(base(), "JAAS_WEBHOOK_SECRET", "whsec_abc"), None).unwrap();
        assert!(c
            .warnings
            .iter()
            .any(|w| w.contains("http.listen is empty")));
    }

    #[test]
    fn the_public_url_must_be_http_and_loses_its_trailing_slash() {
        let c = load_with(
            &with(
                base(),
                "MEETBOT_HTTP_PUBLIC_URL",
                "https://meetbot.example.com/",
            ),
            None,
        )
        .unwrap();
        assert!(c.describe().contains("https://meetbot.example.com\n"));
        let p = problems(load_with(
            &with(base(), "MEETBOT_HTTP_PUBLIC_URL", "ftp://x"),
            None,
        ));
        assert_eq!(p[0].setting, "http.public_url");
    }

    #[test]
    fn plain_http_public_url_is_refused_unless_allowed() {
        let vars = with(base(), "PUBLIC_URL", "http://localhost:8000");
        let p = problems(load_with(&vars, None));
        assert_eq!(p[0].setting, "PUBLIC_URL");
        assert!(p[0].message.contains("https://"));
        let allowed = with(vars, "MEETBOT_JITSI_ALLOW_INSECURE_URL", "true");
        assert_eq!(
            load_with(&allowed, None).unwrap().jitsi.public_url.as_str(),
            "http://localhost:8000/"
        );
    }

    #[test]
    fn a_path_on_public_url_is_the_tenant() {
        let c = load_with(
            &with(base(), "PUBLIC_URL", "https://meet.example.com/team-a/"),
            None,
        )
        .unwrap();
        assert_eq!(c.jitsi.tenant.as_deref(), Some("team-a"));
        assert_eq!(c.jitsi.public_url.as_str(), "https://meet.example.com/");
    }

    #[test]
    fn a_malformed_tenant_is_refused() {
        let p = problems(load_with(
            &with(base(), "MEETBOT_JITSI_TENANT", "Team A"),
            None,
        ));
        assert_eq!(p[0].setting, "jitsi.tenant");
    }

    #[test]
    fn an_unknown_algorithm_is_refused() {
        let p = problems(load_with(
            &with(base(), "MEETBOT_TOKEN_ALGORITHM", "HS512"),
            None,
        ));
        assert_eq!(p[0].setting, "token.algorithm");
        assert!(p[0].message.contains("HS256"));
    }

    #[test]
    fn guest_and_abuse_limit_settings_load_with_defaults_and_are_range_checked() {
        let c = load_with(&base(), None).unwrap();
        assert_eq!(
            c.meetings.guest_max_validity,
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(c.discord.cooldown, Duration::from_secs(10));
        assert!(c.discord.guest_inviter_roles.is_empty());
        let vars = with(
            with(base(), "MEETBOT_DISCORD_GUEST_INVITER_ROLES", "Speakers"),
            "MEETBOT_MEETINGS_GUEST_MAX_VALIDITY",
            "2h",
        );
        let c = load_with(&vars, None).unwrap();
        assert_eq!(
            c.discord.guest_inviter_roles,
            vec![RoleRef::Name("Speakers".into())]
        );
        assert_eq!(c.meetings.guest_max_validity, Duration::from_secs(7200));
        let bad = with(
            with(base(), "MEETBOT_DISCORD_COOLDOWN_SECONDS", "-1"),
            "MEETBOT_MEETINGS_GUEST_MAX_VALIDITY",
            "90days",
        );
        let settings: Vec<String> = problems(load_with(&bad, None))
            .into_iter()
            .map(|p| p.setting)
            .collect();
        assert_eq!(
            settings,
            vec!["discord.cooldown_seconds", "meetings.guest_max_validity"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let p = problems(load_with(&[("MEETBOT_TOKEN_LIFETIME", "forever")], None));
        let settings: Vec<&str> = p.iter().map(|p| p.setting.as_str()).collect();
        for s in [
            "JWT_APP_SECRET",
            "PUBLIC_URL",
            "JWT_APP_ID",
            "token.lifetime",
        ] {
            assert!(settings.contains(&s), "{s} missing from {settings:?}");
        }
    }

    #[test]
    fn an_unparseable_postgres_url_is_refused_without_echoing_it() {
        let p = problems(load_with(
            &with(
                base(),
                "DATABASE_URL",
                "postgres://bot:pw-hunter2@127.0.0.1:notaport/db",
            ),
            None,
        ));
        assert_eq!(p[0].setting, "DATABASE_URL");
        assert!(!p[0].message.contains("pw-hunter2"), "{}", p[0].message);
    }

    #[test]
    fn a_malformed_discord_token_is_reported() {
        let p = problems(load_with(
            &with(base(), "DISCORD_TOKEN", "not a token"),
            None,
        ));
        assert_eq!(p[0].setting, "DISCORD_TOKEN");
        assert!(!p[0].message.contains("not a token"));
    }

    #[test]
    fn a_default_duration_shorter_than_meet_accepts_is_refused() {
        let p = problems(load_with(
            &with(base(), "MEETBOT_MEETINGS_DEFAULT_DURATION_MINUTES", "3"),
            None,
        ));
        assert_eq!(p[0].setting, "meetings.default_duration_minutes");
    }

    #[test]
    fn missing_xmpp_domain_falls_back_to_the_host_with_a_warning() {
        let vars: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| *k != "XMPP_DOMAIN")
            .collect();
        let c = load_with(&vars, None).unwrap();
        assert_eq!(c.jitsi.xmpp_domain, "meet.example.com");
        assert!(c.warnings[0].contains("meet.jitsi"));
    }
}
