//! Route and rule messages (`rtmsg`, `fib_rule_hdr` and their attributes), read and
//! written here rather than by netlink-packet-route: the crate parses every route
//! attribute kind there is (lwtunnel, seg6, MPLS, ...) and that parser and its emitters
//! were about 37 KB of the mipsel build; src/netlink reads thirteen route attributes and
//! ten rule attributes. The types keep the crate's names and shapes, so that route.rs and
//! rule.rs read as before, and the tests compare both ways with the crate, which stays a
//! dev-dependency (codec/tests.rs, and the fuzz target `rtnetlink_codec`). Rules are in
//! codec/rule.rs.
//!
//! Reading follows the crate where an attribute is read: the framing is
//! netlink-packet-core's `NlasIterator` (a broken frame fails the message), and an
//! attribute this tool reads with a value of the wrong size fails it too, as the crate's
//! did. An attribute kind never read is skipped by its length without a look at its
//! value, where the crate refused some malformed ones: a dump is not failed for a field
//! nobody reads. A route message of a family other than IPv4 and IPv6 is read as its
//! header alone (route.rs and rule.rs take none of them).

use std::net::{Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{DecodeError, Emitable, Nla, NlaBuffer, NlasIterator, Parseable};

const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_METRICS: u16 = 8;
const RTA_MULTIPATH: u16 = 9;
const RTA_FLOW: u16 = 11;
const RTA_CACHEINFO: u16 = 12;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
const RTA_PREF: u16 = 20;
const RTA_NH_ID: u16 = 30;
/// RTAX_CC_ALGO: the one metric whose value is a string (not kept).
const RTAX_CC_ALGO: u16 = 16;

/// struct rtmsg and struct fib_rule_hdr are both 12 bytes.
const HEADER_LEN: usize = 12;
/// struct rtnexthop: length, flags, hops, ifindex.
const NEXT_HOP_LEN: usize = 8;
/// struct rta_cacheinfo: eight u32, `rta_expires` the third.
const CACHE_INFO_LEN: usize = 32;

/// The `family` byte of a route or rule message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressFamily {
    Inet,
    Inet6,
    Other(u8),
}

impl Default for AddressFamily {
    fn default() -> Self {
        AddressFamily::Other(0)
    }
}

impl From<u8> for AddressFamily {
    fn from(b: u8) -> Self {
        match b {
            2 => AddressFamily::Inet,
            10 => AddressFamily::Inet6,
            b => AddressFamily::Other(b),
        }
    }
}

impl From<AddressFamily> for u8 {
    fn from(f: AddressFamily) -> u8 {
        match f {
            AddressFamily::Inet => 2,
            AddressFamily::Inet6 => 10,
            AddressFamily::Other(b) => b,
        }
    }
}

/// `rtm_flags` (RTNH_F_* and RTM_F_*).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteFlags(u32);

impl RouteFlags {
    pub fn from_bits_retain(bits: u32) -> Self {
        RouteFlags(bits)
    }

    pub fn bits(self) -> u32 {
        self.0
    }
}

/// struct rtmsg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteHeader {
    pub address_family: AddressFamily,
    pub destination_prefix_length: u8,
    pub source_prefix_length: u8,
    pub tos: u8,
    /// The table when it is below 256, else RT_TABLE_UNSPEC (0) and RTA_TABLE says it.
    pub table: u8,
    pub protocol: u8,
    pub scope: u8,
    /// RTN_*.
    pub kind: u8,
    pub flags: RouteFlags,
}

/// An address of the message's family: RTA_DST, RTA_SRC, RTA_GATEWAY, RTA_PREFSRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteAddress {
    Inet(Ipv4Addr),
    Inet6(Ipv6Addr),
}

/// One `struct rtnexthop` of RTA_MULTIPATH with its gateway and realm (its other
/// attributes are not read).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteNextHop {
    /// RTNH_F_*.
    pub flags: u8,
    /// The weight less one.
    pub hops: u8,
    pub interface_index: u32,
    pub attributes: Vec<RouteAttribute>,
}

