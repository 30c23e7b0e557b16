//! [`derive`]: EdgeOS's configuration tree turned into the tool's keys, each with where it
//! came from, or the reason it could not be (a refusal names what it saw, so the owner can
//! choose). Pure: the fixtures under `tests/init/` are checked by one unit test.
//!
//! The tunnel is the WireGuard interface with the one enabled peer routing 0.0.0.0/0 (or,
//! given `--peer-ip`, the one whose prefix holds it); the WANs are the load-balance group
//! the LAN's catch-all `modify` rule uses (not the first in the file), its one primary and
//! its one failover-only interface; the LANs are the interfaces the load balancer's modify
//! firewall, a DHCP server or DNS forwarding serves, never a WAN, a group member or a
//! tunnel. Whatever is `disable`d (a peer, a next-hop, an interface) is not used.

use std::net::Ipv4Addr;

use super::Derived;
use crate::edgeos::{self, ConfiguredPeer, Node};
use crate::net::Ipv4Net;

/// An interface of the configuration, by the name the kernel gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Iface {
    /// `eth0`, `eth0.10` (a vif), `pppoe0`, `switch0`, `br0`, `wg0`.
    name: String,
    /// Where it is in the configuration, for the comments.
    path: String,
    addrs: Vec<Ipv4Net>,
    /// Host addresses (`address 192.168.1.2/24`), as written.
    hosts: Vec<(Ipv4Addr, u8)>,
    dhcp: bool,
    pppoe: bool,
    /// `firewall in modify NAME`.
    modify: Option<String>,
    /// `disable` on it or on the interface it is a vif or a PPPoE session of.
    disabled: bool,
}

/// `A.B.C.D/len` of a host address; the network of it.
fn host_prefix(v: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, l) = v.split_once('/')?;
    let len: u8 = l.parse().ok().filter(|l| *l <= 32)?;
    Some((a.parse().ok()?, len))
}

fn network(addr: Ipv4Addr, len: u8) -> Ipv4Net {
    Ipv4Net { addr: Ipv4Addr::from(u32::from(addr) & crate::net::prefix_mask(len)), len }
}

/// Every interface the configuration declares, with vifs and PPPoE sessions named as the
/// kernel names them.
fn interfaces(root: &Node) -> Vec<Iface> {
    let mut out = Vec::new();
    let Some(ifs) = root.child("interfaces") else { return out };
    fn one(name: String, path: String, n: &Node, pppoe: bool, parent_disabled: bool) -> Iface {
        let hosts: Vec<(Ipv4Addr, u8)> = n.leaves_of("address").filter_map(host_prefix).collect();
        let modify = n.child("firewall").and_then(|f| f.child("in")).and_then(|i| i.leaf("modify")).map(str::to_string);
        Iface {
            name,
            path,
            addrs: hosts.iter().map(|(a, l)| network(*a, *l)).collect(),
            hosts,
            dhcp: n.leaves_of("address").any(|a| a == "dhcp"),
            pppoe,
            modify,
            disabled: parent_disabled || n.flag("disable"),
        }
    }
    for kind in ["ethernet", "switch", "bridge", "wireguard", "openvpn", "bonding"] {
        for (name, n) in ifs.named(kind) {
            let off = n.flag("disable");
            out.push(one(name.to_string(), format!("interfaces {kind} {name}"), n, false, false));
            for (vif, v) in n.named("vif") {
                out.push(one(format!("{name}.{vif}"), format!("interfaces {kind} {name} vif {vif}"), v, false, off));
            }
            for (id, p) in n.named("pppoe") {
                out.push(one(format!("pppoe{id}"), format!("interfaces {kind} {name} pppoe {id}"), p, true, off));
            }
            for (vif, v) in n.named("vif") {
                for (id, p) in v.named("pppoe") {
                    let path = format!("interfaces {kind} {name} vif {vif} pppoe {id}");
                    out.push(one(format!("pppoe{id}"), path, p, true, off || v.flag("disable")));
                }
            }
        }
    }
    out
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

/// The values of `init`, from EdgeOS's configuration tree. `peer_ip` is `--peer-ip`.
pub fn derive(root: &Node, peer_ip: Option<Ipv4Addr>) -> Derived {
    let mut d = Derived::default();
    let ifaces = interfaces(root);
    derive_wireguard(root, &ifaces, peer_ip, &mut d);
    derive_wans(root, &ifaces, &mut d);
    // Never a LAN: a tunnel, a member of any load-balance group (a WAN), loopback.
    let mut not_lan: Vec<&str> = groups(root).iter().flat_map(|(_, g)| g.named("interface").map(|(i, _)| i)).collect();
    not_lan.extend(root.child("interfaces").into_iter().flat_map(|i| i.named("wireguard").map(|(w, _)| w)));
    not_lan.push("lo");
    derive_lan(root, &ifaces, &not_lan, &mut d);
    d
}

/// A WireGuard interface and its peers.
struct Tunnel<'a> {
    name: &'a str,
    iface: Option<&'a Iface>,
    peers: Vec<ConfiguredPeer>,
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
        let addrs: Vec<String> = self.hosts().iter().map(|(a, l)| format!("{a}/{l}")).collect();
        let ends: Vec<&str> = self.peers.iter().filter(|p| !p.disabled).filter_map(|p| p.endpoint.as_deref()).collect();
        format!(
            "{} (address {}, endpoint {})",
            self.name,
            if addrs.is_empty() { "none".to_string() } else { addrs.join(" ") },
            if ends.is_empty() { "none".to_string() } else { ends.join(" ") }
        )
    }

    /// What each peer routes: `wg0 peer xTIBA5rb… 10.50.0.0/16 (endpoint …)`.
    fn routes(&self) -> Vec<String> {
        if self.peers.is_empty() {
            return vec![format!("{} has no peer", self.name)];
        }
        self.peers
            .iter()
            .map(|p| {
                let ips = if p.allowed_ips.is_empty() { "nothing".to_string() } else { p.allowed_ips.join(",") };
                let end = p.endpoint.as_deref().map(|e| format!(", endpoint {e}")).unwrap_or_default();
                let off = if p.disabled { ", disabled" } else { "" };
                format!("{} peer {} routes {ips}{end}{off}", self.name, short_key(&p.key))
            })
            .collect()
    }
}

