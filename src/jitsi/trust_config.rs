//! The lines a server's admin pastes into their own Jitsi so it trusts meetbot's keys for that server:
//! Prosody's VirtualHost options and the docker-jitsi-meet `.env` equivalents (names checked against
//! docker-jitsi-meet's prosody template; see the README, One meetbot for many servers).

use std::fmt::Write as _;

/// What a server's Prosody must be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustLines<'a> {
    /// The site's XMPP domain (`hosts.domain`), the VirtualHost to change.
    pub xmpp_domain: &'a str,
    /// The `iss` meetbot puts in this server's tokens; also used as `app_id`.
    pub issuer: &'a str,
    /// The `aud` meetbot puts in this server's tokens.
    pub audience: &'a str,
    /// meetbot's key URL for this server, without a trailing slash.
    pub asap_key_server: &'a str,
    /// meetbot's JWKS for this server, for `cache_keys_url`.
    pub jwks_url: &'a str,
}

/// Prosody configuration (the site's `/etc/prosody/conf.d/<domain>.cfg.lua`).
pub fn prosody(t: &TrustLines<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "VirtualHost \"{}\"", t.xmpp_domain);
    let _ = writeln!(out, "    authentication = \"token\"");
    let _ = writeln!(out, "    app_id = \"{}\"", t.issuer);
    let _ = writeln!(out, "    asap_key_server = \"{}\"", t.asap_key_server);
    let _ = writeln!(out, "    asap_accepted_issuers = {{ \"{}\" }}", t.issuer);
    let _ = writeln!(
        out,
        "    asap_accepted_audiences = {{ \"{}\" }}",
        t.audience
    );
    let _ = writeln!(
        out,
        "    -- optional, Jitsi also reads the same keys as a JWKS:\n    -- cache_keys_url = \"{}\"",
        t.jwks_url
    );
    let _ = writeln!(
        out,
        "    -- with asap_key_server set, app_secret is no longer used: tokens from other issuers that\n    \
         -- sign with it stop working on this host"
    );
    out
}

/// docker-jitsi-meet `.env` lines (then recreate the prosody container).
pub fn docker_env(t: &TrustLines<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ENABLE_AUTH=1");
    let _ = writeln!(out, "AUTH_TYPE=jwt");
    let _ = writeln!(out, "JWT_APP_ID={}", t.issuer);
    let _ = writeln!(out, "JWT_ASAP_KEYSERVER={}", t.asap_key_server);
    let _ = writeln!(out, "JWT_ACCEPTED_ISSUERS={}", t.issuer);
    let _ = writeln!(out, "JWT_ACCEPTED_AUDIENCES={}", t.audience);
    let _ = writeln!(
        out,
        "# JWT_APP_SECRET is not used once JWT_ASAP_KEYSERVER is set; docker-jitsi-meet has no \
         variable for cache_keys_url"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> TrustLines<'static> {
        TrustLines {
            xmpp_domain: "meet.jitsi",
            issuer: "meetbot-42",
            audience: "jitsi",
            asap_key_server: "https://bot.example/asap/42",
            jwks_url: "https://bot.example/asap/42/jwks.json",
        }
    }

    #[test]
    fn prosody_lines_name_the_key_server_issuer_and_audience() {
        let p = prosody(&lines());
        for want in [
            "VirtualHost \"meet.jitsi\"",
            "authentication = \"token\"",
            "app_id = \"meetbot-42\"",
            "asap_key_server = \"https://bot.example/asap/42\"",
            "asap_accepted_issuers = { \"meetbot-42\" }",
            "asap_accepted_audiences = { \"jitsi\" }",
        ] {
            assert!(p.contains(want), "{want} missing from\n{p}");
        }
        assert!(
            !p.contains("asap/42/\""),
            "no trailing slash: Prosody adds one"
        );
    }

    #[test]
    fn docker_lines_use_docker_jitsi_meets_variable_names() {
        let d = docker_env(&lines());
        for want in [
            "AUTH_TYPE=jwt",
            "JWT_APP_ID=meetbot-42",
            "JWT_ASAP_KEYSERVER=https://bot.example/asap/42",
            "JWT_ACCEPTED_ISSUERS=meetbot-42",
            "JWT_ACCEPTED_AUDIENCES=jitsi",
        ] {
            assert!(d.lines().any(|l| l == want), "{want} missing from\n{d}");
        }
    }
}
