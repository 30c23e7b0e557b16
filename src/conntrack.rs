//! CONNTRACK_FLUSH (DESIGN.md, "Connections"): after the tables switch, the flows the
//! switch breaks are deleted from the connection-tracking table over ctnetlink
//! (NETLINK_NETFILTER, subsystem CTNETLINK), so that their next packet is tracked and
//! NATed afresh — the far end resets, the application reconnects at once — instead of
//! leaving with an address nobody answers and hanging until a timeout.
//!
//! Which flows is a pure judgement, [`breaks`]: a LAN flow whose NAT belongs to the path
//! the tables just left. Leaving the tunnel (failback, or fallback to the backup): the
//! flows the router did not NAT (the VPS NATs what leaves the tunnel). Leaving a WAN
//! (failover, or the fallback's end): the flows source-NATed to that WAN's addresses.
//! Never a flow between the router's own subnets, to or from the router, or translated
//! towards its destination. The kernel's entry does not say whether a source NAT was a
//! MASQUERADE or an SNAT: a masqueraded one dies anyway at its next packet out of another
//! interface (the kernel drops that packet and forgets the entry), so deleting it first
//! changes nothing but that one packet.
//!
//! The messages, and the flush that reads the table as it arrives, are in
//! `netlink::ctnetlink`; the sequences' one call, the flush after a switch, in
//! `failsafe/flows.rs`; its words in `failsafe/say.rs`.

#![forbid(unsafe_code)]

use std::net::IpAddr;

use crate::net::Prefix;
use crate::netlink::ctnetlink::{Flow, IPS_DST_NAT, IPS_SRC_NAT};

/// Where the tables send the LAN: the primary WAN, the tunnel, or the backup WAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Primary,
    Tunnel,
    Backup,
}

impl From<crate::decide::Target> for Path {
    fn from(t: crate::decide::Target) -> Path {
        match t {
            crate::decide::Target::Tunnel => Path::Tunnel,
            crate::decide::Target::Backup => Path::Backup,
        }
    }
}

/// One address of the router and its prefix length (its subnet is directly connected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Local {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// What [`breaks`] judges a flow against.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// LAN_SUBNET and LAN_SUBNET6.
    pub lan: Vec<Prefix>,
    /// Every address of the router, on every interface.
    pub router: Vec<Local>,
    /// The addresses of the WAN the tables left (none when they left the tunnel).
    pub left: Vec<IpAddr>,
}

fn contains(p: &Prefix, ip: IpAddr) -> bool {
    p.addr.is_ipv4() == ip.is_ipv4() && Prefix::masked(ip, p.len) == Some(*p)
}

