//! The round while the failsafe is on: steps 1, 2, 5 and 6 again, the defaults that appeared
//! judged by whose they are, the tunnel judged (fallback and back), the failback wait counted.

use super::steps::*;
use super::*;

/// One round while the failsafe is on: steps 1, 2, 5 and 6 again (the load balancer
/// rewrites its tables), defaults that appeared moved aside into the snapshot, the tunnel
/// judged (fallback to the backup and back), the failback wait counted, and an
/// interrupted activation's record completed. `primary` is this round's health and
/// failback state; `None` when forced by hand (`activate` while on). `tunnel_echo` is
/// whether WG_PEER_IP answered this round; `None` probes it now (cron), the daemon says
/// what its continuous probing saw.
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
    let ours = Ours { cfg: c, backup_gw, primary_gw: obs.primary_gw, over_budget: over_budget(c, &record) };

    // 1. and 2. A WireGuard interface that has vanished is a tunnel that does not work.
    let wg_exists = sys.links.by_name(&c.wg_iface).is_some();
    let known = c.wg_endpoint.known();
    mend_tunnel_path(sys, obs, &ours, wg_exists, known)?;

    // The tunnel, every round: while the tables are on the backup, each echo is also the
    // packet that retries a handshake.
    let echo = match tunnel_seen {
        _ if !wg_exists || !known => Some(false),
        TunnelSeen::ProbeNow => Some(sys.peer_answers(c.probe_count)?),
        TunnelSeen::Unknown => None,
        TunnelSeen::Echo(e) => Some(e),
    };
    let (echo, mut round, renewed) =
        tunnel_round(sys, wg_exists && known, echo, record.tunnel.peer_echoes, record.tunnel.handshake_mark)?;
    if renewed.is_some() {
        // The renewed peer's counters start again at 0: the next reading counts from there.
        record.traffic.restarted(Target::Tunnel);
    }
    // Only a real answer makes a peer "one that echoes", never a guess.
    record.echo_seen(echo == Some(true));
    round.peer_echoes = record.tunnel.peer_echoes;
    // `None`: not judged this round (the daemon's tunnel track has just started): the
    // target stays what it is.
    let verdict = match wg_exists && known {
        true => health::tunnel_verdict(echo, &round, c.handshake_max_age_s),
        false => Some(false),
    };
    let tunnel_ok = verdict.unwrap_or(record.mode.target == Target::Tunnel && !record.tunnel.down);
    // Several tunnels: another may take the LAN (see `tunnels`), the rest of the round its.
    let (verdict, tunnel_ok, switched_from) =
        other_tunnel(sys, &mut record, (verdict, tunnel_ok), others, ours.gateways());
    let (c, primary_gw) = (sys.cfg, obs.primary_gw);
    let ours = Ours { cfg: c, backup_gw, primary_gw, over_budget: ours.over_budget };
    let backup_alive = link_health(sys.links.by_name(&c.backup_dev)).is_ok();
    let target =
        crate::judge::target_while_active(record.mode.target, verdict.map(|_| tunnel_ok), c.fallback, backup_alive);
    sys.lan_on(Some(target));

    // Defaults that appeared during the outage go into the snapshot, then come out of
    // the tables.
    let Absorbed { snapshot, reimposed, .. } = absorb_appeared(sys, obs, &ours)?;

    // 5. and 6. (With FALLBACK=none and the interface gone there is no tunnel default
    // to put anywhere: the tables wait for it.)
    let moved = match wg_exists || target == Target::Backup {
        true => move_tables(sys, &obs.routes, &snapshot, &ours, target)?,
        false => None,
    };
    let ruled = ensure_lan_rules(sys, &obs.rules, &snapshot, &ours)?;
    note_ipv6(sys, &mut record, moved.or(ruled));

    let repairs = tell_repairs(sys, &mut record, before, &reimposed, renewed.as_ref());

    // The tunnel's transitions, logged once each, after the flows they break are reset.
    let tables = snapshot.all_tables();
    let news = record.tunnel_judged(target, tunnel_ok);
    if let Some(from) = news.switched_from {
        // The last bytes of the path left, then counted on from the new path's counters.
        count_traffic(sys, &mut record, from);
        count_traffic(sys, &mut record, target);
    }
    tell_tunnel_news(sys, news, target, backup_gw, sys.elapsed_ms(started_ms), &tables);
    if let Some(from) = switched_from {
        tell_tables(sys, News::TunnelSwitched { from: &from }, Some(sys.elapsed_ms(started_ms)), &tables);
    }

    let wait_left_s = failback_wait(sys, &mut record, primary);

    // An interrupted activation's record is completed.
    if record.activation_completed(sys.wall_now().as_secs(), sys.boottime_s(), sys.boot_id()) {
        tell_tables(sys, News::ActivationCompleted, None, &tables);
    }
    sys.write_record(&record)?;
    Ok(Outcome::Active { repairs, target, tunnel_ok: tunnel_ok && target == Target::Tunnel, wait_left_s })
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

/// The failback wait of this round: the primary passing (told once when it starts to) or
/// failing (the wait starts again); the seconds left, when it is counting.
fn failback_wait(
    sys: &mut System,
    record: &mut Record,
    primary: Option<(Result<(), Unhealthy>, Failback)>,
) -> Option<u64> {
    match primary {
        Some((_, f @ Failback::Waiting { since_ms, first, .. })) => {
            if record.primary_passing(since_ms, first) {
                tell(sys, News::PrimaryPasses { wait_s: record.failback.up_after_s });
            }
            f.left_s()
        }
        Some((_, Failback::Down)) | Some((Err(_), _)) => {
            record.primary_failed();
            None
        }
        _ => None,
    }
}

/// The tunnel's transitions of this round (`news`), told once each: a switch of target
/// after the flows it breaks are reset (`took_ms` into the round), then the tunnel the
/// tables are on going down or working again.
fn tell_tunnel_news(
    sys: &mut System,
    news: TunnelNews,
    target: Target,
    backup_gw: Ipv4Addr,
    took_ms: u64,
    tables: &BTreeSet<u32>,
) {
    if let Some(from) = news.switched_from {
        let flows = conntrack::after_switch(sys, from.into(), target.into());
        let switched = match target {
            Target::Backup => News::Fallback { backup_gw, flows },
            Target::Tunnel => News::TunnelRestored { flows },
        };
        tell_tables(sys, switched, Some(took_ms), tables);
    }
    match news.down {
        Some(true) => tell_tables(sys, News::TunnelDown, None, tables),
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
