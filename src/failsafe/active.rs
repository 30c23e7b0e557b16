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
) -> Result<Outcome, Error> {
    let c = sys.cfg;
    let started = Instant::now();
    let took = || started.elapsed().as_millis() as u64;
    let mut record = sys.record().clone();
    let before = sys.changes.len();
    // The backup gateway of this round, else the one our endpoint route has.
    let journal_gw = sys.journal().iter().rev().find_map(|o| match o {
        Owned::Route(r) if !r.is_default() && r.dst.addr == IpAddr::V4(c.wg_endpoint) => match r.gateway {
            Some(IpAddr::V4(gw)) => Some(gw),
            _ => None,
        },
        _ => None,
    });
    let Some(backup_gw) = obs.backup_gw.or(journal_gw) else {
        return Err(Error::Failed(format!("BACKUP_GW={}: no gateway found for {}", c.backup_gw, c.backup_dev)));
    };
    let ours = Ours { cfg: c, backup_gw, primary_gw: obs.primary_gw };

    // 1. and 2. A WireGuard interface that has vanished is a tunnel that does not work.
    let wg_exists = sys.links.by_name(&c.wg_iface).is_some();
    // A route that is not ours holding the VPS route's place (through another device)
    // cannot be mended here, but the tables still are: told once, never a stop.
    if let Err(e) = ensure_endpoint_route(sys, &obs.routes, &obs.rules, &ours) {
        let why = format!("the route to the VPS cannot be put in: {e}");
        if sys.event("error", &why, None, []) {
            sys.log.error(&why);
        }
    }
    if wg_exists {
        ensure_link_up(sys)?;
    }

    // The tunnel, every round: while the tables are on the backup, each echo is also the
    // packet that retries a handshake.
    let echo = match tunnel_seen {
        _ if !wg_exists => Some(false),
        TunnelSeen::ProbeNow => Some(sys.peer_answers(c.probe_count)?),
        TunnelSeen::Unknown => None,
        TunnelSeen::Echo(e) => Some(e),
    };
    let latest = sys.tunnel_peer().ok().flatten().and_then(|p| p.last_handshake);
    // Only a real answer makes a peer "one that echoes", never a guess.
    record.peer_echoes |= echo == Some(true);
    let round = TunnelRound {
        echo: false,
        peer_echoes: record.peer_echoes,
        latest,
        mark: record.handshake_mark,
        now: sys.wall_now(),
    };
    // `None`: not judged this round (the daemon's tunnel track has just started): the
    // target stays what it is.
    let verdict = if wg_exists { health::tunnel_verdict(echo, &round, c.handshake_max_age_s) } else { Some(false) };
    let tunnel_ok = verdict.unwrap_or(record.target == Target::Tunnel && !record.tunnel_down);
    let backup_alive = link_health(sys.links.by_name(&c.backup_dev)).is_ok();
    let target = match (record.target, tunnel_ok, c.fallback) {
        _ if verdict.is_none() => record.target,
        (Target::Tunnel, false, Fallback::Backup) if backup_alive => Target::Backup,
        (Target::Backup, true, _) => Target::Tunnel,
        (t, _, _) => t,
    };

    // Defaults that appeared during the outage go into the snapshot (rewritten first, so
    // a crash cannot lose them), then come out of the tables. State lost: manage what
    // holds a default now, without writing a snapshot.
    let is_ours =
        |r: &Route| ours.is_target(r) || sys.journal().iter().any(|o| matches!(o, Owned::Route(j) if j.same_path(r)));
    let (snapshot, reimposed) = match &obs.snapshot {
        Some(saved) => {
            let a = absorb(saved, &obs.routes, &obs.rules, c, is_ours);
            if a.snapshot != *saved {
                sys.write_snapshot(&a.snapshot)?;
            }
            for r in &a.appeared {
                sys.log.info(&format!("failsafe active: {r} appeared; moved aside, it comes back at failback"));
            }
            for r in &a.aside {
                sys.log.warn(&format!(
                    "failsafe active: {r} appeared (an owner's failover, or the outage's own); moved aside, it does not come back at failback"
                ));
            }
            (a.snapshot, a.reimposed)
        }
        None => (snapshot_now(&obs.routes, &obs.rules, c), Vec::new()),
    };

    // 5. and 6. (With FALLBACK=none and the interface gone there is no tunnel default
    // to put anywhere: the tables wait for it.)
    let moved = match wg_exists || target == Target::Backup {
        true => move_tables(sys, &obs.routes, &snapshot, &ours, target)?,
        false => None,
    };
    let ruled = ensure_lan_rules(sys, &obs.rules, &snapshot, &ours)?;
    note_ipv6(sys, &mut record, moved.or(ruled));

    // What was repaired: the load balancer re-imposing its own routes is logged once per
    // activation, anything else every time.
    let made = &sys.changes[before..];
    let silent: Vec<String> = reimposed.iter().map(|r| Change::DelRoute(r.clone()).to_string()).collect();
    let repairs = made.len();
    let loud = made.iter().filter(|m| !silent.contains(m)).count();
    if !reimposed.is_empty() && !record.repairs_logged {
        sys.log.warn(&format!(
            "failsafe active: the load balancer re-imposes {}; repairing it without a log line from now on",
            reimposed.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
        ));
        record.repairs_logged = true;
    }
    if loud > 0 {
        sys.log.warn(&format!("failsafe active: repaired {loud} drifted route(s), rule(s) or link(s)"));
    }

    // The tunnel's transitions, logged once each, after the flows they break are reset.
    if target != record.target {
        let flows = conntrack::said(conntrack::after_switch(sys, record.target.into(), target.into()));
        match target {
            Target::Backup => {
                let why = format!(
                    "tunnel {} stopped working: every table now goes straight out of {} via {backup_gw} (FALLBACK=backup)",
                    c.wg_iface, c.backup_dev
                );
                sys.log.error(&format!("{why}{flows}"));
                sys.event("fallback", &why, Some(took()), snapshot.all_tables());
            }
            Target::Tunnel => {
                sys.log.info(&format!("tunnel {} works again: every table uses it again{flows}", c.wg_iface));
                let why = format!("tunnel {} works over {}", c.wg_iface, c.backup_dev);
                sys.event("tunnel-restored", &why, Some(took()), snapshot.all_tables());
            }
        }
        record.target = target;
    }
    let dead_on_tunnel = !tunnel_ok && target == Target::Tunnel;
    if dead_on_tunnel != record.tunnel_down {
        if dead_on_tunnel {
            let keeps = match c.fallback {
                Fallback::None => "FALLBACK=none keeps the tables on it".to_string(),
                Fallback::Backup => format!(
                    "{} has no carrier either: the primary is used again at its first passing round",
                    c.backup_dev
                ),
            };
            let why = format!(
                "failsafe active but tunnel {} is down: no answer from {} and no fresh handshake since it went over {} ({keeps})",
                c.wg_iface, c.wg_peer_ip, c.backup_dev
            );
            sys.log.error(&why);
            sys.event("error", &why, None, snapshot.all_tables());
        } else {
            sys.log.info(&format!("tunnel {} works again", c.wg_iface));
            let why = format!("tunnel {} works again", c.wg_iface);
            sys.event("tunnel-restored", &why, None, snapshot.all_tables());
        }
        record.tunnel_down = dead_on_tunnel;
    }

    // The failback wait.
    let mut wait_left_s = None;
    match primary {
        Some((_, Failback::Waiting { since_ms, left_ms, first })) => {
            if first && !record.back_logged {
                record.back_logged = true;
                sys.log.info(&format!(
                    "primary {} passes again: failing back after {} s without a failed round",
                    c.primary_dev, record.up_after_s
                ));
            }
            record.up_since_ms = Some(since_ms);
            wait_left_s = Some(left_ms.div_ceil(1000));
        }
        Some((_, Failback::Down)) | Some((Err(_), _)) => record.up_since_ms = None,
        _ => {}
    }

    // An interrupted activation's record is completed.
    if !record.failsafe {
        record.failsafe = true;
        record.activations += 1;
        record.since_unix_s = sys.wall_now().as_secs();
        record.boot_id = state::boot_id();
        sys.log.info("failsafe ACTIVATED (an interrupted activation was completed)");
        sys.event("activated", "an interrupted activation was completed", None, snapshot.all_tables());
    }
    sys.write_record(&record)?;
    Ok(Outcome::Active { repairs, target, tunnel_ok: tunnel_ok && target == Target::Tunnel, wait_left_s })
}
