//! [`derive`]: EdgeOS's configuration tree turned into the tool's keys, each with where it
//! came from, or the reason it could not be (a refusal names what it saw, so the owner can
//! choose, and the option that gives what is missing). Pure: the fixtures under
//! `tests/init/` are checked by one unit test.
//!
//! The tunnel's keys are init/tunnel.rs's; the WANs are the load-balance group the LAN's
//! catch-all `modify` rule uses (not the first in the file), its one primary and its one
//! failover-only interface; the LANs are `--lan`, else every enabled interface with an
//! address that is not a WAN (a group member, where a default route's next-hop or
//! `system gateway-address` is, or a DHCP client), a tunnel or loopback: those the load balancer's modify firewall, a DHCP server or DNS
//! forwarding serves, and the static ones, which are listed for the owner to confirm.
//! Whatever is `disable`d (a peer, a next-hop, an interface) is not used.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::{Derived, Given};
use crate::edgeos::Node;
use crate::net::Ipv4Net;

/// An interface of the configuration, by the name the kernel gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Iface {
    /// `eth0`, `eth0.10` (a vif), `pppoe0`, `switch0`, `br0`, `wg0`.
    pub(super) name: String,
    /// Where it is in the configuration, for the comments.
    pub(super) path: String,
    addrs: Vec<Ipv4Net>,
    /// Host addresses (`address 192.168.1.2/24`), as written.
    pub(super) hosts: Vec<(Ipv4Addr, u8)>,
    dhcp: bool,
    pppoe: bool,
    /// `firewall in modify NAME`.
    modify: Option<String>,
    /// `disable` on it or on the interface it is a vif or a PPPoE session of.
    disabled: bool,
}

impl Iface {
    /// Whether `a` is on one of its subnets (a gateway it reaches directly).
    fn holds(&self, a: Ipv4Addr) -> bool {
        self.addrs.iter().any(|n| n.len > 0 && n.contains(a))
    }
}

/// `A.B.C.D/len` of a host address; the network of it.
fn host_prefix(v: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, l) = v.split_once('/')?;
    let len: u8 = l.parse().ok().filter(|l| *l <= 32)?;
    Some((a.parse().ok()?, len))
}

pub(super) fn network(addr: Ipv4Addr, len: u8) -> Ipv4Net {
    Ipv4Net { addr: Ipv4Addr::from(u32::from(addr) & crate::net::prefix_mask(len)), len }
}

