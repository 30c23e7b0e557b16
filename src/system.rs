//! The system the sequences act on: one run's door to the kernel and the world
//! ([`Kernel`]: the real sockets, or in unit tests the recording fake), STATE_DIR, what a
//! round observes (its probes in `probes`), and the one executor, [`System::apply`], that
//! every change goes through — routes, rules, link state, WireGuard peer settings and the
//! DNS restart. A change is recorded in command words (printed by `--dry-run` and `-v`),
//! written ahead to the journal when it is one the failsafe must put back, and only then
//! made. `failsafe` holds the sequences; `decide` and `health` the judgement.

#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use crate::config::{Config, Gateway};
use crate::decide::{failsafe_on, round_gateways, Change, ModeFiles};
use crate::error::{Context, Error};
use crate::hook;
use crate::log::Logger;
use crate::netlink::link::{Addr, Links};
use crate::netlink::route::{self, Route, DEFAULT};
use crate::netlink::rule::{self, Rule};
use crate::netlink::{ok_if_exists, ok_if_missing, Netlink, NetlinkError};
use crate::state::{self, Owned, Record, Snapshot, State};
use crate::traffic::Bytes;
use crate::wireguard::{self, Backend, Device};

mod door;
#[cfg(test)]
pub mod fake;
#[cfg(test)]
mod kept6;
#[cfg(test)]
mod lab;
#[cfg(test)]
mod metered;
#[cfg(test)]
mod model;
mod named;
#[cfg(test)]
mod outage_totals;
mod peers;
mod probes;
#[cfg(test)]
mod sessions;
#[cfg(test)]
mod stops;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tunnels;
#[cfg(test)]
mod tunnels_active;
#[cfg(test)]
mod unaddressed;

pub use door::{wall_now, Kernel};
pub use probes::{OthersDue, PrimaryRound};

/// One run's view of the system and its means to change it.
pub struct System<'a> {
    /// The configuration of the tunnel in use (see [`System::use_tunnel`]).
    pub cfg: &'a Config,
    /// The configuration as loaded: every tunnel (`Config::tunnel`).
    pub root: &'a Config,
    pub log: &'a Logger,
    pub dry_run: bool,
    /// Everything the sequences ask of the kernel and the world outside, or do to them.
    pub(crate) kernel: Kernel,
    pub links: Links,
    state: State,
    /// The record as last read or written.
    record: Record,
    journal: Vec<Owned>,
    /// Changes made (accepted by the kernel), or in a dry run that would be made, in
    /// command words.
    pub changes: Vec<String>,
    /// `error` events announced so far by this process.
    pub errors_announced: u32,
    /// State changes for ON_CHANGE, handed to the driver in a `failsafe::Told`.
    notices: Vec<hook::Notice>,
    /// Flows CONNTRACK_FLUSH reset after this run's last switch: told with the events
    /// of a switch (WGF_FLOWS).
    pub flows_reset: Option<usize>,
    /// The DNS questions that may wait are not asked by the sequence but left to the
    /// driver, which asks them beside its loop, where a carrier event must never wait for
    /// them (the daemon): step 7's check, handed over ([`System::take_dns_due`]; up to 5 s
    /// of query, then the restart), and a healthy round's lookup of a name endpoint (up to
    /// 1 s), which the driver makes after a healthy round; and while the failsafe is on
    /// with no address for a name endpoint, its lookup through the backup (up to 3 s:
    /// [`System::take_lookup_due`]).
    pub dns_beside: bool,
    pub(crate) dns_due: Option<Ipv4Addr>,
    /// With several tunnels under the daemon (`OthersSeen::Beside` of the sequences), the echoes to
    /// the tunnels not in use that a round left to it ([`System::take_others_due`]).
    pub(crate) others_due: Option<OthersDue>,
    /// With several tunnels, the one that carries the LAN for the hook (WGF_TUNNEL; empty:
    /// none); `None` with one tunnel.
    lan_tunnel: Option<String>,
    /// The lookup through the backup handed to the driver, and the path it goes along.
    pub(crate) lookup_due: Option<(crate::endpoint::Asking, crate::probe::Path)>,
    /// The driver has one under way: none is begun again meanwhile.
    pub lookup_beside: bool,
    /// The bytes of the outage a failback ended: told with its `deactivated` event
    /// (WGF_BYTES_RX, WGF_BYTES_TX).
    pub outage_bytes: Option<Bytes>,
}

