//! The world the fake kernel models: its links, addresses, routes, rules, peers and
//! clocks, the kernel's semantics over them (see `fake`), and WireGuard's sessions.

use super::*;

/// The round trip of every echo the fake answers.
pub const ECHO_RTT: Duration = Duration::from_millis(1);

/// Wall time at the fake's boot (2026-12-01), so wall and boot clocks move together.
pub(super) const WALL_AT_BOOT_S: u64 = 1_796_083_200;

/// The kernel and the world around it, shared by every `System` a test opens on it.
#[derive(Default)]
pub struct World {
    pub links: Vec<Link>,
    pub addrs: Vec<Addr>,
    /// Besides these, a gateway that answers echoes has a link-layer address.
    pub neighbours: Vec<(u32, Ipv4Addr, Vec<u8>)>,
    /// In the kernel's order (the first of a key is the one used).
    pub routes: Vec<Route>,
    /// In priority order, a new rule after the others of its priority.
    pub rules: Vec<Rule>,
    pub peers: Vec<Peer>,
    /// Byte counters (rx, tx) of the links that have them, by index.
    pub link_bytes: Vec<(u32, Bytes)>,
    /// Gateways no longer on-link (their device lost the address of their subnet): the
    /// kernel refuses a route through them (ENETUNREACH), and no echo reaches them.
    pub refused_gw: Vec<std::net::IpAddr>,
    /// (device, target) pairs that answer an echo while the device is up with carrier.
    pub answers: BTreeSet<(String, Ipv4Addr)>,
    /// The VPS answers handshakes. A packet to its peer (an endpoint set, an echo to one
    /// of its allowed addresses) starts one only when the peer holds no valid session —
    /// none, or its latest handshake [`SESSION_MAX_AGE_S`] old or more — as WireGuard
    /// does; a renewal drops the session, so its keepalive handshakes at once.
    pub vps_handshakes: bool,
    /// The VPSs (by their peer's key) that answer nothing: one whose port is blocked.
    pub silent_vps: Vec<[u8; 32]>,
    pub lb: Option<Vec<LbInterface>>,
    pub dnsmasq: bool,
    pub dns_answers: bool,
    /// The names a name endpoint's lookup finds (with a TTL of 300 s), by either path.
    pub names: Vec<(String, Ipv4Addr)>,
    pub boottime_ms: u64,
    /// The wall clock's step from boot time (a clock set at NTP sync, stepped back), seconds.
    pub wall_step_s: i64,
    /// Reboots so far (the boot's id says it).
    pub reboots: u32,
    /// Echo requests sent so far (each of a request's rounds, to each target).
    pub echoes_sent: usize,
    /// The next this many echoes that would be answered are lost on the way.
    pub lost_echoes: u32,
    /// Every request, in order, in `ip` words where there are some.
    pub requests: Vec<String>,
    /// Changes and state writes made so far (the steps a kill counts).
    pub steps: usize,
    /// Stop the process after this many steps.
    pub kill_after: Option<usize>,
    pub killed: bool,
    /// Broken invariants, each said once by the request that broke it: a table left
    /// without a default, or a route or rule the tool did not add deleted by it.
    pub violations: Vec<String>,
    /// What the tool added and is still there as it added it (a route or rule it deletes
    /// must be one of these, defaults aside: moving an owner's default aside is the
    /// design). Only a successful add counts; an entry is forgotten when the route or rule
    /// goes (deleted, flushed with its device) or its owner writes the key over it.
    pub added_routes: Vec<Route>,
    pub added_rules: Vec<Rule>,
    /// Every route a request of the tool deleted, in order, and whether it was the tool's
    /// own then.
    pub deleted_routes: Vec<(Route, bool)>,
}

pub(super) fn killed() -> NetlinkError {
    NetlinkError::Io(io::Error::other("killed (fake SIGKILL)"))
}

impl World {
    /// A mutating request: recorded, counted, and refused once the process is stopped.
    pub(super) fn step(&mut self, what: String) -> Result<(), NetlinkError> {
        if self.killed || self.kill_after.is_some_and(|n| self.steps >= n) {
            self.killed = true;
            return Err(killed());
        }
        self.steps += 1;
        self.requests.push(what);
        Ok(())
    }

    pub(super) fn read(&mut self, what: &str) -> Result<(), NetlinkError> {
        if self.killed {
            return Err(killed());
        }
        self.requests.push(what.to_string());
        Ok(())
    }

    /// The tables (family, number) that hold a default.
    pub fn with_default(&self) -> BTreeSet<(bool, u32)> {
        self.routes.iter().filter(|r| r.is_default()).map(|r| (r.is_v6(), r.table)).collect()
    }

    /// After a request of the tool: no table that had a default has lost it.
    pub(super) fn guard(&mut self, before: &BTreeSet<(bool, u32)>) {
        let after = self.with_default();
        for (v6, t) in before.difference(&after) {
            let what = self.requests.last().cloned().unwrap_or_default();
            self.violations.push(format!("`{what}` left table {t} (v6: {v6}) without a default"));
        }
    }

    pub(super) fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// A device the route needs that is missing or down.
    pub(super) fn route_refused(&self, r: &Route) -> Option<i32> {
        if r.gateway.is_some_and(|g| self.refused_gw.contains(&g)) {
            return Some(libc::ENETUNREACH);
        }
        for dev in r.devices() {
            match self.link(dev) {
                None => return Some(libc::ENODEV),
                Some(l) if !l.admin_up => return Some(libc::ENETDOWN),
                Some(_) => {}
            }
        }
        None
    }

    /// A link going down or away: the kernel flushes every route through it.
    pub(super) fn flush_dev(&mut self, name: &str) {
        self.routes.retain(|r| !r.devices().any(|d| d == name));
        self.forget_gone();
    }