/// The route attributes src/netlink reads or writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteAttribute {
    Table(u32),
    Destination(RouteAddress),
    Source(RouteAddress),
    Gateway(RouteAddress),
    PrefSource(RouteAddress),
    Oif(u32),
    Priority(u32),
    /// RTA_FLOW: the realms, source in the high 16 bits.
    Realm(u32),
    NhId(u32),
    /// RTA_PREF (IPv6 router preference).
    Preference(u8),
    /// RTA_VIA: a next hop of another family than the route's (kernels 5.2+), its value not
    /// read. Never written: such a route is not one this tool can put back.
    Via,
    /// RTA_CACHEINFO's `rta_expires`: non-zero while the route has a lifetime.
    CacheInfo(u32),
    /// RTAX_* and value, each metric with a 4-byte value (all but RTAX_CC_ALGO).
    Metrics(Vec<(u16, u32)>),
    MultiPath(Vec<RouteNextHop>),
}

/// A route message: header and the attributes read, in the kernel's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteMessage {
    pub header: RouteHeader,
    pub attributes: Vec<RouteAttribute>,
}

fn u32_of(v: &[u8], what: &str) -> Result<u32, DecodeError> {
    <[u8; 4]>::try_from(v)
        .map(u32::from_ne_bytes)
        .map_err(|_| DecodeError::from(format!("{what} of {} bytes, not 4", v.len())))
}

fn u8_of(v: &[u8], what: &str) -> Result<u8, DecodeError> {
    match v {
        [b] => Ok(*b),
        _ => Err(DecodeError::from(format!("{what} of {} bytes, not 1", v.len()))),
    }
}

/// An address of 4 bytes (IPv4) or 16 (IPv6), as `v6` says.
fn address_of(v: &[u8], v6: bool, what: &str) -> Result<RouteAddress, DecodeError> {
    let wrong = || DecodeError::from(format!("{what} of {} bytes in an IPv{} route", v.len(), if v6 { 6 } else { 4 }));
    if v6 {
        <[u8; 16]>::try_from(v).map(|a| RouteAddress::Inet6(a.into())).map_err(|_| wrong())
    } else {
        <[u8; 4]>::try_from(v).map(|a| RouteAddress::Inet(a.into())).map_err(|_| wrong())
    }
}

/// The fixed header of a route or rule message: its 12 bytes, or an error naming it.
fn header_of<'a>(buf: &'a [u8], what: &str) -> Result<&'a [u8; HEADER_LEN], DecodeError> {
    buf.get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| DecodeError::from(format!("{what} of {} bytes, shorter than its header", buf.len())))
}

impl Parseable<[u8]> for RouteMessage {
    fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let h = header_of(buf, "route message")?;
        let header = RouteHeader {
            address_family: h[0].into(),
            destination_prefix_length: h[1],
            source_prefix_length: h[2],
            tos: h[3],
            table: h[4],
            protocol: h[5],
            scope: h[6],
            kind: h[7],
            flags: RouteFlags(u32::from_ne_bytes([h[8], h[9], h[10], h[11]])),
        };
        let v6 = match header.address_family {
            AddressFamily::Inet => false,
            AddressFamily::Inet6 => true,
            AddressFamily::Other(_) => return Ok(RouteMessage { header, attributes: Vec::new() }),
        };
        let mut attributes = Vec::new();
        for nla in NlasIterator::new(&buf[HEADER_LEN..]) {
            let nla = nla?;
            attributes.extend(route_attribute(nla.kind(), nla.value(), v6)?);
        }
        Ok(RouteMessage { header, attributes })
    }
}

