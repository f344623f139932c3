//! Webhook subscriptions and deliveries, and the rules their inputs follow: which target
//! addresses are allowed and what a topic filter may name. No I/O here; resolving a host
//! name happens in the registry, which hands every resolved address to [`check_address`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Error, Result};

/// A per-repo webhook subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `wh_` and 32 hex digits.
    pub id: String,
    /// The repo whose events it receives.
    pub repo: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The topics it receives; empty: every topic.
    pub topics: Vec<String>,
    /// The signing key, base64 (the part of `whsec_…` after the prefix).
    pub secret: String,
    /// When it was created, unix microseconds.
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
}

impl Webhook {
    /// Tells whether the subscription receives events of `topic`.
    pub fn wants(&self, topic: &str) -> bool {
        self.topics.is_empty() || self.topics.iter().any(|t| t == topic)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; kept for redelivery.
    Failed,
}

impl DeliveryState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "DELIVERED" => Some(Self::Delivered),
            "FAILED" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One event to one subscription, with its retry schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The delivery's id.
    pub id: i64,
    /// The subscription.
    pub webhook_id: String,
    /// The outbox id of the event (the `webhook-id` header is `evt_<event_id>`).
    pub event_id: i64,
    /// The event's topic.
    pub topic: String,
    /// The exact JSON body sent.
    pub body: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (pending only), unix microseconds.
    pub next_attempt_at: Option<i64>,
    /// When the last attempt was made.
    pub last_attempt_at: Option<i64>,
    /// The HTTP status of the last attempt, if the receiver answered.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: i64,
    /// When the receiver accepted it.
    pub delivered_at: Option<i64>,
}

/// The most topics one subscription may name.
pub const MAX_TOPICS: usize = 32;

/// Checks a topic filter: each topic is lowercase words joined by dots (`release.published`).
pub fn parse_topics(topics: &[String]) -> Result<Vec<String>> {
    if topics.len() > MAX_TOPICS {
        return Err(Error::invalid(
            "topics",
            format!("at most {MAX_TOPICS} topics"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, t) in topics.iter().enumerate() {
        let ok = !t.is_empty()
            && t.len() <= 64
            && t.split('.').all(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            });
        if !ok {
            return Err(Error::invalid(
                format!("topics[{i}]"),
                "must be lowercase words joined by dots, e.g. release.published",
            ));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// Checks the form of a target URL (`http` or `https`, a host, no credentials) and returns
/// its host and port, for resolving.
pub fn parse_target(url: &str) -> Result<(String, u16)> {
    let bad = |why: &str| Error::invalid("url", why.to_owned());
    if url.len() > 2048 {
        return Err(bad("at most 2048 bytes"));
    }
    let parsed = url::Url::parse(url).map_err(|e| bad(&format!("not a URL ({e})")))?;
    let port = match parsed.scheme() {
        "http" => parsed.port().unwrap_or(80),
        "https" => parsed.port().unwrap_or(443),
        _ => return Err(bad("must be http or https")),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err(bad("must name a host")),
    };
    Ok((host, port))
}

/// Checks one address a target resolves to. Link-local and cloud metadata addresses are
/// never allowed; loopback, private and other non-public ranges only when `allow_private`.
pub fn check_address(ip: IpAddr, allow_private: bool) -> Result<()> {
    let refuse = |why: &str| Err(Error::invalid("url", format!("resolves to {ip}, {why}")));
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    if is_metadata(ip) {
        return refuse("a cloud metadata address");
    }
    if is_link_local(ip) {
        return refuse("a link-local address");
    }
    if ip.is_unspecified() || ip.is_multicast() || is_broadcast(ip) {
        return refuse("not a unicast address");
    }
    if !allow_private && is_private(ip) {
        return refuse(
            "a loopback or private address (the operator may allow these with --webhook-allow-private)",
        );
    }
    Ok(())
}

fn is_metadata(ip: IpAddr) -> bool {
    match ip {
        // AWS/GCP/Azure/OpenStack, Alibaba, Oracle (169.254.* is link-local anyway).
        IpAddr::V4(a) => {
            a == Ipv4Addr::new(169, 254, 169, 254)
                || a == Ipv4Addr::new(100, 100, 100, 200)
                || a == Ipv4Addr::new(192, 0, 0, 192)
        }
        // AWS's IPv6 metadata endpoint.
        IpAddr::V6(a) => a == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(a) if a.is_broadcast())
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_loopback()
                || a.is_private()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240
        }
        IpAddr::V6(a) => {
            a.is_loopback()
                || (a.segments()[0] & 0xfe00) == 0xfc00
                || (a.segments()[0] & 0xffc0) == 0xfec0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for never in [
            "169.254.169.254",
            "169.254.1.1",
            "fe80::1",
            "fd00:ec2::254",
            "100.100.100.200",
            "0.0.0.0",
            "::ffff:169.254.169.254",
        ] {
            assert!(check_address(ip(never), true).is_err(), "{never}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "::1",
            "fc00::1",
            "100.64.0.1",
        ] {
            assert!(check_address(ip(private), false).is_err(), "{private}");
            assert!(check_address(ip(private), true).is_ok(), "{private}");
        }
        for public in ["93.184.216.34", "2606:4700::1111"] {
            assert!(check_address(ip(public), false).is_ok(), "{public}");
        }
    }

    #[test]
    fn targets_and_topics_are_checked() {
        assert_eq!(
            parse_target("http://127.0.0.1:9/x").unwrap(),
            ("127.0.0.1".into(), 9)
        );
        assert_eq!(parse_target("https://example.com/h").unwrap().1, 443);
        for bad in [
            "ftp://x/",
            "http://u:p@x/",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
        assert!(parse_topics(&["release.published".into()]).is_ok());
        assert!(parse_topics(&["Release".into()]).is_err());
        assert!(parse_topics(&["a..b".into()]).is_err());
    }
}