/// Every interface the configuration declares, with vifs and PPPoE sessions named as the
/// kernel names them.
fn interfaces(root: &Node) -> Vec<Iface> {
    let mut out = Vec::new();
    let Some(ifs) = root.child("interfaces") else { return out };
    fn one(name: String, path: String, n: &Node, pppoe: bool, parent_disabled: bool) -> Iface {
        let (mut hosts, mut addrs, mut dhcp) = (Vec::new(), Vec::new(), false);
        for v in n.leaves_of("address") {
            dhcp |= v == "dhcp";
            if let Some((a, l)) = host_prefix(v) {
                hosts.push((a, l));
                addrs.push(network(a, l));
            }
        }
        let modify = n.child("firewall").and_then(|f| f.child("in")).and_then(|i| i.leaf("modify")).map(str::to_string);
        Iface { name, path, addrs, hosts, dhcp, pppoe, modify, disabled: parent_disabled || n.flag("disable") }
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

/// The values of `init`, from EdgeOS's configuration tree and the options `given`.
pub fn derive(root: &Node, given: &Given) -> Derived {
    let mut d = Derived::default();
    let ifaces = interfaces(root);
    for i in &ifaces {
        for (a, _) in &i.hosts {
            d.configured4.push((i.name.clone(), *a));
        }
    }
    let gateways = Gateways { hops: static_next_hops(root), system: system_gateway(root) };
    super::tunnel::derive_wireguard(root, &ifaces, given, &mut d);
    derive_wans(root, &ifaces, &gateways, &mut d);
    // Never a LAN: a tunnel, a member of any load-balance group (a WAN), loopback, and a
    // WAN outside the groups (below).
    let mut not_lan: Vec<&str> = Vec::new();
    for (_, g) in groups(root) {
        not_lan.extend(g.named("interface").map(|(i, _)| i));
    }
    if let Some(all) = root.child("interfaces") {
        for kind in ["wireguard", "openvpn"] {
            not_lan.extend(all.named(kind).map(|(w, _)| w));
        }
    }
    not_lan.push("lo");
    // A WAN outside the groups: said, since a LAN of it would lose its failover.
    let mut outside: Vec<(&Iface, String)> = Vec::new();
    for i in &ifaces {
        if !not_lan.contains(&i.name.as_str()) {
            if let Some(why) = outside_wan(&gateways, i) {
                outside.push((i, why));
            }
        }
    }
    for (i, why) in outside {
        not_lan.push(&i.name);
        let lan = lan_prefixes(i);
        if given.lan.is_empty() && !lan.is_empty() && !i.disabled {
            d.confirm.push(format!(
                "{lan} is not in LAN_SUBNET: {} is a WAN outside the load-balance groups ({why})",
                i.path
            ));
        }
    }
    derive_lan(root, &ifaces, &not_lan, given, &mut d);
    d
}

/// `eth0 192.168.1.0/24, eth0 10.0.0.0/24`: the subnets of `i` that can be a LAN (a /31 or
/// /32 is a link); empty when it has none.
fn lan_prefixes(i: &Iface) -> String {
    let mut out = String::new();
    for a in i.addrs.iter().filter(|a| a.len < 31) {
        let sep = if out.is_empty() { "" } else { ", " };
        let _ = write!(out, "{sep}{} {a}", i.name);
    }
    out
}

/// Why `i` is a WAN though no load-balance group has it: a default route's gateway is on
/// its subnet (a static route's next-hop, or `system gateway-address`, where EdgeOS's
/// setup wizard puts a static WAN's), or it is a DHCP client — an uplink takes a lease, a
/// LAN hands them out — whatever static address it also has.
fn outside_wan(gateways: &Gateways, i: &Iface) -> Option<String> {
    if i.dhcp {
        return Some("address dhcp: it takes a lease".into());
    }
    if let Some((h, _)) = gateways.hops.iter().find(|(h, _)| i.holds(*h)) {
        return Some(format!("protocols static route 0.0.0.0/0 next-hop {h} is on it"));
    }
    gateways.system.filter(|g| i.holds(*g)).map(|g| format!("system gateway-address {g} is on it"))
}

/// The configuration's static gateways, read once for every interface.
struct Gateways {
    /// [`static_next_hops`].
    hops: Vec<(Ipv4Addr, u32)>,
    /// [`system_gateway`].
    system: Option<Ipv4Addr>,
}

/// The load-balance groups, in file order.
fn groups(root: &Node) -> Vec<(&str, &Node)> {
    root.child("load-balance").map(|l| l.named("group").collect()).unwrap_or_default()
}

/// `G (eth0, eth1 failover-only); H (eth2)`, for a refusal.
fn groups_summary(groups: &[(&str, &Node)]) -> String {
    let mut out = String::new();
    for (name, g) in groups {
        let sep = if out.is_empty() { "" } else { "; " };
        let _ = write!(out, "{sep}{name} (");
        for (k, (i, n)) in g.named("interface").enumerate() {
            let sep = if k == 0 { "" } else { ", " };
            let backup = if n.flag("failover-only") { " failover-only" } else { "" };
            let _ = write!(out, "{sep}{i}{backup}");
        }
        out.push(')');
    }
    out
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
        // `eth1, eth1.10`: the enabled interfaces that apply it.
        let mut users = String::new();
        for i in ifaces.iter().filter(|i| !i.disabled && i.modify.as_deref() == Some(set)) {
            let sep = if users.is_empty() { "" } else { ", " };
            let _ = write!(users, "{sep}{}", i.name);
        }
        if users.is_empty() {
            continue;
        }
        // The rules run in their numbers' order, whatever the file's: the lowest number
        // (the first in the file of equal ones).
        let mut first: Option<(u32, &str)> = None;
        for (n, r) in rules.named("rule") {
            let Some(group) = r.child("modify").and_then(|m| m.leaf("lb-group")) else { continue };
            let Ok(n) = n.parse::<u32>() else { continue };
            if catch_all(r) && first.is_none_or(|(f, _)| n < f) {
                first = Some((n, group));
            }
        }
        if let Some((n, group)) = first {
            let from = format!("firewall modify {set} rule {n}, the catch-all of {users}");
            if !out.iter().any(|(g, _)| *g == group) {
                out.push((group, from));
            }
        }
    }
    out
}

/// The default routes' enabled static next-hops: (next-hop, distance).
fn static_next_hops(root: &Node) -> Vec<(Ipv4Addr, u32)> {
    let mut out = Vec::new();
    let Some(st) = root.child("protocols").and_then(|p| p.child("static")) else { return out };
    for (_, r) in st.named("route").filter(|(dst, r)| *dst == "0.0.0.0/0" && !r.flag("disable")) {
        for (hop, n) in r.named("next-hop").filter(|(_, n)| !n.flag("disable")) {
            let Ok(hop) = hop.parse() else { continue };
            out.push((hop, n.leaf("distance").and_then(|v| v.parse().ok()).unwrap_or(1)));
        }
    }
    out
}

/// `system gateway-address`: the default route EdgeOS's setup wizard writes for a static WAN.
fn system_gateway(root: &Node) -> Option<Ipv4Addr> {
    root.child("system")?.leaf("gateway-address")?.parse().ok()
}

fn derive_wans(root: &Node, ifaces: &[Iface], gateways: &Gateways, d: &mut Derived) {
    let refuse =
        |d: &mut Derived, why: String| d.lack_all(&["PRIMARY_DEV", "PRIMARY_GW", "BACKUP_DEV", "BACKUP_GW"], why);
    let groups = groups(root);
    let all = || groups_summary(&groups);
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
            let mut why = String::from("the LAN's catch-all rules use several groups: ");
            for (k, (g, from)) in several.iter().enumerate() {
                let _ = write!(why, "{}{g} ({from})", if k == 0 { "" } else { "; " });
            }
            return refuse(d, why);
        }
    };
    let off = |name: &str| ifaces.iter().any(|i| i.name == name && i.disabled);
    let (mut backups, mut primaries): (Vec<&str>, Vec<(&str, &Node)>) = Default::default();
    for (i, n) in gnode.named("interface") {
        if n.flag("failover-only") {
            backups.push(i);
        } else if !off(i) {
            // A disabled primary carries nothing: not the one to watch.
            primaries.push((i, n));
        }
    }
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
    for (key, dev) in [("PRIMARY_GW", primary), ("BACKUP_GW", backup)] {
        let iface = ifaces.iter().find(|i| i.name == dev);
        let hop = iface.and_then(|i| gateways.hops.iter().filter(|(h, _)| i.holds(*h)).min_by_key(|(_, dist)| *dist));
        let on_gateway = gateways.system.filter(|g| iface.is_some_and(|i| i.holds(*g)));
        // A static gateway on its subnet: the lowest-distance next-hop, else the system's.
        let found = match (hop, on_gateway) {
            (Some((h, _)), _) => Some((*h, "protocols static route 0.0.0.0/0 next-hop")),
            (None, Some(g)) => Some((g, "system gateway-address")),
            (None, None) => None,
        };
        match (found, iface) {
            (Some((a, what)), _) => d.set(key, a.to_string(), format!("{what} {a} (on {dev}'s subnet)")),
            (None, Some(i)) if i.pppoe => d.set(key, "auto", format!("{}: PPPoE, the session's peer", i.path)),
            (None, Some(i)) if i.dhcp => d.set(key, "auto", format!("{}: address dhcp, the lease's gateway", i.path)),
            _ => d.set(key, "auto", format!("no static next-hop on {dev}'s subnet: the gateway of its default route")),
        }
    }
    // `1.1.1.1 8.8.8.8`: the primary's IPv4 ping targets.
    let mut targets = String::new();
    let ping = pnode.child("route-test").and_then(|r| r.child("type")).and_then(|t| t.child("ping"));
    if let Some(ping) = ping {
        for t in ping.leaves_of("target").filter(|t| t.parse::<Ipv4Addr>().is_ok()) {
            let sep = if targets.is_empty() { "" } else { " " };
            let _ = write!(targets, "{sep}{t}");
        }
    }
    if !targets.is_empty() {
        d.set(
            "TRACK_IPS",
            targets,
            format!("load-balance group {group} interface {primary} route-test type ping target"),
        );
    }
}

