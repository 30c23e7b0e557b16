//! ICMP echo probes, hand-written, on one of two paths:
//!
//! - [`Path::Device`]: a raw ICMP socket bound to one interface (SO_BINDTODEVICE), so "the
//!   primary gateway answers" means it answers through PRIMARY_DEV, whatever the routing
//!   tables say (the gateway is on the link), and likewise for the tunnel peer.
//! - [`Path::Gateway`]: a packet socket (AF_PACKET) on the interface, each echo framed to
//!   the gateway's link-layer address (none on a point-to-point link), from the interface's
//!   own address. That reaches an upstream target through the primary's gateway with no
//!   route at all — also while the failsafe has moved every default via the primary aside
//!   — and bypasses netfilter, whose OUTPUT marks (EdgeOS's `lb-local`) would otherwise
//!   re-route the probe. A BPF filter lets only ICMP echo replies reach the socket.
//!
//! Several targets share one socket and are probed together; a probe ends as soon as
//! enough have answered. A reply counts only if it comes from the target, carries this
//! probe's random identifier and the sequence number of a request sent to it, and its
//! checksum is right. Deadlines come from the monotonic clock and the time left is
//! recomputed on every pass of the wait loop.

use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const ETH_P_IP: u16 = 0x0800;
/// Payload after the 8-byte ICMP header: enough to look like ping, small enough for any MTU.
const PAYLOAD: &[u8; 24] = b"wg-failsafe probe \x00\x01\x02\x03\x04\x05";

/// How the echoes leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Path {
    /// Routed by the kernel, restricted to this device.
    Device(String),
    /// Framed by hand to the gateway on link `ifindex`, from `src`.
    Gateway { ifindex: u32, lladdr: Option<Vec<u8>>, src: Ipv4Addr },
}

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

/// An IPv4 datagram (20-byte header, TTL 64, protocol ICMP) around `icmp`.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, id: u16, icmp: &[u8]) -> Vec<u8> {
    let total = (20 + icmp.len()) as u16;
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0, 0, 64, 1, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(icmp);
    p
}

/// The source and sequence number of `packet` (an IPv4 datagram as a raw or packet
/// socket delivers it) if it is an intact echo reply carrying identifier `ident`.
pub fn reply_of(packet: &[u8], ident: u16) -> Option<(Ipv4Addr, u16)> {
    let first = *packet.first()?;
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 || packet.len() < header_len + 8 || packet[9] != 1 {
        return None;
    }
    let source = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    // Only the ICMP message the IP header says is there (a frame may carry padding).
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]])).clamp(header_len + 8, packet.len());
    let icmp = &packet[header_len..total];
    let ok = icmp[0] == ICMP_ECHO_REPLY
        && icmp[1] == 0
        && u16::from_be_bytes([icmp[4], icmp[5]]) == ident
        && checksum(icmp) == 0;
    ok.then(|| (source, u16::from_be_bytes([icmp[6], icmp[7]])))
}

/// Whether `packet` is the reply from `target` to our request `ident`/`seq`.
#[cfg(test)]
pub fn is_reply(packet: &[u8], target: Ipv4Addr, ident: u16, seq: u16) -> bool {
    reply_of(packet, ident) == Some((target, seq))
}

/// A random 16-bit value from the kernel (the identifier must not be guessable by a host
/// that wants to fake a healthy gateway).
pub fn random_u16() -> u16 {
    let mut b = [0u8; 2];
    // The system call, not libc's getrandom(): std declares that symbol weak (musl before
    // 1.1.20 lacks it), and a static link that merges our call into its weak reference
    // resolves it to address 0 — the x86_64 musl build crashed here.
    // SAFETY: getrandom writes at most b.len() bytes into b.
    let n = unsafe { libc::syscall(libc::SYS_getrandom, b.as_mut_ptr(), b.len(), 0) };
    if n == 2 {
        u16::from_ne_bytes(b)
    } else {
        (std::process::id() as u16) ^ (Instant::now().elapsed().subsec_nanos() as u16)
    }
}

/// An open probe: a socket on one path and this probe's random identifier. Sends and
/// receives never block; [`Prober::wait`] waits. Owns the descriptor, so not `Clone`.
pub struct Prober {
    sock: OwnedFd,
    path: Path,
    ident: u16,
}

