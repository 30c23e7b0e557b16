//! The steps activation and the round while active both take: the route to the VPS, the
//! tunnel interface up, the VPS peer renewed when the tunnel's proof needs a handshake,
//! every managed table moved to the target, the LAN's rules, IPv6's refusals told once.

use super::*;

/// Step 1: the host route to the VPS via the backup, and the rule that sends every packet
/// to the VPS (marked or not) to `main`, where that route is.
pub(super) fn ensure_endpoint_route(
    sys: &mut System,
    routes: &[Route],
    rules: &[Rule],
    ours: &Ours,
) -> Result<(), Error> {
    let wanted = (&ours.endpoint_route(), &ours.endpoint_rule());
    let owned = owned_routes(sys.journal());
    let plan = endpoint_plan((routes, rules), wanted, &owned, &sys.cfg.backup_dev).map_err(Error::Failed)?;
    apply_plan(sys, plan, false).map(|_| ())
}

/// Defaults that appeared while active, judged by whose they are (see
/// `ownership::absorb`): the snapshot takes them in, rewritten first so that a crash
/// cannot lose them, and each is told once. State lost: what holds a default now is
/// managed, without writing a snapshot.
pub(super) fn absorb_appeared(sys: &mut System, obs: &Observed, ours: &Ours) -> Result<Absorbed, Error> {
    let c = sys.cfg;
    let Some(saved) = &obs.snapshot else {
        let snapshot = snapshot_now(&obs.routes, &obs.rules, c);
        return Ok(Absorbed { snapshot, appeared: Vec::new(), aside: Vec::new(), reimposed: Vec::new() });
    };
    let is_ours = |r: &Route| ours.is_target(r) || owns_path(sys.journal(), r);
    let a = absorb(saved, &obs.routes, &obs.rules, c, is_ours);
    if a.snapshot != *saved {
        sys.write_snapshot(&a.snapshot)?;
    }
    for r in &a.appeared {
        tell(sys, News::Appeared(r));
    }
    for r in &a.aside {
        tell(sys, News::AppearedAside(r));
    }
    Ok(a)
}

pub(super) fn ensure_link_up(sys: &mut System) -> Result<(), Error> {
    let iface = sys.cfg.wg_iface.clone();
    match sys.links.by_name(&iface) {
        None => Err(Error::Failed(format!("WireGuard interface {iface} does not exist"))),
        Some(l) if l.admin_up => Ok(()),
        Some(_) => sys.apply_owned(&Change::SetLink { dev: iface.clone(), up: true }, Owned::LinkUp(iface)),
    }
}

/// The VPS peer's endpoint set to the address in use, with WG_KEEPALIVE, the settings the
/// peer had journaled first (deactivation puts them back). `peer`: WG_IFACE's peer as just
/// read; `why` says, after the interface's name, why it is set. Returns the peer's key.
pub(super) fn set_peer_endpoint(sys: &mut System, peer: Option<Peer>, why: &str) -> Result<Key, Error> {
    let c = sys.cfg;
    let endpoint = sys.endpoint();
    let (key, source) = sys.find_peer_key()?;
    // What goes back at failback: the settings of the peer that has this key.
    let before = match peer.filter(|p| p.public_key == key) {
        Some(p) => p.settings(),
        None => sys.peer_with_key(&key)?.settings(),
    };
    let wanted = PeerSet { key, endpoint: Some(endpoint), keepalive_s: c.wg_keepalive_s };
    tell(sys, News::PeerSet { why, endpoint, source: &source });
    let change = Change::SetPeer { iface: c.wg_iface.clone(), peer: wanted };
    sys.apply_owned(&change, Owned::Peer(c.wg_iface.clone(), before))?;
    Ok(key)
}

