//! The round while the failsafe is on, in four parts a reader takes in order: what it sees
//! of the tunnels (their paths mended, their echoes and handshakes, the others when one
//! must take over), the judge's answer (`judge::while_active`: where the tables point, the
//! record's transitions), the door (the defaults that appeared, steps 5 and 6 on that
//! target), and what is told.

use super::steps::*;
use super::*;
use crate::judge::{OthersHealth, RoundNow, TunnelsSeen};

/// One round while the failsafe is on: steps 1, 2, 5 and 6 again (the load balancer
/// rewrites its tables), defaults that appeared moved aside into the snapshot, the tunnel
/// judged (fallback to the backup and back), the failback wait counted, and an
/// interrupted activation's record completed. `primary` is this round's health and
/// failback state; `None` when forced by hand (`activate` while on). `tunnel_seen` is
/// what the daemon's track saw of WG_PEER_IP's echoes, or `ProbeNow` (`run`, by hand):
/// the round probes it itself once its path is mended.
pub fn while_active(
    sys: &mut System,
    obs: &Observed,
    primary: Option<(Result<(), Unhealthy>, Failback)>,
    tunnel_seen: TunnelSeen,
    others: &OthersSeen,
) -> Result<Outcome, Error> {
    // A name endpoint with no address kept at all (STATE_DIR lost, the name changed, or
    // never found): looked for as activation looks, but not again before RETRY_S after a
    // failed lookup and within a short bound (see `endpoint::Need::Active`); still none,
    // the tunnel counts as down, and no route to 0.0.0.0 is made.
    if !sys.cfg.wg_endpoint.known() {
        if let Some(seen) = endpoint_found(sys, obs, Need::Active)? {
            return while_active(sys, &seen, primary, tunnel_seen, others);
        }
    }
    let c = sys.cfg;
    let started_ms = sys.boottime_ms();
    let mut record = sys.record().clone();
    // The outage's bytes up to now, on the path the tables have pointed at since the
    // last reading: at every tick of `run`, not at every one of the daemon's rounds
    // (see READ_EVERY_S).
    if tunnel_seen == TunnelSeen::ProbeNow || record.traffic.read_due(record.mode.target, sys.boottime_s()) {
        let target = record.mode.target;
        count_traffic(sys, &mut record, target);
    }
    let before = sys.changes.len();
    // The backup gateway of this round, else the one our endpoint route has.
    let journal_gw = endpoint_gateway(sys.journal(), c.wg_endpoint.addr());
    let Some(backup_gw) = obs.backup_gw.or(journal_gw) else { return Err(say::no_backup_gateway(c, false)) };
    let over_budget = over_budget(c, &record);

    // I. What the round sees of the tunnels (see `see_tunnels`): the verdict on the one in
    // use, the others (several tunnels), and the peer renewed for the proof.
    let seen = see_tunnels(sys, obs, &mut record, (backup_gw, over_budget), tunnel_seen, others)?;

    // II. The judge: the tunnel and the target the tables point at, the record's
    // transitions. Another tunnel taking the LAN is used from here on.
    let c = sys.cfg;
    let backup_alive = link_health(sys.links.by_name(&c.backup_dev)).is_ok();
    let now = RoundNow { wall_s: sys.wall_now().as_secs(), boot_ms: sys.boottime_ms(), boot_id: sys.boot_id() };
    let in_use = sys.tunnel_in_use();
    let tunnels = TunnelsSeen { in_use, verdict: seen.verdict, others: &seen.others };
    let current = record.mode.target;
    let on_tunnel = current == Target::Tunnel;
    let judged = crate::judge::while_active(&mut record, tunnels, primary, (c.fallback, backup_alive), now);
    let target = judged.target;
    // The interface a switch between tunnels leaves, and its index (its bytes are read).
    let switched_from = judged.tunnel_to.filter(|_| on_tunnel).map(|_| (c.wg_iface.clone(), in_use));
    if let Some(to) = judged.tunnel_to {
        sys.use_tunnel(to);
    }
    let c = sys.cfg;
    sys.lan_on(Some(target));

    // III. The door, on the judge's target: defaults that appeared during the outage go
    // into the snapshot, then out of the tables; steps 5 and 6 (with FALLBACK=none and the
    // interface gone there is no tunnel default to put anywhere: the tables wait for it).
    let ours = Ours { cfg: c, backup_gw, primary_gw: obs.primary_gw, over_budget };
    let (snapshot, reimposed, refused6) = match door(sys, obs, &ours, target) {
        Ok(done) => done,
        Err(e) => return Err(door_failed(sys, obs, record, (current, &judged), e)),
    };

    // IV. Told, in order: IPv6, the repairs, the switch once its flows are reset, the
    // tunnel's transitions, the failback wait, an interrupted activation completed.
    note_ipv6(sys, &mut record, refused6);
    let repairs = tell_repairs(sys, &mut record, before, &reimposed, seen.renewed.as_ref());
    let tables = snapshot.all_tables();
    // At a switch — of target, or to another tunnel — the last bytes of the path left
    // (with its own counters), then counted on from the new path's.
    let left_tunnel = switched_from.as_ref().map(|(_, i)| *i);
    if let Some(from) = judged.news.switched_from.or(left_tunnel.map(|_| Target::Tunnel)) {
        let in_use = sys.tunnel_in_use();
        sys.use_tunnel(left_tunnel.unwrap_or(in_use));
        count_traffic(sys, &mut record, from);
        sys.use_tunnel(in_use);
        record.path_left();
        count_traffic(sys, &mut record, target);
    }
    let took_ms = sys.elapsed_ms(started_ms);
    tell_tunnel_news(sys, (judged.news, seen.unaddressed), target, backup_gw, took_ms, &tables);
    if let Some((from, _)) = switched_from {
        tell_tables(sys, News::TunnelSwitched { from: &from }, Some(sys.elapsed_ms(started_ms)), &tables);
    }
    if judged.primary_passes {
        tell(sys, News::PrimaryPasses { wait_s: record.failback.up_after_s });
    }
    if judged.completed {
        tell_tables(sys, News::ActivationCompleted, None, &tables);
    }
    sys.write_record(&record)?;
    let tunnel_ok = judged.tunnel_ok && target == Target::Tunnel;
    Ok(Outcome::Active { repairs, target, tunnel_ok, wait_left_s: judged.wait_left_s })
}

