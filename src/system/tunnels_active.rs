//! Several tunnels while active over the recording fake: a dead tunnel replaced by the
//! next that answers and taken back after its wait, a switch between tunnels stopped at
//! any step, the daemon's rounds of the tunnels not in use, and the outage's bytes at
//! every switch.

use super::fake::World;
use super::lab::*;
use super::tunnels::{back_exactly, carried_by, two_tunnels, vps_answers, ENDPOINT2, KEY2, PEER_IP2};
use super::OthersDue;
use crate::decide::Target;
use crate::failsafe::{OthersSeen, Outcome, Seen, TunnelSeen};
use crate::netlink::link::{Addr, Link};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The LAN on the first tunnel (both VPSs answer), then the first VPS goes silent.
fn on_first_then_first_silent(tag: &str) -> (Lab, Vec<crate::wireguard::Peer>) {
    let lab = two_tunnels(tag, "");
    let peers = lab.w().peers.clone();
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Tunnel, .. })));
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    lab.advance_s(10);
    (lab, peers)
}

#[test]
fn a_dead_tunnel_is_replaced_by_the_next_that_answers_and_the_first_taken_back_after_the_wait() {
    let (lab, peers) = on_first_then_first_silent("two-switch");
    let (out, told) = lab.tick_told();
    assert!(matches!(out, Ok(Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. })), "{out:?}");
    carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
    assert_eq!(told, ["tunnel-restored [201, 202, 254]"]);
    let events = lab.sys().expect("sys").events();
    assert_eq!(events.last().expect("an event").reason, "tunnel wg1 works over eth1: every table moved to it from wg0");
    // Rounds on the second, the first still silent: nothing moves.
    for _ in 0..3 {
        lab.advance_s(10);
        assert!(matches!(lab.tick(), Ok(Outcome::Active { tunnel_ok: true, .. })));
        carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
    }
    // The first answers again: the LAN stays on the second for UP_AFTER_S (60 s) of
    // answered probes, a lost one restarting the wait; then it moves back.
    vps_answers(&lab, "wg0", KEY, PEER_IP, true);
    for (after_s, answers) in [(0, true), (30, true), (10, false), (10, true), (55, true)] {
        lab.advance_s(after_s);
        vps_answers(&lab, "wg0", KEY, PEER_IP, answers);
        assert!(lab.tick().is_ok());
        carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
    }
    lab.advance_s(6);
    let (out, told) = lab.tick_told();
    assert!(matches!(out, Ok(Outcome::Active { tunnel_ok: true, .. })), "{out:?}");
    carried_by(&lab, "via 10.11.0.1 dev wg0", &[ENDPOINT, ENDPOINT2]);
    assert_eq!(told, ["tunnel-restored [201, 202, 254]"]);
    let record = std::fs::read_to_string(lab.dir.join("state")).expect("the record");
    assert!(!record.contains("tunnel="), "{record}");
    back_exactly(&lab, &peers, "switched and back");
}

/// The outage's bytes over the tunnels are counted together, so its failback names every
/// tunnel, not the first alone (the LAN left the first for the second here).
#[test]
fn a_failback_from_the_second_tunnel_names_both_in_its_bytes() {
    let (lab, _) = on_first_then_first_silent("two-failback");
    assert!(matches!(lab.tick(), Ok(Outcome::Active { tunnel_ok: true, .. })));
    carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
    lab.primary_carrier(true);
    for _ in 0..8 {
        lab.advance_s(10);
        let _ = lab.tick();
    }
    let events = lab.sys().expect("sys").events();
    let done = events.iter().rfind(|e| e.event == "deactivated").expect("a failback");
    assert!(done.reason.contains(" via wg0, wg1, "), "{}", done.reason);
}

#[test]
fn from_the_backup_the_lan_goes_to_whichever_tunnel_answers_first_in_order() {
    let lab = two_tunnels("two-from-backup", "");
    let peers = lab.w().peers.clone();
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    vps_answers(&lab, "wg1", KEY2, PEER_IP2, false);
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Backup, .. })));
    // The second answers: the LAN moves to it at once (a dead target waits for nothing).
    vps_answers(&lab, "wg1", KEY2, PEER_IP2, true);
    lab.advance_s(10);
    let (out, told) = lab.tick_told();
    assert!(matches!(out, Ok(Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. })), "{out:?}");
    carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
    assert_eq!(told, ["tunnel-restored [201, 202, 254]"]);
    back_exactly(&lab, &peers, "from the backup");
}

