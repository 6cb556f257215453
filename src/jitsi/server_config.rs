//! The Jitsi server configuration that makes meetbot's tokens count, printed for the operator
//! (`meetbot jitsi-config`). Secrets are never printed: placeholders say where they come from.

use super::settings::{Algorithm, JitsiSettings, Preset, SigningKey};
use super::token::{issuer, subject};
use std::fmt::Write as _;

/// Placeholder printed where the shared secret belongs.
pub const SECRET_PLACEHOLDER: &str = "<the value of JWT_APP_SECRET>";

/// Prosody, jicofo and docker-jitsi-meet settings matching `settings`, with the warnings that matter.
pub fn render(settings: &JitsiSettings) -> String {
    match settings.preset {
        Preset::Jaas => render_jaas(settings),
        Preset::SelfHosted => render_self_hosted(settings),
    }
}

fn render_jaas(s: &JitsiSettings) -> String {
    let app = s.tenant.as_deref().unwrap_or("<your AppID>");
    let kid = match &s.key {
        SigningKey::Rsa { kid, .. } => kid.as_str(),
        SigningKey::Hmac(_) => "<AppID>/<key id>",
    };
    let mut out = String::new();
    let _ = writeln!(out, "# 8x8 Jitsi as a Service (JaaS)");
    let _ = writeln!(
        out,
        "# There is no server to configure. In the JaaS console:"
    );
    let _ = writeln!(
        out,
        "#  - upload the public half of JWT_PRIVATE_KEY_FILE as an API key; its id must be the part of"
    );
    let _ = writeln!(out, "#    the kid after the slash (kid here: {kid})");
    let _ = writeln!(
        out,
        "#  - AppID: {app} (it is the tenant, `sub`, and the kid's prefix)"
    );
    let _ = writeln!(
        out,
        "# Tokens: RS256, iss \"chat\", aud \"jitsi\", sub \"{app}\", string moderator and features."
    );
    let _ = writeln!(out, "# Meeting links: https://8x8.vc/{app}/<room>");
    out
}

