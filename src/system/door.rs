//! The door: every request the sequences make of the kernel and of the world outside —
//! rtnetlink (links, addresses, neighbours, routes, rules), the WireGuard device, echoes,
//! the load balancer's status, the LAN resolver, conntrack's flush, the clocks, waits and
//! the boot's id —
//! goes through one [`Kernel`], chosen by a plain `match` (innernet's habit, no trait
//! objects): the real sockets, or in unit tests an in-memory kernel that records every
//! request in order (`fake`). `System` owns one and never reaches past it.

use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::BackendChoice;
use crate::dns;
use crate::edgeos::{self, LbInterface};
use crate::endpoint::Asking;
#[cfg(test)]
use crate::error::Context;
use crate::error::Error;
use crate::netlink::ctnetlink::{self, ConntrackError, Flow, Flushed};
use crate::netlink::link::{self, Addr, Addr6, Links};
use crate::netlink::route::{self, AddMode, Route};
use crate::netlink::rule::{self, Rule};
use crate::netlink::{Netlink, NetlinkError};
use crate::probe::{self, Path as ProbePath, Stats};
use crate::state;
use crate::traffic::Bytes;
use crate::wireguard::{self, Backend, Device, PeerConfig, PeerSet, Peers, Wanted, WgError};

/// What a sequence acts on: the running kernel, or (unit tests) a recording fake.
pub enum Kernel {
    Netlink(Real),
    #[cfg(test)]
    Fake(super::fake::Fake),
}

/// The real kernel: one rtnetlink socket and the WireGuard device.
pub struct Real {
    pub nl: Netlink,
    pub wg: Device,
}

