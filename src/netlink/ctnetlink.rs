//! ctnetlink (NETLINK_NETFILTER, subsystem CTNETLINK): the two requests CONNTRACK_FLUSH
//! sends — a dump of every tracked flow and the deletion of one — and the parser of the
//! dump's entries. Only the attributes below are read or written (docs/kernel-compat.md
//! says since which kernel each exists); every reader is bounded by its attribute and
//! never panics on what the kernel sends.
//!
//! [`flush`] reads the dump as it arrives and deletes each chosen flow at once on a
//! second socket (what the `conntrack` tool does), so a table of 100,000 flows costs two
//! receive buffers, not 100,000 parsed entries. Which flows is `conntrack`'s judgement.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    DecodeError, NetlinkDeserializable, NetlinkHeader, NetlinkSerializable, NlaBuffer, NlasIterator,
};

use super::{Netlink, NetlinkError};

/// nfnetlink subsystem of connection tracking; the message type is `subsys << 8 | msg`.
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
/// `struct nfgenmsg`: family, version, resource id (big-endian).
const NFGENMSG_LEN: usize = 4;
const NFNETLINK_V0: u8 = 0;

// enum ctattr_type
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_STATUS: u16 = 3;
const CTA_MARK: u16 = 8;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
// enum ctattr_tuple
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
// enum ctattr_ip
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
// enum ctattr_l4proto
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTO_ICMP_ID: u16 = 4;
const CTA_PROTO_ICMP_TYPE: u16 = 5;
const CTA_PROTO_ICMP_CODE: u16 = 6;
const CTA_PROTO_ICMPV6_ID: u16 = 7;
const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
const CTA_PROTO_ICMPV6_CODE: u16 = 9;
const NLA_F_NESTED: u16 = 0x8000;

/// enum ip_conntrack_status: the router translated the source / the destination.
pub const IPS_SRC_NAT: u32 = 1 << 4;
pub const IPS_DST_NAT: u32 = 1 << 5;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;

/// What identifies a flow beyond its addresses: ports (TCP, UDP, SCTP, DCCP, GRE's keys
/// travel in the same attributes), ICMP's identifier, type and code, or nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    Ports { src: u16, dst: u16 },
    Icmp { id: u16, kind: u8, code: u8 },
    None,
}

/// One direction of a flow as the kernel tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub l4: L4,
}

/// A tracked flow: what was read of a dump's entry, and all a deletion needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// As the first packet arrived.
    pub orig: Tuple,
    /// As the answers are expected: its destination is the source NAT's address.
    pub reply: Tuple,
    /// IPS_* bits.
    pub status: u32,
    /// CTA_ZONE, present only outside the default zone (and then sent back).
    pub zone: Option<u16>,
    /// CTA_ID: a deletion by tuple and id cannot hit a newer flow of the same tuple.
    pub id: Option<u32>,
    pub mark: u32,
}

impl fmt::Display for Flow {
    /// In `conntrack -D` words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.orig;
        let (name, icmp) = match o.proto {
            6 => ("tcp".to_string(), "icmp"),
            17 => ("udp".to_string(), "icmp"),
            IPPROTO_ICMP => ("icmp".to_string(), "icmp"),
            IPPROTO_ICMPV6 => ("icmpv6".to_string(), "icmpv6"),
            n => (n.to_string(), "icmp"),
        };
        write!(f, "conntrack -D -p {name} -s {} -d {}", o.src, o.dst)?;
        match o.l4 {
            L4::Ports { src, dst } => write!(f, " --sport {src} --dport {dst}")?,
            L4::Icmp { id, kind, code } => write!(f, " --{icmp}-type {kind} --{icmp}-code {code} --{icmp}-id {id}")?,
            L4::None => {}
        }
        if let Some(z) = self.zone {
            write!(f, " --zone {z}")?;
        }
        if self.status & IPS_SRC_NAT != 0 {
            write!(f, " # NATed to {}", self.reply.dst)?;
        }
        Ok(())
    }
}