/// One route attribute of a kind read here, `None` for any other kind.
fn route_attribute(kind: u16, v: &[u8], v6: bool) -> Result<Option<RouteAttribute>, DecodeError> {
    Ok(Some(match kind {
        RTA_DST => RouteAttribute::Destination(address_of(v, v6, "RTA_DST")?),
        RTA_SRC => RouteAttribute::Source(address_of(v, v6, "RTA_SRC")?),
        RTA_GATEWAY => RouteAttribute::Gateway(address_of(v, v6, "RTA_GATEWAY")?),
        RTA_PREFSRC => RouteAttribute::PrefSource(address_of(v, v6, "RTA_PREFSRC")?),
        RTA_OIF => RouteAttribute::Oif(u32_of(v, "RTA_OIF")?),
        RTA_PRIORITY => RouteAttribute::Priority(u32_of(v, "RTA_PRIORITY")?),
        RTA_FLOW => RouteAttribute::Realm(u32_of(v, "RTA_FLOW")?),
        RTA_TABLE => RouteAttribute::Table(u32_of(v, "RTA_TABLE")?),
        RTA_NH_ID => RouteAttribute::NhId(u32_of(v, "RTA_NH_ID")?),
        RTA_PREF => RouteAttribute::Preference(u8_of(v, "RTA_PREF")?),
        RTA_VIA => RouteAttribute::Via,
        RTA_CACHEINFO => match v.get(8..12) {
            Some(e) if v.len() >= CACHE_INFO_LEN => RouteAttribute::CacheInfo(u32_of(e, "rta_expires")?),
            _ => return Err(DecodeError::from(format!("RTA_CACHEINFO of {} bytes", v.len()))),
        },
        RTA_METRICS => RouteAttribute::Metrics(metrics(v)?),
        RTA_MULTIPATH => RouteAttribute::MultiPath(next_hops(v, v6)?),
        _ => return Ok(None),
    }))
}

/// An attribute's type with its flag bits (nested, network byte order), as the crate
/// kept a kind it has no name for.
fn raw_kind(nla: &NlaBuffer<&[u8]>) -> u16 {
    nla.kind() | (u16::from(nla.nested_flag()) << 15) | (u16::from(nla.network_byte_order_flag()) << 14)
}

/// RTA_METRICS' nested attributes: RTAX_LOCK to RTAX_FASTOPEN_NO_COOKIE are u32 (another
/// size fails, as in the crate), a later kind is kept when its value is 4 bytes.
fn metrics(v: &[u8]) -> Result<Vec<(u16, u32)>, DecodeError> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(v) {
        let nla = nla?;
        match (nla.kind(), nla.value().len()) {
            (RTAX_CC_ALGO, _) => {}
            (1..=17, _) => out.push((nla.kind(), u32_of(nla.value(), "RTA_METRICS value")?)),
            (_, 4) => out.push((raw_kind(&nla), u32_of(nla.value(), "RTA_METRICS value")?)),
            _ => {}
        }
    }
    Ok(out)
}

/// RTA_MULTIPATH: `struct rtnexthop`s back to back, each as long as it says (at least
/// its 8 bytes, within what is left), with its own attributes.
fn next_hops(mut v: &[u8], v6: bool) -> Result<Vec<RouteNextHop>, DecodeError> {
    let mut hops = Vec::new();
    while !v.is_empty() {
        let len = match v {
            [a, b, ..] if v.len() >= NEXT_HOP_LEN => usize::from(u16::from_ne_bytes([*a, *b])),
            _ => return Err(DecodeError::from(format!("next hop of {} bytes", v.len()))),
        };
        if len < NEXT_HOP_LEN || len > v.len() {
            return Err(DecodeError::from(format!("next hop claiming {len} bytes of {}", v.len())));
        }
        let mut hop = RouteNextHop {
            flags: v[2],
            hops: v[3],
            interface_index: u32::from_ne_bytes([v[4], v[5], v[6], v[7]]),
            attributes: Vec::new(),
        };
        for nla in NlasIterator::new(&v[NEXT_HOP_LEN..len]) {
            let nla = nla?;
            if matches!(nla.kind(), RTA_GATEWAY | RTA_FLOW | RTA_VIA) {
                hop.attributes.extend(route_attribute(nla.kind(), nla.value(), v6)?);
            }
        }
        hops.push(hop);
        v = &v[len..];
    }
    Ok(hops)
}

// ---------------------------------------------------------------------------------------
// Writing: netlink-packet-core lays out the attributes (length, kind, value, padding).

fn address_bytes(a: &RouteAddress) -> Vec<u8> {
    match a {
        RouteAddress::Inet(ip) => ip.octets().to_vec(),
        RouteAddress::Inet6(ip) => ip.octets().to_vec(),
    }
}

/// One RTAX_* metric inside RTA_METRICS.
struct Metric(u16, u32);

impl Nla for Metric {
    fn value_len(&self) -> usize {
        4
    }

    fn kind(&self) -> u16 {
        self.0
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        buffer.copy_from_slice(&self.1.to_ne_bytes());
    }
}

