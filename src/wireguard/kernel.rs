//! In-kernel WireGuard over generic netlink: resolve the `wireguard` family, dump the
//! device (`WG_CMD_GET_DEVICE`), and set one peer's endpoint and keepalive
//! (`WG_CMD_SET_DEVICE`). The endpoint goes out as a 16-byte `sockaddr_in` (28 for
//! IPv6); the kernel silently ignores any other length.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_packet_wireguard::{
    WireguardAllowedIpAttr, WireguardAttribute, WireguardCmd, WireguardMessage, WireguardPeer, WireguardPeerAttribute,
};

use super::{Key, Peer, WgError};
use crate::netlink::{Netlink, NetlinkError};

fn open() -> Result<(Netlink, u16), WgError> {
    let mut nl =
        Netlink::open(netlink_sys::protocols::NETLINK_GENERIC).map_err(|e| WgError(format!("generic netlink: {e}")))?;
    let family = family_id(&mut nl)?;
    Ok((nl, family))
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

/// The WG_CMD_SET_DEVICE request that sets one peer's endpoint and keepalive.
pub fn set_request(
    iface: &str,
    key: &Key,
    endpoint: SocketAddr,
    keepalive_s: u16,
    family: u16,
) -> GenlMessage<WireguardMessage> {
    let peer = WireguardPeer(vec![
        WireguardPeerAttribute::PublicKey(*key),
        WireguardPeerAttribute::Endpoint(endpoint),
        WireguardPeerAttribute::PersistentKeepalive(keepalive_s),
    ]);
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
                let since_epoch = Duration::new(t.seconds.max(0) as u64, t.nano_seconds.clamp(0, 999_999_999) as u32);
                p.last_handshake = Some(SystemTime::UNIX_EPOCH + since_epoch);
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

pub fn peers(iface: &str) -> Result<Vec<Peer>, WgError> {
    let (mut nl, family) = open()?;
    let replies = nl.dump(get_request(iface, family)).map_err(|e| match e {
        NetlinkError::Kernel(libc::ENODEV | libc::ENOENT) => WgError(format!("{iface} is not a WireGuard interface")),
        e => WgError(format!("cannot read {iface}: {e}")),
    })?;
    Ok(peers_from_replies(&replies))
}

pub fn set_endpoint(iface: &str, key: &Key, endpoint: SocketAddr, keepalive_s: u16) -> Result<(), WgError> {
    let (mut nl, family) = open()?;
    nl.request(set_request(iface, key, endpoint, keepalive_s, family), 0)
        .map_err(|e| WgError(format!("cannot set the endpoint of the peer on {iface}: {e}")))
}
