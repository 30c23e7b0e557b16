//! rtnetlink datagrams as a dump or an announcement brings them: every route read from
//! the kernel survives the snapshot's text and the message that puts it back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wg_failsafe::netlink::events::announcements;
use wg_failsafe::netlink::link::{Addr, Links};
use wg_failsafe::netlink::route::{self, Route};
use wg_failsafe::netlink::rule::Rule;
use wg_failsafe::netlink::Body;

fuzz_target!(|data: &[u8]| {
    let links = Links::of(&[(1, "lo"), (2, "eth0"), (3, "eth1"), (4, "wg0"), (5, "pppoe0")]);
    let mut view: Vec<Route> = Vec::new();
    let _ = announcements(data, |ev| match &ev.msg.body {
        Body::Route(m) => {
            let Some(r) = Route::from_message(m, &links) else { return };
            let text = r.to_string();
            let back: Route = text.parse().unwrap_or_else(|e| panic!("`{text}` does not read back: {e}"));
            assert_eq!(back, r, "`{text}`");
            if let Ok(m2) = r.to_message(&links) {
                assert_eq!(Route::from_message(&m2, &links).as_ref(), Some(&r), "`{text}` as a message");
            }
            let _ = route::destination(m);
            route::apply_event(&mut view, ev.msg.kind, ev.flags, r);
        }
        Body::Rule(m) => {
            if let Some(r) = Rule::from_message(m) {
                let _ = r.to_string();
                let _ = r.to_message();
                let _ = r.to_delete_message();
            }
        }
        Body::Addr(a) => {
            let _ = Addr::from_message(a);
        }
        _ => {}
    });
});
