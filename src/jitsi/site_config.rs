//! Reading a Jitsi site's `config.js` for what a token needs: `hosts.domain` (the token's `sub` without a
//! tenant) and `hosts.muc` (where its rooms live), plus the guest and auth domains when set.
//!
//! The file is JavaScript, not JSON, and comes in two shapes: jitsi-meet's own (an object literal,
//! `hosts: { domain: '…', muc: 'conference.' + subdomain + '…' }`) and docker-jitsi-meet's (assignments,
//! `config.hosts.domain = '…';`). Both build the MUC from a `subdomain` variable that nginx fills in by SSI
//! (the tenant plus a dot, or nothing). This reads string literals, concatenations of them, and variables
//! defined as such; it runs no code, and says so when a field is anything else.

use std::collections::HashMap;
use url::Url;

/// The `hosts` a site's `config.js` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteConfig {
    /// `hosts.domain`: the XMPP domain, lowercased.
    pub domain: String,
    /// `hosts.muc`: the conference component, lowercased.
    pub muc: Option<String>,
    /// `hosts.anonymousdomain`: where guests sign in when the site has token auth with guests.
    pub anonymous_domain: Option<String>,
    /// `hosts.authdomain`.
    pub auth_domain: Option<String>,
}

/// Why `config.js` did not yield the hosts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteConfigError {
    /// No `hosts.domain` anywhere.
    #[error("the file has no `hosts.domain`; is this a Jitsi Meet config.js?")]
    NoDomain,
    /// A field is set by code this reader does not run.
    #[error(
        "`hosts.{field}` is computed by code meetbot does not run; set the XMPP domain by hand"
    )]
    NotPlain {
        /// The field.
        field: &'static str,
    },
    /// A field's value is not a host name.
    #[error("`hosts.{field}` is {value:?}, which is not a host name")]
    NotAHost {
        /// The field.
        field: &'static str,
        /// What it held (a config.js value, not a secret).
        value: String,
    },
}

/// Where a site serves the `config.js` that applies to `tenant` (nginx rewrites `/<tenant>/config.js`).
pub fn config_js_url(site: &Url, tenant: Option<&str>) -> Url {
    let mut url = site.clone();
    url.set_query(None);
    url.set_fragment(None);
    let mut path = url.path().to_owned();
    if !path.ends_with('/') {
        path.push('/');
    }
    if let Some(t) = tenant {
        path.push_str(t);
        path.push('/');
    }
    path.push_str("config.js");
    url.set_path(&path);
    url
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
    /// Anything else: numbers, template literals with `${}`, operators of more than one character.
    Other,
}

fn tokenize(src: &str) -> Vec<Tok> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if matches!(c, '\'' | '"' | '`') {
            let quote = c;
            let mut value = String::new();
            let mut plain = true;
            i += 1;
            while i < chars.len() && chars[i] != quote {
                let ch = chars[i];
                if ch == '\\' {
                    i += 1;
                    match chars.get(i) {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some(&other) => value.push(other),
                        None => {}
                    }
                } else {
                    if quote == '`' && ch == '$' && chars.get(i + 1) == Some(&'{') {
                        plain = false;
                    }
                    value.push(ch);
                }
                i += 1;
            }
            i += 1;
            out.push(if plain { Tok::Str(value) } else { Tok::Other });
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Other);
        } else if matches!(c, '=' | '+' | '!' | '<' | '>' | '&' | '|')
            && matches!(chars.get(i + 1), Some('=' | '+' | '&' | '|'))
        {
            // `==`, `+=`, `++`, `&&`…: never part of a plain value, and never an assignment's `=`.
            i += 2;
            while chars.get(i) == Some(&'=') {
                i += 1;
            }
            out.push(Tok::Other);
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// A value that is a string literal, a known variable, or a `+` chain of them; `None` when it is anything
/// else. Returns the value and the index after it.
fn plain_value(
    toks: &[Tok],
    mut i: usize,
    vars: &HashMap<String, String>,
) -> Option<(String, usize)> {
    let mut value = String::new();
    loop {
        match toks.get(i)? {
            Tok::Str(s) => value.push_str(s),
            Tok::Ident(name) => value.push_str(vars.get(name)?),
            _ => return None,
        }
        i += 1;
        match toks.get(i) {
            Some(Tok::Punct('+')) => i += 1,
            Some(Tok::Punct(',' | ';' | '}' | ')')) | None => return Some((value, i)),
            // No semicolon: the statement ends at the next line, which the tokenizer does not keep, so an
            // identifier that starts the next statement also ends this value.
            Some(Tok::Ident(_)) => return Some((value, i)),
            Some(_) => return None,
        }
    }
}

/// What the page would see in a variable set to `text`: nginx leaves `<!--# echo … -->` in place when it
/// does no SSI, and jitsi-meet's config.js then blanks the variable.
fn as_script_sees(text: String) -> String {
    if text.starts_with("<!--") {
        String::new()
    } else {
        text
    }
}

const FIELDS: [(&str, &str); 4] = [
    ("domain", "domain"),
    ("muc", "muc"),
    ("anonymousdomain", "anonymousdomain"),
    ("authdomain", "authdomain"),
];

fn field_name(key: &str) -> Option<&'static str> {
    FIELDS.iter().find(|(k, _)| *k == key).map(|(_, f)| *f)
}