#[test]
fn with_one_tunnel_the_round_while_active_writes_no_line_of_the_others() {
    let lab = Lab::new("one-others", "");
    healthy_then_down(&lab);
    lab.tick().expect("activation");
    tunnel_works(&lab, false);
    lab.advance_s(200);
    assert!(matches!(lab.tick(), Ok(Outcome::Active { target: Target::Backup, .. })));
    let record = std::fs::read_to_string(lab.dir.join("state")).expect("the record");
    assert!(!record.contains("others_") && !record.contains("tunnel="), "{record}");
}

#[test]
fn a_switch_between_tunnels_stopped_at_any_step_converges() {
    for n in 0.. {
        let (lab, peers) = on_first_then_first_silent(&format!("two-sw-stop-{n}"));
        lab.kill_after(n);
        let _ = lab.tick();
        if !lab.revive() {
            assert!(n > 5, "{n} steps");
            return;
        }
        lab.settle(4);
        carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
        back_exactly(&lab, &peers, &format!("switch stopped at {n}"));
    }
}

#[test]
fn every_state_file_lost_while_the_second_tunnel_carries_the_lan_still_restores() {
    let lab = two_tunnels("two-lost", "");
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Tunnel, .. })));
    for file in ["state", "journal", "snapshot"] {
        std::fs::remove_file(lab.dir.join(file)).expect("a state file, lost");
    }
    lab.primary_carrier(true);
    lab.settle(3);
    // The shapes of both tunnels are the failsafe's: none of them is left, main has its
    // primary default back (the snapshot's exact routes are lost with it).
    let now: Vec<String> = lab.routes().iter().map(|x| x.to_string()).collect();
    for gone in ["dev wg1", "dev wg0", "203.0.113.10 via", "198.51.100.20 via"] {
        assert!(!now.iter().any(|l| l.contains(gone)), "{gone} left: {now:?}");
    }
    assert!(now.iter().any(|l| l.starts_with("default via 192.168.1.1 dev eth0")), "{now:?}");
    assert!(!lab.rules().iter().any(|r| r.priority == 69), "{:?}", lab.rules());
    assert_eq!(lab.w().violations, Vec::<String>::new());
}

/// One round as the daemon runs it: the tunnel in use as its track says (`in_use_works`),
/// the other tunnels' echoes as `others`. What it came to, what it told (`event tables`),
/// the echoes it handed over, and the echoes it sent itself.
fn daemon_round(lab: &Lab, in_use_works: bool, others: OthersSeen) -> (Outcome, Vec<String>, Option<OthersDue>) {
    let before = lab.w().requests.len();
    let mut sys = lab.sys().expect("a process");
    let obs = sys.observe().expect("observed");
    let primary = sys.primary_round(&obs).expect("the primary's round");
    let seen = Seen { primary, round_passed: Some(false), tunnel: TunnelSeen::Echo(in_use_works), others };
    let (out, notices) = crate::failsafe::round(&mut sys, &obs, seen).parts();
    let due = sys.take_others_due();
    drop(sys);
    let echoes: Vec<String> = lab.w().requests[before..].iter().filter(|q| q.starts_with("echo")).cloned().collect();
    assert_eq!(echoes, Vec::<String>::new(), "the round itself sends no echo");
    let told = notices.iter().map(|n| format!("{} {:?}", n.event, n.tables)).collect();
    (out.expect("the round"), told, due)
}

