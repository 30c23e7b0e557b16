//! The decision and every plan, as pure functions: from what a round observed (mode,
//! health, the routes and rules the kernel holds, the snapshot, the journal) to what
//! should change. Nothing here does I/O, so every rule of DESIGN.md's "Semantics" —
//! which tables are ours, what a default that appeared means, what to put back, what
//! "state lost" implies, which gateway `auto` is — is unit-tested here without root.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use crate::config::{Config, Gateway};
use crate::model::Owned;
pub use crate::model::{Change, Target};
use crate::net::{Ipv4Net, Prefix};
use crate::netlink::link::{Addr, Links};
use crate::netlink::route::{AddMode, Route, DEFAULT, DEFAULT6, RTN_UNICAST, RTPROT_STATIC, RT_TABLE_MAIN};
use crate::netlink::rule::{Rule, FR_ACT_REFUSE, FR_ACT_TO_TBL};
use crate::record::Record;
use crate::state::Snapshot;

mod ours;
pub use ours::Ours;

/// The tables the seed script always looked at.
pub const SEED_TABLES: [u32; 4] = [10, 201, 202, 210];

/// What a tick does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Primary healthy, failsafe off.
    Nothing,
    /// Primary healthy, failsafe off, but an interrupted activation left changes in the
    /// journal: take them back.
    Cleanup,
    /// Primary unhealthy, failsafe off.
    Activate,
    /// Failsafe on and the primary not (yet) back: re-assert, judge the tunnel.
    Reassert,
    /// Failsafe on and the primary back for long enough.
    Deactivate,
}

/// The failsafe's own default in `main` of either family — IPv4's tunnel default or its
/// fallback's shape, IPv6's tunnel or `unreachable` target — what tells that it is on when
/// every state file is lost. `run`, the daemon and deactivation all ask this.
pub fn footprint_in_main(routes: &[Route], cfg: &Config) -> bool {
    footprint_of_family(routes, cfg, true)
}

/// [`footprint_in_main`] of IPv4's routes only (`with_v6` false) or of both families'.
fn footprint_of_family(routes: &[Route], cfg: &Config, with_v6: bool) -> bool {
    // Several tunnels: any one's default (`cfg` is the first's, which lists them all).
    (0..cfg.tunnel_count()).any(|i| footprint_of(routes, cfg.tunnel(i), with_v6))
}

/// The footprint of the tunnel `cfg` names, in `main`.
fn footprint_of(routes: &[Route], cfg: &Config, with_v6: bool) -> bool {
    let ours = Ours { cfg, backup_gw: Ipv4Addr::UNSPECIFIED, primary_gw: None, over_budget: false };
    let tunnel4 = ours.tunnel_default(RT_TABLE_MAIN);
    routes.iter().filter(|r| r.table == RT_TABLE_MAIN && (with_v6 || !r.is_v6())).any(|r| {
        r.same_path(&tunnel4)
            || fallback_shape(r, cfg)
            || (r.is_v6()
                && [Target::Tunnel, Target::Backup]
                    .iter()
                    .any(|t| r.same_path(&ours.target_default6(*t, RT_TABLE_MAIN))))
    })
}

/// What STATE_DIR says of the mode: the facts of [`failsafe_on`] that are not in the routes.
/// The daemon keeps them between its sequences (they change only with a write of the
/// state), and asks `failsafe_on` over them and its view of the routes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModeFiles {
    /// The record says the failsafe is on.
    pub recorded: bool,
    /// A snapshot exists (an interrupted activation).
    pub snapshot_exists: bool,
    /// The journal lists IPv6 defaults a failback could not put back
    /// ([`Owned::Unrestored`]): the IPv6 defaults of ours kept beside them are known, not
    /// a footprint of a lost state.
    pub kept6: bool,
}

impl ModeFiles {
    /// What the record (as read; a default one when it cannot be), the snapshot's
    /// presence and the journal say: the one place these facts are taken from STATE_DIR's
    /// files.
    pub fn of(record: &Record, snapshot_exists: bool, journal: &[Owned]) -> ModeFiles {
        let kept6 = journal.iter().any(|o| matches!(o, Owned::Unrestored(_)));
        ModeFiles { recorded: record.mode.failsafe, snapshot_exists, kept6 }
    }
}

/// The failsafe counts as on (DESIGN.md, "Which mode are we in") when the record says so,
/// or a snapshot exists, or `main` holds its footprint (state lost): the one answer that
/// `run`, the daemon, status and deactivation read.
pub fn failsafe_on(files: ModeFiles, routes: &[Route], cfg: &Config) -> bool {
    if files.recorded || files.snapshot_exists {
        return true;
    }
    // IPv6's defaults of ours that a failback kept are journaled: only IPv4's tell then.
    footprint_of_family(routes, cfg, !files.kept6)
}

/// `back`: the primary passed every round for the failback wait (see
/// [`crate::health::failback`]); only asked while the failsafe is on.
pub fn decide(failsafe_on: bool, primary_healthy: bool, journal_leftovers: bool, back: bool) -> Action {
    match (failsafe_on, primary_healthy) {
        (false, true) if journal_leftovers => Action::Cleanup,
        (false, true) => Action::Nothing,
        (false, false) => Action::Activate,
        (true, _) if back => Action::Deactivate,
        (true, _) => Action::Reassert,
    }
}

/// Whether the daemon runs the shared round (`failsafe::round`, under the lock) now, given
/// what [`decide`] says over its view (the failback wait left to the round): an
/// activation or a cleanup at once; while on, at each probe round (the failback wait and
/// the tunnel are judged there) or when something changed (`dirty`) or cannot wait
/// (`urgent`); healthy and off, only when something changed — cron's tick would run it
/// each minute, and the daemon's fast path must not skip what it would do.
pub fn daemon_round_due(action: Action, probe_round: bool, dirty: bool, urgent: bool) -> bool {
    match action {
        Action::Activate | Action::Cleanup => true,
        Action::Reassert | Action::Deactivate => probe_round || dirty || urgent,
        Action::Nothing => dirty,
    }
}

/// Step 6's changes: the `wanted` rules of one priority (see [`Ours::lan_rules`]) in
/// their order, given the rules the kernel holds (a dump, in its order) and those the
/// journal says are ours. Rules of one priority are consulted in the order they were
/// added, so when one is missing, those of ours after it go and come back after it (a
/// copy added while active must come before the LAN's rule); a rule that is not ours is
/// never deleted nor taken for ours; a copy of ours no longer wanted (its original gone,
/// or its table managed now) goes first, and so does one of ours from a source to main
/// (the LAN's own rule once its subnet is refused over the budget, a refusal's once the
/// period ends). None is ever duplicated.
pub fn rules_plan(wanted: &[Rule], present: &[Rule], owned: &[Rule]) -> Vec<Change> {
    let is_ours = |r: &Rule| owned.contains(r);
    let from_src = |o: &Rule| o.src.is_some() && o.dst.is_none() && o.fwmark.is_none();
    let mut plan = Vec::new();
    for o in owned {
        let stale = present.contains(o) && !wanted.contains(o) && (o.table != RT_TABLE_MAIN || from_src(o));
        if stale {
            plan.push(Change::DelRule(o.clone()));
        }
    }
    let Some(first_missing) = wanted.iter().position(|w| !present.contains(w)) else { return plan };
    let after = &wanted[first_missing..];
    let again: Vec<&Rule> = after.iter().filter(|w| !present.contains(w) || is_ours(w)).collect();
    for w in &again {
        if present.contains(w) {
            plan.push(Change::DelRule((*w).clone()));
        }
    }
    for w in again {
        plan.push(Change::AddRule(w.clone()));
    }
    plan
}

/// Step 1's host route to the VPS, given the routes the kernel holds and ours: added
/// when its key (table, destination, metric) is free; put in place of ours of that key
/// in one request when the backup gateway moved (a new DHCP lease) — two routes to the
/// VPS share that key, and deleting the old one after an "already there" would leave
/// none; left alone when a route that is not ours already sends the VPS's packets out of
/// BACKUP_DEV. Ours to the VPS with another key (METRIC_BACKUP changed) go after.
/// `Err` names a route that is not ours holding the key through another device. Then the
/// rule that sends every packet to the VPS to `main` (`rule`), when `rules` lack it.
pub fn endpoint_plan(
    (routes, rules): (&[Route], &[Rule]),
    (wanted, rule): (&Route, &Rule),
    owned: &[Route],
    backup_dev: &str,
) -> Result<Vec<Change>, String> {
    let is_ours = |r: &Route| owned.iter().any(|o| o.same_path(r));
    let mut plan = match routes.iter().find(|r| r.same_key(wanted)) {
        Some(r) if r.same_path(wanted) => Vec::new(),
        Some(r) if is_ours(r) => vec![Change::AddRoute(wanted.clone(), AddMode::Replace)],
        Some(r) if r.devices().eq([backup_dev]) => Vec::new(),
        Some(r) => {
            return Err(format!("`{r}` holds the place of the route to the VPS (`{wanted}`) and is not the failsafe's"))
        }
        None => vec![Change::AddRoute(wanted.clone(), AddMode::Exclusive)],
    };
    let stale =
        routes.iter().filter(|r| r.dst == wanted.dst && r.table == wanted.table && !r.same_key(wanted) && is_ours(r));
    plan.extend(stale.map(|r| Change::DelRoute(r.clone())));
    if !rules.contains(rule) {
        plan.push(Change::AddRule(rule.clone()));
    }
    Ok(plan)
}