/// LAN_SUBNET and LAN_DEV: `--lan`, else the enabled interfaces with an address that are
/// not WANs, tunnels or loopback — those the load balancer's modify firewall, a DHCP
/// server or DNS forwarding serves, and the static ones (listed to be confirmed).
fn derive_lan(root: &Node, ifaces: &[Iface], not_lan: &[&str], given: &Given, d: &mut Derived) {
    // Modify rulesets that send traffic to a load-balance group.
    let mut lb_rulesets: Vec<&str> = Vec::new();
    if let Some(fw) = root.child("firewall") {
        for (name, m) in fw.named("modify") {
            if m.named("rule").any(|(_, r)| r.child("modify").is_some_and(|x| x.leaf("lb-group").is_some())) {
                lb_rulesets.push(name);
            }
        }
    }
    let service = root.child("service");
    let mut dns_listen: Vec<&str> = Vec::new();
    if let Some(f) = service.and_then(|s| s.child("dns")).and_then(|d| d.child("forwarding")) {
        dns_listen.extend(f.leaves_of("listen-on"));
    }
    let mut dhcp_subnets: Vec<Ipv4Net> = Vec::new();
    if let Some(dhcp) = service.and_then(|s| s.child("dhcp-server")) {
        for (_, n) in dhcp.named("shared-network-name").filter(|(_, n)| !n.flag("disable")) {
            dhcp_subnets.extend(n.named("subnet").filter_map(|(sub, _)| sub.parse::<Ipv4Net>().ok()));
        }
    }
    let mut lans: Vec<(&Iface, String)> = Vec::new();
    let mut statics: Vec<&Iface> = Vec::new();
    for i in ifaces.iter().filter(|i| !i.addrs.is_empty() && !i.pppoe && !i.disabled && !not_lan.contains(&&*i.name)) {
        let lb_modify = i.modify.as_deref().filter(|m| lb_rulesets.contains(m));
        let why = if lb_modify.is_some() {
            "firewall in modify "
        } else if i.addrs.iter().any(|a| dhcp_subnets.contains(a)) {
            "serves DHCP"
        } else if dns_listen.contains(&i.name.as_str()) {
            "DNS forwarding listens on it"
        } else if i.addrs.iter().any(|a| a.len < 31) {
            // Hosts with static addresses and no DHCP or DNS of the router's: still a
            // LAN whose traffic needs the failover (a /31 or /32 is a link, not a LAN).
            statics.push(i);
            "a static LAN (no DHCP or DNS forwarding): confirm"
        } else {
            continue;
        };
        // The ruleset's name follows its words (`lb_modify` is set in that case only).
        lans.push((i, format!("{}: {why}{}", i.path, lb_modify.unwrap_or_default())));
    }
    if !given.lan.is_empty() {
        return given_lan(ifaces, not_lan, (&lans, &statics), &dns_listen, given, d);
    }
    for i in &statics {
        d.confirm.push(format!(
            "{} is in LAN_SUBNET: {} has a static address, no DHCP and no DNS forwarding; if it is no LAN, give --lan",
            lan_prefixes(i),
            i.path
        ));
    }
    if lans.is_empty() {
        d.lack(
            "LAN_SUBNET",
            "no enabled interface with an address other than the WANs, tunnels and loopback: give --lan PREFIX[,PREFIX...]",
        );
        return;
    }
    let (mut subnets, mut from) = (String::new(), String::new());
    for (i, why) in &lans {
        d.lan_devs.push(i.name.clone());
        for a in &i.addrs {
            let sep = if subnets.is_empty() { "" } else { " " };
            let _ = write!(subnets, "{sep}{a}");
        }
        let sep = if from.is_empty() { "" } else { "; " };
        let _ = write!(from, "{sep}{why}");
    }
    d.set("LAN_SUBNET", subnets, from);
    // LAN_DEV: where the resolver listens, else the first LAN interface that is not static.
    let dev = lans
        .iter()
        .find(|(i, _)| dns_listen.contains(&i.name.as_str()))
        .or_else(|| lans.iter().find(|(i, _)| !listed(&statics, i)))
        .unwrap_or(&lans[0]);
    d.set("LAN_DEV", dev.0.name.clone(), format!("{} (the router's LAN address, for the DNS check)", dev.0.path));
}