/// A ctnetlink message: the two requests sent and the entries read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtMsg {
    /// IPCTNL_MSG_CT_GET with NLM_F_DUMP: every flow of `family` (AF_UNSPEC: both).
    Dump { family: u8 },
    /// IPCTNL_MSG_CT_DELETE of this flow (its original tuple, id and zone).
    Delete(Flow),
    /// An entry of the dump (IPCTNL_MSG_CT_NEW).
    Flow(Flow),
    /// An entry that could not be read whole (a tuple missing), or another message.
    Other,
}

impl CtMsg {
    /// The whole message body after the netlink header.
    fn body(&self) -> Vec<u8> {
        let mut b = Vec::new();
        let family = match self {
            CtMsg::Dump { family } => *family,
            CtMsg::Delete(f) | CtMsg::Flow(f) => family_of(f.orig.src),
            CtMsg::Other => 0,
        };
        b.extend_from_slice(&[family, NFNETLINK_V0, 0, 0]);
        if let CtMsg::Delete(f) = self {
            put(&mut b, CTA_TUPLE_ORIG | NLA_F_NESTED, &tuple_attrs(&f.orig));
            if let Some(id) = f.id {
                put(&mut b, CTA_ID, &id.to_be_bytes());
            }
            if let Some(zone) = f.zone {
                put(&mut b, CTA_ZONE, &zone.to_be_bytes());
            }
        }
        b
    }
}

fn family_of(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

/// Appends one attribute, padded to 4 bytes.
fn put(b: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    b.extend_from_slice(&(len as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(value);
    b.resize(b.len() + (4 - len % 4) % 4, 0);
}

/// CTA_TUPLE_IP and CTA_TUPLE_PROTO of a tuple, as the kernel reads them.
fn tuple_attrs(t: &Tuple) -> Vec<u8> {
    let mut ip = Vec::new();
    match (t.src, t.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            put(&mut ip, CTA_IP_V4_SRC, &s.octets());
            put(&mut ip, CTA_IP_V4_DST, &d.octets());
        }
        (s, d) => {
            put(&mut ip, CTA_IP_V6_SRC, &v6(s).octets());
            put(&mut ip, CTA_IP_V6_DST, &v6(d).octets());
        }
    }
    let mut proto = Vec::new();
    put(&mut proto, CTA_PROTO_NUM, &[t.proto]);
    match t.l4 {
        L4::Ports { src, dst } => {
            put(&mut proto, CTA_PROTO_SRC_PORT, &src.to_be_bytes());
            put(&mut proto, CTA_PROTO_DST_PORT, &dst.to_be_bytes());
        }
        L4::Icmp { id, kind, code } => {
            let (i, k, c) = if t.proto == IPPROTO_ICMPV6 {
                (CTA_PROTO_ICMPV6_ID, CTA_PROTO_ICMPV6_TYPE, CTA_PROTO_ICMPV6_CODE)
            } else {
                (CTA_PROTO_ICMP_ID, CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMP_CODE)
            };
            put(&mut proto, i, &id.to_be_bytes());
            put(&mut proto, k, &[kind]);
            put(&mut proto, c, &[code]);
        }
        L4::None => {}
    }
    let mut out = Vec::new();
    put(&mut out, CTA_TUPLE_IP | NLA_F_NESTED, &ip);
    put(&mut out, CTA_TUPLE_PROTO | NLA_F_NESTED, &proto);
    out
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => a.to_ipv6_mapped(),
    }
}

impl NetlinkSerializable for CtMsg {
    fn message_type(&self) -> u16 {
        let msg = match self {
            CtMsg::Dump { .. } => IPCTNL_MSG_CT_GET,
            CtMsg::Delete(_) => IPCTNL_MSG_CT_DELETE,
            CtMsg::Flow(_) | CtMsg::Other => IPCTNL_MSG_CT_NEW,
        };
        NFNL_SUBSYS_CTNETLINK << 8 | msg
    }

    fn buffer_len(&self) -> usize {
        self.body().len()
    }

    fn serialize(&self, buffer: &mut [u8]) {
        let body = self.body();
        let n = body.len().min(buffer.len());
        buffer[..n].copy_from_slice(&body[..n]);
    }
}

impl NetlinkDeserializable for CtMsg {
    type Error = DecodeError;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        if header.message_type != NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW {
            return Ok(CtMsg::Other);
        }
        Ok(parse_flow(payload)?.map_or(CtMsg::Other, CtMsg::Flow))
    }
}

