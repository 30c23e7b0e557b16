//! LAN_SUBNET6 and WG_PEER_IP6 of `init`, from the router's live IPv6 addresses: EdgeOS's
//! LAN prefix usually comes from DHCPv6 prefix delegation, so config.boot does not hold
//! it. [`derive_v6`] is pure (the addresses are read by `init::run` through the netlink
//! address dump, and handed in); a router without them, or without netlink, gets both
//! keys written commented out with the reason. A device's IPv6 addresses are used only
//! when it also holds the IPv4 address the configuration gives it: `--config-boot` of
//! another router, read on a machine with a `switch0` or a `wg0` of its own, takes
//! nothing from that machine.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};

use super::Derived;
use crate::net::Prefix;

/// One address (either family) of this machine, by device name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAddr {
    pub dev: String,
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// Whether the kernel gives `a` global scope: it sets an IPv6 address's scope from its
/// type alone, and everything but link-local (fe80::/10), site-local (fec0::/10),
/// loopback, multicast and unspecified is global (unique local fc00::/7 too).
fn global(a: &Ipv6Addr) -> bool {
    let first = a.segments()[0];
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0)
}

/// The global IPv6 addresses of `dev` that name a prefix (not a /128), with their lengths.
fn usable<'a>(live: &'a [LiveAddr], dev: &'a str) -> impl Iterator<Item = (Ipv6Addr, u8)> + 'a {
    live.iter().filter_map(move |a| match a.addr {
        IpAddr::V6(v6) if a.dev == dev && global(&v6) && a.prefix_len < 128 => Some((v6, a.prefix_len)),
        _ => None,
    })
}

/// Why `dev` of this machine is not the configuration's (it lacks every IPv4 address the
/// configuration gives it), if it is not.
fn not_the_router(d: &Derived, live: &[LiveAddr], dev: &str) -> Option<String> {
    let (mut first, mut held) = (None, false);
    for (_, want) in d.configured4.iter().filter(|(n, _)| n == dev) {
        first = first.or(Some(want));
        held |= live.iter().any(|a| a.dev == dev && a.addr == IpAddr::V4(*want));
    }
    let first = first?;
    (!held).then(|| format!("{dev} of this machine does not hold {first}, as the configuration's does"))
}

/// The other host of a /127, or of a /126 whose hosts are ::1 and ::2 (as a /30's).
fn other_host6(ours: Ipv6Addr, len: u8) -> Option<Ipv6Addr> {
    let a = u128::from(ours);
    let net = a & (u128::MAX << (128 - u32::from(len.clamp(1, 128))));
    match (len, a - net) {
        (127, 0) => Some(Ipv6Addr::from(net + 1)),
        (127, _) => Some(Ipv6Addr::from(net)),
        (126, 1) => Some(Ipv6Addr::from(net + 2)),
        (126, 2) => Some(Ipv6Addr::from(net + 1)),
        _ => None,
    }
}

