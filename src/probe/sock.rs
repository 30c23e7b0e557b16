//! The probe sockets and every system call on them: a raw ICMP socket bound to a device,
//! a packet socket on a link, each with the filter, buffer and drop counter of
//! [`prepare`]; and sending one request on either.

use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::filter::sock_filters;
use super::{ipv4_packet, Insn, Path, ETH_P_IP, ICMP_ECHO_REPLY, RCVBUF_BYTES};

/// Sends one request; `Ok(false)` when the network says it cannot leave.
pub(super) fn send(sock: &OwnedFd, path: &Path, target: Ipv4Addr, request: &[u8], ip_id: u16) -> io::Result<bool> {
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

pub(super) fn sockaddr_ll(ifindex: u32, lladdr: Option<&[u8]>) -> libc::sockaddr_ll {
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

pub(super) fn new_socket(domain: libc::c_int, kind: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket() returns a new descriptor or -1.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt with one value of plain data.
pub(super) fn set_option<T>(sock: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: setsockopt reads size_of::<T>() bytes from a value that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Attaches `program`, enlarges the receive buffer and asks for the drop counter with
/// every packet: what both kinds of probe socket need before they receive anything.
fn prepare(sock: &OwnedFd, program: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr().cast_mut() };
    set_option(sock, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)?;
    // Root may go past rmem_max; otherwise the kernel caps the size it is asked for.
    if set_option(sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &RCVBUF_BYTES).is_err() {
        set_option(sock, libc::SOL_SOCKET, libc::SO_RCVBUF, &RCVBUF_BYTES)?;
    }
    set_option(sock, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &(1 as libc::c_int))
}

pub(super) fn raw_icmp_socket(dev: &str, program: &[Insn]) -> io::Result<OwnedFd> {
    let sock = new_socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP)?;
    // ICMP_FILTER (1) on SOL_RAW: a set bit drops that ICMP type; keep echo replies only.
    const ICMP_FILTER: libc::c_int = 1;
    let drop_all_but_reply: u32 = !(1u32 << ICMP_ECHO_REPLY);
    set_option(&sock, libc::SOL_RAW, ICMP_FILTER, &drop_all_but_reply)?;
    prepare(&sock, &sock_filters(program))?;
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

/// A packet socket on link `ifindex` that sees only what `program` accepts. It is created
/// with protocol 0 (it receives nothing) and bound to IPv4 only once the filter is in
/// place, so no other packet of a busy WAN is ever queued to it.
pub(super) fn packet_socket(ifindex: u32, program: &[Insn]) -> io::Result<OwnedFd> {
    let sock = new_socket(libc::AF_PACKET, libc::SOCK_DGRAM, 0)?;
    prepare(&sock, &sock_filters(program))?;
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
