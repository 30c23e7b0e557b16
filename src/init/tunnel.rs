//! The tunnel's keys of [`super::derive`]: WG_IFACE, WG_ENDPOINT(_PORT) and WG_PEER_IP.
//!
//! The tunnel is `--wg-iface`, else the WireGuard interface whose prefix holds `--peer-ip`,
//! else the one with an enabled peer routing 0.0.0.0/0; the VPS is that peer (`--endpoint`
//! chooses between two); its endpoint is `--endpoint`, else the peer's, checked as the
//! configuration's parser checks WG_ENDPOINT; the VPS's tunnel address is `--peer-ip`,
//! else the other host of a /30 or /31. Each refusal that lacks a value names the option
//! that gives it.

use std::net::Ipv4Addr;

use super::derive::{network, Iface};
use super::{Derived, Given};
use crate::edgeos::{self, ConfiguredPeer, Node};

/// A WireGuard interface of the configuration and its peers.
struct Tunnel<'a> {
    name: &'a str,
    iface: Option<&'a Iface>,
    peers: Vec<ConfiguredPeer>,
    /// `peer X` nodes whose X is no WireGuard public key (the interface has no such peer).
    bad_keys: Vec<&'a str>,
}

impl Tunnel<'_> {
    /// Its enabled peers routing 0.0.0.0/0.
    fn full(&self) -> Vec<&ConfiguredPeer> {
        self.peers.iter().filter(|p| !p.disabled && p.allowed_ips.iter().any(|a| a == "0.0.0.0/0")).collect()
    }

    fn hosts(&self) -> &[(Ipv4Addr, u8)] {
        self.iface.map_or(&[], |i| i.hosts.as_slice())
    }

    /// `wg0 (address 10.11.0.2/30, endpoints 203.0.113.10:51820)`, for a refusal.
    fn summary(&self) -> String {
        let ends: Vec<&str> = self.peers.iter().filter(|p| !p.disabled).filter_map(|p| p.endpoint.as_deref()).collect();
        format!(
            "{} (address {}, endpoint {})",
            self.name,
            addresses(self.hosts()),
            if ends.is_empty() { "none".to_string() } else { ends.join(" ") }
        )
    }

    /// What each peer routes: `wg0 peer xTIBA5rb… 10.50.0.0/16 (endpoint …)`.
    fn routes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .peers
            .iter()
            .map(|p| {
                let ips = if p.allowed_ips.is_empty() { "nothing".to_string() } else { p.allowed_ips.join(",") };
                let end = p.endpoint.as_deref().map(|e| format!(", endpoint {e}")).unwrap_or_default();
                let off = if p.disabled { ", disabled" } else { "" };
                format!("{} peer {} routes {ips}{end}{off}", self.name, short_key(&p.key))
            })
            .collect();
        out.extend(self.bad_keys.iter().map(|k| {
            format!("{} peer `{}` is not used: its key is not a WireGuard public key", self.name, short_key(k))
        }));
        if out.is_empty() {
            out.push(format!("{} has no peer", self.name));
        }
        out
    }
}

fn addresses(hosts: &[(Ipv4Addr, u8)]) -> String {
    let addrs: Vec<String> = hosts.iter().map(|(a, l)| format!("{a}/{l}")).collect();
    if addrs.is_empty() {
        "none".to_string()
    } else {
        addrs.join(" ")
    }
}

fn short_key(key: &str) -> String {
    format!("{}…", key.get(..8).unwrap_or(key))
}

fn tunnels<'a>(root: &'a Node, ifaces: &'a [Iface]) -> Vec<Tunnel<'a>> {
    let Some(all) = root.child("interfaces") else { return Vec::new() };
    all.named("wireguard")
        .map(|(name, n)| Tunnel {
            name,
            iface: ifaces.iter().find(|i| i.name == name),
            peers: edgeos::peers_of(n),
            bad_keys: n
                .named("peer")
                .map(|(k, _)| k)
                .filter(|k| crate::wireguard::key_from_base64(k).is_none())
                .collect(),
        })
        .collect()
}