/// Whether `i` is one of `list` (the same interface of the configuration: all lists here
/// hold references into one `interfaces` result).
fn listed(list: &[&Iface], i: &Iface) -> bool {
    list.iter().any(|l| std::ptr::eq(*l, i))
}

/// LAN_SUBNET from `--lan`; what the configuration's LANs have outside it is listed to be
/// confirmed; LAN_DEV, the interface with an address inside it (where DNS forwarding
/// listens, else one a DHCP server or the load balancer serves, else a static one).
fn given_lan(
    ifaces: &[Iface],
    not_lan: &[&str],
    (lans, statics): (&[(&Iface, String)], &[&Iface]),
    dns_listen: &[&str],
    given: &Given,
    d: &mut Derived,
) {
    let inside = |a: &Ipv4Net| given.lan.iter().any(|g| g.len <= a.len && g.contains(a.addr));
    // A WAN's or a tunnel's own address inside LAN_SUBNET would send the router's own
    // traffic there (the tunnel's packets too) into the tunnel.
    let mut clash = String::new();
    for i in ifaces.iter().filter(|i| not_lan.contains(&i.name.as_str())) {
        for (a, _) in &i.hosts {
            if let Some(g) = given.lan.iter().find(|g| g.contains(*a)) {
                let sep = if clash.is_empty() { "" } else { "; " };
                let _ = write!(clash, "{sep}{g} holds {a} of {}", i.path);
            }
        }
    }
    if !clash.is_empty() {
        return d.lack("LAN_SUBNET", format!("--lan: {clash} (a WAN, a tunnel or loopback, never a LAN)"));
    }
    let mut found = String::new();
    for (i, _) in lans {
        for a in &i.addrs {
            let sep = if found.is_empty() { "" } else { ", " };
            let _ = write!(found, "{sep}{} {a}", i.name);
        }
    }
    let from =
        if found.is_empty() { "--lan".to_string() } else { format!("--lan (the configuration's LANs: {found})") };
    let mut set = String::new();
    for n in &given.lan {
        let sep = if set.is_empty() { "" } else { " " };
        let _ = write!(set, "{sep}{n}");
    }
    d.set("LAN_SUBNET", set, from);
    for (i, _) in lans {
        for a in i.addrs.iter().filter(|a| !inside(a)) {
            d.confirm.push(format!("{} {a} ({}) is not in --lan: its traffic will not fail over", i.name, i.path));
        }
    }
    let candidates: Vec<&Iface> = ifaces
        .iter()
        .filter(|i| !i.disabled && !not_lan.contains(&i.name.as_str()) && i.addrs.iter().any(inside))
        .collect();
    d.lan_devs = candidates.iter().map(|i| i.name.clone()).collect();
    let served = candidates.iter().find(|i| !listed(statics, i));
    match candidates.iter().find(|i| dns_listen.contains(&i.name.as_str())).or(served).or(candidates.first()) {
        Some(i) => d.set("LAN_DEV", i.name.clone(), format!("{} (its address is in --lan)", i.path)),
        None => d.lack("LAN_DEV", "no interface of the configuration has an address in --lan (the default is switch0)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edgeos;
    use std::path::Path;

    /// What `init` makes of `text`: each value with where it came from, each missing key
    /// with why, and the verdict (`written`, after the tool's own parser accepted the
    /// file, or `refused:` and the keys or the parser's reason).
    fn outcome(text: &str, given: &Given) -> String {
        let root = match edgeos::parse_config_tree_checked(text) {
            Ok(root) => root,
            Err(e) => return format!("refused: {e}\n"),
        };
        let d = derive(&root, given);
        let mut out = String::new();
        for (k, v, from) in &d.values {
            let _ = writeln!(out, "{k}={v}   ({from})");
        }
        for (k, why) in &d.missing {
            let _ = writeln!(out, "missing {k}: {why}");
        }
        for c in &d.confirm {
            let _ = writeln!(out, "confirm {c}");
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

    /// The options of a case's `== ...` line, read as `init` reads its own.
    fn given_of(head: &str) -> Given {
        let words: Vec<&str> = head.split_whitespace().collect();
        if words == ["no", "options"] {
            return Given::default();
        }
        let (mut peer_ip, mut endpoint, mut lan, mut wg_iface) = (None, None, Vec::new(), None);
        for pair in words.chunks(2) {
            match pair {
                ["--peer-ip", v] => peer_ip = Some(*v),
                ["--endpoint", v] => endpoint = Some(*v),
                ["--lan", v] => lan.push(v.to_string()),
                ["--wg-iface", v] => wg_iface = Some(*v),
                _ => panic!("`== {head}`: not `no options` nor --peer-ip/--endpoint/--lan/--wg-iface VALUE pairs"),
            }
        }
        Given::new(peer_ip, endpoint, &lan, wg_iface).unwrap_or_else(|e| panic!("`== {head}`: {e}"))
    }

    /// Every `tests/init/NAME.boot` beside its `NAME.expected`: one or more cases, each
    /// opened by `== no options` or `== ` and init's options (`--peer-ip`, `--endpoint`,
    /// `--lan`, `--wg-iface`, each with its value), then [`outcome`]'s lines. The large
    /// files are built here from a small one (see [`generated`]).
    /// `WGFS_BLESS=1` rewrites the .expected files with what the code says now (review
    /// the diff: that is the test).
    #[test]
    fn the_fixture_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/init");
        let mut boots: Vec<_> = std::fs::read_dir(&dir)
            .expect("tests/init")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "boot"))
            .collect();
        boots.sort();
        let bless = std::env::var_os("WGFS_BLESS").is_some();
        let (mut cases, mut failures) = (0, Vec::new());
        let mut fixtures = 0;
        let tmp = std::env::temp_dir().join(format!("wgfs-init-corpus-{}.boot", std::process::id()));
        for boot in &boots {
            let base = std::fs::read_to_string(boot).expect("fixture");
            for (text, expected_path) in generated(boot, &base) {
                fixtures += 1;
                // Read as `init` reads a file: its size bound included.
                std::fs::write(&tmp, &text).expect("temp file");
                let text = crate::init::read_bounded(&tmp).map_err(|e| format!("refused: the file {e}\n"));
                let expected = std::fs::read_to_string(&expected_path)
                    .unwrap_or_else(|_| panic!("{} has no {}", boot.display(), expected_path.display()));
                let mut blessed = String::new();
                for case in expected.split("== ").filter(|c| !c.is_empty()) {
                    let (head, want) = case.split_once('\n').unwrap_or((case, ""));
                    let got = match &text {
                        Ok(text) => outcome(text, &given_of(head)),
                        Err(refused) => refused.clone(),
                    };
                    cases += 1;
                    let _ = write!(blessed, "== {head}\n{got}");
                    if got != want {
                        failures
                            .push(format!("{} == {head}\n--- expected\n{want}--- got\n{got}", expected_path.display()));
                    }
                }
                if bless {
                    std::fs::write(&expected_path, blessed).expect("bless");
                }
            }
        }
        std::fs::remove_file(&tmp).ok();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(fixtures >= 25 && cases >= 35, "{fixtures} fixtures, {cases} cases");
    }

    /// Every group with its members, the failover-only ones said; a LAN's prefixes, not
    /// its links.
    #[test]
    fn the_summaries_in_refusals() {
        let root = edgeos::parse_config_tree(
            "load-balance {\n group A {\n  interface eth0 {\n  }\n  interface eth1 {\n   failover-only\n  }\n }\n group B {\n }\n}\n\
             interfaces {\n ethernet eth2 {\n  address 192.168.3.1/24\n  address 10.0.0.1/31\n  address 10.9.0.1/16\n }\n}\n",
        );
        assert_eq!(groups_summary(&groups(&root)), "A (eth0, eth1 failover-only); B ()");
        let ifaces = interfaces(&root);
        assert_eq!(lan_prefixes(&ifaces[0]), "eth2 192.168.3.0/24, eth2 10.9.0.0/16");
    }

    /// Two LAN interfaces whose catch-all rules use two groups: each named with the rule.
    #[test]
    fn several_groups_in_use_are_each_named() {
        let root = edgeos::parse_config_tree(
            "firewall {\n modify M1 {\n  rule 10 {\n   action modify\n   modify {\n    lb-group A\n   }\n  }\n }\n\
             modify M2 {\n  rule 20 {\n   action modify\n   modify {\n    lb-group B\n   }\n  }\n }\n}\n\
             interfaces {\n ethernet eth2 {\n  firewall {\n   in {\n    modify M1\n   }\n  }\n }\n\
             ethernet eth3 {\n  firewall {\n   in {\n    modify M2\n   }\n  }\n }\n}\n\
             load-balance {\n group A {\n }\n group B {\n }\n}\n",
        );
        let d = derive(&root, &Given::default());
        let why = d.missing.iter().find(|(k, _)| *k == "PRIMARY_DEV").map(|(_, w)| w.as_str());
        assert_eq!(
            why,
            Some(
                "the LAN's catch-all rules use several groups: A (firewall modify M1 rule 10, the catch-all of eth2); \
                 B (firewall modify M2 rule 20, the catch-all of eth3)"
            )
        );
    }

    /// The marker line of a base fixture from which the large ones are built.
    const MARKER: &str = "/* init-corpus: generated rules */";

    /// `boot` itself, and when it holds [`MARKER`], the same file grown past 64 KiB (the
    /// output bound of a status command) and past 1 MiB (init's read bound) by a
    /// blocklist's rules in place of the marker, as a large ER-8 or ER-12 configuration
    /// grows; each with its own `.expected` (`NAME.over-64k.expected`, `NAME.over-1m.expected`).
    fn generated(boot: &Path, base: &str) -> Vec<(String, std::path::PathBuf)> {
        let mut out = vec![(base.to_string(), boot.with_extension("expected"))];
        if !base.contains(MARKER) {
            return out;
        }
        let rule = |n: u32| {
            format!(
                "        rule {n} {{\n            action drop\n            description \"blocklist entry {n}\"\n            source {{\n                address 198.{}.{}.0/24\n            }}\n        }}\n",
                18 + n / 65536 % 2,
                n / 256 % 256
            )
        };
        for (suffix, at_least) in [("over-64k", 64 * 1024), ("over-1m", (1 << 20) + 1)] {
            let mut rules = String::new();
            let mut n = 1;
            while base.len() + rules.len() <= at_least {
                rules.push_str(&rule(n));
                n += 1;
            }
            let text = base.replace(MARKER, &rules);
            assert!(text.len() > at_least, "{suffix}: {} bytes", text.len());
            out.push((text, boot.with_extension(format!("{suffix}.expected"))));
        }
        out
    }
}
