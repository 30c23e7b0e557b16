//! A model-based test over the recording fake: thousands of random sequences of what the
//! world does to a router (the primary's carrier lost and back, the load balancer
//! rewriting or failing over a table, a DHCP renewal with a new gateway, the primary's
//! device going down with its defaults and coming back, the tunnel dying and coming back,
//! time passing, the process killed at step N, a second instance refused by the lock),
//! with `run`'s ticks in between, checked after every step: no managed table is ever left
//! without a default by a request of the tool, no route or rule that is not the tool's is
//! ever deleted, nothing is duplicated, and once the primary is back for UP_AFTER_S every
//! table is what its owners installed (the ownership rule: their latest, nothing of the
//! outage's).
//!
//! The random source is a seeded xorshift, so a failure prints the seed and the events
//! that led to it; no dependency is needed.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::tests::{Lab, BACKUP_GW, PEER_IP, RULES};
use crate::config::Fallback;
use crate::decide::tests::{r, rule};
use crate::edgeos::LbInterface;
use crate::failsafe::{self, Seen, TunnelSeen};
use crate::lock::Lock;
use crate::model::Owned;
use crate::netlink::link::{Addr, Link};
use crate::netlink::route::Route;
use crate::state::State;

/// The user's own route through the primary: gone with its device, re-added with it.
const USER_ROUTE: &str = "203.0.113.0/24 via 192.168.1.1 dev eth0 table main proto static";

/// IPv6's defaults through the primary (dual-stack sequences), and its marked traffic's
/// rule, listed after IPv4's at the same priority.
const SIX_ROUTES: [&str; 2] = [
    "::/0 via fe80::1 dev eth0 table main proto static metric 1024",
    "::/0 via fe80::1 dev eth0 table 201 proto static metric 1024",
];
const SIX_RULE: &str = "priority 101 from ::/0 fwmark 0x65 lookup 201";

/// The primary's address, on its device of index `index`.
fn primary_addr(index: u32) -> Addr {
    Addr { index, local: Ipv4Addr::new(192, 168, 1, 2), peer: None, prefix_len: 24 }
}

/// TRACK_IPS' target, behind the primary's gateway.
const TRACK_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// The user's own rule at the LAN rules' priority (69).
const USER_RULE: &str = "priority 69 from 192.168.50.0/24 lookup 202";

/// xorshift64*: small, seeded, good enough to pick events.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// What the owners of the tables want, and the state of the world they live in.
struct Owners {
    /// IPv6 too: main and 201 leave through the primary, and follow onto the tunnel.
    dual: bool,
    gw: Ipv4Addr,
    backup_gw: Ipv4Addr,
    carrier: bool,
    device_up: bool,
}

impl Owners {
    /// The defaults the primary's owners (zebra for main, the load balancer for 201)
    /// install while the primary is up.
    fn primary_defaults(&self) -> Vec<Route> {
        let mut v = vec![
            r(&format!("default via {} dev eth0 table main proto zebra metric 100", self.gw)),
            r(&format!("default via {} dev eth0 table 201 proto static", self.gw)),
        ];
        if self.dual {
            v.extend(SIX_ROUTES.iter().map(|l| r(l)));
        }
        v
    }

    /// The defaults the backup's owners install: the user's in main, the load balancer's
    /// in 202.
    fn backup_defaults(&self) -> Vec<Route> {
        vec![
            r(&format!("default via {} dev eth1 table main proto static metric 300", self.backup_gw)),
            r(&format!("default via {} dev eth1 table 202 proto static", self.backup_gw)),
        ]
    }

    /// What the load balancer writes into 201: the primary while it has carrier, the
    /// backup while it has none.
    fn balanced_201(&self) -> Route {
        match self.carrier && self.device_up {
            true => self.primary_defaults()[1].clone(),
            false => r(&format!("default via {} dev eth1 table 201 proto static", self.backup_gw)),
        }
    }