/// How long the LAN resolver has to answer step 7's query.
pub const DNS_WAIT: Duration = Duration::from_secs(5);

/// What one round observed, read once and passed down.
pub struct Observed {
    pub routes: Vec<Route>,
    /// Dumped when the round needs them (failsafe on, or a gateway is `auto`).
    pub rules: Vec<Rule>,
    pub snapshot: Option<Snapshot>,
    /// IPv4's, dumped when the round needs them: a gateway `auto`, TRACK_IPS, or the
    /// failsafe on (WG_IFACE without one is no tunnel: `judge::has_ipv4`); the daemon's
    /// view always has them.
    pub addrs: Vec<Addr>,
    pub primary_gw: Option<Ipv4Addr>,
    pub backup_gw: Option<Ipv4Addr>,
    /// The failsafe counts as on (DESIGN.md, "Which mode are we in").
    pub on: bool,
}

/// HISTORY_FILE at the first run of a boot (a fresh record): the outages a reboot cut
/// short (a power cut during them) completed — their open lines, and `cut`, what the
/// previous boot's record knew of its outage when STATE_DIR survived (see
/// `history::sweep`). Done (`true`), `record` says so; a write that fails is told,
/// nothing else fails, and the next run tries again.
fn sweep_history(cfg: &Config, log: &Logger, record: &mut Record, cut: Option<&crate::history::Outage>) -> bool {
    let Some(path) = &cfg.history_file else { return false };
    match crate::history::sweep(path, cfg.history_max_kb, cut) {
        Ok(()) => record.history_checked = true,
        Err(e) => {
            log.warn(&format!("HISTORY_FILE {}: an outage cut by a reboot is not recorded yet: {e}", path.display()))
        }
    }
    record.history_checked
}

