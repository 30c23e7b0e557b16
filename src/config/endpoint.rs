//! WG_ENDPOINT and WG_ENDPOINT_DNS: the VPS as an IPv4 address or a host name, the
//! address in use for a name (filled by `crate::endpoint`), and the checks of both keys.

use std::cell::Cell;
use std::fmt;
use std::net::Ipv4Addr;

use super::keys::{ipv4, list};

/// WG_ENDPOINT: the VPS's IPv4 address, or its DNS name (`endpoint` resolves it). Every
/// route and the peer read [`Endpoint::addr`]: for an address, the address itself — the
/// very paths an address always took; for a name, the address this round uses (the one
/// cached in STATE_DIR, or resolved now), unspecified until one is known.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// `None`: the file gave an address.
    pub name: Option<String>,
    addr: Cell<Ipv4Addr>,
}

impl Endpoint {
    pub fn address(ip: Ipv4Addr) -> Endpoint {
        Endpoint { name: None, addr: Cell::new(ip) }
    }

    pub fn named(name: &str) -> Endpoint {
        Endpoint { name: Some(name.to_string()), addr: Cell::new(Ipv4Addr::UNSPECIFIED) }
    }

    /// WG_ENDPOINT's value checked (see [`endpoint`]): `init` checks an endpoint of
    /// config.boot as the configuration's parser will.
    pub fn parse(v: &str) -> Result<Endpoint, String> {
        endpoint(v)
    }

    /// The address the routes and the peer use.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr.get()
    }

    /// Whether an address is known (always, for an address endpoint).
    pub fn known(&self) -> bool {
        !self.addr.get().is_unspecified()
    }

    /// The address resolved for a name (an address endpoint never changes).
    pub fn resolved_to(&self, ip: Ipv4Addr) {
        if self.name.is_some() {
            self.addr.set(ip);
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.name, self.known()) {
            (None, _) => write!(f, "{}", self.addr()),
            (Some(n), true) => write!(f, "{n} ({})", self.addr()),
            (Some(n), false) => write!(f, "{n} (unresolved)"),
        }
    }
}

/// WG_ENDPOINT: an IPv4 address, or a host name (RFC 1123: labels of letters, digits
/// and inner hyphens, 1 to 63 bytes each, 253 in all; the last label not all digits, so a
/// mistyped address is no name).
pub(super) fn endpoint(v: &str) -> Result<Endpoint, String> {
    if let Ok(ip) = v.parse::<Ipv4Addr>() {
        if ip.is_unspecified() {
            return Err(format!("`{v}` cannot be the VPS"));
        }
        return Ok(Endpoint::address(ip));
    }
    let name = v.strip_suffix('.').unwrap_or(v);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let last_numeric = name.rsplit('.').next().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if name.len() > 253 || !name.split('.').all(label_ok) || last_numeric {
        return Err(format!(
            "`{v}` is neither an IPv4 address nor a host name (RFC 1123: letters, digits and inner hyphens, \
             labels of 1 to 63, 253 in all)"
        ));
    }
    Ok(Endpoint::named(&name.to_ascii_lowercase()))
}

/// WG_ENDPOINT_DNS: resolvers' IPv4 addresses, each once, at most three (as resolv.conf).
pub(super) fn resolvers(v: &str) -> Result<Vec<Ipv4Addr>, String> {
    let mut ips: Vec<Ipv4Addr> = Vec::new();
    for item in list(v) {
        let ip = ipv4(item)?;
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Err(format!("`{item}` cannot be a resolver (unspecified, multicast or broadcast)"));
        }
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    if ips.len() > 3 {
        return Err("at most 3 resolvers".into());
    }
    Ok(ips)
}
