//! Fetching a URL that a server's admin typed, without opening a way into the operator's network.
//!
//! A URL from a Discord admin could name the bot's own host, the database, a router's admin page or a
//! cloud metadata service. So: https only; every address checked, whether it is written in the URL,
//! comes from DNS (a resolver that drops forbidden answers, so the address checked is the address
//! connected to) or from a redirect (each hop's URL re-checked, each new connection resolved through
//! the same resolver); no proxy (a proxy would resolve names itself); a short timeout; a size cap on
//! the body, read in chunks and abandoned past the cap. The operator can open networks and plain http
//! in the file ([`FetchPolicy`]); the tests do, to reach servers on 127.0.0.1.

use futures::future::BoxFuture;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// What the operator allows beyond public https sites. `FetchPolicy::default()` allows nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Networks that may be reached although they are not public (e.g. a Jitsi on the LAN).
    pub allow_networks: Vec<IpNet>,
    /// Whether plain `http://` URLs are fetched.
    pub allow_http: bool,
    /// The whole request, body included, must finish within this.
    pub timeout: Duration,
    /// Largest body read; a bigger one is refused.
    pub max_bytes: usize,
    /// Most redirects followed.
    pub max_redirects: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_networks: Vec::new(),
            allow_http: false,
            timeout: Duration::from_secs(10),
            // jitsi-meet's config.js with all its comments is about 90 KiB.
            max_bytes: 512 * 1024,
            max_redirects: 3,
        }
    }
}

/// Why a URL was not fetched. The messages go back to the admin who typed the URL: they say why, in
/// words, and never include a response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Not a URL.
    #[error("`{0}` is not a URL")]
    BadUrl(String),
    /// A scheme other than https (or http where allowed).
    #[error("meetbot only fetches https:// addresses; {url} uses {scheme}")]
    Scheme {
        /// The URL refused.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// A user name or password in the URL.
    #[error("{0}: a URL with a user name or password is not fetched")]
    Credentials(String),
    /// The address is not a public one and the operator has not allowed it.
    #[error(
        "meetbot does not fetch {host}: {how} {ip}, {reason}. Only sites on public addresses are \
         reachable unless the bot's operator allows that network in meetbot's configuration"
    )]
    Forbidden {
        /// The host as written.
        host: String,
        /// "is" for an address in the URL, "resolves to" for a name.
        how: &'static str,
        /// The refused address.
        ip: IpAddr,
        /// Which kind of address it is.
        reason: &'static str,
    },
    /// The name resolves to nothing.
    #[error("{host} does not resolve to any address")]
    NoAddress {
        /// The host.
        host: String,
    },
    /// Too many redirects.
    #[error("{url} redirects more than {max} times")]
    TooManyRedirects {
        /// The first URL.
        url: String,
        /// The limit.
        max: usize,
    },
    /// No answer in time.
    #[error("{url} did not answer within {seconds} s")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        seconds: u64,
    },
    /// The body is over the cap.
    #[error("{url} sent more than {max_kib} KiB; meetbot stops reading there")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        max_kib: usize,
    },
    /// Connection, TLS or protocol failure.
    #[error("could not fetch {url}: {reason}")]
    Failed {
        /// The URL.
        url: String,
        /// What went wrong, without the response.
        reason: String,
    },
}

/// A fetched response: only what callers need.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where the response came from after redirects.
    pub url: Url,
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body (at most the policy's cap).
    pub body: Vec<u8>,
}