/// The tunnel: its index in `tunnels` (`None`: `--wg-iface` names an interface the
/// configuration lacks) and why it was chosen; or why none can be.
fn choose(tunnels: &[Tunnel], ifaces: &[Iface], given: &Given) -> Result<(Option<usize>, String), String> {
    let list = |ts: &[&Tunnel]| ts.iter().map(|t| t.summary()).collect::<Vec<_>>().join("; ");
    if let Some(name) = &given.wg_iface {
        return match tunnels.iter().position(|t| t.name == name) {
            Some(i) => Ok((Some(i), "--wg-iface".into())),
            None => match ifaces.iter().find(|i| &i.name == name) {
                Some(i) => Err(format!("--wg-iface {name} is {}, not a WireGuard interface", i.path)),
                None => Ok((None, "--wg-iface; it is not in the configuration".into())),
            },
        };
    }
    let all: Vec<&Tunnel> = tunnels.iter().collect();
    if all.is_empty() {
        return Err("no WireGuard interface in the configuration: give --wg-iface NAME, --endpoint HOST[:PORT] and --peer-ip IP".into());
    }
    let pick = |t: &Tunnel| tunnels.iter().position(|x| x.name == t.name);
    if let Some(ip) = given.peer_ip {
        let inside: Vec<&Tunnel> =
            all.iter().copied().filter(|t| t.hosts().iter().any(|(a, l)| network(*a, *l).contains(ip))).collect();
        return match inside.as_slice() {
            [t] => Ok((pick(t), format!("its prefix holds --peer-ip {ip}"))),
            [] => Err(format!("--peer-ip {ip} is in no WireGuard interface's prefix: {}", list(&all))),
            several => Err(format!(
                "--peer-ip {ip} is in several interfaces' prefixes: {}; give --wg-iface NAME to choose",
                list(several)
            )),
        };
    }
    let full: Vec<&Tunnel> = all.iter().copied().filter(|t| !t.full().is_empty()).collect();
    match full.as_slice() {
        [t] => Ok((pick(t), "its peer routes 0.0.0.0/0".to_string())),
        [] => {
            let routes: Vec<String> = all.iter().flat_map(|t| t.routes()).collect();
            Err(format!("no enabled WireGuard peer routes 0.0.0.0/0: {}", routes.join("; ")))
        }
        several => Err(format!(
            "several WireGuard interfaces route 0.0.0.0/0: {}; give --wg-iface NAME or --peer-ip (the VPS's tunnel address) to choose",
            list(several)
        )),
    }
}

/// The host of an endpoint `HOST:PORT` (`[v6]:PORT` too), and its port.
fn split_endpoint(e: &str) -> (&str, &str) {
    let (host, port) = e.rsplit_once(':').unwrap_or((e, ""));
    (host.trim_matches(['[', ']']), port)
}

/// WG_IFACE, WG_ENDPOINT, WG_ENDPOINT_PORT and WG_PEER_IP into `d`.
pub(super) fn derive_wireguard(root: &Node, ifaces: &[Iface], given: &Given, d: &mut Derived) {
    let refuse = |d: &mut Derived, why: String| {
        for k in ["WG_IFACE", "WG_ENDPOINT", "WG_PEER_IP"] {
            d.lack(k, why.clone());
        }
    };
    let tunnels = tunnels(root, ifaces);
    let (t, why) = match choose(&tunnels, ifaces, given) {
        Ok((i, why)) => (i.and_then(|i| tunnels.get(i)), why),
        Err(why) => return refuse(d, why),
    };
    let name = t.map_or(given.wg_iface.as_deref().unwrap_or_default(), |t| t.name);
    let hosts = t.map_or(&[][..], |t| t.hosts());
    // The VPS peer: the configuration's one routing 0.0.0.0/0 (--endpoint's of two).
    let vps = match t.map(|t| (t, t.full())) {
        None => None,
        Some((_, full)) if full.len() == 1 => full.first().copied(),
        Some((t, full)) => {
            let asked = given.endpoint.as_ref().map(|(h, _)| h.as_str());
            let named: Vec<&ConfiguredPeer> = full
                .iter()
                .copied()
                .filter(|p| asked.is_some() && p.endpoint.as_deref().map(|e| split_endpoint(e).0) == asked)
                .collect();
            match (full.len(), named.as_slice()) {
                (0, _) => {
                    let routes = t.routes().join("; ");
                    return refuse(d, format!("no enabled peer of {name} routes 0.0.0.0/0: {routes}"));
                }
                (_, [p]) => Some(*p),
                _ => {
                    let routes = t.routes().join("; ");
                    return refuse(
                        d,
                        format!(
                            "several peers of {name} route 0.0.0.0/0: {routes}; give --endpoint (the VPS's) to choose"
                        ),
                    );
                }
            }
        }
    };
    d.vps_routes_v6 = vps.map(|p| p.allowed_ips.iter().any(|a| a == "::/0"));
    d.set("WG_IFACE", name, if t.is_some() { format!("interfaces wireguard {name} ({why})") } else { why });
    endpoint(name, vps, given, d);
    peer_ip(name, hosts, t.is_some(), given, d);
}

