//! The sequences of DESIGN.md's "Semantics": one tick (observe, decide, act), activation,
//! re-assertion while active, and deactivation, each straight-line code that reads top
//! to bottom like the seed's timeline. Every step is idempotent, so running a sequence
//! again is also how drift is repaired and how an interrupted run is finished.
//!
//! Every change goes through [`Ctx::apply`]: it is recorded in `ip` words (printed by
//! `--dry-run` and `-v`), written ahead to the journal when activation adds it, and only
//! then sent to the kernel.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::decide::{
    candidate_tables, decide, defaults_of, failsafe_on, link_health, managed_tables, move_to_tunnel, restore_table,
    Action, Change, Ours, Unhealthy,
};
use crate::dns;
use crate::edgeos;
use crate::error::{Context, Error};
use crate::log::Logger;
use crate::netlink::link::{self, Links};
use crate::netlink::route::{self, Route, RT_TABLE_MAIN};
use crate::netlink::rule::{self, Rule};
use crate::netlink::{ok_if_exists, ok_if_missing, Netlink};
use crate::probe;
use crate::state::{Owned, Record, State};
use crate::wireguard::{self, Backend, Key};

/// What a tick or command did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Primary healthy, failsafe off: nothing to do.
    Healthy,
    /// An interrupted activation's leftovers were taken back.
    CleanedUp,
    Activated {
        ms: u128,
    },
    /// Failsafe on and kept on; `changes` repairs were made.
    Active {
        changes: usize,
    },
    Deactivated {
        ms: u128,
    },
}

