//! Several tunnels over the recording fake: activation proves them in order over the
//! backup, carries the LAN on the first proven (or straight out of the backup when none
//! is), and the failback takes back every tunnel's route, rule, link and peer exactly —
//! also when the activation is stopped after any of its steps.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::fake::World;
use super::lab::*;
use crate::decide::tests::rule;
use crate::decide::Target;
use crate::failsafe::Outcome;
use crate::netlink::link::{Addr, Link};

pub(super) const KEY2: [u8; 32] = [9; 32];
pub(super) const PEER_IP2: Ipv4Addr = Ipv4Addr::new(10, 12, 0, 1);
pub(super) const ENDPOINT2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
const TWO: &str = "WG_IFACE=wg0 wg1\nWG_PEER_IP=10.11.0.1 10.12.0.1\nWG_ENDPOINT=203.0.113.10 198.51.100.20\n";

/// The lab's router with a second tunnel, wg1, to a second VPS; both VPSs answer.
pub(super) fn two_tunnels(tag: &str, extra: &str) -> Lab {
    let lab = Lab::new(tag, &format!("{TWO}{extra}"));
    {
        let mut w = lab.w();
        w.links.push(Link { point_to_point: false, ..Link::up(6, "wg1") });
        w.addrs.push(Addr { index: 6, local: Ipv4Addr::new(10, 12, 0, 2), peer: None, prefix_len: 24 });
        w.peers.push(World::vps_peer(KEY2, Some(SocketAddr::from((ENDPOINT2, 51820))), IpAddr::V4(PEER_IP2)));
        w.answers.insert(("wg1".to_string(), PEER_IP2));
    }
    lab
}

/// The VPS behind `dev` (its peer's `key`, its tunnel address `ip`) answers, or its UDP
/// port is blocked on the backup path: no echo, no handshake.
pub(super) fn vps_answers(lab: &Lab, dev: &str, key: [u8; 32], ip: Ipv4Addr, answers: bool) {
    let mut w = lab.w();
    let pair = (dev.to_string(), ip);
    w.silent_vps.retain(|k| *k != key);
    if answers {
        w.answers.insert(pair);
    } else {
        w.answers.remove(&pair);
        w.silent_vps.push(key);
    }
}

/// Every table's winning default leaves through `via`; the route to each VPS in
/// `endpoints` goes through the backup.
pub(super) fn carried_by(lab: &Lab, via: &str, endpoints: &[Ipv4Addr]) {
    for table in [254, 201, 202] {
        let ours = format!(
            "default {via} table {} proto static metric 40",
            if table == 254 { "main".to_string() } else { table.to_string() }
        );
        assert!(lab.table(table).contains(&ours), "table {table}: {:?}", lab.table(table));
        let others = lab.table(table).iter().filter(|l| l.contains("metric 40")).count();
        assert_eq!(others, 1, "table {table} holds one default of ours: {:?}", lab.table(table));
    }
    for e in [ENDPOINT, ENDPOINT2] {
        let route = format!("{e} via 192.168.2.1 dev eth1 table main proto static metric 190");
        assert_eq!(lab.table(254).contains(&route), endpoints.contains(&e), "{e}: {:?}", lab.table(254));
    }
    assert_eq!(lab.w().violations, Vec::<String>::new());
}

/// The primary back for UP_AFTER_S: every table, rule, link and peer as it was.
pub(super) fn back_exactly(lab: &Lab, peers_before: &[crate::wireguard::Peer], what: &str) {
    lab.primary_carrier(true);
    lab.settle(2);
    lab.advance_s(61);
    lab.settle(3);
    let mut now: Vec<String> = lab.routes().iter().map(|x| x.to_string()).collect();
    let mut was = words(&ROUTES);
    now.sort();
    was.sort();
    assert_eq!(now, was, "{what}: the tables after failback");
    assert_eq!(lab.rules(), RULES.iter().map(|l| rule(l)).collect::<Vec<_>>(), "{what}: the rules");
    let settings = |p: &[crate::wireguard::Peer]| p.iter().map(|p| (p.endpoint, p.keepalive_s)).collect::<Vec<_>>();
    assert_eq!(settings(&lab.w().peers), settings(peers_before), "{what}: the peers' settings");
    let admin = lab.w().links.iter().map(|l| (l.name.clone(), l.admin_up)).collect::<Vec<_>>();
    assert!(admin.iter().all(|(_, up)| *up), "{what}: every link as it was (up): {admin:?}");
    assert_eq!(lab.w().violations, Vec::<String>::new(), "{what}");
}

