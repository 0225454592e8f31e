//! Which client a request comes from. Behind a reverse proxy every connection's peer is the
//! proxy, so the proxies named in `FORWARDED_ALLOW_IPS` are trusted to say who the client is,
//! in the one header the operator names (`FORWARDED_HEADER`: `X-Forwarded-For` by default,
//! as uvicorn reads; or the standard `Forwarded`). The other header is never read: a proxy
//! that writes one passes the other through from the client untouched, so believing it
//! would let a client choose its own address.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::Request;
use poem::http::HeaderMap;

/// The forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardingHeader {
    #[default]
    XForwardedFor,
    Forwarded,
}

impl ForwardingHeader {
    /// `x-forwarded-for` or `forwarded` (any case).
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            other => Err(format!(
                "'{other}' is neither x-forwarded-for nor forwarded"
            )),
        }
    }
}

/// The peers whose forwarding headers are believed (uvicorn's `FORWARDED_ALLOW_IPS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// `*`: every peer (only for a server reachable through the proxy alone).
    any: bool,
    networks: Vec<IpNet>,
    header: ForwardingHeader,
}

impl TrustedProxies {
    /// No proxy is trusted: the client is the connection's peer.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every peer is trusted (`*`).
    pub fn any() -> Self {
        Self {
            any: true,
            ..Self::default()
        }
    }

    /// The header the proxies write (the other is ignored).
    pub fn reading(mut self, header: ForwardingHeader) -> Self {
        self.header = header;
        self
    }

    /// Comma-separated addresses or CIDR networks, or `*`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut trusted = Self::none();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item == "*" {
                trusted.any = true;
            } else if let Ok(network) = item.parse::<IpNet>() {
                trusted.networks.push(network);
            } else if let Ok(address) = item.parse::<IpAddr>() {
                trusted.networks.push(IpNet::from(address));
            } else {
                return Err(format!("'{item}' is not an IP address or a CIDR network"));
            }
        }
        Ok(trusted)
    }

    /// Whether `address` is a trusted proxy's.
    pub fn trusts(&self, address: Option<IpAddr>) -> bool {
        self.any
            || address.is_some_and(|ip| {
                let ip = ip.to_canonical();
                self.networks.iter().any(|net| net.contains(&ip))
            })
    }

    /// The client of a request from `peer` with these headers: the right-most hop of the
    /// forwarding chain that is not itself a trusted proxy. With `*` that is the right-most
    /// hop itself (what the proxy next to the server saw): every hop left of it was written
    /// by someone the server cannot know, the client included.
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers, self.header);
        if self.any {
            return match hops.last() {
                Some(Some(ip)) => Some(*ip),
                _ => peer,
            };
        }
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                // A hop that is not an address (`unknown`, an obfuscated name) ends what can
                // be believed; the last trusted hop before it stands.
                None => break,
                Some(ip) => {
                    client = Some(*ip);
                    if !self.trusts(Some(*ip)) {
                        break;
                    }
                }
            }
        }
        client
    }
}

/// The `for` hops of the one forwarding header the proxies write (every header line, in
/// order); `None` for a hop that is no address.
fn forwarded_for(headers: &HeaderMap, header: ForwardingHeader) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| hop.trim().to_string())
            .filter(|hop| !hop.is_empty())
            .collect()
    };
    if header == ForwardingHeader::XForwardedFor {
        return values("x-forwarded-for")
            .iter()
            .map(|hop| parse_hop(hop))
            .collect();
    }
    values("forwarded")
        .iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_hop(value.trim().trim_matches('"')))
            })
        })
        .collect()
}

/// `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, _port) = hop.rsplit_once(':')?;
    host.parse().ok()
}

/// The resolved client address of a request, set once by the application's middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddress(pub Option<IpAddr>);

/// Resolves the client of `request` and records it on the request.
pub(crate) fn record_client(request: &mut Request, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = request.remote_addr().as_socket_addr().map(|a| a.ip());
    let client = trusted.resolve(peer, request.headers());
    request.set_data(ClientAddress(client));
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn forwarding_headers_of_an_untrusted_peer_are_ignored() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            trusted.resolve(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::none().resolve(ip("10.0.0.1"), &spoofed),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.1, 10.0.1.0/24").unwrap();
        // The client forged the first hop; the proxies appended the real ones.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.1.5")]);
        assert_eq!(trusted.resolve(ip("10.0.0.1"), &chain), ip("198.51.100.7"));
        let split = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.8"),
        ]);
        assert_eq!(trusted.resolve(ip("10.0.0.1"), &split), ip("198.51.100.8"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let trusted = TrustedProxies::parse("10.0.0.1").unwrap();
        // A proxy that writes `Forwarded` passes the client's own X-Forwarded-For through.
        let both = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=198.51.100.7"),
        ]);
        assert_eq!(
            trusted
                .clone()
                .reading(ForwardingHeader::Forwarded)
                .resolve(ip("10.0.0.1"), &both),
            ip("198.51.100.7")
        );
        assert_eq!(trusted.resolve(ip("10.0.0.1"), &both), ip("6.6.6.6"));
        let forwarded_only = headers(&[("forwarded", "for=198.51.100.7")]);
        assert_eq!(
            trusted.resolve(ip("10.0.0.1"), &forwarded_only),
            ip("10.0.0.1"),
            "an X-Forwarded-For proxy that wrote nothing: the peer is the client"
        );
    }

    #[test]
    fn with_any_peer_trusted_only_the_right_most_hop_is_believed() {
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7")]);
        assert_eq!(
            TrustedProxies::any().resolve(ip("10.0.0.1"), &chain),
            ip("198.51.100.7"),
            "the client wrote 6.6.6.6 itself"
        );
    }

    #[test]
    fn the_standard_forwarded_header_is_read_when_configured() {
        let trusted = TrustedProxies::parse("127.0.0.1")
            .unwrap()
            .reading(ForwardingHeader::Forwarded);
        let forwarded = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            trusted.resolve(ip("127.0.0.1"), &forwarded),
            ip("2001:db8:cafe::17")
        );
        let with_port = headers(&[("x-forwarded-for", "192.0.2.1, 192.0.2.2:5555")]);
        assert_eq!(
            TrustedProxies::any().resolve(None, &with_port),
            ip("192.0.2.2")
        );
    }

    #[test]
    fn a_malformed_list_names_the_bad_item() {
        assert!(
            TrustedProxies::parse("10.0.0.1, proxy.local")
                .unwrap_err()
                .contains("proxy.local")
        );
        assert_eq!(TrustedProxies::parse("").unwrap(), TrustedProxies::none());
    }
}