/// The round's door: defaults that appeared go into the snapshot, then out of the tables;
/// step 5 on every managed table, step 6. The snapshot, the load balancer's routes it
/// re-imposed, and why IPv6 was refused, if it was.
fn door(
    sys: &mut System,
    obs: &Observed,
    ours: &Ours,
    target: Target,
) -> Result<(Snapshot, Vec<Route>, Option<String>), Error> {
    let Absorbed { snapshot, reimposed, .. } = absorb_appeared(sys, obs, ours)?;
    let wg_exists = sys.links.by_name(&ours.cfg.wg_iface).is_some();
    let moved = match wg_exists || target == Target::Backup {
        true => move_tables(sys, &obs.routes, &snapshot, ours, target)?,
        false => None,
    };
    let ruled = ensure_lan_rules(sys, &obs.rules, &snapshot, ours)?;
    Ok((snapshot, reimposed, moved.or(ruled)))
}

/// The door failed (a route the kernel refuses at every round: with FALLBACK=none the
/// tunnel's default once WG_IFACE has lost its address, or WG_PEER_IP off the prefix of a
/// renumbered WG_IFACE): the tables could not follow the judge, but what the round observed stands —
/// the failback wait, the tunnel's verdict where the tables are (a dead tunnel with
/// FALLBACK=none is a dead target: the primary's first passing round takes the tables
/// back), an interrupted activation completed — told and recorded. Not the switch: the
/// record keeps the target it had (`current`), so the next round judges the switch again
/// and tells it once it is made. Returns the door's error.
fn door_failed(
    sys: &mut System,
    obs: &Observed,
    mut record: Record,
    (current, judged): (Target, &crate::judge::ActiveJudged),
    e: Error,
) -> Error {
    record.tunnel_judged(current, judged.tunnel_ok);
    let tables = obs.snapshot.as_ref().map(Snapshot::all_tables).unwrap_or_default();
    if judged.primary_passes {
        tell(sys, News::PrimaryPasses { wait_s: record.failback.up_after_s });
    }
    if judged.completed {
        tell_tables(sys, News::ActivationCompleted, None, &tables);
    }
    if let Err(w) = sys.write_record(&record) {
        tell(sys, News::FailbackNotCounted(&w));
    }
    e
}

/// What a round while active saw of the tunnels.
struct TunnelsObserved {
    /// The verdict on the tunnel in use (`None`: not judged).
    verdict: Option<bool>,
    /// The tunnels not in use (several tunnels).
    others: OthersHealth,
    /// The VPS peer renewed for the proof, in its change's words (not a repair).
    renewed: Option<String>,
    /// WG_IFACE exists but has no IPv4 address: why it is down, for the log.
    unaddressed: bool,
}