impl<'a> System<'a> {
    /// Opens the sockets and STATE_DIR (refused, exit 2, unless it is root's alone), and
    /// sets aside state written under an earlier boot.
    pub fn open(cfg: &'a Config, log: &'a Logger, dry_run: bool) -> Result<System<'a>, Error> {
        let nl = Netlink::open(netlink_sys::protocols::NETLINK_ROUTE).context("netlink")?;
        let wg = Device::new(wireguard::choose(cfg.wg_backend, &cfg.wg_iface), &cfg.wg_iface);
        let state = State::open(&cfg.state_dir).map_err(state_error)?;
        System::over(cfg, log, dry_run, Kernel::Netlink(door::Real { nl, wg }), state)
    }

    /// A System over `kernel` and an opened STATE_DIR: what [`System::open`] does once
    /// its sockets are open (unit tests give it the fake kernel).
    pub fn over(
        cfg: &'a Config,
        log: &'a Logger,
        dry_run: bool,
        mut kernel: Kernel,
        mut state: State,
    ) -> Result<System<'a>, Error> {
        let links = kernel.links().context("reading links")?;
        let read = state.record();
        let mut record = or_set_aside(&mut state, log, dry_run, read, Record::default())?;
        // While an outage is on: when a round last knew it went on (a reboot may cut it).
        let written_unix_s = record.mode.failsafe.then(|| state.record_written_unix_s()).flatten();
        // This boot's id, read once and only when asked for (see `State::of_other_boot`).
        let boot_cell = std::cell::OnceCell::new();
        let boot = || boot_cell.get_or_init(|| kernel.boot_id()).clone();
        let swept = if !dry_run && state.of_other_boot(boot).map_err(state_error)? {
            // HISTORY_FILE first (a retry writes the outage once), then set aside.
            let cut = crate::history::cut_by_reboot(&record, written_unix_s, cfg.backup_budget_mb.is_some());
            record = Record::default();
            let swept = sweep_history(cfg, log, &mut record, cut.as_ref());
            state.forget_other_boot(boot).map_err(state_error)?;
            log.warn(&format!("{} was written before the last reboot: starting clean", cfg.state_dir.display()));
            swept
        } else if !dry_run && !record.history_checked && !record.mode.failsafe {
            sweep_history(cfg, log, &mut record, None)
        } else {
            false
        };
        if swept {
            // Once a boot: written with the boot, so that the next one checks again.
            record.boot_id = boot().or(record.boot_id);
            state.write_record(&record).map_err(state_error)?;
        }
        let read = state.journal();
        let journal = or_set_aside(&mut state, log, dry_run, read, Vec::new())?;
        // A name endpoint takes the address it had (activation's, while the failsafe is on).
        let own = match cfg.wg_endpoint.name {
            Some(_) => own_ipv4(&kernel.addrs().context("reading addresses")?),
            None => Vec::new(),
        };
        crate::endpoint::recall(cfg, &state, &own);
        crate::endpoint::recall_from_journal(cfg, &journal);
        let mut sys = System {
            cfg,
            root: cfg,
            log,
            dry_run,
            kernel,
            links,
            state,
            record,
            journal,
            changes: Vec::new(),
            errors_announced: 0,
            notices: Vec::new(),
            flows_reset: None,
            dns_beside: false,
            dns_due: None,
            others_due: None,
            lan_tunnel: None,
            lookup_due: None,
            lookup_beside: false,
            outage_bytes: None,
        };
        sys.use_tunnel(cfg.tunnel_of(sys.record.mode.tunnel.as_deref()));
        sys.lan_on(sys.record.mode.failsafe.then_some(sys.record.mode.target));
        Ok(sys)
    }

    /// The sequences work on tunnel `i` of the configuration (0: the first) from now on.
    pub fn use_tunnel(&mut self, i: usize) {
        self.cfg = self.root.tunnel(i);
        self.kernel.aim_wg(self.cfg.wg_backend, &self.cfg.wg_iface);
    }

    /// Where the LAN goes from now on, for the hook (`None`: the failsafe is off): with
    /// several tunnels, the tunnel in use when `target` is the tunnel.
    pub fn lan_on(&mut self, target: Option<crate::decide::Target>) {
        let on_tunnel = target == Some(crate::decide::Target::Tunnel);
        self.lan_tunnel =
            (self.root.tunnel_count() > 1).then(|| if on_tunnel { self.cfg.wg_iface.clone() } else { String::new() });
    }

    /// Which tunnel the sequences work on (0: the first).
    pub fn tunnel_in_use(&self) -> usize {
        self.root.tunnel_of(Some(&self.cfg.wg_iface))
    }

    pub fn backend(&self) -> Backend {
        self.kernel.backend()
    }

    /// The ON_CHANGE notices this System's sequences queued, taken by `failsafe::Told`
    /// (its only caller) once the tick, round or command is over, for the driver to hand
    /// to the hook through `Told::announce`.
    pub(crate) fn take_notices(&mut self) -> Vec<hook::Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Seconds of CLOCK_BOOTTIME, through the door (a test moves it).
    pub fn boottime_s(&self) -> u64 {
        self.kernel.boottime_s()
    }

    pub fn boottime_ms(&self) -> u64 {
        self.kernel.boottime_ms()
    }

    /// Wall time since the epoch (WireGuard's handshake clock); never used for timing.
    pub fn wall_now(&self) -> Duration {
        self.kernel.wall_now()
    }

    /// Milliseconds since `started_ms` (a [`System::boottime_ms`]): the sequences' one
    /// monotonic clock, through the door, so that a test's time is the fake's.
    pub fn elapsed_ms(&self, started_ms: u64) -> u64 {
        self.kernel.boottime_ms().saturating_sub(started_ms)
    }

    /// Waits `d` (a test's fake only moves its clocks on).
    pub fn sleep(&self, d: Duration) {
        self.kernel.sleep(d)
    }

    /// This boot's id, through the door (see [`state::boot_id`]).
    pub fn boot_id(&self) -> Option<String> {
        self.kernel.boot_id()
    }

    pub fn record(&self) -> &Record {
        &self.record
    }

    pub fn journal(&self) -> &[Owned] {
        &self.journal
    }

    pub fn snapshot_exists(&self) -> bool {
        self.state.snapshot_exists()
    }

    // -----------------------------------------------------------------------------------
    // Observation

    pub fn relink(&mut self) -> Result<(), Error> {
        self.links = self.kernel.links().context("reading links")?;
        Ok(())
    }

    /// The routes the tool looks at, of both families: every default, and routes to the
    /// VPS endpoint.
    pub fn routes(&mut self) -> Result<Vec<Route>, Error> {
        let mut routes = self.routes_of(false)?;
        routes.extend(self.routes_of(true)?);
        Ok(routes)
    }

    /// The routes the tool looks at, of one family (a healthy tick reads IPv4's only:
    /// the mode is told by `main`'s IPv4 default).
    pub fn routes_of(&mut self, v6: bool) -> Result<Vec<Route>, Error> {
        self.kernel.routes(&self.links, self.cfg.wg_endpoint.addr(), v6)
    }

    /// Both families' rules.
    pub fn rules(&mut self) -> Result<Vec<Rule>, Error> {
        self.kernel.rules()
    }

    pub fn addrs(&mut self) -> Result<Vec<Addr>, Error> {
        self.kernel.addrs().context("reading addresses")
    }

    pub fn snapshot(&mut self) -> Result<Option<Snapshot>, Error> {
        let read = self.state.snapshot();
        or_set_aside(&mut self.state, self.log, self.dry_run, read, None)
    }

    /// `default via WG_PEER_IP dev WG_IFACE metric METRIC_WG` in `table`.
    pub fn tunnel_default(&self, table: u32) -> Route {
        Route::via(table, DEFAULT, self.cfg.wg_peer_ip, &self.cfg.wg_iface, self.cfg.metric_wg)
    }

    /// One round's observation: routes, the mode, and what the round needs besides.
    pub fn observe(&mut self) -> Result<Observed, Error> {
        let c = self.cfg;
        // Both families: IPv6's footprint tells the failsafe is on as well as IPv4's.
        let routes = self.routes()?;
        // Rules always: which tables are managed is what a healthy round remembers.
        let rules = self.rules()?;
        let auto = c.primary_gw == Gateway::Auto || c.backup_gw == Gateway::Auto;
        // A healthy tick with fixed gateways and no TRACK_IPS reads none.
        let needed = auto || !c.track_ips.is_empty() || self.is_on(&routes);
        let addrs = if needed { self.addrs()? } else { Vec::new() };
        self.observed(routes, rules, addrs)
    }

    /// The failsafe counts as on (DESIGN.md, "Which mode are we in"): its default in
    /// `main` — the tunnel's or, on the fallback, the backup's — counts when the state is lost.
    pub fn is_on(&self, routes: &[Route]) -> bool {
        failsafe_on(self.mode_files(), routes, self.cfg)
    }

    /// What STATE_DIR says of the mode as of this System's last read or write.
    pub fn mode_files(&self) -> ModeFiles {
        ModeFiles::of(&self.record, self.snapshot_exists(), &self.journal)
    }

    /// A round's observation from routes, rules and addresses read elsewhere (the
    /// daemon keeps them from the kernel's announcements).
    pub fn observed(&mut self, routes: Vec<Route>, rules: Vec<Rule>, addrs: Vec<Addr>) -> Result<Observed, Error> {
        let c = self.cfg;
        let on = self.is_on(&routes);
        let snapshot = if on { self.snapshot()? } else { None };
        let ours = crate::model::owned_routes(&self.journal);
        let (primary_gw, backup_gw) = round_gateways(c, &self.links, &addrs, &routes, &rules, &ours, snapshot.as_ref());
        Ok(Observed { routes, rules, snapshot, addrs, primary_gw, backup_gw, on })
    }

    /// Records a state change in the event ring and queues ON_CHANGE for it (a dry run
    /// only says so). The same event for the same reason as the last one (an activation
    /// that fails every minute) is neither recorded nor announced again: then `false`.
    /// Never fails the sequence that calls it, and is called only once the tables are
    /// switched; the queue leaves with the tick's or sequence's `failsafe::Told`, whose
    /// `announce` hands it to one watcher.
    pub fn event(&mut self, event: &str, reason: &str, ms: Option<u64>, tables: impl IntoIterator<Item = u32>) -> bool {
        self.errors_announced += u32::from(event == "error");
        if self.dry_run {
            self.changes.push(format!("# event {event}: {reason}"));
            return true;
        }
        let e =
            state::Event { at_unix_s: self.wall_now().as_secs(), event: event.to_string(), reason: reason.to_string() };
        let new = match self.kernel.state_write("event") {
            Ok(()) => self.state.push_event(&e).unwrap_or_else(|err| {
                self.log.warn(&format!("event {event} not recorded: {err}"));
                true
            }),
            // Stopped (a test's kill): nothing more is written or announced.
            Err(_) => false,
        };
        if new {
            let tables = tables.into_iter().collect();
            let flows = ms.and(self.flows_reset);
            let tunnel = self.lan_tunnel.clone();
            let bytes = if event == "deactivated" { self.outage_bytes } else { None };
            let (event, reason) = (event.to_string(), reason.to_string());
            self.notices.push(hook::Notice { event, reason, ms, tables, flows, bytes, tunnel });
        }
        new
    }

    pub fn events(&self) -> Vec<state::Event> {
        self.state.events()
    }

    // -----------------------------------------------------------------------------------
    // Changes

    /// Makes one change (or records it, in a dry run).
    pub fn apply(&mut self, change: &Change) -> Result<(), Error> {
        if self.dry_run {
            self.changes.push(change.to_string());
            return Ok(());
        }
        let links = &self.links;
        let result = match change {
            // EEXIST is "done" only when this very route is there: a route with its key but
            // another path (an old gateway's) is not ours to take for it.
            Change::AddRoute(r, mode) => match self.kernel.add_route(links, r, *mode) {
                Err(NetlinkError::Kernel(libc::EEXIST)) => {
                    match self.kernel.routes(links, self.cfg.wg_endpoint.addr(), r.is_v6()) {
                        Ok(now) if now.iter().any(|x| x.same_path(r)) => Ok(()),
                        Ok(_) => Err(Error::Failed(format!("{change}: another route holds its place"))),
                        Err(e) => Err(e),
                    }
                }
                done => done.context(change),
            },
            Change::DelRoute(r) => ok_if_missing(self.kernel.delete_route(links, r)).context(change),
            Change::AddRule(r) => ok_if_exists(self.kernel.add_rule(r)).context(change),
            Change::DelRule(r) => ok_if_missing(self.kernel.delete_rule(r)).context(change),
            Change::SetLink { dev, up } => match links.index(dev) {
                Some(index) => self.kernel.set_admin(index, *up).context(change),
                // Gone: nothing left to put back.
                None if !up => Ok(()),
                None => Err(Error::Failed(format!("{change}: {dev} does not exist"))),
            },
            Change::SetPeer { peer, iface } => {
                self.kernel.aim_wg(self.cfg.wg_backend, iface);
                let done = self.kernel.set_peer(peer).context(change);
                self.kernel.aim_wg(self.cfg.wg_backend, &self.cfg.wg_iface);
                done
            }
            Change::RenewPeer { peer, .. } => self.kernel.renew_peer(peer).context(change),
            Change::RestartDns(cmd) => self.kernel.restart_dns(cmd).context(change),
        };
        // What was made (`-v` prints it; a round counts its repairs by it): a refused
        // change is not, its error says it.
        if result.is_ok() {
            self.changes.push(change.to_string());
            if let Change::SetLink { dev, up } = change {
                self.links.set_admin_up(dev, *up);
            }
        }
        result
    }

    /// Makes a change that must be put back later: `owned` (what puts it back) goes to
    /// the journal, durably, before the change is made.
    pub fn apply_owned(&mut self, change: &Change, owned: Owned) -> Result<(), Error> {
        if !self.dry_run && !self.journal.contains(&owned) {
            self.state_write("journal")?;
            let boot = self.kernel.boot_id();
            self.state.journal_append(&owned, boot.as_deref()).map_err(state_error)?;
            self.journal.push(owned);
        }
        self.apply(change)
    }

    pub fn write_record(&mut self, r: &Record) -> Result<(), Error> {
        if !self.dry_run && *r != self.record {
            self.state_write("record")?;
            self.state.write_record(r).map_err(state_error)?;
        }
        self.record = r.clone();
        // The sequences work on the tunnel the record says is in use.
        let recorded = self.root.tunnel_of(r.mode.tunnel.as_deref());
        if recorded != self.tunnel_in_use() {
            self.use_tunnel(recorded);
        }
        self.lan_on(r.mode.failsafe.then_some(r.mode.target));
        Ok(())
    }

    pub fn write_snapshot(&mut self, s: &Snapshot) -> Result<(), Error> {
        if self.dry_run {
            return Ok(());
        }
        let unix_s = self.wall_now().as_secs();
        self.state_write("snapshot")?;
        self.state.write_snapshot(s, unix_s).map_err(state_error)
    }

    /// The managed tables' defaults as last seen healthy (see `ownership::made_good`).
    pub fn healthy(&self) -> Option<Snapshot> {
        self.state.healthy()
    }

    /// Remembers the tables of a healthy round, written only when they changed (a dry run
    /// writes nothing).
    pub fn remember_healthy(&mut self, s: &Snapshot) -> Result<(), Error> {
        if self.dry_run {
            return Ok(());
        }
        let unix_s = self.wall_now().as_secs();
        self.state.remember_healthy(s, unix_s).map(|_| ()).map_err(state_error)
    }

    /// After a full deactivation or a cleanup: the journal, then the snapshot, go — but
    /// `kept`, what the ticks after must still take back (IPv6's defaults of ours that a
    /// failback kept, and the table's own to put back), which replaces the journal
    /// atomically instead.
    pub fn forget_changes(&mut self, snapshot_too: bool, kept: &[Owned]) -> Result<(), Error> {
        if self.dry_run {
            return Ok(());
        }
        if kept.is_empty() {
            self.state_write("clear journal")?;
            self.state.clear_journal().map_err(state_error)?;
        } else if kept != self.journal.as_slice() {
            self.state_write("journal")?;
            let boot = self.kernel.boot_id();
            self.state.replace_journal(kept, boot.as_deref()).map_err(state_error)?;
        }
        self.journal = kept.to_vec();
        if snapshot_too {
            self.state_write("remove snapshot")?;
            self.state.remove_snapshot().map_err(state_error)?;
        }
        Ok(())
    }
}

