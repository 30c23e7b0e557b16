//! The kernel's announcements: a non-blocking rtnetlink socket subscribed to the
//! multicast groups of link, address, route and rule changes, for the daemon's poll loop.
//!
//! Announcements come from the kernel (port 0) with sequence number 0. When the reader
//! falls behind, the kernel drops announcements and the next read fails with ENOBUFS:
//! [`EventError::Overrun`] tells the caller that what it knows is stale and everything
//! must be dumped again.

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;

use netlink_packet_core::{NetlinkDeserializable, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN};
use netlink_sys::Socket;

use super::{control_body, frames, NetlinkError, Rtnl};

/// rtnetlink multicast groups (RTNLGRP_*), for NETLINK_ADD_MEMBERSHIP.
pub const RTNLGRP_LINK: u32 = 1;
pub const RTNLGRP_IPV4_IFADDR: u32 = 5;
pub const RTNLGRP_IPV4_ROUTE: u32 = 7;
pub const RTNLGRP_IPV4_RULE: u32 = 8;
// The IPv6 groups.
pub const RTNLGRP_IPV6_IFADDR: u32 = 9;
pub const RTNLGRP_IPV6_ROUTE: u32 = 11;
pub const RTNLGRP_IPV6_RULE: u32 = 19;

/// The groups the daemon follows, IPv4 and IPv6.
pub const IPV4_GROUPS: [u32; 4] = [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_RULE];
/// IPv6's routes and rules; not its addresses: a router advertisement refreshes their
/// lifetimes every few seconds, and nothing the daemon decides reads them.
pub const IPV6_GROUPS: [u32; 2] = [RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV6_RULE];

/// Receive buffer asked of the kernel: a burst of a few thousand route changes (a
/// load balancer rewriting its tables, a BGP session flapping) fits; past that the
/// kernel says ENOBUFS and the daemon dumps again.
const RCVBUF_BYTES: usize = 256 * 1024;
const RECV_BUF_LEN: usize = 32 * 1024;

#[derive(Debug)]
pub enum EventError {
    /// The kernel dropped announcements (ENOBUFS): dump everything again.
    Overrun,
    Io(io::Error),
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::Overrun => f.write_str("the kernel dropped announcements (ENOBUFS)"),
            EventError::Io(e) => write!(f, "netlink announcements: {e}"),
        }
    }
}

/// One announcement: the message type (RTM_NEW*/RTM_DEL*), its flags (NLM_F_REPLACE,
/// NLM_F_APPEND for routes) and what it says.
pub struct Event {
    pub flags: u16,
    pub msg: Rtnl,
}

/// A subscribed socket. Owns the descriptor, so not `Clone`.
pub struct Events {
    socket: Socket,
    buf: Vec<u8>,
}

impl Events {
    pub fn subscribe(groups: &[u32]) -> Result<Events, NetlinkError> {
        let mut socket = Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
        socket.bind_auto()?;
        for g in groups {
            socket.add_membership(*g)?;
        }
        // A smaller buffer than asked is not an error: the kernel caps it at rmem_max.
        let _ = socket.set_rx_buf_sz(RCVBUF_BYTES);
        socket.set_non_blocking(true)?;
        Ok(Events { socket, buf: Vec::with_capacity(RECV_BUF_LEN) })
    }

    pub fn fd(&self) -> libc::c_int {
        self.socket.as_raw_fd()
    }

    /// Feeds every announcement waiting on the socket to `each`, then returns.
    pub fn read(&mut self, mut each: impl FnMut(Event)) -> Result<(), EventError> {
        loop {
            self.buf.clear();
            let (len, from) = match self.socket.recv_from(&mut self.buf, libc::MSG_TRUNC) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Err(EventError::Overrun),
                Err(e) => return Err(EventError::Io(e)),
            };
            // A datagram larger than the buffer was cut short: what it said is lost.
            if len > self.buf.len() {
                return Err(EventError::Overrun);
            }
            if from.port_number() != 0 {
                continue;
            }
            // A message that cannot be read ends its datagram: what follows is not framed.
            let _ = announcements(&self.buf[..len], &mut each);
        }
    }
}

