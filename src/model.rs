//! The vocabulary the judgement and the state files share: what a managed table's winning
//! default points at ([`Target`]), one change to the system in the words of the command that
//! makes it ([`Change`]), and what activation changed and deactivation puts back ([`Owned`],
//! the journal's items), and how the last activation proved the tunnel ([`LastProof`], kept
//! in the record for `check`). Kept apart so that the plans (`decide`, `ownership`) and the files
//! (`state`) both depend on it and not on each other.

#![forbid(unsafe_code)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::netlink::route::{AddMode, Route};
use crate::netlink::rule::Rule;
use crate::wireguard::{PeerConfig, PeerSet};

/// What every managed table's winning default points at while the failsafe is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `default via WG_PEER_IP dev WG_IFACE metric METRIC_WG`.
    Tunnel,
    /// FALLBACK=backup with a tunnel that does not work: `default via BACKUP_GW dev
    /// BACKUP_DEV metric METRIC_WG`.
    Backup,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Tunnel => "tunnel",
            Target::Backup => "backup",
        })
    }
}

impl std::str::FromStr for Target {
    type Err = ();

    fn from_str(s: &str) -> Result<Target, ()> {
        match s {
            "tunnel" => Ok(Target::Tunnel),
            "backup" => Ok(Target::Backup),
            _ => Err(()),
        }
    }
}

/// The last activation's proof of the tunnel over the backup path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastProof {
    /// Wall-clock time of the activation, for humans.
    pub at_unix_s: u64,
    pub by: ProvenBy,
}

/// What proved the tunnel at an activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvenBy {
    /// The VPS peer answered an echo through it.
    Echo,
    /// A handshake made over the backup path (the peer answers no echo).
    Handshake,
    /// Nothing: the tables went to the backup WAN (FALLBACK=backup).
    Nothing,
}

impl ProvenBy {
    pub fn word(self) -> &'static str {
        match self {
            ProvenBy::Echo => "echo",
            ProvenBy::Handshake => "handshake",
            ProvenBy::Nothing => "none",
        }
    }
}

/// One change to the system, printed in the words of the command that would make it.
/// Every change goes through the one executor (`System::apply`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    AddRoute(Route, AddMode),
    DelRoute(Route),
    AddRule(Rule),
    DelRule(Rule),
    /// `ip link set DEV up|down`.
    SetLink {
        dev: String,
        up: bool,
    },
    /// `wg set IFACE peer …`.
    SetPeer {
        iface: String,
        peer: PeerSet,
    },
    /// `wg set IFACE peer KEY remove`, then the same peer added back with exactly the
    /// settings it had (read just before), in one request: its session goes, so the next
    /// packet sent to it starts a handshake. Nothing to put back.
    RenewPeer {
        iface: String,
        peer: PeerConfig,
    },
    /// DNS_RESTART_CMD, run without a shell.
    RestartDns(Vec<String>),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `ip route|rule VERB …` in one write for the six of them.
        let (object, verb, it): (&str, &str, &dyn fmt::Display) = match self {
            Change::AddRoute(r, AddMode::Exclusive) => ("route", "add", r),
            Change::AddRoute(r, AddMode::Append) => ("route", "append", r),
            Change::AddRoute(r, AddMode::Replace) => ("route", "replace", r),
            Change::DelRoute(r) => ("route", "del", r),
            Change::AddRule(r) => ("rule", "add", r),
            Change::DelRule(r) => ("rule", "del", r),
            Change::SetLink { dev, up } => return write!(f, "ip link set {dev} {}", if *up { "up" } else { "down" }),
            Change::SetPeer { iface, peer } => return write!(f, "wg set {iface} {peer}"),
            Change::RenewPeer { iface, peer } => {
                let key = crate::wireguard::key_to_base64(&peer.key);
                return write!(f, "wg set {iface} peer {key} remove; wg set {iface} {peer}");
            }
            Change::RestartDns(cmd) => return f.write_str(&cmd.join(" ")),
        };
        write!(f, "ip {object} {verb} {it}")
    }
}

/// Something activation changed and deactivation must put back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    /// A route it added.
    Route(Route),
    /// A rule it added.
    Rule(Rule),
    /// A link it set administratively up (it goes down again).
    LinkUp(String),
    /// A WireGuard peer whose settings it changed: on that interface, these go back.
    Peer(String, PeerSet),
    /// An IPv6 table's own default that a failback could not put back (its device gone, or
    /// refused): the table keeps the failsafe's default, journaled beside it, and the ticks
    /// after put this one back once they can (see `failsafe::deactivate`). Nothing to undo.
    Unrestored(Route),
}

impl fmt::Display for Owned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, it): (&str, &dyn fmt::Display) = match self {
            Owned::Route(r) => ("route", r),
            Owned::Rule(r) => ("rule", r),
            Owned::Unrestored(r) => ("unrestored", r),
            Owned::LinkUp(dev) => return write!(f, "link {dev} up"),
            Owned::Peer(iface, p) => return write!(f, "restore-peer {iface} {p}"),
        };
        write!(f, "{kind} {it}")
    }
}

impl std::str::FromStr for Owned {
    type Err = String;