/// Tables worth looking at for default routes of one family: every table a rule of that
/// family looks up (1 to 252), the seed's tables, POLICY_TABLES and `main`.
pub fn candidate_tables(v6: bool, rules: &[Rule], explicit: Option<&[u32]>) -> BTreeSet<u32> {
    let mut t = BTreeSet::new();
    t.insert(RT_TABLE_MAIN);
    t.extend(SEED_TABLES);
    for r in rules {
        if r.v6 == v6 && r.action == FR_ACT_TO_TBL && (1..=252).contains(&r.table) {
            t.insert(r.table);
        }
    }
    t.extend(explicit.unwrap_or_default());
    t
}

/// A unicast default leaving through one of `devs`.
pub fn leaves_via(r: &Route, devs: [&str; 2]) -> bool {
    r.is_default() && r.kind == RTN_UNICAST && r.devices().any(|d| devs.contains(&d))
}

/// The managed tables of one family (DESIGN.md, "Semantics"): for IPv4 `main` and every
/// table in POLICY_TABLES whatever they hold; then every other candidate table holding a
/// unicast default through PRIMARY_DEV or BACKUP_DEV (for IPv6, `main` and POLICY_TABLES
/// too: a router without IPv6 upstream gets no IPv6 route). A kill switch (only
/// `unreachable`/`prohibit`/`blackhole`/`throw` defaults) or a table routed through
/// another interface (a second VPN) is not ours to touch.
pub fn managed_tables(v6: bool, routes: &[Route], rules: &[Rule], cfg: &Config) -> BTreeSet<u32> {
    let devs = [cfg.primary_dev.as_str(), cfg.backup_dev.as_str()];
    let explicit = cfg.policy_tables.as_deref().unwrap_or_default();
    let mut managed = BTreeSet::new();
    for t in candidate_tables(v6, rules, cfg.policy_tables.as_deref()) {
        let always = !v6 && (t == RT_TABLE_MAIN || explicit.contains(&t));
        if always || defaults_of(routes, v6, t).any(|r| leaves_via(r, devs)) {
            managed.insert(t);
        }
    }
    managed
}

/// The snapshot of step 4 as the tables are now.
pub fn snapshot_now(routes: &[Route], rules: &[Rule], cfg: &Config) -> Snapshot {
    snapshot_of(routes, managed_tables(false, routes, rules, cfg), managed_tables(true, routes, rules, cfg))
}

/// The snapshot of step 4: the managed tables of both families and every default route
/// they hold, except the kernel's own (router advertisements), which are never restored.
pub fn snapshot_of(routes: &[Route], tables: BTreeSet<u32>, tables6: BTreeSet<u32>) -> Snapshot {
    let routes = routes_where(routes, &|r| {
        r.is_default() && !r.kernel_managed() && if r.is_v6() { &tables6 } else { &tables }.contains(&r.table)
    });
    Snapshot { tables, tables6, routes, aside: Vec::new() }
}

/// The routes that `keep` picks, cloned, in order. (One loop for the many such filters:
/// an iterator chain collected at each was ~0.2 KB of mipsel apiece.)
pub fn routes_where(routes: &[Route], keep: &dyn Fn(&Route) -> bool) -> Vec<Route> {
    let mut picked = Vec::new();
    for r in routes {
        if keep(r) {
            picked.push(r.clone());
        }
    }
    picked
}

/// The default routes of one table of one family, cloned.
pub fn defaults_cloned(routes: &[Route], v6: bool, table: u32) -> Vec<Route> {
    routes_where(routes, &|r| r.table == table && r.is_default() && r.is_v6() == v6)
}

/// The default routes of one table of one family.
pub fn defaults_of(routes: &[Route], v6: bool, table: u32) -> impl Iterator<Item = &Route> {
    routes.iter().filter(move |r| r.table == table && r.is_default() && r.is_v6() == v6)
}

/// `r` would be used instead of a default of `metric` in its table (or blocks one being
/// added): a default with a TOS wins for its TOS whatever its metric, any other wins at
/// the same or a lower metric.
pub fn wins(r: &Route, metric: u32) -> bool {
    r.is_default() && (r.tos != 0 || r.metric <= metric)
}

/// A default of the kernel's own (router advertisement) that would win over our target:
/// never deleted (see [`Route::kernel_managed`]), so the owner must be told.
pub fn kernel_winners<'r>(routes: &'r [Route], snapshot: &Snapshot, cfg: &Config) -> Vec<&'r Route> {
    let mut winners = Vec::new();
    for r in routes {
        let managed = snapshot.tables_of(r.is_v6()).contains(&r.table);
        if r.kernel_managed() && managed && wins(r, cfg.metric_of(r.is_v6())) {
            winners.push(r);
        }
    }
    winners
}

/// Step 5 for one table: make `target` the default the kernel uses. Winners that are not
/// ours (they are in the snapshot) are removed; the rest (backup defaults with higher
/// metrics) stay. One sharing the target's key goes first, since the kernel would refuse
/// the target beside it; our own previous target (the other [`Target`]) is replaced in
/// place, atomically; other winners go after the target is in, so the table never lacks
/// a default.
pub fn move_table(current: &[Route], target: &Route, owned: &[Route]) -> Vec<Change> {
    let defaults: Vec<&Route> = defaults_of(current, target.is_v6(), target.table).collect();
    // A default of the kernel's own holds the target's key (METRIC_WG equal to a router
    // advertisement's metric): ours cannot go in beside it and it is never deleted, so
    // the table is left as it is (activation logs it).
    if defaults.iter().any(|r| r.kernel_managed() && r.same_key(target)) {
        return Vec::new();
    }
    let beats = |r: &Route| !r.same_path(target) && wins(r, target.metric) && !r.kernel_managed();
    let is_owned = |r: &Route| owned.iter().any(|o| o.same_path(r));
    let mut plan = Vec::new();
    delete_picked(&mut plan, &defaults, &|r| beats(r) && r.same_key(target) && !is_owned(r));
    if defaults.iter().any(|r| r.same_path(target)) {
        // In place: our other target of its key (an IPv6 switch of kind cut short between
        // its add and its delete) goes.
        delete_picked(&mut plan, &defaults, &|r| beats(r) && r.same_key(target) && is_owned(r));
    } else {
        match defaults.iter().find(|r| beats(r) && r.same_key(target) && is_owned(r)) {
            // IPv6 replaces only a route of the same kind (with a gateway or without:
            // `fib6_add_rt2node` matches ECMP-ability), and kernels before 4.17 add the
            // other kind beside it: the new one goes in first, then ours goes.
            Some(old) if target.is_v6() && old.gateway.is_some() != target.gateway.is_some() => {
                plan.push(Change::AddRoute(target.clone(), AddMode::Append));
                plan.push(Change::DelRoute((*old).clone()));
            }
            Some(_) => plan.push(Change::AddRoute(target.clone(), AddMode::Replace)),
            None => plan.push(Change::AddRoute(target.clone(), AddMode::Exclusive)),
        }
    }
    delete_picked(&mut plan, &defaults, &|r| beats(r) && !r.same_key(target));
    plan
}

/// The deletions of the `defaults` that `pick` picks, in order, added to `plan`. (One loop
/// for [`move_table`]'s three: an iterator chain at each was ~0.4 KB of mipsel.)
fn delete_picked(plan: &mut Vec<Change>, defaults: &[&Route], pick: &dyn Fn(&Route) -> bool) {
    for r in defaults {
        if pick(r) {
            plan.push(Change::DelRoute((*r).clone()));
        }
    }
}

/// What deactivation puts back in `table` of one family: the snapshot's defaults; with
/// the snapshot lost (`state_lost`: none, yet our default in `main`, which activation
/// adds only after writing it), the IPv4 primary default — unless something that is not
/// ours already holds the table once ours are gone (IPv6's gateway is not known: its
/// router advertisements bring it back). Without a snapshot and without our default in
/// `main` (an activation stopped before its snapshot), nothing was saved: nothing is added.
pub fn saved_defaults(
    v6: bool,
    table: u32,
    snapshot: Option<&Snapshot>,
    state_lost: bool,
    current: &[Route],
    mine: &[Route],
    ours: &Ours,
) -> Vec<Route> {
    match snapshot {
        Some(s) => defaults_cloned(&s.routes, v6, table),
        None if !state_lost || v6 => Vec::new(),
        None if defaults_of(current, v6, table).any(|r| !mine.contains(r)) => Vec::new(),
        None => ours.primary_default(table).into_iter().collect(),
    }
}

/// Splits saved routes into those whose devices exist and those whose device is gone:
/// the kernel flushed such a route when its device vanished, and would refuse it back.
pub fn restorable(saved: Vec<Route>, links: &Links) -> (Vec<Route>, Vec<Route>) {
    saved.into_iter().partition(|r| r.devices().all(|d| links.by_name(d).is_some()))
}

/// A default of the failsafe's fallback shape, `default via … dev BACKUP_DEV proto static
/// metric METRIC_WG`, whatever its gateway (BACKUP_GW=auto may have moved since): with
/// the state lost while on the backup, how the failsafe's own defaults are told apart.
/// The protocol counts here: a route added by hand or by EdgeOS is `boot` or `zebra`.
pub fn fallback_shape(r: &Route, cfg: &Config) -> bool {
    r.is_default()
        && !r.is_v6()
        && r.kind == RTN_UNICAST
        && r.tos == 0
        && r.protocol == RTPROT_STATIC
        && r.metric == cfg.metric_wg
        && r.dev.as_deref() == Some(cfg.backup_dev.as_str())
        && r.gateway.is_some()
        && r.nexthops.is_empty()
        && r.prefsrc.is_none()
        && r.metrics.is_empty()
}

