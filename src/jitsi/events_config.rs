//! The part of `meetbot jitsi-config` that makes Jitsi report its rooms to meetbot (live status):
//! jitsi-contrib's `event_sync` Prosody component for a self-hosted Jitsi, in the Debian and the
//! docker-jitsi-meet forms, or the JaaS webhook for 8x8. Secrets are never printed.
//!
//! Facts from jitsi-contrib/prosody-plugins `event_sync/mod_event_sync_component.lua` and
//! docker-jitsi-meet's prosody image (see the comments where each is used).

use super::settings::{JitsiSettings, Preset};
use std::fmt::Write as _;
use std::net::SocketAddr;
use url::Url;

/// Placeholder printed where the events token belongs.
pub const EVENTS_TOKEN_PLACEHOLDER: &str = "<the value of JITSI_EVENTS_TOKEN>";

/// The port shown when no listener is configured yet (the README's example).
const EXAMPLE_PORT: u16 = 8080;

/// What the bot's settings say about where Jitsi's events are received.
#[derive(Debug, Clone, Default)]
pub struct EventsTarget {
    /// `http.listen`; `None`: the listener is off.
    pub listen: Option<SocketAddr>,
    /// `http.public_url`: where Jitsi servers reach the listener, when set.
    pub public_url: Option<Url>,
    /// Whether `JITSI_EVENTS_TOKEN` is set.
    pub events_token: bool,
    /// Whether `JAAS_WEBHOOK_SECRET` is set.
    pub jaas_secret: bool,
}

impl EventsTarget {
    fn port(&self) -> u16 {
        self.listen.map_or(EXAMPLE_PORT, |a| a.port())
    }

    fn public_base(&self) -> Option<String> {
        self.public_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
    }

    /// The base URL a Prosody on a host reaches meetbot at: the public URL when set, else the
    /// listener's own address when it names one, else a placeholder for this machine's address.
    fn host_base(&self) -> String {
        if let Some(base) = self.public_base() {
            return base;
        }
        match self.listen {
            Some(a) if !a.ip().is_unspecified() => format!("http://{a}"),
            _ => format!("http://<meetbot's address>:{}", self.port()),
        }
    }

    /// The base URL a docker-jitsi-meet Prosody reaches meetbot at: the public URL when set,
    /// else meetbot's container by its service name on the `meet.jitsi` network.
    fn docker_base(&self) -> String {
        self.public_base()
            .unwrap_or_else(|| format!("http://meetbot:{}", self.port()))
    }
}

/// The live-status section of `meetbot jitsi-config`, with its warnings.
pub fn render(settings: &JitsiSettings, target: &EventsTarget) -> String {
    match settings.preset {
        Preset::Jaas => render_jaas(target),
        Preset::SelfHosted => render_event_sync(settings, target),
    }
}

/// One `Component` block; `muc_comment` explains where the MUC's name comes from.
fn component(w: &mut String, host: &str, muc: &str, muc_comment: &str, base: &str) {
    let _ = write!(
        w,
        "Component \"esync.{host}\" \"event_sync_component\"\n    \
         muc_component = \"{muc}\" -- {muc_comment}\n    \
         api_prefix = \"{base}/jitsi\"\n    \
         api_headers = {{ [\"Authorization\"] = \"Bearer {EVENTS_TOKEN_PLACEHOLDER}\"; }}\n"
    );
}

