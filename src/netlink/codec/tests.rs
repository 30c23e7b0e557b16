//! The hand codec against netlink-packet-route, which wrote and read these messages
//! before: every request the tool sends is compared byte for byte with the crate's
//! emission of the same message, and every fixture (the golden bytes of route.rs and
//! rule.rs, kernel replies, the requests themselves), cut short and with each byte
//! changed, is read by both. Where the crate reads a message, the codec reads the same
//! one; where the codec refuses one, so did the crate. (The codec reads more: an
//! attribute of a kind src/netlink never reads is skipped by its length, where the
//! crate refused some malformed ones.)

use super::*;
use crate::netlink::golden::{emitted, hex};
use crate::netlink::link::Links;
use crate::netlink::route::Route;
use crate::netlink::rule::Rule;
use netlink_packet_route::route as c;
use netlink_packet_route::rule as cr;

mod map;
use map::*;

// ---------------------------------------------------------------------------------------
// Writing

fn links() -> Links {
    Links::of(&[(1, "lo"), (2, "eth0"), (3, "eth1"), (7, "wg0"), (300, "pppoe0")])
}

/// Every kind of route the tool writes: both families, tables below and above 255,
/// metrics, gateways, devices, preferred sources, realms, multipath, nhid, preference,
/// reject types.
const ROUTES: [&str; 16] = [
    "default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
    "default via 192.168.1.1 dev eth0 table main proto zebra metric 100",
    "default dev eth0 table main proto boot scope link",
    "198.51.100.10 via 192.168.2.1 dev eth1 table main proto static metric 190",
    "default via 192.168.1.1 dev pppoe0 table 1000 proto dhcp src 192.168.1.2 metric 5 onlink mtu 1492 advmss 1452",
    "unreachable default table 10 proto boot metric 4278198272",
    "blackhole 10.0.0.0/8 table main proto 99",
    "default tos 0x10 via 192.168.1.1 dev eth0 table main proto static realm 65538",
    "default table 202 proto static metric 7 nexthop via 192.168.1.1 dev eth0 weight 1 realm 3 nexthop via 192.168.2.1 dev eth1 weight 256 onlink",
    "default table 100000 proto static metric 7 nhid 12",
    "::/0 via fd00:11::1 dev wg0 table 201 proto static metric 40",
    "unreachable ::/0 table 201 proto static metric 40",
    "unreachable ::/0 table 70000 proto static metric 40 mtu 1280",
    "::/0 via fe80::1 dev eth0 table 202 proto ra metric 1024 pref high",
    "::/0 table 203 proto static metric 7 nexthop via fe80::1 dev eth0 weight 1 nexthop via fd00:11::1 dev wg0 weight 3",
    "2001:db8::/32 via fe80::1 dev eth0 table 5000 proto static src 2001:db8::2 metric 1024 hoplimit 64",
];

/// Every kind of rule the tool writes: both families, tables below and above 255,
/// sources, destinations, fwmarks with and without a mask, goto, refusals, suppressors.
const RULES: [&str; 12] = [
    "priority 69 from 192.168.10.0/24 lookup main",
    "priority 69 fwmark 0x65 lookup main",
    "priority 69 fwmark 0x100/0xf00 lookup main",
    "priority 101 fwmark 0x65 lookup 201",
    "priority 7 from 10.0.0.0/8 lookup 100000",
    "priority 69 to 198.51.100.10/32 lookup main",
    "priority 69 from 192.168.10.50/32 goto 100",
    "priority 69 from 192.168.10.50/32 unreachable",
    "priority 69 from 2001:db8:10::/64 fwmark 0x200 prohibit",
    "priority 69 from ::/0 fwmark 0x200/0xff00 lookup 70000",
    "priority 69 from 192.168.10.50/32 lookup main suppress_prefixlength 0",
    "priority 69 from 2001:db8:10::/64 to 2001:db8:20::/64 lookup main suppress_prefixlength 0",
];

fn route_requests() -> Vec<RouteMessage> {
    let mut out = Vec::new();
    for text in ROUTES {
        let r: Route = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        out.push(r.to_message(&links()).expect("devices exist"));
        out.push(r.delete_message(&links()).expect("devices exist"));
    }
    out
}

fn rule_requests() -> Vec<RuleMessage> {
    let mut out = Vec::new();
    for text in RULES {
        let r: Rule = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        out.push(r.to_message());
        out.push(r.to_delete_message());
    }
    out
}

#[test]
fn every_route_request_is_what_the_crate_emitted() {
    // (Exclusive, Append and Replace differ only in the nlmsghdr's flags, which
    // netlink-packet-core writes as before.)
    let requests = route_requests();
    assert!(requests.iter().any(|m| m.attributes.iter().any(|a| matches!(a, RouteAttribute::NhId(_)))));
    for m in requests {
        assert_eq!(emitted(&m), emitted(&route_to(&m)), "{m:?}");
    }
}

