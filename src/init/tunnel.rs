//! The tunnel's keys of [`super::derive`]: WG_IFACE, WG_ENDPOINT(_PORT) and WG_PEER_IP.
//!
//! The tunnel is `--wg-iface`, else the WireGuard interface whose prefix holds `--peer-ip`,
//! else the one with an enabled peer routing 0.0.0.0/0; the VPS is that peer (`--endpoint`
//! chooses between two); its endpoint is `--endpoint`, else the peer's, checked as the
//! configuration's parser checks WG_ENDPOINT; the VPS's tunnel address is `--peer-ip`,
//! else the other host of a /30 or /31. Each refusal that lacks a value names the option
//! that gives it.

use std::fmt::Write as _;
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

    /// What each peer routes, appended to `out` after a `; `: `wg0 peer xTIBA5rb… routes
    /// 10.50.0.0/16, endpoint …`.
    fn routes(&self, out: &mut String) {
        let sep = |out: &String| if out.is_empty() { "" } else { "; " };
        let name = self.name;
        for p in &self.peers {
            let ips = if p.allowed_ips.is_empty() { "nothing".to_string() } else { p.allowed_ips.join(",") };
            let _ = write!(out, "{}{name} peer {} routes {ips}", sep(out), short_key(&p.key));
            if let Some(e) = &p.endpoint {
                let _ = write!(out, ", endpoint {e}");
            }
            if p.disabled {
                out.push_str(", disabled");
            }
        }
        for k in &self.bad_keys {
            let _ = write!(
                out,
                "{}{name} peer `{}` is not used: its key is not a WireGuard public key",
                sep(out),
                short_key(k)
            );
        }
        if self.peers.is_empty() && self.bad_keys.is_empty() {
            let _ = write!(out, "{}{name} has no peer", sep(out));
        }
    }
}

/// `wg0 (address 10.11.0.2/30, endpoint 203.0.113.10:51820); wg1 (…)`, for a refusal.
fn summaries(ts: &[&Tunnel]) -> String {
    let mut out = String::new();
    for t in ts {
        let sep = if out.is_empty() { "" } else { "; " };
        let _ = write!(out, "{sep}{} (address {}, endpoint ", t.name, addresses(t.hosts()));
        let mut ends = t.peers.iter().filter(|p| !p.disabled).filter_map(|p| p.endpoint.as_deref()).peekable();
        if ends.peek().is_none() {
            out.push_str("none");
        }
        for (k, e) in ends.enumerate() {
            let _ = write!(out, "{}{e}", if k == 0 { "" } else { " " });
        }
        out.push(')');
    }
    out
}

fn addresses(hosts: &[(Ipv4Addr, u8)]) -> String {
    if hosts.is_empty() {
        return "none".to_string();
    }
    let mut out = String::new();
    for (a, l) in hosts {
        let sep = if out.is_empty() { "" } else { " " };
        let _ = write!(out, "{sep}{a}/{l}");
    }
    out
}

fn short_key(key: &str) -> String {
    format!("{}…", key.get(..8).unwrap_or(key))
}

fn tunnels<'a>(root: &'a Node, ifaces: &'a [Iface]) -> Vec<Tunnel<'a>> {
    let mut out = Vec::new();
    let Some(all) = root.child("interfaces") else { return out };
    for (name, n) in all.named("wireguard") {
        let mut bad_keys = Vec::new();
        for (k, _) in n.named("peer") {
            if crate::wireguard::key_from_base64(k).is_none() {
                bad_keys.push(k);
            }
        }
        let iface = ifaces.iter().find(|i| i.name == name);
        out.push(Tunnel { name, iface, peers: edgeos::peers_of(n), bad_keys });
    }
    out
}

