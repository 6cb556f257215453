//! What comes from the environment (after the binary loaded `.env`): `MEETBOT_<SECTION>_<KEY>` overrides of any
//! setting of the file, and the variables read by name — the secrets and the names docker-jitsi-meet's `.env`
//! already uses, so values can be copied across.

use super::{Problem, Sources};
use crate::jitsi::{Algorithm, Preset, SigningKey};
use crate::secret::Secret;
use std::path::Path;

/// The placeholder secret from Jitsi's examples; a server configured with it is open to anyone who read them.
const PLACEHOLDER_SECRETS: &[&str] = &[
    "your_app_secret",
    "my_jitsi_app_secret",
    "changeme",
    "secret",
];

/// Reads the process environment (after `.env` was loaded by the binary).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Every variable read by name (empty counts as unset). The non-secret ones win over the file's setting of the same
/// meaning; the secrets have no file setting at all.
pub(super) struct Vars {
    pub public_url: Option<String>,
    pub app_id: Option<String>,
    pub xmpp_domain: Option<String>,
    pub app_secret: Option<Secret>,
    pub kid: Option<String>,
    pub private_key_file: Option<String>,
    pub discord_token: Option<Secret>,
    pub discord_api_base: Option<String>,
    /// May hold a password; `validate` wraps it in a [`Secret`] once it has judged its shape.
    pub database_url: Option<String>,
    /// The Bearer token Prosody's event_sync component sends.
    pub jitsi_events_token: Option<Secret>,
    /// 8x8's webhook signing secret.
    pub jaas_webhook_secret: Option<Secret>,
    /// `MEETBOT_MASTER_KEY`, parsed (an error is a configuration problem: never a plaintext fallback).
    pub master_key: Result<Option<crate::seal::MasterKey>, crate::seal::SealError>,
}

impl Vars {
    pub(super) fn read(sources: &Sources<'_>) -> Vars {
        Vars {
            public_url: sources.var("PUBLIC_URL"),
            app_id: sources.var("JWT_APP_ID"),
            xmpp_domain: sources.var("XMPP_DOMAIN"),
            app_secret: sources.var("JWT_APP_SECRET").map(Secret::new),
            kid: sources.var("JWT_KID"),
            private_key_file: sources.var("JWT_PRIVATE_KEY_FILE"),
            discord_token: sources.var("DISCORD_TOKEN").map(Secret::new),
            discord_api_base: sources.var("DISCORD_API_BASE"),
            database_url: sources.var("DATABASE_URL"),
            jitsi_events_token: sources.var("JITSI_EVENTS_TOKEN").map(Secret::new),
            jaas_webhook_secret: sources.var("JAAS_WEBHOOK_SECRET").map(Secret::new),
            master_key: crate::seal::MasterKey::from_env(|k| sources.var(k)),
        }
    }
}

/// `MEETBOT_<SECTION>_<KEY>` overrides any setting of the file, typed by the setting's default. Only keys present in
/// the merged table can be overridden, so a setting needs a default in `config/meetbot.toml` to get its variable.
pub(super) fn apply_overrides(
    table: &mut toml::Table,
    sources: &Sources<'_>,
    problems: &mut Vec<Problem>,
) {
    for (section, value) in table.iter_mut() {
        let toml::Value::Table(section_table) = value else {
            continue;
        };
        for (key, current) in section_table.iter_mut() {
            let var = format!("MEETBOT_{}_{}", section.to_uppercase(), key.to_uppercase());
            let Some(text) = (sources.env)(&var) else {
                continue;
            };
            match typed_like(current, &text) {
                Ok(v) => *current = v,
                Err(why) => problems.push(Problem {
                    setting: var,
                    message: why,
                }),
            }
        }
    }
}

fn typed_like(current: &toml::Value, text: &str) -> Result<toml::Value, String> {
    use toml::Value as V;
    let text = text.trim();
    Ok(match current {
        V::String(_) => V::String(text.to_string()),
        V::Integer(_) => V::Integer(
            text.parse()
                .map_err(|_| format!("expected a whole number, got {text:?}"))?,
        ),
        V::Float(_) => V::Float(
            text.parse()
                .map_err(|_| format!("expected a number, got {text:?}"))?,
        ),
        V::Boolean(_) => V::Boolean(
            parse_bool(text).ok_or_else(|| format!("expected true or false, got {text:?}"))?,
        ),
        V::Array(_) => V::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| V::String(s.to_string()))
                .collect(),
        ),
        V::Table(_) => {
            let mut t = toml::Table::new();
            for pair in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("expected name=true,name=false pairs, got {pair:?}"))?;
                let b = parse_bool(v.trim())
                    .ok_or_else(|| format!("expected true or false for {k}, got {v:?}"))?;
                t.insert(k.trim().to_string(), V::Boolean(b));
            }
            V::Table(t)
        }
        V::Datetime(_) => return Err("date-time settings cannot be overridden".into()),
    })
}