/// Under the daemon a round never waits for the other tunnels' echoes (issue 16 item 5):
/// it brings the next tunnel up as `run` does (route, link, peer) and hands its echo to the
/// driver; while that echo is out the LAN stays where it is (not judged, as a fresh track:
/// no fallback and back), and the round that has the answer moves it, as `run` would.
#[test]
fn under_the_daemon_the_other_tunnels_echoes_are_left_to_it_and_judged_when_in() {
    let (lab, peers) = on_first_then_first_silent("two-beside");
    let clock = lab.w().boottime_ms;
    let beside = |answers: Vec<(usize, bool)>, pending| OthersSeen::Beside { answers, pending };
    // The tunnel in use judged dead: wg1 brought up, its echo handed over, the LAN kept.
    let (out, told, due) = daemon_round(&lab, false, beside(vec![], false));
    assert!(matches!(out, Outcome::Active { target: Target::Tunnel, .. }), "{out:?}");
    assert_eq!(due, Some(OthersDue { tunnels: vec![1], until_one: true }));
    assert_eq!(told, Vec::<String>::new());
    carried_by(&lab, "via 10.11.0.1 dev wg0", &[ENDPOINT, ENDPOINT2]);
    // Rounds while it is out: nothing moves, nothing is asked again.
    let (out, told, due) = daemon_round(&lab, false, beside(vec![], true));
    assert!(matches!(out, Outcome::Active { target: Target::Tunnel, .. }) && told.is_empty() && due.is_none());
    carried_by(&lab, "via 10.11.0.1 dev wg0", &[ENDPOINT, ENDPOINT2]);
    assert_eq!(lab.w().boottime_ms, clock, "no round waited");
    // Its answer in: the LAN moves to wg1 at once.
    let (out, told, due) = daemon_round(&lab, false, beside(vec![(1, true)], false));
    assert!(matches!(out, Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. }), "{out:?}");
    assert_eq!((told, due), (vec!["tunnel-restored [201, 202, 254]".to_string()], None));
    carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
    // On wg1, the first is watched: its echo handed over when due, the LAN never held.
    lab.advance_s(6);
    let (out, told, due) = daemon_round(&lab, true, beside(vec![], false));
    assert!(matches!(out, Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. }) && told.is_empty());
    assert_eq!(due, Some(OthersDue { tunnels: vec![0], until_one: false }));
    back_exactly(&lab, &peers, "under the daemon");
}

/// Under the daemon, no other tunnel answering: the LAN goes to the backup once the answers
/// are in, not before.
#[test]
fn under_the_daemon_no_other_tunnel_answering_sends_the_lan_to_the_backup_when_the_answers_are_in() {
    let (lab, peers) = on_first_then_first_silent("two-beside-none");
    let beside = |answers: Vec<(usize, bool)>, pending| OthersSeen::Beside { answers, pending };
    let (_, told, due) = daemon_round(&lab, false, beside(vec![], false));
    assert!(told.is_empty() && due.is_some());
    let (out, told, _) = daemon_round(&lab, false, beside(vec![(1, false)], false));
    assert!(matches!(out, Outcome::Active { target: Target::Backup, .. }), "{out:?}");
    assert_eq!(told, ["fallback [201, 202, 254]"]);
    carried_by(&lab, "via 192.168.2.1 dev eth1", &[ENDPOINT, ENDPOINT2]);
    back_exactly(&lab, &peers, "under the daemon, to the backup");
}

/// wg0 deleted (a commit) while it carries the LAN, wg1 answering: the round that hands
/// the LAN to wg1 also moves every table onto it, so no table is left without a default
/// (the round's door asks about the interface it acts on, after the switch).
#[test]
fn a_deleted_interface_in_use_hands_every_table_to_the_next_in_the_same_round() {
    let lab = two_tunnels("wg0-gone-in-use", "");
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Tunnel, .. })));
    {
        let mut w = lab.w();
        w.set_link("wg0", false, false);
        w.links.retain(|l| l.name != "wg0");
    }
    lab.advance_s(10);
    let out = lab.tick();
    assert!(matches!(out, Ok(Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. })), "{out:?}");
    carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
}

