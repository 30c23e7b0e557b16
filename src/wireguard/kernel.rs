//! In-kernel WireGuard over generic netlink: resolve the `wireguard` family, dump the
//! device (`WG_CMD_GET_DEVICE`), and set one peer's endpoint and keepalive
//! (`WG_CMD_SET_DEVICE`). The endpoint goes out as a 16-byte `sockaddr_in` (28 for
//! IPv6); the kernel silently ignores any other length.

use std::time::Duration;

use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_packet_wireguard::{
    WireguardAllowedIpAttr, WireguardAttribute, WireguardCmd, WireguardMessage, WireguardPeer, WireguardPeerAttribute,
    WireguardPeerFlags,
};

use super::{Peer, PeerSet, WgError};
use crate::netlink::{Netlink, NetlinkError};

/// A generic-netlink socket and the `wireguard` family's id, resolved once per run.
pub struct Genl {
    nl: Netlink,
    family: u16,
}

impl Genl {
    pub fn open() -> Result<Genl, WgError> {
        let mut nl = Netlink::open(netlink_sys::protocols::NETLINK_GENERIC)
            .map_err(|e| WgError(format!("generic netlink: {e}")))?;
        let family = family_id(&mut nl)?;
        Ok(Genl { nl, family })
    }
}

/// The message that asks the kernel for the `wireguard` family's id.
pub fn family_request() -> GenlMessage<GenlCtrl> {
    GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName("wireguard".into())],
    })
}

fn family_id(nl: &mut Netlink) -> Result<u16, WgError> {
    let replies = nl.query(family_request()).map_err(|e| match e {
        NetlinkError::Kernel(libc::ENOENT) => WgError("the wireguard kernel module is not loaded".into()),
        e => WgError(format!("cannot resolve the wireguard netlink family: {e}")),
    })?;
    replies
        .iter()
        .flat_map(|m| m.payload.nlas.iter())
        .find_map(|a| match a {
            GenlCtrlAttrs::FamilyId(id) => Some(*id),
            _ => None,
        })
        .ok_or_else(|| WgError("the kernel did not return the wireguard family id".into()))
}

/// The WG_CMD_GET_DEVICE request for `iface`.
pub fn get_request(iface: &str, family: u16) -> GenlMessage<WireguardMessage> {
    let mut m = GenlMessage::from_payload(WireguardMessage {
        cmd: WireguardCmd::GetDevice,
        attributes: vec![WireguardAttribute::IfName(iface.into())],
    });
    m.set_resolved_family_id(family);
    m
}

/// The WG_CMD_SET_DEVICE request that sets one peer's endpoint (when given) and
/// keepalive, leaving everything else of the peer as it is. `update_only`
/// (WGPEER_F_UPDATE_ONLY): a peer removed meanwhile is not created again.
pub fn set_request(iface: &str, p: &PeerSet, family: u16, update_only: bool) -> GenlMessage<WireguardMessage> {
    let mut attrs = vec![WireguardPeerAttribute::PublicKey(p.key)];
    if update_only {
        attrs.push(WireguardPeerAttribute::Flags(WireguardPeerFlags::UpdateOnly));
    }
    if let Some(e) = p.endpoint {
        attrs.push(WireguardPeerAttribute::Endpoint(e));
    }
    attrs.push(WireguardPeerAttribute::PersistentKeepalive(p.keepalive_s));
    let peer = WireguardPeer(attrs);
    let mut m = GenlMessage::from_payload(WireguardMessage {
        cmd: WireguardCmd::SetDevice,
        attributes: vec![WireguardAttribute::IfName(iface.into()), WireguardAttribute::Peers(vec![peer])],
    });
    m.set_resolved_family_id(family);
    m
}

/// Turns the messages of a device dump into peers. A peer with many allowed IPs is
/// split over several messages that repeat its key; its parts are merged.
pub fn peers_from_replies(replies: &[GenlMessage<WireguardMessage>]) -> Vec<Peer> {
    let mut out: Vec<Peer> = Vec::new();
    for m in replies {
        for attr in &m.payload.attributes {
            let WireguardAttribute::Peers(peers) = attr else { continue };
            for wp in peers {
                let p = peer_from_attributes(&wp.0);
                match out.iter_mut().find(|q| q.public_key == p.public_key) {
                    Some(q) => q.allowed_ips.extend(p.allowed_ips),
                    None => out.push(p),
                }
            }
        }
    }
    out
}

