//! Links and what hangs off them: names, indexes and the flags that matter here
//! (administratively up, LOWER_UP — the carrier —, point-to-point), setting a link up or
//! down, its IPv4 addresses (with the peer of a point-to-point link, which is a PPPoE
//! session's gateway), and the neighbour table (a gateway's link-layer address).
//!
//! Only a few fields of `ifinfomsg`, `ifaddrmsg` and `ndmsg` are needed, so all three are
//! read and written here by hand (see [`super::Rtnl`] for why).

use std::net::{Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{DecodeError, NlaBuffer, NlasIterator};

use super::{Body, Netlink, NetlinkError, Rtnl};

const IFF_UP: u32 = 0x1;
const IFF_POINTOPOINT: u32 = 0x10;
const IFF_NOARP: u32 = 0x80;
const IFF_LOWER_UP: u32 = 0x1_0000;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const NDMSG_LEN: usize = 12;
/// Neighbour states whose link-layer address can be used (REACHABLE, STALE, DELAY,
/// PROBE, NOARP, PERMANENT); INCOMPLETE and FAILED have none worth trusting.
const NUD_USABLE: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;
/// Resolving: solicitations sent, none answered yet; packets to it wait in its queue.
pub const NUD_INCOMPLETE: u16 = 0x01;
/// Resolution gave up: what waited in the queue was dropped.
pub const NUD_FAILED: u16 = 0x20;

/// One network interface as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFF_UP: administratively up.
    pub admin_up: bool,
    /// IFF_LOWER_UP: the carrier is present.
    pub lower_up: bool,
    /// IFF_POINTOPOINT or IFF_NOARP: packets need no link-layer address (PPPoE, tunnels).
    pub point_to_point: bool,
}

impl Link {
    /// A link that is up with a carrier (tests, fuzzing).
    pub fn up(index: u32, name: &str) -> Link {
        Link { index, name: name.into(), admin_up: true, lower_up: true, point_to_point: false }
    }
}

/// `struct ifinfomsg` and the interface name: what a link message carries for us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkMsg {
    pub index: u32,
    pub flags: u32,
    pub change: u32,
    pub name: Option<String>,
    /// IFLA_STATS64's rx_bytes and tx_bytes (`struct rtnl_link_stats64`: rx_packets,
    /// tx_packets, rx_bytes, tx_bytes, …, each a u64).
    pub bytes: Option<LinkBytes>,
}

impl LinkMsg {
    pub fn parse(b: &[u8]) -> Result<LinkMsg, DecodeError> {
        if b.len() < IFINFOMSG_LEN {
            return Err(DecodeError::from("link message shorter than ifinfomsg"));
        }
        let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut m = LinkMsg { index: u32_at(4), flags: u32_at(8), change: u32_at(12), name: None, bytes: None };
        for nla in NlasIterator::new(&b[IFINFOMSG_LEN..]) {
            let nla = nla?;
            match nla.kind() {
                IFLA_IFNAME => m.name = Some(c_string(nla.value())),
                IFLA_STATS64 => m.bytes = stats_bytes(nla.value()),
                _ => {}
            }
        }
        Ok(m)
    }

    pub fn buffer_len(&self) -> usize {
        IFINFOMSG_LEN
    }

    /// Writes the `ifinfomsg` (family AF_UNSPEC, type 0); requests carry no attributes.
    pub fn emit(&self, b: &mut [u8]) {
        b[..4].fill(0);
        b[4..8].copy_from_slice(&self.index.to_ne_bytes());
        b[8..12].copy_from_slice(&self.flags.to_ne_bytes());
        b[12..16].copy_from_slice(&self.change.to_ne_bytes());
    }
}

/// `struct ifaddrmsg` and its two addresses: what an address message carries for us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrMsg {
    pub family: u8,
    pub prefix_len: u8,
    pub index: u32,
    /// IFA_LOCAL: the interface's own address.
    pub local: Option<Ipv4Addr>,
    /// IFA_ADDRESS: the peer's on a point-to-point link, the same as IFA_LOCAL otherwise.
    pub address: Option<Ipv4Addr>,
    /// An IPv6 address's own: IFA_LOCAL when there is one (point-to-point), else
    /// IFA_ADDRESS.
    pub local6: Option<Ipv6Addr>,
}

fn ipv4_of(v: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from)
}

