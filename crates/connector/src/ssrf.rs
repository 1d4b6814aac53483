//! The server-side request forgery guard: connectors reach only public
//! HTTP(S) addresses, so a base URL, a DNS answer or a redirect cannot turn
//! the hub into a client of its own network (loopback services, the cloud
//! metadata endpoint, other hosts of the LAN).
//!
//! A URL is checked three times:
//! - when the config loads ([`UrlPolicy::check_url`], called by each
//!   connector's constructor): scheme http/https, a host, and a host that is
//!   an IP literal must be allowed; hostnames are left to request time;
//! - when a hostname is resolved: every client built from
//!   [`UrlPolicy::client_builder`] resolves through [`GuardedResolver`], which
//!   refuses a name if any of its addresses is blocked, so the checked
//!   addresses are the ones connected to (no gap for DNS rebinding);
//! - before each request is sent ([`UrlPolicy::check_url`] again, by the
//!   send paths), because reqwest never asks the resolver about IP-literal
//!   hosts.
//!
//! Redirects are not followed at all (see [`UrlPolicy::check_redirect`]).
//!
//! `[security] allow_private_urls` ([`UrlPolicy::allow_private`]) lifts the
//! address checks for mocks on 127.0.0.1 (tests, the demo); the scheme check
//! stays.

use crate::ConnectorError;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// How to lift the guard, for every message that refuses an address.
pub const ALLOW_HINT: &str = "to reach a mock or test server there, set `[security] \
     allow_private_urls = true` in the config or HRHUB_ALLOW_PRIVATE_URLS=1 (for mocks and \
     testing only)";

/// Which addresses connectors may reach. The default refuses loopback,
/// link-local, private and other non-public ranges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    allow_private: bool,
}

impl UrlPolicy {
    /// Public addresses only (the default).
    pub const fn public_only() -> Self {
        UrlPolicy {
            allow_private: false,
        }
    }

    /// Private, loopback and link-local addresses too: for mocks and tests
    /// only (`[security] allow_private_urls`).
    pub const fn allow_private() -> Self {
        UrlPolicy {
            allow_private: true,
        }
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Checks a URL a connector is about to use (at config load and before
    /// every request): http or https, a host, and an IP-literal host outside
    /// the blocked ranges. A hostname passes here; its addresses are checked
    /// by [`GuardedResolver`] when it is resolved.
    pub fn check_url(&self, url: &Url) -> Result<(), UrlRefused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefused::Scheme { url: redacted(url) });
        }
        let ip = match url.host() {
            None => return Err(UrlRefused::NoHost { url: redacted(url) }),
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        };
        self.check_ip(None, ip)
    }

    /// [`UrlPolicy::check_url`] at config load: the refusal names the
    /// connector's platform and the key that set the URL.
    pub fn check_configured(
        &self,
        platform: &str,
        key: &str,
        url: &Url,
    ) -> Result<(), ConnectorError> {
        self.check_url(url).map_err(|refused| {
            ConnectorError::Config(format!("{platform}: key `{key}`: {refused}"))
        })
    }

    /// Refuses `ip` (which `host`, when given, resolved to) if it lies in a
    /// blocked range and private addresses are not allowed.
    pub fn check_ip(&self, host: Option<&str>, ip: IpAddr) -> Result<(), UrlRefused> {
        match blocked_range(ip) {
            Some(range) if !self.allow_private => Err(UrlRefused::Address {
                host: host.map(str::to_string),
                ip,
                range,
            }),
            _ => Ok(()),
        }
    }

    /// What happens to a redirect towards `target`. Connectors never follow
    /// redirects: every request goes to a URL built from the configured base
    /// (credentials must not travel to wherever an answer points, and a
    /// platform API that redirects means the base URL should name the final
    /// host). So the simplest correct check is to stop at the first 3xx and
    /// hand it to the caller as an HTTP error; a redirect towards a refused
    /// URL (cloud metadata, `file:`, ...) is reported as a refusal instead,
    /// so the admin sees what was attempted.
    pub fn check_redirect(&self, target: &Url) -> Result<(), UrlRefused> {
        self.check_url(target)
            .map_err(|refused| UrlRefused::Redirect(Box::new(refused)))
    }

    /// A reqwest client builder for connector traffic: names resolved
    /// through [`GuardedResolver`], redirects stopped (and checked, see
    /// [`UrlPolicy::check_redirect`]), and no proxy from the environment
    /// (a forward proxy resolves names itself, out of the resolver's
    /// sight). Callers add timeouts and the user agent, and still call
    /// [`UrlPolicy::check_url`] before sending (IP-literal hosts are never
    /// resolved).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let policy = *self;
        let builder =
            reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::custom(
                    move |attempt| match policy.check_redirect(attempt.url()) {
                        Err(refused) => attempt.error(refused),
                        Ok(()) => attempt.stop(),
                    },
                ));
        if self.allow_private {
            builder
        } else {
            builder.dns_resolver(Arc::new(GuardedResolver { policy }))
        }
    }
}