fn render_event_sync(s: &JitsiSettings, t: &EventsTarget) -> String {
    let domain = &s.xmpp_domain;
    let mut o = String::new();
    let w = &mut o;
    w.push_str(
        "## Live status: Prosody's event_sync component\n\
         # jitsi-contrib/prosody-plugins event_sync/mod_event_sync_component.lua POSTs room and occupant\n\
         # events to meetbot. The Bearer token is the one in meetbot's JITSI_EVENTS_TOKEN (never printed).\n\n",
    );
    // The module `module:require`s Jitsi's util.lib.lua, which lives in that folder.
    let _ = write!(
        w,
        "### Debian / Ubuntu (jitsi-meet packages)\n\
         # 1. wget -O /usr/share/jitsi-meet/prosody-plugins/mod_event_sync_component.lua \\\n\
         #      https://raw.githubusercontent.com/jitsi-contrib/prosody-plugins/main/event_sync/mod_event_sync_component.lua\n\
         # 2. append to /etc/prosody/conf.avail/{domain}.cfg.lua, then: systemctl restart prosody\n"
    );
    component(
        w,
        domain,
        &format!("conference.{domain}"),
        "the conference MUC's Component name, exactly",
        &t.host_base(),
    );
    // docker-jitsi-meet's prosody Dockerfile unpacks jitsi-contrib/prosody-plugins into
    // /prosody-plugins-contrib (in plugin_paths; its event_sync_component link holds the module);
    // no variable of its templates adds a Component, but its config script copies /config (the
    // ${CONFIG}/prosody/config volume) into the live configuration, whose prosody.cfg.lua ends
    // with Include "conf.d/*.cfg.lua". XMPP_MUC_DOMAIN defaults to muc.meet.jitsi in the template.
    w.push_str(
        "\n### docker-jitsi-meet\n\
         # The prosody image already holds the module (/prosody-plugins-contrib); no .env variable adds a\n\
         # Component. Put these lines in ${CONFIG}/prosody/config/conf.d/event_sync.cfg.lua (CONFIG from\n\
         # docker-jitsi-meet's .env, ~/.jitsi-meet-cfg by default), run meetbot on the meet.jitsi network\n\
         # as service \"meetbot\", then: docker compose restart prosody\n",
    );
    component(
        w,
        domain,
        "muc.meet.jitsi",
        "XMPP_MUC_DOMAIN when set",
        &t.docker_base(),
    );
    // The default of breakout_component, `"breakout." .. muc_domain_base`, is evaluated at load
    // whether or not breakout_component is set: a nil global is a Lua error there.
    let _ = write!(
        w,
        "\n## Live status: warnings\n\
         - muc_component must name a MUC host Prosody has. With a name no host has, event_sync waits for\n  \
         that host forever: it sends nothing and logs only at debug level. After the restart Prosody's\n  \
         log must show \"MUC module loaded for conference.{domain}\" (docker: muc.meet.jitsi) at info level;\n  \
         without that line the name is wrong.\n\
         - event_sync reads the global muc_mapper_domain_base (Jitsi's packages and the docker image set\n  \
         it); without it the module fails to load, even with breakout_component set.\n\
         - event_sync never retries a timeout or a 4xx: meetbot answers at once and only a failing database\n  \
         gets a 503, which it retries 3 times, 1 s apart.\n"
    );
    match t.listen {
        None => {
            let _ = write!(
                w,
                "- http.listen is empty: nothing receives these events. Set MEETBOT_HTTP_LISTEN (e.g. 0.0.0.0:{EXAMPLE_PORT}\n  \
                 inside a container, or an internal address) and run jitsi-config again.\n"
            );
        }
        Some(a) if a.ip().is_loopback() => {
            let _ = write!(
                w,
                "- http.listen is {a}: only a Prosody on this same machine reaches it; a prosody container\n  \
                 cannot. In docker, listen on 0.0.0.0:{} inside meetbot's container on the meet.jitsi network.\n",
                a.port()
            );
        }
        Some(_) => {}
    }
    // Without a listener the token is not kept (the configuration's warning says it is unused).
    if t.listen.is_some() && !t.events_token {
        w.push_str(
            "- JITSI_EVENTS_TOKEN is not set: meetbot answers every event with 404, which event_sync does not\n  \
             retry. Set it in meetbot's environment (`openssl rand -hex 32`) and put the same value above.\n",
        );
    }
    w.push_str(
        "- The token is the only guard: keep the listener on an internal network (docker: meet.jitsi).\n",
    );
    o
}

