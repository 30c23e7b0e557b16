//! An in-memory kernel for unit tests (never in the release binary): links, addresses,
//! neighbours, routes and rules of both families, the WireGuard device's peers, scripted
//! echoes, the load balancer's status and the clocks, with the kernel's semantics the
//! sequences rely on, and a record of every request in order.
//!
//! Modelled: a route's key is (table, dst, tos, metric) — an exclusive add of a taken key
//! is EEXIST, a replace takes the first route of the key, an append adds after it (EEXIST
//! for the very same path), a delete needs a route of the same path (ENOENT); a route
//! through a device that does not exist is ENODEV, through one that is down ENETDOWN; a
//! link set down (or deleted) takes every route through it with it, as the kernel does;
//! a carrier loss does not. A rule deletion takes the first rule that matches what the
//! request specifies (the kernel's wildcard match, which is why `rule_deletion_safe`
//! exists). Not modelled: multipath routes, onlink checks, a gateway's reachability.
//!
//! A test can stop the "process" after its N-th step (a change, or a write to STATE_DIR):
//! from then on every request fails, as after SIGKILL, and what was done stays done; a
//! new `System` over the same world is the next process.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use crate::edgeos::LbInterface;
use crate::endpoint::Asking;
use crate::health::SESSION_MAX_AGE_S;
use crate::netlink::ctnetlink::{ConntrackError, Flushed};
use crate::netlink::link::{Addr, Link, Links};
use crate::netlink::route::{AddMode, Route};
use crate::netlink::rule::Rule;
use crate::netlink::NetlinkError;
use crate::probe::{Path as ProbePath, Stats};
use crate::traffic::Bytes;
use crate::wireguard::{Collector, Peer, PeerConfig, PeerSet, Peers, Wanted, WgError};

mod world;
pub use world::*;

/// A handle on a shared [`World`].
#[derive(Clone, Default)]
pub struct Fake(pub Rc<RefCell<World>>);

impl Fake {
    pub fn new(world: World) -> Fake {
        Fake(Rc::new(RefCell::new(world)))
    }