/// The tunnel: its index in `tunnels` (`None`: `--wg-iface` names an interface the
/// configuration lacks) and why it was chosen; or why none can be.
fn choose(tunnels: &[Tunnel], ifaces: &[Iface], given: &Given) -> Result<(Option<usize>, String), String> {
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
        let mut inside: Vec<&Tunnel> = Vec::new();
        for t in tunnels {
            if t.hosts().iter().any(|(a, l)| network(*a, *l).contains(ip)) {
                inside.push(t);
            }
        }
        return match inside.as_slice() {
            [t] => Ok((pick(t), format!("its prefix holds --peer-ip {ip}"))),
            [] => Err(format!("--peer-ip {ip} is in no WireGuard interface's prefix: {}", summaries(&all))),
            several => Err(format!(
                "--peer-ip {ip} is in several interfaces' prefixes: {}; give --wg-iface NAME to choose",
                summaries(several)
            )),
        };
    }
    let mut full: Vec<&Tunnel> = Vec::new();
    for t in tunnels {
        if !t.full().is_empty() {
            full.push(t);
        }
    }
    match full.as_slice() {
        [t] => Ok((pick(t), "its peer routes 0.0.0.0/0".to_string())),
        [] => {
            let mut routes = String::new();
            for t in &all {
                t.routes(&mut routes);
            }
            Err(format!("no enabled WireGuard peer routes 0.0.0.0/0: {routes}"))
        }
        several => Err(format!(
            "several WireGuard interfaces route 0.0.0.0/0: {}; give --wg-iface NAME or --peer-ip (the VPS's tunnel address) to choose",
            summaries(several)
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
    let refuse = |d: &mut Derived, why: String| d.lack_all(&["WG_IFACE", "WG_ENDPOINT", "WG_PEER_IP"], why);
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
            let mut named: Vec<&ConfiguredPeer> = Vec::new();
            for p in &full {
                if asked.is_some() && p.endpoint.as_deref().map(|e| split_endpoint(e).0) == asked {
                    named.push(p);
                }
            }
            match named.as_slice() {
                [p] => Some(*p),
                _ => {
                    let mut routes = String::new();
                    t.routes(&mut routes);
                    return refuse(
                        d,
                        if full.is_empty() {
                            format!("no enabled peer of {name} routes 0.0.0.0/0: {routes}")
                        } else {
                            format!("several peers of {name} route 0.0.0.0/0: {routes}; give --endpoint (the VPS's) to choose")
                        },
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
    // `interfaces wireguard wg0 peer xTIBA5rb…: endpoint 203.0.113.10:51820`.
    let peer_from =
        from_peer.map(|(vps, e)| format!("interfaces wireguard {name} peer {}: endpoint {e}", short_key(&vps.key)));
    match (&given.endpoint, from_peer, peer_from) {
        (Some((host, port)), _, from) => {
            d.set("WG_ENDPOINT", host.clone(), "--endpoint");
            match (port, peer_port, from) {
                (Some(p), _, _) => d.set("WG_ENDPOINT_PORT", p.to_string(), "--endpoint"),
                (None, Some(p), Some(from)) => d.set("WG_ENDPOINT_PORT", p, from),
                _ => {}
            }
        }
        (None, Some((_, e)), Some(from)) => {
            let (host, port) = split_endpoint(e);
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
        (None, _, _) if vps.is_some() => {
            d.lack("WG_ENDPOINT", format!("the VPS peer of {name} has no endpoint: {give}"))
        }
        (None, _, _) => d.lack("WG_ENDPOINT", format!("{name} is not in the configuration: {give}")),
    }
}

fn config_ok(key: &str, v: &str) -> bool {
    crate::config::check_value(key, v).is_ok()
}

/// WG_PEER_IP: `--peer-ip` if it can be the VPS's tunnel address on `hosts`, else the
/// other host of a /30 or /31.
fn peer_ip(name: &str, hosts: &[(Ipv4Addr, u8)], configured: bool, given: &Given, d: &mut Derived) {
    match peer_ip_of(name, hosts, configured, given) {
        Ok((ip, from)) => d.set("WG_PEER_IP", ip.to_string(), from),
        Err(why) => d.lack("WG_PEER_IP", why),
    }
}

/// [`peer_ip`]'s value and where it came from, or why there is none.
fn peer_ip_of(
    name: &str,
    hosts: &[(Ipv4Addr, u8)],
    configured: bool,
    given: &Given,
) -> Result<(Ipv4Addr, String), String> {
    let give = "give the VPS's tunnel address with --peer-ip IP";
    if let Some(ip) = given.peer_ip {
        return match peer_ip_refused(ip, hosts) {
            Some(why) => Err(format!("--peer-ip {ip} {why}")),
            None if configured => Ok((ip, "--peer-ip".into())),
            None => Ok((ip, format!("--peer-ip ({name} is not in the configuration)"))),
        };
    }
    match hosts.first() {
        Some((a, l)) => match other_host(*a, *l) {
            Some(other) => {
                Ok((other, format!("interfaces wireguard {name} address {a}/{l}: the other host of the /{l}")))
            }
            None => Err(format!("{name} has address {a}/{l}, which does not name one other host: {give}")),
        },
        None if !configured => Err(format!("{name} is not in the configuration: {give}")),
        None => Err(format!("{name} has no address, which does not name one other host: {give}")),
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

    /// Two tunnels, one with an endpoint-less peer, a disabled one and a mistyped key, one
    /// with no peer: each line of the refusal, in order.
    #[test]
    fn a_refusal_lists_what_every_peer_routes() {
        let key = "hFS2RQXzCv0ZiWsEVHE4NoJ5pMeUFEzA9mbm2mIHJSE=";
        let peer = |endpoint: Option<&str>, ips: &[&str], disabled| ConfiguredPeer {
            key: key.into(),
            endpoint: endpoint.map(str::to_string),
            allowed_ips: ips.iter().map(|s| s.to_string()).collect(),
            disabled,
        };
        let wg0 = Tunnel {
            name: "wg0",
            iface: None,
            peers: vec![peer(None, &["10.11.0.9/32", "10.50.0.0/16"], false), peer(Some("v:1"), &[], true)],
            bad_keys: vec!["xTIBA5rbNOTAKEY"],
        };
        let wg1 = Tunnel { name: "wg1", iface: None, peers: Vec::new(), bad_keys: Vec::new() };
        let mut routes = String::new();
        wg0.routes(&mut routes);
        wg1.routes(&mut routes);
        assert_eq!(
            routes,
            "wg0 peer hFS2RQXz… routes 10.11.0.9/32,10.50.0.0/16; wg0 peer hFS2RQXz… routes nothing, endpoint v:1, disabled; \
             wg0 peer `xTIBA5rb…` is not used: its key is not a WireGuard public key; wg1 has no peer"
        );
        assert_eq!(summaries(&[&wg1]), "wg1 (address none, endpoint none)");
        let mut wg2 = Tunnel { name: "wg2", iface: None, peers: wg0.peers.clone(), bad_keys: Vec::new() };
        wg2.peers.push(peer(Some("h:2"), &[], false));
        wg2.peers.push(peer(Some("h:3"), &[], false));
        assert_eq!(summaries(&[&wg1, &wg2]), "wg1 (address none, endpoint none); wg2 (address none, endpoint h:2 h:3)");
        assert_eq!(addresses(&[(ip("10.11.0.2"), 30), (ip("10.12.0.1"), 24)]), "10.11.0.2/30 10.12.0.1/24");
    }

    /// The WG_PEER_IP lines the corpus does not reach: a configured tunnel with no address,
    /// and `--peer-ip` for one the configuration lacks.
    #[test]
    fn peer_ip_without_an_address() {
        let why =
            "wg0 has no address, which does not name one other host: give the VPS's tunnel address with --peer-ip IP";
        assert_eq!(peer_ip_of("wg0", &[], true, &Given::default()), Err(why.to_string()));
        let given = Given { peer_ip: Some(ip("10.11.0.1")), ..Given::default() };
        let from = "--peer-ip (wg0 is not in the configuration)".to_string();
        assert_eq!(peer_ip_of("wg0", &[], false, &given), Ok((ip("10.11.0.1"), from)));
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
