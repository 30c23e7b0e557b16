//! `init`: a configuration from what the router already knows. EdgeOS's own
//! configuration (`cli-shell-api showConfig`, else `/config/config.boot`, or a file given)
//! names the WireGuard interface and its VPS peer, the load-balance group's primary and
//! failover-only interfaces and their ping targets, the static next-hops and the LAN
//! interfaces; [`derive`] turns that tree into the tool's keys, each with where it came
//! from, and says what it could not find. It is pure and unit-tested; [`run`] reads,
//! prints and writes. Nothing here touches a route, a rule or an interface.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::config;
use crate::edgeos::{self, Node};
use crate::error::{Context, Error};
use crate::net::Ipv4Net;

/// The keys a configuration cannot do without.
const REQUIRED: [&str; 7] =
    ["WG_PEER_IP", "WG_ENDPOINT", "PRIMARY_DEV", "PRIMARY_GW", "BACKUP_DEV", "BACKUP_GW", "LAN_SUBNET"];

/// Where `init` writes by default.
pub const DEFAULT_OUT: &str = "/config/user-data/wg-failsafe.conf";

/// What [`derive`] found and what it could not.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Derived {
    /// (key, value, where it came from), in the order a configuration reads best.
    pub values: Vec<(&'static str, String, String)>,
    /// (key, why not).
    pub missing: Vec<(&'static str, String)>,
}

impl Derived {
    fn set(&mut self, key: &'static str, value: impl Into<String>, from: impl Into<String>) {
        self.values.push((key, value.into(), from.into()));
    }

    fn lack(&mut self, key: &'static str, why: impl Into<String>) {
        self.missing.push((key, why.into()));
    }

    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.iter().find(|(k, _, _)| *k == key).map(|(_, v, _)| v.as_str())
    }

    /// The required keys that are missing.
    pub fn missing_required(&self) -> Vec<&(&'static str, String)> {
        self.missing.iter().filter(|(k, _)| REQUIRED.contains(k)).collect()
    }

    /// The configuration file's text.
    pub fn to_text(&self, source: &str) -> String {
        let mut t = format!(
            "# wg-failsafe configuration written by `wg-failsafe init` from {source}.\n\
             # Each value says where it came from; `wg-failsafe check` checks them on the router,\n\
             # and /usr/share/doc/wg-failsafe/wg-failsafe.conf.example lists every other key.\n"
        );
        for (k, v, from) in &self.values {
            let _ = write!(t, "\n# {from}\n{k}={v}\n");
        }
        for (k, why) in &self.missing {
            let _ = write!(t, "\n# not derived: {why}\n#{k}=\n");
        }
        t
    }
}

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
    fn one(name: String, path: String, n: &Node, pppoe: bool) -> Iface {
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
        }
    }
    for kind in ["ethernet", "switch", "bridge", "wireguard", "openvpn", "bonding"] {
        for (name, n) in ifs.named(kind) {
            out.push(one(name.to_string(), format!("interfaces {kind} {name}"), n, false));
            for (vif, v) in n.named("vif") {
                out.push(one(format!("{name}.{vif}"), format!("interfaces {kind} {name} vif {vif}"), v, false));
            }
            for (id, p) in n.named("pppoe") {
                out.push(one(format!("pppoe{id}"), format!("interfaces {kind} {name} pppoe {id}"), p, true));
            }
            for (vif, v) in n.named("vif") {
                for (id, p) in v.named("pppoe") {
                    out.push(one(
                        format!("pppoe{id}"),
                        format!("interfaces {kind} {name} vif {vif} pppoe {id}"),
                        p,
                        true,
                    ));
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
    derive_lan(root, &ifaces, &mut d);
    d
}

fn derive_wireguard(root: &Node, ifaces: &[Iface], peer_ip: Option<Ipv4Addr>, d: &mut Derived) {
    let wgs: Vec<(&str, &Node)> = root.child("interfaces").map(|i| i.named("wireguard").collect()).unwrap_or_default();
    let full = |n: &Node| edgeos::peers_of(n).iter().any(|p| p.allowed_ips.iter().any(|a| a == "0.0.0.0/0"));
    let chosen = match (wgs.iter().find(|(_, n)| full(n)), wgs.len()) {
        (Some(w), _) => Some((*w, "its peer routes 0.0.0.0/0")),
        (None, 1) => Some((wgs[0], "the only WireGuard interface")),
        _ => None,
    };
    let Some(((name, node), why)) = chosen else {
        let why = if wgs.is_empty() {
            "no WireGuard interface in the configuration"
        } else {
            "several WireGuard interfaces, none with a peer routing 0.0.0.0/0"
        };
        d.lack("WG_IFACE", why);
        d.lack("WG_ENDPOINT", why);
        d.lack("WG_PEER_IP", why);
        return;
    };
    d.set("WG_IFACE", name, format!("interfaces wireguard {name} ({why})"));
    let peers = edgeos::peers_of(node);
    let vps = peers
        .iter()
        .find(|p| p.allowed_ips.iter().any(|a| a == "0.0.0.0/0"))
        .or(peers.first().filter(|_| peers.len() == 1));
    match vps.and_then(|p| p.endpoint.as_deref().map(|e| (p, e))) {
        Some((p, e)) => {
            let (host, port) = e.rsplit_once(':').unwrap_or((e, ""));
            match host.trim_matches(['[', ']']).parse::<Ipv4Addr>() {
                Ok(ip) => {
                    let from =
                        format!("interfaces wireguard {name} peer {}…: endpoint {e}", &p.key[..8.min(p.key.len())]);
                    d.set("WG_ENDPOINT", ip.to_string(), from.clone());
                    if let Ok(port) = port.parse::<u16>() {
                        d.set("WG_ENDPOINT_PORT", port.to_string(), from);
                    }
                }
                Err(_) => d.lack(
                    "WG_ENDPOINT",
                    format!("the VPS peer's endpoint `{e}` is not an IPv4 address: give the VPS's address"),
                ),
            }
        }
        None => d.lack("WG_ENDPOINT", format!("the VPS peer of {name} has no endpoint")),
    }
    if let Some(ip) = peer_ip {
        d.set("WG_PEER_IP", ip.to_string(), "--peer-ip");
        return;
    }
    let Some(wg) = ifaces.iter().find(|i| i.name == name) else { return };
    match wg.hosts.first().and_then(|(a, l)| other_host(*a, *l).map(|o| (o, *a, *l))) {
        Some((other, a, l)) => d.set(
            "WG_PEER_IP",
            other.to_string(),
            format!("interfaces wireguard {name} address {a}/{l}: the other host of the /{l}"),
        ),
        None => {
            let addr = wg.hosts.first().map_or("no address".to_string(), |(a, l)| format!("address {a}/{l}"));
            d.lack("WG_PEER_IP", format!("{name} has {addr}, which does not name one other host: give the VPS's tunnel address with --peer-ip"))
        }
    }
}

/// The default routes' static next-hops: (next-hop, distance).
fn static_next_hops(root: &Node) -> Vec<(Ipv4Addr, u32)> {
    let Some(st) = root.child("protocols").and_then(|p| p.child("static")) else { return Vec::new() };
    st.named("route")
        .filter(|(dst, _)| *dst == "0.0.0.0/0")
        .flat_map(|(_, r)| r.named("next-hop"))
        .filter_map(|(hop, n)| Some((hop.parse().ok()?, n.leaf("distance").and_then(|v| v.parse().ok()).unwrap_or(1))))
        .collect()
}

fn derive_wans(root: &Node, ifaces: &[Iface], d: &mut Derived) {
    let groups: Vec<(&str, &Node)> = root.child("load-balance").map(|l| l.named("group").collect()).unwrap_or_default();
    // The group with one failover-only interface and one other.
    type Named<'a> = (&'a str, &'a Node);
    fn split(g: &Node) -> Option<(Named<'_>, Named<'_>)> {
        let ifs: Vec<(&str, &Node)> = g.named("interface").collect();
        let backups: Vec<&(&str, &Node)> = ifs.iter().filter(|(_, n)| n.flag("failover-only")).collect();
        let primaries: Vec<&(&str, &Node)> = ifs.iter().filter(|(_, n)| !n.flag("failover-only")).collect();
        match (primaries.as_slice(), backups.as_slice()) {
            ([p], [b]) => Some((**p, **b)),
            _ => None,
        }
    }
    let Some((group, ((primary, pnode), (backup, _)))) = groups.iter().find_map(|(g, n)| split(n).map(|s| (*g, s)))
    else {
        let why = if groups.is_empty() {
            "no load-balance group in the configuration".to_string()
        } else {
            "no load-balance group with one failover-only interface and one primary".to_string()
        };
        for k in ["PRIMARY_DEV", "PRIMARY_GW", "BACKUP_DEV", "BACKUP_GW"] {
            d.lack(k, why.clone());
        }
        return;
    };
    d.set("PRIMARY_DEV", primary, format!("load-balance group {group} interface {primary}"));
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

fn derive_lan(root: &Node, ifaces: &[Iface], d: &mut Derived) {
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
                .flat_map(|(_, n)| n.named("subnet"))
                .filter_map(|(sub, _)| sub.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut lans: Vec<(&Iface, String)> = Vec::new();
    for i in ifaces.iter().filter(|i| !i.addrs.is_empty() && !i.pppoe) {
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

/// `init`'s options.
pub struct Options {
    pub config_boot: Option<PathBuf>,
    pub print: bool,
    pub out: Option<PathBuf>,
    pub force: bool,
    pub peer_ip: Option<Ipv4Addr>,
}

/// Reads the configuration, derives, reports, writes (or prints). Exit 0 when the result
/// is complete and parses; 2, writing nothing, when a required value is missing.
pub fn run(o: &Options) -> Result<ExitCode, Error> {
    let (text, source) = match &o.config_boot {
        Some(p) => (read_bounded(p).context(p.display())?, p.display().to_string()),
        None if Path::new(edgeos::CLI_SHELL_API).exists() => {
            let t = edgeos::run_capture(edgeos::CLI_SHELL_API, &["showConfig"], Duration::from_secs(10))
                .ok_or_else(|| Error::Failed(format!("{} showConfig failed", edgeos::CLI_SHELL_API)))?;
            (t, "the running configuration (cli-shell-api showConfig)".to_string())
        }
        None => (
            read_bounded(Path::new(edgeos::CONFIG_BOOT)).context(edgeos::CONFIG_BOOT)?,
            edgeos::CONFIG_BOOT.to_string(),
        ),
    };
    let tree = edgeos::parse_config_tree_checked(&text).map_err(|e| Error::Usage(format!("{source}: {e}")))?;
    let d = derive(&tree, o.peer_ip);
    for (k, v, from) in &d.values {
        eprintln!("derived  {k}={v}   ({from})");
    }
    for (k, why) in &d.missing {
        eprintln!("missing  {k}: {why}");
    }
    let missing = d.missing_required();
    if !missing.is_empty() {
        let keys: Vec<&str> = missing.iter().map(|(k, _)| *k).collect();
        return Err(Error::Usage(format!("{} could not be derived (nothing was written)", keys.join(", "))));
    }
    let out = o.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    let text = d.to_text(&source);
    // The result must be what the tool itself accepts.
    config::parse(&out, &text).map_err(Error::Config)?;
    if o.print {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    write_new(&out, &text, o.force)?;
    eprintln!("wrote {} (mode 0600); now: wg-failsafe check", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `config.boot`: regular, not followed through a symlink, never waited on, bounded.
fn read_bounded(p: &Path) -> std::io::Result<String> {
    crate::trust::read_regular(p, edgeos::MAX_CONFIG_BOOT_BYTES)
}

/// Writes `text` to `path`, mode 0600, never following a symlink; an existing file is
/// replaced (atomically) only with `force`.
fn write_new(path: &Path, text: &str, force: bool) -> Result<(), Error> {
    let err = |e: std::io::Error| Error::Failed(format!("{}: {e}", path.display()));
    let target = if force { path.with_extension("conf.init-tmp") } else { path.to_path_buf() };
    if force {
        let _ = std::fs::remove_file(&target);
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&target)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Usage(format!("{} exists: give --force to replace it, or -o FILE", path.display()))
            } else {
                err(e)
            }
        })?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(err)?;
    if force {
        std::fs::rename(&target, path).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edgeos::parse_config_tree;

    /// A dual-WAN ER-X: DHCP fiber primary, 4G backup with a static address, WireGuard to
    /// a VPS on a /30, the load balancer's modify ruleset on switch0 and a VLAN.
    const ERX: &str = r#"firewall {
    modify balance {
        rule 10 {
            action modify
            destination {
                group {
                    address-group ADDRv4_eth0
                }
            }
            modify {
                table main
            }
        }
        rule 100 {
            action modify
            modify {
                lb-group G
            }
        }
    }
}
interfaces {
    ethernet eth0 {
        address dhcp
        description "Fiber WAN"
    }
    ethernet eth1 {
        address 192.168.2.2/24
        description "4G modem"
    }
    switch switch0 {
        address 192.168.10.1/24
        firewall {
            in {
                modify balance
            }
        }
        vif 30 {
            address 192.168.30.1/24
            firewall {
                in {
                    modify balance
                }
            }
        }
    }
    wireguard wg0 {
        address 10.11.0.102/30
        listen-port 51820
        peer "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=" {
            allowed-ips 0.0.0.0/0
            endpoint 203.0.113.10:51821
            persistent-keepalive 25
        }
        private-key /config/auth/wg.key
        route-allowed-ips false
    }
}
load-balance {
    group G {
        interface eth0 {
            route-test {
                type {
                    ping {
                        target 1.1.1.1
                    }
                }
            }
        }
        interface eth1 {
            failover-only
        }
        lb-local enable
    }
}
protocols {
    static {
        route 0.0.0.0/0 {
            next-hop 192.168.2.1 {
                distance 10
            }
        }
    }
}
service {
    dns {
        forwarding {
            listen-on switch0
            listen-on switch0.30
        }
    }
}
/* Warning: Do not remove the following line. */
"#;

    fn get<'a>(d: &'a Derived, k: &str) -> &'a str {
        d.get(k).unwrap_or_else(|| panic!("{k} not derived: {d:?}"))
    }

    #[test]
    fn an_erx_with_a_dhcp_primary_and_a_static_backup() {
        let d = derive(&parse_config_tree(ERX), None);
        assert!(d.missing.is_empty(), "{:?}", d.missing);
        assert_eq!(get(&d, "WG_IFACE"), "wg0");
        assert_eq!((get(&d, "WG_ENDPOINT"), get(&d, "WG_ENDPOINT_PORT")), ("203.0.113.10", "51821"));
        assert_eq!(get(&d, "WG_PEER_IP"), "10.11.0.101", "the other host of the /30");
        assert_eq!((get(&d, "PRIMARY_DEV"), get(&d, "PRIMARY_GW")), ("eth0", "auto"));
        assert_eq!((get(&d, "BACKUP_DEV"), get(&d, "BACKUP_GW")), ("eth1", "192.168.2.1"));
        assert_eq!(get(&d, "LAN_SUBNET"), "192.168.10.0/24 192.168.30.0/24");
        assert_eq!(get(&d, "LAN_DEV"), "switch0");
        assert_eq!(get(&d, "TRACK_IPS"), "1.1.1.1");
        // The text says where each value came from, and the tool accepts it.
        let text = d.to_text("config.boot");
        assert!(text.contains("# load-balance group G interface eth1 (failover-only)\nBACKUP_DEV=eth1\n"), "{text}");
        assert!(text.contains("address dhcp, the lease's gateway\nPRIMARY_GW=auto"), "{text}");
        let c = config::parse(Path::new("/t.conf"), &text).expect("the tool's parser accepts it");
        assert_eq!(c.lan_subnets.len(), 2);
    }

    /// An Octeon router: PPPoE primary on eth0, DHCP backup on eth1.30 (a VLAN), two
    /// WireGuard interfaces (a site-to-site one and the VPS), the LAN found by its DHCP
    /// server, the peer address on a /24 (so it must be given).
    const PPPOE: &str = r#"interfaces {
    ethernet eth0 {
        description FTTH
        pppoe 0 {
            default-route auto
            mtu 1492
            password secret
            user-id someone
        }
    }
    ethernet eth1 {
        vif 30 {
            address dhcp
        }
    }
    ethernet eth2 {
        address 10.0.0.1/24
    }
    wireguard wg1 {
        address 10.50.0.1/24
        peer hFS2RQXzR1e7Dz5uCCFq7qfqWvBsqyUR3iZrE1BLDDk= {
            allowed-ips 10.50.0.0/16
            endpoint 198.51.100.77:51820
        }
    }
    wireguard wg0 {
        address 10.11.0.2/24
        peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= {
            allowed-ips 0.0.0.0/0
            endpoint 203.0.113.10:51820
        }
    }
}
load-balance {
    group WAN {
        interface pppoe0 {
        }
        interface eth1.30 {
            failover-only
        }
    }
}
service {
    dhcp-server {
        shared-network-name LAN {
            subnet 10.0.0.0/24 {
                default-router 10.0.0.1
            }
        }
    }
}
"#;

    #[test]
    fn pppoe_primary_vlan_backup_two_wireguard_interfaces() {
        let d = derive(&parse_config_tree(PPPOE), None);
        assert_eq!(get(&d, "WG_IFACE"), "wg0", "the one routing 0.0.0.0/0, not wg1");
        assert_eq!(get(&d, "WG_ENDPOINT"), "203.0.113.10");
        assert_eq!((get(&d, "PRIMARY_DEV"), get(&d, "PRIMARY_GW")), ("pppoe0", "auto"));
        assert_eq!((get(&d, "BACKUP_DEV"), get(&d, "BACKUP_GW")), ("eth1.30", "auto"));
        assert_eq!((get(&d, "LAN_SUBNET"), get(&d, "LAN_DEV")), ("10.0.0.0/24", "eth2"));
        assert!(d.get("TRACK_IPS").is_none(), "no route-test target");
        // A /24 leaves the VPS's tunnel address open: required, so named.
        let missing: Vec<&str> = d.missing_required().iter().map(|(k, _)| *k).collect();
        assert_eq!(missing, ["WG_PEER_IP"]);
        assert!(d.missing[0].1.contains("--peer-ip"), "{:?}", d.missing);
        // Given, it is complete.
        let d = derive(&parse_config_tree(PPPOE), Some(Ipv4Addr::new(10, 11, 0, 1)));
        assert!(d.missing_required().is_empty());
        assert!(config::parse(Path::new("/t.conf"), &d.to_text("x")).is_ok());
    }

    #[test]
    fn what_cannot_be_derived_is_named() {
        let d = derive(&parse_config_tree("interfaces {\n ethernet eth0 {\n  address dhcp\n }\n}\n"), None);
        let missing: Vec<&str> = d.missing_required().iter().map(|(k, _)| *k).collect();
        for k in REQUIRED {
            assert!(missing.contains(&k), "{k} should be missing: {missing:?}");
        }
        assert!(d.missing.iter().any(|(k, why)| *k == "WG_IFACE" && why.contains("no WireGuard interface")));
        assert!(d.missing.iter().any(|(k, why)| *k == "PRIMARY_DEV" && why.contains("no load-balance group")));
        // An endpoint given by name is not an address.
        let named = ERX.replace("203.0.113.10:51821", "vps.example.net:51821");
        let d = derive(&parse_config_tree(&named), None);
        assert!(d.missing.iter().any(|(k, why)| *k == "WG_ENDPOINT" && why.contains("vps.example.net")));
        // A group without a failover-only interface says so.
        let no_fo = ERX.replace("            failover-only\n", "");
        let d = derive(&parse_config_tree(&no_fo), None);
        assert!(d.missing.iter().any(|(k, why)| *k == "BACKUP_DEV" && why.contains("failover-only")));
    }

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

    #[test]
    fn init_refuses_to_overwrite_without_force() {
        let dir = std::env::temp_dir().join(format!("wgfs-init-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("wg-failsafe.conf");
        write_new(&p, "A=1\n", false).expect("new");
        assert!(matches!(write_new(&p, "A=2\n", false), Err(Error::Usage(_))));
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "A=1\n");
        write_new(&p, "A=3\n", true).expect("forced");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "A=3\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).ok();
    }
}
