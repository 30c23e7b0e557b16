//! The world around the router in the model test: what the owners of the tables want
//! (zebra and the DHCP client in `main`, the load balancer in 201 and 202, the user's own
//! route and rule, IPv6's defaults in dual-stack sequences), and the events that change
//! it, applied to the fake kernel as those owners would.

use std::net::Ipv4Addr;

use super::super::fake::World;
use super::super::lab::{BACKUP_GW, PEER_IP, RULES};
use super::Event;
use crate::decide::tests::{r, rule};
use crate::edgeos::LbInterface;
use crate::netlink::link::{Addr, Link};
use crate::netlink::route::Route;

/// The user's own route through the primary: gone with its device, re-added with it.
pub const USER_ROUTE: &str = "203.0.113.0/24 via 192.168.1.1 dev eth0 table main proto static";

/// The user's own rule at the LAN rules' priority (69), listed before them: never taken
/// for one of ours.
pub const USER_RULE: &str = "priority 69 from 192.168.50.0/24 lookup 202";

/// IPv6's defaults through the primary (dual-stack sequences), and its marked traffic's
/// rule, listed after IPv4's at the same priority.
const SIX_ROUTES: [&str; 2] = [
    "::/0 via fe80::1 dev eth0 table main proto static metric 1024",
    "::/0 via fe80::1 dev eth0 table 201 proto static metric 1024",
];
const SIX_RULE: &str = "priority 101 from ::/0 fwmark 0x65 lookup 201";

/// TRACK_IPS' target, behind the primary's gateway.
pub const TRACK_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// What the owners of the tables want, and the state of the world they live in.
pub struct Owners {
    /// IPv6 too: main and 201 leave through the primary, and follow onto the tunnel.
    pub dual: bool,
    pub gw: Ipv4Addr,
    pub backup_gw: Ipv4Addr,
    pub carrier: bool,
    /// The primary's device exists (a PPPoE session is up).
    pub device_up: bool,
    /// It is administratively up (not set down by hand).
    pub admin_up: bool,
    /// WG_IFACE is configured `disable`d (administratively down until the failsafe needs
    /// it; a configuration commit re-creates it so).
    pub wg_disabled: bool,
    /// The VPS peer's endpoint and persistent keepalive as configured, in `wg` words.
    pub peer: Option<String>,
    /// The primary's DHCP client has added a second default in main (another metric).
    pub second_default: bool,
    /// A default someone added by hand in 201 through the backup, and whether it was
    /// added while the failsafe was on (the outage's own: never restored once moved
    /// aside) or off (the table's as any other: kept, snapshotted, restored).
    pub workaround: Option<(Route, bool)>,
    /// The outage's own workaround was moved aside (only the tool deletes it).
    pub workaround_aside: bool,
}

impl Owners {
    /// The world of a new sequence: the lab's tables, the user's rule, IPv6's defaults and
    /// rule when `dual`, WG_IFACE down when `wg_disabled`, and TRACK_IPS' target answering
    /// behind the primary.
    pub fn new(w: &mut World, dual: bool, wg_disabled: bool) -> Owners {
        w.answers.insert(("eth0".to_string(), TRACK_IP));
        if wg_disabled {
            // A WireGuard device has no carrier of its own: LOWER_UP once it is up.
            w.set_link("wg0", false, true);
        }
        w.rules.insert(1, rule(USER_RULE));
        if dual {
            w.routes.extend(SIX_ROUTES.iter().map(|l| r(l)));
            w.rules.insert(3, rule(SIX_RULE));
        }
        Owners {
            dual,
            gw: Ipv4Addr::new(192, 168, 1, 1),
            backup_gw: BACKUP_GW,
            carrier: true,
            device_up: true,
            admin_up: true,
            wg_disabled,
            peer: peer_settings(w),
            second_default: false,
            workaround: None,
            workaround_aside: false,
        }
    }

    /// The primary's device can carry routes.
    fn present(&self) -> bool {
        self.device_up && self.admin_up
    }

    /// The primary is up: its owners' routes are all in (an interrupted deactivation is
    /// finished whatever the primary does meanwhile, so the failsafe can be off without).
    pub fn primary_up(&self) -> bool {
        self.carrier && self.present()
    }

