//! The daemon's view kept in step with rtnetlink announcements (issue 20): links taken in
//! and dropped with `Links::apply` as `Daemon::read_events` does (a name kept from before
//! when the announcement has none), routes read against the links of that moment,
//! filtered by `system::wanted_route` and applied with `route::apply_event`, over two
//! datagrams (the input's first two bytes say where the first ends). `read_events` is a
//! method of the daemon, not reachable from the library, so this repeats its view update
//! (a copy: keep it in step) over the public pieces it is made of, and checks what the
//! daemon relies on: a link as announced after its announcement (one per index), an
//! announced route in the view after its RTM_NEWROUTE, at most one removed by an
//! RTM_DELROUTE, and no route twice in the view.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use wg_failsafe::netlink::events::announcements;
use wg_failsafe::netlink::link::{Link, Links};
use wg_failsafe::netlink::route::{self, Route};
use wg_failsafe::netlink::Body;
use wg_failsafe::system::wanted_route;

// linux/rtnetlink.h (the fuzz workspace has no libc of its own).
const RTM_DELLINK: u16 = 17;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;

fuzz_target!(|data: &[u8]| {
    let endpoint = Ipv4Addr::new(198, 51, 100, 10);
    let mut links = Links::of(&[(1, "lo"), (2, "eth0"), (3, "eth1"), (4, "wg0"), (5, "pppoe0")]);
    let mut routes: Vec<Route> = Vec::new();
    // The first two bytes (little-endian) are the length of the first datagram, the rest
    // is the second (the daemon reads one at a time).
    let (at, rest) = match data {
        [a, b, rest @ ..] => ((u16::from_le_bytes([*a, *b]) as usize).min(rest.len()), rest),
        _ => return,
    };
    for datagram in [&rest[..at], &rest[at..]] {
        let _ = announcements(datagram, |ev| {
            let kind = ev.msg.kind;
            match ev.msg.body {
                Body::Link(l) => {
                    let was = links.by_index(l.index).cloned();
                    let gone = kind == RTM_DELLINK;
                    let now = (!gone).then(|| Link {
                        index: l.index,
                        name: l.name.clone().or_else(|| was.as_ref().map(|w| w.name.clone())).unwrap_or_default(),
                        admin_up: l.flags & 0x1 != 0,
                        lower_up: l.flags & 0x1_0000 != 0,
                        point_to_point: l.flags & (0x10 | 0x80) != 0,
                    });
                    links.apply(l.index, now.clone());
                    assert_eq!(links.by_index(l.index), now.as_ref(), "link {} after its announcement", l.index);
                }
                Body::Route(m) if wanted_route(&m, endpoint) => {
                    let Some(r) = Route::from_message(&m, &links) else { return };
                    let before = routes.len();
                    route::apply_event(&mut routes, kind, ev.flags, r.clone());
                    match kind {
                        RTM_NEWROUTE => assert!(routes.contains(&r), "`{r}` not in the view after RTM_NEWROUTE"),
                        RTM_DELROUTE => assert!(routes.len() + 1 >= before, "RTM_DELROUTE removed more than one"),
                        _ => assert_eq!(routes.len(), before),
                    }
                }
                _ => {}
            }
        });
        for (i, r) in routes.iter().enumerate() {
            assert!(!routes[i + 1..].contains(r), "`{r}` twice in the view");
        }
    }
});