/// One run's view of the system and its means to change it.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub log: &'a Logger,
    pub dry_run: bool,
    nl: Netlink,
    state: State,
    links: Links,
    journal: Vec<Owned>,
    /// Changes made, or in a dry run that would be made, in `ip` words.
    pub changes: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(cfg: &'a Config, log: &'a Logger, dry_run: bool) -> Result<Ctx<'a>, Error> {
        let mut nl = Netlink::open(netlink_sys::protocols::NETLINK_ROUTE).context("netlink")?;
        let links = Links::dump(&mut nl).context("reading links")?;
        let state = State::new(&cfg.state_dir);
        let journal = state.journal().context("state")?;
        Ok(Ctx { cfg, log, dry_run, nl, state, links, journal, changes: Vec::new() })
    }

    fn ours(&self) -> Ours<'a> {
        Ours(self.cfg)
    }

    pub fn links(&self) -> &Links {
        &self.links
    }

    pub fn routes(&mut self) -> Result<Vec<Route>, Error> {
        route::dump(&mut self.nl, &self.links).context("reading routes")
    }

    pub fn rules(&mut self) -> Result<Vec<Rule>, Error> {
        rule::dump(&mut self.nl).context("reading rules")
    }

    pub fn record(&self) -> Result<Record, Error> {
        self.state.record().context("state")
    }

    pub fn snapshot(&self) -> Result<Option<Vec<Route>>, Error> {
        self.state.snapshot().context("state")
    }

    /// Whether the failsafe counts as on, given the current routes.
    pub fn is_on(&self, routes: &[Route]) -> Result<bool, Error> {
        let tunnel = self.ours().tunnel_default(RT_TABLE_MAIN);
        Ok(failsafe_on(
            self.record()?.failsafe,
            self.state.snapshot_exists(),
            routes.iter().any(|r| r.same_path(&tunnel)),
        ))
    }

    /// Makes one change (or records it, in a dry run). `owned` changes are additions of
    /// activation: written to the journal before the kernel sees them.
    fn apply(&mut self, change: &Change, owned: bool) -> Result<(), Error> {
        self.changes.push(change.to_string());
        if self.dry_run {
            return Ok(());
        }
        let item = match change {
            Change::AddRoute(r, _) if owned => Some(Owned::Route(r.clone())),
            Change::AddRule(r) if owned => Some(Owned::Rule(r.clone())),
            _ => None,
        };
        if let Some(item) = item {
            if !self.journal.contains(&item) {
                self.state.journal_append(&item).context("journal")?;
                self.journal.push(item);
            }
        }
        let result = match change {
            Change::AddRoute(r, mode) => ok_if_exists(route::add(&mut self.nl, &self.links, r, *mode)),
            Change::DelRoute(r) => ok_if_missing(route::delete(&mut self.nl, &self.links, r)),
            Change::AddRule(r) => ok_if_exists(rule::add(&mut self.nl, r)),
            Change::DelRule(r) => ok_if_missing(rule::delete(&mut self.nl, r)),
        };
        result.context(change)
    }

    // -----------------------------------------------------------------------------------
    // Observation

    /// "Primary healthy", cheapest check first: link, then the gateway's echo through
    /// PRIMARY_DEV, then (on EdgeOS) the load balancer's verdict.
    pub fn primary_health(&mut self) -> Result<Result<(), Unhealthy>, Error> {
        if let Err(why) = link_health(self.links.by_name(&self.cfg.primary_dev)) {
            return Ok(Err(why));
        }
        if !self.gateway_answers()? {
            return Ok(Err(Unhealthy::GatewaySilent));
        }
        if self.cfg.lb_status {
            if let Some(verdict) = edgeos::lb_status().and_then(|s| edgeos::lb_down(&s, &self.cfg.primary_dev)) {
                return Ok(Err(Unhealthy::LoadBalancer(verdict)));
            }
        }
        Ok(Ok(()))
    }

    pub fn gateway_answers(&self) -> Result<bool, Error> {
        let c = self.cfg;
        probe::echo(&c.primary_dev, c.primary_gw, c.probe_count, Duration::from_millis(c.probe_timeout_ms))
            .context(format_args!("probing {} through {}", c.primary_gw, c.primary_dev))
    }

    pub fn backend(&self) -> Backend {
        wireguard::choose(self.cfg.wg_backend, &self.cfg.wg_iface)
    }

    /// The VPS peer as the running device reports it.
    pub fn tunnel_peer(&self) -> Result<Option<wireguard::Peer>, Error> {
        let c = self.cfg;
        let peers = wireguard::peers(self.backend(), &c.wg_iface).context("WireGuard")?;
        Ok(wireguard::select_peer(&peers, c.wg_peer_ip, c.wg_endpoint).cloned())
    }

    /// "Tunnel up": the peer's latest handshake is at most HANDSHAKE_MAX_AGE old, or
    /// WG_PEER_IP answers one echo within `echo_timeout`.
    pub fn tunnel_up(&self, echo_timeout: Duration) -> Result<bool, Error> {
        let peer = self.tunnel_peer()?;
        Ok(peer.is_some_and(|p| self.handshake_fresh(&p)) || self.peer_answers(echo_timeout)?)
    }

    /// The peer's latest handshake is at most HANDSHAKE_MAX_AGE old.
    fn handshake_fresh(&self, peer: &wireguard::Peer) -> bool {
        let max_age = Duration::from_secs(self.cfg.handshake_max_age_s);
        peer.handshake_age(SystemTime::now()).is_some_and(|age| age <= max_age)
    }

    /// WG_PEER_IP answers one echo through the tunnel (which also starts a handshake
    /// when no session is valid).
    fn peer_answers(&self, timeout: Duration) -> Result<bool, Error> {
        let c = self.cfg;
        probe::echo(&c.wg_iface, c.wg_peer_ip, 1, timeout)
            .context(format_args!("probing {} through {}", c.wg_peer_ip, c.wg_iface))
    }

    // -----------------------------------------------------------------------------------
    // The tick

    /// One tick of `run`: observe, decide, act.
    pub fn tick(&mut self) -> Result<Outcome, Error> {
        let routes = self.routes()?;
        let on = self.is_on(&routes)?;
        let health = self.primary_health()?;
        match decide(on, health.is_ok(), !self.journal.is_empty()) {
            Action::Nothing => Ok(Outcome::Healthy),
            Action::Cleanup => self.cleanup(),
            Action::Activate => self.activate(health.err(), &routes),
            Action::Reassert => self.reassert(&routes),
            // The gateway answered through PRIMARY_DEV moments ago: that is step 1.
            Action::Deactivate => self.deactivate(true, &routes),
        }
    }

    // -----------------------------------------------------------------------------------
    // Activation

    /// Activation (DESIGN.md, steps 1 to 8). `why` is what is wrong with the primary
    /// (`None` when forced by hand); `routes` were read at the start of this run.
    pub fn activate(&mut self, why: Option<Unhealthy>, routes: &[Route]) -> Result<Outcome, Error> {
        let started = Instant::now();
        let c = self.cfg;
        match &why {
            Some(w) => self.log.warn(&format!("primary {} is down ({w}): activating the failsafe", c.primary_dev)),
            None => self.log.info("activating the failsafe by request"),
        }
        // Interfaces the sequence needs, before anything is touched.
        for dev in [&c.wg_iface, &c.backup_dev] {
            if self.links.by_name(dev).is_none() {
                return Err(Error::Failed(format!("interface {dev} does not exist; nothing was changed")));
            }
        }

        // 1. Host route to the VPS through the backup WAN, so the tunnel does not follow
        //    the defaults it is about to replace.
        // 2. The tunnel interface administratively up.
        // 3. The tunnel up, forcing a handshake if it is not. If it stays down, every
        //    routing table is left as it was: the endpoint route goes if this run added it.
        let tunnel = self
            .ensure_endpoint_route(routes)
            .and_then(|()| self.ensure_tunnel_link_up())
            .and_then(|()| self.ensure_tunnel());
        if let Err(e) = tunnel {
            self.cleanup()?;
            return Err(e);
        }

        // 4. Snapshot of every managed table's default routes, before touching any; an
        //    interrupted activation's snapshot is reused, never rewritten. Read again:
        //    waiting for the tunnel may have taken TUNNEL_WAIT.
        let routes = self.routes()?;
        let rules = self.rules()?;
        let snapshot = match self.snapshot()? {
            Some(s) => s,
            None => {
                let s = crate::decide::snapshot(&routes, &candidate_tables(&rules, c.policy_tables.as_deref()));
                if !self.dry_run {
                    self.state.write_snapshot(&s, unix_now()).context("state")?;
                }
                s
            }
        };

        // 5. In main and every managed table, the tunnel default is the one the kernel uses.
        self.move_tables(&routes, &snapshot)?;

        // 6. LAN and marked traffic to main, before the load balancer's rules.
        self.ensure_lan_rules(&rules, &snapshot)?;

        // 7. The LAN resolver answers through the tunnel, or is restarted.
        self.check_dns();

        // 8. Recorded, and one line logged with the time the sequence took.
        let ms = self.record_switch(true, started)?;
        let tables: Vec<String> = managed_tables(&snapshot).into_iter().map(route::table_name).collect();
        self.log.info(&format!(
            "failsafe ACTIVATED in {ms} ms: tables {} now use {} via {}",
            tables.join(", "),
            c.wg_iface,
            c.wg_peer_ip
        ));
        Ok(Outcome::Activated { ms })
    }

    /// While active: steps 1, 2, 5 and 6 again (the load balancer rewrites its tables),
    /// finishing an interrupted activation's record, and a check that the tunnel still
    /// carries traffic.
    pub fn reassert(&mut self, routes: &[Route]) -> Result<Outcome, Error> {
        let rules = self.rules()?;
        let before = self.changes.len();
        self.ensure_endpoint_route(routes)?;
        self.ensure_tunnel_link_up()?;
        let snapshot = match self.snapshot()? {
            Some(s) => s,
            // State lost: manage what holds a default now, without writing a snapshot.
            None => crate::decide::snapshot(routes, &candidate_tables(&rules, self.cfg.policy_tables.as_deref())),
        };
        self.move_tables(routes, &snapshot)?;
        self.ensure_lan_rules(&rules, &snapshot)?;
        let repaired = self.changes.len() - before;
        if repaired > 0 {
            self.log.warn(&format!("failsafe active: repaired {repaired} drifted route(s) or rule(s)"));
        }
        if !self.record()?.failsafe {
            self.record_switch(true, Instant::now())?;
            self.log.info("failsafe ACTIVATED (an interrupted activation was completed)");
        }
        if !self.tunnel_up(Duration::from_millis(self.cfg.probe_timeout_ms))? {
            return Err(Error::Failed(format!(
                "failsafe active but tunnel {} is down: no handshake within {} s and {} does not answer",
                self.cfg.wg_iface, self.cfg.handshake_max_age_s, self.cfg.wg_peer_ip
            )));
        }
        Ok(Outcome::Active { changes: repaired })
    }

    fn ensure_endpoint_route(&mut self, routes: &[Route]) -> Result<(), Error> {
        let endpoint = self.ours().endpoint_route();
        if !routes.iter().any(|r| r.same_path(&endpoint)) {
            self.apply(&Change::AddRoute(endpoint, route::AddMode::Exclusive), true)?;
        }
        Ok(())
    }

    fn ensure_tunnel_link_up(&mut self) -> Result<(), Error> {
        let iface = &self.cfg.wg_iface;
        let link = self
            .links
            .by_name(iface)
            .ok_or_else(|| Error::Failed(format!("WireGuard interface {iface} does not exist")))?;
        if !link.admin_up {
            let index = link.index;
            self.changes.push(format!("ip link set {iface} up"));
            if !self.dry_run {
                link::set_up(&mut self.nl, index).context(format_args!("ip link set {iface} up"))?;
            }
        }
        Ok(())
    }

    /// Step 3: the tunnel is up, or is made to come up within TUNNEL_WAIT.
    fn ensure_tunnel(&mut self) -> Result<(), Error> {
        let c = self.cfg;
        let endpoint = SocketAddr::from((c.wg_endpoint, c.wg_endpoint_port));
        // An echo through a peer that has no endpoint (or another one) would only spend
        // the handshake attempt that WireGuard then refuses to repeat for 5 s: such a peer
        // is set first, below.
        let peer = self.tunnel_peer()?;
        if peer.as_ref().is_some_and(|p| self.handshake_fresh(p)) {
            return Ok(());
        }
        let has_endpoint = peer.is_some_and(|p| p.endpoint == Some(endpoint));
        if has_endpoint && self.peer_answers(Duration::from_millis(c.probe_timeout_ms))? {
            return Ok(());
        }
        let (key, source) = self.find_peer_key()?;
        let key_text = wireguard::key_to_base64(&key);
        self.log.info(&format!(
            "tunnel {} not responsive: forcing a handshake with {endpoint} (peer key from {source})",
            c.wg_iface
        ));
        self.changes.push(format!(
            "wg set {} peer {key_text} endpoint {endpoint} persistent-keepalive {}",
            c.wg_iface, c.wg_keepalive_s
        ));
        if self.dry_run {
            return Ok(());
        }
        wireguard::set_endpoint(self.backend(), &c.wg_iface, &key, endpoint, c.wg_keepalive_s)
            .context("forcing a handshake")?;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(c.tunnel_wait_s);
        loop {
            let pass = Instant::now();
            // Each echo is also a packet that starts a handshake when no session is valid.
            let left = deadline.saturating_duration_since(pass);
            if self.tunnel_up(left.min(Duration::from_secs(1)))? {
                self.log.info(&format!("tunnel {} up after {} ms", c.wg_iface, started.elapsed().as_millis()));
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // Poll once a second, whatever the echo took.
            std::thread::sleep(Duration::from_secs(1).saturating_sub(pass.elapsed()).min(left));
        }
        Err(Error::Failed(format!(
            "tunnel {} did not come up within {} s: {}",
            c.wg_iface,
            c.tunnel_wait_s,
            self.tunnel_diagnostics()
        )))
    }

    /// What an operator needs to see when the tunnel stays down.
    fn tunnel_diagnostics(&self) -> String {
        let c = self.cfg;
        let peer = match self.tunnel_peer() {
            Ok(Some(p)) => {
                let age = p
                    .handshake_age(SystemTime::now())
                    .map_or("never".to_string(), |a| format!("{} s ago", a.as_secs()));
                let endpoint = p.endpoint.map_or("none".to_string(), |e| e.to_string());
                format!("latest handshake {age}, endpoint {endpoint}")
            }
            Ok(None) => "no peer for the VPS on the device".to_string(),
            Err(e) => e.to_string(),
        };
        let backup = match self.links.by_name(&c.backup_dev) {
            Some(l) if l.admin_up && l.lower_up => "up".to_string(),
            Some(_) => "down".to_string(),
            None => "missing".to_string(),
        };
        format!(
            "{peer}; backup {} is {backup}; endpoint {}:{} via {}",
            c.backup_dev, c.wg_endpoint, c.wg_endpoint_port, c.backup_gw
        )
    }

    /// The VPS peer's public key, from (in order) WG_PEER_KEY_FILE, the running device,
    /// `cli-shell-api`, `/config/config.boot`; it must be a peer of the running device.
    pub fn find_peer_key(&self) -> Result<(Key, String), Error> {
        let c = self.cfg;
        let device = wireguard::peers(self.backend(), &c.wg_iface).context("WireGuard")?;
        let mut tried = Vec::new();
        let found: Option<(Key, String)> = 'find: {
            let file = &c.wg_peer_key_file;
            match std::fs::read_to_string(file) {
                Ok(text) => match wireguard::key_from_base64(&text) {
                    Some(k) => break 'find Some((k, file.display().to_string())),
                    None => {
                        return Err(Error::Failed(format!(
                            "{}: not a WireGuard public key (44 characters of base64)",
                            file.display()
                        )))
                    }
                },
                Err(e) => tried.push(format!("{} ({e})", file.display())),
            }
            if let Some(p) = wireguard::select_peer(&device, c.wg_peer_ip, c.wg_endpoint) {
                break 'find Some((p.public_key, format!("the running {}", c.wg_iface)));
            }
            tried.push(format!("the running {} ({} peers, none identifiable)", c.wg_iface, device.len()));
            // Each source is asked only if the ones before it gave nothing.
            for source in [edgeos::CLI_SHELL_API, edgeos::CONFIG_BOOT] {
                match edgeos::configured_peers(source, &c.wg_iface)
                    .as_deref()
                    .and_then(|p| edgeos::pick_configured(p, c.wg_endpoint, c.wg_peer_ip))
                {
                    Some(p) => break 'find wireguard::key_from_base64(&p.key).map(|k| (k, source.to_string())),
                    None if Path::new(source).exists() => tried.push(format!("{source} (no matching peer)")),
                    None => tried.push(format!("{source} (absent)")),
                }
            }
            None
        };
        let Some((key, source)) = found else {
            return Err(Error::Failed(format!(
                "no public key for the VPS peer of {}; tried {}",
                c.wg_iface,
                tried.join(", ")
            )));
        };
        if !device.iter().any(|p| p.public_key == key) {
            return Err(Error::Failed(format!(
                "peer {} (from {source}) is not configured on {}",
                wireguard::key_to_base64(&key),
                c.wg_iface
            )));
        }
        Ok((key, source))
    }

    /// Step 5 for every managed table.
    fn move_tables(&mut self, routes: &[Route], snapshot: &[Route]) -> Result<(), Error> {
        for table in managed_tables(snapshot) {
            let tunnel = self.ours().tunnel_default(table);
            for change in move_to_tunnel(routes, &tunnel) {
                let owned = matches!(change, Change::AddRoute(..));
                self.apply(&change, owned)?;
            }
        }
        Ok(())
    }

    /// Step 6: each rule that is missing is added; none is ever duplicated.
    fn ensure_lan_rules(&mut self, rules: &[Rule], snapshot: &[Route]) -> Result<(), Error> {
        for wanted in self.ours().lan_rules(rules, &managed_tables(snapshot)) {
            if !rules.contains(&wanted) {
                self.apply(&Change::AddRule(wanted), true)?;
            }
        }
        Ok(())
    }

    /// Step 7: if dnsmasq runs, it must resolve DNS_TEST_NAME at the router's LAN address
    /// within 5 s; if not, it is restarted. Never fatal: the routes are already right.
    fn check_dns(&mut self) {
        let c = self.cfg;
        if !c.dns_check || !dns::dnsmasq_running() {
            return;
        }
        let lan = self.links.index(&c.lan_dev).map(|i| link::ipv4_address(&mut self.nl, i));
        let Some(Ok(Some(server))) = lan else {
            self.log.warn(&format!("DNS check skipped: no IPv4 address on {}", c.lan_dev));
            return;
        };
        if self.dry_run {
            self.changes.push(format!(
                "# would query {} at {server}, and run {} if it fails",
                c.dns_test_name,
                c.dns_restart_cmd.join(" ")
            ));
            return;
        }
        if let Ok(true) = dns::resolves(server, &c.dns_test_name, Duration::from_secs(5)) {
            return;
        }
        self.log.warn(&format!(
            "dnsmasq at {server} does not resolve {}: running {}",
            c.dns_test_name,
            c.dns_restart_cmd.join(" ")
        ));
        if let Err(e) = dns::restart(&c.dns_restart_cmd) {
            self.log.error(&format!("{}: {e}", c.dns_restart_cmd.join(" ")));
        }
    }

    fn record_switch(&mut self, failsafe: bool, started: Instant) -> Result<u128, Error> {
        let ms = started.elapsed().as_millis();
        if self.dry_run {
            return Ok(ms);
        }
        let mut r = self.record()?;
        r.failsafe = failsafe;
        r.since_unix_s = unix_now();
        r.last_switch_ms = ms as u64;
        if failsafe {
            r.activations += 1;
        } else {
            r.deactivations += 1;
        }
        self.state.write_record(&r).context("state")?;
        Ok(ms)
    }

    // -----------------------------------------------------------------------------------
    // Deactivation and cleanup

    /// What activation added: the journal, or, when the state was lost altogether (no
    /// journal, no snapshot, yet the tunnel default in main), what has activation's shape.
    fn owned(&self, routes: &[Route], rules: &[Rule]) -> Vec<Owned> {
        let ours = self.ours();
        let tunnel_in_main = routes.iter().any(|r| r.same_path(&ours.tunnel_default(RT_TABLE_MAIN)));
        if !self.journal.is_empty() || self.state.snapshot_exists() || !tunnel_in_main {
            return self.journal.clone();
        }
        self.log.warn("state lost: taking back the routes and rules that have the failsafe's shape");
        let c = self.cfg;
        let mut owned: Vec<Owned> = routes
            .iter()
            .filter(|r| r.same_path(&ours.tunnel_default(r.table)) || r.same_path(&ours.endpoint_route()))
            .cloned()
            .map(Owned::Route)
            .collect();
        owned.extend(
            rules
                .iter()
                .filter(|r| r.priority == c.lan_rule_priority && r.table == RT_TABLE_MAIN && !r.other)
                .filter(|r| r.fwmark.is_some() || r.src.is_some_and(|s| c.lan_subnets.contains(&s)))
                .cloned()
                .map(Owned::Rule),
        );
        owned
    }

    /// Deactivation (DESIGN.md, steps 1 to 4). `primary_checked`: the caller has just
    /// seen the primary gateway answer through PRIMARY_DEV (step 1); otherwise it is
    /// checked here and a silent gateway only earns a warning, since the caller forced it.
    pub fn deactivate(&mut self, primary_checked: bool, routes: &[Route]) -> Result<Outcome, Error> {
        let started = Instant::now();
        let c = self.cfg;

        // 1. The primary gateway answers through PRIMARY_DEV.
        if !primary_checked && !self.gateway_answers()? {
            self.log.warn(&format!(
                "deactivating by request although {} does not answer through {}",
                c.primary_gw, c.primary_dev
            ));
        }

        // 2. In main and each managed table, the saved routes go back before the tunnel
        //    default goes, so no table is ever without a default.
        let rules = self.rules()?;
        let snapshot = self.snapshot()?;
        let owned = self.owned(routes, &rules);
        let owned_defaults: Vec<Route> = owned
            .iter()
            .filter_map(|o| match o {
                Owned::Route(r) if r.is_default() => Some(r.clone()),
                _ => None,
            })
            .collect();
        let mut tables = managed_tables(snapshot.as_deref().unwrap_or_default());
        tables.extend(owned_defaults.iter().map(|r| r.table));
        let mut failures = Vec::new();
        for table in tables {
            let current: Vec<Route> = defaults_of(routes, table).cloned().collect();
            let mine: Vec<Route> = owned_defaults.iter().filter(|r| r.table == table).cloned().collect();
            let saved: Vec<Route> = match &snapshot {
                Some(s) => defaults_of(s, table).cloned().collect(),
                // No snapshot: the primary default, unless something else already holds
                // the table once ours are gone.
                None if current.iter().any(|r| !mine.contains(r)) => Vec::new(),
                None => vec![self.ours().primary_default(table)],
            };
            // A table whose saved routes cannot be put back keeps the tunnel default.
            let mut restored = true;
            for change in restore_table(&current, &saved, &mine) {
                if matches!(change, Change::DelRoute(_)) && !restored {
                    continue;
                }
                if let Err(e) = self.apply(&change, false) {
                    restored &= !matches!(change, Change::AddRoute(..));
                    failures.push(e.to_string());
                }
            }
        }

        // 3. The rules and the endpoint route that activation added: nothing else.
        for item in owned.iter().rev() {
            let change = match item {
                Owned::Rule(r) => Change::DelRule(r.clone()),
                Owned::Route(r) if !r.is_default() => Change::DelRoute(r.clone()),
                Owned::Route(_) => continue,
            };
            if let Err(e) = self.apply(&change, false) {
                failures.push(e.to_string());
            }
        }
        if !failures.is_empty() {
            return Err(Error::Failed(format!("deactivation incomplete, still in failsafe: {}", failures.join("; "))));
        }

        // 4. Normal again.
        if !self.dry_run {
            self.state.clear_journal().context("state")?;
            self.journal.clear();
            self.state.remove_snapshot().context("state")?;
        }
        let ms = self.record_switch(false, started)?;
        self.log.info(&format!("failsafe DEACTIVATED in {ms} ms: every table is back on its own routes"));
        Ok(Outcome::Deactivated { ms })
    }

    /// Takes back everything in the journal (an activation that did not finish) while the
    /// failsafe is off.
    pub fn cleanup(&mut self) -> Result<Outcome, Error> {
        let items = self.journal.clone();
        for item in items.iter().rev() {
            let change = match item {
                Owned::Route(r) => Change::DelRoute(r.clone()),
                Owned::Rule(r) => Change::DelRule(r.clone()),
            };
            self.apply(&change, false)?;
        }
        if !self.dry_run {
            self.state.clear_journal().context("state")?;
            self.journal.clear();
        }
        if !items.is_empty() {
            self.log.info(&format!("took back {} route(s)/rule(s) of an unfinished activation", items.len()));
        }
        Ok(Outcome::CleanedUp)
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