/// Wall time since the epoch (WireGuard's handshake clock); never used for timing.
pub fn wall_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl Kernel {
    pub fn links(&mut self) -> Result<Links, NetlinkError> {
        match self {
            Kernel::Netlink(k) => Links::dump(&mut k.nl),
            #[cfg(test)]
            Kernel::Fake(f) => f.links(),
        }
    }

    /// The routes of one family the tool looks at (see `wanted_route`): the daemon's
    /// dump too, so the generic dump is made once.
    pub fn routes(&mut self, links: &Links, endpoint: Ipv4Addr, v6: bool) -> Result<Vec<Route>, Error> {
        match self {
            Kernel::Netlink(k) => super::dump_routes(&mut k.nl, links, endpoint, v6),
            #[cfg(test)]
            Kernel::Fake(f) => f.routes(endpoint, v6).context("reading routes"),
        }
    }

    /// Both families' rules (the daemon's dump too).
    pub fn rules(&mut self) -> Result<Vec<Rule>, Error> {
        match self {
            Kernel::Netlink(k) => super::dump_rules(&mut k.nl),
            #[cfg(test)]
            Kernel::Fake(f) => {
                let mut rules = f.rules(false).context("reading rules")?;
                rules.extend(f.rules(true).context("reading IPv6 rules")?);
                Ok(rules)
            }
        }
    }

    /// The byte counters of link `index` (see [`link::link_bytes`]).
    pub fn link_bytes(&mut self, index: u32) -> Result<Option<Bytes>, NetlinkError> {
        match self {
            Kernel::Netlink(k) => Ok(link::link_bytes(&mut k.nl, index)?.map(|b| Bytes { rx: b.rx, tx: b.tx })),
            #[cfg(test)]
            Kernel::Fake(f) => f.link_bytes(index),
        }
    }

    pub fn addrs(&mut self) -> Result<Vec<Addr>, NetlinkError> {
        match self {
            Kernel::Netlink(k) => link::addresses(&mut k.nl),
            #[cfg(test)]
            Kernel::Fake(f) => f.addrs(),
        }
    }

    /// The router's IPv6 addresses (conntrack's flush tells its own flows by them).
    pub fn addrs6(&mut self) -> Result<Vec<Addr6>, NetlinkError> {
        match self {
            Kernel::Netlink(k) => link::addresses6(&mut k.nl),
            #[cfg(test)]
            Kernel::Fake(_) => Ok(Vec::new()),
        }
    }

    /// The link-layer address of the gateway `gw` on `dev` (link `index`), resolved when
    /// the neighbour table has none, waiting up to `wait` (see [`probe::gateway_lladdr`]).
    pub fn gateway_lladdr(
        &mut self,
        index: u32,
        dev: &str,
        gw: Ipv4Addr,
        wait: Duration,
    ) -> Result<Option<Vec<u8>>, NetlinkError> {
        match self {
            Kernel::Netlink(k) => probe::gateway_lladdr(&mut k.nl, index, dev, gw, Some(wait)),
            #[cfg(test)]
            Kernel::Fake(f) => f.gateway_lladdr(index, dev, gw, wait),
        }
    }

    pub fn add_route(&mut self, links: &Links, r: &Route, mode: AddMode) -> Result<(), NetlinkError> {
        match self {
            Kernel::Netlink(k) => route::add(&mut k.nl, links, r, mode),
            #[cfg(test)]
            Kernel::Fake(f) => f.add_route(r, mode),
        }
    }

    pub fn delete_route(&mut self, links: &Links, r: &Route) -> Result<(), NetlinkError> {
        match self {
            Kernel::Netlink(k) => route::delete(&mut k.nl, links, r),
            #[cfg(test)]
            Kernel::Fake(f) => f.delete_route(r),
        }
    }

    pub fn add_rule(&mut self, r: &Rule) -> Result<(), NetlinkError> {
        match self {
            Kernel::Netlink(k) => rule::add(&mut k.nl, r),
            #[cfg(test)]
            Kernel::Fake(f) => f.add_rule(r),
        }
    }

    pub fn delete_rule(&mut self, r: &Rule) -> Result<(), NetlinkError> {
        match self {
            Kernel::Netlink(k) => rule::delete(&mut k.nl, r),
            #[cfg(test)]
            Kernel::Fake(f) => f.delete_rule(r),
        }
    }

    pub fn set_admin(&mut self, index: u32, up: bool) -> Result<(), NetlinkError> {
        match self {
            Kernel::Netlink(k) => link::set_admin(&mut k.nl, index, up),
            #[cfg(test)]
            Kernel::Fake(f) => f.set_admin(index, up),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Kernel::Netlink(k) => k.wg.backend,
            #[cfg(test)]
            Kernel::Fake(_) => Backend::Kernel,
        }
    }

    pub fn peers(&mut self, want: Wanted) -> Result<Peers, WgError> {
        match self {
            Kernel::Netlink(k) => k.wg.peers(want),
            #[cfg(test)]
            Kernel::Fake(f) => f.peers(want),
        }
    }

    /// The WireGuard device is `iface`'s from now on (several tunnels: the one a sequence
    /// works on, or the one a change names). The fake has one device for every tunnel.
    pub fn aim_wg(&mut self, choice: BackendChoice, iface: &str) {
        match self {
            Kernel::Netlink(k) if k.wg.iface != iface => k.wg = Device::new(wireguard::choose(choice, iface), iface),
            _ => {}
        }
    }

    pub fn set_peer(&mut self, p: &PeerSet) -> Result<(), WgError> {
        match self {
            Kernel::Netlink(k) => k.wg.set_peer(p),
            #[cfg(test)]
            Kernel::Fake(f) => f.set_peer(p),
        }
    }

    /// The peer removed and added back with every setting it had (a new session).
    pub fn renew_peer(&mut self, p: &PeerConfig) -> Result<(), WgError> {
        match self {
            Kernel::Netlink(k) => k.wg.renew_peer(p),
            #[cfg(test)]
            Kernel::Fake(f) => f.renew_peer(p),
        }
    }

    /// Which of `targets` answer an echo along `path` (see [`probe::echo`]).
    pub fn echo(
        &self,
        path: &ProbePath,
        targets: &[Ipv4Addr],
        count: u32,
        timeout: Duration,
        need: usize,
    ) -> io::Result<Vec<Option<Duration>>> {
        match self {
            Kernel::Netlink(_) => probe::echo(path, targets, count, timeout, need),
            #[cfg(test)]
            Kernel::Fake(f) => f.echo(path, targets, count, timeout, need),
        }
    }

    /// Every echo's answer and round-trip time (see [`probe::measure`]).
    pub fn measure(
        &self,
        path: &ProbePath,
        targets: &[Ipv4Addr],
        count: u32,
        timeout: Duration,
    ) -> io::Result<Vec<Stats>> {
        match self {
            Kernel::Netlink(_) => probe::measure(path, targets, count, timeout),
            #[cfg(test)]
            Kernel::Fake(f) => f.measure(path, targets, count, timeout),
        }
    }

    /// The EdgeOS load balancer's status, where there is one.
    pub fn lb_status(&self) -> Option<Vec<LbInterface>> {
        match self {
            Kernel::Netlink(_) => edgeos::lb_status(),
            #[cfg(test)]
            Kernel::Fake(f) => f.lb_status(),
        }
    }

    pub fn dnsmasq_running(&self) -> bool {
        match self {
            Kernel::Netlink(_) => dns::dnsmasq_running(),
            #[cfg(test)]
            Kernel::Fake(f) => f.dnsmasq_running(),
        }
    }

    /// Whether the resolver at `server` answers `name` within `timeout`.
    pub fn resolves(&self, server: Ipv4Addr, name: &str, timeout: Duration) -> io::Result<bool> {
        match self {
            Kernel::Netlink(_) => dns::resolves(server, name, timeout),
            #[cfg(test)]
            Kernel::Fake(f) => f.resolves(server, name),
        }
    }

    /// A name endpoint's lookup (see `endpoint::begin`): routed, or along `via` (the path
    /// to BACKUP_GW) when it is to go through the backup.
    pub fn lookup(&self, asking: &Asking, via: Option<&ProbePath>) -> Result<dns::Resolved, String> {
        match self {
            Kernel::Netlink(_) => dns::lookup(&asking.servers, &asking.name, asking.timeout, via),
            #[cfg(test)]
            Kernel::Fake(f) => f.lookup(asking, via),
        }
    }

    pub fn restart_dns(&mut self, cmd: &[String]) -> io::Result<()> {
        match self {
            Kernel::Netlink(_) => dns::restart(cmd),
            #[cfg(test)]
            Kernel::Fake(f) => f.restart_dns(cmd),
        }
    }

    /// Deletes the flows `chosen` picks from the connection-tracking table (see
    /// [`ctnetlink::flush`]).
    pub fn flush_flows(
        &mut self,
        dry_run: bool,
        chosen: impl Fn(&Flow) -> bool,
        told: impl FnMut(&Flow),
    ) -> Result<(Flushed, Option<NetlinkError>), ConntrackError> {
        match self {
            Kernel::Netlink(_) => ctnetlink::flush(dry_run, chosen, told),
            #[cfg(test)]
            Kernel::Fake(f) => f.flush_flows(),
        }
    }

    /// Seconds of CLOCK_BOOTTIME (see [`state::boottime_s`]). The clocks are never inlined:
    /// read in a dozen places each, a copy of the clock call in each was ~0.8 KB of mipsel.
    #[inline(never)]
    pub fn boottime_s(&self) -> u64 {
        match self {
            Kernel::Netlink(_) => state::boottime_s(),
            #[cfg(test)]
            Kernel::Fake(f) => f.boottime_ms() / 1000,
        }
    }

    #[inline(never)]
    pub fn boottime_ms(&self) -> u64 {
        match self {
            Kernel::Netlink(_) => state::boottime_ms(),
            #[cfg(test)]
            Kernel::Fake(f) => f.boottime_ms(),
        }
    }

    #[inline(never)]
    pub fn wall_now(&self) -> Duration {
        match self {
            Kernel::Netlink(_) => wall_now(),
            #[cfg(test)]
            Kernel::Fake(f) => f.wall_now(),
        }
    }

    /// Waits `d`: the fake's clocks move on by `d` at once.
    pub fn sleep(&self, d: Duration) {
        match self {
            Kernel::Netlink(_) => std::thread::sleep(d),
            #[cfg(test)]
            Kernel::Fake(f) => f.sleep(d),
        }
    }

    /// This boot's id (see [`state::boot_id`]).
    pub fn boot_id(&self) -> Option<String> {
        match self {
            Kernel::Netlink(_) => state::boot_id(),
            #[cfg(test)]
            Kernel::Fake(f) => Some(f.boot_id()),
        }
    }

    /// A write to STATE_DIR is about to be made (`what`): the fake counts it as a step and
    /// refuses it once the process is "killed"; the real kernel has nothing to say.
    pub fn state_write(&mut self, what: &str) -> io::Result<()> {
        match self {
            Kernel::Netlink(_) => {
                let _ = what;
                Ok(())
            }
            #[cfg(test)]
            Kernel::Fake(f) => f.state_write(what),
        }
    }
}