    /// The tool's routes no longer in the kernel are no longer the tool's.
    pub(super) fn forget_gone(&mut self) {
        let routes = &self.routes;
        self.added_routes.retain(|a| routes.iter().any(|x| x.same_path(a)));
    }

    /// Sets a link's state as its owner would (carrier, or admin state by hand); a link
    /// set down loses its routes.
    pub fn set_link(&mut self, name: &str, admin_up: bool, lower_up: bool) {
        if let Some(l) = self.links.iter_mut().find(|l| l.name == name) {
            l.admin_up = admin_up;
            l.lower_up = lower_up;
        }
        if !admin_up {
            self.flush_dev(name);
        }
    }

    /// Whether `r` is in the kernel now.
    pub fn has_route(&self, r: &Route) -> bool {
        self.routes.iter().any(|x| x.same_path(r))
    }

    /// Kernel-side replace by an owner (the load balancer, a DHCP client): no step.
    /// What it writes is its own, even where the tool had added the very same route.
    pub fn owner_replace(&mut self, r: Route) {
        self.added_routes.retain(|a| !a.same_path(&r));
        match self.routes.iter().position(|x| x.same_key(&r)) {
            Some(i) => self.routes[i] = r,
            None => self.routes.push(r),
        }
        self.forget_gone();
    }

    pub(super) fn answers(&self, dev: &str, target: Ipv4Addr) -> bool {
        self.link(dev).is_some_and(|l| l.admin_up && l.lower_up)
            && self.answers.contains(&(dev.to_string(), target))
            && !self.refused_gw.contains(&IpAddr::V4(target))
    }

    /// `dev` lost its IPv4 address, whose subnet holds `gw`: the kernel flushes the device's
    /// IPv4 routes, and refuses a route through `gw` (not on-link) until `address_back`.
    pub fn address_lost(&mut self, dev: &str, gw: Ipv4Addr) {
        let index = self.link(dev).map(|l| l.index);
        self.addrs.retain(|a| Some(a.index) != index);
        self.routes.retain(|r| r.is_v6() || !r.devices().any(|d| d == dev));
        self.forget_gone();
        self.refused_gw.push(IpAddr::V4(gw));
    }

    /// `dev` renumbered onto `addr`, a prefix that does not hold `gw` (a commit that changed
    /// the tunnel's address but not WG_PEER_IP): its old address goes as in `address_lost`,
    /// and the kernel refuses a route through `gw` while the device has an IPv4 address.
    pub fn renumbered(&mut self, dev: &str, addr: Addr, gw: Ipv4Addr) {
        self.address_lost(dev, gw);
        if let Some(index) = self.link(dev).map(|l| l.index) {
            self.addrs.push(Addr { index, ..addr });
        }
    }

    /// `dev` has its address `addr` back: `gw` is on-link again.
    pub fn address_back(&mut self, dev: &str, addr: Addr, gw: Ipv4Addr) {
        if let Some(index) = self.link(dev).map(|l| l.index) {
            self.addrs.push(Addr { index, ..addr });
        }
        self.refused_gw.retain(|g| *g != IpAddr::V4(gw));
    }

    /// One echo request to `target` along `path`: a packet to the VPS peer when the
    /// target is one of its addresses (see [`packet_to_peer`]); answered when the device
    /// is up with carrier and the target answers, unless it is one of `lost_echoes`.
    pub(super) fn echo_answered(&mut self, path: &ProbePath, target: Ipv4Addr) -> bool {
        self.echoes_sent += 1;
        let (now, handshakes) = (self.wall_now(), self.vps_handshakes);
        let to_peer = |p: &&mut Peer| p.allowed_ips.iter().any(|(ip, _)| *ip == IpAddr::V4(target));
        if let Some(p) = self.peers.iter_mut().find(to_peer) {
            // A peer with no endpoint has nowhere to send the packet: no handshake, no echo.
            if p.endpoint.is_none() {
                return false;
            }
            let handshakes = handshakes && !self.silent_vps.contains(&p.public_key);
            packet_to_peer(p, handshakes, now);
        }
        let dev = self.path_dev(path).unwrap_or_default();
        if !self.answers(&dev, target) {
            return false;
        }
        if self.lost_echoes > 0 {
            self.lost_echoes -= 1;
            return false;
        }
        true
    }

    pub(super) fn path_dev(&self, path: &ProbePath) -> Option<String> {
        match path {
            ProbePath::Device(d) => Some(d.clone()),
            ProbePath::Gateway { ifindex, .. } => {
                self.links.iter().find(|l| l.index == *ifindex).map(|l| l.name.clone())
            }
        }
    }
}

/// A packet WireGuard sends to `p` at `now`: it goes in the session the peer holds while
/// one is valid, and starts a handshake (completed at once when the VPS answers them)
/// only when none is.
pub(super) fn packet_to_peer(p: &mut Peer, vps_handshakes: bool, now: Duration) {
    let session_valid =
        p.last_handshake.is_some_and(|t| now.saturating_sub(t) < Duration::from_secs(SESSION_MAX_AGE_S));
    if vps_handshakes && !session_valid {
        p.last_handshake = Some(now);
    }
}

impl World {
    pub fn wall_now(&self) -> Duration {
        Duration::from_secs(WALL_AT_BOOT_S.saturating_add_signed(self.wall_step_s))
            + Duration::from_millis(self.boottime_ms)
    }

    /// The VPS peer with this endpoint, never handshaked.
    pub fn vps_peer(key: [u8; 32], endpoint: Option<SocketAddr>, allowed: IpAddr) -> Peer {
        Peer {
            public_key: key,
            endpoint,
            keepalive_s: 0,
            preshared_key: None,
            allowed_ips: vec![(allowed, 32)],
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
        }
    }
}