/// What the failsafe added when its state is lost altogether (no journal, no snapshot,
/// yet its default in `main`): what has activation's shape.
pub fn inferred_owned(routes: &[Route], rules: &[Rule], ours: &Ours) -> Vec<Owned> {
    let c = ours.cfg;
    // Several tunnels: any one's shapes (`c` is the first's, which lists them all).
    let each: Vec<Ours> = (0..c.tunnel_count()).map(|i| Ours { cfg: c.tunnel(i), ..*ours }).collect();
    let mut owned = Vec::new();
    for r in routes {
        let shaped = fallback_shape(r, c)
            || each.iter().any(|o| {
                r.same_path(&o.tunnel_default(r.table))
                    || r.same_path(&o.endpoint_route())
                    || (r.is_v6() && o.is_target(r))
            });
        if shaped {
            owned.push(Owned::Route(r.clone()));
        }
    }
    let lan = |s: Prefix| c.lan_subnets6.contains(&s) || c.lan_subnets.iter().any(|n| Prefix::from(*n) == s);
    let within_lan = |s: Prefix| ours.lan_of(s.is_v6()).iter().any(|n| n.contains(&s));
    let kept = |s: Prefix| c.lan_keep.contains(&s);
    // Refused the way out: BACKUP_EXCLUDE's, or the LAN's over the budget.
    let refused = |s: Prefix| c.backup_exclude.contains(&s) || lan(s);
    for r in rules {
        if r.priority != c.lan_rule_priority || r.other {
            continue;
        }
        let plain = r.suppress_prefixlen.is_none();
        let to_main = r.table == RT_TABLE_MAIN
            && ((plain && each.iter().any(|o| *r == o.endpoint_rule()))
                || (plain && r.dst.is_none() && (r.fwmark.is_some() || r.src.is_some_and(|s| lan(s) || kept(s))))
                || (plain && r.src.is_none() && r.fwmark.is_none() && r.dst.is_some_and(lan))
                || (r.suppress_prefixlen == Some(0)
                    && r.dst.is_none()
                    && r.fwmark.is_none()
                    && r.src.is_some_and(refused)));
        // A copy of a rule that keeps LAN hosts elsewhere (see `lan_rules`).
        let copy = r.table != RT_TABLE_MAIN || FR_ACT_REFUSE.contains(&r.action);
        if to_main || (copy && r.src.is_some_and(within_lan)) {
            owned.push(Owned::Rule(r.clone()));
        }
    }
    owned
}

/// Whether deleting `ours` deletes our rule and nobody else's. The kernel deletes the
/// first rule, in list order, that matches every selector the request names and ignores
/// the rest (no iif in the request matches any iif), so a user's rule at the same
/// priority with an extra selector, listed first, would go instead. A suppressor is never
/// compared: kernels before 5.8 ignore it even when the deletion names it (EdgeOS's 4.9
/// and 4.14). `rules` is a dump, in
/// the kernel's order.
pub fn rule_deletion_safe(rules: &[Rule], ours: &Rule) -> bool {
    let matches = |r: &Rule| {
        r.v6 == ours.v6
            && r.priority == ours.priority
            && r.table == ours.table
            && r.action == ours.action
            && ours.src.filter(|s| s.len > 0).is_none_or(|s| r.src == Some(s))
            && ours.dst.filter(|d| d.len > 0).is_none_or(|d| r.dst == Some(d))
            && ours.fwmark.is_none_or(|(mark, mask)| {
                let (m, k) = r.fwmark.unwrap_or((0, 0));
                (mark == 0 || m == mark) && (mask == 0 || k == mask)
            })
    };
    rules.iter().find(|r| matches(r)).is_none_or(|first| first == ours)
}

/// The primary's and the backup's gateways as a round resolves them, `run`'s from what it
/// observed and the daemon's from its view: [`resolve_gateway`] over `main`, the managed
/// tables (the rules' and the snapshot's) and the snapshot, the failsafe's own routes
/// (`ours`: the journal's) never followed.
pub fn round_gateways(
    cfg: &Config,
    links: &Links,
    addrs: &[Addr],
    routes: &[Route],
    rules: &[Rule],
    ours: &[Route],
    snapshot: Option<&Snapshot>,
) -> (Option<Ipv4Addr>, Option<Ipv4Addr>) {
    let mut tables = candidate_tables(false, rules, cfg.policy_tables.as_deref());
    tables.extend(snapshot.iter().flat_map(|s| s.tables.iter().copied()));
    let gw = |setting, dev: &str| resolve_gateway(setting, dev, links, addrs, routes, ours, &tables, snapshot);
    (gw(cfg.primary_gw, &cfg.primary_dev), gw(cfg.backup_gw, &cfg.backup_dev))
}

/// The gateway of `dev` this round. `auto` is the peer address of a point-to-point
/// device (a PPPoE session), else the gateway of a default route through it in `main`
/// or one of `tables` (lowest metric first), else the snapshot's; `None` when none is
/// known. A device that does not exist has no gateway. The failsafe's own routes
/// (`ours`) are never followed: its fallback default through an old backup gateway would
/// outrank the default a new DHCP lease brings.
#[allow(clippy::too_many_arguments)]
pub fn resolve_gateway(
    setting: Gateway,
    dev: &str,
    links: &Links,
    addrs: &[Addr],
    routes: &[Route],
    ours: &[Route],
    tables: &BTreeSet<u32>,
    snapshot: Option<&Snapshot>,
) -> Option<Ipv4Addr> {
    let link = match setting {
        Gateway::Static(ip) => return Some(ip),
        Gateway::Auto => links.by_name(dev)?,
    };
    if link.point_to_point {
        if let Some(peer) = addrs.iter().find(|a| a.index == link.index).and_then(|a| a.peer) {
            return Some(peer);
        }
    }
    best_gateway(routes, dev, ours, Some(tables))
        .or_else(|| snapshot.and_then(|s| best_gateway(&s.routes, dev, ours, None)))
}

