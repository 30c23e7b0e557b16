//! A userspace WireGuard's answer to `get=1`, whole and as the streaming reader keeps
//! it for the VPS: the two agree on the VPS peer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use wg_failsafe::wireguard::{select_peer, uapi, Collector, Wanted};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (tun, vps) = (Ipv4Addr::new(10, 11, 0, 1), Ipv4Addr::new(198, 51, 100, 10));
    let Ok(all) = uapi::parse_get(text) else { return };
    let mut c = Collector::new(Some(Wanted { peer_ip: tun, endpoint: vps, key: None }));
    let mut p = uapi::GetParser::new(&mut c);
    for line in text.lines().take_while(|l| !l.is_empty()) {
        p.line(line).expect("parse_get read it");
    }
    p.finish().expect("parse_get read it");
    let kept = c.finish();
    assert_eq!(kept.total, all.total);
    let key = |ps| select_peer(ps, tun, vps).map(|p| p.public_key);
    assert_eq!(key(&kept), key(&all), "the streaming reader picked another peer");
});
