//! Activation (DESIGN.md, steps 1 to 8): the tunnel proven over the backup path, the snapshot,
//! every managed table moved, the LAN's rules, the DNS check, one log line.

use super::steps::*;
use super::*;

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
    let now_s = sys.boottime_s();
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
    record.since_unix_s = sys.wall_now().as_secs();
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