fn short_key(key: &str) -> String {
    format!("{}…", key.get(..8).unwrap_or(key))
}

fn derive_wireguard(root: &Node, ifaces: &[Iface], peer_ip: Option<Ipv4Addr>, d: &mut Derived) {
    let tunnels: Vec<Tunnel> = root
        .child("interfaces")
        .map(|i| {
            i.named("wireguard")
                .map(|(name, n)| Tunnel {
                    name,
                    iface: ifaces.iter().find(|i| i.name == name),
                    peers: edgeos::peers_of(n),
                })
                .collect()
        })
        .unwrap_or_default();
    let refuse = |d: &mut Derived, why: String| {
        for k in ["WG_IFACE", "WG_ENDPOINT", "WG_PEER_IP"] {
            d.lack(k, why.clone());
        }
    };
    let list = |ts: &[&Tunnel]| ts.iter().map(|t| t.summary()).collect::<Vec<_>>().join("; ");
    let all: Vec<&Tunnel> = tunnels.iter().collect();
    if all.is_empty() {
        return refuse(d, "no WireGuard interface in the configuration".into());
    }
    let (t, why) = match peer_ip {
        Some(ip) => {
            let inside: Vec<&Tunnel> =
                all.iter().copied().filter(|t| t.hosts().iter().any(|(a, l)| network(*a, *l).contains(ip))).collect();
            match inside.as_slice() {
                [t] => (*t, format!("its prefix holds --peer-ip {ip}")),
                [] => {
                    return refuse(d, format!("--peer-ip {ip} is in no WireGuard interface's prefix: {}", list(&all)))
                }
                several => {
                    return refuse(d, format!("--peer-ip {ip} is in several interfaces' prefixes: {}", list(several)))
                }
            }
        }
        None => {
            let full: Vec<&Tunnel> = all.iter().copied().filter(|t| !t.full().is_empty()).collect();
            match full.as_slice() {
                [t] => (*t, "its peer routes 0.0.0.0/0".to_string()),
                [] => {
                    let routes: Vec<String> = all.iter().flat_map(|t| t.routes()).collect();
                    return refuse(d, format!("no enabled WireGuard peer routes 0.0.0.0/0: {}", routes.join("; ")));
                }
                several => {
                    return refuse(
                        d,
                        format!(
                            "several WireGuard interfaces route 0.0.0.0/0: {}; give --peer-ip (the VPS's tunnel address) to choose",
                            list(several)
                        ),
                    )
                }
            }
        }
    };
    let name = t.name;
    let vps = match t.full().as_slice() {
        [p] => (*p).clone(),
        [] => {
            return refuse(d, format!("no enabled peer of {name} routes 0.0.0.0/0: {}", t.routes().join("; ")));
        }
        _ => return refuse(d, format!("several peers of {name} route 0.0.0.0/0: {}", t.routes().join("; "))),
    };
    d.set("WG_IFACE", name, format!("interfaces wireguard {name} ({why})"));
    match vps.endpoint.as_deref() {
        Some(e) => {
            let (host, port) = e.rsplit_once(':').unwrap_or((e, ""));
            let port_ok = port.is_empty() || port.parse::<u16>().is_ok_and(|p| p > 0);
            // An address or a host name, checked as the configuration's parser checks it.
            match crate::config::Endpoint::parse(host.trim_matches(['[', ']'])) {
                Ok(_) if !port_ok => {
                    d.lack("WG_ENDPOINT", format!("the VPS peer's endpoint `{e}` has no valid port (1-65535)"))
                }
                Ok(end) => {
                    let from = format!("interfaces wireguard {name} peer {}: endpoint {e}", short_key(&vps.key));
                    d.set("WG_ENDPOINT", end.name.clone().unwrap_or_else(|| end.addr().to_string()), from.clone());
                    if !port.is_empty() {
                        d.set("WG_ENDPOINT_PORT", port, from);
                    }
                }
                Err(_) => d.lack(
                    "WG_ENDPOINT",
                    format!("the VPS peer's endpoint `{e}` is neither an IPv4 address nor a host name"),
                ),
            }
        }
        None => d.lack("WG_ENDPOINT", format!("the VPS peer of {name} has no endpoint")),
    }
    match peer_ip {
        Some(ip) => match peer_ip_refused(ip, t.hosts()) {
            Some(why) => d.lack("WG_PEER_IP", format!("--peer-ip {ip} {why}")),
            None => d.set("WG_PEER_IP", ip.to_string(), "--peer-ip"),
        },
        None => match t.hosts().first().and_then(|(a, l)| other_host(*a, *l).map(|o| (o, *a, *l))) {
            Some((other, a, l)) => d.set(
                "WG_PEER_IP",
                other.to_string(),
                format!("interfaces wireguard {name} address {a}/{l}: the other host of the /{l}"),
            ),
            None => {
                let addr = t.hosts().first().map_or("no address".to_string(), |(a, l)| format!("address {a}/{l}"));
                d.lack("WG_PEER_IP", format!("{name} has {addr}, which does not name one other host: give the VPS's tunnel address with --peer-ip"))
            }
        },
    }
}