/// Host names to addresses; the system resolver by default, a table in tests.
pub trait Lookup: Send + Sync + std::fmt::Debug {
    /// The addresses of `host`.
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver (getaddrinfo, so `/etc/hosts` counts).
#[derive(Debug, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Kinds of address that are not public, first match wins. Mapped and embedded IPv4 forms are unwrapped
/// before this table is consulted (see [`forbidden_reason`]).
const V4_RANGES: &[(&str, &str)] = &[
    ("0.0.0.0/8", "an unspecified address (0.0.0.0/8)"),
    ("10.0.0.0/8", "a private address (10.0.0.0/8)"),
    (
        "100.64.0.0/10",
        "a carrier-grade NAT address (100.64.0.0/10)",
    ),
    (
        "127.0.0.0/8",
        "a loopback address (127.0.0.0/8): the bot's own host",
    ),
    (
        "169.254.0.0/16",
        "a link-local address (169.254.0.0/16, where cloud metadata services answer)",
    ),
    ("172.16.0.0/12", "a private address (172.16.0.0/12)"),
    ("192.0.0.0/24", "an IETF protocol address (192.0.0.0/24)"),
    ("192.0.2.0/24", "a documentation address (192.0.2.0/24)"),
    ("192.88.99.0/24", "a 6to4 relay address (192.88.99.0/24)"),
    ("192.168.0.0/16", "a private address (192.168.0.0/16)"),
    ("198.18.0.0/15", "a benchmarking address (198.18.0.0/15)"),
    (
        "198.51.100.0/24",
        "a documentation address (198.51.100.0/24)",
    ),
    ("203.0.113.0/24", "a documentation address (203.0.113.0/24)"),
    ("224.0.0.0/4", "a multicast address (224.0.0.0/4)"),
    (
        "240.0.0.0/4",
        "a reserved or broadcast address (240.0.0.0/4)",
    ),
];

const V6_RANGES: &[(&str, &str)] = &[
    ("::/128", "an unspecified address (::)"),
    ("::1/128", "a loopback address (::1): the bot's own host"),
    ("::/96", "an IPv4-compatible address (::/96, deprecated)"),
    ("64:ff9b:1::/48", "a local NAT64 address (64:ff9b:1::/48)"),
    ("100::/64", "a discard address (100::/64)"),
    ("2001::/32", "a Teredo address (2001::/32)"),
    ("2001:db8::/32", "a documentation address (2001:db8::/32)"),
    ("fc00::/7", "a unique local address (fc00::/7)"),
    ("fe80::/10", "a link-local address (fe80::/10)"),
    ("fec0::/10", "a site-local address (fec0::/10, deprecated)"),
    ("ff00::/8", "a multicast address (ff00::/8)"),
];

/// The IPv4 address an IPv6 address stands for, when it is a form that reaches IPv4: mapped
/// (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return Some(tail());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Why `ip` is not a public address, or `None` when it is.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => V4_RANGES.iter().find_map(|(net, reason)| {
            let net: Ipv4Net = net.parse().expect("static network");
            net.contains(&v4).then_some(*reason)
        }),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return forbidden_reason(IpAddr::V4(v4));
            }
            V6_RANGES.iter().find_map(|(net, reason)| {
                let net: Ipv6Net = net.parse().expect("static network");
                net.contains(&v6).then_some(*reason)
            })
        }
    }
}

impl FetchPolicy {
    /// Whether the operator opened a network holding `ip` (or the IPv4 address it stands for).
    fn allows(&self, ip: IpAddr) -> bool {
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allow_networks
            .iter()
            .any(|net| net.contains(&ip) || v4.is_some_and(|v4| net.contains(&v4)))
    }

    /// Why `ip` may not be reached under this policy, or `None` when it may.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        if self.allows(ip) {
            None
        } else {
            forbidden_reason(ip)
        }
    }

    /// Checks what can be checked without DNS: scheme, credentials, and an address written in the URL.
    pub fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => {
                return Err(FetchError::Scheme {
                    url: url.to_string(),
                    scheme: other.to_owned(),
                })
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::Credentials(without_userinfo(url)));
        }
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(Host::Domain(_)) => return Ok(()),
            None => return Err(FetchError::BadUrl(url.to_string())),
        };
        match self.refusal(ip) {
            None => Ok(()),
            Some(reason) => Err(FetchError::Forbidden {
                host: url.host_str().unwrap_or_default().to_owned(),
                how: "is",
                ip,
                reason,
            }),
        }
    }
}