impl Prober {
    pub fn open(path: Path) -> io::Result<Prober> {
        let sock = match &path {
            Path::Device(dev) => raw_icmp_socket(dev)?,
            Path::Gateway { ifindex, .. } => packet_socket(*ifindex)?,
        };
        Ok(Prober { sock, path, ident: random_u16() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends echo request `seq` to `target`; `Ok(false)` when the network says it cannot
    /// leave (link or route down), which counts as a lost request.
    pub fn send(&self, target: Ipv4Addr, seq: u16) -> io::Result<bool> {
        send(&self.sock, &self.path, target, &echo_request(self.ident, seq), self.ident ^ seq)
    }

    /// The next echo reply of this probe waiting on the socket, as (source, sequence);
    /// `None` once nothing more is waiting. Anything else is read and dropped.
    pub fn recv(&self) -> Option<(Ipv4Addr, u16)> {
        let mut buf = [0u8; 1500];
        loop {
            // SAFETY: recv into a buffer owned here, never past its length.
            let len =
                unsafe { libc::recv(self.sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            let len = usize::try_from(len).ok()?;
            if let Some(reply) = reply_of(&buf[..len], self.ident) {
                return Some(reply);
            }
        }
    }

    /// Waits up to `timeout` for a reply to read; `Ok(false)` when none came.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd { fd: self.sock.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let wait_ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: poll on one pollfd owned here.
        let ready = unsafe { libc::poll(&mut pfd, 1, wait_ms) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted { Ok(true) } else { Err(e) };
        }
        Ok(ready > 0)
    }
}

/// Sends up to `count` rounds of echo requests to each of `targets` still silent, each
/// round waiting up to `timeout`, and stops once `need` of them have answered (a late
/// reply to an earlier round counts). Returns each target's round-trip time, `None` for
/// those that never answered.
pub fn echo(
    path: &Path,
    targets: &[Ipv4Addr],
    count: u32,
    timeout: Duration,
    need: usize,
) -> io::Result<Vec<Option<Duration>>> {
    let probe = Prober::open(path.clone())?;
    let mut rtt: Vec<Option<Duration>> = vec![None; targets.len()];
    let mut sent_at: Vec<Vec<Instant>> = vec![Vec::new(); targets.len()];
    let enough = |rtt: &[Option<Duration>]| rtt.iter().filter(|r| r.is_some()).count() >= need.min(targets.len());
    for n in 0..count {
        let seq = n as u16 + 1;
        let deadline = Instant::now() + timeout;
        let mut any_left = false;
        for (i, target) in targets.iter().enumerate().filter(|(i, _)| rtt[*i].is_none()) {
            sent_at[i].push(Instant::now());
            any_left |= probe.send(*target, seq)?;
        }
        if !any_left {
            // Nothing could be sent: wait a little, so a flapping link gets the same
            // number of chances as a silent one.
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(200)));
            continue;
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !probe.wait(left)? {
                break;
            }
            while let Some((source, got_seq)) = probe.recv() {
                let Some(i) = targets.iter().position(|t| *t == source) else { continue };
                if let (None, Some(sent)) = (rtt[i], sent_at[i].get(usize::from(got_seq).wrapping_sub(1))) {
                    rtt[i] = Some(sent.elapsed());
                    if enough(&rtt) {
                        return Ok(rtt);
                    }
                }
            }
        }
    }
    Ok(rtt)
}

/// What `count` echoes to one target came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub sent: u32,
    pub received: u32,
    /// Sum of the round-trip times of the replies.
    pub rtt_total: Duration,
}

impl Stats {
    pub fn loss_pct(&self) -> u32 {
        match (self.received.min(self.sent) * 100).checked_div(self.sent) {
            Some(answered_pct) => 100 - answered_pct,
            None => 100,
        }
    }

    /// Mean round-trip time in milliseconds (three decimals), `None` with no reply.
    pub fn rtt_ms(&self) -> Option<f64> {
        (self.received > 0).then(|| (self.rtt_total.as_micros() as f64 / f64::from(self.received)).round() / 1000.0)
    }
}

/// Sends `count` rounds of one echo to every target, each round waiting up to `timeout`
/// (less once every target has answered it), and counts what came back: round-trip time
/// and loss, for `status`. Unlike [`echo`] it does not stop at the first answer.
pub fn measure(path: &Path, targets: &[Ipv4Addr], count: u32, timeout: Duration) -> io::Result<Vec<Stats>> {
    let probe = Prober::open(path.clone())?;
    let mut stats = vec![Stats::default(); targets.len()];
    for n in 0..count {
        let seq = n as u16 + 1;
        let sent_at = Instant::now();
        let deadline = sent_at + timeout;
        let mut waiting = 0;
        for (i, t) in targets.iter().enumerate() {
            stats[i].sent += 1;
            if probe.send(*t, seq)? {
                waiting += 1;
            }
        }
        let mut answered = vec![false; targets.len()];
        while waiting > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !probe.wait(left)? {
                break;
            }
            while let Some((source, got)) = probe.recv() {
                let Some(i) = targets.iter().position(|t| *t == source) else { continue };
                if got == seq && !answered[i] {
                    answered[i] = true;
                    stats[i].received += 1;
                    stats[i].rtt_total += sent_at.elapsed();
                    waiting -= 1;
                }
            }
        }
        if waiting > 0 {
            // A lost echo waits out its timeout, as ping does, before the next round.
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        }
    }
    Ok(stats)
}