/// WG_ENDPOINT and WG_ENDPOINT_PORT: `--endpoint`, else the VPS peer's (the port of the
/// peer's endpoint when `--endpoint` gives none).
fn endpoint(name: &str, vps: Option<&ConfiguredPeer>, given: &Given, d: &mut Derived) {
    let from_peer = vps.and_then(|p| Some((p, p.endpoint.as_deref()?)));
    let give = "give the VPS with --endpoint HOST[:PORT] (its IPv4 address or host name)";
    let peer_port = from_peer.map(|(_, e)| split_endpoint(e).1).filter(|p| config_ok("WG_ENDPOINT_PORT", p));
    match (&given.endpoint, from_peer) {
        (Some((host, port)), _) => {
            d.set("WG_ENDPOINT", host.clone(), "--endpoint");
            match (port, peer_port, from_peer) {
                (Some(p), _, _) => d.set("WG_ENDPOINT_PORT", p.to_string(), "--endpoint"),
                (None, Some(p), Some((vps, e))) => d.set(
                    "WG_ENDPOINT_PORT",
                    p,
                    format!("interfaces wireguard {name} peer {}: endpoint {e}", short_key(&vps.key)),
                ),
                _ => {}
            }
        }
        (None, Some((vps, e))) => {
            let (host, port) = split_endpoint(e);
            let from = format!("interfaces wireguard {name} peer {}: endpoint {e}", short_key(&vps.key));
            match (crate::config::check_value("WG_ENDPOINT", host), port) {
                (Err(m), _) => d.lack("WG_ENDPOINT", format!("the VPS peer's endpoint `{e}`: {m}; {give}")),
                (Ok(()), "") => d.set("WG_ENDPOINT", host, from),
                (Ok(()), p) => match crate::config::check_value("WG_ENDPOINT_PORT", p) {
                    Err(m) => d.lack("WG_ENDPOINT", format!("the VPS peer's endpoint `{e}`: port {m}; {give}")),
                    Ok(()) => {
                        d.set("WG_ENDPOINT", host, from.clone());
                        d.set("WG_ENDPOINT_PORT", p, from);
                    }
                },
            }
        }
        (None, None) if vps.is_some() => {
            d.lack("WG_ENDPOINT", format!("the VPS peer of {name} has no endpoint: {give}"))
        }
        (None, None) => d.lack("WG_ENDPOINT", format!("{name} is not in the configuration: {give}")),
    }
}

fn config_ok(key: &str, v: &str) -> bool {
    crate::config::check_value(key, v).is_ok()
}

/// WG_PEER_IP: `--peer-ip` if it can be the VPS's tunnel address on `hosts`, else the
/// other host of a /30 or /31.
fn peer_ip(name: &str, hosts: &[(Ipv4Addr, u8)], configured: bool, given: &Given, d: &mut Derived) {
    if let Some(ip) = given.peer_ip {
        return match peer_ip_refused(ip, hosts) {
            Some(why) => d.lack("WG_PEER_IP", format!("--peer-ip {ip} {why}")),
            None if configured => d.set("WG_PEER_IP", ip.to_string(), "--peer-ip"),
            None => d.set("WG_PEER_IP", ip.to_string(), format!("--peer-ip ({name} is not in the configuration)")),
        };
    }
    match hosts.first().and_then(|(a, l)| other_host(*a, *l).map(|o| (o, *a, *l))) {
        Some((other, a, l)) => d.set(
            "WG_PEER_IP",
            other.to_string(),
            format!("interfaces wireguard {name} address {a}/{l}: the other host of the /{l}"),
        ),
        None if !configured => d.lack(
            "WG_PEER_IP",
            format!("{name} is not in the configuration: give the VPS's tunnel address with --peer-ip IP"),
        ),
        None => {
            let addr = hosts.first().map_or("no address".to_string(), |(a, l)| format!("address {a}/{l}"));
            d.lack(
                "WG_PEER_IP",
                format!("{name} has {addr}, which does not name one other host: give the VPS's tunnel address with --peer-ip IP"),
            )
        }
    }
}

