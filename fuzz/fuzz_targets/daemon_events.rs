//! The daemon's view kept in step with rtnetlink announcements (issue 20), over two
//! datagrams (the input's first two bytes say where the first ends): each announcement
//! taken in with `View::take`, the very update `Daemon::read_events` makes, and checked for
//! what the daemon relies on: a link as announced after its announcement (one per index),
//! an announced route in the view after its RTM_NEWROUTE, at most one removed by an
//! RTM_DELROUTE, and no route twice in the view.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use wg_failsafe::daemon::view::{Taken, View};
use wg_failsafe::netlink::events::announcements;
use wg_failsafe::netlink::link::Links;
use wg_failsafe::netlink::Body;

// linux/rtnetlink.h (the fuzz workspace has no libc of its own).
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;

fuzz_target!(|data: &[u8]| {
    let endpoint = Ipv4Addr::new(198, 51, 100, 10);
    let links = Links::of(&[(1, "lo"), (2, "eth0"), (3, "eth1"), (4, "wg0"), (5, "pppoe0")]);
    let mut view = View { links, routes: Vec::new(), rules: Vec::new(), addrs: Vec::new() };
    // The first two bytes (little-endian) are the length of the first datagram, the rest
    // is the second (the daemon reads one at a time).
    let (at, rest) = match data {
        [a, b, rest @ ..] => ((u16::from_le_bytes([*a, *b]) as usize).min(rest.len()), rest),
        _ => return,
    };
    for datagram in [&rest[..at], &rest[at..]] {
        let _ = announcements(datagram, |ev| {
            let before = view.routes.len();
            match (view.take(&ev, endpoint), &ev.msg.body) {
                (Taken::Link { now, .. }, Body::Link(l)) => {
                    assert_eq!(view.links.by_index(l.index), now.as_ref(), "link {} after its announcement", l.index);
                }
                (Taken::Route(r), _) => match ev.msg.kind {
                    RTM_NEWROUTE => assert!(view.routes.contains(&r), "`{r}` not in the view after RTM_NEWROUTE"),
                    RTM_DELROUTE => assert!(view.routes.len() + 1 >= before, "RTM_DELROUTE removed more than one"),
                    _ => assert_eq!(view.routes.len(), before),
                },
                _ => assert_eq!(view.routes.len(), before, "only a route announcement changes the routes"),
            }
        });
        for (i, r) in view.routes.iter().enumerate() {
            assert!(!view.routes[i + 1..].contains(r), "`{r}` twice in the view");
        }
    }
});
