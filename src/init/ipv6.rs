//! LAN_SUBNET6 and WG_PEER_IP6 of `init`, from the router's live IPv6 addresses: EdgeOS's
//! LAN prefix usually comes from DHCPv6 prefix delegation, so config.boot does not hold
//! it. [`derive_v6`] is pure (the addresses are read by `init::run` through the netlink
//! address dump, and handed in); a router without them, or without netlink, gets both
//! keys written commented out with the reason.

use std::net::{IpAddr, Ipv6Addr};

use super::Derived;
use crate::net::Prefix;

/// One IPv6 address of the router, by device name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAddr6 {
    pub dev: String,
    pub addr: Ipv6Addr,
    pub prefix_len: u8,
}

/// Whether the kernel gives `a` global scope: it sets an IPv6 address's scope from its
/// type alone, and everything but link-local (fe80::/10), site-local (fec0::/10),
/// loopback, multicast and unspecified is global (unique local fc00::/7 too).
fn global(a: &Ipv6Addr) -> bool {
    let first = a.segments()[0];
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0)
}

/// The global addresses of `dev` that name a prefix (not a /128).
fn usable<'a>(live: &'a [LiveAddr6], dev: &'a str) -> impl Iterator<Item = &'a LiveAddr6> + 'a {
    live.iter().filter(move |a| a.dev == dev && global(&a.addr) && a.prefix_len < 128)
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
pub fn derive_v6(d: &mut Derived, live: Result<&[LiveAddr6], String>) {
    let live = match live {
        Ok(l) => l,
        Err(why) => {
            d.lack("LAN_SUBNET6", why.clone());
            d.lack("WG_PEER_IP6", why);
            return;
        }
    };
    let (mut nets, mut from): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for dev in &d.lan_devs {
        for a in usable(live, dev) {
            let Some(p) = Prefix::masked(IpAddr::V6(a.addr), a.prefix_len) else { continue };
            let net = format!("{}/{}", p.addr, p.len);
            if !nets.contains(&net) {
                nets.push(net);
                from.push(format!("{dev} {}/{}", a.addr, a.prefix_len));
            }
        }
    }
    match (nets.is_empty(), d.lan_devs.is_empty()) {
        (_, true) => d.lack("LAN_SUBNET6", "no LAN interface was found"),
        (true, false) => d.lack(
            "LAN_SUBNET6",
            format!(
                "no global IPv6 address on {} now (a delegated prefix appears once the WAN hands one out): run init again then",
                d.lan_devs.join(", ")
            ),
        ),
        (false, false) => d.set("LAN_SUBNET6", nets.join(" "), format!("the live address of {}", from.join(", "))),
    }
    let Some(wg) = d.get("WG_IFACE").map(str::to_string) else {
        return d.lack("WG_PEER_IP6", "no WireGuard interface was chosen");
    };
    if d.vps_routes_v6 == Some(false) {
        return d
            .lack("WG_PEER_IP6", "the VPS peer's allowed-ips hold no ::/0: the tunnel cannot carry the LAN's IPv6");
    }
    let first = usable(live, &wg).next().cloned();
    match first {
        None => d.lack("WG_PEER_IP6", format!("{wg} has no global IPv6 address now")),
        Some(a) => match other_host6(a.addr, a.prefix_len) {
            Some(other) => d.set(
                "WG_PEER_IP6",
                other.to_string(),
                format!("the live address {}/{} of {wg}: the other host of the /{}", a.addr, a.prefix_len, a.prefix_len),
            ),
            None => d.lack(
                "WG_PEER_IP6",
                format!(
                    "{wg} has {}/{}, which does not name one other host: set WG_PEER_IP6 to the VPS's address on the tunnel",
                    a.addr, a.prefix_len
                ),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(dev: &str, a: &str, len: u8) -> LiveAddr6 {
        LiveAddr6 { dev: dev.into(), addr: a.parse().expect("ipv6"), prefix_len: len }
    }

    fn derived(lans: &[&str], wg: Option<&str>, vps_routes_v6: Option<bool>) -> Derived {
        let mut d =
            Derived { lan_devs: lans.iter().map(|s| s.to_string()).collect(), vps_routes_v6, ..Derived::default() };
        if let Some(w) = wg {
            d.set("WG_IFACE", w, "test");
        }
        d
    }

    #[test]
    fn global_lan_prefixes_and_the_tunnel_peer() {
        let addrs = [
            live("switch0", "fe80::1", 64),
            live("switch0", "2001:db8:10:1::1", 64),
            live("switch0", "2001:db8:10:1::2", 64),
            live("switch0.30", "fd00:30::1", 64),
            live("switch0.30", "2001:db8:10:30::5", 128),
            live("eth0", "2001:db8:ffff::2", 64),
            live("wg0", "fe80::5", 64),
            live("wg0", "fd00:11::2", 126),
        ];
        let mut d = derived(&["switch0", "switch0.30"], Some("wg0"), Some(true));
        derive_v6(&mut d, Ok(&addrs));
        assert_eq!(d.get("LAN_SUBNET6"), Some("2001:db8:10:1::/64 fd00:30::/64"), "{d:?}");
        assert_eq!(d.get("WG_PEER_IP6"), Some("fd00:11::1"));
        let required = "WG_PEER_IP=10.11.0.1\nWG_ENDPOINT=203.0.113.10\nPRIMARY_DEV=eth0\nPRIMARY_GW=auto\nBACKUP_DEV=eth1\nBACKUP_GW=auto\nLAN_SUBNET=192.168.10.0/24\n";
        let text = format!("{required}{}", d.to_text("t"));
        let c = crate::config::parse(std::path::Path::new("/t.conf"), &text).expect("the tool accepts it");
        assert_eq!(c.lan_subnets6.len(), 2);
    }

    #[test]
    fn what_cannot_be_derived_says_why() {
        // No global address yet (the prefix is not delegated), a /64 on the tunnel.
        let addrs = [live("switch0", "fe80::1", 64), live("wg0", "fd00:11::2", 64)];
        let mut d = derived(&["switch0"], Some("wg0"), Some(true));
        derive_v6(&mut d, Ok(&addrs));
        assert_eq!(d.get("LAN_SUBNET6"), None);
        let why: Vec<&str> = d.missing.iter().map(|(_, w)| w.as_str()).collect();
        assert!(why[0].starts_with("no global IPv6 address on switch0 now"), "{why:?}");
        assert!(why[1].starts_with("wg0 has fd00:11::2/64, which does not name one other host"), "{why:?}");
        // The VPS peer does not route ::/0.
        let addrs = [live("wg0", "fd00:11::2", 127)];
        let mut d = derived(&["switch0"], Some("wg0"), Some(false));
        derive_v6(&mut d, Ok(&addrs));
        assert_eq!(d.get("WG_PEER_IP6"), None);
        assert!(d.missing.iter().any(|(k, w)| *k == "WG_PEER_IP6" && w.contains("no ::/0")), "{:?}", d.missing);
        // Netlink unavailable: both said, nothing set.
        let mut d = derived(&["switch0"], Some("wg0"), Some(true));
        derive_v6(&mut d, Err("the router's addresses could not be read: denied".into()));
        assert!(d.values.len() == 1 && d.missing.len() == 2, "{d:?}");
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
