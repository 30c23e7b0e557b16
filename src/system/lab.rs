//! The world the sequences' unit tests run in over the recording fake kernel (no root):
//! `Lab`, its configuration, routes and rules, and the checks of where the tables point —
//! shared by `tests`, `stops`, `sessions`, `tunnels` and `model`.

use std::cell::RefMut;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::fake::{Fake, World};
use super::{Kernel, System};
use crate::config::{parse, Config};
use crate::decide::tests::{r, rule};
use crate::error::Error;
use crate::failsafe::{self, Outcome};
use crate::log::Logger;
use crate::netlink::link::{Addr, Link};
use crate::netlink::route::Route;
use crate::netlink::rule::Rule;
use crate::state::State;

pub(super) const KEY: [u8; 32] = [7; 32];
pub(super) const PRIMARY_GW: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
pub(super) const BACKUP_GW: Ipv4Addr = Ipv4Addr::new(192, 168, 2, 1);
pub(super) const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 11, 0, 1);
pub(super) const ENDPOINT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

/// An EdgeRouter with the load balancer: main and table 201 leave through the primary,
/// table 202 through the backup, marked traffic sent to each by its rule; the user's own
/// backup default in main and a route and a rule of its own beside them.
pub(super) const ROUTES: [&str; 6] = [
    "default via 192.168.1.1 dev eth0 table main proto zebra metric 100",
    "default via 192.168.2.1 dev eth1 table main proto static metric 300",
    "default via 192.168.1.1 dev eth0 table 201 proto static",
    "default via 192.168.2.1 dev eth1 table 202 proto static",
    "203.0.113.0/24 via 192.168.1.1 dev eth0 table main proto static",
    "198.51.100.0/24 via 192.168.2.1 dev eth1 table 202 proto static",
];
pub(super) const RULES: [&str; 4] = [
    "priority 0 lookup local",
    "priority 101 fwmark 0x65 lookup 201",
    "priority 102 fwmark 0x66 lookup 202",
    "priority 32766 lookup main",
];

/// A temporary STATE_DIR, the configuration, and the fake kernel every "process" shares.
pub(super) struct Lab {
    pub dir: PathBuf,
    pub cfg: Config,
    pub log: Logger,
    pub fake: Fake,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    pub fn new(tag: &str, extra: &str) -> Lab {
        let dir = scratch_dir(&format!("wgfs-door-{tag}-{}", std::process::id()));
        let text = format!(
            "{}{}PRIMARY_DEV=eth0\n{}BACKUP_DEV=eth1\n{}LAN_SUBNET=192.168.10.0/24\n{}WG_PEER_KEY_FILE={}/no-key\nSTATE_DIR={}\nLOCK_FILE={}/lock\n{extra}",
            // Several tunnels: `extra` names them all.
            if extra.contains("WG_PEER_IP=") { String::new() } else { format!("WG_PEER_IP={PEER_IP}\n") },
            if extra.contains("WG_ENDPOINT=") { String::new() } else { format!("WG_ENDPOINT={ENDPOINT}\n") },
            if extra.contains("PRIMARY_GW=") { String::new() } else { format!("PRIMARY_GW={PRIMARY_GW}\n") },
            if extra.contains("BACKUP_GW=") { String::new() } else { format!("BACKUP_GW={BACKUP_GW}\n") },
            if extra.contains("TUNNEL_WAIT=") { "" } else { "TUNNEL_WAIT=0\n" },
            dir.display(),
            dir.display(),
            dir.display()
        );
        let cfg = parse(&dir.join("t.conf"), &text).expect("valid config");
        let log = Logger::new(dir.join("log"), 64, false, false);
        let link = |index, name: &str| Link { point_to_point: false, ..Link::up(index, name) };
        let addr = |index, local, prefix_len| Addr { index, local, peer: None, prefix_len };
        let mut world = World {
            links: vec![link(2, "eth0"), link(3, "eth1"), link(4, "wg0"), link(5, "switch0")],
            addrs: vec![
                addr(2, Ipv4Addr::new(192, 168, 1, 2), 24),
                addr(3, Ipv4Addr::new(192, 168, 2, 2), 24),
                addr(4, Ipv4Addr::new(10, 11, 0, 2), 24),
                addr(5, Ipv4Addr::new(192, 168, 10, 1), 24),
            ],
            routes: ROUTES.iter().map(|l| r(l)).collect(),
            rules: RULES.iter().map(|l| rule(l)).collect(),
            peers: vec![World::vps_peer(KEY, Some(SocketAddr::from((ENDPOINT, 51820))), IpAddr::V4(PEER_IP))],
            vps_handshakes: true,
            boottime_ms: 1_000_000,
            ..World::default()
        };
        for (dev, ip) in [("eth0", PRIMARY_GW), ("eth1", BACKUP_GW), ("wg0", PEER_IP)] {
            world.answers.insert((dev.to_string(), ip));
        }
        Lab { dir, cfg, log, fake: Fake::new(world) }
    }