/// Whether the switch of the tables from `from` to `to` breaks `flow` (see the module's
/// doc): a LAN flow to a host beyond the router's own subnets, not to or from the router,
/// not destination-translated, whose NAT belongs to the path left — none when leaving the
/// tunnel, a source NAT to one of `scope.left` when leaving a WAN.
pub fn breaks(flow: &Flow, from: Path, to: Path, scope: &Scope) -> bool {
    let (o, r) = (&flow.orig, &flow.reply);
    let lan = |ip: IpAddr| scope.lan.iter().any(|p| contains(p, ip));
    let router = |ip: IpAddr| scope.router.iter().any(|l| l.addr == ip);
    let connected = |ip: IpAddr| {
        scope.router.iter().any(|l| Prefix::masked(l.addr, l.prefix_len).is_some_and(|p| contains(&p, ip)))
    };
    if from == to || !lan(o.src) || lan(o.dst) || router(o.src) || connected(o.dst) {
        return false;
    }
    // The answers come from where the packets went: no destination NAT.
    if flow.status & IPS_DST_NAT != 0 || r.src != o.dst {
        return false;
    }
    match (from, to) {
        (Path::Tunnel, _) => flow.status & IPS_SRC_NAT == 0 && r.dst == o.src,
        // Failing back from the fallback: what the backup NATed either keeps its path
        // (the load balancer's own flows on the backup's table) or is NATed afresh by
        // the kernel (masquerade); deleting it would break the first kind for nothing.
        (Path::Backup, Path::Primary) => false,
        (Path::Primary | Path::Backup, _) => flow.status & IPS_SRC_NAT != 0 && scope.left.contains(&r.dst),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::ctnetlink::{Tuple, L4};

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn udp(src: &str, dst: &str, sport: u16, dport: u16) -> Tuple {
        Tuple { src: ip(src), dst: ip(dst), proto: 17, l4: L4::Ports { src: sport, dst: dport } }
    }

    fn scope() -> Scope {
        let local = |a: &str, len| Local { addr: ip(a), prefix_len: len };
        Scope {
            lan: vec![Prefix { addr: ip("192.168.10.0"), len: 24 }, Prefix { addr: ip("2001:db8:10::"), len: 64 }],
            router: vec![
                local("192.168.10.1", 24),
                local("192.168.20.1", 24),
                local("192.168.1.2", 24),
                local("192.168.2.2", 24),
                local("10.11.0.102", 24),
                local("2001:db8:10::1", 64),
            ],
            left: vec![ip("192.168.1.2")],
        }
    }

    fn flow(orig: Tuple, reply: Tuple, status: u32) -> Flow {
        Flow { orig, reply, status, zone: None, id: Some(1), mark: 0 }
    }

    const CONFIRMED: u32 = 1 << 3;

    #[test]
    fn failback_resets_the_lan_flows_the_router_did_not_nat_and_nothing_else() {
        let s = Scope { left: Vec::new(), ..scope() };
        let back = |f: &Flow| breaks(f, Path::Tunnel, Path::Primary, &s);
        let out = udp("192.168.10.50", "203.0.113.80", 40000, 7);
        let answer = udp("203.0.113.80", "192.168.10.50", 7, 40000);
        // Opened through the tunnel: no NAT here (the VPS did it).
        assert!(back(&flow(out, answer, CONFIRMED)));
        let v6 = udp("2001:db8:10::50", "2001:db8:80::80", 40000, 7);
        assert!(back(&flow(v6, udp("2001:db8:80::80", "2001:db8:10::50", 7, 40000), CONFIRMED)));
        // Masqueraded out of a WAN (before the outage, or through the backup): kept.
        let masq = udp("203.0.113.80", "192.168.1.2", 7, 40000);
        assert!(!back(&flow(out, masq, CONFIRMED | IPS_SRC_NAT)));
        // LAN to another of the router's subnets, either way; LAN to LAN.
        let lan2 = udp("192.168.10.50", "192.168.20.50", 40000, 7);
        assert!(!back(&flow(lan2, udp("192.168.20.50", "192.168.10.50", 7, 40000), CONFIRMED)));
        let from2 = udp("192.168.20.50", "192.168.10.50", 40000, 7);
        assert!(!back(&flow(from2, udp("192.168.10.50", "192.168.20.50", 7, 40000), CONFIRMED)));
        let lan = udp("192.168.10.50", "192.168.10.51", 40000, 7);
        assert!(!back(&flow(lan, udp("192.168.10.51", "192.168.10.50", 7, 40000), CONFIRMED)));
        // To the router (its LAN address, its WAN address); from the router itself.
        let dns = udp("192.168.10.50", "192.168.10.1", 40000, 53);
        assert!(!back(&flow(dns, udp("192.168.10.1", "192.168.10.50", 53, 40000), CONFIRMED)));
        let wan = udp("192.168.10.50", "192.168.1.2", 40000, 22);
        assert!(!back(&flow(wan, udp("192.168.1.2", "192.168.10.50", 22, 40000), CONFIRMED)));
        let own = udp("192.168.10.1", "203.0.113.53", 40000, 53);
        assert!(!back(&flow(own, udp("203.0.113.53", "192.168.10.1", 53, 40000), CONFIRMED)));
        // Not from the LAN: a port forward's inbound flow, a host outside LAN_SUBNET.
        let inbound = udp("203.0.113.9", "192.168.1.2", 40000, 443);
        let dnat = udp("192.168.10.50", "203.0.113.9", 443, 40000);
        assert!(!back(&flow(inbound, dnat, CONFIRMED | IPS_DST_NAT)));
        let other = udp("172.16.0.5", "203.0.113.80", 40000, 7);
        assert!(!back(&flow(other, udp("203.0.113.80", "172.16.0.5", 7, 40000), CONFIRMED)));
        // Redirected to somewhere else (a transparent proxy).
        let proxied = udp("192.168.10.50", "203.0.113.80", 40000, 80);
        let proxy = udp("192.168.10.1", "192.168.10.50", 3128, 40000);
        assert!(!back(&flow(proxied, proxy, CONFIRMED | IPS_DST_NAT)));
        // No switch, no reset.
        assert!(!breaks(&flow(out, answer, CONFIRMED), Path::Tunnel, Path::Tunnel, &s));
        // Leaving the tunnel for the backup (FALLBACK) breaks the same flows.
        assert!(breaks(&flow(out, answer, CONFIRMED), Path::Tunnel, Path::Backup, &s));
    }

    #[test]
    fn failover_resets_the_lan_flows_nated_to_the_primary_and_nothing_else() {
        let s = scope();
        let over = |f: &Flow| breaks(f, Path::Primary, Path::Tunnel, &s);
        let out = udp("192.168.10.50", "203.0.113.80", 40000, 7);
        // SNAT or masquerade to the primary's address: the entry cannot tell them apart;
        // a masqueraded one dies at its next packet anyway.
        assert!(over(&flow(out, udp("203.0.113.80", "192.168.1.2", 7, 1024), CONFIRMED | IPS_SRC_NAT)));
        // NATed to the backup's address: still good.
        assert!(!over(&flow(out, udp("203.0.113.80", "192.168.2.2", 7, 40000), CONFIRMED | IPS_SRC_NAT)));
        // Not NATed at all, or NATed but to the router itself / a neighbour of the primary.
        assert!(!over(&flow(out, udp("203.0.113.80", "192.168.10.50", 7, 40000), CONFIRMED)));
        let modem = udp("192.168.10.50", "192.168.1.1", 40000, 80);
        assert!(!over(&flow(modem, udp("192.168.1.1", "192.168.1.2", 80, 40000), CONFIRMED | IPS_SRC_NAT)));
        // The router's own flow out of the primary.
        let own = udp("192.168.1.2", "203.0.113.80", 40000, 7);
        assert!(!over(&flow(own, udp("203.0.113.80", "192.168.1.2", 7, 40000), CONFIRMED)));
        // The backup's SNAT at the end of a fallback.
        let b = Scope { left: vec![ip("192.168.2.2")], ..scope() };
        let snat2 = flow(out, udp("203.0.113.80", "192.168.2.2", 7, 40000), CONFIRMED | IPS_SRC_NAT);
        assert!(breaks(&snat2, Path::Backup, Path::Tunnel, &b));
        assert!(!breaks(&snat2, Path::Backup, Path::Tunnel, &s));
        // Failing back straight from the fallback: the backup's flows are left alone
        // (the load balancer keeps some of them on the backup).
        assert!(!breaks(&snat2, Path::Backup, Path::Primary, &b));
    }
}