/// The outage's bytes straight out of the backup, read last at a round's start, are
/// counted up to the switch when the LAN leaves the backup — as with one tunnel
/// (`an_outage_counts_its_bytes_on_the_backup_and_over_the_tunnel`) — also when it is
/// another tunnel than the one in use that takes it (an audit found them lost: the switch
/// cleared the base before the backup's last reading).
#[test]
fn bytes_on_the_backup_are_counted_when_another_tunnel_takes_the_lan_from_it() {
    use crate::traffic::Bytes;
    let lab = two_tunnels("bytes-other", "");
    let set_backup = |rx| lab.w().link_bytes = vec![(3, Bytes { rx, tx: 0 })];
    set_backup(7_000_000);
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    vps_answers(&lab, "wg1", KEY2, PEER_IP2, false);
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Backup, .. })));
    let base = lab.sys().expect("sys").record().traffic.base;
    assert!(base.is_some_and(|b| b.of == Target::Backup), "activation read the backup: {base:?}");
    // 2 MB straight out of eth1; then wg1 answers, under the daemon (whose rounds read the
    // counters every READ_EVERY_S only).
    set_backup(9_000_000);
    lab.advance_s(5);
    vps_answers(&lab, "wg1", KEY2, PEER_IP2, true);
    let beside = |answers: Vec<(usize, bool)>, pending| OthersSeen::Beside { answers, pending };
    let (out, told, _) = daemon_round(&lab, false, beside(vec![(1, true)], false));
    assert!(matches!(out, Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. }), "{out:?}");
    assert_eq!(told, ["tunnel-restored [201, 202, 254]"]);
    let t = lab.sys().expect("sys").record().traffic;
    assert_eq!(t.backup, Bytes { rx: 2_000_000, tx: 0 }, "the backup's bytes up to the switch: {t:?}");
}

/// The same with one tunnel: counted (the control for the test above).
#[test]
fn bytes_on_the_backup_are_counted_when_the_one_tunnel_takes_the_lan_from_it() {
    use crate::traffic::Bytes;
    let lab = Lab::new("bytes-one", "");
    let set_backup = |rx| lab.w().link_bytes = vec![(3, Bytes { rx, tx: 0 })];
    set_backup(7_000_000);
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Backup, .. })));
    set_backup(9_000_000);
    lab.advance_s(5);
    vps_answers(&lab, "wg0", KEY, PEER_IP, true);
    let (out, told, _) = daemon_round(&lab, true, OthersSeen::ProbeNow);
    assert!(matches!(out, Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. }), "{out:?}");
    assert_eq!(told, ["tunnel-restored [201, 202, 254]"]);
    let t = lab.sys().expect("sys").record().traffic;
    assert_eq!(t.backup, Bytes { rx: 2_000_000, tx: 0 }, "{t:?}");
}

/// The LAN moved from wg0 to wg1: what wg1 carries from the switch on is the outage's
/// (and, over the metered backup, the budget's), counted as from a switch to the one
/// tunnel — not only from the reading after next (an audit found them lost).
#[test]
fn bytes_over_the_tunnel_taken_over_are_counted_from_the_switch() {
    use crate::traffic::{Bytes, READ_EVERY_S};
    let (lab, _) = on_first_then_first_silent("bytes-switch");
    let set_wg1 = |rx| lab.w().peers[1].rx_bytes = rx;
    set_wg1(1_000);
    let (out, told) = lab.tick_told();
    assert!(matches!(out, Ok(Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. })), "{out:?}");
    assert_eq!(told, ["tunnel-restored [201, 202, 254]"]);
    // 3 MB through wg1 before the next reading, 1 MB before the one after.
    set_wg1(3_001_000);
    lab.advance_s(READ_EVERY_S);
    lab.tick().expect("active");
    set_wg1(4_001_000);
    lab.advance_s(READ_EVERY_S);
    lab.tick().expect("active");
    let t = lab.sys().expect("sys").record().traffic;
    assert_eq!(t.tunnel, Bytes { rx: 4_000_000, tx: 0 }, "{t:?}");
}