/// Why `ip` cannot be the VPS's tunnel address on an interface with `hosts`, if it cannot.
fn peer_ip_refused(ip: Ipv4Addr, hosts: &[(Ipv4Addr, u8)]) -> Option<&'static str> {
    if hosts.iter().any(|(a, _)| *a == ip) {
        return Some("is the router's own tunnel address");
    }
    let edge = hosts.iter().any(|(a, l)| {
        let net = network(*a, *l);
        let last = u32::from(net.addr) | !crate::net::prefix_mask(*l);
        *l < 31 && (ip == net.addr || u32::from(ip) == last)
    });
    edge.then_some("is its prefix's network or broadcast address")
}

/// The load-balance groups, in file order.
fn groups(root: &Node) -> Vec<(&str, &Node)> {
    root.child("load-balance").map(|l| l.named("group").collect()).unwrap_or_default()
}

/// `G (eth0, eth1 failover-only)`, for a refusal.
fn group_summary(name: &str, g: &Node) -> String {
    let ifs: Vec<String> = g
        .named("interface")
        .map(|(i, n)| if n.flag("failover-only") { format!("{i} failover-only") } else { i.to_string() })
        .collect();
    format!("{name} ({})", ifs.join(", "))
}

/// Whether a firewall rule matches every packet: nothing but its action, its modify and
/// words (description, log) that select nothing.
fn catch_all(rule: &Node) -> bool {
    !rule.flag("disable")
        && rule.children.iter().all(|c| c.name == "modify")
        && rule.leaves.iter().all(|l| ["action", "description", "log"].contains(&l.split(' ').next().unwrap_or("")))
}