    /// Every route the owners want, with the primary up: what failback must leave.
    fn intended(&self) -> Vec<String> {
        let mut v: Vec<String> = self.primary_defaults().iter().map(|x| x.to_string()).collect();
        v.extend(self.backup_defaults().iter().map(|x| x.to_string()));
        v.extend(
            [USER_ROUTE, "198.51.100.0/24 via 192.168.2.1 dev eth1 table 202 proto static"]
                .iter()
                .map(|l| r(l).to_string()),
        );
        v.sort();
        v
    }
}

fn sorted_routes(lab: &Lab) -> Vec<String> {
    let mut v: Vec<String> = lab.routes().iter().map(|x| x.to_string()).collect();
    v.sort();
    v
}

/// The invariants checked after every step.
/// `ticked`: a tick ran to its end and ended well (the world or a stop may take a default
/// that the tool puts back at its next tick; the tool's own requests never do, checked by
/// the fake).
/// `backup_gw`: the backup's gateway of the moment, once a tick ended well: then every
/// managed table's winning default is the tunnel's or goes through it.
fn check(lab: &Lab, saved: &mut Saved, trail: &[String], ticked: bool, backup_gw: Option<Ipv4Addr>) {
    let w = lab.w();
    assert!(w.violations.is_empty(), "{:#?}\nafter {trail:#?}", w.violations);
    // A route the tool deleted was its own then, or is one the snapshot holds (to come
    // back at failback, or listed as moved aside for good) or the journal lists, as they
    // stood before the step or stand after it: never lost unaccounted.
    let state = State::open_as_owner(&lab.cfg.state_dir);
    let snapshot = state.as_ref().map_err(|e| e.to_string()).and_then(|s| s.snapshot().map_err(|e| e.to_string()));
    let mut known: Vec<String> = Vec::new();
    if let Ok(Some(s)) = &snapshot {
        known.extend(s.routes.iter().chain(&s.aside).map(|x| x.to_string()));
    }
    if let Ok(journal) = state.as_ref().map_err(|e| e.to_string()).and_then(|s| s.journal().map_err(|e| e.to_string()))
    {
        known.extend(journal.iter().filter_map(|o| match o {
            Owned::Route(x) => Some(x.to_string()),
            _ => None,
        }));
    }
    for (gone, ours) in &w.deleted_routes[saved.checked..] {
        let text = gone.to_string();
        let accounted = saved.known.iter().chain(&known).any(|k| *k == text);
        assert!(*ours || accounted, "deleted `{gone}`: not the tool's, in no snapshot or journal\nafter {trail:#?}");
    }
    saved.checked = w.deleted_routes.len();
    saved.known = known;
    for (i, a) in w.routes.iter().enumerate() {
        for b in &w.routes[i + 1..] {
            assert!(!a.same_path(b), "`{a}` twice\nafter {trail:#?}");
            // The tool's defaults (metric 40): one per table once a tick is over (an IPv6
            // switch of kind adds the new one before it deletes the old: a stop between
            // leaves both, for the next tick to finish).
            assert!(!(ticked && a.metric == 40 && a.same_key(b)), "`{a}` and `{b}`\nafter {trail:#?}");
        }
    }
    for (i, a) in w.rules.iter().enumerate() {
        assert!(!w.rules[i + 1..].contains(a), "`{a}` twice\nafter {trail:#?}");
    }
    // On (a snapshot): after a tick, every table it manages has a default. Not with
    // FALLBACK=none while WG_IFACE is gone (with the tool's defaults): by design the
    // tables wait for the tunnel then.
    let waits = lab.cfg.fallback == Fallback::None && !w.links.iter().any(|l| l.name == "wg0");
    if !ticked || waits {
        return;
    }
    if let Ok(Some(snapshot)) = snapshot {
        for t in snapshot.tables.iter().chain([&254]) {
            let winner =
                w.routes.iter().filter(|x| x.is_default() && !x.is_v6() && x.table == *t).min_by_key(|x| x.metric);
            let Some(winner) = winner else { panic!("table {t} without a default\nafter {trail:#?}") };
            if let Some(gw) = backup_gw.filter(|_| winner.metric == 40) {
                let via = winner.gateway_via("eth1");
                let ok = winner.dev.as_deref() == Some("wg0") || via == Some(IpAddr::V4(gw));
                assert!(ok, "table {t} leaves by `{winner}`, the backup's gateway is {gw}\nafter {trail:#?}");
            }
        }
    }
}

