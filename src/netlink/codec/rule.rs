//! Rule messages (`fib_rule_hdr` and its attributes): every attribute is kept, those of
//! the kinds src/netlink reads with their values, any other as its kind alone.

use std::net::IpAddr;

use netlink_packet_core::{DecodeError, Emitable, Nla, NlaBuffer, NlasIterator, Parseable};

use super::{header_of, u32_of, u8_of, AddressFamily, HEADER_LEN};

const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_GOTO: u16 = 4;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_SUPPRESS_IFGROUP: u16 = 13;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_PROTOCOL: u16 = 21;

/// struct fib_rule_hdr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleHeader {
    pub family: AddressFamily,
    pub dst_len: u8,
    pub src_len: u8,
    pub tos: u8,
    pub table: u8,
    /// FR_ACT_*.
    pub action: u8,
    /// FIB_RULE_* (FIB_RULE_INVERT is `not`).
    pub flags: u32,
}

/// The rule attributes src/netlink reads or writes; any other kind is kept as
/// [`RuleAttribute::Other`], a selector not modelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleAttribute {
    Destination(IpAddr),
    Source(IpAddr),
    /// FRA_IIFNAME, as sent (the name, usually NUL-terminated).
    Iifname(Vec<u8>),
    Goto(u32),
    Priority(u32),
    FwMark(u32),
    SuppressIfGroup(u32),
    SuppressPrefixLen(u32),
    Table(u32),
    FwMask(u32),
    Protocol(u8),
    /// Any other FRA_* kind (its value not read; never sent).
    Other(u16),
}

/// A rule message: header and every attribute, in the kernel's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleMessage {
    pub header: RuleHeader,
    pub attributes: Vec<RuleAttribute>,
}

impl Parseable<[u8]> for RuleMessage {
    fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let h = header_of(buf, "rule message")?;
        let header = RuleHeader {
            family: h[0].into(),
            dst_len: h[1],
            src_len: h[2],
            tos: h[3],
            table: h[4],
            action: h[7],
            flags: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
        };
        let mut attributes = Vec::new();
        for nla in NlasIterator::new(&buf[HEADER_LEN..]) {
            let nla = nla?;
            attributes.push(rule_attribute(&nla)?);
        }
        Ok(RuleMessage { header, attributes })
    }
}

fn rule_attribute(nla: &NlaBuffer<&[u8]>) -> Result<RuleAttribute, DecodeError> {
    let v = nla.value();
    // An address of either family, by its length (the crate did not look at the header).
    let ip = |what: &str| match <[u8; 4]>::try_from(v) {
        Ok(a) => Ok(IpAddr::from(a)),
        Err(_) => <[u8; 16]>::try_from(v)
            .map(IpAddr::from)
            .map_err(|_| DecodeError::from(format!("{what} of {} bytes", v.len()))),
    };
    Ok(match nla.kind() {
        FRA_DST => RuleAttribute::Destination(ip("FRA_DST")?),
        FRA_SRC => RuleAttribute::Source(ip("FRA_SRC")?),
        FRA_IIFNAME => RuleAttribute::Iifname(v.to_vec()),
        FRA_GOTO => RuleAttribute::Goto(u32_of(v, "FRA_GOTO")?),
        FRA_PRIORITY => RuleAttribute::Priority(u32_of(v, "FRA_PRIORITY")?),
        FRA_FWMARK => RuleAttribute::FwMark(u32_of(v, "FRA_FWMARK")?),
        FRA_SUPPRESS_IFGROUP => RuleAttribute::SuppressIfGroup(u32_of(v, "FRA_SUPPRESS_IFGROUP")?),
        FRA_SUPPRESS_PREFIXLEN => RuleAttribute::SuppressPrefixLen(u32_of(v, "FRA_SUPPRESS_PREFIXLEN")?),
        FRA_TABLE => RuleAttribute::Table(u32_of(v, "FRA_TABLE")?),
        FRA_FWMASK => RuleAttribute::FwMask(u32_of(v, "FRA_FWMASK")?),
        FRA_PROTOCOL => RuleAttribute::Protocol(u8_of(v, "FRA_PROTOCOL")?),
        _ => RuleAttribute::Other(nla.kind()),
    })
}

fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    }
}

impl Nla for RuleAttribute {
    fn value_len(&self) -> usize {
        match self {
            RuleAttribute::Destination(a) | RuleAttribute::Source(a) => ip_bytes(a).len(),
            RuleAttribute::Iifname(name) => name.len(),
            RuleAttribute::Protocol(_) => 1,
            RuleAttribute::Other(_) => 0,
            _ => 4,
        }
    }

    fn kind(&self) -> u16 {
        match self {
            RuleAttribute::Destination(_) => FRA_DST,
            RuleAttribute::Source(_) => FRA_SRC,
            RuleAttribute::Iifname(_) => FRA_IIFNAME,
            RuleAttribute::Goto(_) => FRA_GOTO,
            RuleAttribute::Priority(_) => FRA_PRIORITY,
            RuleAttribute::FwMark(_) => FRA_FWMARK,
            RuleAttribute::SuppressIfGroup(_) => FRA_SUPPRESS_IFGROUP,
            RuleAttribute::SuppressPrefixLen(_) => FRA_SUPPRESS_PREFIXLEN,
            RuleAttribute::Table(_) => FRA_TABLE,
            RuleAttribute::FwMask(_) => FRA_FWMASK,
            RuleAttribute::Protocol(_) => FRA_PROTOCOL,
            RuleAttribute::Other(k) => *k,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            RuleAttribute::Destination(a) | RuleAttribute::Source(a) => buffer.copy_from_slice(&ip_bytes(a)),
            RuleAttribute::Iifname(name) => buffer.copy_from_slice(name),
            RuleAttribute::Protocol(p) => buffer[0] = *p,
            RuleAttribute::Other(_) => {}
            RuleAttribute::Goto(v)
            | RuleAttribute::Priority(v)
            | RuleAttribute::FwMark(v)
            | RuleAttribute::SuppressIfGroup(v)
            | RuleAttribute::SuppressPrefixLen(v)
            | RuleAttribute::Table(v)
            | RuleAttribute::FwMask(v) => buffer.copy_from_slice(&v.to_ne_bytes()),
        }
    }
}

impl Emitable for RuleMessage {
    fn buffer_len(&self) -> usize {
        HEADER_LEN + self.attributes.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        let h = &self.header;
        // fib_rule_hdr: family, dst_len, src_len, tos, table, two reserved bytes, action.
        buffer[..8].copy_from_slice(&[h.family.into(), h.dst_len, h.src_len, h.tos, h.table, 0, 0, h.action]);
        buffer[8..HEADER_LEN].copy_from_slice(&h.flags.to_ne_bytes());
        self.attributes.as_slice().emit(&mut buffer[HEADER_LEN..]);
    }
}