impl System<'_> {
    /// A write to STATE_DIR goes through the door too, so a test can stop the process
    /// before any write as well as before any change.
    fn state_write(&mut self, what: &str) -> Result<(), Error> {
        self.kernel.state_write(what).map_err(|e| Error::Failed(format!("state: {e}")))
    }
}

/// The router's own IPv4 addresses among `addrs` (what a name endpoint must not be).
pub fn own_ipv4(addrs: &[Addr]) -> Vec<Ipv4Addr> {
    let mut own = Vec::new();
    for a in addrs {
        own.push(a.local);
    }
    own
}

/// STATE_DIR that is not root's alone is a configuration problem (exit 2); the rest
/// is a failure to reach the desired state.
pub fn state_error(e: state::StateError) -> Error {
    if e.untrusted {
        Error::Untrusted(e.to_string())
    } else {
        Error::Failed(format!("state: {e}"))
    }
}

/// A state file that is corrupt (cut short, garbage, too large) is reported and set aside
/// as `NAME.corrupt` (a dry run and `status` only report it); the tool goes on as if it
/// were lost, which the state-lost rules cover (DESIGN.md, "Which mode are we in").
fn or_set_aside<T>(
    state: &mut State,
    log: &Logger,
    dry_run: bool,
    read: Result<T, state::StateError>,
    lost: T,
) -> Result<T, Error> {
    match read {
        Ok(read) => Ok(read),
        Err(e) => set_aside_if_corrupt(state, log, dry_run, e).map(|()| lost),
    }
}