/// A dump's entry; `None` when a tuple is missing or of a shape not read here. Broken
/// framing is an error; nothing here panics or reads past an attribute.
pub fn parse_flow(b: &[u8]) -> Result<Option<Flow>, DecodeError> {
    let Some(attrs) = b.get(NFGENMSG_LEN..) else {
        return Err(DecodeError::from("conntrack message shorter than nfgenmsg"));
    };
    let (mut orig, mut reply, mut status, mut zone, mut id, mut mark) = (None, None, 0, None, None, 0);
    for nla in NlasIterator::new(attrs) {
        let nla: NlaBuffer<&[u8]> = nla?;
        let v = nla.value();
        match nla.kind() {
            CTA_TUPLE_ORIG => orig = parse_tuple(v)?,
            CTA_TUPLE_REPLY => reply = parse_tuple(v)?,
            CTA_STATUS => status = be32(v).unwrap_or(0),
            CTA_ZONE => zone = <[u8; 2]>::try_from(v).ok().map(u16::from_be_bytes),
            CTA_ID => id = be32(v),
            CTA_MARK => mark = be32(v).unwrap_or(0),
            _ => {}
        }
    }
    Ok(match (orig, reply) {
        (Some(orig), Some(reply)) => Some(Flow { orig, reply, status, zone, id, mark }),
        _ => None,
    })
}

fn be32(v: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes)
}

fn be16(v: &[u8]) -> Option<u16> {
    <[u8; 2]>::try_from(v).ok().map(u16::from_be_bytes)
}