/// A name endpoint whose address became known only while active (activation found none
/// and set no peer: FALLBACK put the tables on the backup): the peer's endpoint set now,
/// as activation sets it, so that the tunnel can be proven. Once an activation: a peer
/// journaled already was set by the failsafe, and is left to WireGuard (which roams it).
pub(super) fn peer_for_late_endpoint(sys: &mut System) -> Result<(), Error> {
    let c = sys.cfg;
    if c.wg_endpoint.name.is_none() || !c.wg_endpoint.known() || peer_journaled(sys.journal(), &c.wg_iface) {
        return Ok(());
    }
    let peer = sys.tunnel_peer()?;
    if peer.as_ref().is_some_and(|p| p.endpoint == Some(sys.endpoint())) {
        return Ok(());
    }
    set_peer_endpoint(sys, peer, &format!("with WG_ENDPOINT {} known now", c.wg_endpoint)).map(|_| ())
}

/// The tunnel's proof needs a handshake that WireGuard will not start (see
/// [`health::handshake_wanted`]): the VPS peer `key` is renewed — removed and added back
/// with every setting it has, read just before — which drops its session, so that the next
/// echo sent to it starts a handshake over the backup path. `why` says what the proof
/// lacks, for the log. The change made (a round does not count it as a repair).
pub(super) fn renew_peer(sys: &mut System, key: &Key, why: &str) -> Result<Change, Error> {
    let c = sys.cfg;
    let peer = sys.peer_with_key(key)?;
    let change = Change::RenewPeer { iface: c.wg_iface.clone(), peer: peer.config() };
    tell(sys, News::PeerRenewed(why));
    sys.apply(&change)?;
    Ok(change)
}

/// What a round while active sees of the tunnel: `echo` as probed (or as the daemon's
/// track says) and the VPS peer's latest handshake — and, when the proof needs a handshake
/// that WireGuard would not start (a session from before the mark, or gone stale), the peer
/// renewed first and the handshake its keepalive starts waited for (see
/// [`await_handshake`]; without a keepalive, an echo starts it). Returns the echo, the round
/// (its `echo` left false: the verdict takes the echo apart) and the renewal made, in its
/// change's words (not a repair).
pub(super) fn tunnel_round(
    sys: &mut System,
    wg_exists: bool,
    mut echo: Option<bool>,
    peer_echoes: bool,
    mark: Handshake,
) -> Result<(Option<bool>, TunnelRound, Option<String>), Error> {
    let c = sys.cfg;
    let peer = if wg_exists { sys.tunnel_peer().ok().flatten() } else { None };
    let latest = peer.as_ref().and_then(|p| p.last_handshake);
    let mut round = TunnelRound { echo: false, peer_echoes, latest, mark, now: sys.wall_now() };
    let Some(peer) = peer.filter(|_| health::handshake_wanted(echo, &round, c.handshake_max_age_s)) else {
        return Ok((echo, round, None));
    };
    let why = format!("no echo answered and no fresh handshake since the route via {}", c.backup_dev);
    let change = match renew_peer(sys, &peer.public_key, &why) {
        Ok(change) => change,
        Err(e) => {
            tell(sys, News::TunnelStepFailed(&e));
            return Ok((echo, round, None));
        }
    };
    if !sys.dry_run {
        round.latest = await_handshake(sys, mark);
        // No keepalive started one (WG_KEEPALIVE=0): an echo does.
        if !handshake_since(round.latest, mark) {
            echo = Some(sys.peer_answers_soon()?);
            round.latest = sys.tunnel_peer().ok().flatten().and_then(|p| p.last_handshake);
        }
    }
    Ok((echo, round, Some(change.to_string())))
}

/// How often the handshake a renewal starts is looked for.
const HANDSHAKE_POLL_MS: u64 = 50;

/// After a renewal: the handshake the renewed peer's first packet starts — the keepalive
/// WireGuard sends as the new peer's keepalive is set — looked for every HANDSHAKE_POLL_MS
/// until one is made since `mark` or PROBE_TIMEOUT_MS has passed: a handshake takes one
/// round trip, where an echo the VPS filters would wait out the whole timeout. The latest
/// handshake then.
pub(super) fn await_handshake(sys: &mut System, mark: Handshake) -> Handshake {
    let started_ms = sys.boottime_ms();
    loop {
        let latest = sys.tunnel_peer().ok().flatten().and_then(|p| p.last_handshake);
        let left_ms = sys.cfg.probe_timeout_ms.saturating_sub(sys.elapsed_ms(started_ms));
        if handshake_since(latest, mark) || left_ms == 0 {
            return latest;
        }
        sys.sleep(Duration::from_millis(HANDSHAKE_POLL_MS.min(left_ms)));
    }
}