#[test]
fn every_rule_request_is_what_the_crate_emitted() {
    for m in rule_requests() {
        assert_eq!(emitted(&m), emitted(&rule_to(&m)), "{m:?}");
    }
    // A rule the tool did not write, with each attribute kind the codec knows.
    let mut m = Rule::from_fwmark(true, 5, 1, 3, 300).to_delete_message();
    m.header.tos = 4;
    m.header.flags = 2;
    m.attributes.extend([
        RuleAttribute::Iifname(b"eth0\0".to_vec()),
        RuleAttribute::SuppressIfGroup(u32::MAX),
        RuleAttribute::Protocol(4),
        RuleAttribute::Other(18),
    ]);
    assert_eq!(emitted(&m), emitted(&rule_to(&m)));
}

// ---------------------------------------------------------------------------------------
// Reading

/// The route fixtures: route.rs's golden bytes and kernel replies with the attributes a
/// dump carries (RTA_TABLE, RTA_CACHEINFO, RTA_PREF, RTA_UID, RTA_MARK, a string metric).
fn route_fixtures() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        "02000000 c9040001 00000000 08000600 28000000 08000500 0a0b0001 08000400 03000000",
        "02200000 fe040001 00000000 08000100 c633640a 08000600 be000000 08000500 c0a80101 08000400 02000000",
        "02000000 00100001 04000000 08000f00 e8030000 08000600 05000000 08000700 c0a80102 08000500 c0a80101 \
         08000400 02000000 0c000800 08000200 d4050000",
        "02000000 00040001 00000000 08000f00 ea030000 08000600 07000000 24000900 10000000 02000000 08000500 \
         c0a80101 10000402 03000000 08000500 0a0b0001",
        "0a000000 c9040001 00000000 14000100 00000000 00000000 00000000 00000000 08000600 28000000 \
         14000500 fd000011 00000000 00000000 00000001 08000400 02000000",
        "0a000000 c9040007 00000000 14000100 00000000 00000000 00000000 00000000 08000600 28000000",
        "0a000000 ca090001 00000000 14000100 00000000 00000000 00000000 00000000 08000600 00040000 \
         14000500 fe800000 00000000 00000000 00000001 05001400 01000000 08000400 03000000",
        "0a000000 cb040001 00000000 14000100 00000000 00000000 00000000 00000000 08000600 07000000 \
         3c000900 1c000000 03000000 14000500 fe800000 00000000 00000000 00000001 \
         1c000002 02000000 14000500 fd000011 00000000 00000000 00000001",
        // The kernel's reply of an IPv6 unreachable default (route.rs), its lifetime set.
        "0a000000 c9040007 00000000 08000f00 c9000000 08000600 32000000 08000400 01000000 \
         24000c00 00000000 00000000 10000000 00000000 00000000 00000000 00000000 00000000 \
         05001400 00000000",
        // A dump's IPv4 default: RTA_TABLE, RTA_UID, RTA_MARK, a flagged RTA_METRICS with
        // RTAX_CC_ALGO "cubic" and an unknown metric 18, RTA_FLOW, RTA_NH_ID, RTA_SRC.
        "02000820 fe030001 00000000 08000f00 fe000000 08001900 00000000 08001000 65000000 \
         20000880 0a001000 63756269 63000000 08001200 07000000 08000a00 40000000 \
         08000b00 00010002 08001e00 0c000000 08000200 0a000000",
        // IPv4 defaults through an IPv6 next hop (RTA_VIA inet6 fe80::1, kernels 5.2+): alone,
        // and as a multipath route's only hop.
        "02000000 fe030001 00000000 16001200 0a00fe80 00000000 00000000 00000000 00010000 08000400 02000000",
        "02000000 fe030001 00000000 24000900 20000000 02000000 16001200 0a00fe80 00000000 00000000 \
         00000000 00010000",
        // A route of another family (AF_MPLS, 28) and an empty one.
        "1c140000 fe030001 00000000 08000100 00001100",
        "02000000 00000000 00000000",
    ]
    .iter()
    .map(|h| hex(h))
    .collect();
    out.extend(route_requests().iter().map(emitted));
    out
}

/// The rule fixtures: rule.rs's golden bytes and a dump's rule with the attributes every
/// kernel sends (FRA_PROTOCOL, both suppressors unset) and FRA_IIFNAME.
fn rule_fixtures() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        "02001800 fe000001 00000000 08000200 c0a80a00 08000600 46000000",
        "02002000 fe000001 00000000 08000200 c0a80a32 08000600 46000000 08000e00 00000000",
        "0a008000 fe000001 00000000 14000200 20010db8 00100000 00000000 00000050 08000600 46000000 \
         08000e00 00000000",
        "02002000 00000002 00000000 08000200 c0a80a32 08000600 46000000 08000400 64000000",
        "02000000 fe000001 00000000 08000a00 00010000 08001000 000f0000 08000600 46000000",
        "02000000 fe000001 00000000 08000a00 65000000 08001000 ffffffff 08000600 46000000",
        "02200000 fe000001 00000000 08000100 c633640a 08000600 46000000",
        "02000800 00000001 00000000 08000200 0a000000 08000600 07000000 08000f00 a0860100",
        "0a004000 fe000001 00000000 14000200 20010db8 00100000 00000000 00000000 08000600 46000000",
        "02000000 fe000001 02000000 05001500 04000000 08000600 65000000 08000f00 fe000000 \
         08000d00 ffffffff 08000e00 ffffffff 09000300 65746830 00000000 08000b00 00010002",
    ]
    .iter()
    .map(|h| hex(h))
    .collect();
    out.extend(rule_requests().iter().map(emitted));
    out
}

