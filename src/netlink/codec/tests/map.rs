//! The crate's messages in the codec's terms, and back (what src/netlink did with them):
//! the mapping every comparison of tests.rs reads both through.

use super::super::*;
use netlink_packet_core::{DefaultNla, NLA_TYPE_MASK};
use netlink_packet_route::route as c;
use netlink_packet_route::rule as cr;

/// RTAX_* number and value of a crate metric (route.rs's reading before the codec).
pub(super) fn metric_pair(m: &c::RouteMetric) -> Option<(u16, u32)> {
    use c::RouteMetric as M;
    Some(match m {
        M::Lock(v) => (1, *v),
        M::Mtu(v) => (2, *v),
        M::Window(v) => (3, *v),
        M::Rtt(v) => (4, *v),
        M::RttVar(v) => (5, *v),
        M::SsThresh(v) => (6, *v),
        M::Cwnd(v) => (7, *v),
        M::Advmss(v) => (8, *v),
        M::Reordering(v) => (9, *v),
        M::Hoplimit(v) => (10, *v),
        M::InitCwnd(v) => (11, *v),
        M::Features(v) => (12, *v),
        M::RtoMin(v) => (13, *v),
        M::InitRwnd(v) => (14, *v),
        M::QuickAck(v) => (15, *v),
        M::FastopenNoCookie(v) => (17, *v),
        M::Other(nla) if nla.value_len() == 4 => {
            let mut b = [0u8; 4];
            nla.emit_value(&mut b);
            (nla.kind(), u32::from_ne_bytes(b))
        }
        _ => return None,
    })
}

/// The crate metric of an RTAX_* number and value (route.rs's writing before the codec).
pub(super) fn metric_nla(kind: u16, v: u32) -> c::RouteMetric {
    use c::RouteMetric as M;
    match kind {
        1 => M::Lock(v),
        2 => M::Mtu(v),
        3 => M::Window(v),
        4 => M::Rtt(v),
        5 => M::RttVar(v),
        6 => M::SsThresh(v),
        7 => M::Cwnd(v),
        8 => M::Advmss(v),
        9 => M::Reordering(v),
        10 => M::Hoplimit(v),
        11 => M::InitCwnd(v),
        12 => M::Features(v),
        13 => M::RtoMin(v),
        14 => M::InitRwnd(v),
        15 => M::QuickAck(v),
        17 => M::FastopenNoCookie(v),
        k => M::Other(DefaultNla::new(k, v.to_ne_bytes().to_vec())),
    }
}

pub(super) fn address_from(a: &c::RouteAddress) -> Option<RouteAddress> {
    match a {
        c::RouteAddress::Inet(ip) => Some(RouteAddress::Inet(*ip)),
        c::RouteAddress::Inet6(ip) => Some(RouteAddress::Inet6(*ip)),
        _ => None,
    }
}

pub(super) fn address_to(a: &RouteAddress) -> c::RouteAddress {
    match a {
        RouteAddress::Inet(ip) => c::RouteAddress::Inet(*ip),
        RouteAddress::Inet6(ip) => c::RouteAddress::Inet6(*ip),
    }
}