/// Step 5 for every managed table of both families; `Some` says why IPv6 was refused
/// (see [`ipv6_may_fail`]).
pub(super) fn move_tables(
    sys: &mut System,
    routes: &[Route],
    snapshot: &Snapshot,
    ours: &Ours,
    target: Target,
) -> Result<Option<String>, Error> {
    let owned = owned_routes(sys.journal());
    let mut tables4 = snapshot.tables.clone();
    tables4.insert(RT_TABLE_MAIN);
    // IPv6's route through the tunnel refused (WG_IFACE without its IPv6 address: a link
    // that was down loses it unless keep_addr_on_down), IPv6 is refused at once instead,
    // for the rest of the round; refused even so, IPv6 is left as it is.
    let mut target6 = target;
    let mut refused6 = None;
    for (v6, table) in tables4.iter().map(|t| (false, *t)).chain(snapshot.tables6.iter().map(|t| (true, *t))) {
        loop {
            let wanted = ours.target_of(v6, if v6 { target6 } else { target }, table);
            let Some(why) = apply_plan(sys, move_table(routes, &wanted, &owned), v6)? else { break };
            refused6.get_or_insert(why);
            if target6 == Target::Backup || sys.cfg.wg_peer_ip6.is_none() {
                return Ok(refused6);
            }
            target6 = Target::Backup;
        }
    }
    Ok(refused6)
}

/// A plan through the door, in order, what it adds journaled first (one table's, or step
/// 1's); an IPv6 change the kernel refuses ends it there (the table keeps what it has)
/// with the reason (see [`ipv6_may_fail`]).
pub(super) fn apply_plan(sys: &mut System, plan: Vec<Change>, v6: bool) -> Result<Option<String>, Error> {
    for change in plan {
        let done = match &change {
            Change::AddRoute(r, _) => sys.apply_owned(&change, Owned::Route(r.clone())),
            Change::AddRule(r) => sys.apply_owned(&change, Owned::Rule(r.clone())),
            _ => sys.apply(&change),
        };
        if let Some(why) = ipv6_may_fail(v6, done)? {
            return Ok(Some(why));
        }
    }
    Ok(None)
}

/// Step 6: each rule that is missing is added; none is ever duplicated. `Some` says why
/// an IPv6 rule was refused.
pub(super) fn ensure_lan_rules(
    sys: &mut System,
    rules: &[Rule],
    snapshot: &Snapshot,
    ours: &Ours,
) -> Result<Option<String>, Error> {
    let owned = owned_rules(sys.journal());
    // The kernel's rules as the deletions so far leave them: each is judged against them
    // (a refusal's `… suppress_prefixlength 0` deleted first no longer stands before the
    // LAN's own rule of the same source).
    let mut left: Vec<Rule> = rules.to_vec();
    for v6 in [false, true] {
        let mut present = Vec::new();
        for r in rules {
            if r.v6 == v6 && r.priority == ours.cfg.lan_rule_priority {
                present.push(r.clone());
            }
        }
        for change in rules_plan(&ours.lan_rules(v6, rules, snapshot.tables_of(v6)), &present, &owned) {
            let done = match &change {
                Change::AddRule(r) => sys.apply_owned(&change, Owned::Rule(r.clone())),
                // Put back in order only when the kernel would delete ours, not a user's.
                Change::DelRule(r) if !rule_deletion_safe(&left, r) => continue,
                Change::DelRule(r) => {
                    left.retain(|x| x != r);
                    sys.apply(&change)
                }
                _ => sys.apply(&change),
            };
            if let Some(why) = ipv6_may_fail(v6, done)? {
                return Ok(Some(why));
            }
        }
    }
    Ok(None)
}