/// The load-balance groups the LAN's traffic uses: in each modify ruleset an enabled
/// interface applies, the lowest-numbered catch-all rule with an `lb-group`. Each as
/// (group, where it came from).
fn lan_groups<'a>(root: &'a Node, ifaces: &[Iface]) -> Vec<(&'a str, String)> {
    let Some(fw) = root.child("firewall") else { return Vec::new() };
    let mut out: Vec<(&str, String)> = Vec::new();
    for (set, rules) in fw.named("modify") {
        let users: Vec<&str> = ifaces
            .iter()
            .filter(|i| !i.disabled && i.modify.as_deref() == Some(set))
            .map(|i| i.name.as_str())
            .collect();
        if users.is_empty() {
            continue;
        }
        // The rules run in their numbers' order, whatever the file's.
        let first = rules
            .named("rule")
            .filter_map(|(n, r)| {
                let group = r.child("modify").and_then(|m| m.leaf("lb-group")).filter(|_| catch_all(r))?;
                Some((n.parse::<u32>().ok()?, group))
            })
            .min_by_key(|(n, _)| *n);
        if let Some((n, group)) = first {
            let from = format!("firewall modify {set} rule {n}, the catch-all of {}", users.join(", "));
            if !out.iter().any(|(g, _)| *g == group) {
                out.push((group, from));
            }
        }
    }
    out
}

/// The default routes' enabled static next-hops: (next-hop, distance).
fn static_next_hops(root: &Node) -> Vec<(Ipv4Addr, u32)> {
    let Some(st) = root.child("protocols").and_then(|p| p.child("static")) else { return Vec::new() };
    st.named("route")
        .filter(|(dst, r)| *dst == "0.0.0.0/0" && !r.flag("disable"))
        .flat_map(|(_, r)| r.named("next-hop"))
        .filter(|(_, n)| !n.flag("disable"))
        .filter_map(|(hop, n)| Some((hop.parse().ok()?, n.leaf("distance").and_then(|v| v.parse().ok()).unwrap_or(1))))
        .collect()
}