fn peer_from_attributes(attrs: &[WireguardPeerAttribute]) -> Peer {
    let mut p =
        Peer { public_key: [0; 32], endpoint: None, keepalive_s: 0, allowed_ips: Vec::new(), last_handshake: None };
    for a in attrs {
        match a {
            WireguardPeerAttribute::PublicKey(k) => p.public_key = *k,
            WireguardPeerAttribute::Endpoint(e) => p.endpoint = Some(*e),
            WireguardPeerAttribute::PersistentKeepalive(k) => p.keepalive_s = *k,
            WireguardPeerAttribute::LastHandshake(t) if t.seconds > 0 || t.nano_seconds > 0 => {
                let secs = u64::try_from(t.seconds).unwrap_or(0);
                let nanos = u32::try_from(t.nano_seconds.clamp(0, 999_999_999)).unwrap_or(0);
                p.last_handshake = Some(Duration::new(secs, nanos));
            }
            WireguardPeerAttribute::AllowedIps(ips) => {
                for ip in ips {
                    let addr = ip.0.iter().find_map(|x| match x {
                        WireguardAllowedIpAttr::IpAddr(a) => Some(*a),
                        _ => None,
                    });
                    let cidr = ip.0.iter().find_map(|x| match x {
                        WireguardAllowedIpAttr::Cidr(c) => Some(*c),
                        _ => None,
                    });
                    if let (Some(a), Some(c)) = (addr, cidr) {
                        p.allowed_ips.push((a, c));
                    }
                }
            }
            _ => {}
        }
    }
    p
}

pub fn peers(g: &mut Genl, iface: &str) -> Result<Vec<Peer>, WgError> {
    let replies = g.nl.dump(get_request(iface, g.family)).map_err(|e| match e {
        NetlinkError::Kernel(libc::ENODEV | libc::ENOENT) => WgError(format!("{iface} is not a WireGuard interface")),
        e => WgError(format!("cannot read {iface}: {e}")),
    })?;
    Ok(peers_from_replies(&replies))
}