fn without_userinfo(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// The resolver reqwest connects through: answers only addresses the policy allows.
#[derive(Debug)]
struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
    policy: Arc<FetchPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let ips = match lookup.lookup(host.clone()).await {
                Ok(ips) => ips,
                Err(_) => {
                    let err: Box<dyn std::error::Error + Send + Sync> =
                        Box::new(FetchError::NoAddress { host });
                    return Err(err);
                }
            };
            let mut allowed = Vec::new();
            let mut first_refused = None;
            for ip in ips {
                match policy.refusal(ip) {
                    None => allowed.push(SocketAddr::new(ip, 0)),
                    Some(reason) => {
                        first_refused.get_or_insert((ip, reason));
                    }
                }
            }
            if allowed.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = match first_refused {
                    Some((ip, reason)) => Box::new(FetchError::Forbidden {
                        host,
                        how: "resolves to",
                        ip,
                        reason,
                    }),
                    None => Box::new(FetchError::NoAddress { host }),
                };
                return Err(err);
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client for admin-typed URLs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SafeFetcher {
    client: reqwest::Client,
    policy: Arc<FetchPolicy>,
}

impl SafeFetcher {
    /// A fetcher resolving names with the system resolver.
    pub fn new(policy: FetchPolicy) -> Result<SafeFetcher, FetchError> {
        Self::with_lookup(policy, Arc::new(SystemLookup))
    }

    /// A fetcher resolving names with `lookup` (tests give a table).
    pub fn with_lookup(
        policy: FetchPolicy,
        lookup: Arc<dyn Lookup>,
    ) -> Result<SafeFetcher, FetchError> {
        let policy = Arc::new(policy);
        let hop_policy = policy.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > hop_policy.max_redirects {
                let first = attempt
                    .previous()
                    .first()
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                return attempt.error(FetchError::TooManyRedirects {
                    url: first,
                    max: hop_policy.max_redirects,
                });
            }
            match hop_policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                lookup,
                policy: policy.clone(),
            }))
            .redirect(redirects)
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .user_agent(concat!("meetbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Failed {
                url: String::new(),
                reason: format!("cannot build the HTTP client ({e})"),
            })?;
        Ok(SafeFetcher { client, policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// GETs `url` under the policy. Any status is returned; only transport and policy failures are errors.
    pub async fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        let parsed = Url::parse(url.trim()).map_err(|_| FetchError::BadUrl(short(url)))?;
        self.policy.check_url(&parsed)?;
        let shown = parsed.to_string();
        let mut response = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(|e| self.explain(&shown, e))?;
        let status = response.status().as_u16();
        let final_url = response.url().clone();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let max = self.policy.max_bytes;
        let too_large = || FetchError::TooLarge {
            url: shown.clone(),
            max_kib: max.div_ceil(1024),
        };
        if response
            .content_length()
            .is_some_and(|len| len > max as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.explain(&shown, e))?
        {
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url: final_url,
            status,
            content_type,
            body,
        })
    }

    /// Our own refusal when one is behind the error (from the resolver or the redirect policy), else
    /// what kind of failure it was.
    fn explain(&self, url: &str, e: reqwest::Error) -> FetchError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if let Some(ours) = err.downcast_ref::<FetchError>() {
                return ours.clone();
            }
            source = err.source();
        }
        if e.is_timeout() {
            return FetchError::Timeout {
                url: url.to_owned(),
                seconds: self.policy.timeout.as_secs().max(1),
            };
        }
        let reason = if e.is_connect() {
            "the connection failed (refused, unreachable, or TLS)".to_owned()
        } else if e.is_redirect() {
            "a redirect could not be followed".to_owned()
        } else if e.is_body() || e.is_decode() {
            "the response broke off".to_owned()
        } else {
            "the request failed".to_owned()
        };
        FetchError::Failed {
            url: url.to_owned(),
            reason,
        }
    }
}

fn short(text: &str) -> String {
    let t: String = text.trim().chars().take(200).collect();
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_named_and_public_ones_pass() {
        for (addr, word) in [
            ("127.0.0.1", "loopback"),
            ("10.0.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("169.254.169.254", "metadata"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("64:ff9b::a00:1", "private"),
            ("2002:c0a8:0101::1", "private"),
        ] {
            let reason = forbidden_reason(ip(addr)).unwrap_or_else(|| panic!("{addr} passed"));
            assert!(reason.contains(word), "{addr}: {reason}");
        }
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(forbidden_reason(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_literal_addresses() {
        let p = FetchPolicy::default();
        let check = |u: &str| p.check_url(&Url::parse(u).unwrap());
        assert!(check("https://meet.example.com/config.js").is_ok());
        assert!(matches!(
            check("http://meet.example.com/"),
            Err(FetchError::Scheme { .. })
        ));
        assert!(matches!(
            check("file:///etc/passwd"),
            Err(FetchError::Scheme { .. })
        ));
        let err = check("https://user:pw@meet.example.com/").unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
        for u in [
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::ffff:7f00:1]/",
            "https://2130706433/",
        ] {
            let err = check(u).unwrap_err();
            assert!(matches!(err, FetchError::Forbidden { .. }), "{u}: {err}");
            assert!(err.to_string().contains("public"), "{err}");
        }
    }

    #[test]
    fn opened_networks_and_http_pass_only_when_the_policy_says_so() {
        let p = FetchPolicy {
            allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
            allow_http: true,
            ..FetchPolicy::default()
        };
        assert!(p
            .check_url(&Url::parse("http://127.0.0.1:8080/").unwrap())
            .is_ok());
        assert!(p
            .check_url(&Url::parse("http://[::ffff:127.0.0.1]/").unwrap())
            .is_ok());
        assert!(p
            .check_url(&Url::parse("http://10.0.0.1/").unwrap())
            .is_err());
    }
}