/// What the round sees of the tunnels, the observation `run` makes itself and the daemon
/// hands in (`tunnel_seen`, `others`): steps 1 and 2 again first (an echo needs them; a
/// WireGuard interface that has vanished is a tunnel that does not work), then the tunnel
/// in use's echoes — while the tables are on the backup, each echo is also the packet that
/// retries a handshake — and handshakes, the peer renewed when the proof needs a handshake
/// WireGuard would not start, the verdict on it (`judge::tunnel_in_use`), and with several
/// tunnels the others, when one must take over or an earlier one may take the LAN back
/// (`tunnels::others_seen`).
fn see_tunnels(
    sys: &mut System,
    obs: &Observed,
    record: &mut Record,
    (backup_gw, over_budget): (Ipv4Addr, bool),
    tunnel_seen: TunnelSeen,
    others: &OthersSeen,
) -> Result<TunnelsObserved, Error> {
    let c = sys.cfg;
    let ours = Ours { cfg: c, backup_gw, primary_gw: obs.primary_gw, over_budget };
    let wg_exists = sys.links.by_name(&c.wg_iface).is_some();
    mend_tunnel_path(sys, obs, &ours, wg_exists, c.wg_endpoint.known())?;
    // Without an IPv4 address WG_IFACE carries no IPv4, whatever its handshakes say: a
    // tunnel that does not work, so that FALLBACK takes the LAN to the backup instead of a
    // tunnel default the kernel refuses at every round (`judge::has_ipv4`, over the round's
    // addresses: `run`'s dump, the daemon's view). Those may be older than `sys.links`
    // (dumped when the system was opened, or again while mending): a "none" is read again
    // now, so that a WG_IFACE re-created with its address a moment ago is not judged by
    // its old index's addresses (the daemon's view not yet told) and fallen back from.
    let wg = sys.links.by_name(&c.wg_iface).cloned();
    let addressed = match wg {
        Some(l) if !crate::judge::has_ipv4(&l, &obs.addrs) => crate::judge::has_ipv4(&l, &sys.addrs()?),
        Some(_) => true,
        None => false,
    };
    let usable = wg_exists && addressed && c.wg_endpoint.known();
    let echo = match tunnel_seen {
        _ if !usable => Some(false),
        TunnelSeen::ProbeNow => Some(sys.peer_answers(c.probe_count)?),
        TunnelSeen::Unknown => None,
        TunnelSeen::Echo(e) => Some(e),
    };
    let (echo, round, renewed) =
        tunnel_round(sys, usable, echo, record.tunnel.peer_echoes, record.tunnel.handshake_mark)?;
    if renewed.is_some() {
        // The renewed peer's counters start again at 0: the next reading counts from there.
        record.traffic.restarted(Target::Tunnel);
    }
    let verdict = crate::judge::tunnel_in_use(record, usable, echo, &round, c.handshake_max_age_s);
    let others = others_seen(sys, record, verdict, others, ours.gateways());
    Ok(TunnelsObserved { verdict, others, renewed, unaddressed: wg_exists && !addressed })
}

/// Steps 1 and 2 again: the route to the VPS (when its address is known), the tunnel's
/// interface up and, for a name found only now, the peer's endpoint.
fn mend_tunnel_path(sys: &mut System, obs: &Observed, ours: &Ours, wg_exists: bool, known: bool) -> Result<(), Error> {
    // A route that is not ours holding the VPS route's place (through another device)
    // cannot be mended here, but the tables still are: told once, never a stop.
    if let Err(e) = if known { ensure_endpoint_route(sys, &obs.routes, &obs.rules, ours) } else { Ok(()) } {
        tell(sys, News::EndpointRouteRefused(&e));
    }
    if wg_exists {
        ensure_link_up(sys)?;
        // Told, never a stop: the tables are kept all the same.
        if let Err(e) = peer_for_late_endpoint(sys) {
            tell(sys, News::TunnelStepFailed(&e));
        }
    }
    Ok(())
}

/// The tunnel's transitions of this round (`news`), told once each: a switch of target
/// after the flows it breaks are reset (`took_ms` into the round), then the tunnel the
/// tables are on going down or working again (`unaddressed`: because WG_IFACE has no IPv4
/// address).
fn tell_tunnel_news(
    sys: &mut System,
    (news, unaddressed): (TunnelNews, bool),
    target: Target,
    backup_gw: Ipv4Addr,
    took_ms: u64,
    tables: &BTreeSet<u32>,
) {
    if let Some(from) = news.switched_from {
        let flows = flows::after_switch(sys, from.into(), target.into());
        let switched = match target {
            Target::Backup => News::Fallback { backup_gw, flows, unaddressed },
            Target::Tunnel => News::TunnelRestored { flows },
        };
        tell_tables(sys, switched, Some(took_ms), tables);
    }
    match news.down {
        Some(true) => tell_tables(sys, News::TunnelDown(unaddressed), None, tables),
        Some(false) => tell_tables(sys, News::TunnelUp, None, tables),
        None => {}
    }
}

/// What was repaired since `before` (the changes made this round): the load balancer
/// re-imposing its own routes (`reimposed`) is told once per activation, anything else
/// every time. Returns how many changes were made.
fn tell_repairs(
    sys: &mut System,
    record: &mut Record,
    before: usize,
    reimposed: &[Route],
    renewed: Option<&String>,
) -> usize {
    let made = &sys.changes[before..];
    let silent: Vec<String> =
        reimposed.iter().map(|r| Change::DelRoute(r.clone()).to_string()).chain(renewed.cloned()).collect();
    // The peer's renewal is the proof's, not a repair.
    let repairs = made.iter().filter(|m| renewed != Some(*m)).count();
    let loud = made.iter().filter(|m| !silent.contains(m)).count();
    if !reimposed.is_empty() && record.reimposed() {
        tell(sys, News::Reimposed(reimposed));
    }
    if loud > 0 {
        tell(sys, News::Repaired(loud));
    }
    repairs
}