/// The fixture, every prefix of it, and it with each byte changed twice over.
fn variants(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (0..=bytes.len()).map(|n| bytes[..n].to_vec()).collect();
    for i in 0..bytes.len() {
        for x in [0x01, 0xff] {
            let mut b = bytes.to_vec();
            b[i] ^= x;
            out.push(b);
        }
    }
    out
}

/// Both readers of one route message: where the crate reads it, the codec reads the
/// same message and route; where the codec refuses it, so did the crate.
pub(crate) fn same_route_reading(bytes: &[u8]) -> bool {
    let ours = RouteMessage::parse(bytes);
    let theirs = c::RouteMessage::parse(bytes).map(|m| route_from(&m));
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "{bytes:02x?}");
            assert_eq!(Route::from_message(a, &links()), Route::from_message(b, &links()));
            true
        }
        (Err(_), Err(_)) => true,
        (Ok(_), Err(_)) => false,
        (Err(e), Ok(_)) => panic!("the codec refuses what the crate read ({e}): {bytes:02x?}"),
    }
}

pub(crate) fn same_rule_reading(bytes: &[u8]) -> bool {
    let ours = RuleMessage::parse(bytes).map(without_nul);
    let theirs = cr::RuleMessage::parse(bytes).map(|m| rule_from(&m));
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "{bytes:02x?}");
            assert_eq!(Rule::from_message(a), Rule::from_message(b));
            true
        }
        (Err(_), Err(_)) => true,
        (Ok(_), Err(_)) => false,
        (Err(e), Ok(_)) => panic!("the codec refuses what the crate read ({e}): {bytes:02x?}"),
    }
}

#[test]
fn route_fixtures_read_as_the_crate_read_them() {
    let (mut same, mut lenient) = (0, 0);
    for f in route_fixtures() {
        assert!(RouteMessage::parse(&f).is_ok(), "{f:02x?}");
        for v in variants(&f) {
            if same_route_reading(&v) {
                same += 1;
            } else {
                lenient += 1;
            }
        }
    }
    // Some changed bytes make an attribute the codec skips malformed for the crate.
    assert!(same > 10 * lenient && lenient > 0, "{same} {lenient}");
}

#[test]
fn rule_fixtures_read_as_the_crate_read_them() {
    let (mut same, mut lenient) = (0, 0);
    for f in rule_fixtures() {
        assert!(RuleMessage::parse(&f).is_ok(), "{f:02x?}");
        for v in variants(&f) {
            if same_rule_reading(&v) {
                same += 1;
            } else {
                lenient += 1;
            }
        }
    }
    assert!(same > 10 * lenient, "{same} {lenient}");
}

/// `ip route add default via inet6 fe80::1 dev eth0`: a route this tool cannot put back
/// (its next hop is of another family) is not read as a route at all — never as the
/// on-link `default dev eth0` that failback would otherwise restore in its place.
#[test]
fn an_ipv4_route_through_an_ipv6_next_hop_is_no_route_the_tool_reads() {
    for f in &route_fixtures()[10..12] {
        let m = RouteMessage::parse(f).expect("parses");
        assert!(m.attributes.iter().any(|a| match a {
            RouteAttribute::Via => true,
            RouteAttribute::MultiPath(hops) => hops[0].attributes.contains(&RouteAttribute::Via),
            _ => false,
        }));
        assert_eq!(Route::from_message(&m, &links()), None, "{f:02x?}");
    }
}

#[test]
fn the_dump_fixture_reads_every_attribute_src_netlink_uses() {
    let m = RouteMessage::parse(&route_fixtures()[9]).expect("parses");
    assert_eq!(
        m.attributes,
        [
            RouteAttribute::Table(254),
            RouteAttribute::Metrics(vec![(18, 7), (10, 64)]),
            RouteAttribute::Realm(0x0200_0100),
            RouteAttribute::NhId(12),
            RouteAttribute::Source(RouteAddress::Inet([10, 0, 0, 0].into())),
        ]
    );
    let rule = RuleMessage::parse(&rule_fixtures()[9]).expect("parses");
    let r = Rule::from_message(&rule).expect("IPv4");
    assert!(r.other && r.suppress_prefixlen.is_none() && r.priority == 0x65);
}