/// CTA_TUPLE_*: `None` when an address or the protocol is missing.
fn parse_tuple(b: &[u8]) -> Result<Option<Tuple>, DecodeError> {
    let (mut src, mut dst, mut proto) = (None, None, None);
    let (mut sport, mut dport, mut icmp_id, mut icmp_type, mut icmp_code) = (None, None, None, None, None);
    for nla in NlasIterator::new(b) {
        let nla: NlaBuffer<&[u8]> = nla?;
        match nla.kind() {
            CTA_TUPLE_IP => {
                for a in NlasIterator::new(nla.value()) {
                    let a: NlaBuffer<&[u8]> = a?;
                    let v = a.value();
                    let v4 = || <[u8; 4]>::try_from(v).ok().map(|o| IpAddr::V4(Ipv4Addr::from(o)));
                    let v6 = || <[u8; 16]>::try_from(v).ok().map(|o| IpAddr::V6(Ipv6Addr::from(o)));
                    match a.kind() {
                        CTA_IP_V4_SRC => src = v4(),
                        CTA_IP_V4_DST => dst = v4(),
                        CTA_IP_V6_SRC => src = v6(),
                        CTA_IP_V6_DST => dst = v6(),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for a in NlasIterator::new(nla.value()) {
                    let a: NlaBuffer<&[u8]> = a?;
                    let v = a.value();
                    match a.kind() {
                        CTA_PROTO_NUM => proto = v.first().copied(),
                        CTA_PROTO_SRC_PORT => sport = be16(v),
                        CTA_PROTO_DST_PORT => dport = be16(v),
                        CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => icmp_id = be16(v),
                        CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => icmp_type = v.first().copied(),
                        CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => icmp_code = v.first().copied(),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (Some(src), Some(dst), Some(proto)) = (src, dst, proto) else { return Ok(None) };
    if src.is_ipv4() != dst.is_ipv4() {
        return Ok(None);
    }
    let l4 = match (sport, dport, icmp_id, icmp_type, icmp_code) {
        (Some(src), Some(dst), ..) => L4::Ports { src, dst },
        (_, _, Some(id), Some(kind), Some(code)) if proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 => {
            L4::Icmp { id, kind, code }
        }
        _ => L4::None,
    };
    Ok(Some(Tuple { src, dst, proto, l4 }))
}

/// What a flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Entries the dump returned.
    pub seen: usize,
    /// Chosen and deleted (in a dry run: chosen).
    pub deleted: usize,
    /// Chosen but refused by the kernel (the first reason is kept).
    pub failed: usize,
}

/// What can go wrong reading or changing the connection-tracking table.
#[derive(Debug)]
pub enum ConntrackError {
    /// The kernel has no ctnetlink (nf_conntrack_netlink not built or not loadable): the
    /// errno of the socket or of the dump.
    Unsupported(i32),
    Netlink(NetlinkError),
}

impl fmt::Display for ConntrackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConntrackError::Unsupported(errno) => write!(
                f,
                "the kernel offers no ctnetlink (nf_conntrack_netlink): {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            ConntrackError::Netlink(e) => write!(f, "conntrack: {e}"),
        }
    }
}

impl std::error::Error for ConntrackError {}

/// The errors that mean "this kernel has no ctnetlink": socket() without nfnetlink
/// (EPROTONOSUPPORT), a subsystem nfnetlink cannot load (EINVAL on 4.x, EOPNOTSUPP),
/// and what module loading may answer instead (ENOENT, EAFNOSUPPORT).
fn unsupported(e: NetlinkError) -> ConntrackError {
    let errno = match &e {
        NetlinkError::Io(io) => io.raw_os_error(),
        NetlinkError::Kernel(errno) => Some(*errno),
        NetlinkError::Decode(_) => None,
    };
    match errno {
        Some(n @ (libc::EPROTONOSUPPORT | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOENT | libc::EAFNOSUPPORT)) => {
            ConntrackError::Unsupported(n)
        }
        _ => ConntrackError::Netlink(e),
    }
}

/// Reads every flow of both families and deletes each that `chosen` picks as it arrives,
/// telling `told` of it first; a dry run only tells. A flow that is gone by the time it
/// is deleted (ENOENT: it ended, or the dump showed it twice) is neither deleted nor a
/// failure.
pub fn flush(
    dry_run: bool,
    chosen: impl Fn(&Flow) -> bool,
    mut told: impl FnMut(&Flow),
) -> Result<(Flushed, Option<NetlinkError>), ConntrackError> {
    let open = || Netlink::open(netlink_sys::protocols::NETLINK_NETFILTER).map_err(unsupported);
    let mut dump = open()?;
    let mut del = if dry_run { None } else { Some(open()?) };
    let mut first_error = None;
    let dump_request = CtMsg::Dump { family: libc::AF_UNSPEC as u8 };
    let done = dump
        .dump_fold(dump_request, Flushed::default, |acc, m| {
            acc.seen += 1;
            let CtMsg::Flow(f) = m else { return };
            if !chosen(&f) {
                return;
            }
            told(&f);
            let Some(del) = del.as_mut() else {
                acc.deleted += 1;
                return;
            };
            match del.request(CtMsg::Delete(f), 0) {
                Ok(()) => acc.deleted += 1,
                Err(NetlinkError::Kernel(libc::ENOENT)) => {}
                Err(e) => {
                    acc.failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        })
        .map_err(unsupported)?;
    Ok((done, first_error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

    fn message(payload: CtMsg, flags: u16, seq: u32) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
        m.finalize();
        let mut b = vec![0u8; m.buffer_len()];
        m.serialize(&mut b);
        b
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn udp(src: &str, dst: &str, sport: u16, dport: u16) -> Tuple {
        Tuple { src: ip(src), dst: ip(dst), proto: 17, l4: L4::Ports { src: sport, dst: dport } }
    }

    /// nlmsghdr fields in host order, as the kernel writes them.
    fn header(len: u32, kind: u16, flags: u16, seq: u32, pid: u32) -> Vec<u8> {
        [
            len.to_ne_bytes().as_slice(),
            &kind.to_ne_bytes(),
            &flags.to_ne_bytes(),
            &seq.to_ne_bytes(),
            &pid.to_ne_bytes(),
        ]
        .concat()
    }

    /// `conntrack -L` (conntrack-tools 1.4.7) sends exactly this (strace -xx): a dump of
    /// both families, nfgenmsg AF_UNSPEC, version 0.
    #[test]
    fn dump_request_is_what_conntrack_l_sends() {
        let seq = 1_796_466_653;
        let bytes = [header(20, 0x0101, 0x0301, seq, 0), vec![0x00, 0x00, 0x00, 0x00]].concat();
        let dump = CtMsg::Dump { family: libc::AF_UNSPEC as u8 };
        assert_eq!(message(dump, NLM_F_REQUEST | NLM_F_DUMP, seq), bytes);
    }

    /// The entry `udp src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=5353 [UNREPLIED]
    /// src=10.0.0.2 dst=10.0.0.3 sport=5353 dport=40000 mark=0 use=1`, SNATed to 10.0.0.3
    /// by `ip daddr 10.0.0.2 udp dport 5353 snat to 10.0.0.3` (kernel 6.18; recvmsg of
    /// `conntrack -L`, strace -xx).
    fn captured_entry() -> Vec<u8> {
        let orig: &[u8] = b"\x34\x00\x01\x80\x14\x00\x01\x80\x08\x00\x01\x00\x0a\x00\x00\x01\x08\x00\x02\x00\x0a\x00\x00\x02\x1c\x00\x02\x80\x05\x00\x01\x00\x11\x00\x00\x00\x06\x00\x02\x00\x9c\x40\x00\x00\x06\x00\x03\x00\x14\xe9\x00\x00";
        let reply: &[u8] = b"\x34\x00\x02\x80\x14\x00\x01\x80\x08\x00\x01\x00\x0a\x00\x00\x02\x08\x00\x02\x00\x0a\x00\x00\x03\x1c\x00\x02\x80\x05\x00\x01\x00\x11\x00\x00\x00\x06\x00\x02\x00\x14\xe9\x00\x00\x06\x00\x03\x00\x9c\x40\x00\x00";
        let rest: &[u8] = b"\x08\x00\x03\x00\x00\x00\x01\x98\x08\x00\x08\x00\x00\x00\x00\x00\x08\x00\x0c\x00\xfc\x43\x02\x3e\x08\x00\x0b\x00\x00\x00\x00\x01\x08\x00\x07\x00\x00\x00\x00\x1d";
        [
            header(164, 0x0100, 0x0002, 1_796_466_653, 14287),
            vec![2, 0, 0, 0],
            orig.to_vec(),
            reply.to_vec(),
            rest.to_vec(),
        ]
        .concat()
    }

    fn captured_flow() -> Flow {
        Flow {
            orig: udp("10.0.0.1", "10.0.0.2", 40000, 5353),
            reply: udp("10.0.0.2", "10.0.0.3", 5353, 40000),
            status: 0x198,
            zone: None,
            id: Some(0xfc43_023e),
            mark: 0,
        }
    }

    #[test]
    fn a_captured_kernel_entry_parses() {
        let bytes = captured_entry();
        let m = NetlinkMessage::<CtMsg>::deserialize(&bytes).expect("parses");
        assert_eq!(m.payload, NetlinkPayload::InnerMessage(CtMsg::Flow(captured_flow())));
        assert_ne!(captured_flow().status & IPS_SRC_NAT, 0, "the status says SNAT");
        assert_eq!(
            captured_flow().to_string(),
            "conntrack -D -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 40000 --dport 5353 # NATed to 10.0.0.3"
        );
        // Cut anywhere, it is an error or an unreadable entry, never a panic.
        for n in 0..bytes.len() {
            let _ = NetlinkMessage::<CtMsg>::deserialize(&bytes[..n]);
            let _ = parse_flow(&bytes[16..n.max(16)]);
        }
    }

    /// What `conntrack -D -p udp -s 10.0.0.1 -d 10.0.0.2 --sport 40000 --dport 5353` sends
    /// on its second socket for that entry starts with these bytes: nfgenmsg AF_INET and
    /// CTA_TUPLE_ORIG. The tool then sends the reply tuple, status, timeout and mark (the
    /// kernel looks the flow up by the original tuple and ignores them); ours sends the
    /// entry's CTA_ID instead, so that only that very entry can go.
    #[test]
    fn delete_request_is_the_original_tuple_and_the_id() {
        let seq = 1_796_466_657;
        let orig: &[u8] = b"\x34\x00\x01\x80\x14\x00\x01\x80\x08\x00\x01\x00\x0a\x00\x00\x01\x08\x00\x02\x00\x0a\x00\x00\x02\x1c\x00\x02\x80\x05\x00\x01\x00\x11\x00\x00\x00\x06\x00\x02\x00\x9c\x40\x00\x00\x06\x00\x03\x00\x14\xe9\x00\x00";
        let id: &[u8] = b"\x08\x00\x0c\x00\xfc\x43\x02\x3e";
        let bytes =
            [header(16 + 4 + 52 + 8, 0x0102, 0x0005, seq, 0), vec![2, 0, 0, 0], orig.to_vec(), id.to_vec()].concat();
        assert_eq!(message(CtMsg::Delete(captured_flow()), NLM_F_REQUEST | NLM_F_ACK, seq), bytes);

        // In a zone, the zone goes too; ICMP's and IPv6's tuples are emitted as parsed.
        let mut f = captured_flow();
        f.zone = Some(7);
        f.orig = Tuple {
            src: ip("2001:db8::1"),
            dst: ip("2001:db8::2"),
            proto: 58,
            l4: L4::Icmp { id: 9, kind: 128, code: 0 },
        };
        f.reply = Tuple { src: f.orig.dst, dst: f.orig.src, proto: 58, l4: L4::Icmp { id: 9, kind: 129, code: 0 } };
        let b = message(CtMsg::Delete(f.clone()), NLM_F_REQUEST | NLM_F_ACK, 1);
        assert_eq!(b[16], libc::AF_INET6 as u8);
        assert!(b.ends_with(b"\x06\x00\x12\x00\x00\x07\x00\x00"), "CTA_ZONE 7 last: {b:x?}");
        let orig = parse_tuple(&b[24..24 + usize::from(u16::from_ne_bytes([b[20], b[21]])) - 4]).expect("parses");
        assert_eq!(orig, Some(f.orig));
    }

    #[test]
    fn a_kernel_without_ctnetlink_is_told_apart_from_a_failure() {
        let io = |errno| NetlinkError::Io(std::io::Error::from_raw_os_error(errno));
        for e in [io(libc::EPROTONOSUPPORT), NetlinkError::Kernel(libc::EINVAL), NetlinkError::Kernel(libc::EOPNOTSUPP)]
        {
            assert!(matches!(unsupported(e), ConntrackError::Unsupported(_)));
        }
        for e in [io(libc::EMFILE), NetlinkError::Kernel(libc::EPERM), NetlinkError::Decode("x".into())] {
            assert!(matches!(unsupported(e), ConntrackError::Netlink(_)));
        }
    }

    #[test]
    fn other_messages_and_unreadable_entries_are_skipped() {
        let mut h = NetlinkHeader::default();
        h.message_type = 0x0102;
        assert_eq!(CtMsg::deserialize(&h, &[2, 0, 0, 0]).ok(), Some(CtMsg::Other));
        h.message_type = 0x0100;
        assert_eq!(CtMsg::deserialize(&h, &[2, 0, 0, 0]).ok(), Some(CtMsg::Other));
        assert!(CtMsg::deserialize(&h, &[2, 0]).is_err());
        // An attribute claiming more than there is.
        assert!(CtMsg::deserialize(&h, &[2, 0, 0, 0, 0xff, 0, 1, 0x80]).is_err());
    }
}