/// Sets the peer (never creating it); a module too old to know WGPEER_F_UPDATE_ONLY
/// refuses unknown flags with EOPNOTSUPP, and is asked again without it.
pub fn set_peer(g: &mut Genl, iface: &str, p: &PeerSet) -> Result<(), WgError> {
    let r = match g.nl.request(set_request(iface, p, g.family, true), 0) {
        Err(NetlinkError::Kernel(libc::EOPNOTSUPP)) => g.nl.request(set_request(iface, p, g.family, false), 0),
        r => r,
    };
    r.map_err(|e| WgError(format!("cannot set the peer's endpoint and keepalive on {iface}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkDeserializable, NetlinkHeader, NetlinkSerializable};
    use netlink_packet_wireguard::WireguardTimeSpec;

    fn bytes<T: NetlinkSerializable>(m: &T) -> Vec<u8> {
        let mut b = vec![0u8; m.buffer_len()];
        m.serialize(&mut b);
        b
    }

    #[test]
    fn golden_family_request() {
        // What `wg show nosuchwg0` (wireguard-tools 1.0.20210914) sends to resolve the
        // family, captured with strace: CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME "wireguard".
        let m = family_request();
        assert_eq!(m.message_type(), libc::GENL_ID_CTRL as u16);
        let b = bytes(&m);
        assert_eq!(b[0], 3, "CTRL_CMD_GETFAMILY");
        assert_eq!(
            &b[4..],
            &[0x0e, 0x00, 0x02, 0x00, 0x77, 0x69, 0x72, 0x65, 0x67, 0x75, 0x61, 0x72, 0x64, 0x00, 0x00, 0x00]
        );
    }

    #[test]
    fn set_request_carries_a_16_byte_sockaddr_in_and_the_keepalive() {
        let p = PeerSet {
            key: [0x11u8; 32],
            endpoint: Some("198.51.100.10:51820".parse().expect("addr")),
            keepalive_s: 25,
        };
        let m = set_request("wg0", &p, 0x1e, false);
        assert_eq!(m.message_type(), 0x1e, "the resolved family id");
        let b = bytes(&m);
        assert_eq!(b[0], 1, "WG_CMD_SET_DEVICE");
        // WGPEER_A_ENDPOINT (4): 4-byte header + struct sockaddr_in (16 bytes), AF_INET,
        // port in network order, address, zero padding. Any other length is ignored by
        // the kernel.
        let endpoint: [u8; 20] =
            [0x14, 0x00, 0x04, 0x00, 0x02, 0x00, 0xca, 0x6c, 0xc6, 0x33, 0x64, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(b.windows(20).any(|w| w == endpoint), "endpoint attribute in {b:02x?}");
        // WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL (5): u16 25, padded to 4.
        assert!(b.windows(8).any(|w| w == [0x06, 0x00, 0x05, 0x00, 0x19, 0x00, 0x00, 0x00]));
        // WGDEVICE_A_IFNAME (2) "wg0".
        assert!(b.windows(8).any(|w| w == [0x08, 0x00, 0x02, 0x00, b'w', b'g', b'0', 0x00]));
        // And it reads back as what was meant.
        let back = GenlMessage::<WireguardMessage>::deserialize(&NetlinkHeader::default(), &b).expect("parses");
        assert_eq!(back.payload, m.payload);
        // Putting a keepalive back names no endpoint: WireGuard keeps the one it has.
        let restore = set_request("wg0", &PeerSet { endpoint: None, keepalive_s: 0, ..p }, 0x1e, true);
        let b = bytes(&restore);
        assert!(!b.windows(4).any(|w| w == [0x14, 0x00, 0x04, 0x00]), "no endpoint attribute in {b:02x?}");
        assert!(b.windows(8).any(|w| w == [0x06, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00]));
        // WGPEER_A_FLAGS (3) = WGPEER_F_UPDATE_ONLY (4).
        assert!(b.windows(8).any(|w| w == [0x08, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00]), "{b:02x?}");
    }

    #[test]
    fn device_dump_becomes_peers_with_never_as_none_and_split_peers_merged() {
        use netlink_packet_wireguard::{WireguardAddressFamily, WireguardAllowedIp};
        let allowed = |ip: &str, cidr| {
            WireguardAllowedIp(vec![
                WireguardAllowedIpAttr::Family(WireguardAddressFamily::Ipv4),
                WireguardAllowedIpAttr::IpAddr(ip.parse().expect("ip")),
                WireguardAllowedIpAttr::Cidr(cidr),
            ])
        };
        let reply = |peers: Vec<WireguardPeer>| {
            GenlMessage::from_payload(WireguardMessage {
                cmd: WireguardCmd::GetDevice,
                attributes: vec![WireguardAttribute::IfName("wg0".into()), WireguardAttribute::Peers(peers)],
            })
        };
        let first = reply(vec![
            WireguardPeer(vec![
                WireguardPeerAttribute::PublicKey([1; 32]),
                WireguardPeerAttribute::Endpoint("198.51.100.10:51820".parse().expect("addr")),
                WireguardPeerAttribute::LastHandshake(WireguardTimeSpec { seconds: 1_700_000_000, nano_seconds: 5 }),
                WireguardPeerAttribute::PersistentKeepalive(25),
                WireguardPeerAttribute::AllowedIps(vec![allowed("0.0.0.0", 0)]),
            ]),
            WireguardPeer(vec![
                WireguardPeerAttribute::PublicKey([2; 32]),
                WireguardPeerAttribute::LastHandshake(WireguardTimeSpec { seconds: 0, nano_seconds: 0 }),
                WireguardPeerAttribute::AllowedIps(vec![allowed("10.50.0.0", 16)]),
            ]),
        ]);
        // The kernel continues a peer with many allowed IPs in the next message.
        let second = reply(vec![WireguardPeer(vec![
            WireguardPeerAttribute::PublicKey([2; 32]),
            WireguardPeerAttribute::AllowedIps(vec![allowed("10.60.0.0", 16)]),
        ])]);
        let peers = peers_from_replies(&[first, second]);
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0].last_handshake, Some(Duration::new(1_700_000_000, 5)));
        assert_eq!(peers[0].keepalive_s, 25);
        assert_eq!(peers[1].last_handshake, None, "time 0 is never");
        assert_eq!(peers[1].allowed_ips.len(), 2);
    }
}