/// Resolves names like the system resolver, then refuses the name if any
/// address it has is blocked (a name that mixes public and private
/// addresses is not one a platform API uses).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: UrlPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_string();
            // port 0: reqwest puts the URL's port in afterwards
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                policy.check_ip(Some(&host), addr.ip())?;
            }
            Ok::<Addrs, Box<dyn StdError + Send + Sync>>(Box::new(addrs.into_iter()))
        })
    }
}

/// Why a connector may not use a URL. Messages show the scheme and host
/// only: paths and queries may carry credentials (DingTalk's
/// `access_token`, Moodle's `wstoken`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("{url} is not an http(s) URL; connectors speak only HTTP and HTTPS")]
    Scheme { url: String },
    #[error("{url} has no host")]
    NoHost { url: String },
    #[error("{}", AddressMessage { host: host.as_deref(), ip: *ip, range })]
    Address {
        /// The name that resolved to `ip`; `None` for an IP-literal host.
        host: Option<String>,
        ip: IpAddr,
        range: &'static str,
    },
    #[error("the server redirected to a refused URL: {0}")]
    Redirect(Box<UrlRefused>),
}

struct AddressMessage<'a> {
    host: Option<&'a str>,
    ip: IpAddr,
    range: &'a str,
}

impl fmt::Display for AddressMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host {
            Some(host) => write!(f, "{host} resolves to {}", self.ip)?,
            None => write!(f, "{}", self.ip)?,
        }
        write!(
            f,
            ", a {} address, which connectors may not reach (server-side request forgery \
             guard); {ALLOW_HINT}",
            self.range
        )
    }
}

/// `scheme://host[:port]`, or `scheme:` for URLs without a host.
fn redacted(url: &Url) -> String {
    match url.host_str() {
        Some(host) => match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        },
        None => format!("{}:", url.scheme()),
    }
}

/// The refusal behind a reqwest error (from [`GuardedResolver`] or the
/// redirect check), if that is why the request failed.
pub fn refusal(error: &reqwest::Error) -> Option<&UrlRefused> {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<UrlRefused>() {
            return Some(refused);
        }
        source = e.source();
    }
    None
}