    pub fn w(&self) -> RefMut<'_, World> {
        self.fake.0.borrow_mut()
    }

    /// A new process: its own System over the same kernel and STATE_DIR.
    pub fn sys(&self) -> Result<System<'_>, Error> {
        let state = State::open_as_owner(&self.cfg.state_dir).map_err(super::state_error)?;
        System::over(&self.cfg, &self.log, false, Kernel::Fake(self.fake.clone()), state)
    }

    /// One `run`: a new process, one tick.
    pub fn tick(&self) -> Result<Outcome, Error> {
        failsafe::tick(&mut self.sys()?).parts().0
    }

    /// One `run`, and the ON_CHANGE notices it hands its driver: `event tables`.
    pub fn tick_told(&self) -> (Result<Outcome, Error>, Vec<String>) {
        let mut sys = match self.sys() {
            Ok(sys) => sys,
            Err(e) => return (Err(e), Vec::new()),
        };
        let (out, notices) = failsafe::tick(&mut sys).parts();
        let told = notices.iter().map(|n| format!("{} {:?}", n.event, n.tables)).collect();
        (out, told)
    }

    pub fn advance_s(&self, s: u64) {
        self.w().boottime_ms += s * 1000;
    }

    /// The primary's carrier lost or back.
    pub fn primary_carrier(&self, up: bool) {
        self.w().set_link("eth0", true, up);
    }

    /// The routes of `table` (IPv4), in `ip route` words.
    pub fn table(&self, table: u32) -> Vec<String> {
        self.w().routes.iter().filter(|x| x.table == table && !x.is_v6()).map(|x| x.to_string()).collect()
    }

    pub fn routes(&self) -> Vec<Route> {
        self.w().routes.clone()
    }

    pub fn rules(&self) -> Vec<Rule> {
        self.w().rules.clone()
    }

    /// The process stops after `n` more steps.
    pub fn kill_after(&self, n: usize) {
        let mut w = self.w();
        w.kill_after = Some(w.steps + n);
    }

    /// Whether the last stop came, and a new process may start.
    pub fn revive(&self) -> bool {
        let mut w = self.w();
        let was = w.killed;
        w.killed = false;
        w.kill_after = None;
        was
    }

    /// Ticks until a tick changes nothing in the kernel (at most `max`).
    pub fn settle(&self, max: usize) {
        for _ in 0..max {
            let before = self.w().steps;
            let _ = self.tick();
            let after = self.w().steps;
            // A tick that only writes its record is settled.
            let changed = self.w().requests[before..after].iter().any(|q| !q.starts_with("state:"));
            if !changed {
                return;
            }
        }
    }
}

/// A new, empty STATE_DIR named `name`: on /dev/shm when it exists and takes one
/// (tmpfs, where the state writes' fsyncs cost nothing — on a disk they were three
/// quarters of these tests' system time), else in the temporary directory.
fn scratch_dir(name: &str) -> PathBuf {
    for root in [PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        let dir = root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        if root.is_dir() && std::fs::create_dir(&dir).is_ok() {
            return dir;
        }
    }
    panic!("no temporary STATE_DIR for {name}")
}

/// `ip route` words of each line.
pub(super) fn words(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| r(l).to_string()).collect()
}

pub(super) fn on_tunnel(lab: &Lab) {
    on_target(lab, "via 10.11.0.1 dev wg0");
}

/// Every table's default is ours through `via` (main keeps its own below ours, by
/// metric); the route to the VPS goes through the backup.
pub(super) fn on_target(lab: &Lab, via: &str) {
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(lab.table(254)),
        sorted(words(&[
            "default via 192.168.1.1 dev eth0 table main proto zebra metric 100",
            "default via 192.168.2.1 dev eth1 table main proto static metric 300",
            &format!("default {via} table main proto static metric 40"),
            "203.0.113.0/24 via 192.168.1.1 dev eth0 table main proto static",
            "203.0.113.10 via 192.168.2.1 dev eth1 table main proto static metric 190",
        ]))
    );
    assert_eq!(lab.table(201), words(&[&format!("default {via} table 201 proto static metric 40")]));
    assert_eq!(
        sorted(lab.table(202)),
        sorted(words(&[
            &format!("default {via} table 202 proto static metric 40"),
            "198.51.100.0/24 via 192.168.2.1 dev eth1 table 202 proto static",
        ]))
    );
    assert_eq!(lab.rules().iter().filter(|x| x.priority == 69 && !x.v6).count(), 4, "{:?}", lab.rules());
    assert_eq!(lab.w().violations, Vec::<String>::new());
}

pub(super) fn original(lab: &Lab) {
    let mut now: Vec<String> = lab.routes().iter().map(|x| x.to_string()).collect();
    let mut was = words(&ROUTES);
    now.sort();
    was.sort();
    assert_eq!(now, was, "the tables are back as they were");
    assert_eq!(lab.rules(), RULES.iter().map(|l| rule(l)).collect::<Vec<_>>(), "the rules are back as they were");
    assert_eq!(lab.w().violations, Vec::<String>::new());
}

/// The VPS answers through the tunnel and handshakes, or neither.
pub(super) fn tunnel_works(lab: &Lab, works: bool) {
    let mut w = lab.w();
    let key = ("wg0".to_string(), PEER_IP);
    if works {
        w.answers.insert(key);
    } else {
        w.answers.remove(&key);
    }
    w.vps_handshakes = works;
}

pub(super) fn healthy_then_down(lab: &Lab) {
    lab.tick().expect("healthy");
    lab.primary_carrier(false);
}