/// A review found it: the LAN moved back to wg0 after it passed the wait on wg1; later wg0
/// fails again and wg1 takes the LAN. wg0 answering one probe after that must not take the
/// LAN back at once: it has passed one probe, not UP_AFTER_S of them (README: "a VPS that
/// comes and goes never moves the LAN back and forth").
#[test]
fn a_tunnel_taken_back_once_waits_again_after_it_fails_again() {
    let (lab, _) = on_first_then_first_silent("stale-clock");
    assert!(lab.tick().is_ok());
    carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
    // wg0 answers for the wait: the LAN goes back to it.
    vps_answers(&lab, "wg0", KEY, PEER_IP, true);
    for _ in 0..8 {
        lab.advance_s(10);
        assert!(lab.tick().is_ok());
    }
    carried_by(&lab, "via 10.11.0.1 dev wg0", &[ENDPOINT, ENDPOINT2]);
    // Ten minutes later wg0 fails again: wg1 takes the LAN.
    lab.advance_s(600);
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    let (out, told) = lab.tick_told();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(told, ["tunnel-restored [201, 202, 254]"]);
    carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
    // wg0 answers its first probe since: the LAN stays on wg1.
    vps_answers(&lab, "wg0", KEY, PEER_IP, true);
    lab.advance_s(10);
    let (out, told) = lab.tick_told();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(told, Vec::<String>::new(), "wg0 passed one probe only");
    carried_by(&lab, "via 10.12.0.1 dev wg1", &[ENDPOINT, ENDPOINT2]);
}

/// A review found it: three tunnels under the daemon, the LAN on wg1 (wg0 silent since the
/// activation). wg1's round hands over wg0's echo (the earlier one, watched); before its
/// answer is in, wg1 dies. The answer comes: wg0 silent. wg2 — which works and was never
/// asked — must be asked before the LAN goes straight out of the backup (as `run`'s round
/// asks every other tunnel, in order, until one answers).
#[test]
fn under_the_daemon_a_stale_answer_does_not_send_the_lan_to_the_backup_before_the_third_is_asked() {
    let three = "WG_IFACE=wg0 wg1 wg2\nWG_PEER_IP=10.11.0.1 10.12.0.1 10.13.0.1\nWG_ENDPOINT=203.0.113.10 198.51.100.20 192.0.2.30\n";
    let lab = Lab::new("three-beside", three);
    {
        let mut w = lab.w();
        w.links.push(Link { point_to_point: false, ..Link::up(6, "wg1") });
        w.addrs.push(Addr { index: 6, local: Ipv4Addr::new(10, 12, 0, 2), peer: None, prefix_len: 24 });
        w.peers.push(World::vps_peer(KEY2, Some(SocketAddr::from((ENDPOINT2, 51820))), IpAddr::V4(PEER_IP2)));
        w.answers.insert(("wg1".to_string(), PEER_IP2));
        w.links.push(Link { point_to_point: false, ..Link::up(7, "wg2") });
        w.addrs.push(Addr { index: 7, local: Ipv4Addr::new(10, 13, 0, 2), peer: None, prefix_len: 24 });
        let ip3 = Ipv4Addr::new(10, 13, 0, 1);
        w.peers.push(World::vps_peer([11; 32], Some(SocketAddr::from(([192, 0, 2, 30], 51820))), IpAddr::V4(ip3)));
        w.answers.insert(("wg2".to_string(), ip3));
    }
    vps_answers(&lab, "wg0", KEY, PEER_IP, false);
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Tunnel, .. })));
    assert_eq!(lab.sys().expect("sys").tunnel_in_use(), 1, "wg1 carries the LAN");
    let beside = |answers: Vec<(usize, bool)>, pending| OthersSeen::Beside { answers, pending };
    // On wg1, wg0 (earlier) watched: its echo handed over.
    lab.advance_s(6);
    let (_, told, due) = daemon_round(&lab, true, beside(vec![], false));
    assert_eq!((told, due), (vec![], Some(OthersDue { tunnels: vec![0], until_one: false })));
    // wg1 dies while wg0's echo is out: nothing moves.
    vps_answers(&lab, "wg1", KEY2, PEER_IP2, false);
    let (out, told, _) = daemon_round(&lab, false, beside(vec![], true));
    assert!(matches!(out, Outcome::Active { target: Target::Tunnel, .. }) && told.is_empty(), "{out:?} {told:?}");
    // wg0's answer: silent. wg2 works and was never asked.
    let (out, told, due) = daemon_round(&lab, false, beside(vec![(0, false)], false));
    assert!(
        matches!(out, Outcome::Active { target: Target::Tunnel, .. }),
        "the LAN sent to the backup with wg2 never asked: {out:?}, told {told:?}, asked next {due:?}"
    );
}