/// [`or_set_aside`]'s failure, apart from the type read (one copy, not one per type):
/// `Ok` when the file was corrupt and is now reported (and set aside).
#[inline(never)]
fn set_aside_if_corrupt(state: &mut State, log: &Logger, dry_run: bool, e: state::StateError) -> Result<(), Error> {
    if !e.corrupt {
        return Err(state_error(e));
    }
    if dry_run {
        log.warn(&format!("{e}: read as if it were lost"));
        return Ok(());
    }
    let aside = state.set_aside(&e).map_err(state_error)?;
    log.error(&format!("{e}: set aside as {}; going on as if it were lost", aside.display()));
    Ok(())
}

/// A small file (a key): regular, not followed through a symlink, never waited on (a
/// FIFO), read with a bound (`trust::read_regular`).
fn read_small(path: &Path) -> std::io::Result<String> {
    crate::trust::read_regular(path, 4096)
}

/// The routes of one family the tool looks at (`run` and the daemon): see [`wanted_route`].
pub fn dump_routes(nl: &mut Netlink, links: &Links, endpoint: Ipv4Addr, v6: bool) -> Result<Vec<Route>, Error> {
    route::dump(nl, links, v6, |m| wanted_route(m, endpoint)).context(if v6 {
        "reading IPv6 routes"
    } else {
        "reading routes"
    })
}

/// Both families' rules (`run` and the daemon).
pub fn dump_rules(nl: &mut Netlink) -> Result<Vec<Rule>, Error> {
    let mut rules = rule::dump(nl, false).context("reading rules")?;
    rules.extend(rule::dump(nl, true).context("reading IPv6 rules")?);
    Ok(rules)
}

/// The routes the tool keeps from a dump or an announcement: defaults of both families,
/// and the host route to the VPS endpoint.
pub fn wanted_route(m: &crate::netlink::codec::RouteMessage, endpoint: Ipv4Addr) -> bool {
    let dst = route::destination(m);
    dst.len == 0 || (dst.len == 32 && dst.addr == std::net::IpAddr::V4(endpoint))
}
