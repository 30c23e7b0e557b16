//! The sequences of DESIGN.md's "Semantics": one tick (observe, decide, act),
//! activation, the round while active, deactivation and cleanup. Each is straight-line
//! code that reads top to bottom like the seed's timeline; every step is idempotent, so
//! running a sequence again is also how drift is repaired and how an interrupted run is
//! finished. The judgement is in `decide` and `health`, the means in `system`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::config::Fallback;
use crate::conntrack::{self, Path};
use crate::decide::{
    decide, defaults_of, endpoint_plan, fail_back_now, footprint_in_main, inferred_owned, kernel_winners, link_health,
    move_table, restorable, rule_deletion_safe, rules_plan, saved_defaults, snapshot_now, target_dead, Action, Change,
    Ours, Target,
};
use crate::error::Error;
use crate::health::{self, damped_wait, handshake_since, Failback, TunnelRound, Unhealthy};
use crate::netlink::route::{table_name, Route, RT_TABLE_MAIN};
use crate::netlink::rule::Rule;
use crate::ownership::{absorb, last_seen_healthy, made_good, restore_table};
use crate::state::{self, Owned, Snapshot};
use crate::system::{wall_now, Observed, System};
use crate::wireguard::PeerSet;

/// What a tick or command did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Within BOOT_WAIT_S of boot: nothing observed, nothing changed, nothing logged.
    Booting,
    /// Primary healthy, failsafe off: nothing to do.
    Healthy,
    /// An interrupted activation's leftovers were taken back.
    CleanedUp,
    Activated {
        ms: u128,
        target: Target,
    },
    /// Failsafe on and kept on.
    Active {
        /// Repairs made (drift, defaults moved aside).
        repairs: usize,
        target: Target,
        /// The tunnel carried traffic in this round.
        tunnel_ok: bool,
        /// The primary passes again; this long until failback.
        wait_left_s: Option<u64>,
    },
    Deactivated {
        ms: u128,
    },
}