/// Sends one request; `Ok(false)` when the network says it cannot leave.
fn send(sock: &OwnedFd, path: &Path, target: Ipv4Addr, request: &[u8], ip_id: u16) -> io::Result<bool> {
    let sent = match path {
        Path::Device(_) => {
            let dest = sockaddr_in(target);
            // SAFETY: sendto with a buffer and address that outlive the call.
            unsafe {
                libc::sendto(
                    sock.as_raw_fd(),
                    request.as_ptr().cast(),
                    request.len(),
                    0,
                    (&dest as *const libc::sockaddr_in).cast(),
                    mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        Path::Gateway { ifindex, lladdr, src } => {
            let packet = ipv4_packet(*src, target, ip_id, request);
            let dest = sockaddr_ll(*ifindex, lladdr.as_deref());
            // SAFETY: sendto with a buffer and address that outlive the call.
            unsafe {
                libc::sendto(
                    sock.as_raw_fd(),
                    packet.as_ptr().cast(),
                    packet.len(),
                    0,
                    (&dest as *const libc::sockaddr_ll).cast(),
                    mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            }
        }
    };
    if sent >= 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(
            libc::ENETDOWN
            | libc::ENETUNREACH
            | libc::EHOSTUNREACH
            | libc::ENOBUFS
            | libc::EPERM
            | libc::ENXIO
            | libc::EAGAIN,
        ) => Ok(false),
        _ => Err(e),
    }
}

fn sockaddr_in(ip: Ipv4Addr) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut a: libc::sockaddr_in = unsafe { mem::zeroed() };
    a.sin_family = libc::AF_INET as libc::sa_family_t;
    a.sin_addr.s_addr = u32::from(ip).to_be();
    a
}

fn sockaddr_ll(ifindex: u32, lladdr: Option<&[u8]>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut a: libc::sockaddr_ll = unsafe { mem::zeroed() };
    a.sll_family = libc::AF_PACKET as u16;
    a.sll_protocol = ETH_P_IP.to_be();
    a.sll_ifindex = ifindex as i32;
    if let Some(mac) = lladdr {
        let n = mac.len().min(a.sll_addr.len());
        a.sll_addr[..n].copy_from_slice(&mac[..n]);
        a.sll_halen = n as u8;
    }
    a
}

fn new_socket(domain: libc::c_int, kind: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket() returns a new descriptor or -1.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn raw_icmp_socket(dev: &str) -> io::Result<OwnedFd> {
    let sock = new_socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP)?;
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

/// The classic BPF program of the packet socket: accept an IPv4 datagram only if it is
/// ICMP of type echo reply. `SOCK_DGRAM` delivers from the network header on.
pub const ECHO_REPLY_FILTER: [(u16, u8, u8, u32); 7] = [
    (0x30, 0, 0, 9),      // ldb [9]            ; protocol
    (0x15, 0, 4, 1),      // jeq #1 (ICMP)      ; else drop
    (0xb1, 0, 0, 0),      // ldxb 4*([0]&0xf)   ; x = header length
    (0x50, 0, 0, 0),      // ldb [x+0]          ; ICMP type
    (0x15, 0, 1, 0),      // jeq #0 (echo reply); else drop
    (0x06, 0, 0, 0xffff), // ret #65535         ; accept
    (0x06, 0, 0, 0),      // ret #0             ; drop
];

/// A packet socket on link `ifindex` that sees only ICMP echo replies. It is created
/// with protocol 0 (it receives nothing) and bound to IPv4 only once the filter is in
/// place, so no other packet of a busy WAN is ever queued to it.
fn packet_socket(ifindex: u32) -> io::Result<OwnedFd> {
    let sock = new_socket(libc::AF_PACKET, libc::SOCK_DGRAM, 0)?;
    let mut program: Vec<libc::sock_filter> =
        ECHO_REPLY_FILTER.iter().map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k }).collect();
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
    // SAFETY: setsockopt with a sock_fprog pointing at `program`, which outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let addr = sockaddr_ll(ifindex, None);
    // SAFETY: bind with a sockaddr_ll that outlives the call.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("cannot bind a packet socket to link {ifindex}: {e}")));
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

    #[test]
    fn the_ip_header_is_what_ping_would_send() {
        let icmp = echo_request(1, 1);
        let p = ipv4_packet(Ipv4Addr::new(192, 168, 1, 2), Ipv4Addr::new(203, 0, 113, 80), 0xabcd, &icmp);
        assert_eq!(p.len(), 52);
        assert_eq!(&p[..12], &[0x45, 0, 0, 52, 0xab, 0xcd, 0, 0, 64, 1, p[10], p[11]]);
        assert_eq!(checksum(&p[..20]), 0, "header checksum");
        assert_eq!(&p[12..20], &[192, 168, 1, 2, 203, 0, 113, 80]);
        assert_eq!(&p[20..], &icmp[..]);
    }

    fn reply_packet(from: Ipv4Addr, ident: u16, seq: u16) -> Vec<u8> {
        let mut icmp = echo_request(ident, seq);
        icmp[0] = ICMP_ECHO_REPLY;
        icmp[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        ipv4_packet(from, Ipv4Addr::new(192, 168, 1, 2), 9, &icmp)
    }

    #[test]
    fn reply_matching() {
        let gw = Ipv4Addr::new(192, 168, 1, 1);
        let good = reply_packet(gw, 0xbeef, 2);
        assert!(is_reply(&good, gw, 0xbeef, 2));
        assert_eq!(reply_of(&good, 0xbeef), Some((gw, 2)));
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
        let mut udp = good.clone();
        udp[9] = 17;
        assert!(!is_reply(&udp, gw, 0xbeef, 2), "not ICMP");
        assert!(!is_reply(&good[..25], gw, 0xbeef, 2), "truncated");
        assert!(!is_reply(&[], gw, 0xbeef, 2));
        // Ethernet pads short frames: bytes past the IP total length are ignored.
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 6]);
        assert!(is_reply(&padded, gw, 0xbeef, 2));
    }

    #[test]
    fn the_filter_accepts_echo_replies_only() {
        // Run the classic BPF program on a few packets (a tiny interpreter of the five
        // opcodes it uses), as the kernel would; a load past the end drops the packet.
        fn run(p: &[u8]) -> u32 {
            let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
            loop {
                let (code, jt, jf, k) = ECHO_REPLY_FILTER[pc];
                let at = |i: u32| p.get(i as usize).copied().map(u32::from);
                match code {
                    0x30 => {
                        a = match at(k) {
                            Some(v) => v,
                            None => return 0,
                        }
                    }
                    0xb1 => x = 4 * (at(k).unwrap_or(0) & 0xf),
                    0x50 => {
                        a = match at(x + k) {
                            Some(v) => v,
                            None => return 0,
                        }
                    }
                    0x15 => pc += usize::from(if a == k { jt } else { jf }),
                    0x06 => return k,
                    _ => panic!("opcode {code:#x}"),
                }
                pc += 1;
            }
        }
        let gw = Ipv4Addr::new(192, 168, 1, 1);
        assert_eq!(run(&reply_packet(gw, 1, 1)), 0xffff);
        let request = ipv4_packet(gw, gw, 1, &echo_request(1, 1));
        assert_eq!(run(&request), 0);
        let mut tcp = reply_packet(gw, 1, 1);
        tcp[9] = 6;
        assert_eq!(run(&tcp), 0);
    }

    #[test]
    fn loss_and_round_trip_times() {
        let s = Stats { sent: 3, received: 2, rtt_total: Duration::from_micros(2_500) };
        assert_eq!((s.loss_pct(), s.rtt_ms()), (34, Some(1.25)));
        assert_eq!(Stats::default().loss_pct(), 100, "nothing sent is nothing known: all lost");
        assert_eq!(Stats { sent: 3, received: 0, ..Stats::default() }.rtt_ms(), None);
        assert_eq!(Stats { sent: 4, received: 4, rtt_total: Duration::from_millis(4) }.loss_pct(), 0);
    }

    #[test]
    fn link_layer_addresses() {
        let a = sockaddr_ll(4, Some(&[0x52, 0x54, 0, 1, 2, 3]));
        assert_eq!((a.sll_ifindex, a.sll_halen, &a.sll_addr[..6]), (4, 6, &[0x52, 0x54, 0, 1, 2, 3][..]));
        assert_eq!(u16::from_be(a.sll_protocol), ETH_P_IP);
        assert_eq!(sockaddr_ll(9, None).sll_halen, 0, "a point-to-point link has none");
    }
}