    pub fn links(&self) -> Result<Links, NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.read("dump links")?;
        Ok(Links::new(w.links.clone()))
    }

    pub fn routes(&self, endpoint: Ipv4Addr, v6: bool) -> Result<Vec<Route>, NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.read(if v6 { "dump routes6" } else { "dump routes" })?;
        let wanted =
            |r: &&Route| r.is_v6() == v6 && (r.is_default() || (r.dst.len == 32 && r.dst.addr == IpAddr::V4(endpoint)));
        Ok(w.routes.iter().filter(wanted).cloned().collect())
    }

    pub fn rules(&self, v6: bool) -> Result<Vec<Rule>, NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.read(if v6 { "dump rules6" } else { "dump rules" })?;
        Ok(w.rules.iter().filter(|r| r.v6 == v6).cloned().collect())
    }

    pub fn addrs(&self) -> Result<Vec<Addr>, NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.read("dump addresses")?;
        Ok(w.addrs.clone())
    }

    pub fn neighbour(&self, index: u32, gw: Ipv4Addr) -> Result<Option<Vec<u8>>, NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.read("dump neighbours")?;
        if let Some((_, _, mac)) = w.neighbours.iter().find(|(i, ip, _)| *i == index && *ip == gw) {
            return Ok(Some(mac.clone()));
        }
        // A gateway that answers echoes has answered ARP too.
        let name = w.links.iter().find(|l| l.index == index).map(|l| l.name.clone()).unwrap_or_default();
        Ok(w.answers(&name, gw).then(|| vec![2, 0, 0, 0, 0, index as u8]))
    }

    /// As the real kernel resolves it: the neighbour table, else one echo and the table again.
    pub fn gateway_lladdr(
        &self,
        index: u32,
        dev: &str,
        gw: Ipv4Addr,
        wait: Duration,
    ) -> Result<Option<Vec<u8>>, NetlinkError> {
        if let Some(mac) = self.neighbour(index, gw)? {
            return Ok(Some(mac));
        }
        self.echo(&ProbePath::Device(dev.to_string()), &[gw], 1, wait, 1)?;
        self.neighbour(index, gw)
    }

    pub fn add_route(&self, r: &Route, mode: AddMode) -> Result<(), NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.step(format!("route {} {r}", format!("{mode:?}").to_lowercase()))?;
        if let Some(errno) = w.route_refused(r) {
            return Err(NetlinkError::Kernel(errno));
        }
        let first = w.routes.iter().position(|x| x.same_key(r));
        let before = w.with_default();
        match (mode, first) {
            (AddMode::Exclusive, Some(_)) => return Err(NetlinkError::Kernel(libc::EEXIST)),
            (AddMode::Append, Some(_)) if w.has_route(r) => return Err(NetlinkError::Kernel(libc::EEXIST)),
            (AddMode::Replace, Some(i)) => w.routes[i] = r.clone(),
            (AddMode::Append, Some(i)) => {
                let last = w.routes.iter().rposition(|x| x.same_key(r)).unwrap_or(i);
                w.routes.insert(last + 1, r.clone());
            }
            (_, None) => w.routes.push(r.clone()),
        }
        // A replace may have taken one of the tool's own routes.
        w.forget_gone();
        w.added_routes.retain(|a| !a.same_path(r));
        w.added_routes.push(r.clone());
        w.guard(&before);
        Ok(())
    }

    pub fn delete_route(&self, r: &Route) -> Result<(), NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.step(format!("route del {r}"))?;
        match w.routes.iter().position(|x| x.same_path(r)) {
            Some(i) => {
                let before = w.with_default();
                let gone = w.routes.remove(i);
                let ours = w.added_routes.iter().any(|a| a.same_path(&gone));
                w.deleted_routes.push((gone.clone(), ours));
                if !gone.is_default() && !ours {
                    w.violations.push(format!("deleted `{gone}`, which the tool did not add"));
                }
                w.forget_gone();
                w.guard(&before);
                Ok(())
            }
            None => Err(NetlinkError::Kernel(libc::ENOENT)),
        }
    }

    pub fn add_rule(&self, r: &Rule) -> Result<(), NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.step(format!("rule add {r}"))?;
        // As EdgeOS's 4.14 (EXCL honoured since 4.12, a suppressor compared only since 5.8):
        // two rules that differ only by one are the same.
        let unsuppressed = |x: &Rule| Rule { suppress_prefixlen: None, ..x.clone() };
        if w.rules.iter().any(|x| unsuppressed(x) == unsuppressed(r)) {
            return Err(NetlinkError::Kernel(libc::EEXIST));
        }
        let at = w.rules.iter().position(|x| x.priority > r.priority).unwrap_or(w.rules.len());
        w.rules.insert(at, r.clone());
        w.added_rules.push(r.clone());
        Ok(())
    }

    /// The kernel deletes the first rule that matches every selector the request gives
    /// (a suppressor never compared, as before 5.8).
    pub fn delete_rule(&self, r: &Rule) -> Result<(), NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.step(format!("rule del {r}"))?;
        let matches = |x: &Rule| {
            x.v6 == r.v6
                && x.priority == r.priority
                && (r.src.is_none() || x.src == r.src)
                && (r.dst.is_none() || x.dst == r.dst)
                && (r.fwmark.is_none() || x.fwmark == r.fwmark)
                && (r.table == 0 || x.table == r.table)
                && x.action == r.action
        };
        match w.rules.iter().position(matches) {
            Some(i) => {
                let gone = w.rules.remove(i);
                match w.added_rules.iter().position(|a| *a == gone) {
                    Some(k) => drop(w.added_rules.remove(k)),
                    None => w.violations.push(format!("deleted `{gone}`, which the tool did not add")),
                }
                Ok(())
            }
            None => Err(NetlinkError::Kernel(libc::ENOENT)),
        }
    }

    pub fn set_admin(&self, index: u32, up: bool) -> Result<(), NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.step(format!("link set {index} {}", if up { "up" } else { "down" }))?;
        let Some(l) = w.links.iter().find(|l| l.index == index).cloned() else {
            return Err(NetlinkError::Kernel(libc::ENODEV));
        };
        let before = w.with_default();
        w.set_link(&l.name, up, l.lower_up);
        w.guard(&before);
        Ok(())
    }

    pub fn link_bytes(&self, index: u32) -> Result<Option<Bytes>, NetlinkError> {
        let mut w = self.0.borrow_mut();
        w.read(&format!("link stats {index}"))?;
        Ok(w.link_bytes.iter().find(|(i, _)| *i == index).map(|(_, b)| *b))
    }

    pub fn peers(&self, want: Wanted) -> Result<Peers, WgError> {
        let mut w = self.0.borrow_mut();
        w.read("wg show").map_err(|e| WgError(e.to_string()))?;
        let mut c = Collector::new(Some(want));
        for p in &w.peers {
            c.part(p.clone());
        }
        Ok(c.finish())
    }

    /// A renewal drops the session: the next handshake comes at once when the VPS is
    /// reachable, never otherwise.
    pub fn renew_peer(&self, set: &PeerConfig) -> Result<(), WgError> {
        let mut w = self.0.borrow_mut();
        w.step(format!("wg renew {}", crate::wireguard::key_to_base64(&set.key)))
            .map_err(|e| WgError(e.to_string()))?;
        let now = w.wall_now();
        let handshakes = w.vps_handshakes && !w.silent_vps.contains(&set.key);
        let Some(p) = w.peers.iter_mut().find(|p| p.public_key == set.key) else {
            return Err(WgError("no such peer".to_string()));
        };
        p.last_handshake = handshakes.then_some(now);
        // A peer added again starts its counters at 0.
        (p.rx_bytes, p.tx_bytes) = (0, 0);
        Ok(())
    }

    pub fn set_peer(&self, set: &PeerSet) -> Result<(), WgError> {
        let mut w = self.0.borrow_mut();
        w.step(format!("wg set {set}")).map_err(|e| WgError(e.to_string()))?;
        let now = w.wall_now();
        let handshakes = w.vps_handshakes && !w.silent_vps.contains(&set.key);
        let Some(p) = w.peers.iter_mut().find(|p| p.public_key == set.key) else {
            return Err(WgError("no such peer".to_string()));
        };
        // As the kernel: a set that names no endpoint keeps the one the peer has.
        if set.endpoint.is_some() {
            p.endpoint = set.endpoint;
        }
        p.keepalive_s = set.keepalive_s;
        if set.endpoint.is_some() {
            packet_to_peer(p, handshakes, now);
        }
        Ok(())
    }

    /// `count` rounds of one echo to each target still silent, as `probe::echo` sends
    /// them: a round answered by `need` targets ends after the reply's round trip
    /// ([`ECHO_RTT`]), any other waits out `timeout`; the clocks move on by as much.
    pub fn echo(
        &self,
        path: &ProbePath,
        targets: &[Ipv4Addr],
        count: u32,
        timeout: Duration,
        need: usize,
    ) -> io::Result<Vec<Option<Duration>>> {
        let mut w = self.0.borrow_mut();
        w.read(&format!("echo {targets:?} via {path:?}")).map_err(|_| io::Error::other("killed"))?;
        let mut rtt = vec![None; targets.len()];
        let need = need.clamp(1, targets.len().max(1));
        for _ in 0..count {
            for (i, t) in targets.iter().enumerate() {
                if rtt[i].is_none() && w.echo_answered(path, *t) {
                    rtt[i] = Some(ECHO_RTT);
                }
            }
            if rtt.iter().flatten().count() >= need {
                w.boottime_ms += ECHO_RTT.as_millis() as u64;
                break;
            }
            w.boottime_ms += timeout.as_millis() as u64;
        }
        Ok(rtt)
    }

    /// `count` rounds of one echo to every target, each waiting until all answered (one
    /// round trip) or `timeout`, as `probe::measure` sends them.
    pub fn measure(
        &self,
        path: &ProbePath,
        targets: &[Ipv4Addr],
        count: u32,
        timeout: Duration,
    ) -> io::Result<Vec<Stats>> {
        let mut w = self.0.borrow_mut();
        w.read(&format!("echo {targets:?} via {path:?}")).map_err(|_| io::Error::other("killed"))?;
        let mut stats = vec![Stats::default(); targets.len()];
        for _ in 0..count {
            let mut all = true;
            for (i, t) in targets.iter().enumerate() {
                stats[i].sent += 1;
                if w.echo_answered(path, *t) {
                    stats[i].received += 1;
                    stats[i].rtt_total += ECHO_RTT;
                } else {
                    all = false;
                }
            }
            w.boottime_ms += if all { ECHO_RTT } else { timeout }.as_millis() as u64;
        }
        Ok(stats)
    }

    pub fn lb_status(&self) -> Option<Vec<LbInterface>> {
        let mut w = self.0.borrow_mut();
        w.read("load-balance status").ok()?;
        w.lb.clone()
    }

    pub fn dnsmasq_running(&self) -> bool {
        self.0.borrow().dnsmasq
    }

    pub fn resolves(&self, server: Ipv4Addr, name: &str) -> io::Result<bool> {
        let mut w = self.0.borrow_mut();
        w.read(&format!("dns {name} at {server}")).map_err(|_| io::Error::other("killed"))?;
        Ok(w.dns_answers)
    }

    /// A name endpoint's lookup: recorded with its path, answered from `names`.
    pub fn lookup(&self, asking: &Asking, via: Option<&ProbePath>) -> Result<crate::dns::Resolved, String> {
        let mut w = self.0.borrow_mut();
        let path = via.and_then(|p| w.path_dev(p)).unwrap_or_else(|| "routed".into());
        w.read(&format!("lookup {} via {path}", asking.name)).map_err(|e| e.to_string())?;
        let server = asking.servers.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
        match w.names.iter().find(|(n, _)| *n == asking.name) {
            Some((_, addr)) => Ok(crate::dns::Resolved { addr: *addr, ttl_s: 300, server }),
            None => Err(format!("{server}: {} does not exist (NXDOMAIN)", asking.name)),
        }
    }

    pub fn restart_dns(&self, cmd: &[String]) -> io::Result<()> {
        let mut w = self.0.borrow_mut();
        w.step(format!("run {}", cmd.join(" "))).map_err(|_| io::Error::other("killed"))?;
        w.dns_answers = true;
        Ok(())
    }

    pub fn flush_flows(&self) -> Result<(Flushed, Option<NetlinkError>), ConntrackError> {
        let mut w = self.0.borrow_mut();
        // A flush that is never made is no harm done: told as unsupported.
        w.step("conntrack flush".to_string()).map_err(|_| ConntrackError::Unsupported(libc::EPERM))?;
        Ok((Flushed { seen: 0, deleted: 0, failed: 0 }, None))
    }

    pub fn boottime_ms(&self) -> u64 {
        self.0.borrow().boottime_ms
    }

    /// A wait: the clocks move on at once.
    pub fn sleep(&self, d: Duration) {
        self.0.borrow_mut().boottime_ms += d.as_millis() as u64;
    }

    /// The boot's id; a test reboots by counting `reboots` up.
    pub fn boot_id(&self) -> String {
        format!("0f1e2d3c-0000-4000-8000-{:012}", self.0.borrow().reboots)
    }

    pub fn wall_now(&self) -> Duration {
        self.0.borrow().wall_now()
    }

    pub fn state_write(&self, what: &str) -> io::Result<()> {
        self.0.borrow_mut().step(format!("state: {what}")).map_err(|_| io::Error::other("killed"))
    }
}