/// The announcements of one datagram, fed to `each` in order.
pub fn announcements(datagram: &[u8], mut each: impl FnMut(Event)) -> Result<(), String> {
    frames(datagram, &mut |header, body| {
        let kind = header.message_type;
        if matches!(kind, NLMSG_NOOP | NLMSG_ERROR | NLMSG_DONE | NLMSG_OVERRUN) {
            control_body(kind, body)?;
        } else {
            let msg = Rtnl::deserialize(header, body)
                .map_err(|e| format!("Failed to parse message with type {kind}: {e}"))?;
            each(Event { flags: header.flags, msg });
        }
        Ok(false)
    })
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Events(fd {})", self.fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control message too short for its code (an NLMSG_ERROR under 4 bytes, an
    /// NLMSG_DONE of 1 to 3) breaks the datagram's framing, as the crate's reader said:
    /// the announcements after it are not trusted.
    #[test]
    fn a_control_message_too_short_for_its_code_breaks_the_datagram() {
        use crate::netlink::codec::RouteMessage;
        use crate::netlink::Body;
        use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
        let rtnl = Rtnl::new(libc::RTM_NEWROUTE, Body::Route(RouteMessage::default()));
        let mut m = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(rtnl));
        m.finalize();
        let mut route = vec![0u8; m.buffer_len()];
        m.serialize(&mut route);
        for (kind, body) in [(2u16, 0usize), (2, 3), (3, 1), (3, 3)] {
            let mut control = vec![0u8; (16 + body + 3) & !3];
            control[0..4].copy_from_slice(&(16 + body as u32).to_ne_bytes());
            control[4..6].copy_from_slice(&kind.to_ne_bytes());
            let datagram = [control, route.clone()].concat();
            let mut seen = 0;
            let read = announcements(&datagram, |_| seen += 1);
            assert!(read.is_err(), "type {kind} with {body} bytes: {read:?}");
            assert_eq!(seen, 0);
        }
        // A DONE with no body is the kernel's short form; one with its code is whole.
        for body in [0usize, 4] {
            let mut done = vec![0u8; 16 + body];
            done[0..4].copy_from_slice(&(16 + body as u32).to_ne_bytes());
            done[4..6].copy_from_slice(&3u16.to_ne_bytes());
            let mut seen = 0;
            assert_eq!(announcements(&[done, route.clone()].concat(), |_| seen += 1), Ok(()));
            assert_eq!(seen, 1);
        }
    }

    #[test]
    fn groups_are_the_kernels_numbers() {
        // include/uapi/linux/rtnetlink.h: enum rtnetlink_groups.
        assert_eq!(IPV4_GROUPS, [1, 5, 7, 8]);
        assert_eq!((RTNLGRP_IPV6_IFADDR, IPV6_GROUPS), (9, [11, 19]));
    }

    #[test]
    fn control_messages_are_no_announcements_and_a_cut_one_ends_the_datagram() {
        use crate::netlink::codec::RouteMessage;
        use crate::netlink::{encode, Body};
        let done = encode(&Rtnl::new(NLMSG_DONE, Body::Other), 0);
        let route = encode(&Rtnl::new(libc::RTM_NEWROUTE, Body::Route(RouteMessage::default())), 0);
        let datagram = [done.clone(), route].concat();
        let mut seen = Vec::new();
        assert_eq!(announcements(&datagram, |ev| seen.push(ev.msg.kind)), Ok(()));
        assert_eq!(seen, [libc::RTM_NEWROUTE]);
        let cut = announcements(&datagram[..datagram.len() - 1], |_| panic!("a cut message is not read"));
        assert!(cut.expect_err("cut").contains(&format!("message at byte {}", done.len())));
    }

    #[test]
    fn a_subscription_reads_nothing_when_nothing_happened() {
        // Joining rtnetlink groups needs no privilege; an idle read returns at once.
        let mut ev = Events::subscribe(&IPV4_GROUPS).expect("subscribe");
        let mut n = 0;
        ev.read(|_| n += 1).expect("read");
        assert!(n < 1000);
    }
}