fn derive_wans(root: &Node, ifaces: &[Iface], d: &mut Derived) {
    let refuse = |d: &mut Derived, why: String| {
        for k in ["PRIMARY_DEV", "PRIMARY_GW", "BACKUP_DEV", "BACKUP_GW"] {
            d.lack(k, why.clone());
        }
    };
    let groups = groups(root);
    let all = || groups.iter().map(|(n, g)| group_summary(n, g)).collect::<Vec<_>>().join("; ");
    let used = lan_groups(root, ifaces);
    let (group, gnode, chosen_by) = match (used.as_slice(), groups.as_slice()) {
        (_, []) => return refuse(d, "no load-balance group in the configuration".into()),
        ([(g, from)], _) => match groups.iter().find(|(n, _)| n == g) {
            Some((n, node)) => (*n, *node, from.clone()),
            None => return refuse(d, format!("{from} names load-balance group {g}, which is not configured")),
        },
        ([], [(n, node)]) => (*n, *node, "the only load-balance group".to_string()),
        ([], _) => {
            return refuse(
                d,
                format!("no catch-all lb-group rule in the LAN's modify firewall chooses among the groups: {}", all()),
            )
        }
        (several, _) => {
            let named: Vec<String> = several.iter().map(|(g, from)| format!("{g} ({from})")).collect();
            return refuse(d, format!("the LAN's catch-all rules use several groups: {}", named.join("; ")));
        }
    };
    let off = |name: &str| ifaces.iter().any(|i| i.name == name && i.disabled);
    let members: Vec<(&str, &Node)> = gnode.named("interface").collect();
    let backups: Vec<&str> = members.iter().filter(|(_, n)| n.flag("failover-only")).map(|(i, _)| *i).collect();
    // A disabled primary carries nothing: not the one to watch.
    let primaries: Vec<(&str, &Node)> =
        members.iter().filter(|(i, n)| !n.flag("failover-only") && !off(i)).copied().collect();
    let ((primary, pnode), backup) = match (primaries.as_slice(), backups.as_slice()) {
        (_, [b]) if off(b) => {
            return refuse(d, format!("the failover-only interface {b} of load-balance group {group} is disabled"))
        }
        ([p], [b]) => (*p, *b),
        _ => {
            return refuse(
                d,
                format!(
                    "load-balance group {group} ({chosen_by}) has no single enabled primary plus one failover-only interface; the groups: {}",
                    all()
                ),
            )
        }
    };
    d.set("PRIMARY_DEV", primary, format!("load-balance group {group} interface {primary} ({chosen_by})"));
    d.set("BACKUP_DEV", backup, format!("load-balance group {group} interface {backup} (failover-only)"));
    let hops = static_next_hops(root);
    for (key, dev) in [("PRIMARY_GW", primary), ("BACKUP_GW", backup)] {
        let iface = ifaces.iter().find(|i| i.name == dev);
        let hop = iface.and_then(|i| {
            hops.iter()
                .filter(|(h, _)| i.addrs.iter().any(|n| n.len > 0 && n.contains(*h)))
                .min_by_key(|(_, dist)| *dist)
        });
        match (iface, hop) {
            (_, Some((h, _))) => {
                d.set(key, h.to_string(), format!("protocols static route 0.0.0.0/0 next-hop {h} (on {dev}'s subnet)"))
            }
            (Some(i), None) if i.pppoe => d.set(key, "auto", format!("{}: PPPoE, the session's peer", i.path)),
            (Some(i), None) if i.dhcp => d.set(key, "auto", format!("{}: address dhcp, the lease's gateway", i.path)),
            _ => d.set(key, "auto", format!("no static next-hop on {dev}'s subnet: the gateway of its default route")),
        }
    }
    let targets: Vec<String> = pnode
        .child("route-test")
        .and_then(|r| r.child("type"))
        .and_then(|t| t.child("ping"))
        .map(|p| p.leaves_of("target").filter(|t| t.parse::<Ipv4Addr>().is_ok()).map(str::to_string).collect())
        .unwrap_or_default();
    if !targets.is_empty() {
        d.set(
            "TRACK_IPS",
            targets.join(" "),
            format!("load-balance group {group} interface {primary} route-test type ping target"),
        );
    }
}