fn ipv6_of(v: &[u8]) -> Option<Ipv6Addr> {
    <[u8; 16]>::try_from(v).ok().map(Ipv6Addr::from)
}

impl AddrMsg {
    pub fn parse(b: &[u8]) -> Result<AddrMsg, DecodeError> {
        if b.len() < IFADDRMSG_LEN {
            return Err(DecodeError::from("address message shorter than ifaddrmsg"));
        }
        let mut m = AddrMsg {
            family: b[0],
            prefix_len: b[1],
            index: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            local: None,
            address: None,
            local6: None,
        };
        for nla in NlasIterator::new(&b[IFADDRMSG_LEN..]) {
            let nla: NlaBuffer<&[u8]> = nla?;
            match nla.kind() {
                IFA_LOCAL => {
                    m.local = ipv4_of(nla.value());
                    m.local6 = ipv6_of(nla.value()).or(m.local6);
                }
                IFA_ADDRESS => {
                    m.address = ipv4_of(nla.value());
                    m.local6 = m.local6.or(ipv6_of(nla.value()));
                }
                _ => {}
            }
        }
        Ok(m)
    }

    pub fn buffer_len(&self) -> usize {
        IFADDRMSG_LEN
    }

    pub fn emit(&self, b: &mut [u8]) {
        b[..IFADDRMSG_LEN].fill(0);
        b[0] = self.family;
        b[4..8].copy_from_slice(&self.index.to_ne_bytes());
    }
}

/// One IPv4 address of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub local: Ipv4Addr,
    /// The other end of a point-to-point link (`inet A peer B/32`).
    pub peer: Option<Ipv4Addr>,
    pub prefix_len: u8,
}

impl Addr {
    /// The IPv4 address an address message describes; `None` for other families.
    pub fn from_message(a: &AddrMsg) -> Option<Addr> {
        if a.family != libc::AF_INET as u8 {
            return None;
        }
        let local = a.local.or(a.address)?;
        let peer = a.address.filter(|p| *p != local);
        Some(Addr { index: a.index, local, peer, prefix_len: a.prefix_len })
    }
}

/// `struct ndmsg` and the two attributes read of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NeighMsg {
    pub family: u8,
    pub index: u32,
    pub state: u16,
    pub dst: Option<Ipv4Addr>,
    pub lladdr: Option<Vec<u8>>,
}

impl NeighMsg {
    pub fn parse(b: &[u8]) -> Result<NeighMsg, DecodeError> {
        if b.len() < NDMSG_LEN {
            return Err(DecodeError::from("neighbour message shorter than ndmsg"));
        }
        let mut m = NeighMsg {
            family: b[0],
            index: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            state: u16::from_ne_bytes([b[8], b[9]]),
            dst: None,
            lladdr: None,
        };
        for nla in NlasIterator::new(&b[NDMSG_LEN..]) {
            let nla: NlaBuffer<&[u8]> = nla?;
            match nla.kind() {
                NDA_DST => m.dst = ipv4_of(nla.value()),
                NDA_LLADDR => m.lladdr = Some(nla.value().to_vec()),
                _ => {}
            }
        }
        Ok(m)
    }

    pub fn buffer_len(&self) -> usize {
        NDMSG_LEN
    }

    /// The dump request: family only (kernels filter by ifindex only with strict
    /// checking, so the reply is filtered here).
    pub fn emit(&self, b: &mut [u8]) {
        b[..NDMSG_LEN].fill(0);
        b[0] = self.family;
    }
}

fn c_string(v: &[u8]) -> String {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// A link's byte counters: received, sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkBytes {
    pub rx: u64,
    pub tx: u64,
}

/// rx_bytes and tx_bytes of a `struct rtnl_link_stats64` (too short: none).
fn stats_bytes(v: &[u8]) -> Option<LinkBytes> {
    let u64_at = |i: usize| Some(u64::from_ne_bytes(v.get(i..i + 8)?.try_into().ok()?));
    Some(LinkBytes { rx: u64_at(16)?, tx: u64_at(24)? })
}

