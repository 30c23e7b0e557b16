//! One UDP exchange framed by hand to a gateway, on the packet path of
//! [`Path::Gateway`]: what a name endpoint's DNS query needs at activation, when the
//! routing tables (and EdgeOS's `lb-local` marks) still send everything to the dead
//! primary. The datagram leaves BACKUP_DEV to the gateway's link-layer address from the
//! device's own address; the reply is read off the same link through a filter that lets
//! only the server's answer to our port in.

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::sock::packet_socket;
use super::{random_u16, udp_datagram, udp_payload, udp_reply_filter, Path, ETH_P_IP};
use crate::os::{self, Dest};

/// Sends `payload` to `server`:`port` along `path` (a [`Path::Gateway`]) and waits up to
/// `timeout` for a reply that `answers` accepts (sent again halfway). `Ok(None)`: none came.
pub fn exchange(
    path: &Path,
    server: Ipv4Addr,
    port: u16,
    payload: &[u8],
    timeout: Duration,
    answers: &dyn Fn(&[u8]) -> bool,
) -> io::Result<Option<Vec<u8>>> {
    let mut ex = Exchange::start(path, server, port, payload, timeout)?;
    loop {
        if let Some(reply) = ex.poll(answers)? {
            return Ok(reply);
        }
        match os::poll(&mut [os::pollin(ex.fd())], ex.wait_ms()) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One exchange in flight, read without blocking: [`exchange`] waits on its socket, the
/// daemon polls it beside its other descriptors (a name looked up through the backup
/// while the failsafe is on), so that a server that does not answer never holds its loop.
pub struct Exchange {
    /// Our port, held for the exchange: the kernel then has a home for the reply, and
    /// answers the server with no ICMP port unreachable.
    _holder: UdpSocket,
    sock: OwnedFd,
    datagram: Vec<u8>,
    link: Dest,
    deadline: Instant,
    /// Halfway to the deadline, the datagram is sent again once.
    resend_at: Option<Instant>,
}

impl Exchange {
    /// Sends `payload` to `server`:`port` along `path` (a [`Path::Gateway`]), framed to
    /// the gateway; the reply is awaited until `timeout`.
    pub fn start(path: &Path, server: Ipv4Addr, port: u16, payload: &[u8], timeout: Duration) -> io::Result<Exchange> {
        let Path::Gateway { ifindex, lladdr, src } = path else {
            return Err(io::Error::other("a UDP exchange is framed to a gateway only"));
        };
        let holder = UdpSocket::bind((*src, 0))?;
        let our_port = holder.local_addr()?.port();
        let sock = packet_socket(*ifindex, &udp_reply_filter(server, port, *src, our_port), false)?;
        let datagram = udp_datagram(*src, server, random_u16()?, our_port, port, payload);
        let link = Dest::Link(os::sockaddr_ll(*ifindex, ETH_P_IP, lladdr.as_deref()));
        os::send_to(&sock, &datagram, &link)?;
        let now = Instant::now();
        let resend_at = Some(now + timeout / 2);
        Ok(Exchange { _holder: holder, sock, datagram, link, deadline: now + timeout, resend_at })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Milliseconds (at least 1) until [`Exchange::poll`] has more to do than read a reply.
    pub fn wait_ms(&self) -> i32 {
        let until = self.resend_at.unwrap_or(self.deadline).min(self.deadline);
        until.saturating_duration_since(Instant::now()).as_millis().clamp(1, i32::MAX as u128) as i32
    }

    /// Reads what has come, never waiting: `Some(Some(reply))` the first payload `answers`
    /// accepts, `Some(None)` none by the deadline, `None` still waiting. Sends the datagram
    /// again when due.
    pub fn poll(&mut self, answers: &dyn Fn(&[u8]) -> bool) -> io::Result<Option<Option<Vec<u8>>>> {
        let mut buf = [0u8; 1500];
        // At most a few packets per pass: the filter lets little else in.
        for _ in 0..16 {
            let Some(len) = os::recv_noting_drops(&self.sock, &mut buf, |_| {}) else { break };
            if let Some(reply) = udp_payload(&buf[..len]).filter(|p| answers(p)) {
                return Ok(Some(Some(reply.to_vec())));
            }
        }
        let now = Instant::now();
        if now >= self.deadline {
            return Ok(Some(None));
        }
        if self.resend_at.is_some_and(|t| now >= t) {
            self.resend_at = None;
            os::send_to(&self.sock, &self.datagram, &self.link)?;
        }
        Ok(None)
    }
}
