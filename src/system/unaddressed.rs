//! A tunnel whose interface has no IPv4 address (c8aa767): no target at activation, in
//! `run`'s and the daemon's round while active, and not taken for one on a view that lags
//! behind a re-created WG_IFACE.

use std::net::Ipv4Addr;

use super::lab::*;
use crate::failsafe::{self, Outcome};

/// main's defaults of ours (metric 40), in `ip` words.
fn ours_in_main(lab: &Lab) -> Vec<String> {
    let mine = |x: &crate::netlink::route::Route| x.is_default() && x.table == 254 && x.metric == 40 && !x.is_v6();
    lab.routes().iter().filter(|x| mine(x)).map(|x| x.to_string()).collect()
}

const BACKUP_DEFAULT: &str = "default via 192.168.2.1 dev eth1 table main proto static metric 40";

fn wg0_address() -> crate::netlink::link::Addr {
    crate::netlink::link::Addr { index: 0, local: Ipv4Addr::new(10, 11, 0, 2), peer: None, prefix_len: 24 }
}

/// A VPS that answers no echo (ICMP filtered), judged by its handshakes, which go on over
/// the backup whatever WG_IFACE's addresses: on the tunnel, then WG_IFACE loses its IPv4
/// address (a commit that re-creates it and gives it back late, or never).
fn silent_vps_on_the_tunnel(tag: &str) -> Lab {
    let mut lab = Lab::new(tag, "");
    lab.log = crate::log::Logger::new(lab.dir.join("log"), 64, true, false);
    lab.w().answers.remove(&("wg0".to_string(), PEER_IP));
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: crate::decide::Target::Tunnel, .. })));
    lab.w().address_lost("wg0", PEER_IP);
    lab.advance_s(10);
    lab
}

/// `run`'s round while active: WG_IFACE without its IPv4 address carries no IPv4, whatever
/// its handshakes say, so FALLBACK=backup takes the LAN straight out of the backup — said
/// so in the log and by `status` — and the tunnel takes it back once the address is back.
/// Before, the tunnel "worked" by its handshakes, the kernel refused its default at every
/// round (ENETUNREACH) and the LAN stayed on no default at all.
#[test]
fn a_tunnel_without_its_address_is_no_target_while_active_whatever_its_handshakes_say() {
    use crate::decide::Target;
    let lab = silent_vps_on_the_tunnel("no-addr-run");
    let out = lab.tick();
    assert!(matches!(out, Ok(Outcome::Active { target: Target::Backup, tunnel_ok: false, .. })), "{out:?}");
    assert_eq!(ours_in_main(&lab), [BACKUP_DEFAULT]);
    let log = std::fs::read_to_string(lab.dir.join("log")).expect("the log");
    assert!(
        log.contains("tunnel wg0 stopped working (wg0 has no IPv4 address): every table now goes straight out of eth1"),
        "{log}"
    );
    let status = crate::status::gather(&mut lab.sys().expect("sys")).expect("status").to_text();
    assert!(status.contains("tunnel:   wg0 down (") && status.contains("wg0 has no IPv4 address"), "{status}");
    // Still none: the tables stay on the backup, nothing fails.
    lab.advance_s(10);
    assert!(matches!(lab.tick(), Ok(Outcome::Active { target: Target::Backup, .. })));
    lab.w().address_back("wg0", wg0_address(), PEER_IP);
    lab.advance_s(10);
    let out = lab.tick();
    assert!(matches!(out, Ok(Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. })), "{out:?}");
    assert_eq!(ours_in_main(&lab), [format!("default via {PEER_IP} dev wg0 table main proto static metric 40")]);
}

/// The same under the daemon, whose round reads the addresses of its event-fed view (not
/// a dump of its own) and whose track cannot hear the silent VPS (`Echo(false)`).
#[test]
fn a_tunnel_without_its_address_is_no_target_in_the_daemons_round() {
    use crate::decide::Target;
    use crate::failsafe::{OthersSeen, Seen, TunnelSeen};
    let lab = silent_vps_on_the_tunnel("no-addr-daemon");
    let daemon_round = || {
        let mut sys = lab.sys().expect("a process");
        let (routes, rules) = (sys.routes().expect("routes"), sys.rules().expect("rules"));
        let view_addrs = lab.w().addrs.clone();
        let obs = sys.observed(routes, rules, view_addrs).expect("observed");
        let primary = sys.primary_round(&obs).expect("the primary's round");
        let passed = primary.is_ok();
        let seen =
            Seen { primary, round_passed: Some(passed), tunnel: TunnelSeen::Echo(false), others: OthersSeen::ProbeNow };
        failsafe::round(&mut sys, &obs, seen).parts().0
    };
    let out = daemon_round();
    assert!(matches!(out, Ok(Outcome::Active { target: Target::Backup, tunnel_ok: false, .. })), "{out:?}");
    assert_eq!(ours_in_main(&lab), [BACKUP_DEFAULT]);
    lab.w().address_back("wg0", wg0_address(), PEER_IP);
    lab.advance_s(1);
    let out = daemon_round();
    assert!(matches!(out, Ok(Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. })), "{out:?}");
}

