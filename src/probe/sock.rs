//! The probe sockets: a raw ICMP socket bound to a device, a packet socket on a link,
//! each with the filter of [`prepare`] (and, for a probe that lives between reads, its
//! buffer and drop counter) — a one-shot raw socket gets its filter later, see
//! [`raw_icmp_socket`]; and sending one request on either. The system calls themselves
//! are `crate::os`'s.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;

use crate::os::{self, Dest};

use super::filter::sock_filters;
use super::{ipv4_packet, Insn, Path, ETH_P_IP, ICMP_ECHO_REPLY, RCVBUF_BYTES};

/// Sends one request; `Ok(false)` when the network says it cannot leave.
pub(super) fn send(sock: &OwnedFd, path: &Path, target: Ipv4Addr, request: &[u8], ip_id: u16) -> io::Result<bool> {
    let sent = match path {
        Path::Device(_) => os::send_to(sock, request, &Dest::Ipv4(target)),
        Path::Gateway { ifindex, lladdr, src } => {
            let packet = ipv4_packet(*src, target, ip_id, request);
            let link = Dest::Link(os::sockaddr_ll(*ifindex, ETH_P_IP, lladdr.as_deref()));
            os::send_to(sock, &packet, &link)
        }
    };
    let Err(e) = sent else { return Ok(true) };
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

/// Attaches `program`: what a packet socket and a track's raw socket need before they
/// receive anything.
/// With `lasting` (a daemon's track, whose socket lives across rounds and whose rounds
/// close as unknown when the kernel dropped replies) it also enlarges the receive buffer
/// and asks for the drop counter with every packet, which only
/// [`super::Prober::overflowed`] reads; a one-shot probe, drained by its own wait loop
/// until it is closed, makes neither system call.
fn prepare(sock: &OwnedFd, program: &[Insn], lasting: bool) -> io::Result<()> {
    attach(sock, program)?;
    if !lasting {
        return Ok(());
    }
    // Root may go past rmem_max; otherwise the kernel caps the size it is asked for.
    if os::set_int_option(sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RCVBUF_BYTES).is_err() {
        os::set_int_option(sock, libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF_BYTES)?;
    }
    os::set_int_option(sock, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)
}

/// Attaches `program` to `sock`. Packets already queued stay there: the reader still
/// matches each one itself.
pub(super) fn attach(sock: &OwnedFd, program: &[Insn]) -> io::Result<()> {
    os::attach_filter(sock, &sock_filters(program))
}

/// A raw ICMP socket bound to `dev` that sees echo replies only: with `track`'s program,
/// a daemon's lasting track (filtered and prepared at once, see [`prepare`]); with `None`,
/// a one-shot probe's, which sees every echo reply on `dev` until its reader attaches the
/// program (see `Prober::opened` for why).
pub(super) fn raw_icmp_socket(dev: &str, track: Option<&[Insn]>) -> io::Result<OwnedFd> {
    let sock = os::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP)?;
    // ICMP_FILTER (1) on SOL_RAW: a set bit drops that ICMP type; keep echo replies only.
    const ICMP_FILTER: libc::c_int = 1;
    let drop_all_but_reply: u32 = !(1u32 << ICMP_ECHO_REPLY);
    os::set_option_bytes(&sock, libc::SOL_RAW, ICMP_FILTER, &drop_all_but_reply.to_ne_bytes())?;
    if let Some(program) = track {
        prepare(&sock, program, true)?;
    }
    if let Err(e) = os::set_option_bytes(&sock, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, dev.as_bytes()) {
        return Err(io::Error::new(e.kind(), format!("cannot bind an ICMP socket to {dev}: {e}")));
    }
    Ok(sock)
}

/// A packet socket on link `ifindex` that sees only what `program` accepts. It is created
/// with protocol 0 (it receives nothing) and bound to IPv4 only once the filter is in
/// place, so no other packet of a busy WAN is ever queued to it.
pub(super) fn packet_socket(ifindex: u32, program: &[Insn], lasting: bool) -> io::Result<OwnedFd> {
    let sock = os::socket(libc::AF_PACKET, libc::SOCK_DGRAM, 0)?;
    prepare(&sock, program, lasting)?;
    if let Err(e) = os::bind_packet(&sock, &os::sockaddr_ll(ifindex, ETH_P_IP, None)) {
        return Err(io::Error::new(e.kind(), format!("cannot bind a packet socket to link {ifindex}: {e}")));
    }
    Ok(sock)
}