/// What the snapshot and the journal held at the last check, and how many of the tool's
/// deletions were checked.
#[derive(Default)]
struct Saved {
    known: Vec<String>,
    checked: usize,
}

/// One random sequence of `steps` events; returns the steps run.
fn sequence(seed: u64, steps: usize) -> usize {
    let six = if seed % 2 == 1 { "LAN_SUBNET6=2001:db8:10::/64\nWG_PEER_IP6=fd00:11::1\n" } else { "" };
    // Every fourth sequence with FALLBACK=none, every fourth with TRACK_IPS behind the
    // gateway (the other half of them).
    let variant = match seed % 8 {
        2 | 3 => "FALLBACK=none\n",
        6 | 7 => "TRACK_IPS=198.18.0.1\n",
        _ => "",
    };
    let conf = format!("PRIMARY_GW=auto\nBACKUP_GW=auto\nPROBE_COUNT=1\n{six}{variant}");
    let lab = Lab::new(&format!("model-{seed}"), &conf);
    lab.w().answers.insert(("eth0".to_string(), TRACK_IP));
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let dual = seed % 2 == 1;
    let mut owners =
        Owners { dual, gw: Ipv4Addr::new(192, 168, 1, 1), backup_gw: BACKUP_GW, carrier: true, device_up: true };
    if dual {
        let mut w = lab.w();
        w.routes.extend(SIX_ROUTES.iter().map(|l| r(l)));
        w.rules.insert(2, rule(SIX_RULE));
    }
    let mut trail: Vec<String> = vec![format!("seed {seed}, dual stack: {}", seed % 2 == 1)];
    // A rule of the user's at the LAN rules' priority, listed before them: never taken
    // for one of ours.
    lab.w().rules.insert(1, rule(USER_RULE));
    lab.tick().expect("a healthy first tick");
    let mut traced = 0;
    let mut saved = Saved::default();
    for _ in 0..steps {
        let event = rng.below(19);
        let what = match event {
            0..=2 => {
                let out = lab.tick();
                format!("tick: {out:?}")
            }
            3 => {
                let n = rng.below(30) as usize;
                lab.kill_after(n);
                let out = lab.tick();
                lab.revive();
                format!("tick killed after {n} steps: {out:?}")
            }
            4 => {
                // The load balancer follows the carrier: 201 onto the backup at its loss
                // (now and then: its own probes may not have noticed yet), back onto the
                // primary at its return.
                owners.carrier = !owners.carrier;
                let follows = owners.carrier || rng.below(2) == 0;
                let mut w = lab.w();
                w.set_link("eth0", true, owners.carrier);
                if follows && owners.device_up {
                    w.owner_replace(owners.balanced_201());
                }
                format!("primary carrier {}, load balancer follows: {follows}", owners.carrier)
            }
            5 => {
                // The load balancer: 201 through the primary while it has carrier, failed
                // over to the backup while it has none.
                let route = owners.balanced_201();
                let said = format!("load balancer writes `{route}`");
                lab.w().owner_replace(route);
                said
            }
            6 => {
                // A DHCP renewal with a new gateway: the client's default in main (zebra)
                // and the load balancer's in 201 follow it, if the device is up.
                let old = owners.gw;
                owners.gw =
                    if old.octets()[3] == 1 { Ipv4Addr::new(192, 168, 1, 254) } else { Ipv4Addr::new(192, 168, 1, 1) };
                let mut w = lab.w();
                w.answers.remove(&("eth0".to_string(), old));
                w.answers.insert(("eth0".to_string(), owners.gw));
                if owners.device_up {
                    for d in owners.primary_defaults() {
                        w.owner_replace(d);
                    }
                }
                format!("DHCP renewal: gateway {old} -> {}", owners.gw)
            }
            7 if owners.device_up => {
                // A PPPoE session drops: the device goes, the kernel flushes its routes.
                owners.device_up = false;
                let mut w = lab.w();
                w.set_link("eth0", false, false);
                let index = w.links.iter().find(|l| l.name == "eth0").map(|l| l.index);
                w.links.retain(|l| l.name != "eth0");
                w.addrs.retain(|a| Some(a.index) != index);
                "primary device gone, its routes flushed".to_string()
            }
            7 | 8 if !owners.device_up => {
                // It comes back under a new index, and its owners re-add their defaults.
                owners.device_up = true;
                let mut w = lab.w();
                let index = w.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
                w.links.push(Link { lower_up: owners.carrier, ..Link::up(index, "eth0") });
                w.addrs.push(primary_addr(index));
                for d in owners.primary_defaults() {
                    w.owner_replace(d);
                }
                w.owner_replace(r(USER_ROUTE));
                "primary device back, its owners re-add their routes".to_string()
            }
            7 | 8 => "nothing".to_string(),
            9 => {
                let s = rng.below(90);
                lab.advance_s(s);
                format!("{s} s pass")
            }
            10 => {
                let mut w = lab.w();
                let key = ("wg0".to_string(), PEER_IP);
                let now = !w.answers.contains(&key);
                if now {
                    w.answers.insert(key);
                } else {
                    w.answers.remove(&key);
                }
                w.vps_handshakes = now;
                format!("tunnel works: {now}")
            }
            12 => {
                // The load balancer's own verdict on the primary (its status command).
                let mut w = lab.w();
                let inactive = w.lb.is_none();
                w.lb = inactive.then(|| {
                    let status = "inactive".to_string();
                    vec![LbInterface { group: "G".to_string(), interface: "eth0".to_string(), status }]
                });
                format!("load balancer says eth0 inactive: {inactive}")
            }
            13 if owners.device_up => {
                // Set down by hand and up again: its routes go with the first, the owners
                // re-add theirs at the second.
                let mut w = lab.w();
                let up = !w.links.iter().any(|l| l.name == "eth0" && l.admin_up);
                w.set_link("eth0", up, up && owners.carrier);
                if up {
                    for d in owners.primary_defaults() {
                        w.owner_replace(d);
                    }
                    w.owner_replace(r(USER_ROUTE));
                }
                format!("primary set {} by hand", if up { "up" } else { "down" })
            }
            14 => {
                // A configuration commit re-creates the WireGuard interface: it goes with
                // every route through it, and comes back up under a new index.
                let mut w = lab.w();
                let gone = w.links.iter().any(|l| l.name == "wg0");
                if gone {
                    w.set_link("wg0", false, false);
                    w.links.retain(|l| l.name != "wg0");
                } else {
                    let index = w.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
                    w.links.push(Link::up(index, "wg0"));
                }
                format!("wg0 {}", if gone { "deleted" } else { "re-created" })
            }
            15 => {
                // The backup's DHCP lease renewed with a new gateway: its owners follow.
                let old = owners.backup_gw;
                let last = if old.octets()[3] == 1 { 254 } else { 1 };
                owners.backup_gw = Ipv4Addr::new(192, 168, 2, last);
                let mut w = lab.w();
                w.answers.remove(&("eth1".to_string(), old));
                w.answers.insert(("eth1".to_string(), owners.backup_gw));
                for d in owners.backup_defaults() {
                    w.owner_replace(d);
                }
                format!("backup DHCP renewal: gateway {old} -> {}", owners.backup_gw)
            }
            16 | 17 => {
                // The daemon's round: the primary judged now, the tunnel by its track
                // (unknown while fresh, else what it truly does), a probe round closed or
                // an event between rounds.
                let tunnel = match rng.below(2) {
                    0 => TunnelSeen::Unknown,
                    _ => TunnelSeen::Echo(lab.w().answers.contains(&("wg0".to_string(), PEER_IP))),
                };
                let closed = rng.below(2) == 0;
                let out = lab.sys().and_then(|mut sys| {
                    let obs = sys.observe()?;
                    let primary = sys.primary_round(&obs)?;
                    let round_passed = closed.then_some(primary.is_ok());
                    failsafe::round(&mut sys, &obs, Seen { primary, round_passed, tunnel }).parts().0
                });
                format!("tick: {out:?} (the daemon's round, tunnel {tunnel:?}, round closed: {closed})")
            }
            _ => {
                let first = Lock::acquire(&lab.cfg.lock_file, Duration::ZERO).expect("the first instance's lock");
                let second = Lock::acquire(&lab.cfg.lock_file, Duration::ZERO);
                assert!(second.is_err(), "a second instance took the lock");
                drop(first);
                "a second instance is refused the lock".to_string()
            }
        };
        if std::env::var_os("MODEL_TRACE").is_some() {
            eprintln!("{what}");
            let w = lab.w();
            for q in &w.requests[traced..] {
                eprintln!("    {q}");
            }
            traced = w.requests.len();
        }
        // A tick that ended well; one that gave up (a deactivation whose saved routes went
        // with a device set down meanwhile: a new outage) leaves the next to judge afresh.
        let ticked = what.starts_with("tick: Ok");
        trail.push(what);
        check(&lab, &mut saved, &trail, ticked, ticked.then_some(owners.backup_gw));
    }
    // The primary comes back for good and its owners re-impose what they want; after
    // UP_AFTER_S (however damped) every table is theirs.
    owners.carrier = true;
    owners.device_up = true;
    {
        let mut w = lab.w();
        if !w.links.iter().any(|l| l.name == "eth0") {
            let index = w.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
            w.links.push(Link::up(index, "eth0"));
            w.addrs.push(primary_addr(index));
        }
        w.set_link("eth0", true, true);
        w.lb = None;
        if !w.links.iter().any(|l| l.name == "wg0") {
            let index = w.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
            w.links.push(Link::up(index, "wg0"));
        }
        for d in owners.primary_defaults() {
            w.owner_replace(d);
        }
        w.owner_replace(r(USER_ROUTE));
    }
    trail.push("primary back for good".to_string());
    for _ in 0..2 {
        let out = lab.tick();
        trail.push(format!("tick: {out:?}"));
        check(&lab, &mut saved, &trail, true, Some(owners.backup_gw));
        lab.advance_s(1000);
    }
    let out = lab.tick();
    trail.push(format!("tick: {out:?}"));
    check(&lab, &mut saved, &trail, true, Some(owners.backup_gw));
    assert_eq!(sorted_routes(&lab), owners.intended(), "seed {seed}: the tables after failback\nafter {trail:#?}");
    let rules: Vec<String> = lab.rules().iter().map(|x| x.to_string()).collect();
    let mut was: Vec<String> = RULES.iter().map(|l| rule(l).to_string()).collect();
    was.insert(1, rule(USER_RULE).to_string());
    if owners.dual {
        was.insert(3, rule(SIX_RULE).to_string());
    }
    assert_eq!(rules, was, "seed {seed}: the rules after failback\nafter {trail:#?}");
    steps + 4
}

#[test]
fn random_sequences_of_events_keep_every_invariant() {
    // MODEL_SEQUENCES=N runs more (a soak); the default keeps `cargo test` quick.
    let sequences: u64 = std::env::var("MODEL_SEQUENCES").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let mut steps = 0;
    // MODEL_SEED=S runs that sequence alone (MODEL_TRACE=1 prints its requests).
    let only: Option<u64> = std::env::var("MODEL_SEED").ok().and_then(|v| v.parse().ok());
    let seeds = only.map_or(0..sequences, |s| s..s + 1);
    let ran = seeds.end - seeds.start;
    for seed in seeds {
        steps += sequence(seed, 30);
    }
    eprintln!("model: {ran} sequences, {steps} steps, every invariant held");
}
