//! ICMP echo on a raw socket bound to one interface (SO_BINDTODEVICE), so "the primary
//! gateway answers" means it answers through PRIMARY_DEV, whatever the routing tables say.
//!
//! A reply counts only if it comes from the target, carries this probe's random
//! identifier and the sequence number of the request it answers, and its checksum is
//! right. Deadlines come from the monotonic clock and the time left is recomputed on
//! every pass of the wait loop.

use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
/// Payload after the 8-byte ICMP header: enough to look like ping, small enough for any MTU.
const PAYLOAD: &[u8; 24] = b"wg-failsafe probe \x00\x01\x02\x03\x04\x05";

/// The RFC 1071 Internet checksum.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request with this identifier and sequence number.
pub fn echo_request(ident: u16, seq: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + PAYLOAD.len());
    p.extend_from_slice(&[ICMP_ECHO_REQUEST, 0, 0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// Whether `packet` (an IPv4 datagram as a raw socket delivers it) is the reply from
/// `target` to our request `ident`/`seq`.
pub fn is_reply(packet: &[u8], target: Ipv4Addr, ident: u16, seq: u16) -> bool {
    let Some(&first) = packet.first() else { return false };
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 || packet.len() < header_len + 8 {
        return false;
    }
    let source = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let icmp = &packet[header_len..];
    source == target
        && icmp[0] == ICMP_ECHO_REPLY
        && icmp[1] == 0
        && u16::from_be_bytes([icmp[4], icmp[5]]) == ident
        && u16::from_be_bytes([icmp[6], icmp[7]]) == seq
        && checksum(icmp) == 0
}

/// A random 16-bit value from the kernel (the identifier must not be guessable by a host
/// that wants to fake a healthy gateway).
pub fn random_u16() -> u16 {
    let mut b = [0u8; 2];
    // SAFETY: getrandom writes at most b.len() bytes into b.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n == 2 {
        u16::from_ne_bytes(b)
    } else {
        (std::process::id() as u16) ^ (Instant::now().elapsed().subsec_nanos() as u16)
    }
}

/// Sends up to `count` echo requests to `target` out of `dev`, one at a time, each
/// waiting up to `timeout` for its reply. `Ok(true)` on the first reply.
///
/// A send that fails because the link or route is down counts as a lost request.
pub fn echo(dev: &str, target: Ipv4Addr, count: u32, timeout: Duration) -> io::Result<bool> {
    let sock = raw_icmp_socket(dev)?;
    let ident = random_u16();
    let dest = sockaddr(target);
    let mut buf = [0u8; 1500];
    for n in 0..count {
        let seq = n as u16 + 1;
        let request = echo_request(ident, seq);
        // SAFETY: sendto with a buffer and address that outlive the call.
        let sent = unsafe {
            libc::sendto(
                sock.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
                (&dest as *const libc::sockaddr_in).cast(),
                mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        let deadline = Instant::now() + timeout;
        if sent < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENETDOWN | libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ENOBUFS | libc::EPERM) => {
                    // The request never left: wait out its interval like a lost one, so
                    // a flapping link gets the same number of chances as a silent one.
                    std::thread::sleep(
                        deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(200)),
                    );
                    continue;
                }
                _ => return Err(e),
            }
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut pfd = libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let wait_ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: poll on one pollfd owned here.
            let ready = unsafe { libc::poll(&mut pfd, 1, wait_ms) };
            if ready < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if ready == 0 {
                break;
            }
            // SAFETY: recv into a buffer owned here, never past its length.
            let len = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if len > 0 && is_reply(&buf[..len as usize], target, ident, seq) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut a: libc::sockaddr_in = unsafe { mem::zeroed() };
    a.sin_family = libc::AF_INET as libc::sa_family_t;
    a.sin_addr.s_addr = u32::from(ip).to_be();
    a
}

fn raw_icmp_socket(dev: &str) -> io::Result<OwnedFd> {
    // SAFETY: socket() returns a new descriptor or -1.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMP) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: setsockopt with a buffer of the given length.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            dev.as_ptr().cast(),
            dev.len() as libc::socklen_t,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("cannot bind an ICMP socket to {dev}: {e}")));
    }
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 1071, section 3.
    #[test]
    fn checksum_matches_rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
        // Odd length pads with a zero byte.
        assert_eq!(checksum(&[0xab]), !0xab00);
    }

    #[test]
    fn request_is_well_formed() {
        let p = echo_request(0x1234, 7);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        assert_eq!(p.len(), 32);
    }

    fn reply_packet(from: Ipv4Addr, ident: u16, seq: u16) -> Vec<u8> {
        let mut icmp = echo_request(ident, seq);
        icmp[0] = ICMP_ECHO_REPLY;
        icmp[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        ip.extend_from_slice(&from.octets());
        ip.extend_from_slice(&[192, 168, 1, 2]);
        ip.extend_from_slice(&icmp);
        ip
    }

    #[test]
    fn reply_matching() {
        let gw = Ipv4Addr::new(192, 168, 1, 1);
        let good = reply_packet(gw, 0xbeef, 2);
        assert!(is_reply(&good, gw, 0xbeef, 2));
        assert!(!is_reply(&good, Ipv4Addr::new(192, 168, 1, 9), 0xbeef, 2), "other source");
        assert!(!is_reply(&good, gw, 0xbeee, 2), "other identifier");
        assert!(!is_reply(&good, gw, 0xbeef, 1), "other sequence");
        let mut corrupt = good.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert!(!is_reply(&corrupt, gw, 0xbeef, 2), "bad checksum");
        let mut request = good.clone();
        request[20] = ICMP_ECHO_REQUEST;
        assert!(!is_reply(&request, gw, 0xbeef, 2), "our own request looped back");
        assert!(!is_reply(&good[..25], gw, 0xbeef, 2), "truncated");
        assert!(!is_reply(&[], gw, 0xbeef, 2));
    }
}