/// The spellings of a yes or no accepted from the environment and in `token.prejoin`.
pub(super) fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The signing key the algorithm needs: JWT_APP_SECRET for HS256, JWT_KID and the PEM at JWT_PRIVATE_KEY_FILE for
/// RS256. A problem never quotes the secret.
pub(super) fn signing_key(
    preset: Preset,
    algorithm: Algorithm,
    vars: &Vars,
    problems: &mut Vec<Problem>,
) -> Option<SigningKey> {
    match algorithm {
        Algorithm::Hs256 => {
            let Some(secret) = vars.app_secret.clone() else {
                problems.push(Problem {
                    setting: "JWT_APP_SECRET".into(),
                    message: "not set; put the `app_secret` of your Prosody VirtualHost in the environment (docker-jitsi-meet: JWT_APP_SECRET in its .env). Generate one with `openssl rand -hex 32`".into(),
                });
                return None;
            };
            if PLACEHOLDER_SECRETS
                .iter()
                .any(|p| secret.expose().eq_ignore_ascii_case(p))
            {
                problems.push(Problem {
                    setting: "JWT_APP_SECRET".into(),
                    message: "is the placeholder from Jitsi's examples; anyone who read them can mint tokens for your server. Set a random secret on both sides (`openssl rand -hex 32`)".into(),
                });
                return None;
            }
            if secret.len() < 32 {
                problems.push(Problem {
                    setting: "JWT_APP_SECRET".into(),
                    message: format!(
                        "is {} bytes; an HS256 secret needs at least 32 bytes to resist guessing. Generate one with `openssl rand -hex 32` and set it on the Jitsi server too",
                        secret.len()
                    ),
                });
                return None;
            }
            Some(SigningKey::Hmac(secret))
        }
        Algorithm::Rs256 => {
            let kid = vars.kid.clone();
            if kid.is_none() {
                problems.push(Problem {
                    setting: "JWT_KID".into(),
                    message: if preset == Preset::Jaas {
                        "not set; JaaS needs the key id vpaas-magic-cookie-<id>/<keyid> from its console".into()
                    } else {
                        "not set; RS256 needs the key id under which the Jitsi server finds the public key".into()
                    },
                });
            }
            let Some(file) = &vars.private_key_file else {
                problems.push(Problem {
                    setting: "JWT_PRIVATE_KEY_FILE".into(),
                    message: "not set; RS256 needs the path of the PEM private key".into(),
                });
                return None;
            };
            let pem = match std::fs::read_to_string(Path::new(file)) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(Problem {
                        setting: "JWT_PRIVATE_KEY_FILE".into(),
                        message: format!("cannot read {file}: {e}"),
                    });
                    return None;
                }
            };
            if !pem.contains("PRIVATE KEY-----")
                || jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).is_err()
            {
                problems.push(Problem {
                    setting: "JWT_PRIVATE_KEY_FILE".into(),
                    message: format!("{file} is not an RSA private key in PEM form (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"),
                });
                return None;
            }
            Some(SigningKey::Rsa {
                private_pem: Secret::new(pem),
                kid: kid?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::*;
    use crate::meeting::policy::RoleRef;
    use std::time::Duration;

    #[test]
    fn missing_secret_names_the_variable_and_the_fix() {
        let vars: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| *k != "JWT_APP_SECRET")
            .collect();
        let p = problems(load_with(&vars, None));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].setting, "JWT_APP_SECRET");
        assert!(p[0].message.contains("openssl rand -hex 32"));
    }

    #[test]
    fn the_placeholder_secret_from_jitsi_examples_is_refused() {
        let p = problems(load_with(
            &with(base(), "JWT_APP_SECRET", "your_app_secret"),
            None,
        ));
        assert_eq!(p[0].setting, "JWT_APP_SECRET");
        assert!(p[0].message.contains("placeholder"));
    }

    #[test]
    fn a_short_hs256_secret_is_refused_without_echoing_it() {
        let err =
            load_with(&with(base(), "JWT_APP_SECRET", "tooshort-but-secret"), None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("JWT_APP_SECRET: is 19 bytes"), "{text}");
        assert!(!text.contains("tooshort-but-secret"));
    }

    #[test]
    fn rs256_with_an_unreadable_key_file_names_the_file() {
        let vars = with(
            with(
                with(base(), "MEETBOT_TOKEN_ALGORITHM", "RS256"),
                "JWT_KID",
                "k1",
            ),
            "JWT_PRIVATE_KEY_FILE",
            "/nonexistent/key.pem",
        );
        let p = problems(load_with(&vars, None));
        assert_eq!(p[0].setting, "JWT_PRIVATE_KEY_FILE");
        assert!(p[0].message.contains("/nonexistent/key.pem"));
    }

    #[test]
    fn rs256_with_a_public_key_instead_of_a_private_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pub.pem");
        std::fs::write(
            &f,
            "-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let path: &'static str = Box::leak(f.display().to_string().into_boxed_str());
        let vars = with(
            with(
                with(base(), "MEETBOT_TOKEN_ALGORITHM", "RS256"),
                "JWT_KID",
                "k1",
            ),
            "JWT_PRIVATE_KEY_FILE",
            path,
        );
        let p = problems(load_with(&vars, None));
        assert!(p[0].message.contains("not an RSA private key"), "{:?}", p);
    }

    #[test]
    fn environment_overrides_are_typed_by_the_default() {
        let vars = with(
            with(
                with(base(), "MEETBOT_TOKEN_LIFETIME", "90m"),
                "MEETBOT_DISCORD_MODERATOR_ROLES",
                "Staff, 123456789012345678",
            ),
            "MEETBOT_TOKEN_MODERATOR_FEATURES",
            "recording=true,livestreaming=false",
        );
        let c = load_with(&vars, None).unwrap();
        assert_eq!(c.jitsi.lifetime, Duration::from_secs(90 * 60));
        assert_eq!(
            c.discord.policy.default_policy().moderator_roles,
            vec![
                RoleRef::Name("Staff".into()),
                RoleRef::Id(123456789012345678)
            ]
        );
        assert_eq!(c.jitsi.moderator_features.get("recording"), Some(&true));
        assert_eq!(
            c.jitsi.moderator_features.get("livestreaming"),
            Some(&false)
        );
        let p = problems(load_with(
            &with(base(), "MEETBOT_DISCORD_INVITEE_CAP", "lots"),
            None,
        ));
        assert_eq!(p[0].setting, "MEETBOT_DISCORD_INVITEE_CAP");
    }
}
