//! Links: names, indexes and the two flags that matter here (administratively up, and
//! LOWER_UP, the carrier), plus bringing a link up and reading its IPv4 address.

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Netlink, NetlinkError};

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

/// Every link of the namespace, read once per tick.
#[derive(Clone, Debug, Default)]
pub struct Links(Vec<Link>);

impl Links {
    /// Reads all links.
    pub fn dump(nl: &mut Netlink) -> Result<Links, NetlinkError> {
        let replies = nl.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))?;
        Ok(Links(
            replies
                .into_iter()
                .filter_map(|m| match m {
                    RouteNetlinkMessage::NewLink(l) => Some(from_message(&l)),
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

fn from_message(m: &LinkMessage) -> Link {
    let name = m
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    Link {
        index: m.header.index,
        name,
        admin_up: m.header.flags.contains(LinkFlags::Up),
        lower_up: m.header.flags.contains(LinkFlags::LowerUp),
    }
}

/// The message of `ip link set dev <index> up`.
pub fn set_up_message(index: u32) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    RouteNetlinkMessage::NewLink(m)
}

/// Sets the link administratively up (a no-op if it already is).
pub fn set_up(nl: &mut Netlink, index: u32) -> Result<(), NetlinkError> {
    nl.request(set_up_message(index), 0)
}

/// The first IPv4 address of the link, primary addresses first.
pub fn ipv4_address(nl: &mut Netlink, index: u32) -> Result<Option<Ipv4Addr>, NetlinkError> {
    let mut req = AddressMessage::default();
    req.header.family = AddressFamily::Inet;
    let replies = nl.dump(RouteNetlinkMessage::GetAddress(req))?;
    Ok(replies.iter().find_map(|m| match m {
        RouteNetlinkMessage::NewAddress(a) if a.header.index == index && a.header.family == AddressFamily::Inet => {
            a.attributes.iter().find_map(|attr| match attr {
                AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            })
        }
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkSerializable, Parseable};

    #[test]
    fn golden_set_up() {
        // ip link set dev wg0 up (wg0 is index 3): RTM_NEWLINK with an ifinfomsg whose
        // flags and change mask are both IFF_UP; captured with strace from iproute2 6.1.
        let m = set_up_message(3);
        assert_eq!(NetlinkSerializable::message_type(&m), libc::RTM_NEWLINK);
        let mut bytes = vec![0u8; NetlinkSerializable::buffer_len(&m)];
        NetlinkSerializable::serialize(&m, &mut bytes);
        assert_eq!(
            bytes,
            [0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]
        );
        let parsed = LinkMessage::parse(&bytes).expect("parses");
        assert_eq!(
            (parsed.header.index, parsed.header.flags, parsed.header.change_mask),
            (3, LinkFlags::Up, LinkFlags::Up)
        );
    }

    #[test]
    fn links_from_a_dump_message() {
        let mut m = LinkMessage::default();
        m.header.index = 5;
        m.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        m.attributes.push(LinkAttribute::IfName("eth0".into()));
        assert_eq!(from_message(&m), Link { index: 5, name: "eth0".into(), admin_up: true, lower_up: true });
        m.header.flags = LinkFlags::Up;
        assert!(!from_message(&m).lower_up);
    }
}