/// The byte counters of link `index` (one request for that link, not a dump): `None`
/// when the link is gone or reports none.
pub fn link_bytes(nl: &mut Netlink, index: u32) -> Result<Option<LinkBytes>, NetlinkError> {
    let req = Rtnl::new(libc::RTM_GETLINK, Body::Link(LinkMsg { index, ..LinkMsg::default() }));
    match nl.query(req) {
        Ok(replies) => Ok(replies.into_iter().find_map(|m| match m.body {
            Body::Link(l) if l.index == index => l.bytes,
            _ => None,
        })),
        Err(NetlinkError::Kernel(libc::ENODEV)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every link of the namespace, read once per tick.
#[derive(Clone, Debug, Default)]
pub struct Links(Vec<Link>);

impl Links {
    /// Reads all links.
    pub fn dump(nl: &mut Netlink) -> Result<Links, NetlinkError> {
        let request = Rtnl::new(libc::RTM_GETLINK, Body::Link(LinkMsg::default()));
        let links = nl.dump_fold(request, Vec::new, |out, m| {
            if let Body::Link(l) = m.body {
                out.push(Link {
                    index: l.index,
                    name: l.name.unwrap_or_default(),
                    admin_up: l.flags & IFF_UP != 0,
                    lower_up: l.flags & IFF_LOWER_UP != 0,
                    point_to_point: l.flags & (IFF_POINTOPOINT | IFF_NOARP) != 0,
                });
            }
        })?;
        Ok(Links(links))
    }

    /// Builds a table by hand.
    #[cfg(test)]
    pub fn new(links: Vec<Link>) -> Links {
        Links(links)
    }

    /// A table of links that are up with a carrier, by index and name (tests, fuzzing).
    pub fn of(links: &[(u32, &str)]) -> Links {
        Links(links.iter().map(|&(index, name)| Link::up(index, name)).collect())
    }

    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.0.iter().find(|l| l.name == name)
    }

    pub fn index(&self, name: &str) -> Option<u32> {
        self.by_name(name).map(|l| l.index)
    }

    pub fn by_index(&self, index: u32) -> Option<&Link> {
        self.0.iter().find(|l| l.index == index)
    }

    /// Takes in an announcement: the link as it is now, or `None` once it is gone.
    pub fn apply(&mut self, index: u32, link: Option<Link>) {
        self.0.retain(|l| l.index != index);
        self.0.extend(link);
    }

    /// Records a change of administrative state made through this run's socket.
    pub fn set_admin_up(&mut self, name: &str, up: bool) {
        if let Some(l) = self.0.iter_mut().find(|l| l.name == name) {
            l.admin_up = up;
        }
    }

    pub fn name(&self, index: u32) -> Option<&str> {
        self.0.iter().find(|l| l.index == index).map(|l| l.name.as_str())
    }
}

/// The message of `ip link set dev <index> up` (or `down`).
pub fn set_admin_message(index: u32, up: bool) -> Rtnl {
    let flags = if up { IFF_UP } else { 0 };
    Rtnl::new(libc::RTM_NEWLINK, Body::Link(LinkMsg { index, flags, change: IFF_UP, name: None, bytes: None }))
}

/// Sets the link administratively up or down (a no-op if it already is).
pub fn set_admin(nl: &mut Netlink, index: u32, up: bool) -> Result<(), NetlinkError> {
    nl.request(set_admin_message(index, up), 0)
}

/// Every IPv4 address of every link.
pub fn addresses(nl: &mut Netlink) -> Result<Vec<Addr>, NetlinkError> {
    let req = AddrMsg { family: libc::AF_INET as u8, ..AddrMsg::default() };
    nl.dump_fold(Rtnl::new(libc::RTM_GETADDR, Body::Addr(req)), Vec::new, |out, m| {
        if let Body::Addr(a) = m.body {
            out.extend(Addr::from_message(&a));
        }
    })
}

/// One IPv6 address of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr6 {
    pub index: u32,
    pub local: Ipv6Addr,
    pub prefix_len: u8,
}

/// Every IPv6 address of every interface (none on a kernel without IPv6).
pub fn addresses6(nl: &mut Netlink) -> Result<Vec<Addr6>, NetlinkError> {
    let req = AddrMsg { family: libc::AF_INET6 as u8, ..AddrMsg::default() };
    nl.dump_fold(Rtnl::new(libc::RTM_GETADDR, Body::Addr(req)), Vec::new, |out, m| match m.body {
        Body::Addr(a) if a.family == libc::AF_INET6 as u8 => {
            out.extend(a.local6.map(|local| Addr6 { index: a.index, local, prefix_len: a.prefix_len }))
        }
        _ => {}
    })
}

/// The usable link-layer address of `ip` on link `index`, from the neighbour table.
pub fn neighbour(nl: &mut Netlink, index: u32, ip: Ipv4Addr) -> Result<Option<Vec<u8>>, NetlinkError> {
    let entry = neighbour_entry(nl, index, ip)?.filter(|n| n.state & NUD_USABLE != 0);
    Ok(entry.and_then(|n| n.lladdr).filter(|a| !a.is_empty() && a.iter().any(|b| *b != 0)))
}

/// The NUD_* state of `ip`'s entry on link `index`; `None` when it has none.
pub fn neighbour_state(nl: &mut Netlink, index: u32, ip: Ipv4Addr) -> Result<Option<u16>, NetlinkError> {
    Ok(neighbour_entry(nl, index, ip)?.map(|n| n.state))
}

/// `ip`'s entry on link `index` in the IPv4 neighbour table.
fn neighbour_entry(nl: &mut Netlink, index: u32, ip: Ipv4Addr) -> Result<Option<NeighMsg>, NetlinkError> {
    let req = NeighMsg { family: libc::AF_INET as u8, ..NeighMsg::default() };
    nl.dump_fold(
        Rtnl::new(libc::RTM_GETNEIGH, Body::Neigh(req)),
        || None,
        |found, m| match m.body {
            Body::Neigh(n) if found.is_none() && n.index == index && n.dst == Some(ip) => *found = Some(n),
            _ => {}
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::golden::serialized;
    use netlink_packet_core::{NetlinkDeserializable, NetlinkHeader, NetlinkSerializable};

    #[test]
    fn golden_set_up_and_down() {
        // ip link set dev wg0 up (wg0 is index 3): RTM_NEWLINK with an ifinfomsg whose
        // flags and change mask are both IFF_UP; captured with strace from iproute2 6.1.
        let m = set_admin_message(3, true);
        assert_eq!(m.message_type(), libc::RTM_NEWLINK);
        let golden = [0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00];
        assert_eq!(serialized(&m), golden);
        assert_eq!(
            LinkMsg::parse(&golden).ok(),
            Some(LinkMsg { index: 3, flags: 1, change: 1, name: None, bytes: None })
        );
        // ip link set dev wg0 down: the same change mask, flags 0.
        let golden = [0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00];
        assert_eq!(serialized(&set_admin_message(3, false)), golden);
    }

    #[test]
    fn a_link_message_carries_its_byte_counters() {
        // An ifinfomsg of index 4 and IFLA_STATS64 (23): 4-byte header, then rx_packets,
        // tx_packets, rx_bytes, tx_bytes and the rest of rtnl_link_stats64 (zeros here).
        let mut b = vec![0u8; IFINFOMSG_LEN];
        b[4..8].copy_from_slice(&4u32.to_ne_bytes());
        let stats: Vec<u8> = [10u64, 20, 5_242_880, 81_920, 0, 0].iter().flat_map(|v| v.to_ne_bytes()).collect();
        b.extend_from_slice(&((4 + stats.len()) as u16).to_ne_bytes());
        b.extend_from_slice(&IFLA_STATS64.to_ne_bytes());
        b.extend_from_slice(&stats);
        let m = LinkMsg::parse(&b).expect("parse");
        assert_eq!((m.index, m.bytes), (4, Some(LinkBytes { rx: 5_242_880, tx: 81_920 })));
        // Too short to hold tx_bytes: no counters, never a guess.
        assert_eq!(stats_bytes(&stats[..31]), None);
    }

    fn header(kind: u16) -> NetlinkHeader {
        let mut h = NetlinkHeader::default();
        h.message_type = kind;
        h
    }

    #[test]
    fn link_from_a_dump_reply() {
        // An RTM_NEWLINK reply (payload after the nlmsghdr) for "eth0", index 2, flags
        // UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP, with IFLA_MTU before IFLA_IFNAME.
        let mut b =
            vec![0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x43, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00];
        b.extend_from_slice(&[0x08, 0x00, 0x04, 0x00, 0xdc, 0x05, 0x00, 0x00]);
        b.extend_from_slice(&[0x09, 0x00, 0x03, 0x00, b'e', b't', b'h', b'0', 0x00, 0x00, 0x00, 0x00]);
        let m = Rtnl::deserialize(&header(libc::RTM_NEWLINK), &b).expect("parses");
        let Body::Link(l) = m.body else { panic!("not a link") };
        assert_eq!((l.index, l.name.as_deref()), (2, Some("eth0")));
        assert!(l.flags & IFF_UP != 0 && l.flags & IFF_LOWER_UP != 0);
        assert!(LinkMsg::parse(&b[..10]).is_err(), "truncated");
    }

    #[test]
    fn address_from_a_dump_reply() {
        // RTM_NEWADDR: AF_INET, /24, index 4, IFA_ADDRESS then IFA_LOCAL 192.168.10.1.
        let b = [
            0x02, 0x18, 0x80, 0x00, 0x04, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x00, 0xc0, 0xa8, 0x0a, 0x01, 0x08, 0x00,
            0x02, 0x00, 0xc0, 0xa8, 0x0a, 0x01,
        ];
        let m = Rtnl::deserialize(&header(libc::RTM_NEWADDR), &b).expect("parses");
        let Body::Addr(a) = m.body else { panic!("not an address") };
        assert_eq!((a.family, a.prefix_len, a.index, a.local), (2, 24, 4, Some(Ipv4Addr::new(192, 168, 10, 1))));
        assert_eq!(a.address, a.local);
        // The dump request: family AF_INET, everything else zero.
        let req = Rtnl::new(libc::RTM_GETADDR, Body::Addr(AddrMsg { family: 2, ..AddrMsg::default() }));
        assert_eq!(serialized(&req), [2, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn point_to_point_address_carries_the_peer() {
        // A PPPoE session: `inet 100.64.3.2 peer 100.64.0.1/32 dev pppoe0` (index 9),
        // IFA_ADDRESS (the peer) before IFA_LOCAL, as the kernel sends them.
        let b = [
            0x02, 0x20, 0x80, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x00, 100, 64, 0, 1, 0x08, 0x00, 0x02,
            0x00, 100, 64, 3, 2,
        ];
        let a = AddrMsg::parse(&b).expect("parses");
        assert_eq!((a.local, a.address), (Some(Ipv4Addr::new(100, 64, 3, 2)), Some(Ipv4Addr::new(100, 64, 0, 1))));
        assert!(AddrMsg::parse(&b[..6]).is_err());
    }

    #[test]
    fn ipv6_address_from_a_dump_reply() {
        // RTM_NEWADDR: AF_INET6, /64, index 5, IFA_ADDRESS 2001:db8:10::1 (no IFA_LOCAL).
        let mut b = vec![0x0a, 0x40, 0x80, 0x00, 0x05, 0x00, 0x00, 0x00, 0x14, 0x00, 0x01, 0x00];
        b.extend_from_slice(&"2001:db8:10::1".parse::<Ipv6Addr>().expect("address").octets());
        let a = AddrMsg::parse(&b).expect("parses");
        assert_eq!(
            (a.family, a.prefix_len, a.index, a.local, a.local6),
            (10, 64, 5, None, "2001:db8:10::1".parse().ok())
        );
        assert_eq!(Addr::from_message(&a), None, "not an IPv4 address");
    }

    #[test]
    fn neighbour_from_a_dump_reply() {
        // RTM_NEWNEIGH: AF_INET, index 2, state REACHABLE, NDA_DST 192.168.1.1,
        // NDA_LLADDR 52:54:00:12:34:56.
        let b = [
            0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x08, 0x00, 0x01, 0x00, 192, 168,
            1, 1, 0x0a, 0x00, 0x02, 0x00, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x00, 0x00,
        ];
        let m = Rtnl::deserialize(&header(libc::RTM_NEWNEIGH), &b).expect("parses");
        let Body::Neigh(n) = m.body else { panic!("not a neighbour") };
        assert_eq!((n.index, n.state, n.dst), (2, 2, Some(Ipv4Addr::new(192, 168, 1, 1))));
        assert_eq!(n.lladdr.as_deref(), Some(&[0x52, 0x54, 0x00, 0x12, 0x34, 0x56][..]));
        assert!(NeighMsg::parse(&b[..11]).is_err());
        let req = Rtnl::new(libc::RTM_GETNEIGH, Body::Neigh(NeighMsg { family: 2, ..NeighMsg::default() }));
        assert_eq!(serialized(&req), [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn other_message_types_are_skipped() {
        let m = Rtnl::deserialize(&header(libc::RTM_NEWNDUSEROPT), &[0; 12]).expect("skipped, not an error");
        assert!(matches!(m.body, Body::Other));
    }
}