/// The address of a /30's or /31's other host, when `ours` leaves exactly one.
pub fn other_host(ours: Ipv4Addr, len: u8) -> Option<Ipv4Addr> {
    let a = u32::from(ours);
    let net = a & crate::net::prefix_mask(len);
    match len {
        31 => Some(Ipv4Addr::from(net + u32::from(a == net))),
        30 => match a - net {
            1 => Some(Ipv4Addr::from(net + 2)),
            2 => Some(Ipv4Addr::from(net + 1)),
            _ => None,
        },
        _ => None,
    }
}

/// Why `ip` cannot be the VPS's tunnel address on an interface with `hosts` (none: an
/// interface the configuration lacks), if it cannot.
fn peer_ip_refused(ip: Ipv4Addr, hosts: &[(Ipv4Addr, u8)]) -> Option<String> {
    if let Some(why) = crate::config::peer_ip_refused(ip) {
        return Some(why.into());
    }
    if hosts.iter().any(|(a, _)| *a == ip) {
        return Some("is the router's own tunnel address".into());
    }
    let Some((a, l)) = hosts.iter().find(|(a, l)| network(*a, *l).contains(ip)) else {
        return (!hosts.is_empty())
            .then(|| format!("is outside the interface's prefix (address {})", addresses(hosts)));
    };
    let net = network(*a, *l);
    let last = u32::from(net.addr) | !crate::net::prefix_mask(*l);
    (*l < 31 && (ip == net.addr || u32::from(ip) == last))
        .then(|| "is its prefix's network or broadcast address".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_other_host_of_small_prefixes() {
        assert_eq!(other_host(ip("10.11.0.1"), 30), Some(ip("10.11.0.2")));
        assert_eq!(other_host(ip("10.11.0.2"), 30), Some(ip("10.11.0.1")));
        assert_eq!(other_host(ip("10.11.0.3"), 30), None, "the broadcast address is no host");
        assert_eq!(other_host(ip("10.11.0.4"), 31), Some(ip("10.11.0.5")));
        assert_eq!(other_host(ip("10.11.0.5"), 31), Some(ip("10.11.0.4")));
        assert_eq!(other_host(ip("10.11.0.5"), 24), None);
    }

    #[test]
    fn a_peer_ip_that_cannot_be_the_vps() {
        let hosts = [(ip("10.11.0.2"), 24)];
        assert_eq!(peer_ip_refused(ip("10.11.0.1"), &hosts), None);
        let refused = |s: &str| peer_ip_refused(ip(s), &hosts).unwrap_or_default();
        assert_eq!(refused("10.11.0.2"), "is the router's own tunnel address");
        assert_eq!(refused("10.11.0.0"), "is its prefix's network or broadcast address");
        assert_eq!(refused("10.11.0.255"), "is its prefix's network or broadcast address");
        assert_eq!(refused("10.12.0.1"), "is outside the interface's prefix (address 10.11.0.2/24)");
        for bad in ["0.0.0.0", "255.255.255.255", "224.0.0.1", "127.0.0.1"] {
            assert_eq!(refused(bad), "cannot be a tunnel's peer (unspecified, loopback, multicast or broadcast)");
        }
        // A /31 has no network or broadcast address; an interface the configuration
        // lacks has no prefix to be inside.
        assert_eq!(peer_ip_refused(ip("10.11.0.4"), &[(ip("10.11.0.5"), 31)]), None);
        assert_eq!(peer_ip_refused(ip("10.99.0.1"), &[]), None);
        assert!(peer_ip_refused(ip("0.0.0.0"), &[]).is_some());
        // `--peer-ip` is checked as the parser checks WG_PEER_IP: the same words.
        for bad in ["0.0.0.0", "255.255.255.255", "224.0.0.1", "127.0.0.1"] {
            let e = crate::init::Given::new(Some(bad), None, &[], None).err().unwrap_or_default();
            let why = "cannot be a tunnel's peer (unspecified, loopback, multicast or broadcast)";
            assert_eq!(e, format!("--peer-ip: `{bad}` {why}"));
        }
    }
}