#[test]
fn the_first_tunnel_proven_carries_the_lan_and_the_second_is_never_touched() {
    let lab = two_tunnels("two-first", "");
    let peers = lab.w().peers.clone();
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Tunnel, .. })));
    carried_by(&lab, "via 10.11.0.1 dev wg0", &[ENDPOINT]);
    assert!(!lab.w().requests.iter().any(|q| q.contains("wg1") || q.contains("198.51.100.20")), "wg1 untouched");
    let record = std::fs::read_to_string(lab.dir.join("state")).expect("the record");
    assert!(record.starts_with("mode=failsafe\n") && !record.contains("tunnel="), "{record}");
    back_exactly(&lab, &peers, "first");
}

#[test]
fn a_first_vps_that_does_not_answer_hands_the_lan_to_the_second() {
    let lab = two_tunnels("two-second", "");
    let peers = lab.w().peers.clone();
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    healthy_then_down(&lab);
    let (out, told) = lab.tick_told();
    assert!(matches!(out, Ok(Outcome::Activated { target: Target::Tunnel, .. })), "{out:?}");
    carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
    assert_eq!(told.len(), 1, "{told:?}");
    // The record says which tunnel carries the LAN; the next rounds keep it there.
    let record = std::fs::read_to_string(lab.dir.join("state")).expect("the record");
    assert!(record.ends_with("tunnel=wg1\n"), "{record}");
    lab.advance_s(30);
    assert!(matches!(lab.tick(), Ok(Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. })));
    carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
    back_exactly(&lab, &peers, "second");
}

#[test]
fn no_vps_answering_routes_the_lan_straight_out_of_the_backup() {
    let lab = two_tunnels("two-none", "");
    let peers = lab.w().peers.clone();
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    vps_answers(&lab, "wg1", KEY2, PEER_IP2, false);
    healthy_then_down(&lab);
    let out = lab.tick();
    assert!(matches!(out, Ok(Outcome::Activated { target: Target::Backup, .. })), "{out:?}");
    carried_by(&lab, "via 192.168.2.1 dev eth1", &[ENDPOINT, ENDPOINT2]);
    let events = lab.sys().expect("sys").events();
    let fallback = events.iter().find(|e| e.event == "fallback").expect("a fallback event");
    assert_eq!(fallback.reason, "no tunnel works (wg0, wg1) over eth1: tables via 192.168.2.1");
    back_exactly(&lab, &peers, "none");
}

#[test]
fn tunnel_wait_bounds_every_tunnel_together() {
    // Each tunnel may wait what is left, shared among those still to try: 10 s, then 10.
    let lab = two_tunnels("two-wait", "TUNNEL_WAIT=20\nFALLBACK=none\n");
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    vps_answers(&lab, "wg1", KEY2, PEER_IP2, false);
    healthy_then_down(&lab);
    let from_ms = lab.w().boottime_ms;
    let why = lab.tick().expect_err("no tunnel").to_string();
    let took_ms = lab.w().boottime_ms - from_ms;
    assert!((20_000..23_000).contains(&took_ms), "{took_ms} ms");
    // The first's last echo may overrun its share by its timeout: the second waits less.
    let (first, second) = why.split_once("; tunnel wg1 did not come up within ").expect("the second, after the first");
    assert!(first.starts_with("tunnel wg0 did not come up within 10 s: ") && second.starts_with("9 s: "), "{why}");
    original(&lab);
}