fn render_self_hosted(s: &JitsiSettings) -> String {
    let domain = &s.xmpp_domain;
    let iss = issuer(s);
    let sub = subject(s);
    let rs256 = s.algorithm == Algorithm::Rs256;
    let mut muc_modules = vec!["token_verification", "token_affiliation"];
    if s.lobby_bypass_for_moderators {
        muc_modules.push("token_lobby_bypass");
    }

    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(w, "# Jitsi server settings for meetbot's tokens");
    let _ = writeln!(w);

    let _ = writeln!(w, "## Prosody: /etc/prosody/conf.avail/<host>.cfg.lua");
    let _ = writeln!(w, "VirtualHost \"{domain}\"");
    let _ = writeln!(w, "    authentication = \"token\"");
    let _ = writeln!(w, "    app_id = \"{}\"", s.app_id);
    if rs256 {
        let _ = writeln!(
            w,
            "    -- RS256: no app_secret; Prosody fetches <sha256 of the kid>.pem from the key server"
        );
        let _ = writeln!(
            w,
            "    asap_key_server = \"<https URL serving your public keys>\""
        );
    } else {
        let _ = writeln!(w, "    app_secret = \"{SECRET_PLACEHOLDER}\"");
    }
    let _ = writeln!(w, "    allow_empty_token = false");
    let _ = writeln!(w, "    asap_accepted_issuers = {{ \"{iss}\" }}");
    if s.audience == "jitsi" {
        let _ = writeln!(
            w,
            "    -- any aud is accepted by default; to restrict: asap_accepted_audiences = {{ \"jitsi\" }}"
        );
    } else {
        let _ = writeln!(w, "    asap_accepted_audiences = {{ \"{}\" }}", s.audience);
    }
    let _ = writeln!(
        w,
        "    enable_domain_verification = true  -- tokens carry sub = \"{sub}\""
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "-- the conference MUC (docker-jitsi-meet: XMPP_MUC_DOMAIN, muc.meet.jitsi by default)"
    );
    let _ = writeln!(w, "Component \"conference.{domain}\" \"muc\"");
    let _ = writeln!(w, "    modules_enabled = {{");
    for m in &muc_modules {
        let comment = match *m {
            "token_verification" => "checks the room claim on join",
            "token_affiliation" => "moderator from context.user.affiliation / moderator",
            // jitsi-contrib/prosody-plugins token_lobby_bypass/mod_token_lobby_bypass.lua reads
            // session.jitsi_meet_context_user['lobby_bypass'] == true.
            _ => "contrib module: context.user.lobby_bypass = true (boolean) skips the lobby",
        };
        let _ = writeln!(w, "        \"{m}\"; -- {comment}");
    }
    let _ = writeln!(w, "    }}");
    // jitsi-meet resources/prosody-plugins/mod_muc_wait_for_host.lua reads this with
    // get_option_boolean('wait_for_host_disable_auto_owners', false) and, without it, sets every
    // token user's affiliation to owner on muc-occupant-joined, after token_affiliation's pre-join
    // decision. Harmless where the module is not loaded.
    let _ = writeln!(
        w,
        "    -- if muc_wait_for_host is loaded (Jitsi's handbook setup for token auth with guests), it"
    );
    let _ = writeln!(
        w,
        "    -- makes every token user owner as they join, over token_affiliation's member, unless:"
    );
    let _ = writeln!(w, "    wait_for_host_disable_auto_owners = true");
    let _ = writeln!(w);

    let _ = writeln!(w, "## jicofo: /etc/jitsi/jicofo/jicofo.conf (pick one)");
    let _ = writeln!(
        w,
        "# A) Every participant with a token is moderator (the seed article's setup):"
    );
    let _ = writeln!(w, "jicofo {{");
    let _ = writeln!(w, "  authentication {{");
    let _ = writeln!(w, "    enabled = true");
    let _ = writeln!(w, "    type = JWT");
    let _ = writeln!(w, "    login-url = \"{domain}\"");
    let _ = writeln!(w, "  }}");
    let _ = writeln!(w, "}}");
    let _ = writeln!(
        w,
        "# B) Moderators from Discord roles (meetbot's moderator policy; needs token_affiliation above):"
    );
    let _ = writeln!(w, "jicofo {{");
    let _ = writeln!(w, "  authentication {{");
    let _ = writeln!(w, "    enabled = false");
    let _ = writeln!(w, "  }}");
    let _ = writeln!(w, "  conference {{");
    let _ = writeln!(w, "    enable-auto-owner = false");
    let _ = writeln!(w, "  }}");
    let _ = writeln!(w, "}}");
    let _ = writeln!(w);

    let _ = writeln!(w, "## docker-jitsi-meet: .env");
    let _ = writeln!(w, "ENABLE_AUTH=1");
    let _ = writeln!(w, "ENABLE_GUESTS=0");
    let _ = writeln!(w, "AUTH_TYPE=jwt");
    let _ = writeln!(w, "JWT_APP_ID={}", s.app_id);
    if rs256 {
        let _ = writeln!(w, "JWT_ASAP_KEYSERVER=<https URL serving your public keys>");
    } else {
        let _ = writeln!(w, "JWT_APP_SECRET={SECRET_PLACEHOLDER}");
    }
    let _ = writeln!(w, "JWT_ACCEPTED_ISSUERS={iss}");
    let _ = writeln!(w, "JWT_ACCEPTED_AUDIENCES={}", s.audience);
    let _ = writeln!(w, "JWT_ALLOW_EMPTY=0");
    let _ = writeln!(w, "JWT_ENABLE_DOMAIN_VERIFICATION=1");
    let _ = writeln!(w, "XMPP_DOMAIN={domain}");
    // Names below are read by docker-jitsi-meet's templates: prosody/rootfs/defaults/conf.d/
    // jitsi-meet.cfg.lua (XMPP_MUC_MODULES joined into the conference MUC's modules_enabled, after
    // which it adds token_verification itself; WAIT_FOR_HOST_DISABLE_AUTO_OWNERS, toBool, prints
    // wait_for_host_disable_auto_owners = true) and jicofo/rootfs/defaults/jicofo.conf
    // (JICOFO_ENABLE_AUTH defaults to ENABLE_AUTH and guards the authentication block;
    // ENABLE_AUTO_OWNER sets conference.enable-auto-owner). token_affiliation has no switch of its own.
    // Comments go on lines of their own: not every .env reader strips a `# ...` after a value.
    let _ = writeln!(w, "# the image adds token_verification itself");
    let _ = writeln!(w, "XMPP_MUC_MODULES={}", muc_modules[1..].join(","));
    let _ = writeln!(
        w,
        "# else muc_wait_for_host, when listed above, makes every token user owner"
    );
    let _ = writeln!(w, "WAIT_FOR_HOST_DISABLE_AUTO_OWNERS=1");
    let _ = writeln!(w, "ENABLE_AUTO_OWNER=0");
    let _ = writeln!(
        w,
        "# jicofo without JWT auth (unset, it follows ENABLE_AUTH)"
    );
    let _ = writeln!(w, "JICOFO_ENABLE_AUTH=0");
    if s.lobby_bypass_for_moderators {
        let _ = writeln!(w, "ENABLE_LOBBY=1");
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## Warnings");
    let _ = writeln!(
        w,
        "- Keep allow_empty_token = false (JWT_ALLOW_EMPTY=0): otherwise anyone without a token can create rooms."
    );
    let _ = writeln!(
        w,
        "- With jicofo `authentication {{ enabled = true, type = JWT }}` every token user becomes owner,"
    );
    let _ = writeln!(
        w,
        "  whatever the claims say. For moderators from Discord roles enable token_affiliation in the"
    );
    let _ = writeln!(
        w,
        "  conference MUC's modules_enabled and turn off jicofo's auto-owner"
    );
    let _ = writeln!(
        w,
        "  (jicofo {{ conference {{ enable-auto-owner = false }} }}), as above."
    );
    let _ = writeln!(
        w,
        "- With muc_wait_for_host on the conference MUC every token user becomes owner as they join,"
    );
    let _ = writeln!(
        w,
        "  after token_affiliation said member, unless wait_for_host_disable_auto_owners = true is set"
    );
    let _ = writeln!(
        w,
        "  on that component (docker-jitsi-meet: WAIT_FOR_HOST_DISABLE_AUTO_OWNERS=1), as above."
    );
    if s.lobby_bypass_for_moderators {
        let _ = writeln!(
            w,
            "- Lobby bypass needs the contrib token_lobby_bypass module (from jitsi-contrib/prosody-plugins)"
        );
        let _ = writeln!(
            w,
            "  on the conference MUC; it reads the boolean context.user.lobby_bypass = true."
        );
    }
    match &s.tenant {
        Some(tenant) => {
            let _ = writeln!(
                w,
                "- Tokens carry sub = \"{tenant}\" (the tenant): links are {}{tenant}/<room>; the server",
                s.public_url
            );
            let _ = writeln!(
                w,
                "  must serve that tenant as a subdomain of {domain} (check your multi-tenant setup)."
            );
        }
        None => {
            let _ = writeln!(
                w,
                "- Tokens carry sub = \"{domain}\": it must be the XMPP domain (docker-jitsi-meet: meet.jitsi),"
            );
            let _ = writeln!(
                w,
                "  not the public host name, or joining fails once domain verification is on."
            );
        }
    }
    let _ = writeln!(
        w,
        "- Jitsi allows no clock skew: keep the server's clock in sync (meetbot back-dates nbf by {}s).",
        s.nbf_backdate.as_secs()
    );
    o
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn prosody_block_uses_token_auth_and_never_prints_the_secret() {
        let s = JitsiSettings::for_tests("do-not-print-me-0123456789");
        let text = render(&s);
        assert!(!text.contains("do-not-print-me"));
        assert!(text.contains("VirtualHost \"meet.jitsi\""));
        assert!(text.contains("authentication = \"token\""));
        assert!(text.contains("app_id = \"meetbot\""));
        assert!(text.contains(&format!("app_secret = \"{SECRET_PLACEHOLDER}\"")));
        assert!(text.contains("allow_empty_token = false"));
        assert!(text.contains("asap_accepted_issuers = { \"meetbot\" }"));
        assert!(text.contains("JWT_APP_SECRET=<the value of JWT_APP_SECRET>"));
        assert!(text.contains("ENABLE_AUTH=1\n"));
        assert!(text.contains("AUTH_TYPE=jwt\n"));
        assert!(text.contains("JWT_ALLOW_EMPTY=0\n"));
    }

    #[test]
    fn accepted_audiences_are_set_only_for_a_non_default_audience() {
        let mut s = JitsiSettings::for_tests("k");
        assert!(!render(&s).contains("\n    asap_accepted_audiences"));
        s.audience = "meetbot-prod".into();
        let text = render(&s);
        assert!(text.contains("\n    asap_accepted_audiences = { \"meetbot-prod\" }"));
        assert!(text.contains("JWT_ACCEPTED_AUDIENCES=meetbot-prod\n"));
    }

    #[test]
    fn role_based_moderators_need_token_affiliation_and_no_auto_owner() {
        let text = render(&JitsiSettings::for_tests("k"));
        assert!(text.contains("\"token_affiliation\";"));
        assert!(text.contains("enable-auto-owner = false"));
        assert!(text.contains("    enabled = true\n    type = JWT\n    login-url = \"meet.jitsi\""));
        assert!(text.contains("XMPP_MUC_MODULES=token_affiliation\n"));
        assert!(text.contains("ENABLE_AUTO_OWNER=0"));
        assert!(text.contains("every token user becomes owner"));
        assert!(!text.contains("token_lobby_bypass"));
    }

    /// The lines after `heading`, up to the next blank line.
    pub(in crate::jitsi) fn block_after<'a>(text: &'a str, heading: &str) -> &'a str {
        let rest = text
            .split_once(heading)
            .unwrap_or_else(|| panic!("no {heading:?} in:\n{text}"))
            .1;
        rest.split("\n\n").next().unwrap_or(rest)
    }

    #[test]
    fn wait_for_host_auto_owners_are_turned_off_in_prosody_and_docker_forms() {
        let text = render(&JitsiSettings::for_tests("k"));
        let component = block_after(&text, "Component \"conference.meet.jitsi\" \"muc\"\n");
        assert!(
            component
                .lines()
                .any(|l| l == "    wait_for_host_disable_auto_owners = true"),
            "{component}"
        );
        assert!(
            text.contains("\nWAIT_FOR_HOST_DISABLE_AUTO_OWNERS=1\n"),
            "{text}"
        );
        assert!(text.contains("\nJICOFO_ENABLE_AUTH=0\n"), "{text}");
        assert!(text.contains("muc_wait_for_host"), "{text}");
        assert!(!text.contains("(check)"), "{text}");
    }

    #[test]
    fn docker_env_lines_carry_no_inline_comments() {
        let text = render(&JitsiSettings::for_tests("k"));
        let env = block_after(&text, "## docker-jitsi-meet: .env\n");
        for line in env.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.split_once('=').expect(line);
            assert!(
                name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{line}"
            );
            assert!(!value.contains('#'), "{line}");
        }
    }

    #[test]
    fn lobby_bypass_adds_its_module() {
        let mut s = JitsiSettings::for_tests("k");
        s.lobby_bypass_for_moderators = true;
        let text = render(&s);
        assert!(text.contains("\"token_lobby_bypass\";"));
        assert!(text.contains("XMPP_MUC_MODULES=token_affiliation,token_lobby_bypass\n"));
    }

    #[test]
    fn rs256_points_at_a_key_server_instead_of_a_secret() {
        let mut s = JitsiSettings::for_tests("k");
        s.algorithm = Algorithm::Rs256;
        s.key = SigningKey::Rsa {
            private_pem: Secret::new("PRIVATE-PEM-BODY"),
            kid: "meetbot/1".into(),
        };
        let text = render(&s);
        assert!(text.contains("asap_key_server"));
        assert!(text.contains("JWT_ASAP_KEYSERVER="));
        assert!(!text.contains("app_secret ="));
        assert!(!text.contains("PRIVATE-PEM-BODY"));
    }

    #[test]
    fn tenant_changes_the_sub_advice() {
        let mut s = JitsiSettings::for_tests("k");
        assert!(render(&s).contains("sub = \"meet.jitsi\": it must be the XMPP domain"));
        s.tenant = Some("acme".into());
        assert!(render(&s).contains("sub = \"acme\" (the tenant)"));
    }

    #[test]
    fn jaas_gets_a_short_note_instead_of_server_config() {
        let s = JitsiSettings::for_tests_jaas("PEM-BODY", "vpaas-magic-cookie-abc", "k1");
        let text = render(&s);
        assert!(text.contains("JaaS"));
        assert!(text.contains("vpaas-magic-cookie-abc/k1"));
        assert!(text.contains("https://8x8.vc/vpaas-magic-cookie-abc/<room>"));
        assert!(!text.contains("VirtualHost"));
        assert!(!text.contains("PEM-BODY"));
    }
}