/// A crate route attribute as the codec holds it; `None` for a kind it does not read.
pub(super) fn attribute_from(a: &c::RouteAttribute) -> Option<RouteAttribute> {
    use c::RouteAttribute as A;
    Some(match a {
        A::Table(v) => RouteAttribute::Table(*v),
        A::Destination(x) => RouteAttribute::Destination(address_from(x)?),
        A::Source(x) => RouteAttribute::Source(address_from(x)?),
        A::Gateway(x) => RouteAttribute::Gateway(address_from(x)?),
        A::PrefSource(x) => RouteAttribute::PrefSource(address_from(x)?),
        A::Oif(v) => RouteAttribute::Oif(*v),
        A::Priority(v) => RouteAttribute::Priority(*v),
        A::Realm(r) => RouteAttribute::Realm((u32::from(r.source) << 16) | u32::from(r.destination)),
        A::NhId(v) => RouteAttribute::NhId(*v),
        A::Preference(p) => RouteAttribute::Preference(u8::from(*p)),
        A::Via(_) => RouteAttribute::Via,
        A::CacheInfo(ci) => RouteAttribute::CacheInfo(ci.expires),
        A::Metrics(ms) => RouteAttribute::Metrics(ms.iter().filter_map(metric_pair).collect()),
        A::MultiPath(hops) => RouteAttribute::MultiPath(
            hops.iter()
                .map(|h| RouteNextHop {
                    flags: h.flags.bits(),
                    hops: h.hops,
                    interface_index: h.interface_index,
                    attributes: h
                        .attributes
                        .iter()
                        .filter(|a| matches!(a, A::Gateway(_) | A::Realm(_) | A::Via(_)))
                        .filter_map(attribute_from)
                        .collect(),
                })
                .collect(),
        ),
        _ => return None,
    })
}

pub(super) fn attribute_to(a: &RouteAttribute) -> c::RouteAttribute {
    use c::RouteAttribute as A;
    match a {
        RouteAttribute::Table(v) => A::Table(*v),
        RouteAttribute::Destination(x) => A::Destination(address_to(x)),
        RouteAttribute::Source(x) => A::Source(address_to(x)),
        RouteAttribute::Gateway(x) => A::Gateway(address_to(x)),
        RouteAttribute::PrefSource(x) => A::PrefSource(address_to(x)),
        RouteAttribute::Oif(v) => A::Oif(*v),
        RouteAttribute::Priority(v) => A::Priority(*v),
        RouteAttribute::Realm(v) => A::Realm(c::RouteRealm { source: (v >> 16) as u16, destination: *v as u16 }),
        RouteAttribute::NhId(v) => A::NhId(*v),
        RouteAttribute::Preference(p) => A::Preference((*p).into()),
        RouteAttribute::Via => unreachable!("RTA_VIA is never written"),
        RouteAttribute::CacheInfo(_) => {
            A::CacheInfo(c::RouteCacheInfo::parse(&a.flat()).expect("32 bytes are a cache info"))
        }
        RouteAttribute::Metrics(ms) => A::Metrics(ms.iter().map(|&(k, v)| metric_nla(k, v)).collect()),
        RouteAttribute::MultiPath(hops) => A::MultiPath(
            hops.iter()
                .map(|h| {
                    let mut n = c::RouteNextHop::default();
                    n.flags = c::RouteNextHopFlags::from_bits_retain(h.flags);
                    n.hops = h.hops;
                    n.interface_index = h.interface_index;
                    n.attributes = h.attributes.iter().map(attribute_to).collect();
                    n
                })
                .collect(),
        ),
    }
}

/// The crate's route message as the codec holds it: of another family than IPv4 and
/// IPv6, the header alone.
pub(super) fn route_from(m: &c::RouteMessage) -> RouteMessage {
    let h = &m.header;
    let header = RouteHeader {
        address_family: u8::from(h.address_family).into(),
        destination_prefix_length: h.destination_prefix_length,
        source_prefix_length: h.source_prefix_length,
        tos: h.tos,
        table: h.table,
        protocol: h.protocol.into(),
        scope: h.scope.into(),
        kind: h.kind.into(),
        flags: RouteFlags::from_bits_retain(h.flags.bits()),
    };
    let attributes = match header.address_family {
        AddressFamily::Other(_) => Vec::new(),
        _ => m.attributes.iter().filter_map(attribute_from).collect(),
    };
    RouteMessage { header, attributes }
}

pub(super) fn route_to(m: &RouteMessage) -> c::RouteMessage {
    let h = &m.header;
    let mut out = c::RouteMessage::default();
    out.header = c::RouteHeader {
        address_family: u8::from(h.address_family).into(),
        destination_prefix_length: h.destination_prefix_length,
        source_prefix_length: h.source_prefix_length,
        tos: h.tos,
        table: h.table,
        protocol: h.protocol.into(),
        scope: h.scope.into(),
        kind: h.kind.into(),
        flags: c::RouteFlags::from_bits_retain(h.flags.bits()),
    };
    out.attributes = m.attributes.iter().map(attribute_to).collect();
    out
}

