//! One UDP exchange framed by hand to a gateway, on the packet path of
//! [`Path::Gateway`]: what a name endpoint's DNS query needs at activation, when the
//! routing tables (and EdgeOS's `lb-local` marks) still send everything to the dead
//! primary. The datagram leaves BACKUP_DEV to the gateway's link-layer address from the
//! device's own address; the reply is read off the same link through a filter that lets
//! only the server's answer to our port in.

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
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
    let Path::Gateway { ifindex, lladdr, src } = path else {
        return Err(io::Error::other("a UDP exchange is framed to a gateway only"));
    };
    // Our port, held by a socket for the exchange: the kernel then has a home for the
    // reply, and answers the server with no ICMP port unreachable.
    let holder = UdpSocket::bind((*src, 0))?;
    let our_port = holder.local_addr()?.port();
    let sock = packet_socket(*ifindex, &udp_reply_filter(server, port, *src, our_port), false)?;
    let datagram = udp_datagram(*src, server, random_u16()?, our_port, port, payload);
    let link = Dest::Link(os::sockaddr_ll(*ifindex, ETH_P_IP, lladdr.as_deref()));
    let deadline = Instant::now() + timeout;
    let mut resend_at = Some(Instant::now() + timeout / 2);
    os::send_to(&sock, &datagram, &link)?;
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        if resend_at.is_some_and(|t| now >= t) {
            resend_at = None;
            os::send_to(&sock, &datagram, &link)?;
        }
        let until = resend_at.unwrap_or(deadline).min(deadline);
        let wait_ms = until.saturating_duration_since(now).as_millis().clamp(1, i32::MAX as u128) as i32;
        match os::poll(&mut [os::pollin(sock.as_raw_fd())], wait_ms) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        // At most a few packets per pass: the filter lets little else in.
        for _ in 0..16 {
            let Some(len) = os::recv_noting_drops(&sock, &mut buf, |_| {}) else { break };
            if let Some(reply) = udp_payload(&buf[..len]).filter(|p| answers(p)) {
                return Ok(Some(reply.to_vec()));
            }
        }
    }
}