/// The outage's counters on `target` read now (see `Traffic::counted`), and what they
/// moved counted against BACKUP_BUDGET_MB's period: each of its thresholds reached for
/// the first time in the period is told (`budget`). Never fails the round.
pub(super) fn count_traffic(sys: &mut System, record: &mut Record, target: Target) {
    let moved = record.counters_read(sys.counters(target));
    let Some(budget_mb) = sys.cfg.backup_budget_mb else { return };
    // Another period than the record's (or none: a reboot set the record aside) is
    // rebuilt from HISTORY_FILE first.
    record.budget = crate::history::budget_at(sys.cfg, record.budget, sys.wall_now().as_secs());
    let period = record.budget.period;
    let budget_bytes = budget_mb.saturating_mul(1_000_000);
    let step = |b: &crate::budget::Budget| b.used_pct(budget_bytes).min(100) / crate::history::STEP_PCT;
    let before = step(&record.budget);
    for pct in record.budget.counted(moved, period, budget_bytes) {
        let since = period.start_unix_s;
        tell(sys, News::Budget { pct, used_bytes: record.budget.used_bytes, budget_mb, since });
    }
    // What a power cut leaves known of the outage's bytes (activation writes its own).
    if step(&record.budget) > before && record.mode.failsafe {
        history_open(sys, record);
    }
}

/// HISTORY_FILE's open line of the outage in progress (see `history::open_line`): at its
/// activation, and with its bytes so far at each `history::STEP_PCT` of the budget; the
/// failback completes it. Only a help to the owner: a write that fails is told.
pub(super) fn history_open(sys: &mut System, record: &Record) {
    let Some(path) = sys.cfg.history_file.clone() else { return };
    let o = crate::history::so_far(record, sys.wall_now().as_secs(), sys.cfg.backup_budget_mb.is_some());
    let line = crate::history::open_line(&o);
    if sys.dry_run {
        sys.changes.push(format!("# history: {}", line.trim_end()));
        return;
    }
    if let Err(e) = crate::history::put(&path, sys.cfg.history_max_kb, o.start_unix_s, &line) {
        tell(sys, News::HistoryNotWritten { path: &path, in_progress: true, error: &e });
    }
}

/// BACKUP_BUDGET_ACTION=exclude and the budget's period (as the last reading rolled it)
/// has reached 100 %: the LAN but LAN_KEEP is refused until the period ends.
pub(super) fn over_budget(c: &Config, record: &Record) -> bool {
    c.budget_exclude && c.backup_budget_mb.is_some() && record.budget.told_pct >= 100
}

/// An IPv6 change the kernel refuses (WG_PEER_IP6 not on the tunnel's subnet, a kernel
/// without IPv6 policy routing) must not stop IPv4's failover: `Ok(Some(why))`, and the
/// next round tries again. An IPv4 one stops the sequence.
pub(super) fn ipv6_may_fail(v6: bool, done: Result<(), Error>) -> Result<Option<String>, Error> {
    match done {
        Err(e) if v6 => Ok(Some(e.to_string())),
        other => other.map(|()| None),
    }
}

/// IPv6's refusals, told once an outage: at the first, and when IPv6 moves after all.
pub(super) fn note_ipv6(sys: &mut System, record: &mut state::Record, refused: Option<String>) {
    let changed = record.ipv6_judged(refused.is_some());
    match (refused, changed) {
        (Some(why), Some(true)) => tell(sys, News::Ipv6Refused(&why)),
        (None, Some(false)) => tell(sys, News::Ipv6Moved),
        _ => {}
    }
}

/// A name endpoint's lookup, told (see `News::Lookup`).
pub(super) fn tell_lookup(sys: &mut System, looked: &Looked, healthy: bool) {
    tell(sys, News::Lookup { looked, healthy });
}

/// Activation's name endpoint: its address found (see `System::endpoint_for_activation`)
/// and, when it is not the one the round was observed with, the round observed again (the
/// routes to the VPS are read for its address). `None`: the observation stands — also when
/// no address could be found (told): the tunnel then cannot be proven, and FALLBACK says
/// what the tables do.
pub(super) fn endpoint_found(sys: &mut System, obs: &Observed, need: Need) -> Result<Option<Observed>, Error> {
    let before = sys.cfg.wg_endpoint.addr();
    let looked = sys.endpoint_for_activation(obs, need)?;
    tell_lookup(sys, &looked, false);
    if sys.cfg.wg_endpoint.addr() == before {
        return Ok(None);
    }
    sys.observe().map(Some)
}