/// Reads the hosts out of `config.js` text.
pub fn parse_config_js(src: &str) -> Result<SiteConfig, SiteConfigError> {
    let toks = tokenize(src);
    let mut vars: HashMap<String, String> = HashMap::new();
    // field → Some(value) or None when set by code. Later settings win, as they would in the page.
    let mut found: HashMap<&'static str, Option<String>> = HashMap::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            // var subdomain = '…';
            Tok::Ident(kw) if matches!(kw.as_str(), "var" | "let" | "const") => {
                if let (Some(Tok::Ident(name)), Some(Tok::Punct('='))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    if let Some((value, _)) = plain_value(&toks, i + 3, &vars) {
                        vars.insert(name.clone(), as_script_sees(value));
                    }
                }
                i += 1;
            }
            // hosts: { … }   or   config.hosts = { … }
            Tok::Ident(h) if h == "hosts" => {
                let object_follows = matches!(toks.get(i + 1), Some(Tok::Punct(':' | '=')))
                    && toks.get(i + 2) == Some(&Tok::Punct('{'));
                if object_follows {
                    i = read_hosts_object(&toks, i + 3, &vars, &mut found);
                    continue;
                }
                // config.hosts.domain = …   or   config.hosts['domain'] = …
                let (key, at) = match (toks.get(i + 1), toks.get(i + 2), toks.get(i + 3)) {
                    (Some(Tok::Punct('.')), Some(Tok::Ident(k)), _) => (Some(k.clone()), i + 3),
                    (Some(Tok::Punct('[')), Some(Tok::Str(k)), Some(Tok::Punct(']'))) => {
                        (Some(k.clone()), i + 4)
                    }
                    _ => (None, i + 1),
                };
                if let (Some(field), Some(Tok::Punct('='))) =
                    (key.as_deref().and_then(field_name), toks.get(at))
                {
                    found.insert(field, plain_value(&toks, at + 1, &vars).map(|(v, _)| v));
                }
                i = at.max(i + 1);
            }
            _ => i += 1,
        }
    }
    let take = |field: &'static str| -> Result<Option<String>, SiteConfigError> {
        match found.get(field) {
            None => Ok(None),
            Some(None) => Err(SiteConfigError::NotPlain { field }),
            Some(Some(v)) => host(field, v).map(Some),
        }
    };
    Ok(SiteConfig {
        domain: take("domain")?.ok_or(SiteConfigError::NoDomain)?,
        muc: take("muc")?,
        anonymous_domain: take("anonymousdomain")?,
        auth_domain: take("authdomain")?,
    })
}