fn render_jaas(t: &EventsTarget) -> String {
    let base = t
        .public_base()
        .unwrap_or_else(|| "https://<meetbot's public address>".to_string());
    let mut o = format!(
        "## Live status: JaaS webhooks\n\
         # In the JaaS console, Webhooks: add the endpoint {base}/jaas/webhook with the events\n\
         # ROOM_CREATED, PARTICIPANT_JOINED, PARTICIPANT_LEFT and ROOM_DESTROYED, and put the endpoint's\n\
         # secret, whole (it starts with whsec_), in meetbot's JAAS_WEBHOOK_SECRET.\n"
    );
    if t.listen.is_none() {
        o.push_str("- http.listen is empty: nothing receives the webhooks. Set MEETBOT_HTTP_LISTEN behind an https proxy.\n");
    }
    if t.public_url.is_none() {
        o.push_str(
            "- http.public_url is not set: JaaS needs the public https address of the listener.\n",
        );
    }
    if !t.jaas_secret {
        o.push_str("- JAAS_WEBHOOK_SECRET is not set: meetbot answers the webhooks with 404.\n");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jitsi::server_config::tests::block_after as block;

    fn target(listen: &str, token: bool) -> EventsTarget {
        EventsTarget {
            listen: Some(listen.parse().unwrap()),
            public_url: None,
            events_token: token,
            jaas_secret: false,
        }
    }

    #[test]
    fn debian_and_docker_blocks_name_the_component_the_muc_and_the_listener() {
        let s = JitsiSettings::for_tests("k");
        let text = render(&s, &target("10.0.0.5:9000", true));
        let debian = block(&text, "### Debian / Ubuntu (jitsi-meet packages)\n");
        assert!(debian.contains("Component \"esync.meet.jitsi\" \"event_sync_component\"\n"));
        assert!(debian.contains("    muc_component = \"conference.meet.jitsi\""));
        assert!(debian.contains("    api_prefix = \"http://10.0.0.5:9000/jitsi\"\n"));
        let docker = block(&text, "### docker-jitsi-meet\n");
        assert!(docker.contains("    muc_component = \"muc.meet.jitsi\""));
        assert!(docker.contains("    api_prefix = \"http://meetbot:9000/jitsi\"\n"));
        assert!(docker.contains("conf.d/event_sync.cfg.lua"));
        for b in [debian, docker] {
            assert!(b.contains(
                "    api_headers = { [\"Authorization\"] = \"Bearer <the value of JITSI_EVENTS_TOKEN>\"; }"
            ));
        }
        assert!(text.contains("sends nothing and logs only at debug level"));
        assert!(!text.contains("JITSI_EVENTS_TOKEN is not set"));
        assert!(!text.contains("http.listen is"));
    }

    #[test]
    fn the_public_url_wins_and_every_interface_gets_a_placeholder() {
        let s = JitsiSettings::for_tests("k");
        let mut t = target("0.0.0.0:8081", true);
        let text = render(&s, &t);
        assert!(text.contains("api_prefix = \"http://<meetbot's address>:8081/jitsi\""));
        assert!(text.contains("api_prefix = \"http://meetbot:8081/jitsi\""));
        t.public_url = Some(Url::parse("https://bot.internal.example/").unwrap());
        let text = render(&s, &t);
        assert_eq!(
            text.matches("api_prefix = \"https://bot.internal.example/jitsi\"")
                .count(),
            2,
            "{text}"
        );
    }

    #[test]
    fn a_missing_listener_a_loopback_one_and_a_missing_token_are_warned_about() {
        let s = JitsiSettings::for_tests("k");
        let text = render(&s, &EventsTarget::default());
        assert!(text.contains("http.listen is empty"), "{text}");
        assert!(text.contains("api_prefix = \"http://meetbot:8080/jitsi\""));
        let text = render(&s, &target("10.0.0.5:8080", false));
        assert!(text.contains("JITSI_EVENTS_TOKEN is not set"), "{text}");
        let text = render(&s, &target("127.0.0.1:8080", true));
        assert!(
            text.contains("only a Prosody on this same machine"),
            "{text}"
        );
        assert!(text.contains("api_prefix = \"http://127.0.0.1:8080/jitsi\""));
    }

    #[test]
    fn a_custom_xmpp_domain_names_the_debian_muc_after_it() {
        let mut s = JitsiSettings::for_tests("k");
        s.xmpp_domain = "meet.example.org".into();
        let text = render(&s, &target("10.0.0.5:8080", true));
        assert!(text.contains("Component \"esync.meet.example.org\" \"event_sync_component\""));
        assert!(text.contains("muc_component = \"conference.meet.example.org\""));
        assert!(text.contains("/etc/prosody/conf.avail/meet.example.org.cfg.lua"));
    }

    #[test]
    fn jaas_gets_the_webhook_instead_of_a_component() {
        let s = JitsiSettings::for_tests_jaas("PEM", "vpaas-magic-cookie-abc", "k1");
        let mut t = target("10.0.0.5:8080", false);
        t.public_url = Some(Url::parse("https://bot.example.com").unwrap());
        let text = render(&s, &t);
        assert!(text.contains("https://bot.example.com/jaas/webhook"));
        assert!(text.contains("PARTICIPANT_JOINED"));
        assert!(text.contains("JAAS_WEBHOOK_SECRET is not set"));
        assert!(!text.contains("event_sync_component"));
    }
}