impl RouteAttribute {
    /// The value's bytes, for the attributes with a flat value.
    fn flat(&self) -> Vec<u8> {
        match self {
            RouteAttribute::Destination(a)
            | RouteAttribute::Source(a)
            | RouteAttribute::Gateway(a)
            | RouteAttribute::PrefSource(a) => address_bytes(a),
            RouteAttribute::Table(v)
            | RouteAttribute::Oif(v)
            | RouteAttribute::Priority(v)
            | RouteAttribute::Realm(v)
            | RouteAttribute::NhId(v) => v.to_ne_bytes().to_vec(),
            RouteAttribute::Preference(p) => vec![*p],
            RouteAttribute::CacheInfo(expires) => {
                let mut b = vec![0; CACHE_INFO_LEN];
                b[8..12].copy_from_slice(&expires.to_ne_bytes());
                b
            }
            RouteAttribute::Metrics(_) | RouteAttribute::MultiPath(_) | RouteAttribute::Via => Vec::new(),
        }
    }

    fn metrics(&self) -> Vec<Metric> {
        match self {
            RouteAttribute::Metrics(ms) => ms.iter().map(|&(k, v)| Metric(k, v)).collect(),
            _ => Vec::new(),
        }
    }
}

impl Nla for RouteAttribute {
    fn value_len(&self) -> usize {
        match self {
            RouteAttribute::Metrics(_) => self.metrics().as_slice().buffer_len(),
            RouteAttribute::MultiPath(hops) => hops.iter().map(RouteNextHop::buffer_len).sum(),
            _ => self.flat().len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            RouteAttribute::Table(_) => RTA_TABLE,
            RouteAttribute::Destination(_) => RTA_DST,
            RouteAttribute::Source(_) => RTA_SRC,
            RouteAttribute::Gateway(_) => RTA_GATEWAY,
            RouteAttribute::PrefSource(_) => RTA_PREFSRC,
            RouteAttribute::Oif(_) => RTA_OIF,
            RouteAttribute::Priority(_) => RTA_PRIORITY,
            RouteAttribute::Realm(_) => RTA_FLOW,
            RouteAttribute::NhId(_) => RTA_NH_ID,
            RouteAttribute::Preference(_) => RTA_PREF,
            RouteAttribute::Via => RTA_VIA,
            RouteAttribute::CacheInfo(_) => RTA_CACHEINFO,
            RouteAttribute::Metrics(_) => RTA_METRICS,
            RouteAttribute::MultiPath(_) => RTA_MULTIPATH,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            RouteAttribute::Metrics(_) => self.metrics().as_slice().emit(buffer),
            RouteAttribute::MultiPath(hops) => {
                let mut at = 0;
                for hop in hops {
                    let len = hop.buffer_len();
                    hop.emit(&mut buffer[at..at + len]);
                    at += len;
                }
            }
            _ => buffer.copy_from_slice(&self.flat()),
        }
    }
}

impl Emitable for RouteNextHop {
    fn buffer_len(&self) -> usize {
        NEXT_HOP_LEN + self.attributes.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        let len = u16::try_from(self.buffer_len()).unwrap_or(u16::MAX);
        buffer[..2].copy_from_slice(&len.to_ne_bytes());
        buffer[2] = self.flags;
        buffer[3] = self.hops;
        buffer[4..8].copy_from_slice(&self.interface_index.to_ne_bytes());
        self.attributes.as_slice().emit(&mut buffer[NEXT_HOP_LEN..]);
    }
}

impl Emitable for RouteMessage {
    fn buffer_len(&self) -> usize {
        HEADER_LEN + self.attributes.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        let h = &self.header;
        buffer[..8].copy_from_slice(&[
            h.address_family.into(),
            h.destination_prefix_length,
            h.source_prefix_length,
            h.tos,
            h.table,
            h.protocol,
            h.scope,
            h.kind,
        ]);
        buffer[8..HEADER_LEN].copy_from_slice(&h.flags.0.to_ne_bytes());
        self.attributes.as_slice().emit(&mut buffer[HEADER_LEN..]);
    }
}

mod rule;
pub use rule::{RuleAttribute, RuleHeader, RuleMessage};

#[cfg(test)]
mod tests;
