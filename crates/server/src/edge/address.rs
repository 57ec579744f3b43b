//! Whose request is it: the client address the per-address limits follow. It is the
//! socket's peer, or — only when that peer is a configured trusted proxy
//! (`server.trusted_proxies`, nginx) — the address the proxy names in `X-Real-IP` or
//! `X-Forwarded-For`. Headers from anyone else are ignored, so a client cannot pick the
//! address it is counted under.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address as the limits see it, a request extension the edge inserts into
/// every request (see [`TrustedProxies::client_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The key the per-address limits count under: an IPv4 address as it is (also when
    /// IPv4-mapped), an IPv6 address by its /64 network — one subscriber's usual
    /// allocation, so rotating through it does not multiply one's share.
    pub fn limit_key(self) -> IpAddr {
        limit_key(self.0)
    }
}

/// See [`ClientAddr::limit_key`].
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        },
    }
}

/// The reverse proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `server.trusted_proxies`: addresses (`10.0.0.5`, `::1`) or networks
    /// (`10.0.0.0/24`). The error names the entry that is neither.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{entry}` is not an address or a network"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with `headers`: `peer` itself unless it is a
    /// trusted proxy; then `X-Real-IP` when it holds an address, else the rightmost
    /// `X-Forwarded-For` entry that is not itself a trusted proxy (entries to its left were
    /// written by the client and prove nothing), else `peer`.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let header = |name: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .collect::<Vec<_>>()
        };
        if let Some(ip) = header("x-real-ip")
            .last()
            .and_then(|value| value.trim().parse::<IpAddr>().ok())
        {
            return canonical(ip);
        }
        let forwarded = header("x-forwarded-for").join(",");
        for entry in forwarded.rsplit(',') {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                break;
            };
            let ip = canonical(ip);
            if !self.contains(ip) {
                return ip;
            }
        }
        peer
    }
}

/// An IPv4-mapped IPv6 address as IPv4 (a dual-stack socket reports IPv4 clients so).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("valid")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn headers_of_an_untrusted_peer_are_ignored() {
        let trusted = proxies(&["10.0.0.1"]);
        let h = headers(&[("x-real-ip", "1.2.3.4"), ("x-forwarded-for", "5.6.7.8")]);
        assert_eq!(trusted.client_of(ip("9.9.9.9"), &h), ip("9.9.9.9"));
        assert_eq!(
            TrustedProxies::default().client_of(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = proxies(&["10.0.0.0/24", "::1"]);
        let real = headers(&[("x-real-ip", "1.2.3.4")]);
        assert_eq!(trusted.client_of(ip("10.0.0.7"), &real), ip("1.2.3.4"));
        // The rightmost entry not written by a trusted proxy: the client's own claims to
        // its left are not believed.
        let forwarded = headers(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.3")]);
        assert_eq!(trusted.client_of(ip("::1"), &forwarded), ip("1.2.3.4"));
        assert_eq!(
            trusted.client_of(ip("10.0.0.7"), &HeaderMap::new()),
            ip("10.0.0.7")
        );
        let junk = headers(&[("x-real-ip", "not an address")]);
        assert_eq!(trusted.client_of(ip("10.0.0.7"), &junk), ip("10.0.0.7"));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    }

    #[test]
    fn entries_that_are_not_addresses_are_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33".to_owned()]).is_err());
        assert!(TrustedProxies::parse(&["nginx".to_owned()]).is_err());
        assert!(TrustedProxies::parse(&[" 10.0.0.1 ".to_owned()]).is_ok());
    }
}