pub(super) fn rule_attribute_from(a: &cr::RuleAttribute) -> RuleAttribute {
    use cr::RuleAttribute as A;
    match a {
        A::Destination(ip) => RuleAttribute::Destination(*ip),
        A::Source(ip) => RuleAttribute::Source(*ip),
        A::Iifname(name) => RuleAttribute::Iifname(name.clone().into_bytes()),
        A::Goto(v) => RuleAttribute::Goto(*v),
        A::Priority(v) => RuleAttribute::Priority(*v),
        A::FwMark(v) => RuleAttribute::FwMark(*v),
        A::SuppressIfGroup(v) => RuleAttribute::SuppressIfGroup(*v),
        A::SuppressPrefixLen(v) => RuleAttribute::SuppressPrefixLen(*v),
        A::Table(v) => RuleAttribute::Table(*v),
        A::FwMask(v) => RuleAttribute::FwMask(*v),
        A::Protocol(p) => RuleAttribute::Protocol(u8::from(*p)),
        // The crate kept an unknown kind with its flag bits; no kind of these is read.
        other => RuleAttribute::Other(other.kind() & NLA_TYPE_MASK),
    }
}

pub(super) fn rule_attribute_to(a: &RuleAttribute) -> cr::RuleAttribute {
    use cr::RuleAttribute as A;
    match a {
        RuleAttribute::Destination(ip) => A::Destination(*ip),
        RuleAttribute::Source(ip) => A::Source(*ip),
        RuleAttribute::Iifname(name) => {
            A::Iifname(String::from_utf8(name.strip_suffix(b"\0").unwrap_or(name).to_vec()).expect("UTF-8 name"))
        }
        RuleAttribute::Goto(v) => A::Goto(*v),
        RuleAttribute::Priority(v) => A::Priority(*v),
        RuleAttribute::FwMark(v) => A::FwMark(*v),
        RuleAttribute::SuppressIfGroup(v) => A::SuppressIfGroup(*v),
        RuleAttribute::SuppressPrefixLen(v) => A::SuppressPrefixLen(*v),
        RuleAttribute::Table(v) => A::Table(*v),
        RuleAttribute::FwMask(v) => A::FwMask(*v),
        RuleAttribute::Protocol(p) => A::Protocol((*p).into()),
        RuleAttribute::Other(k) => A::Other(DefaultNla::new(*k, Vec::new())),
    }
}

pub(super) fn rule_from(m: &cr::RuleMessage) -> RuleMessage {
    let h = &m.header;
    RuleMessage {
        header: RuleHeader {
            family: u8::from(h.family).into(),
            dst_len: h.dst_len,
            src_len: h.src_len,
            tos: h.tos,
            table: h.table,
            action: h.action.into(),
            flags: h.flags.bits(),
        },
        attributes: m.attributes.iter().map(rule_attribute_from).collect(),
    }
}

pub(super) fn rule_to(m: &RuleMessage) -> cr::RuleMessage {
    let h = &m.header;
    let mut out = cr::RuleMessage::default();
    out.header.family = u8::from(h.family).into();
    out.header.dst_len = h.dst_len;
    out.header.src_len = h.src_len;
    out.header.tos = h.tos;
    out.header.table = h.table;
    out.header.action = h.action.into();
    out.header.flags = cr::RuleFlags::from_bits_retain(h.flags);
    out.attributes = m.attributes.iter().map(rule_attribute_to).collect();
    out
}

/// The codec's FRA_IIFNAME as the crate reads it: without its terminating NUL.
pub(super) fn without_nul(mut m: RuleMessage) -> RuleMessage {
    for a in &mut m.attributes {
        if let RuleAttribute::Iifname(name) = a {
            if name.last() == Some(&0) {
                name.pop();
            }
        }
    }
    m
}
