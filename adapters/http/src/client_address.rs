//! Which client a request comes from. Behind a reverse proxy every connection's peer is the
//! proxy, so the proxies named in `FORWARDED_ALLOW_IPS` are trusted to say who the client is
//! (`X-Forwarded-For`, else `Forwarded`); nobody else is.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::Request;
use poem::http::HeaderMap;

/// The peers whose forwarding headers are believed (uvicorn's `FORWARDED_ALLOW_IPS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// `*`: every peer (only for a server reachable through the proxy alone).
    any: bool,
    networks: Vec<IpNet>,
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
            networks: Vec::new(),
        }
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

    fn trusts(&self, address: Option<IpAddr>) -> bool {
        self.any
            || address.is_some_and(|ip| {
                let ip = ip.to_canonical();
                self.networks.iter().any(|net| net.contains(&ip))
            })
    }

    /// The client of a request from `peer` with these headers: the right-most hop of the
    /// forwarding chain that is not itself a trusted proxy.
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers);
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

/// The `for` hops of `X-Forwarded-For` (every header line, in order), or of `Forwarded` when
/// there is none; `None` for a hop that is no address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
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
    let x_forwarded = values("x-forwarded-for");
    if !x_forwarded.is_empty() {
        return x_forwarded.iter().map(|hop| parse_hop(hop)).collect();
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
    fn the_standard_forwarded_header_is_read_when_x_forwarded_for_is_absent() {
        let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
        let forwarded = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            trusted.resolve(ip("127.0.0.1"), &forwarded),
            ip("2001:db8:cafe::17")
        );
        let with_port = headers(&[("x-forwarded-for", "192.0.2.1:5555, 192.0.2.2")]);
        // `*` trusts every hop, so the first one names the client (as uvicorn does).
        assert_eq!(
            TrustedProxies::any().resolve(None, &with_port),
            ip("192.0.2.1")
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