/// [`resolve_gateway`]'s pick among `routes`: the gateway of an IPv4 unicast default
/// through `dev` that is not ours, in `main` or `tables` (`None`: in any table); `main`'s
/// first, then the lowest metric, the first of equals. (A loop: the iterator chain was
/// inlined twice, ~0.5 KB of mipsel.)
fn best_gateway(routes: &[Route], dev: &str, ours: &[Route], tables: Option<&BTreeSet<u32>>) -> Option<Ipv4Addr> {
    let mut best: Option<((bool, u32), Ipv4Addr)> = None;
    for r in routes {
        let in_tables = tables.is_none_or(|t| r.table == RT_TABLE_MAIN || t.contains(&r.table));
        if !r.is_default() || r.is_v6() || r.kind != RTN_UNICAST || !in_tables || ours.iter().any(|o| o.same_path(r)) {
            continue;
        }
        let Some(IpAddr::V4(gw)) = r.gateway_via(dev) else { continue };
        let rank = (r.table != RT_TABLE_MAIN, r.metric);
        if best.is_none_or(|(least, _)| rank < least) {
            best = Some((rank, gw));
        }
    }
    best.map(|(_, gw)| gw)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::config::parse;
    use crate::netlink::link::Link;
    use crate::wireguard::PeerSet;
    use std::path::Path;

    pub(crate) const CONF: &str = "WG_PEER_IP=10.11.0.1\nWG_ENDPOINT=203.0.113.10\nPRIMARY_DEV=eth0\nPRIMARY_GW=192.168.1.1\nBACKUP_DEV=eth1\nBACKUP_GW=192.168.2.1\nLAN_SUBNET=192.168.10.0/24 192.168.30.0/24\n";

    pub(crate) fn cfg() -> Config {
        parse(Path::new("/t.conf"), CONF).expect("valid config")
    }

    pub(crate) fn ours(c: &Config) -> Ours<'_> {
        Ours {
            cfg: c,
            backup_gw: Ipv4Addr::new(192, 168, 2, 1),
            primary_gw: Some(Ipv4Addr::new(192, 168, 1, 1)),
            over_budget: false,
        }
    }

    pub(crate) fn r(s: &str) -> Route {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    pub(crate) fn routes(lines: &[&str]) -> Vec<Route> {
        lines.iter().map(|l| r(l)).collect()
    }

    pub(crate) fn rule(s: &str) -> Rule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    pub(crate) fn words(plan: &[Change]) -> Vec<String> {
        plan.iter().map(|c| c.to_string()).collect()
    }

    fn link(index: u32, name: &str, point_to_point: bool) -> Link {
        Link { point_to_point, ..Link::up(index, name) }
    }

    fn cfg6(peer6: bool) -> Config {
        let extra = if peer6 { "WG_PEER_IP6=fd00:11::1\n" } else { "" };
        parse(Path::new("/t.conf"), &format!("{CONF}LAN_SUBNET6=2001:db8:10::/64\n{extra}")).expect("valid config")
    }

    #[test]
    fn ipv6_tables_are_managed_only_where_ipv6_leaves_through_a_wan() {
        let c = cfg6(true);
        let rules =
            vec![rule("priority 101 from ::/0 fwmark 0x65 lookup 201"), rule("priority 101 fwmark 0x66 lookup 205")];
        let rs = routes(&[
            "default via 192.168.1.1 dev eth0 table main proto zebra metric 100",
            "::/0 via fe80::1 dev eth0 table main proto ra metric 1024 expires",
            "::/0 via fe80::1 dev eth0 table 201 proto boot",
            // IPv4's table 205 has no IPv6 rule: its IPv6 default is not looked at.
            "::/0 via fe80::1 dev eth0 table 205 proto boot",
            "unreachable ::/0 table 10 proto boot metric 4278198272",
        ]);
        assert_eq!(managed_tables(true, &rs, &rules, &c).into_iter().collect::<Vec<_>>(), [201, 254]);
        // Without any IPv6 default through a WAN, IPv6 is left alone entirely.
        assert!(managed_tables(true, &rs[..1], &rules, &c).is_empty());
        // The kernel's router-advertisement default makes main managed but is never saved.
        let s = snapshot_now(&rs, &rules, &c);
        assert_eq!(s.tables6.iter().copied().collect::<Vec<_>>(), [201, 254]);
        assert_eq!(
            s.routes.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            [
                "default via 192.168.1.1 dev eth0 table main proto zebra metric 100",
                "::/0 via fe80::1 dev eth0 table 201 proto boot"
            ]
        );
        let text = s.to_text(1);
        assert!(text.contains("\ntables6 201 254\n"), "{text}");
        assert_eq!(Snapshot::parse(&text), Ok(s));
    }

    #[test]
    fn ipv6_plans_move_to_the_tunnel_or_refuse_and_leave_the_kernels_routes() {
        let c = cfg6(true);
        let o = ours(&c);
        let rs = routes(&[
            "::/0 via fe80::1 dev eth0 table main proto ra metric 1024 expires",
            "::/0 via fe80::1 dev eth0 table main proto ra metric 20 expires",
            "::/0 via 2001:db8:1::1 dev eth0 table main proto static metric 1",
            "default via 192.168.1.1 dev eth0 table main proto zebra metric 1",
        ]);
        let plan = move_table(&rs, &o.target_of(true, Target::Tunnel, 254), &[]);
        assert_eq!(
            words(&plan),
            [
                "ip route add ::/0 via fd00:11::1 dev wg0 table main proto static metric 40",
                "ip route del ::/0 via 2001:db8:1::1 dev eth0 table main proto static metric 1",
            ],
            "the IPv4 default and the kernel's defaults are not this plan's"
        );
        // Main not managed for IPv6: no IPv6 rule sends anything there.
        assert!(o.lan_rules(true, &[], &[201].into_iter().collect()).is_empty());
        // An IPv6 default of the fallback's shape is not the IPv4 fallback (state lost).
        assert!(!fallback_shape(&r("::/0 via fe80::2 dev eth1 table main proto static metric 40"), &c));
        // The kernel's winner is reported instead.
        let s = snapshot_now(&rs, &[], &c);
        assert_eq!(kernel_winners(&rs, &s, &c).len(), 1);
        // Without WG_PEER_IP6, and on the fallback with it: refused at once.
        let none = cfg6(false);
        for (cfg, target) in [(&none, Target::Tunnel), (&c, Target::Backup)] {
            let want = ours(cfg).target_of(true, target, 201);
            assert_eq!(want.to_string(), "unreachable ::/0 table 201 proto static metric 40");
        }
        // Tunnel to fallback and back: IPv6 replaces only a route of the same kind, so the
        // new target goes in beside ours, then ours goes.
        let on_tunnel = routes(&["::/0 via fd00:11::1 dev wg0 table main proto static metric 40"]);
        assert_eq!(
            words(&move_table(&on_tunnel, &o.target_of(true, Target::Backup, 254), &on_tunnel)),
            [
                "ip route append unreachable ::/0 table main proto static metric 40",
                "ip route del ::/0 via fd00:11::1 dev wg0 table main proto static metric 40"
            ]
        );
        // Cut short between the two (killed, or the delete refused): the next round
        // finishes it.
        let both = vec![o.target_of(true, Target::Backup, 254), on_tunnel[0].clone()];
        assert_eq!(
            words(&move_table(&both, &o.target_of(true, Target::Backup, 254), &both)),
            ["ip route del ::/0 via fd00:11::1 dev wg0 table main proto static metric 40"]
        );
        // A router advertisement's default at the target's metric: nothing can be done.
        let ra = routes(&["::/0 via fe80::1 dev eth0 table main proto ra metric 40 expires"]);
        assert!(move_table(&ra, &o.target_of(true, Target::Tunnel, 254), &[]).is_empty());
        let refusing = vec![o.target_of(true, Target::Backup, 254)];
        assert_eq!(
            words(&move_table(&refusing, &o.target_of(true, Target::Tunnel, 254), &refusing)),
            [
                "ip route append ::/0 via fd00:11::1 dev wg0 table main proto static metric 40",
                "ip route del unreachable ::/0 table main proto static metric 40"
            ]
        );
        // METRIC_WG=0 is 1 for IPv6 (the kernel reads 0 as 1024).
        let zero = parse(Path::new("/t.conf"), &format!("{CONF}METRIC_WG=0\n")).expect("valid");
        assert_eq!(ours(&zero).target_of(true, Target::Tunnel, 254).metric, 1);
    }

    #[test]
    fn ipv6_lan_rules_cover_its_prefixes_and_marks() {
        let c = cfg6(false);
        let rules = vec![
            rule("priority 101 fwmark 0x65 lookup 201"),
            rule("priority 101 from ::/0 fwmark 0x65 lookup 201"),
            rule("priority 102 from ::/0 fwmark 0x66 lookup 202"),
        ];
        let managed: BTreeSet<u32> = [201, 254].into_iter().collect();
        let got: Vec<String> = ours(&c).lan_rules(true, &rules, &managed).iter().map(|r| r.to_string()).collect();
        assert_eq!(
            got,
            [
                // IPv6's 202 is not managed here: its marked LAN traffic keeps going there.
                "priority 69 from 2001:db8:10::/64 fwmark 0x66 lookup 202",
                "priority 69 from 2001:db8:10::/64 lookup main",
                "priority 69 from ::/0 fwmark 0x65 lookup main"
            ]
        );
        assert!(ours(&c).lan_rules(true, &rules, &BTreeSet::new()).is_empty(), "no IPv6 tables, no IPv6 rules");
        // The rule of one family is never taken for the other's at deletion.
        let v4 = rule("priority 69 fwmark 0x65 lookup main");
        let v6 = rule("priority 69 from ::/0 fwmark 0x65 lookup main");
        assert!(rule_deletion_safe(&[v4.clone(), v6.clone()], &v6) && rule_deletion_safe(&[v6, v4.clone()], &v4));
    }

    #[test]
    fn ipv6_restore_and_state_lost() {
        let c = cfg6(true);
        let o = ours(&c);
        let tunnel = o.target_of(true, Target::Tunnel, 201);
        let saved = routes(&["::/0 via fe80::1 dev eth0 table 201 proto boot"]);
        let now = vec![tunnel.clone()];
        assert_eq!(
            words(&crate::ownership::restore_table(&now, &saved, &now)),
            [
                "ip route add ::/0 via fe80::1 dev eth0 table 201 proto boot",
                "ip route del ::/0 via fd00:11::1 dev wg0 table 201 proto static metric 40"
            ]
        );
        // State lost: ours are known by shape; IPv6 gets nothing invented back.
        let unreach = o.target_of(true, Target::Backup, 254);
        let got: Vec<String> =
            inferred_owned(&[tunnel.clone(), unreach.clone()], &[], &o).iter().map(|x| x.to_string()).collect();
        assert_eq!(got, [format!("route {tunnel}"), format!("route {unreach}")]);
        assert!(saved_defaults(
            true,
            254,
            None,
            true,
            std::slice::from_ref(&unreach),
            std::slice::from_ref(&unreach),
            &o
        )
        .is_empty());
    }

    #[test]
    fn decision_table() {
        assert_eq!(decide(false, true, false, false), Action::Nothing);
        assert_eq!(decide(false, true, true, false), Action::Cleanup);
        assert_eq!(decide(false, false, false, false), Action::Activate);
        assert_eq!(decide(false, false, true, false), Action::Activate);
        assert_eq!(decide(true, false, false, false), Action::Reassert);
        assert_eq!(decide(true, true, true, false), Action::Reassert, "healthy, but not yet for UP_AFTER_S");
        assert_eq!(decide(true, true, true, true), Action::Deactivate);
        let (c, off) = (cfg(), ModeFiles::default());
        let tunnel = [r("default via 10.11.0.1 dev wg0 table main proto static metric 40")];
        assert!(!failsafe_on(off, &[], &c));
        assert!(failsafe_on(ModeFiles { recorded: true, ..off }, &[], &c));
        assert!(failsafe_on(ModeFiles { snapshot_exists: true, ..off }, &[], &c));
        assert!(failsafe_on(off, &tunnel, &c), "state lost: the footprint in main says it");
        let unreachable = [r("unreachable ::/0 table main proto static metric 40")];
        assert!(failsafe_on(off, &unreachable, &c), "state lost: IPv6's footprint says it too");
        let kept = ModeFiles { kept6: true, ..off };
        assert!(!failsafe_on(kept, &unreachable, &c), "IPv6's kept at failback, journaled: off");
        assert!(failsafe_on(kept, &tunnel, &c), "IPv4's footprint still says it");
    }

    /// The daemon skipped the round whenever the failsafe was off and the primary healthy,
    /// the journal unread: an activation that failed half-way (or a failed cleanup) while
    /// the primary came back left its endpoint route and rules in place, where `run`
    /// cleans them up at its next tick. Now the daemon asks `decide` with the journal's
    /// leftovers, as of its last sequence.
    #[test]
    fn the_daemon_cleans_up_leftovers_as_run_does() {
        let (healthy_off, leftovers) = (decide(false, true, false, false), decide(false, true, true, false));
        assert!(!daemon_round_due(healthy_off, true, false, false), "a healthy round: nothing opened");
        assert!(daemon_round_due(healthy_off, false, true, false), "a change: the round looks");
        assert!(daemon_round_due(leftovers, true, false, false), "leftovers: cleaned up at the next round");
        let on = decide(true, false, false, false);
        assert!(!daemon_round_due(on, false, false, false), "on, between rounds, nothing new");
        assert!(daemon_round_due(on, true, false, false) && daemon_round_due(on, false, false, true));
        assert!(daemon_round_due(decide(false, false, false, false), false, false, false), "activate at once");
    }

    /// The daemon resolved its gateways with the journal's routes left out (`&[]`): with
    /// an activation's leftovers in place, BACKUP_GW=auto followed the failsafe's own
    /// fallback default through the old backup gateway where `run` takes the new lease's.
    #[test]
    fn the_round_gateways_never_follow_the_failsafes_own_routes() {
        let c = parse(Path::new("/t.conf"), &CONF.replace("BACKUP_GW=192.168.2.1", "BACKUP_GW=auto")).expect("valid");
        let links = Links::of(&[(2, "eth0"), (3, "eth1"), (4, "wg0")]);
        let ours = [r("default via 192.168.2.1 dev eth1 table main proto static metric 40")];
        let all = routes(&[
            "default via 192.168.2.1 dev eth1 table main proto static metric 40",
            "default via 192.168.2.77 dev eth1 table main proto dhcp metric 210",
            "default via 192.168.1.1 dev eth0 table 201 proto static metric 100",
        ]);
        let gw = |ours: &[Route]| round_gateways(&c, &links, &[], &all, &[], ours, None);
        assert_eq!(gw(&ours), (Some(Ipv4Addr::new(192, 168, 1, 1)), Some(Ipv4Addr::new(192, 168, 2, 77))));
        assert_eq!(gw(&[]).1, Some(Ipv4Addr::new(192, 168, 2, 1)), "the old copy's answer");
    }

    #[test]
    fn a_dead_target_does_not_wait_for_failback() {
        use crate::judge::target_dead;
        let c = cfg();
        let none = parse(Path::new("/t.conf"), &format!("{CONF}FALLBACK=none\n")).expect("valid");
        let up = Link::up(3, "eth1");
        let no_carrier = Link { lower_up: false, ..up.clone() };
        assert!(!target_dead(&c, Some(&up), false) && !target_dead(&c, Some(&up), true), "the backup carries it");
        assert!(target_dead(&c, Some(&no_carrier), false) && target_dead(&c, None, false));
        assert!(target_dead(&none, Some(&up), true) && !target_dead(&none, Some(&up), false));
        let waiting = |dead| crate::health::failback_judged(true, Some(true), Some(0), 1_000, 60, dead).back;
        assert!(!waiting(false), "a live target: the wait applies");
        assert!(waiting(true), "a dead target: the first passing round");
        let failing = crate::health::failback_judged(true, Some(false), Some(0), 1_000, 60, true);
        assert!(!failing.back, "never onto a primary that fails");
    }

    #[test]
    fn our_routes_and_changes_in_command_words() {
        let c = cfg();
        let o = ours(&c);
        assert_eq!(
            o.endpoint_route().to_string(),
            "203.0.113.10 via 192.168.2.1 dev eth1 table main proto static metric 190"
        );
        assert_eq!(o.tunnel_default(201).to_string(), "default via 10.11.0.1 dev wg0 table 201 proto static metric 40");
        assert_eq!(o.endpoint_rule().to_string(), "priority 69 to 203.0.113.10/32 lookup main");
        assert_eq!(
            o.target_default(Target::Backup, 201).to_string(),
            "default via 192.168.2.1 dev eth1 table 201 proto static metric 40"
        );
        assert_eq!(
            o.primary_default(254).map(|r| r.to_string()).as_deref(),
            Some("default via 192.168.1.1 dev eth0 table main proto static metric 100")
        );
        assert_eq!(Ours { primary_gw: None, ..ours(&c) }.primary_default(254), None);
        let key = [7u8; 32];
        assert_eq!(Change::SetLink { dev: "wg0".into(), up: false }.to_string(), "ip link set wg0 down");
        assert_eq!(
            Change::SetPeer { iface: "wg0".into(), peer: PeerSet { key, endpoint: None, keepalive_s: 0 } }.to_string(),
            format!("wg set wg0 peer {} persistent-keepalive 0", crate::wireguard::key_to_base64(&key))
        );
        assert_eq!(
            Change::RestartDns(vec!["/etc/init.d/dnsmasq".into(), "restart".into()]).to_string(),
            "/etc/init.d/dnsmasq restart"
        );
        assert_eq!(
            Change::AddRoute(o.tunnel_default(10), AddMode::Replace).to_string(),
            "ip route replace default via 10.11.0.1 dev wg0 table 10 proto static metric 40"
        );
        assert_eq!("backup".parse(), Ok(Target::Backup));
        assert_eq!(Target::Tunnel.to_string(), "tunnel");
    }

    #[test]
    fn the_endpoint_route_moves_to_a_new_backup_gateway_in_one_request() {
        let c = cfg();
        let o = ours(&c);
        let (wanted, rule) = (o.endpoint_route(), o.endpoint_rule());
        let old = r("203.0.113.10 via 192.168.2.9 dev eth1 table main proto static metric 190");
        let rules = std::slice::from_ref(&rule);
        let plan = |now: &[Route], owned: &[Route]| {
            endpoint_plan((now, rules), (&wanted, &rule), owned, "eth1").map(|p| words(&p))
        };
        // The rule that sends the VPS's packets to main, when it is missing.
        assert_eq!(
            endpoint_plan((std::slice::from_ref(&wanted), &[]), (&wanted, &rule), &[], "eth1").map(|p| words(&p)),
            Ok(vec![format!("ip rule add {rule}")])
        );
        assert_eq!(plan(&[], &[]), Ok(vec![format!("ip route add {wanted}")]));
        assert_eq!(plan(std::slice::from_ref(&wanted), &[]), Ok(vec![]));
        // A new lease's gateway: ours is replaced in place, never deleted after an add.
        assert_eq!(
            plan(std::slice::from_ref(&old), std::slice::from_ref(&old)),
            Ok(vec![format!("ip route replace {wanted}")])
        );
        // Someone else's route to the VPS out of the backup does the job; through another
        // device it is not ours to replace.
        assert_eq!(plan(std::slice::from_ref(&old), &[]), Ok(vec![]));
        let elsewhere = r("203.0.113.10 via 10.9.0.1 dev tun9 table main proto static metric 190");
        assert!(plan(&[elsewhere], &[]).is_err());
        // Ours with another metric (METRIC_BACKUP changed): goes once the new one is in.
        let other = Route { metric: 90, ..old.clone() };
        assert_eq!(
            plan(std::slice::from_ref(&other), std::slice::from_ref(&other)),
            Ok(vec![format!("ip route add {wanted}"), format!("ip route del {other}")])
        );
    }

    #[test]
    fn candidates_include_rule_tables_seed_tables_and_explicit_ones() {
        let rules = [
            rule("priority 101 fwmark 0x65 lookup 201"),
            rule("priority 102 fwmark 0x66 lookup 202"),
            rule("priority 103 fwmark 0x100/0xf00 lookup 77"),
            rule("priority 32766 lookup main"),
            rule("priority 32767 lookup default"),
            rule("priority 0 lookup local"),
        ];
        let cand = candidate_tables(false, &rules, Some(&[1000]));
        assert_eq!(cand.iter().copied().collect::<Vec<_>>(), [10, 77, 201, 202, 210, 254, 1000]);
    }

    #[test]
    fn managed_tables_leave_kill_switches_and_other_vpns_alone() {
        let mut c = cfg();
        let rules = [
            rule("priority 101 fwmark 0x65 lookup 201"),
            rule("priority 102 fwmark 0x66 lookup 202"),
            rule("priority 104 fwmark 0x300 lookup 100"),
            rule("priority 105 fwmark 0x301 lookup 101"),
            rule("priority 106 fwmark 0x302 lookup 102"),
        ];
        let rs = routes(&[
            "default via 192.168.1.1 dev eth0 table main proto static metric 100",
            "default via 192.168.1.1 dev eth0 table 201 proto static",
            "default via 192.168.2.1 dev eth1 table 202 proto static",
            "10.0.0.0/8 via 192.168.2.1 dev eth1 table 10 proto static",
            "unreachable default table 100 proto static",
            "default dev vpn1 table 101 proto static scope link",
            "default table 102 proto static nexthop via 192.168.1.1 dev eth0 weight 1 nexthop via 10.9.0.1 dev vpn1 weight 1",
            "default via 192.168.1.1 dev eth0 table 300 proto static",
        ]);
        let got: Vec<u32> = managed_tables(false, &rs, &rules, &c).into_iter().collect();
        // Not 10 (no default), 100 (a kill switch), 101 (another VPN), 300 (no rule); 102
        // has a next hop through the primary, so its traffic is ours to move.
        assert_eq!(got, [102, 201, 202, 254]);
        // POLICY_TABLES manages what it lists whatever it holds.
        c.policy_tables = Some(vec![100, 10]);
        let got: Vec<u32> = managed_tables(false, &rs, &rules, &c).into_iter().collect();
        assert_eq!(got, [10, 100, 102, 201, 202, 254]);
        assert_eq!(
            snapshot_of(&rs, [201, 254].into_iter().collect(), BTreeSet::new()).routes,
            routes(&[
                "default via 192.168.1.1 dev eth0 table main proto static metric 100",
                "default via 192.168.1.1 dev eth0 table 201 proto static"
            ])
        );
    }

    #[test]
    fn rules_that_keep_lan_hosts_elsewhere_keep_them_during_the_outage() {
        let c = cfg();
        let o = ours(&c);
        let managed: BTreeSet<u32> = [201, 202, 254].into_iter().collect();
        let mut rules = vec![
            rule("priority 101 fwmark 0x65 lookup 201"),
            // A kill switch for one LAN host, another VPN for a LAN's marked traffic, a
            // host outside the LAN, and a rule before ours: the first two are copied.
            rule("priority 90 from 192.168.10.50/32 lookup 50"),
            rule("priority 30 from 192.168.10.60/32 lookup 60"),
            rule("priority 95 from 10.0.0.0/8 lookup 70"),
            rule("priority 110 fwmark 0x200 lookup 300"),
        ];
        let mut kill = rule("priority 80 from 192.168.30.7/32 lookup 50");
        kill.action = 8; // prohibit
        kill.table = 0;
        rules.push(kill);
        // A rule with a selector this tool does not model (iif): never widened into a copy.
        let mut iif = rule("priority 85 lookup 60");
        iif.other = true;
        rules.push(iif.clone());
        let wanted = o.lan_rules(false, &rules, &managed);
        let got: Vec<String> = wanted.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            got,
            [
                "priority 69 from 192.168.10.50/32 lookup 50",
                "priority 69 from 192.168.10.0/24 fwmark 0x200 lookup 300",
                "priority 69 from 192.168.30.0/24 fwmark 0x200 lookup 300",
                "priority 69 from 192.168.30.7/32 prohibit",
                "priority 69 from 192.168.10.0/24 lookup main",
                "priority 69 from 192.168.30.0/24 lookup main",
                "priority 69 fwmark 0x65 lookup main",
            ]
        );
        assert_eq!(o.unmodelled_claims(false, &rules, &managed), [&iif]);
        // With the state lost they are known by their shape.
        assert_eq!(inferred_owned(&[], &wanted, &o).len(), 7);
        // Its table managed now (it gained a default through a WAN): the copy goes.
        let managed_50: BTreeSet<u32> = [50, 201, 202, 254].into_iter().collect();
        let now = o.lan_rules(false, &rules, &managed_50);
        assert_eq!(
            words(&rules_plan(&now, &wanted, &wanted)),
            ["ip rule del priority 69 from 192.168.10.50/32 lookup 50"]
        );
    }

    /// LAN_KEEP's `lookup main` comes after the copies of the rules that keep LAN hosts
    /// elsewhere: a kept host whose traffic a user's rule sends to its own VPN table (or
    /// refuses: a kill switch) keeps that path during an outage with BACKUP_EXCLUDE set —
    /// "never capture traffic that a rule for an unmanaged table claims".
    #[test]
    fn lan_keep_does_not_bypass_a_users_vpn_or_kill_switch_rule() {
        let mut c = cfg();
        c.backup_exclude = vec!["192.168.10.50/32".parse().expect("net")];
        c.lan_keep = vec!["192.168.10.7/32".parse().expect("net")];
        let o = ours(&c);
        let managed: BTreeSet<u32> = [201, 202, 254].into_iter().collect();
        let mut kill = rule("priority 80 from 192.168.10.50/32 lookup 50");
        (kill.action, kill.table) = (8, 0); // prohibit
        let rules =
            vec![rule("priority 101 fwmark 0x65 lookup 201"), rule("priority 90 from 192.168.10.7/32 lookup 50"), kill];
        let got: Vec<String> = o.lan_rules(false, &rules, &managed).iter().map(|r| r.to_string()).collect();
        let at = |s: &str| got.iter().position(|r| r == s).unwrap_or_else(|| panic!("no `{s}` in {got:#?}"));
        let copy = at("priority 69 from 192.168.10.7/32 lookup 50");
        let keep = at("priority 69 from 192.168.10.7/32 lookup main");
        assert!(
            copy < keep,
            "LAN_KEEP's `lookup main` comes first: the host leaves through wg0, not its VPN: {got:#?}"
        );
        let kill_copy = at("priority 69 from 192.168.10.50/32 prohibit");
        let refused = at("priority 69 from 192.168.10.50/32 unreachable");
        let to_lan = at("priority 69 to 192.168.10.0/24 lookup main");
        assert!(kill_copy < to_lan && kill_copy < refused, "the kill switch comes first: {got:#?}");
        // Over the budget, LAN_KEEP naming a LAN subnet itself: kept, never refused, once.
        let mut c = cfg();
        c.lan_keep = vec!["192.168.30.0/24".parse().expect("net")];
        let got: Vec<String> = Ours { over_budget: true, ..ours(&c) }
            .lan_rules(false, &[], &managed)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "priority 69 to 192.168.10.0/24 lookup main",
                "priority 69 to 192.168.30.0/24 lookup main",
                "priority 69 from 192.168.30.0/24 lookup main",
                "priority 69 from 192.168.10.0/24 lookup main suppress_prefixlength 0",
                "priority 69 from 192.168.10.0/24 unreachable",
            ]
        );
    }

    /// Over the budget with BACKUP_BUDGET_ACTION=exclude, the LAN's IPv6 (LAN_SUBNET6) is
    /// refused as its IPv4 is: with WG_PEER_IP6 it would otherwise go on over the tunnel,
    /// i.e. over the metered backup. BACKUP_EXCLUDE and LAN_KEEP take IPv6 hosts too.
    #[test]
    fn over_the_budget_ipv6_is_refused_too() {
        let text = format!(
            "{CONF}LAN_SUBNET6=2001:db8:10::/64\nWG_PEER_IP6=fd00:11::1\nBACKUP_BUDGET_MB=1\nBACKUP_BUDGET_ACTION=exclude\n"
        );
        let c = parse(Path::new("/t.conf"), &text).expect("valid");
        let o = Ours { over_budget: true, ..ours(&c) };
        let managed6: BTreeSet<u32> = [254].into_iter().collect();
        let v4: Vec<String> = o.lan_rules(false, &[], &[201, 202, 254].into()).iter().map(|r| r.to_string()).collect();
        assert!(v4.iter().any(|r| r.contains("unreachable")), "IPv4 is refused: {v4:#?}");
        let v6: Vec<String> = o.lan_rules(true, &[], &managed6).iter().map(|r| r.to_string()).collect();
        assert!(
            v6.iter().any(|r| r.contains("2001:db8:10::/64") && r.contains("unreachable")),
            "over the budget, the LAN's IPv6 still goes out of the tunnel: {v6:#?}"
        );
        let exclude6 = parse(
            Path::new("/t.conf"),
            &format!("{CONF}LAN_SUBNET6=2001:db8:10::/64\nWG_PEER_IP6=fd00:11::1\nBACKUP_EXCLUDE=2001:db8:10::50\nLAN_KEEP=2001:db8:10::7\n"),
        );
        let c6 = exclude6.expect("BACKUP_EXCLUDE and LAN_KEEP take IPv6 hosts");
        let v6: Vec<String> = ours(&c6).lan_rules(true, &[], &managed6).iter().map(|r| r.to_string()).collect();
        assert_eq!(
            v6,
            [
                "priority 69 to 2001:db8:10::/64 lookup main",
                "priority 69 from 2001:db8:10::7/128 lookup main",
                "priority 69 from 2001:db8:10::50/128 lookup main suppress_prefixlength 0",
                "priority 69 from 2001:db8:10::50/128 unreachable",
                "priority 69 from 2001:db8:10::/64 lookup main",
            ]
        );
    }

    /// The budget used up during an outage, then a new period during the same outage: the
    /// LAN's own rules go before the refusals come (kernels 4.12 to 5.7 would take the
    /// LAN's rule and the refusal's `… suppress_prefixlength 0` for one), and the
    /// refusals go before the LAN's rules come back.
    #[test]
    fn the_budget_used_up_then_a_new_period_during_an_outage() {
        let c = cfg();
        let managed: BTreeSet<u32> = [201, 202, 254].into_iter().collect();
        let rules = [rule("priority 101 fwmark 0x65 lookup 201")];
        let under = ours(&c).lan_rules(false, &rules, &managed);
        let over = Ours { over_budget: true, ..ours(&c) }.lan_rules(false, &rules, &managed);
        let owned: Vec<Rule> = under.iter().chain(&over).cloned().collect();
        assert_eq!(
            words(&rules_plan(&over, &under, &owned)),
            [
                "ip rule del priority 69 from 192.168.10.0/24 lookup main",
                "ip rule del priority 69 from 192.168.30.0/24 lookup main",
                "ip rule del priority 69 fwmark 0x65 lookup main",
                "ip rule add priority 69 to 192.168.10.0/24 lookup main",
                "ip rule add priority 69 to 192.168.30.0/24 lookup main",
                "ip rule add priority 69 from 192.168.10.0/24 lookup main suppress_prefixlength 0",
                "ip rule add priority 69 from 192.168.10.0/24 unreachable",
                "ip rule add priority 69 from 192.168.30.0/24 lookup main suppress_prefixlength 0",
                "ip rule add priority 69 from 192.168.30.0/24 unreachable",
                "ip rule add priority 69 fwmark 0x65 lookup main",
            ]
        );
        // The rules to the LAN stay (to main: harmless) until the failback.
        assert_eq!(
            words(&rules_plan(&under, &over, &owned)),
            [
                "ip rule del priority 69 from 192.168.10.0/24 lookup main suppress_prefixlength 0",
                "ip rule del priority 69 from 192.168.10.0/24 unreachable",
                "ip rule del priority 69 from 192.168.30.0/24 lookup main suppress_prefixlength 0",
                "ip rule del priority 69 from 192.168.30.0/24 unreachable",
                "ip rule del priority 69 fwmark 0x65 lookup main",
                "ip rule add priority 69 from 192.168.10.0/24 lookup main",
                "ip rule add priority 69 from 192.168.30.0/24 lookup main",
                "ip rule add priority 69 fwmark 0x65 lookup main",
            ]
        );
    }

    #[test]
    fn a_rule_missing_before_others_of_ours_puts_them_back_after_it() {
        let [a, b, c] = [
            "priority 69 from 10.0.0.5/32 lookup 90",
            "priority 69 from 10.0.0.0/24 lookup main",
            "priority 69 fwmark 0x65 lookup main",
        ]
        .map(rule);
        let all = [a.clone(), b.clone(), c.clone()];
        assert!(rules_plan(&all, &all, &all).is_empty());
        assert_eq!(words(&rules_plan(&all[..2], &[], &[])), [format!("ip rule add {a}"), format!("ip rule add {b}")]);
        // A copy appears while active: the LAN's rules go and come back after it.
        assert_eq!(
            words(&rules_plan(&all, &all[1..], &all[1..])),
            [
                format!("ip rule del {b}"),
                format!("ip rule del {c}"),
                format!("ip rule add {a}"),
                format!("ip rule add {b}"),
                format!("ip rule add {c}")
            ]
        );
        // A rule of the same words that is not ours (not in the journal) is left alone:
        // never deleted, never added again and so never taken for ours.
        assert_eq!(
            words(&rules_plan(&all, &all[1..], &all[1..2])),
            [format!("ip rule del {b}"), format!("ip rule add {a}"), format!("ip rule add {b}")]
        );
        // Only the last one missing: just that one.
        assert_eq!(words(&rules_plan(&all, &all[..2], &all[..2])), [format!("ip rule add {c}")]);
    }

    #[test]
    fn either_familys_footprint_in_main_tells_the_failsafe_is_on() {
        let c = cfg6(true);
        let o = ours(&c);
        for (route, on) in [
            ("default via 10.11.0.1 dev wg0 table main proto static metric 40", true),
            ("default via 192.168.2.77 dev eth1 table main proto static metric 40", true),
            ("unreachable ::/0 table main proto static metric 40", true),
            ("::/0 via fd00:11::1 dev wg0 table main proto static metric 40", true),
            ("default via 10.11.0.1 dev wg0 table 201 proto static metric 40", false),
            ("unreachable ::/0 table main proto boot metric 40", true),
            ("default via 192.168.1.1 dev eth0 table main proto static metric 100", false),
            ("unreachable ::/0 table main proto static metric 1024", false),
        ] {
            assert_eq!(footprint_in_main(&[r(route)], &c), on, "{route}");
        }
        let _ = o;
    }

    #[test]
    fn lan_rules_cover_subnets_and_marks_of_managed_tables_once() {
        let c = cfg();
        let rules = [
            rule("priority 101 fwmark 0x65 lookup 201"),
            rule("priority 102 fwmark 0x66 lookup 202"),
            rule("priority 103 fwmark 0x100/0xf00 lookup 10"),
            rule("priority 104 fwmark 0x65 lookup 201"),
            rule("priority 105 fwmark 0x99 lookup 77"),
            rule("priority 106 fwmark 0x7 lookup main"),
        ];
        let managed: BTreeSet<u32> = [10, 201, 202, 254].into_iter().collect();
        let got: Vec<String> = ours(&c).lan_rules(false, &rules, &managed).iter().map(|r| r.to_string()).collect();
        assert_eq!(
            got,
            [
                // Table 77 is not managed: what its rule claims keeps going there.
                "priority 69 from 192.168.10.0/24 fwmark 0x99 lookup 77",
                "priority 69 from 192.168.30.0/24 fwmark 0x99 lookup 77",
                "priority 69 from 192.168.10.0/24 lookup main",
                "priority 69 from 192.168.30.0/24 lookup main",
                "priority 69 fwmark 0x65 lookup main",
                "priority 69 fwmark 0x66 lookup main",
                "priority 69 fwmark 0x100/0xf00 lookup main",
            ]
        );
    }

    #[test]
    fn lower_metric_defaults_are_removed_after_the_tunnel_route_is_in() {
        let c = cfg();
        let current = routes(&[
            "default via 192.168.1.1 dev eth0 table 201 proto static",
            "default via 192.168.2.1 dev eth1 table 201 proto static metric 300",
            "default via 192.168.1.1 dev eth0 table 202 proto static",
        ]);
        assert_eq!(
            words(&move_table(&current, &ours(&c).tunnel_default(201), &[])),
            [
                "ip route add default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
                "ip route del default via 192.168.1.1 dev eth0 table 201 proto static",
            ]
        );
    }

    #[test]
    fn main_keeps_its_higher_metric_defaults() {
        let c = cfg();
        let current = routes(&[
            "default via 192.168.1.1 dev eth0 table main proto static metric 100",
            "default via 192.168.2.1 dev eth1 table main proto static metric 200",
        ]);
        assert_eq!(
            words(&move_table(&current, &ours(&c).tunnel_default(254), &[])),
            ["ip route add default via 10.11.0.1 dev wg0 table main proto static metric 40"]
        );
    }

    #[test]
    fn tos_and_same_metric_defaults_win_and_are_removed_same_key_first() {
        let c = cfg();
        let current = routes(&[
            "default via 192.168.1.1 dev eth0 table main proto static metric 40",
            "default tos 0x10 via 192.168.1.1 dev eth0 table main proto static metric 500",
            "unreachable default table main proto boot metric 10",
        ]);
        assert_eq!(
            words(&move_table(&current, &ours(&c).tunnel_default(254), &[])),
            [
                "ip route del default via 192.168.1.1 dev eth0 table main proto static metric 40",
                "ip route add default via 10.11.0.1 dev wg0 table main proto static metric 40",
                "ip route del default tos 0x10 via 192.168.1.1 dev eth0 table main proto static metric 500",
                "ip route del unreachable default table main proto boot metric 10",
            ]
        );
    }

    #[test]
    fn moving_again_changes_nothing() {
        let c = cfg();
        let current = routes(&[
            "default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
            "default via 192.168.2.1 dev eth1 table 201 proto static metric 300",
        ]);
        assert!(move_table(&current, &ours(&c).tunnel_default(201), &[]).is_empty());
        // The tunnel route added by hand with another protocol counts as present.
        let by_hand = routes(&["default via 10.11.0.1 dev wg0 table 201 proto boot metric 40"]);
        assert!(move_table(&by_hand, &ours(&c).tunnel_default(201), &[]).is_empty());
    }

    #[test]
    fn switching_target_replaces_ours_in_place() {
        let c = cfg();
        let o = ours(&c);
        let tunnel = o.tunnel_default(201);
        let backup = o.backup_default(201);
        // Tunnel dead: our tunnel default is replaced by the backup one, atomically.
        let plan = move_table(std::slice::from_ref(&tunnel), &backup, std::slice::from_ref(&tunnel));
        assert_eq!(
            words(&plan),
            ["ip route replace default via 192.168.2.1 dev eth1 table 201 proto static metric 40"]
        );
        // Tunnel back.
        let plan = move_table(std::slice::from_ref(&backup), &tunnel, &[tunnel.clone(), backup.clone()]);
        assert_eq!(words(&plan), ["ip route replace default via 10.11.0.1 dev wg0 table 201 proto static metric 40"]);
        // A same-key route that is not ours is deleted, never replaced.
        let user = r("default via 192.168.9.1 dev eth1 table 201 proto static metric 40");
        let plan = move_table(&[user], &backup, std::slice::from_ref(&tunnel));
        assert_eq!(
            words(&plan),
            [
                "ip route del default via 192.168.9.1 dev eth1 table 201 proto static metric 40",
                "ip route add default via 192.168.2.1 dev eth1 table 201 proto static metric 40",
            ]
        );
    }

    fn snap(tables: &[u32], lines: &[&str]) -> Snapshot {
        Snapshot { tables: tables.iter().copied().collect(), routes: routes(lines), ..Snapshot::default() }
    }

    #[test]
    fn with_the_snapshot_lost_the_primary_default_comes_back_only_into_an_empty_table() {
        let c = cfg();
        let o = ours(&c);
        let tunnel = o.tunnel_default(201);
        let s = snap(&[201], &["default via 192.168.1.1 dev eth0 table 201 proto static"]);
        let just_ours = std::slice::from_ref(&tunnel);
        assert_eq!(saved_defaults(false, 201, Some(&s), false, &[], &[], &o), s.routes);
        assert_eq!(
            saved_defaults(false, 201, None, true, just_ours, just_ours, &o),
            routes(&["default via 192.168.1.1 dev eth0 table 201 proto static metric 100"])
        );
        assert!(
            saved_defaults(false, 201, None, false, just_ours, just_ours, &o).is_empty(),
            "no snapshot, but not lost (the record knows): nothing was saved, nothing is invented"
        );
        let lb = r("default via 192.168.1.1 dev eth0 table 201 proto boot");
        assert!(saved_defaults(false, 201, None, true, &[tunnel.clone(), lb], just_ours, &o).is_empty());
        let no_gw = Ours { primary_gw: None, ..ours(&c) };
        assert!(saved_defaults(false, 201, None, true, just_ours, just_ours, &no_gw).is_empty());
    }

    #[test]
    fn routes_through_vanished_devices_are_not_restored() {
        let links = Links::new(vec![link(2, "eth0", false), link(3, "eth1", false)]);
        let saved = routes(&[
            "default via 192.168.1.1 dev eth0 table main proto static metric 100",
            "default dev pppoe1 table main proto static scope link metric 300",
        ]);
        let (kept, gone) = restorable(saved.clone(), &links);
        assert_eq!((kept, gone), (saved[..1].to_vec(), saved[1..].to_vec()));
    }

    #[test]
    fn state_lost_inference_takes_only_what_has_our_shape() {
        let c = cfg();
        let o = ours(&c);
        let rs = routes(&[
            "default via 10.11.0.1 dev wg0 table main proto static metric 40",
            "default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
            "default via 10.11.0.1 dev wg0 table 201 proto static metric 41",
            "default via 192.168.2.7 dev eth1 table 202 proto static metric 40",
            "default via 192.168.2.7 dev eth1 table 10 proto boot metric 40",
            "203.0.113.10 via 192.168.2.1 dev eth1 table main proto static metric 190",
        ]);
        let rules = [
            rule("priority 69 to 203.0.113.10/32 lookup main"),
            rule("priority 69 to 203.0.113.99/32 lookup main"),
            rule("priority 69 from 192.168.10.0/24 lookup main"),
            rule("priority 69 from 10.0.0.0/8 lookup main"),
            rule("priority 69 fwmark 0x65 lookup main"),
            rule("priority 70 fwmark 0x66 lookup main"),
        ];
        let got: Vec<String> = inferred_owned(&rs, &rules, &o).iter().map(|x| x.to_string()).collect();
        assert_eq!(
            got,
            [
                "route default via 10.11.0.1 dev wg0 table main proto static metric 40",
                "route default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
                "route default via 192.168.2.7 dev eth1 table 202 proto static metric 40",
                "route 203.0.113.10 via 192.168.2.1 dev eth1 table main proto static metric 190",
                "rule priority 69 to 203.0.113.10/32 lookup main",
                "rule priority 69 from 192.168.10.0/24 lookup main",
                "rule priority 69 fwmark 0x65 lookup main",
            ]
        );
        // The refusals' rules (to the LAN, LAN_KEEP, BACKUP_EXCLUDE) have the failsafe's shape; a
        // user's rule to the LAN from one host, or to another network, does not.
        let mut c = cfg();
        c.backup_exclude = vec!["192.168.10.50/32".parse().expect("net")];
        c.lan_keep = vec!["192.168.10.7/32".parse().expect("net")];
        let o = ours(&c);
        let rules = [
            rule("priority 69 to 192.168.10.0/24 lookup main"),
            rule("priority 69 from 192.168.10.7/32 lookup main"),
            rule("priority 69 from 192.168.10.50/32 lookup main suppress_prefixlength 0"),
            rule("priority 69 from 192.168.10.50/32 unreachable"),
            rule("priority 69 from 192.168.10.0/24 lookup main suppress_prefixlength 0"),
            rule("priority 69 from 192.168.10.60/32 to 192.168.10.0/24 lookup main"),
            rule("priority 69 to 192.168.99.0/24 lookup main"),
            // A user's (wg-quick's), not of our shape: no source, another length, a LAN_KEEP host.
            rule("priority 69 lookup main suppress_prefixlength 0"),
            rule("priority 69 from 192.168.10.50/32 lookup main suppress_prefixlength 8"),
            rule("priority 69 from 192.168.10.7/32 lookup main suppress_prefixlength 0"),
        ];
        let got: Vec<String> = inferred_owned(&[], &rules, &o).iter().map(|x| x.to_string()).collect();
        assert_eq!(
            got,
            [
                "rule priority 69 to 192.168.10.0/24 lookup main",
                "rule priority 69 from 192.168.10.7/32 lookup main",
                "rule priority 69 from 192.168.10.50/32 lookup main suppress_prefixlength 0",
                "rule priority 69 from 192.168.10.50/32 unreachable",
                "rule priority 69 from 192.168.10.0/24 lookup main suppress_prefixlength 0",
            ]
        );
    }

    #[test]
    fn a_rule_is_deleted_only_when_the_kernel_would_delete_ours() {
        let ours_src = rule("priority 69 from 192.168.10.0/24 lookup main");
        let ours_mark = rule("priority 69 fwmark 0x65 lookup main");
        let mut users = rule("priority 69 from 192.168.10.0/24 lookup main");
        users.other = true; // e.g. `iif lan2`: the deletion would match it
        assert!(rule_deletion_safe(std::slice::from_ref(&ours_src), &ours_src));
        assert!(rule_deletion_safe(&[], &ours_src), "nothing to delete");
        assert!(!rule_deletion_safe(&[users.clone(), ours_src.clone()], &ours_src), "the user's is listed first");
        assert!(rule_deletion_safe(&[ours_src.clone(), users], &ours_src), "ours is first");
        // The kernel ignores a suppressor the deletion does not name (before 5.8, even one
        // it names): the first of the two rules of the same selectors would go.
        let suppressed = rule("priority 69 from 192.168.10.0/24 lookup main suppress_prefixlength 0");
        assert!(!rule_deletion_safe(&[suppressed.clone(), ours_src.clone()], &ours_src));
        assert!(!rule_deletion_safe(&[ours_src.clone(), suppressed.clone()], &suppressed));
        assert!(rule_deletion_safe(&[suppressed.clone(), ours_src.clone()], &suppressed));
        // A user's fwmark rule that also has a source matches our source-less deletion.
        let mut marked_from = rule("priority 69 from 10.0.0.0/8 lookup main");
        marked_from.fwmark = Some((0x65, u32::MAX));
        assert!(!rule_deletion_safe(&[marked_from, ours_mark.clone()], &ours_mark));
        // A user's rule with a destination matches a deletion that names none.
        let mut to_somewhere = ours_src.clone();
        to_somewhere.dst = Some("10.9.0.0/16".parse().expect("prefix"));
        assert!(!rule_deletion_safe(&[to_somewhere, ours_src.clone()], &ours_src));
        let ours_to = rule("priority 69 to 203.0.113.10/32 lookup main");
        assert!(rule_deletion_safe(&[rule("priority 69 to 203.0.113.11/32 lookup main"), ours_to.clone()], &ours_to));
        // Other masks, priorities and tables do not match.
        let other_mask = rule("priority 69 fwmark 0x65/0xff lookup main");
        let other_prio = rule("priority 70 fwmark 0x65 lookup main");
        assert!(rule_deletion_safe(&[other_mask, other_prio, ours_mark.clone()], &ours_mark));
    }

    /// Among defaults outside `main`, the lowest metric, and the first listed of equals
    /// (pinned when `min_by_key` became a loop, issue 16).
    #[test]
    fn the_auto_gateway_is_the_first_of_equal_metrics() {
        let links = Links::new(vec![link(2, "eth0", false)]);
        let tables: BTreeSet<u32> = [201, 202, 203].into_iter().collect();
        let rs = routes(&[
            "default via 192.168.1.9 dev eth0 table 203 proto static metric 5",
            "default via 192.168.1.2 dev eth0 table 202 proto static metric 3",
            "default via 192.168.1.1 dev eth0 table 201 proto static metric 3",
        ]);
        let auto = |rs: &[Route]| resolve_gateway(Gateway::Auto, "eth0", &links, &[], rs, &[], &tables, None);
        assert_eq!(auto(&rs), Some(Ipv4Addr::new(192, 168, 1, 2)));
        assert_eq!(auto(&rs[..1]), Some(Ipv4Addr::new(192, 168, 1, 9)));
    }

    #[test]
    fn auto_gateways() {
        let links = Links::new(vec![link(2, "eth0", false), link(3, "eth1", false), link(9, "pppoe0", true)]);
        let addrs = [Addr {
            index: 9,
            local: Ipv4Addr::new(100, 64, 3, 2),
            peer: Some(Ipv4Addr::new(100, 64, 0, 1)),
            prefix_len: 32,
        }];
        let tables: BTreeSet<u32> = [201, 202].into_iter().collect();
        let rs = routes(&[
            "default via 192.168.2.1 dev eth1 table main proto static metric 200",
            "default via 192.168.2.9 dev eth1 table 202 proto static",
            "default via 192.168.1.7 dev eth0 table 999 proto static",
            "default table 201 proto static nexthop via 192.168.1.1 dev eth0 weight 1 nexthop via 192.168.2.1 dev eth1 weight 1",
        ]);
        let s = snap(&[254], &["default via 192.168.1.254 dev eth0 table main proto dhcp"]);
        let auto = |dev, snapshot| resolve_gateway(Gateway::Auto, dev, &links, &addrs, &rs, &[], &tables, snapshot);
        assert_eq!(auto("pppoe0", None), Some(Ipv4Addr::new(100, 64, 0, 1)), "a PPPoE session's peer");
        assert_eq!(auto("eth1", None), Some(Ipv4Addr::new(192, 168, 2, 1)), "main first");
        assert_eq!(
            auto("eth0", None),
            Some(Ipv4Addr::new(192, 168, 1, 1)),
            "a next hop in a managed table; not table 999"
        );
        let only_999 = routes(&["default via 192.168.1.7 dev eth0 table 999 proto static"]);
        assert_eq!(
            resolve_gateway(Gateway::Auto, "eth0", &links, &addrs, &only_999, &[], &tables, Some(&s)),
            Some(Ipv4Addr::new(192, 168, 1, 254)),
            "the snapshot's"
        );
        assert_eq!(resolve_gateway(Gateway::Auto, "eth0", &links, &addrs, &only_999, &[], &tables, None), None);
        assert_eq!(auto("ppp7", Some(&s)), None, "a device that is gone has no gateway");
        // On the fallback, our own default via the old backup gateway (metric 40) is not
        // followed: the new lease's gateway is.
        let ours = routes(&["default via 192.168.2.1 dev eth1 table main proto static metric 40"]);
        let mut after_lease = ours.clone();
        after_lease.extend(routes(&["default via 192.168.2.254 dev eth1 table main proto dhcp metric 200"]));
        assert_eq!(
            resolve_gateway(Gateway::Auto, "eth1", &links, &addrs, &after_lease, &ours, &tables, None),
            Some(Ipv4Addr::new(192, 168, 2, 254))
        );
        assert_eq!(
            resolve_gateway(Gateway::Auto, "eth1", &links, &addrs, &after_lease, &[], &tables, None),
            Some(Ipv4Addr::new(192, 168, 2, 1)),
            "what leaving ours out prevents"
        );
        let fixed = Gateway::Static(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            resolve_gateway(fixed, "ppp7", &links, &addrs, &[], &[], &tables, None),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
    }
}