/// Reads `key: value` pairs up to the closing brace; returns the index after it.
fn read_hosts_object(
    toks: &[Tok],
    mut i: usize,
    vars: &HashMap<String, String>,
    found: &mut HashMap<&'static str, Option<String>>,
) -> usize {
    let mut depth = 0usize;
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') if depth == 0 => return i + 1,
            Tok::Punct('}') => depth -= 1,
            Tok::Ident(k) | Tok::Str(k)
                if depth == 0 && toks.get(i + 1) == Some(&Tok::Punct(':')) =>
            {
                if let Some(field) = field_name(k) {
                    match plain_value(toks, i + 2, vars) {
                        Some((v, next)) => {
                            found.insert(field, Some(v));
                            i = next;
                            continue;
                        }
                        None => {
                            found.insert(field, None);
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

fn host(field: &'static str, value: &str) -> Result<String, SiteConfigError> {
    let v = value.trim().to_ascii_lowercase();
    let ok = !v.is_empty()
        && v.len() <= 253
        && !v.starts_with('.')
        && !v.ends_with('.')
        && !v.contains("..")
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok {
        Ok(v)
    } else {
        Err(SiteConfigError::NotAHost {
            field,
            value: value.chars().take(80).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// jitsi-meet's shape, with SSI left unprocessed (a plain file server), comments, odd spacing.
    const UPSTREAM_SHAPE: &str = r#"
/* eslint-disable comma-dangle */
var subdir = '<!--# echo var="subdir" default="" -->';
var subdomain = "<!--# echo var=\"subdomain\" default=\"\" -->";

if (subdomain) {
    subdomain = subdomain.substr(0, subdomain.length - 1).split('.').join('_').toLowerCase() + '.';
}
if (subdomain.startsWith('<!--')) { subdomain = ''; }

var config = {
    // hosts: { domain: 'commented.out.example' },
    hosts   :   {
        // XMPP domain.
        domain:'Meet.Example.ORG',
        // anonymousdomain: 'guest.example.com',
        muc :  'conference.'   +subdomain+   "meet.example.org", /* trailing */
    },
    bosh: 'https://meet.example.org/' + subdir + 'http-bind',
};
"#;

    /// docker-jitsi-meet's shape for a tenant, as nginx serves /acme/config.js (SSI done).
    const DOCKER_TENANT_SHAPE: &str = "// Jitsi Meet configuration.\n\
        var config = {};\n\
        config.hosts = {};\n\
        config.hosts.domain = 'meet.jitsi';\n\
        var subdir = 'acme/';\n\
        var subdomain = 'acme.';\n\
        if (subdir.startsWith('<!--')) {\n    subdir = '';\n}\n\
        config.hosts.muc = 'muc.' + subdomain + 'meet.jitsi';\n\
        // When using authentication, domain for guest users.\n\
        config.hosts.anonymousdomain = 'guest.meet.jitsi';\n\
        config.hosts['authdomain'] = 'meet.jitsi'\n\
        config.bosh = 'https://meet.example.com/' + subdir + 'http-bind';\n";

    #[test]
    fn upstream_object_shape_gives_domain_and_muc_without_ssi() {
        let c = parse_config_js(UPSTREAM_SHAPE).unwrap();
        assert_eq!(c.domain, "meet.example.org");
        assert_eq!(c.muc.as_deref(), Some("conference.meet.example.org"));
        assert_eq!(c.anonymous_domain, None);
    }

    #[test]
    fn docker_assignment_shape_gives_tenant_muc_and_guest_domain() {
        let c = parse_config_js(DOCKER_TENANT_SHAPE).unwrap();
        assert_eq!(c.domain, "meet.jitsi");
        assert_eq!(c.muc.as_deref(), Some("muc.acme.meet.jitsi"));
        assert_eq!(c.anonymous_domain.as_deref(), Some("guest.meet.jitsi"));
        assert_eq!(c.auth_domain.as_deref(), Some("meet.jitsi"));
    }

    #[test]
    fn a_later_assignment_wins_as_in_the_page() {
        let c = parse_config_js(
            "config.hosts.domain = 'first.example';\nconfig.hosts.domain = \"second.example\";",
        )
        .unwrap();
        assert_eq!(c.domain, "second.example");
    }

    #[test]
    fn missing_or_computed_fields_are_refused_clearly() {
        assert_eq!(
            parse_config_js("var config = { bosh: '/http-bind' };"),
            Err(SiteConfigError::NoDomain)
        );
        assert_eq!(
            parse_config_js("<html><body>Not found</body></html>"),
            Err(SiteConfigError::NoDomain)
        );
        assert_eq!(
            parse_config_js("config.hosts.domain = location.hostname;"),
            Err(SiteConfigError::NotPlain { field: "domain" })
        );
        assert_eq!(
            parse_config_js("var config = { hosts: { domain: `${window.x}.example` } };"),
            Err(SiteConfigError::NotPlain { field: "domain" })
        );
        assert!(matches!(
            parse_config_js("config.hosts.domain = 'two words';"),
            Err(SiteConfigError::NotAHost {
                field: "domain",
                ..
            })
        ));
    }

    #[test]
    fn comparisons_are_not_taken_for_assignments() {
        let c = parse_config_js(
            "if (config.hosts.domain == 'x.example') {}\nconfig.hosts.domain = 'y.example';",
        )
        .unwrap();
        assert_eq!(c.domain, "y.example");
    }

    #[test]
    fn config_js_url_keeps_a_path_prefix_and_adds_the_tenant() {
        let site = Url::parse("https://example.com/jitsi").unwrap();
        assert_eq!(
            config_js_url(&site, None).as_str(),
            "https://example.com/jitsi/config.js"
        );
        let site = Url::parse("https://meet.example.com/?x=1").unwrap();
        assert_eq!(
            config_js_url(&site, Some("acme")).as_str(),
            "https://meet.example.com/acme/config.js"
        );
    }

    #[test]
    fn arbitrary_text_never_panics() {
        for text in [
            "",
            "'",
            "/*",
            "hosts",
            "hosts:{",
            "config.hosts[",
            "var x = ",
            "`${",
        ] {
            let _ = parse_config_js(text);
        }
    }
}