/// LAN_SUBNET6 (the prefixes of the global addresses of the LAN interfaces [`derive`]
/// found, never a /128) and WG_PEER_IP6 (the other host of the WireGuard interface's
/// global /127 or /126, when its VPS peer routes ::/0) into `d`; `live` is the router's
/// addresses, or why they could not be read.
///
/// [`derive`]: super::derive
pub fn derive_v6(d: &mut Derived, live: Result<&[LiveAddr], String>) {
    let live = match live {
        Ok(l) => l,
        Err(why) => {
            d.lack_all(&["LAN_SUBNET6", "WG_PEER_IP6"], why);
            return;
        }
    };
    // Each prefix once, written `P1 P2` beside `the live address of DEV ADDR/LEN, …`.
    let (mut nets, mut list, mut from, mut why_not) = (Vec::new(), String::new(), String::new(), String::new());
    for dev in &d.lan_devs {
        if let Some(why) = not_the_router(d, live, dev) {
            let sep = if why_not.is_empty() { "" } else { "; " };
            let _ = write!(why_not, "{sep}{why}");
            continue;
        }
        for (addr, len) in usable(live, dev) {
            let Some(p) = Prefix::masked(IpAddr::V6(addr), len) else { continue };
            if !nets.contains(&p) {
                let (sep, from_sep) = if nets.is_empty() { ("", "the live address of ") } else { (" ", ", ") };
                nets.push(p);
                let _ = write!(list, "{sep}{}/{}", p.addr, p.len);
                let _ = write!(from, "{from_sep}{dev} {addr}/{len}");
            }
        }
    }
    if d.lan_devs.is_empty() {
        d.lack("LAN_SUBNET6", "no LAN interface was found");
    } else if !nets.is_empty() {
        d.set("LAN_SUBNET6", list, from);
    } else if !why_not.is_empty() {
        d.lack("LAN_SUBNET6", why_not);
    } else {
        let devs = d.lan_devs.join(", ");
        let why = format!("no global IPv6 address on {devs} now (a delegated prefix appears once the WAN hands one out): run init again then");
        d.lack("LAN_SUBNET6", why);
    }
    let Some(wg) = d.get("WG_IFACE").map(str::to_string) else {
        return d.lack("WG_PEER_IP6", "no WireGuard interface was chosen");
    };
    if d.vps_routes_v6 == Some(false) {
        return d
            .lack("WG_PEER_IP6", "the VPS peer's allowed-ips hold no ::/0: the tunnel cannot carry the LAN's IPv6");
    }
    if let Some(why) = not_the_router(d, live, &wg) {
        return d.lack("WG_PEER_IP6", why);
    }
    let first = usable(live, &wg).next();
    let named = usable(live, &wg).find_map(|(a, l)| Some((a, l, other_host6(a, l)?)));
    match (named, first) {
        (Some((a, l, other)), _) => {
            d.set("WG_PEER_IP6", other.to_string(), format!("the live address {a}/{l} of {wg}: the other host of the /{l}"))
        }
        (None, None) => d.lack("WG_PEER_IP6", format!("{wg} has no global IPv6 address now")),
        (None, Some((a, l))) => d.lack(
            "WG_PEER_IP6",
            format!("{wg} has {a}/{l}, which does not name one other host: set WG_PEER_IP6 to the VPS's address on the tunnel"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn live(dev: &str, a: &str, len: u8) -> LiveAddr {
        LiveAddr { dev: dev.into(), addr: a.parse().expect("address"), prefix_len: len }
    }

    /// What derive found: these LAN interfaces, wg0 (when `wg`), and the IPv4 addresses
    /// the configuration gives them.
    fn derived(lans: &[&str], wg: bool, vps_routes_v6: Option<bool>) -> Derived {
        let configured4 = [("switch0", [192, 168, 10, 1]), ("switch0.30", [192, 168, 30, 1]), ("wg0", [10, 11, 0, 2])];
        let mut d = Derived {
            lan_devs: lans.iter().map(|s| s.to_string()).collect(),
            configured4: configured4.iter().map(|(n, a)| (n.to_string(), Ipv4Addr::from(*a))).collect(),
            vps_routes_v6,
            ..Derived::default()
        };
        if wg {
            d.set("WG_IFACE", "wg0", "test");
        }
        d
    }

    /// The router's IPv4 addresses, as the configuration gives them.
    fn router4() -> Vec<LiveAddr> {
        vec![live("switch0", "192.168.10.1", 24), live("switch0.30", "192.168.30.1", 24), live("wg0", "10.11.0.2", 30)]
    }

    fn why(d: &Derived, key: &str) -> String {
        d.missing.iter().find(|(k, _)| *k == key).map(|(_, w)| w.clone()).unwrap_or_default()
    }

    #[test]
    fn global_lan_prefixes_and_the_tunnel_peer() {
        let mut addrs = router4();
        addrs.extend([
            live("switch0", "fe80::1", 64),
            live("switch0", "2001:db8:10:1::1", 64),
            live("switch0", "2001:db8:10:1::2", 64),
            live("switch0.30", "fd00:30::1", 64),
            live("switch0.30", "2001:db8:10:30::5", 128),
            live("eth0", "2001:db8:ffff::2", 64),
            live("wg0", "fe80::5", 64),
            live("wg0", "fd00:12::2", 64),
            live("wg0", "fd00:11::2", 126),
        ]);
        let mut d = derived(&["switch0", "switch0.30"], true, Some(true));
        derive_v6(&mut d, Ok(&addrs));
        assert_eq!(d.get("LAN_SUBNET6"), Some("2001:db8:10:1::/64 fd00:30::/64"), "{d:?}");
        let from = d.values.iter().find(|(k, _, _)| *k == "LAN_SUBNET6").map(|(_, _, f)| f.as_str());
        assert_eq!(from, Some("the live address of switch0 2001:db8:10:1::1/64, switch0.30 fd00:30::1/64"));
        assert_eq!(d.get("WG_PEER_IP6"), Some("fd00:11::1"), "the address that names one other host");
        let required = "WG_PEER_IP=10.11.0.1\nWG_ENDPOINT=203.0.113.10\nPRIMARY_DEV=eth0\nPRIMARY_GW=auto\nBACKUP_DEV=eth1\nBACKUP_GW=auto\nLAN_SUBNET=192.168.10.0/24\n";
        let text = format!("{required}{}", d.to_text("t"));
        let c = crate::config::parse(std::path::Path::new("/t.conf"), &text).expect("the tool accepts it");
        assert_eq!(c.lan_subnets6.len(), 2);
        assert_eq!(c.wg_peer_ip6, Some("fd00:11::1".parse().expect("ipv6")));
    }

    #[test]
    fn what_cannot_be_derived_says_why() {
        // No global address yet (the prefix is not delegated), a /64 on the tunnel.
        let mut addrs = router4();
        addrs.extend([live("switch0", "fe80::1", 64), live("wg0", "fd00:11::2", 64)]);
        let mut d = derived(&["switch0"], true, Some(true));
        derive_v6(&mut d, Ok(&addrs));
        assert_eq!((d.get("LAN_SUBNET6"), d.get("WG_PEER_IP6")), (None, None));
        assert!(why(&d, "LAN_SUBNET6").starts_with("no global IPv6 address on switch0 now"), "{d:?}");
        assert!(why(&d, "WG_PEER_IP6").starts_with("wg0 has fd00:11::2/64, which does not name one other host"));
        // The VPS peer does not route ::/0.
        let mut addrs = router4();
        addrs.push(live("wg0", "fd00:11::2", 127));
        let mut d = derived(&["switch0"], true, Some(false));
        derive_v6(&mut d, Ok(&addrs));
        assert_eq!(d.get("WG_PEER_IP6"), None);
        assert!(why(&d, "WG_PEER_IP6").contains("no ::/0"), "{d:?}");
        // Netlink unavailable: both said, nothing set.
        let mut d = derived(&["switch0"], true, Some(true));
        derive_v6(&mut d, Err("the router's addresses could not be read: denied".into()));
        assert!(d.values.len() == 1 && d.missing.len() == 2, "{d:?}");
    }

    #[test]
    fn another_machine_s_addresses_are_not_the_router_s() {
        // --config-boot of a router, read on a machine with a switch0 and a wg0 of its own.
        let addrs = [
            live("switch0", "10.0.0.1", 24),
            live("switch0", "2001:db8:99::1", 64),
            live("wg0", "10.99.0.1", 24),
            live("wg0", "fd00:99::2", 127),
        ];
        let mut d = derived(&["switch0"], true, Some(true));
        derive_v6(&mut d, Ok(&addrs));
        assert_eq!((d.get("LAN_SUBNET6"), d.get("WG_PEER_IP6")), (None, None), "{d:?}");
        assert_eq!(
            why(&d, "LAN_SUBNET6"),
            "switch0 of this machine does not hold 192.168.10.1, as the configuration's does"
        );
        assert_eq!(why(&d, "WG_PEER_IP6"), "wg0 of this machine does not hold 10.11.0.2, as the configuration's does");
        let mut d = derived(&["switch0", "switch0.30"], false, None);
        derive_v6(&mut d, Ok(&addrs));
        assert_eq!(
            why(&d, "LAN_SUBNET6"),
            "switch0 of this machine does not hold 192.168.10.1, as the configuration's does; \
             switch0.30 of this machine does not hold 192.168.30.1, as the configuration's does"
        );
        // An interface the configuration gives no IPv4 address (--wg-iface of one it
        // lacks) is taken as it is.
        let mut d = derived(&[], true, None);
        d.configured4.clear();
        derive_v6(&mut d, Ok(&addrs));
        assert_eq!(d.get("WG_PEER_IP6"), Some("fd00:99::3"));
    }

    #[test]
    fn the_other_host_of_small_ipv6_prefixes() {
        let ip = |s: &str| s.parse::<Ipv6Addr>().expect("ipv6");
        assert_eq!(other_host6(ip("fd00::2"), 127), Some(ip("fd00::3")));
        assert_eq!(other_host6(ip("fd00::3"), 127), Some(ip("fd00::2")));
        assert_eq!(other_host6(ip("fd00::1"), 126), Some(ip("fd00::2")));
        assert_eq!(other_host6(ip("fd00::6"), 126), Some(ip("fd00::5")));
        assert_eq!(other_host6(ip("fd00::7"), 126), None);
        assert_eq!(other_host6(ip("fd00::1"), 64), None);
        assert!(!global(&ip("fe80::1")) && !global(&ip("::1")) && !global(&ip("ff02::1")));
        assert!(global(&ip("2001:db8::1")) && global(&ip("fd00::1")));
    }
}