fn derive_lan(root: &Node, ifaces: &[Iface], not_lan: &[&str], d: &mut Derived) {
    // Modify rulesets that send traffic to a load-balance group.
    let lb_rulesets: Vec<&str> = root
        .child("firewall")
        .map(|f| {
            f.named("modify")
                .filter(|(_, m)| {
                    m.named("rule").any(|(_, r)| r.child("modify").is_some_and(|x| x.leaf("lb-group").is_some()))
                })
                .map(|(name, _)| name)
                .collect()
        })
        .unwrap_or_default();
    let service = root.child("service");
    let dns_listen: Vec<&str> = service
        .and_then(|s| s.child("dns"))
        .and_then(|d| d.child("forwarding"))
        .map(|f| f.leaves_of("listen-on").collect())
        .unwrap_or_default();
    let dhcp_subnets: Vec<Ipv4Net> = service
        .and_then(|s| s.child("dhcp-server"))
        .map(|d| {
            d.named("shared-network-name")
                .filter(|(_, n)| !n.flag("disable"))
                .flat_map(|(_, n)| n.named("subnet"))
                .filter_map(|(sub, _)| sub.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut lans: Vec<(&Iface, String)> = Vec::new();
    for i in ifaces.iter().filter(|i| !i.addrs.is_empty() && !i.pppoe && !i.disabled && !not_lan.contains(&&*i.name)) {
        let why = if i.modify.as_deref().is_some_and(|m| lb_rulesets.contains(&m)) {
            format!("{}: firewall in modify {}", i.path, i.modify.as_deref().unwrap_or_default())
        } else if i.addrs.iter().any(|a| dhcp_subnets.contains(a)) {
            format!("{}: serves DHCP", i.path)
        } else if dns_listen.contains(&i.name.as_str()) {
            format!("{}: DNS forwarding listens on it", i.path)
        } else {
            continue;
        };
        lans.push((i, why));
    }
    if lans.is_empty() {
        d.lack("LAN_SUBNET", "no interface with the load balancer's modify firewall, a DHCP server or DNS forwarding");
        return;
    }
    let subnets: Vec<String> = lans.iter().flat_map(|(i, _)| i.addrs.iter().map(|a| a.to_string())).collect();
    let from: Vec<&str> = lans.iter().map(|(_, w)| w.as_str()).collect();
    d.set("LAN_SUBNET", subnets.join(" "), from.join("; "));
    // LAN_DEV: where the resolver listens, else the first LAN interface.
    let dev = lans.iter().find(|(i, _)| dns_listen.contains(&i.name.as_str())).unwrap_or(&lans[0]);
    d.set("LAN_DEV", dev.0.name.clone(), format!("{} (the router's LAN address, for the DNS check)", dev.0.path));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;
    use std::path::Path;

    #[test]
    fn the_other_host_of_small_prefixes() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().expect("ip");
        assert_eq!(other_host(ip("10.11.0.1"), 30), Some(ip("10.11.0.2")));
        assert_eq!(other_host(ip("10.11.0.2"), 30), Some(ip("10.11.0.1")));
        assert_eq!(other_host(ip("10.11.0.3"), 30), None, "the broadcast address is no host");
        assert_eq!(other_host(ip("10.11.0.4"), 31), Some(ip("10.11.0.5")));
        assert_eq!(other_host(ip("10.11.0.5"), 31), Some(ip("10.11.0.4")));
        assert_eq!(other_host(ip("10.11.0.5"), 24), None);
    }

    /// What `init` makes of `text`: each value with where it came from, each missing key
    /// with why, and the verdict (`written`, after the tool's own parser accepted the
    /// file, or `refused:` and the keys or the parser's reason).
    fn outcome(text: &str, peer_ip: Option<Ipv4Addr>) -> String {
        let root = match edgeos::parse_config_tree_checked(text) {
            Ok(root) => root,
            Err(e) => return format!("refused: {e}\n"),
        };
        let d = derive(&root, peer_ip);
        let mut out = String::new();
        for (k, v, from) in &d.values {
            let _ = writeln!(out, "{k}={v}   ({from})");
        }
        for (k, why) in &d.missing {
            let _ = writeln!(out, "missing {k}: {why}");
        }
        let missing: Vec<&str> = d.missing_required().iter().map(|(k, _)| *k).collect();
        if missing.is_empty() {
            match crate::config::parse(Path::new("/t.conf"), &d.to_text("x")) {
                Ok(_) => out.push_str("written\n"),
                Err(e) => {
                    let _ = writeln!(out, "refused by the tool's parser: {e}");
                }
            }
        } else {
            let _ = writeln!(out, "refused: {}", missing.join(", "));
        }
        out
    }

    /// Every `tests/init/NAME.boot` beside its `NAME.expected`: one or more cases, each
    /// opened by `== no options` or `== --peer-ip ADDRESS`, then [`outcome`]'s lines.
    #[test]
    fn the_fixture_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/init");
        let mut boots: Vec<_> = std::fs::read_dir(&dir)
            .expect("tests/init")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "boot"))
            .collect();
        boots.sort();
        let (mut cases, mut failures) = (0, Vec::new());
        for boot in &boots {
            let text = std::fs::read_to_string(boot).expect("fixture");
            let expected_path = boot.with_extension("expected");
            let expected = std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|_| panic!("{} has no {}", boot.display(), expected_path.display()));
            for case in expected.split("== ").filter(|c| !c.is_empty()) {
                let (head, want) = case.split_once('\n').unwrap_or((case, ""));
                let peer_ip = match head.trim() {
                    "no options" => None,
                    h => Some(
                        h.strip_prefix("--peer-ip ").and_then(|ip| ip.parse().ok()).expect("`== --peer-ip ADDRESS`"),
                    ),
                };
                let got = outcome(&text, peer_ip);
                cases += 1;
                if got != want {
                    failures.push(format!("{} == {head}\n--- expected\n{want}--- got\n{got}", boot.display()));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(boots.len() >= 12 && cases >= 15, "{} fixtures, {cases} cases", boots.len());
    }
}