    /// The defaults the primary's owners (zebra for main, the load balancer for 201, the
    /// router advertisements' for IPv6) install while the primary is up.
    fn primary_defaults(&self) -> Vec<Route> {
        let mut v = vec![
            r(&format!("default via {} dev eth0 table main proto zebra metric 100", self.gw)),
            r(&format!("default via {} dev eth0 table 201 proto static", self.gw)),
        ];
        if self.dual {
            v.extend(SIX_ROUTES.iter().map(|l| r(l)));
        }
        if self.second_default {
            v.push(r(&format!("default via {} dev eth0 table main proto dhcp metric 200", self.gw)));
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

    /// What the load balancer writes into 201: the primary while it carries traffic, the
    /// backup otherwise.
    fn balanced_201(&self) -> Route {
        match self.carrier && self.present() {
            true => self.primary_defaults()[1].clone(),
            false => r(&format!("default via {} dev eth1 table 201 proto static", self.backup_gw)),
        }
    }

    /// Every route the owners want with the primary up, sorted: what a router with the
    /// failsafe off holds (the ownership rule: their latest, nothing of the outage's).
    pub fn intended(&self) -> Vec<String> {
        let mut v: Vec<String> = self.primary_defaults().iter().map(|x| x.to_string()).collect();
        v.extend(self.backup_defaults().iter().map(|x| x.to_string()));
        if let Some((x, outage)) = &self.workaround {
            if !(*outage && self.workaround_aside) {
                v.push(x.to_string());
            }
        }
        v.extend(
            [USER_ROUTE, "198.51.100.0/24 via 192.168.2.1 dev eth1 table 202 proto static"]
                .iter()
                .map(|l| r(l).to_string()),
        );
        v.sort();
        v
    }

    /// Every rule, in order, with the failsafe off.
    pub fn intended_rules(&self) -> Vec<String> {
        let mut was: Vec<String> = RULES.iter().map(|l| rule(l).to_string()).collect();
        was.insert(1, rule(USER_RULE).to_string());
        if self.dual {
            was.insert(3, rule(SIX_RULE).to_string());
        }
        was
    }

    /// Takes note of what the tool did since the last step (`on`: a snapshot exists now):
    /// the outage's own workaround moved aside (it must never come back). One the tool
    /// never moved (the tables waiting with FALLBACK=none while WG_IFACE is gone, or the
    /// failback coming first) is not the tool's to delete: once the failsafe is off with it
    /// still there, it is the table's like any other.
    pub fn after_step(&mut self, w: &World, on: bool) {
        let Some((x, outage)) = &mut self.workaround else { return };
        let there = w.has_route(x);
        self.workaround_aside |= *outage && !there;
        if !on && there && !self.workaround_aside {
            *outage = false;
        }
    }

    /// The primary's owners re-add what they want (its device being up).
    fn re_add(&self, w: &mut World) {
        for d in self.primary_defaults() {
            w.owner_replace(d);
        }
        w.owner_replace(r(USER_ROUTE));
    }

    /// The primary's device (re-)created under a new index, with its address.
    fn device_back(&mut self, w: &mut World) {
        self.device_up = true;
        if w.links.iter().any(|l| l.name == "eth0") {
            return;
        }
        let index = w.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
        w.links.push(Link { lower_up: self.carrier, ..Link::up(index, "eth0") });
        w.addrs.push(Addr { index, local: Ipv4Addr::new(192, 168, 1, 2), peer: None, prefix_len: 24 });
    }

    /// Applies an event of the world; says what happened.
    pub fn apply(&mut self, w: &mut World, event: &Event) -> String {
        match *event {
            Event::Carrier { follows } => {
                // The load balancer follows the carrier: 201 onto the backup at its loss
                // (now and then: its own probes may not have noticed yet), back onto the
                // primary at its return.
                self.carrier = !self.carrier;
                let follows = follows || self.carrier;
                w.set_link("eth0", self.admin_up, self.carrier);
                if follows && self.present() {
                    w.owner_replace(self.balanced_201());
                }
                format!("primary carrier {}, load balancer follows: {follows}", self.carrier)
            }
            Event::LbWrites => {
                let route = self.balanced_201();
                let said = format!("load balancer writes `{route}`");
                w.owner_replace(route);
                said
            }
            Event::LbVerdict => {
                // The load balancer's own verdict on the primary (its status command).
                let inactive = w.lb.is_none();
                w.lb = inactive.then(|| {
                    let status = "inactive".to_string();
                    vec![LbInterface { group: "G".to_string(), interface: "eth0".to_string(), status }]
                });
                format!("load balancer says eth0 inactive: {inactive}")
            }
            Event::Renewal => self.renewal(w),
            Event::BackupRenewal => {
                let old = self.backup_gw;
                let last = if old.octets()[3] == 1 { 254 } else { 1 };
                self.backup_gw = Ipv4Addr::new(192, 168, 2, last);
                w.answers.remove(&("eth1".to_string(), old));
                w.answers.insert(("eth1".to_string(), self.backup_gw));
                for d in self.backup_defaults() {
                    w.owner_replace(d);
                }
                format!("backup DHCP renewal: gateway {old} -> {}", self.backup_gw)
            }
            Event::DeviceToggle => self.device_toggle(w),
            Event::AdminToggle if self.device_up => {
                // Set down by hand (its routes go with it) or up again (its owners re-add).
                self.admin_up = !self.admin_up;
                w.set_link("eth0", self.admin_up, self.admin_up && self.carrier);
                if self.admin_up {
                    self.re_add(w);
                }
                format!("primary set {} by hand", if self.admin_up { "up" } else { "down" })
            }
            Event::WgToggle => self.wg_toggle(w),
            Event::WgAddress if w.refused_gw.is_empty() => {
                w.address_lost("wg0", PEER_IP);
                "wg0 loses its address: its IPv4 routes flushed, the tunnel's default refused".to_string()
            }
            Event::WgAddress => {
                let addr = Addr { index: 0, local: Ipv4Addr::new(10, 11, 0, 2), peer: None, prefix_len: 24 };
                w.address_back("wg0", addr, PEER_IP);
                "wg0 has its address back".to_string()
            }
            Event::SecondDefault => {
                // A new key through the primary: its owner's, restored beside the saved.
                self.second_default = true;
                if self.present() {
                    self.re_add(w);
                }
                "the primary's DHCP client adds a second default (metric 200)".to_string()
            }
            Event::Workaround { on } if self.workaround.is_none() => {
                // A new key through another device: while on, the outage's own.
                let route = r(&format!("default via {} dev eth1 table 201 proto static metric 5", self.backup_gw));
                let said = format!("`{route}` added by hand (the failsafe on: {on})");
                w.owner_replace(route.clone());
                self.workaround = Some((route, on));
                said
            }
            Event::TunnelToggle => {
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
            Event::Pass(s) => {
                w.boottime_ms += s * 1000;
                format!("{s} s pass")
            }
            Event::PrimaryBack => {
                self.carrier = true;
                self.admin_up = true;
                self.device_back(w);
                w.set_link("eth0", true, true);
                w.lb = None;
                self.re_add(w);
                "primary back for good, its owners re-impose their routes".to_string()
            }
            _ => "nothing".to_string(),
        }
    }

    /// A DHCP renewal with a new gateway: the client's default in main (zebra) and the
    /// load balancer's in 201 follow it, if the device is up.
    fn renewal(&mut self, w: &mut World) -> String {
        let old = self.gw;
        self.gw = if old.octets()[3] == 1 { Ipv4Addr::new(192, 168, 1, 254) } else { Ipv4Addr::new(192, 168, 1, 1) };
        w.answers.remove(&("eth0".to_string(), old));
        w.answers.insert(("eth0".to_string(), self.gw));
        if self.present() {
            for d in self.primary_defaults() {
                w.owner_replace(d);
            }
        }
        format!("DHCP renewal: gateway {old} -> {}", self.gw)
    }

    /// A PPPoE session drops (the device goes, the kernel flushes its routes), or comes
    /// back under a new index and its owners re-add their routes.
    fn device_toggle(&mut self, w: &mut World) -> String {
        if self.device_up {
            self.device_up = false;
            w.set_link("eth0", false, false);
            let index = w.links.iter().find(|l| l.name == "eth0").map(|l| l.index);
            w.links.retain(|l| l.name != "eth0");
            w.addrs.retain(|a| Some(a.index) != index);
            return "primary device gone, its routes flushed".to_string();
        }
        self.device_back(w);
        w.set_link("eth0", self.admin_up, self.admin_up && self.carrier);
        if self.admin_up {
            self.re_add(w);
        }
        "primary device back, its owners re-add their routes".to_string()
    }
}

/// The VPS peer's endpoint and persistent keepalive, in `wg` words.
pub fn peer_settings(w: &World) -> Option<String> {
    w.peers.first().map(|p| format!("endpoint {:?} persistent-keepalive {}", p.endpoint, p.keepalive_s))
}

impl Owners {
    /// A configuration commit deletes the WireGuard interface (every route through it goes
    /// with it) or re-creates it under a new index, as configured (up, or `disable`d).
    fn wg_toggle(&self, w: &mut World) -> String {
        let gone = w.links.iter().any(|l| l.name == "wg0");
        if gone {
            let index = w.links.iter().find(|l| l.name == "wg0").map(|l| l.index);
            w.set_link("wg0", false, false);
            w.links.retain(|l| l.name != "wg0");
            w.addrs.retain(|a| Some(a.index) != index);
        } else {
            // Re-created by a commit with its configured address, as EdgeOS does — unless
            // the sequence has it lost (`Event::WgAddress`): then it comes back late, at
            // that event (a tunnel without it is no target: `judge::has_ipv4`).
            let index = w.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
            w.links.push(Link { admin_up: !self.wg_disabled, ..Link::up(index, "wg0") });
            if w.refused_gw.is_empty() {
                w.addrs.push(Addr { index, local: Ipv4Addr::new(10, 11, 0, 2), peer: None, prefix_len: 24 });
            }
        }
        format!("wg0 {}", if gone { "deleted" } else { "re-created" })
    }
}