/// The name of the non-public range `ip` lies in, or `None` for a public
/// address. IPv6 forms that embed an IPv4 address (mapped, compatible,
/// NAT64, 6to4) are judged by that address.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => blocked_v4(ip),
        IpAddr::V6(ip) => blocked_v6(ip),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, _, _] = ip.octets();
    Some(match (a, b) {
        (0, _) => "\"this network\" (0.0.0.0/8)",
        (10, _) => "private (10.0.0.0/8)",
        (100, 64..=127) => "shared carrier-grade NAT (100.64.0.0/10)",
        (127, _) => "loopback (127.0.0.0/8)",
        (169, 254) if ip == Ipv4Addr::new(169, 254, 169, 254) => "cloud metadata (169.254.169.254)",
        (169, 254) => "link-local (169.254.0.0/16)",
        (172, 16..=31) => "private (172.16.0.0/12)",
        (192, 168) => "private (192.168.0.0/16)",
        (198, 18..=19) => "benchmarking (198.18.0.0/15)",
        (224..=239, _) => "multicast (224.0.0.0/4)",
        _ if ip == Ipv4Addr::BROADCAST => "broadcast (255.255.255.255)",
        (240..=255, _) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    if let Some(v4) = embedded_v4(ip) {
        return blocked_v4(v4);
    }
    Some(match segments[0] {
        0xfc00..=0xfdff => "unique local (fc00::/7)",
        0xfe80..=0xfebf => "link-local (fe80::/10)",
        0xfec0..=0xfeff => "site-local (fec0::/10)",
        0xff00..=0xffff => "multicast (ff00::/8)",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address stands for: `::ffff:a.b.c.d` (mapped),
/// `::a.b.c.d` (compatible), `64:ff9b::a.b.c.d` (NAT64) and
/// `2002:aabb:ccdd::/48` (6to4).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(ip: &str) -> Option<&'static str> {
        blocked_range(ip.parse().unwrap())
    }

    #[test]
    fn every_blocked_ipv4_range_is_refused_at_both_ends() {
        for (first, last, range) in [
            ("0.0.0.0", "0.255.255.255", "this network"),
            ("10.0.0.0", "10.255.255.255", "private"),
            ("100.64.0.0", "100.127.255.255", "carrier-grade NAT"),
            ("127.0.0.0", "127.255.255.255", "loopback"),
            ("169.254.0.0", "169.254.255.255", "link-local"),
            ("169.254.169.254", "169.254.169.254", "cloud metadata"),
            ("172.16.0.0", "172.31.255.255", "private"),
            ("192.168.0.0", "192.168.255.255", "private"),
            ("198.18.0.0", "198.19.255.255", "benchmarking"),
            ("224.0.0.0", "239.255.255.255", "multicast"),
            ("240.0.0.0", "255.255.255.254", "reserved"),
            ("255.255.255.255", "255.255.255.255", "broadcast"),
        ] {
            for ip in [first, last] {
                let found = blocked(ip).unwrap_or_else(|| panic!("{ip} should be blocked"));
                assert!(found.contains(range), "{ip}: {found}");
            }
        }
    }

    #[test]
    fn public_addresses_next_to_the_blocked_ranges_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
        ] {
            assert_eq!(blocked(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn every_blocked_ipv6_range_is_refused() {
        for (ip, range) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "unique local"),
            ("fdff:ffff::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("ffff::1", "multicast"),
        ] {
            let found = blocked(ip).unwrap_or_else(|| panic!("{ip} should be blocked"));
            assert!(found.contains(range), "{ip}: {found}");
        }
    }

    #[test]
    fn ipv6_forms_of_blocked_ipv4_addresses_are_refused() {
        for (ip, range) in [
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:7f00:1", "loopback"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:192.168.0.1", "private"),
            ("::ffff:0.0.0.0", "this network"),
            ("::127.0.0.1", "loopback"),
            ("::10.0.0.1", "private"),
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "cloud metadata"),
            ("2002:7f00:1::", "loopback"),
            ("2002:a9fe:a9fe::1", "cloud metadata"),
        ] {
            let found = blocked(ip).unwrap_or_else(|| panic!("{ip} should be blocked"));
            assert!(found.contains(range), "{ip}: {found}");
        }
    }

    #[test]
    fn config_urls_need_http_a_host_and_a_public_ip_literal() {
        let policy = UrlPolicy::public_only();
        let check = |url: &str| policy.check_url(&Url::parse(url).unwrap());
        assert_eq!(check("https://acme.zendesk.com/api"), Ok(()));
        assert_eq!(check("http://8.8.8.8:8080/"), Ok(()));
        // a hostname is judged when it is resolved
        assert_eq!(check("http://localhost:9/"), Ok(()));
        for url in [
            "http://127.0.0.1:9/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "https://10.0.0.5/",
            // URL parsers read these as 127.0.0.1, and so does url
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            let err = check(url).expect_err(url);
            assert!(matches!(err, UrlRefused::Address { .. }), "{url}: {err}");
            let message = err.to_string();
            assert!(
                message.contains("allow_private_urls = true")
                    && message.contains("HRHUB_ALLOW_PRIVATE_URLS=1"),
                "{url}: {message}"
            );
        }
        for url in ["file:///etc/passwd", "gopher://example.com:70/", "ftp://x/"] {
            assert!(
                matches!(check(url), Err(UrlRefused::Scheme { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn the_allowance_lifts_the_address_check_only() {
        let policy = UrlPolicy::allow_private();
        let check = |url: &str| policy.check_url(&Url::parse(url).unwrap());
        assert_eq!(check("http://127.0.0.1:9/"), Ok(()));
        assert_eq!(check("http://169.254.169.254/"), Ok(()));
        assert!(check("file:///etc/passwd").is_err());
        assert!(policy
            .check_redirect(&Url::parse("gopher://127.0.0.1:70/").unwrap())
            .is_err());
    }

    #[test]
    fn redirects_towards_metadata_or_other_schemes_are_refused() {
        let policy = UrlPolicy::public_only();
        let redirect = |url: &str| policy.check_redirect(&Url::parse(url).unwrap());
        for url in [
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "http://[::ffff:169.254.169.254]/",
            "http://127.0.0.1:6379/",
            "file:///etc/passwd",
            "gopher://127.0.0.1:6379/_FLUSHALL",
            "gopher://example.com/",
        ] {
            let err = redirect(url).expect_err(url);
            assert!(matches!(err, UrlRefused::Redirect(_)), "{url}: {err}");
            assert!(err.to_string().contains("redirected"), "{err}");
        }
        // allowed targets are not followed either: the 3xx reaches the caller
        assert_eq!(redirect("https://acme.zendesk.com/api/v2/users"), Ok(()));
    }

    #[test]
    fn messages_never_show_paths_or_queries() {
        let policy = UrlPolicy::public_only();
        for url in [
            "http://127.0.0.1:9/gettoken?appsecret=S3CRET",
            "gopher://127.0.0.1/S3CRET",
            "file:///S3CRET",
        ] {
            let err = policy.check_url(&Url::parse(url).unwrap()).unwrap_err();
            assert!(!err.to_string().contains("S3CRET"), "{err}");
        }
        let err = policy
            .check_ip(Some("lms.acme.test"), "10.1.2.3".parse().unwrap())
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("lms.acme.test resolves to 10.1.2.3, a private (10.0.0.0/8) address"),
            "{err}"
        );
    }
}