/// Activation: a WG_IFACE re-created by a commit whose address comes late is not proven
/// (its handshakes prove nothing it could carry): FALLBACK=backup takes the LAN at once,
/// instead of failing at step 5 at every tick with the LAN on the dead primary, and the
/// tunnel takes it once the address is there. With FALLBACK=none every table stays as it was.
#[test]
fn a_tunnel_without_its_address_is_not_proven_at_activation() {
    use crate::decide::Target;
    let mut lab = Lab::new("no-addr-act", "");
    lab.log = crate::log::Logger::new(lab.dir.join("log"), 64, true, false);
    lab.w().address_lost("wg0", PEER_IP);
    healthy_then_down(&lab);
    let out = lab.tick();
    assert!(matches!(out, Ok(Outcome::Activated { target: Target::Backup, .. })), "{out:?}");
    assert_eq!(ours_in_main(&lab), [BACKUP_DEFAULT]);
    let log = std::fs::read_to_string(lab.dir.join("log")).expect("the log");
    assert!(log.contains("interface wg0 has no IPv4 address: routing every table straight out of eth1"), "{log}");
    lab.w().address_back("wg0", wg0_address(), PEER_IP);
    lab.advance_s(60);
    let out = lab.tick();
    assert!(matches!(out, Ok(Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. })), "{out:?}");

    let lab = Lab::new("no-addr-act-none", "FALLBACK=none\n");
    lab.w().address_lost("wg0", PEER_IP);
    let before = lab.routes();
    healthy_then_down(&lab);
    assert!(lab.tick().is_err(), "FALLBACK=none: the tunnel cannot come up");
    assert_eq!(lab.routes(), before, "every table as it was");
}

/// A review found it: the daemon's round judges WG_IFACE's link from a dump made when the
/// round opens the system, but its addresses from the event-fed view, which has not yet
/// read the announcements of a commit that re-created wg0 with its address a moment ago
/// (RTM_DELLINK, RTM_NEWLINK, RTM_NEWADDR still queued): the view holds the address under
/// the old index. The tunnel has its address — the kernel takes its default — so the LAN
/// must stay on it, not fall back (flows reset, hook, public address changed) for one
/// round on a snapshot mismatch and come back later.
#[test]
fn a_re_created_tunnel_with_its_address_is_not_taken_for_unaddressed_by_a_view_that_lags() {
    use crate::decide::Target;
    use crate::failsafe::{OthersSeen, Seen, TunnelSeen};
    let lab = Lab::new("no-addr-lag", "");
    healthy_then_down(&lab);
    assert!(matches!(lab.tick(), Ok(Outcome::Activated { target: Target::Tunnel, .. })));
    let view_addrs = lab.w().addrs.clone();
    {
        // The commit: wg0 deleted (its routes and address go with it) and re-created
        // under a new index with its address.
        let mut w = lab.w();
        let old = w.links.iter().find(|l| l.name == "wg0").map(|l| l.index).expect("wg0");
        let new = w.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
        w.routes.retain(|r| r.is_v6() || !r.devices().any(|d| d == "wg0"));
        for l in w.links.iter_mut().filter(|l| l.name == "wg0") {
            l.index = new;
        }
        for a in w.addrs.iter_mut().filter(|a| a.index == old) {
            a.index = new;
        }
    }
    lab.advance_s(1);
    let mut sys = lab.sys().expect("a process");
    let (routes, rules) = (sys.routes().expect("routes"), sys.rules().expect("rules"));
    let obs = sys.observed(routes, rules, view_addrs).expect("observed");
    let primary = sys.primary_round(&obs).expect("the primary's round");
    let passed = primary.is_ok();
    let seen =
        Seen { primary, round_passed: Some(passed), tunnel: TunnelSeen::Echo(true), others: OthersSeen::ProbeNow };
    let out = failsafe::round(&mut sys, &obs, seen).parts().0;
    drop(sys);
    assert!(matches!(out, Ok(Outcome::Active { target: Target::Tunnel, tunnel_ok: true, .. })), "{out:?}");
    assert_eq!(ours_in_main(&lab), [format!("default via {PEER_IP} dev wg0 table main proto static metric 40")]);
}
