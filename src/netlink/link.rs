//! Links: names, indexes and the two flags that matter here (administratively up, and
//! LOWER_UP, the carrier), plus bringing a link up and reading its IPv4 address.
//!
//! Only a few fields of `ifinfomsg` and `ifaddrmsg` are needed, so both are read and
//! written here by hand (see [`super::Rtnl`] for why).

use std::net::Ipv4Addr;

use netlink_packet_core::{DecodeError, NlaBuffer, NlasIterator};

use super::{Body, Netlink, NetlinkError, Rtnl};

const IFF_UP: u32 = 0x1;
const IFF_LOWER_UP: u32 = 0x1_0000;
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;

/// One network interface as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFF_UP: administratively up.
    pub admin_up: bool,
    /// IFF_LOWER_UP: the carrier is present.
    pub lower_up: bool,
}

/// `struct ifinfomsg` and the interface name: what a link message carries for us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkMsg {
    pub index: u32,
    pub flags: u32,
    pub change: u32,
    pub name: Option<String>,
}

impl LinkMsg {
    pub fn parse(b: &[u8]) -> Result<LinkMsg, DecodeError> {
        if b.len() < IFINFOMSG_LEN {
            return Err(DecodeError::from("link message shorter than ifinfomsg"));
        }
        let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut m = LinkMsg { index: u32_at(4), flags: u32_at(8), change: u32_at(12), name: None };
        for nla in NlasIterator::new(&b[IFINFOMSG_LEN..]) {
            let nla = nla?;
            if nla.kind() == IFLA_IFNAME {
                m.name = Some(c_string(nla.value()));
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

/// `struct ifaddrmsg` and the local address: what an address message carries for us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrMsg {
    pub family: u8,
    pub index: u32,
    pub local: Option<Ipv4Addr>,
}

impl AddrMsg {
    pub fn parse(b: &[u8]) -> Result<AddrMsg, DecodeError> {
        if b.len() < IFADDRMSG_LEN {
            return Err(DecodeError::from("address message shorter than ifaddrmsg"));
        }
        let mut m = AddrMsg { family: b[0], index: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]), local: None };
        for nla in NlasIterator::new(&b[IFADDRMSG_LEN..]) {
            let nla: NlaBuffer<&[u8]> = nla?;
            let v = nla.value();
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on a
            // point-to-point link and the same as IFA_LOCAL otherwise.
            match (nla.kind(), v.len()) {
                (IFA_LOCAL, 4) => m.local = Some(Ipv4Addr::new(v[0], v[1], v[2], v[3])),
                (IFA_ADDRESS, 4) if m.local.is_none() => m.local = Some(Ipv4Addr::new(v[0], v[1], v[2], v[3])),
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

fn c_string(v: &[u8]) -> String {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// Every link of the namespace, read once per tick.
#[derive(Clone, Debug, Default)]
pub struct Links(Vec<Link>);

impl Links {
    /// Reads all links.
    pub fn dump(nl: &mut Netlink) -> Result<Links, NetlinkError> {
        let replies = nl.dump(Rtnl::new(libc::RTM_GETLINK, Body::Link(LinkMsg::default())))?;
        Ok(Links(
            replies
                .into_iter()
                .filter_map(|m| match m.body {
                    Body::Link(l) => Some(Link {
                        index: l.index,
                        name: l.name.unwrap_or_default(),
                        admin_up: l.flags & IFF_UP != 0,
                        lower_up: l.flags & IFF_LOWER_UP != 0,
                    }),
                    _ => None,
                })
                .collect(),
        ))
    }

    /// Builds a table by hand.
    #[cfg(test)]
    pub fn new(links: Vec<Link>) -> Links {
        Links(links)
    }

    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.0.iter().find(|l| l.name == name)
    }

    pub fn index(&self, name: &str) -> Option<u32> {
        self.by_name(name).map(|l| l.index)
    }

    pub fn name(&self, index: u32) -> Option<&str> {
        self.0.iter().find(|l| l.index == index).map(|l| l.name.as_str())
    }
}

/// The message of `ip link set dev <index> up`.
pub fn set_up_message(index: u32) -> Rtnl {
    Rtnl::new(libc::RTM_NEWLINK, Body::Link(LinkMsg { index, flags: IFF_UP, change: IFF_UP, name: None }))
}

/// Sets the link administratively up (a no-op if it already is).
pub fn set_up(nl: &mut Netlink, index: u32) -> Result<(), NetlinkError> {
    nl.request(set_up_message(index), 0)
}

/// The first IPv4 address of the link (the kernel lists primary addresses first).
pub fn ipv4_address(nl: &mut Netlink, index: u32) -> Result<Option<Ipv4Addr>, NetlinkError> {
    let req = AddrMsg { family: libc::AF_INET as u8, index: 0, local: None };
    let replies = nl.dump(Rtnl::new(libc::RTM_GETADDR, Body::Addr(req)))?;
    Ok(replies.into_iter().find_map(|m| match m.body {
        Body::Addr(a) if a.index == index && a.family == libc::AF_INET as u8 => a.local,
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkDeserializable, NetlinkHeader, NetlinkSerializable};

    fn bytes(m: &Rtnl) -> Vec<u8> {
        let mut b = vec![0u8; m.buffer_len()];
        m.serialize(&mut b);
        b
    }

    #[test]
    fn golden_set_up() {
        // ip link set dev wg0 up (wg0 is index 3): RTM_NEWLINK with an ifinfomsg whose
        // flags and change mask are both IFF_UP; captured with strace from iproute2 6.1.
        let m = set_up_message(3);
        assert_eq!(m.message_type(), libc::RTM_NEWLINK);
        let golden = [0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00];
        assert_eq!(bytes(&m), golden);
        assert_eq!(LinkMsg::parse(&golden).ok(), Some(LinkMsg { index: 3, flags: 1, change: 1, name: None }));
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
        assert_eq!((a.family, a.index, a.local), (2, 4, Some(Ipv4Addr::new(192, 168, 10, 1))));
        // The dump request: family AF_INET, everything else zero.
        let req = Rtnl::new(libc::RTM_GETADDR, Body::Addr(AddrMsg { family: 2, index: 0, local: None }));
        assert_eq!(bytes(&req), [2, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn other_message_types_are_skipped() {
        let m = Rtnl::deserialize(&header(libc::RTM_NEWNEIGH), &[0; 12]).expect("skipped, not an error");
        assert!(matches!(m.body, Body::Other));
    }
}
