//! src/netlink/codec.rs against netlink-packet-route, which read route and rule messages
//! before it: the first byte says which (even: route, odd: rule), the rest is the message
//! body. Where the crate reads a message, the codec must read the same attributes (those
//! it knows; the rest it skips) and so the same Route or Rule; where the codec refuses a
//! message, the crate must have refused it too. The codec may read what the crate
//! refused: a malformed attribute of a kind src/netlink never reads is skipped by its
//! length, and a route of another family than IPv4 and IPv6 is read as its header only.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netlink_packet_core::{Nla, Parseable, NLA_TYPE_MASK};
use netlink_packet_route::route as c;
use netlink_packet_route::rule as cr;
use wg_failsafe::netlink::codec::{
    AddressFamily, RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop, RuleAttribute,
    RuleHeader, RuleMessage,
};
use wg_failsafe::netlink::link::Links;
use wg_failsafe::netlink::route::Route;
use wg_failsafe::netlink::rule::Rule;

fn metric(m: &c::RouteMetric) -> Option<(u16, u32)> {
    use c::RouteMetric as M;
    let v = match m {
        M::Lock(v) | M::Mtu(v) | M::Window(v) | M::Rtt(v) | M::RttVar(v) | M::SsThresh(v) | M::Cwnd(v) => *v,
        M::Advmss(v) | M::Reordering(v) | M::Hoplimit(v) | M::InitCwnd(v) | M::Features(v) | M::RtoMin(v) => *v,
        M::InitRwnd(v) | M::QuickAck(v) | M::FastopenNoCookie(v) => *v,
        M::Other(nla) if nla.value_len() == 4 => {
            let mut b = [0u8; 4];
            nla.emit_value(&mut b);
            u32::from_ne_bytes(b)
        }
        _ => return None,
    };
    Some((m.kind(), v))
}

fn address(a: &c::RouteAddress) -> Option<RouteAddress> {
    match a {
        c::RouteAddress::Inet(ip) => Some(RouteAddress::Inet(*ip)),
        c::RouteAddress::Inet6(ip) => Some(RouteAddress::Inet6(*ip)),
        _ => None,
    }
}

fn attribute(a: &c::RouteAttribute) -> Option<RouteAttribute> {
    use c::RouteAttribute as A;
    Some(match a {
        A::Table(v) => RouteAttribute::Table(*v),
        A::Destination(x) => RouteAttribute::Destination(address(x)?),
        A::Source(x) => RouteAttribute::Source(address(x)?),
        A::Gateway(x) => RouteAttribute::Gateway(address(x)?),
        A::PrefSource(x) => RouteAttribute::PrefSource(address(x)?),
        A::Oif(v) => RouteAttribute::Oif(*v),
        A::Priority(v) => RouteAttribute::Priority(*v),
        A::Realm(r) => RouteAttribute::Realm((u32::from(r.source) << 16) | u32::from(r.destination)),
        A::NhId(v) => RouteAttribute::NhId(*v),
        A::Preference(p) => RouteAttribute::Preference(u8::from(*p)),
        A::Via(_) => RouteAttribute::Via,
        A::CacheInfo(ci) => RouteAttribute::CacheInfo(ci.expires),
        A::Metrics(ms) => RouteAttribute::Metrics(ms.iter().filter_map(metric).collect()),
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
                        .filter_map(attribute)
                        .collect(),
                })
                .collect(),
        ),
        _ => return None,
    })
}

fn route(m: &c::RouteMessage) -> RouteMessage {
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
        _ => m.attributes.iter().filter_map(attribute).collect(),
    };
    RouteMessage { header, attributes }
}

fn rule(m: &cr::RuleMessage) -> RuleMessage {
    use cr::RuleAttribute as A;
    let h = &m.header;
    let attribute = |a: &A| match a {
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
    };
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
        attributes: m.attributes.iter().map(attribute).collect(),
    }
}

/// The codec's FRA_IIFNAME as the crate reads it: without its terminating NUL.
fn without_nul(mut m: RuleMessage) -> RuleMessage {
    for a in &mut m.attributes {
        if let RuleAttribute::Iifname(name) = a {
            if name.last() == Some(&0) {
                name.pop();
            }
        }
    }
    m
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let links = Links::of(&[(1, "lo"), (2, "eth0"), (3, "eth1"), (4, "wg0")]);
    if which % 2 == 0 {
        match (RouteMessage::parse(body), c::RouteMessage::parse(body)) {
            (Ok(ours), Ok(theirs)) => {
                let theirs = route(&theirs);
                assert_eq!(ours, theirs);
                assert_eq!(Route::from_message(&ours, &links), Route::from_message(&theirs, &links));
            }
            (Err(e), Ok(_)) => panic!("the codec refuses a route message the crate read: {e}"),
            _ => {}
        }
    } else {
        match (RuleMessage::parse(body), cr::RuleMessage::parse(body)) {
            (Ok(ours), Ok(theirs)) => {
                let (ours, theirs) = (without_nul(ours), rule(&theirs));
                assert_eq!(ours, theirs);
                assert_eq!(Rule::from_message(&ours), Rule::from_message(&theirs));
            }
            (Err(e), Ok(_)) => panic!("the codec refuses a rule message the crate read: {e}"),
            _ => {}
        }
    }
});