#[test]
fn with_fallback_none_and_no_vps_answering_every_table_stays_as_it_was() {
    let lab = two_tunnels("two-fallback-none", "FALLBACK=none\n");
    let peers = lab.w().peers.clone();
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    vps_answers(&lab, "wg1", KEY2, PEER_IP2, false);
    healthy_then_down(&lab);
    let out = lab.tick().expect_err("no tunnel proven");
    assert!(out.to_string().contains("wg0") && out.to_string().contains("wg1"), "both named: {out}");
    original(&lab);
    let settings = |p: &[crate::wireguard::Peer]| p.iter().map(|p| (p.endpoint, p.keepalive_s)).collect::<Vec<_>>();
    assert_eq!(settings(&lab.w().peers), settings(&peers), "each peer as it was");
}

#[test]
fn a_two_tunnel_activation_stopped_at_any_step_converges() {
    for n in 0.. {
        let lab = two_tunnels(&format!("two-stop-{n}"), "");
        let peers = lab.w().peers.clone();
        vps_answers(&lab, "wg0", KEY, PEER_IP, false);
        healthy_then_down(&lab);
        lab.kill_after(n);
        let _ = lab.tick();
        if !lab.revive() {
            assert!(n > 20, "{n} steps");
            return;
        }
        lab.settle(4);
        carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
        back_exactly(&lab, &peers, &format!("stop at {n}"));
    }
}

#[test]
fn status_and_the_hook_say_which_tunnel_carries_the_lan() {
    let lab = two_tunnels("two-told", "");
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    healthy_then_down(&lab);
    let mut sys = lab.sys().expect("a process");
    let (out, notices) = crate::failsafe::tick(&mut sys).parts();
    assert!(out.is_ok(), "{out:?}");
    let env: Vec<_> = notices.iter().flat_map(|n| n.environment()).filter(|(k, _)| *k == "WGF_TUNNEL").collect();
    assert_eq!(env, [("WGF_TUNNEL", "wg1".to_string())]);
    let st = crate::status::gather(&mut lab.sys().expect("a process")).expect("status");
    assert!(st.to_text().contains("tunnel:   wg1 up"), "{}", st.to_text());
    assert!(st.to_text().contains("tunnels:  wg0, wg1 (in order; wg1 carries the LAN)"), "{}", st.to_text());
    let json = st.to_json();
    assert!(json.contains("\"tunnel\":{\"iface\":\"wg1\"") && json.contains("\"tunnels\":[\"wg0\",\"wg1\"]"), "{json}");
    // Both gone: on the backup, WGF_TUNNEL empty, and status says no tunnel carries the LAN.
    drop(sys);
    vps_answers(&lab, "wg1", KEY2, PEER_IP2, false);
    lab.advance_s(200);
    let mut sys = lab.sys().expect("a process");
    let (_, notices) = crate::failsafe::tick(&mut sys).parts();
    let told: Vec<_> = notices.iter().map(|n| (n.event.clone(), n.tunnel.clone())).collect();
    assert_eq!(told, [("fallback".to_string(), Some(String::new()))]);
    drop(sys);
    let st = crate::status::gather(&mut lab.sys().expect("a process")).expect("status");
    assert!(st.to_text().contains("(in order; none carries the LAN)"), "{}", st.to_text());
}

#[test]
fn one_tunnel_sets_no_wgf_tunnel_and_status_lists_none() {
    let lab = Lab::new("one-told", "");
    healthy_then_down(&lab);
    let mut sys = lab.sys().expect("a process");
    let (_, notices) = crate::failsafe::tick(&mut sys).parts();
    let no_tunnel =
        |n: &crate::hook::Notice| n.tunnel.is_none() && n.environment().iter().all(|(k, _)| *k != "WGF_TUNNEL");
    assert!(!notices.is_empty() && notices.iter().all(no_tunnel));
    let st = crate::status::gather(&mut lab.sys().expect("a process")).expect("status");
    assert!(!st.to_text().contains("tunnels:") && !st.to_json().contains("\"tunnels\""));
}