    fn from_str(s: &str) -> Result<Owned, String> {
        match s.split_once(' ') {
            Some(("route", r)) => Ok(Owned::Route(r.parse()?)),
            Some(("rule", r)) => Ok(Owned::Rule(r.parse()?)),
            Some(("unrestored", r)) => Ok(Owned::Unrestored(r.parse()?)),
            Some(("link", rest)) => match rest.split_once(' ') {
                Some((dev, "up")) if !dev.is_empty() => Ok(Owned::LinkUp(dev.to_string())),
                _ => Err(format!("`{s}` is not `link DEV up`")),
            },
            Some(("restore-peer", rest)) => match rest.split_once(' ') {
                Some((iface, p)) => Ok(Owned::Peer(iface.to_string(), p.parse()?)),
                None => Err(format!("`{s}` names no peer")),
            },
            _ => Err(format!("`{s}` is not a route, rule, link, peer or unrestored route")),
        }
    }
}

/// The routes the journal says the failsafe added, in its order.
pub fn owned_routes(journal: &[Owned]) -> Vec<Route> {
    let mut routes = Vec::new();
    for o in journal {
        if let Owned::Route(r) = o {
            routes.push(r.clone());
        }
    }
    routes
}

/// The rules the journal says the failsafe added, in its order.
pub fn owned_rules(journal: &[Owned]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for o in journal {
        if let Owned::Rule(r) = o {
            rules.push(r.clone());
        }
    }
    rules
}

/// The owners' defaults a failback could not put back (IPv6's, its own kept in their
/// place), as the journal lists them.
pub fn unrestored(journal: &[Owned]) -> impl Iterator<Item = &Route> {
    journal.iter().filter_map(|o| if let Owned::Unrestored(r) = o { Some(r) } else { None })
}

/// Whether the journal says the failsafe added a route on `r`'s path (same table,
/// destination, device and gateway).
pub fn owns_path(journal: &[Owned], r: &Route) -> bool {
    journal.iter().any(|o| matches!(o, Owned::Route(j) if j.same_path(r)))
}

/// Whether the journal holds the settings of `iface`'s peer from before the failsafe set
/// them (failback puts them back).
pub fn peer_journaled(journal: &[Owned], iface: &str) -> bool {
    journal.iter().any(|o| matches!(o, Owned::Peer(i, _) if i == iface))
}

/// The backup gateway of the route to the VPS (`endpoint`) the journal says the failsafe
/// added last.
pub fn endpoint_gateway(journal: &[Owned], endpoint: Ipv4Addr) -> Option<Ipv4Addr> {
    journal.iter().rev().find_map(|o| match o {
        Owned::Route(r) if !r.is_default() && r.dst.addr == IpAddr::V4(endpoint) => match r.gateway {
            Some(IpAddr::V4(gw)) => Some(gw),
            _ => None,
        },
        _ => None,
    })
}

/// A boot id as the kernel writes it (`/proc/sys/kernel/random/boot_id`): hex digits
/// and dashes. The journal's first line names one (`boot ID`), and so does the record.
pub fn is_boot_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The journal's items in order, each once. A last line cut short by a crash is ignored.
pub fn parse_journal(text: &str) -> Result<Vec<Owned>, String> {
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    let mut owned: Vec<Owned> = Vec::new();
    for (i, line) in complete.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        // Its first line names its boot (see State::forget_other_boot).
        if i == 0 && line.strip_prefix("boot ").is_some_and(is_boot_id) {
            continue;
        }
        let item = line.parse().map_err(|e| format!("line {}: {e}", i + 1))?;
        if !owned.contains(&item) {
            owned.push(item);
        }
    }
    Ok(owned)
}

/// What a round knows of one tunnel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelHealth {
    /// Proven this round (`Some(true)`), failed (`Some(false)`), not judged (`None`: a track
    /// that has just started, a tunnel not probed this round).
    pub works: Option<bool>,
    /// Boot-time ms since which it has passed every round without a break.
    pub passing_since_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(lines: &[&str]) -> Vec<Owned> {
        lines.iter().map(|t| t.parse().unwrap_or_else(|e| panic!("{t}: {e}"))).collect()
    }

    #[test]
    fn the_journal_answers_what_the_failsafe_added() {
        let j = journal(&[
            "route 203.0.113.10 via 192.168.2.1 dev eth1 table main proto static metric 190",
            "route default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
            "route 203.0.113.10 via 192.168.3.1 dev eth2 table main proto static metric 190",
            "restore-peer wg0 peer xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= persistent-keepalive 0",
        ]);
        let vps = Ipv4Addr::new(203, 0, 113, 10);
        // The last endpoint route the journal holds says the gateway; none for another VPS.
        assert_eq!(endpoint_gateway(&j, vps), Some(Ipv4Addr::new(192, 168, 3, 1)));
        assert_eq!(endpoint_gateway(&j, Ipv4Addr::new(203, 0, 113, 11)), None);
        // A route on a path the failsafe added is ours; in another table, or through
        // another gateway, it is not.
        let route = |t: &str| -> Route { t.parse().expect("route") };
        assert!(owns_path(&j, &route("default via 10.11.0.1 dev wg0 table 201 proto static metric 40")));
        assert!(!owns_path(&j, &route("default via 10.11.0.1 dev wg0 table 202 proto static metric 40")));
        assert!(!owns_path(&j, &route("default via 10.11.0.9 dev wg0 table 201 proto static metric 40")));
        assert!(peer_journaled(&j, "wg0") && !peer_journaled(&j, "wg1"));
        assert_eq!(owned_routes(&j).len(), 3);
    }
}