impl Outcome {
    /// 0, or 1 when the desired state is not reached: the tables are on the backup
    /// because the tunnel does not work, or on a dead tunnel (FALLBACK=none).
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Activated { target: Target::Backup, .. } => 1,
            Outcome::Active { tunnel_ok: false, .. } => 1,
            _ => 0,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The tick

/// One tick of `run`: observe, probe the primary (PROBE_COUNT echoes per target), then the
/// round every driver shares.
pub fn tick(sys: &mut System) -> Result<Outcome, Error> {
    // Before the router has configured its interfaces, a missing WAN is no outage.
    if state::boottime_s() < sys.cfg.boot_wait_s {
        return Ok(Outcome::Booting);
    }
    let obs = sys.observe()?;
    let primary = sys.primary_round(&obs)?;
    let passed = primary.is_ok();
    let outcome = round(sys, &obs, Seen { primary, round_passed: Some(passed), tunnel: TunnelSeen::ProbeNow })?;
    if outcome == Outcome::Healthy && sys.cfg.backup_check {
        let verdict = sys.backup_round(&obs)?;
        judge_backup(sys, verdict, 2)?;
    }
    Ok(outcome)
}

/// What a round saw of the primary and the tunnel, wherever it came from: `run`'s echoes
/// of this tick, or the daemon's event-fed view and continuous probe tracks.
pub struct Seen {
    pub primary: Result<(), Unhealthy>,
    /// A probe round of the primary closed now and passed (`None`: the daemon judges at
    /// an event, between rounds).
    pub round_passed: Option<bool>,
    pub tunnel: TunnelSeen,
}

/// The round `run` and the daemon share: decide from what was seen, and act.
pub fn round(sys: &mut System, obs: &Observed, seen: Seen) -> Result<Outcome, Error> {
    let record = sys.record().clone();
    // An interrupted deactivation is finished first, whatever the primary does now.
    if obs.on && record.deactivating {
        return deactivate(sys, obs, false);
    }
    let healthy = seen.primary.is_ok();
    let failback =
        health::round_failback(healthy, seen.round_passed, record.up_since_ms, state::boottime_ms(), record.up_after_s);
    let dead = target_dead(sys.cfg, sys.links.by_name(&sys.cfg.backup_dev), record.tunnel_down);
    let passed = healthy && seen.round_passed == Some(true);
    let back = failback.is_some_and(|f| fail_back_now(f, passed, dead));
    match decide(obs.on, healthy, !sys.journal().is_empty(), back) {
        Action::Nothing => {
            // Only a help at the next activation: a write that fails (a full tmpfs) is
            // told, never a failed round.
            if let Err(e) = sys.remember_healthy(&last_seen_healthy(&obs.routes, &obs.rules, sys.cfg)) {
                sys.log.warn(&format!("the tables as last seen healthy are not remembered: {e}"));
            }
            Ok(Outcome::Healthy)
        }
        Action::Cleanup => cleanup(sys),
        Action::Activate => activate(sys, seen.primary.err(), obs),
        Action::Reassert => while_active(sys, obs, failback.map(|f| (seen.primary, f)), seen.tunnel),
        Action::Deactivate => deactivate(sys, obs, false),
    }
}

/// BACKUP_CHECK: takes in a verdict on the backup path (made while the primary is
/// healthy and the failsafe off) and announces a change: `backup-down` once the path
/// has failed `need_fails` verdicts in a row (a lossy LTE backup loses a whole round now
/// and then), `backup-up` at the first that passes after. Nothing is written while the
/// backup stays as it was.
pub fn judge_backup(sys: &mut System, verdict: Result<(), String>, need_fails: u64) -> Result<(), Error> {
    let c = sys.cfg;
    let mut record = sys.record().clone();
    if verdict.is_err() && !record.backup_down {
        record.backup_fails = record.backup_fails.saturating_add(1);
        if record.backup_fails < need_fails {
            sys.write_record(&record)?;
            return Ok(());
        }
    }
    let down = verdict.is_err();
    if record.backup_since_unix_s != 0 && record.backup_down == down {
        if !down && record.backup_fails > 0 {
            record.backup_fails = 0;
            sys.write_record(&record)?;
        }
        return Ok(());
    }
    record.backup_fails = 0;
    let first = record.backup_since_unix_s == 0;
    record.backup_down = down;
    record.backup_since_unix_s = wall_now().as_secs().max(1);
    sys.write_record(&record)?;
    match verdict {
        Err(why) => {
            let why = format!("backup {}: {why}", c.backup_dev);
            sys.log.warn(&format!("{why}: a failover now would have no working path"));
            sys.event("backup-down", &why, None, []);
        }
        Ok(()) if !first => {
            let why = format!("backup {} works again", c.backup_dev);
            sys.log.info(&why);
            sys.event("backup-up", &why, None, []);
        }
        Ok(()) => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Activation

/// Activation (DESIGN.md, steps 1 to 8). `why` is what is wrong with the primary
/// (`None` when forced by hand).
pub fn activate(sys: &mut System, why: Option<Unhealthy>, obs: &Observed) -> Result<Outcome, Error> {
    let announced = sys.errors_announced;
    let result = activate_steps(sys, why, obs);
    // Whatever stopped it (no backup gateway, a refused route, a vanished device) is an
    // `error` the owner hears of, unless the sequence said it itself.
    if let Err(e) = &result {
        if sys.errors_announced == announced {
            sys.event("error", &format!("activation failed: {e}"), None, []);
        }
    }
    result
}

fn activate_steps(sys: &mut System, why: Option<Unhealthy>, obs: &Observed) -> Result<Outcome, Error> {
    let started = Instant::now();
    let c = sys.cfg;
    match &why {
        Some(w) => sys.log.warn(&format!("primary {} is down ({w}): activating the failsafe", c.primary_dev)),
        None => sys.log.info("activating the failsafe by request"),
    }
    // What the sequence needs, before anything is touched. A missing WireGuard interface
    // (wireguard-go restarting, a configuration commit re-creating it) is a tunnel that
    // does not work: FALLBACK=backup still carries the LAN.
    let wg_exists = sys.links.by_name(&c.wg_iface).is_some();
    for (dev, needed) in [(&c.wg_iface, c.fallback == Fallback::None), (&c.backup_dev, true)] {
        if needed && sys.links.by_name(dev).is_none() {
            return Err(Error::Failed(format!("interface {dev} does not exist; nothing was changed")));
        }
    }
    // A backup without carrier carries neither the tunnel nor a fallback: failing over
    // onto it would only take the LAN off a primary that may still pass now and then.
    if let Err(why) = link_health(sys.links.by_name(&c.backup_dev)) {
        return Err(Error::Failed(format!(
            "backup {} {why}: no path to fail over to; every table is left as it is",
            c.backup_dev
        )));
    }
    let Some(backup_gw) = obs.backup_gw else {
        return Err(Error::Failed(format!(
            "BACKUP_GW={}: no gateway found for {}; nothing was changed",
            c.backup_gw, c.backup_dev
        )));
    };
    let ours = Ours { cfg: c, backup_gw, primary_gw: obs.primary_gw };

    // 1. Host route to the VPS through the backup WAN, so the tunnel does not follow the
    //    defaults it is about to replace. From here on a handshake can only have
    //    travelled the backup path: the one the peer holds now is the mark.
    //    A step that fails takes back what the steps before it added.
    let rules_now = sys.rules()?;
    if let Err(e) = ensure_endpoint_route(sys, &obs.routes, &rules_now, &ours) {
        cleanup(sys)?;
        return Err(e);
    }
    // A mark that cannot be read would let any handshake pass for one made since: then
    // only an echo can prove the tunnel.
    let mark = sys.tunnel_peer().map(|p| p.and_then(|p| p.last_handshake)).map_err(|e| e.to_string());

    // 2. The tunnel interface administratively up.
    if wg_exists {
        if let Err(e) = ensure_link_up(sys) {
            cleanup(sys)?;
            return Err(e);
        }
    }

    // 3. The tunnel proven over the backup path, forcing a handshake if need be. If it
    //    cannot be: FALLBACK=none leaves every table as it was; FALLBACK=backup goes on
    //    with the backup gateway as the target.
    let mut record = sys.record().clone();
    let proof = match (wg_exists, &mark) {
        (false, _) => Err(format!("interface {} does not exist", c.wg_iface)),
        (true, Ok(m)) => prove_tunnel(sys, Some(*m), backup_gw),
        (true, Err(_)) => prove_tunnel(sys, None, backup_gw),
    };
    let target = match proof {
        Ok(echoed) => {
            record.peer_echoes |= echoed;
            Target::Tunnel
        }
        Err(why) if c.fallback == Fallback::None => {
            cleanup(sys)?;
            // The announced reason is the same every retry (the diagnostics, with their
            // handshake ages, change every time): one event per outage, not per minute.
            let said =
                format!("tunnel {} does not work over {} (FALLBACK=none: no table changed)", c.wg_iface, c.backup_dev);
            sys.event("error", &said, None, []);
            return Err(Error::Failed(why));
        }
        Err(why) => {
            sys.log.error(&format!(
                "{why}: routing every table straight out of {} instead (FALLBACK=backup)",
                c.backup_dev
            ));
            Target::Backup
        }
    };

    // What this activation judged goes to disk before any table is touched, so that an
    // activation killed from here on is completed with its own mark, target and wait.
    let now_s = state::boottime_s();
    record.deactivating = false;
    record.target = target;
    record.boot_id = state::boot_id();
    record.up_since_ms = None;
    record.up_after_s =
        damped_wait(record.failback_at_s, record.up_after_s, now_s, c.up_after_s, c.up_after_max_s, c.flap_window_s);
    record.handshake_mark = mark.unwrap_or(None);
    record.tunnel_down = false;
    record.repairs_logged = false;
    record.back_logged = false;
    record.ipv6_refused = false;
    sys.write_record(&record)?;

    // 4. The snapshot of every managed table's defaults, before touching any; an
    //    interrupted activation's snapshot is reused. Read again: waiting for the tunnel
    //    may have taken TUNNEL_WAIT.
    sys.relink()?;
    let routes = sys.routes()?;
    let rules = sys.rules()?;
    //    Taken after an owner's failover or after the primary's device vanished with its
    //    defaults, it is made good from the tables as last seen healthy.
    let snapshot = match sys.snapshot()? {
        Some(s) => s,
        None => {
            let primary_present = sys.links.by_name(&c.primary_dev).is_some();
            let s =
                made_good(snapshot_now(&routes, &rules, c), sys.healthy().as_ref(), primary_present, &c.primary_dev);
            sys.write_snapshot(&s)?;
            for r in &s.aside {
                sys.log.info(&format!(
                    "`{r}` is an owner's failover made before the snapshot: the table's default as last seen healthy comes back at failback instead"
                ));
            }
            s
        }
    };

    // 5. In main and every managed table, the target is the default the kernel uses.
    let moved = move_tables(sys, &routes, &snapshot, &ours, target)?;

    // 6. LAN and marked traffic to main, before the load balancer's rules.
    let ruled = ensure_lan_rules(sys, &rules, &snapshot, &ours)?;
    let refused6 = moved.or(ruled);
    note_ipv6(sys, &mut record, refused6.clone());

    // The flows the switch breaks (CONNTRACK_FLUSH), now that the tables are switched.
    let flows = conntrack::after_switch(sys, Path::Primary, target.into());

    // 7. The LAN resolver answers through the new path, or is restarted.
    check_dns(sys)?;

    // 8. Recorded, and one line logged.
    let ms = started.elapsed().as_millis();
    record.failsafe = true;
    record.since_unix_s = wall_now().as_secs();
    record.activations += 1;
    record.last_switch_ms = ms as u64;
    sys.write_record(&record)?;
    let names = |t: &BTreeSet<u32>| t.iter().map(|t| table_name(*t)).collect::<Vec<_>>().join(", ");
    let via = match target {
        Target::Tunnel => format!("{} via {}", c.wg_iface, c.wg_peer_ip),
        Target::Backup => format!("{} via {backup_gw} (FALLBACK: the tunnel does not work)", c.backup_dev),
    };
    let via6 = match (target, c.wg_peer_ip6) {
        _ if snapshot.tables6.is_empty() => String::new(),
        _ if refused6.is_some() => "; IPv6: see the error above".to_string(),
        (Target::Tunnel, Some(ip)) => format!("; IPv6 tables {} use {} via {ip}", names(&snapshot.tables6), c.wg_iface),
        _ => format!("; IPv6 tables {} refuse at once (unreachable)", names(&snapshot.tables6)),
    };
    let damped = if record.up_after_s > c.up_after_s {
        format!(", failback after {} s (flapping)", record.up_after_s)
    } else {
        String::new()
    };
    sys.log.info(&format!(
        "failsafe ACTIVATED in {ms} ms: tables {} now use {via}{via6}{damped}{}",
        names(&snapshot.tables),
        conntrack::said(flows)
    ));
    warn_kernel_winners(sys, &routes, &snapshot);
    for v6 in [false, true] {
        for r in ours.unmodelled_claims(v6, &rules, snapshot.tables_of(v6)) {
            sys.log.warn(&format!(
                "`ip rule {r}` sends LAN traffic elsewhere with selectors wg-failsafe does not model: it is not copied before the LAN's rule, which takes that traffic to the tunnel during the outage"
            ));
        }
    }
    let reason = match &why {
        Some(w) => format!("primary {}: {w}", c.primary_dev),
        None => "by request".to_string(),
    };
    let switched = Some(ms as u64);
    sys.event("activated", &reason, switched, snapshot.all_tables());
    if target == Target::Backup {
        sys.event(
            "fallback",
            &format!("tunnel {} does not work over {}: tables via {backup_gw}", c.wg_iface, c.backup_dev),
            switched,
            snapshot.all_tables(),
        );
    }
    Ok(Outcome::Activated { ms, target })
}

/// Step 3: the tunnel carries traffic over the backup path — an echo answered now, or a
/// handshake made since `mark` — or is made to within TUNNEL_WAIT. `Ok(true)` when the
/// peer answered an echo; `Err` says why not, for the log. `mark` is `None` when it could
/// not be read: then only an echo proves anything.
fn prove_tunnel(sys: &mut System, mark: Option<health::Handshake>, backup_gw: Ipv4Addr) -> Result<bool, String> {
    let c = sys.cfg;
    let endpoint = sys.endpoint();
    // An echo through a peer that has no endpoint (or another one) would only spend the
    // handshake attempt that WireGuard then refuses to repeat for 5 s: such a peer is set
    // first, below.
    let peer = sys.tunnel_peer().map_err(|e| e.to_string())?;
    if peer.as_ref().is_some_and(|p| p.endpoint == Some(endpoint))
        && sys.peer_answers_soon().map_err(|e| e.to_string())?
    {
        return Ok(true);
    }
    let (key, source) = sys.find_peer_key().map_err(|e| e.to_string())?;
    // What goes back at failback: the settings of the peer that has this key.
    let before = match peer.filter(|p| p.public_key == key) {
        Some(p) => p.settings(),
        None => sys.peer_with_key(&key).map_err(|e| e.to_string())?.settings(),
    };
    // Set even when unchanged: a userspace implementation keeps the source address of a
    // device that has vanished (wireguard-go's sticky source) until its endpoint is set.
    let wanted = PeerSet { key, endpoint: Some(endpoint), keepalive_s: c.wg_keepalive_s };
    sys.log.info(&format!(
        "tunnel {} not proven over {}: setting the peer's endpoint {endpoint} and keepalive (key from {source})",
        c.wg_iface, c.backup_dev
    ));
    let change = Change::SetPeer { iface: c.wg_iface.clone(), peer: wanted };
    sys.apply_owned(&change, Owned::Peer(c.wg_iface.clone(), before)).map_err(|e| e.to_string())?;
    if sys.dry_run {
        return Ok(false);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(c.tunnel_wait_s);
    loop {
        let pass = Instant::now();
        // Each echo is also a packet that starts a handshake when no session is valid.
        if sys.peer_answers_soon().map_err(|e| e.to_string())? {
            sys.log.info(&format!("tunnel {} up after {} ms", c.wg_iface, started.elapsed().as_millis()));
            return Ok(true);
        }
        let latest = sys.tunnel_peer().ok().flatten().and_then(|p| p.last_handshake);
        if mark.is_some_and(|m| handshake_since(latest, m)) {
            sys.log.info(&format!(
                "tunnel {} handshook over {} after {} ms",
                c.wg_iface,
                c.backup_dev,
                started.elapsed().as_millis()
            ));
            return Ok(false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // Poll once a second, whatever the echo took.
        std::thread::sleep(Duration::from_secs(1).saturating_sub(pass.elapsed()).min(left));
    }
    Err(format!(
        "tunnel {} did not come up within {} s: {}",
        c.wg_iface,
        c.tunnel_wait_s,
        sys.tunnel_diagnostics(backup_gw)
    ))
}

// ---------------------------------------------------------------------------------------
// While active

/// What a round saw of the tunnel's echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelSeen {
    /// Nothing yet: probe it now (`run`: PROBE_COUNT echoes).
    ProbeNow,
    /// The daemon's track has closed too few rounds to say: no verdict, no switch.
    Unknown,
    /// The daemon's track says it answers (up) or not (down), with its hysteresis.
    Echo(bool),
}

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
        now: wall_now(),
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
        record.since_unix_s = wall_now().as_secs();
        record.boot_id = state::boot_id();
        sys.log.info("failsafe ACTIVATED (an interrupted activation was completed)");
        sys.event("activated", "an interrupted activation was completed", None, snapshot.all_tables());
    }
    sys.write_record(&record)?;
    Ok(Outcome::Active { repairs, target, tunnel_ok: tunnel_ok && target == Target::Tunnel, wait_left_s })
}

/// Step 1: the host route to the VPS via the backup, and the rule that sends every packet
/// to the VPS (marked or not) to `main`, where that route is.
fn ensure_endpoint_route(sys: &mut System, routes: &[Route], rules: &[Rule], ours: &Ours) -> Result<(), Error> {
    let endpoint = ours.endpoint_route();
    let owned = owned_routes(sys.journal());
    let plan = endpoint_plan(routes, &endpoint, &owned, &sys.cfg.backup_dev).map_err(Error::Failed)?;
    for change in plan {
        match &change {
            Change::AddRoute(r, _) => sys.apply_owned(&change, Owned::Route(r.clone()))?,
            _ => sys.apply(&change)?,
        }
    }
    let rule = ours.endpoint_rule();
    if !rules.contains(&rule) {
        sys.apply_owned(&Change::AddRule(rule.clone()), Owned::Rule(rule))?;
    }
    Ok(())
}

/// The routes the journal says the failsafe added.
fn owned_routes(journal: &[Owned]) -> Vec<Route> {
    journal
        .iter()
        .filter_map(|o| match o {
            Owned::Route(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn ensure_link_up(sys: &mut System) -> Result<(), Error> {
    let iface = sys.cfg.wg_iface.clone();
    match sys.links.by_name(&iface) {
        None => Err(Error::Failed(format!("WireGuard interface {iface} does not exist"))),
        Some(l) if l.admin_up => Ok(()),
        Some(_) => sys.apply_owned(&Change::SetLink { dev: iface.clone(), up: true }, Owned::LinkUp(iface)),
    }
}

/// Step 5 for every managed table of both families; `Some` says why IPv6 was refused
/// (see [`ipv6_may_fail`]).
fn move_tables(
    sys: &mut System,
    routes: &[Route],
    snapshot: &Snapshot,
    ours: &Ours,
    target: Target,
) -> Result<Option<String>, Error> {
    let owned = owned_routes(sys.journal());
    let main = [RT_TABLE_MAIN].into_iter();
    let tables = snapshot.tables.iter().copied().chain(main).collect::<BTreeSet<u32>>().into_iter().map(|t| (false, t));
    // IPv6's route through the tunnel refused (WG_IFACE without its IPv6 address: a link
    // that was down loses it unless keep_addr_on_down), IPv6 is refused at once instead,
    // for the rest of the round; refused even so, IPv6 is left as it is.
    let mut target6 = target;
    let mut refused6 = None;
    for (v6, table) in tables.chain(snapshot.tables6.iter().map(|t| (true, *t))) {
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

/// One table's plan, in order; an IPv6 change the kernel refuses ends it there (the table
/// keeps what it has) with the reason (see [`ipv6_may_fail`]).
fn apply_plan(sys: &mut System, plan: Vec<Change>, v6: bool) -> Result<Option<String>, Error> {
    for change in plan {
        let done = match &change {
            Change::AddRoute(r, _) => sys.apply_owned(&change, Owned::Route(r.clone())),
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
fn ensure_lan_rules(
    sys: &mut System,
    rules: &[Rule],
    snapshot: &Snapshot,
    ours: &Ours,
) -> Result<Option<String>, Error> {
    let owned: Vec<Rule> = sys
        .journal()
        .iter()
        .filter_map(|o| match o {
            Owned::Rule(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    for v6 in [false, true] {
        let present: Vec<Rule> =
            rules.iter().filter(|r| r.v6 == v6 && r.priority == ours.cfg.lan_rule_priority).cloned().collect();
        for change in rules_plan(&ours.lan_rules(v6, rules, snapshot.tables_of(v6)), &present, &owned) {
            let done = match &change {
                Change::AddRule(r) => sys.apply_owned(&change, Owned::Rule(r.clone())),
                // Put back in order only when the kernel would delete ours, not a user's.
                Change::DelRule(r) if !rule_deletion_safe(rules, r) => continue,
                _ => sys.apply(&change),
            };
            if let Some(why) = ipv6_may_fail(v6, done)? {
                return Ok(Some(why));
            }
        }
    }
    Ok(None)
}

/// An IPv6 change the kernel refuses (WG_PEER_IP6 not on the tunnel's subnet, a kernel
/// without IPv6 policy routing) must not stop IPv4's failover: `Ok(Some(why))`, and the
/// next round tries again. An IPv4 one stops the sequence.
fn ipv6_may_fail(v6: bool, done: Result<(), Error>) -> Result<Option<String>, Error> {
    match done {
        Err(e) if v6 => Ok(Some(e.to_string())),
        other => other.map(|()| None),
    }
}

/// IPv6's refusals, told once an outage: at the first, and when IPv6 moves after all.
fn note_ipv6(sys: &mut System, record: &mut state::Record, refused: Option<String>) {
    match (refused, record.ipv6_refused) {
        (Some(why), false) => {
            let instead = match sys.cfg.wg_peer_ip6 {
                Some(_) => "IPv6 is refused at once instead",
                None => "IPv6 is left as it is",
            };
            let why = format!("IPv6 not moved to its target ({instead}; IPv4 is moved): {why}");
            sys.log.error(&why);
            sys.event("error", &why, None, []);
            record.ipv6_refused = true;
        }
        (None, true) => {
            sys.log.info("IPv6 moved too now");
            record.ipv6_refused = false;
        }
        _ => {}
    }
}

/// A default the kernel keeps for itself (router advertisement) that would win over the
/// failsafe's: never deleted, so that family keeps leaving through it; the owner is told
/// once, at activation, how to make the failsafe's win.
fn warn_kernel_winners(sys: &mut System, routes: &[Route], snapshot: &Snapshot) {
    for r in kernel_winners(routes, snapshot, sys.cfg) {
        sys.log.warn(&format!(
            "`{r}` is the kernel's (router advertisement) and wins over METRIC_WG={}: it stays, and traffic it matches keeps using it; set METRIC_WG below {} (or raise net.ipv6.conf.{}.ra_defrtr_metric)",
            sys.cfg.metric_of(r.is_v6()),
            r.metric,
            r.dev.as_deref().unwrap_or("all")
        ));
    }
}

/// Step 7: if dnsmasq runs, it must resolve DNS_TEST_NAME at the router's LAN address
/// within 5 s; if not, it is restarted. Never fatal: the routes are already right.
fn check_dns(sys: &mut System) -> Result<(), Error> {
    let c = sys.cfg;
    let Some((server, false)) = sys.lan_dns_answers() else { return Ok(()) };
    sys.log.warn(&format!(
        "dnsmasq at {server} does not resolve {}: running {}",
        c.dns_test_name,
        c.dns_restart_cmd.join(" ")
    ));
    if let Err(e) = sys.apply(&Change::RestartDns(c.dns_restart_cmd.clone())) {
        sys.log.error(&e.to_string());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Deactivation and cleanup

/// Deactivation (DESIGN.md, steps 1 to 4). `forced`: by hand, so step 1 (the primary is
/// back) only earns a warning when it does not hold.
pub fn deactivate(sys: &mut System, obs: &Observed, forced: bool) -> Result<Outcome, Error> {
    let started = Instant::now();
    let c = sys.cfg;

    // 1. The primary is back (the tick has just seen it pass for the failback wait).
    if forced {
        if let Ok(Err(why)) = sys.primary_round(obs) {
            sys.log.warn(&format!("deactivating by request although the primary {} is down ({why})", c.primary_dev));
        }
    }
    // From here on, a run killed part-way is finished by the next one, whatever the
    // primary does meanwhile.
    let mut record = sys.record().clone();
    record.deactivating = true;
    sys.write_record(&record)?;

    // 2. In main and each managed table, the saved routes go back before ours go, so no
    //    table is ever without a default.
    let ours = Ours { cfg: c, backup_gw: obs.backup_gw.unwrap_or(Ipv4Addr::UNSPECIFIED), primary_gw: obs.primary_gw };
    let ours_in_main = footprint_in_main(&obs.routes, c);
    // Our default in main means activation journaled and snapshotted first: without
    // either file (lost, or set aside as corrupt), the shapes tell what is ours and the
    // primary what to put back.
    let journal_lost = sys.journal().is_empty() && ours_in_main;
    let snapshot_lost = obs.snapshot.is_none() && ours_in_main;
    let owned: Vec<Owned> = if journal_lost {
        sys.log.warn("state lost: taking back the routes and rules that have the failsafe's shape");
        inferred_owned(&obs.routes, &obs.rules, &ours)
    } else {
        sys.journal().to_vec()
    };
    let owned_defaults: Vec<Route> = owned
        .iter()
        .filter_map(|o| match o {
            Owned::Route(r) if r.is_default() => Some(r.clone()),
            _ => None,
        })
        .collect();
    // Both families' tables: the snapshot's, main, and any where a default of ours is.
    let mut tables: BTreeSet<(bool, u32)> = obs.snapshot.as_ref().map_or_else(BTreeSet::new, |s| {
        s.tables.iter().map(|t| (false, *t)).chain(s.tables6.iter().map(|t| (true, *t))).collect()
    });
    tables.insert((false, RT_TABLE_MAIN));
    tables.extend(owned_defaults.iter().map(|r| (r.is_v6(), r.table)));
    // IPv6's failures are told, but never hold up IPv4's failback: its tables keep the
    // kernel's router-advertisement defaults, which were never taken away.
    let (mut failures, mut failures6) = (Vec::new(), Vec::new());
    for &(v6, table) in &tables {
        let current: Vec<Route> = defaults_of(&obs.routes, v6, table).cloned().collect();
        let mine: Vec<Route> = owned_defaults.iter().filter(|r| r.table == table && r.is_v6() == v6).cloned().collect();
        let saved = saved_defaults(v6, table, obs.snapshot.as_ref(), snapshot_lost, &current, &mine, &ours);
        let (saved, gone) = restorable(saved, &sys.links);
        for r in gone {
            sys.log.warn(&format!("not restoring {r}: its device is gone (the kernel dropped it too)"));
        }
        // An IPv4 table whose saved routes cannot be put back keeps our default.
        let mut restored = true;
        for change in restore_table(&current, &saved, &mine) {
            if matches!(change, Change::DelRoute(_)) && !restored {
                continue;
            }
            if let Err(e) = sys.apply(&change) {
                // An IPv6 saved route the kernel refuses is told, not waited for; one of
                // ours that cannot be deleted holds the failback up whatever its family
                // (left behind, it would read as the failsafe still on).
                let refused_saved = matches!(change, Change::AddRoute(..));
                restored &= v6 || !refused_saved;
                if v6 && refused_saved { &mut failures6 } else { &mut failures }.push(e.to_string());
            }
        }
    }

    // A table that could not get its routes back keeps our default, and so keeps the
    // rules, the endpoint route and WG_IFACE up that make it work: step 3 waits.
    if !failures.is_empty() {
        return give_up_deactivation(sys, record, &failures);
    }

    // 3. The rest of what activation changed, newest first: rules (deleted only when the
    //    kernel would delete ours, not a user's at the same priority), the endpoint
    //    route, the peer's settings, WG_IFACE's administrative state.
    for item in owned.iter().rev() {
        let change = match item {
            // Not there (never added: an IPv6 rule a kernel without IPv6 policy routing
            // refused, and would refuse to delete too): nothing to take back.
            Owned::Rule(r) if !obs.rules.contains(r) => continue,
            Owned::Rule(r) if rule_deletion_safe(&obs.rules, r) => Change::DelRule(r.clone()),
            Owned::Rule(r) => {
                sys.log.warn(&format!(
                    "left `ip rule {r}` in place: deleting it would delete another rule at priority {} first; remove both by hand",
                    r.priority
                ));
                continue;
            }
            Owned::Route(r) if !r.is_default() => Change::DelRoute(r.clone()),
            Owned::Route(_) => continue,
            Owned::LinkUp(dev) => Change::SetLink { dev: dev.clone(), up: false },
            Owned::Peer(iface, p) => Change::SetPeer { iface: iface.clone(), peer: p.clone() },
        };
        if let Err(e) = sys.apply(&change) {
            failures.push(e.to_string());
        }
    }
    if !failures.is_empty() {
        return give_up_deactivation(sys, record, &failures);
    }
    if !failures6.is_empty() {
        let why = format!(
            "IPv6 not fully restored (IPv4 is): the kernel refused a saved route, which its owner must add again: {}",
            failures6.join("; ")
        );
        sys.log.error(&why);
        sys.event("error", &why, None, []);
    }
    // The flows the switch breaks (CONNTRACK_FLUSH): those opened on the path left.
    let flows = conntrack::after_switch(sys, record.target.into(), Path::Primary);

    // 4. Normal again: recorded first (still marked as deactivating, so that a run
    //    killed from here on finishes the job rather than judge the tables anew), then the
    //    journal and the snapshot go, then the mark.
    let ms = started.elapsed().as_millis();
    record.failsafe = false;
    record.since_unix_s = wall_now().as_secs();
    record.deactivations += 1;
    record.last_switch_ms = ms as u64;
    record.failback_at_s = Some(state::boottime_s());
    record.boot_id = state::boot_id();
    record.up_since_ms = None;
    record.tunnel_down = false;
    sys.write_record(&record)?;
    sys.forget_changes(true)?;
    record.deactivating = false;
    sys.write_record(&record)?;
    sys.log.info(&format!(
        "failsafe DEACTIVATED in {ms} ms: every table is back on its own routes{}",
        conntrack::said(flows)
    ));
    let reason = if forced {
        "by request".to_string()
    } else {
        format!("primary {} passed every round for {} s", c.primary_dev, record.up_after_s)
    };
    let numbers: BTreeSet<u32> = tables.iter().map(|(_, t)| *t).collect();
    sys.event("deactivated", &reason, Some(ms as u64), numbers);
    Ok(Outcome::Deactivated { ms })
}

/// A deactivation that could not finish: not a crash, so the next round judges afresh
/// (re-asserting if the primary is down again) instead of insisting on it.
fn give_up_deactivation(sys: &mut System, mut record: state::Record, failures: &[String]) -> Result<Outcome, Error> {
    record.deactivating = false;
    sys.write_record(&record)?;
    let why = format!("deactivation incomplete, still in failsafe: {}", failures.join("; "));
    sys.event("error", &why, None, []);
    Err(Error::Failed(why))
}

/// Takes back everything in the journal (an activation that did not get as far as its
/// snapshot) while the failsafe is off.
pub fn cleanup(sys: &mut System) -> Result<Outcome, Error> {
    let items = sys.journal().to_vec();
    let rules = if items.iter().any(|o| matches!(o, Owned::Rule(_))) { sys.rules()? } else { Vec::new() };
    for item in items.iter().rev() {
        let change = match item {
            Owned::Route(r) => Change::DelRoute(r.clone()),
            Owned::Rule(r) if !rules.contains(r) => continue,
            Owned::Rule(r) if rule_deletion_safe(&rules, r) => Change::DelRule(r.clone()),
            Owned::Rule(_) => continue,
            Owned::LinkUp(dev) => Change::SetLink { dev: dev.clone(), up: false },
            Owned::Peer(iface, p) => Change::SetPeer { iface: iface.clone(), peer: p.clone() },
        };
        sys.apply(&change)?;
    }
    sys.forget_changes(false)?;
    if !items.is_empty() {
        sys.log.info(&format!("took back {} change(s) of an unfinished activation", items.len()));
    }
    Ok(Outcome::CleanedUp)
}
