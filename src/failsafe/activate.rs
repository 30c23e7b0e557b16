//! Activation (DESIGN.md, steps 1 to 8): the tunnel proven over the backup path, the snapshot,
//! every managed table moved, the LAN's rules, the DNS check, one log line.

use super::steps::*;
use super::*;

/// Activation (DESIGN.md, steps 1 to 8). `why` is what is wrong with the primary
/// (`None` when forced by hand).
pub fn activate(sys: &mut System, why: Option<Unhealthy>, obs: &Observed) -> Result<Outcome, Error> {
    let announced = sys.errors_announced;
    // A name endpoint needs its address before step 1 (looked up through the backup when
    // the one kept has expired).
    let result = match endpoint_found(sys, obs, Need::Activation) {
        Ok(Some(seen)) => activate_steps(sys, why, &seen),
        Ok(None) => activate_steps(sys, why, obs),
        Err(e) => Err(e),
    };
    // Whatever stopped it (no backup gateway, a refused route, a vanished device) is an
    // `error` the owner hears of, unless the sequence said it itself.
    if let Err(e) = &result {
        if sys.errors_announced == announced {
            tell(sys, News::ActivationFailed(e));
        }
    }
    result
}

fn activate_steps(sys: &mut System, why: Option<Unhealthy>, obs: &Observed) -> Result<Outcome, Error> {
    let started_ms = sys.boottime_ms();
    let c = sys.cfg;
    tell(sys, News::Activating(why.as_ref()));
    // What the sequence needs, before anything is touched. A missing WireGuard interface
    // (wireguard-go restarting, a configuration commit re-creating it) is a tunnel that
    // does not work: FALLBACK=backup still carries the LAN.
    let root = sys.root;
    let any_wg = (0..root.tunnel_count()).any(|i| sys.links.by_name(&root.tunnel(i).wg_iface).is_some());
    for (dev, needed) in [(&c.wg_iface, c.fallback == Fallback::None && !any_wg), (&c.backup_dev, true)] {
        if needed && sys.links.by_name(dev).is_none() {
            return Err(say::no_interface(dev));
        }
    }
    // A backup without carrier carries neither the tunnel nor a fallback: failing over
    // onto it would only take the LAN off a primary that may still pass now and then.
    if let Err(why) = link_health(sys.links.by_name(&c.backup_dev)) {
        return Err(say::no_backup_path(c, &why));
    }
    let Some(backup_gw) = obs.backup_gw else { return Err(say::no_backup_gateway(c, true)) };

    // 1. to 3. for each tunnel in order until one is proven.
    let mut record = sys.record().clone();
    let mut tried = try_tunnels(sys, obs, backup_gw)?;
    // The tunnel proven; none: FALLBACK=none leaves every table as it was, FALLBACK=backup
    // goes on with the backup gateway as the target, and the next round tries the first
    // tunnel again.
    let chosen = crate::judge::first_proven(&tried.iter().map(|t| t.proof.is_ok()).collect::<Vec<_>>());
    sys.use_tunnel(chosen.unwrap_or(0));
    let c = sys.cfg;
    let mut ours = Ours { cfg: c, backup_gw, primary_gw: obs.primary_gw, over_budget: false };
    // None proven: why each was not, in order (one tunnel: its own words, as ever).
    let whys: Vec<String> = tried.iter().filter_map(|t| t.proof.clone().err()).collect();
    let mut up = tried.swap_remove(chosen.unwrap_or(0));
    if chosen.is_none() {
        up.proof = Err(whys.join("; "));
    }
    record.proof_seen(up.proof == Ok(true));
    let target = match up.proof {
        Ok(_) => Target::Tunnel,
        Err(why) if c.fallback == Fallback::None => {
            cleanup(sys, None)?;
            tell(sys, News::TunnelUnproven);
            return Err(Error::Failed(why));
        }
        Err(why) => {
            tell(sys, News::FallingBackAtActivation(&why));
            Target::Backup
        }
    };
    let mark = up.mark;

    // What this activation judged goes to disk before any table is touched, so that an
    // activation killed from here on is completed with its own mark, target and wait.
    record.activation_judged(c, target, mark.unwrap_or(None), sys.boot_id(), sys.boottime_s());
    record.mode.tunnel = (sys.tunnel_in_use() > 0).then(|| c.wg_iface.clone());
    record.outage_reason(&say::activation_reason(c, why.as_ref()));
    sys.write_record(&record)?;

    // 4. The snapshot of every managed table's defaults, before touching any; an
    //    interrupted activation's snapshot is reused. Read again: waiting for the tunnel
    //    may have taken TUNNEL_WAIT.
    sys.relink()?;
    let routes = sys.routes()?;
    let rules = sys.rules()?;
    let snapshot = take_snapshot(sys, &routes, &rules)?;

    // 5. In main and every managed table, the target is the default the kernel uses.
    let moved = move_tables(sys, &routes, &snapshot, &ours, target)?;
    // The outage's bytes are counted from here (recorded at step 8).
    count_traffic(sys, &mut record, target);
    ours.over_budget = over_budget(c, &record);

    // 6. LAN and marked traffic to main, before the load balancer's rules.
    let ruled = ensure_lan_rules(sys, &rules, &snapshot, &ours)?;
    let refused6 = moved.or(ruled);
    note_ipv6(sys, &mut record, refused6.clone());

    // The flows the switch breaks (CONNTRACK_FLUSH), now that the tables are switched.
    let flows = flows::after_switch(sys, Path::Primary, target.into());

    // 7. The LAN resolver answers through the new path, or is restarted.
    check_dns(sys)?;

    // 8. Recorded, and one line logged.
    let ms = sys.elapsed_ms(started_ms);
    record.activated(sys.wall_now().as_secs(), sys.boottime_s(), ms);
    sys.write_record(&record)?;
    steps::history_open(sys, &record);
    let refused6 = refused6.is_some();
    let damped_s = record.damped_wait_s(c);
    let done =
        say::Activated { ms, why: why.as_ref(), target, backup_gw, snapshot: &snapshot, refused6, damped_s, flows };
    tell_tables(sys, News::Activated(&done), Some(ms), &snapshot.all_tables());
    tell_what_is_left_alone(sys, &ours, &routes, &rules, &snapshot);
    Ok(Outcome::Activated { ms, target })
}

/// Steps 1 to 3 for each tunnel in order until one is proven (see [`bring_up`]), what
/// each came to. TUNNEL_WAIT bounds them all: each tunnel may wait what is left of it,
/// shared equally among the tunnels still to try (one tunnel: all of it, as ever).
fn try_tunnels(sys: &mut System, obs: &Observed, backup_gw: Ipv4Addr) -> Result<Vec<BroughtUp>, Error> {
    let root = sys.root;
    let mut tried = Vec::new();
    let proving_ms = sys.boottime_ms();
    for i in 0..root.tunnel_count() {
        sys.use_tunnel(i);
        let left_ms = (root.tunnel_wait_s * 1000).saturating_sub(sys.elapsed_ms(proving_ms));
        let share_ms = left_ms / (root.tunnel_count() - i) as u64;
        // The first tunnel's routes were observed with the round; a further one's
        // endpoint is looked for again.
        let further = (i > 0).then(|| sys.routes()).transpose()?;
        let gateways = (backup_gw, obs.primary_gw);
        let up = bring_up(sys, further.as_deref().unwrap_or(&obs.routes), gateways, share_ms)?;
        let proven = up.proof.is_ok();
        tried.push(up);
        if proven {
            break;
        }
    }
    Ok(tried)
}

/// The backup's gateway and the primary's, as the round found them.
type Gateways = (Ipv4Addr, Option<Ipv4Addr>);

/// Steps 1 to 3 for the tunnel in use: what proved it, or why it could not be proven (the
/// log's words), and the handshake mark it was proven against.
struct BroughtUp {
    proof: Result<bool, String>,
    mark: Result<Handshake, String>,
}

/// Steps 1 to 3 for the tunnel in use (`System::use_tunnel`), over `routes` (the routes to
/// its endpoint among them), waiting up to `wait_ms` for its proof. `Err`: a step the
/// kernel refused, everything the journal holds taken back.
fn bring_up(sys: &mut System, routes: &[Route], gateways: Gateways, wait_ms: u64) -> Result<BroughtUp, Error> {
    let c = sys.cfg;
    let (backup_gw, primary_gw) = gateways;
    let ours = Ours { cfg: c, backup_gw, primary_gw, over_budget: false };
    let wg_exists = sys.links.by_name(&c.wg_iface).is_some();
    // 1. Host route to the VPS through the backup WAN, so the tunnel does not follow the
    //    defaults it is about to replace. From here on a handshake can only have
    //    travelled the backup path: the one the peer holds now is the mark.
    //    A step that fails takes back what the steps before it added.
    //    A name endpoint whose address could not be found has no route: its tunnel
    //    cannot be proven (step 3).
    let known = c.wg_endpoint.known();
    let rules_now = sys.rules()?;
    let endpoint_route = match known {
        true => ensure_endpoint_route(sys, routes, &rules_now, &ours),
        false => Ok(()),
    };
    if let Err(e) = endpoint_route {
        cleanup(sys, None)?;
        return Err(e);
    }
    // A mark that cannot be read would let any handshake pass for one made since: then
    // only an echo can prove the tunnel.
    let mark = sys.tunnel_peer().map(|p| p.and_then(|p| p.last_handshake)).map_err(|e| e.to_string());

    // 2. The tunnel interface administratively up.
    if wg_exists {
        if let Err(e) = ensure_link_up(sys) {
            cleanup(sys, None)?;
            return Err(e);
        }
    }

    // 3. The tunnel proven over the backup path, forcing a handshake if need be. Without
    //    an IPv4 address it carries no IPv4, whatever its handshakes say (`judge::has_ipv4`,
    //    over the addresses read now, after step 2, by `run` and the daemon alike): not
    //    proven, so FALLBACK decides, instead of a tunnel default the kernel refuses.
    let addressed = match sys.links.by_name(&c.wg_iface).cloned() {
        Some(link) => crate::judge::has_ipv4(&link, &sys.addrs()?),
        None => false,
    };
    let proof = match (wg_exists, &mark) {
        _ if !known => Err(format!("WG_ENDPOINT {}: no address known", c.wg_endpoint)),
        (false, _) => Err(format!("interface {} does not exist", c.wg_iface)),
        _ if !addressed => Err(format!("interface {} has no IPv4 address", c.wg_iface)),
        (true, Ok(m)) => prove_tunnel(sys, Some(*m), backup_gw, wait_ms),
        (true, Err(_)) => prove_tunnel(sys, None, backup_gw, wait_ms),
    };
    Ok(BroughtUp { proof, mark })
}

/// Step 4 when there is no snapshot yet: the managed tables' defaults now. Taken after an
/// owner's failover or after the primary's device vanished with its defaults, it is made
/// good from the tables as last seen healthy.
fn take_snapshot(sys: &mut System, routes: &[Route], rules: &[Rule]) -> Result<Snapshot, Error> {
    if let Some(s) = sys.snapshot()? {
        return Ok(s);
    }
    let c = sys.cfg;
    let primary_present = sys.links.by_name(&c.primary_dev).is_some();
    let s = made_good(snapshot_now(routes, rules, c), sys.healthy().as_ref(), primary_present, &c.primary_dev);
    sys.write_snapshot(&s)?;
    for r in &s.aside {
        tell(sys, News::AsideBeforeSnapshot(r));
    }
    Ok(s)
}

/// What wins over the failsafe's routes and rules and is left alone, told once, at
/// activation: the kernel's own defaults (router advertisements) and LAN rules with
/// selectors it does not model.
fn tell_what_is_left_alone(sys: &mut System, ours: &Ours, routes: &[Route], rules: &[Rule], snapshot: &Snapshot) {
    for r in kernel_winners(routes, snapshot, sys.cfg) {
        tell(sys, News::KernelWinner(r));
    }
    for v6 in [false, true] {
        for r in ours.unmodelled_claims(v6, rules, snapshot.tables_of(v6)) {
            tell(sys, News::UnmodelledRule(r));
        }
    }
}

/// Step 3: the tunnel carries traffic over the backup path — an echo answered now, or a
/// handshake made since `mark` — or is made to within TUNNEL_WAIT. `Ok(true)` when the
/// peer answered an echo; `Err` says why not, for the log. `mark` is `None` when it could
/// not be read: then only an echo proves anything.
fn prove_tunnel(
    sys: &mut System,
    mark: Option<health::Handshake>,
    backup_gw: Ipv4Addr,
    wait_ms: u64,
) -> Result<bool, String> {
    let c = sys.cfg;
    let endpoint = sys.endpoint();
    // An echo through a peer that has no endpoint (or another one) would only spend the
    // handshake attempt that WireGuard then refuses to repeat for 5 s: such a peer is set
    // first, below.
    let peer = sys.tunnel_peer().map_err(|e| e.to_string())?;
    let echo_tried = peer.as_ref().is_some_and(|p| p.endpoint == Some(endpoint));
    if echo_tried && sys.peer_answers_soon().map_err(|e| e.to_string())? {
        return Ok(true);
    }
    // Set even when unchanged: a userspace implementation keeps the source address of a
    // device that has vanished (wireguard-go's sticky source) until its endpoint is set.
    let why = format!("not proven over {}", c.backup_dev);
    let key = set_peer_endpoint(sys, peer, &why).map_err(|e| e.to_string())?;
    if sys.dry_run {
        return Ok(false);
    }
    let started_ms = sys.boottime_ms();
    // The first pass sends no echo when one has just gone unanswered, the next none when
    // a renewal's handshake is made already: it looks at the handshake at once.
    let (mut renewed, mut no_echo) = (false, echo_tried);
    loop {
        let pass_ms = sys.boottime_ms();
        // Each echo is also a packet that starts a handshake when no session is valid.
        if !std::mem::take(&mut no_echo) && sys.peer_answers_soon().map_err(|e| e.to_string())? {
            tell(sys, News::TunnelProven { ms: sys.elapsed_ms(started_ms), handshook: false });
            return Ok(true);
        }
        let latest = sys.tunnel_peer().ok().flatten().and_then(|p| p.last_handshake);
        if mark.is_some_and(|m| handshake_since(latest, m)) {
            tell(sys, News::TunnelProven { ms: sys.elapsed_ms(started_ms), handshook: true });
            return Ok(false);
        }
        // A session made before the mark (over the primary) carries the echoes and starts
        // no handshake, and only a handshake proves a VPS that answers no echo: the peer
        // is renewed, once, and its keepalive (or the next echo) starts one over the backup.
        let now = sys.wall_now();
        let round = |m| TunnelRound { echo: false, peer_echoes: false, latest, mark: m, now };
        if let Some(m) =
            mark.filter(|m| !renewed && health::handshake_wanted(Some(false), &round(*m), c.handshake_max_age_s))
        {
            renewed = true;
            let why = format!("{} does not answer, and the session WireGuard holds predates the route", c.wg_peer_ip);
            match renew_peer(sys, &key, &why) {
                Ok(_) => {
                    no_echo = handshake_since(await_handshake(sys, m), m);
                    continue;
                }
                Err(e) => tell(sys, News::TunnelStepFailed(&e)),
            }
        }
        let left_ms = wait_ms.saturating_sub(sys.elapsed_ms(started_ms));
        if left_ms == 0 {
            break;
        }
        // Poll once a second, whatever the echo took.
        sys.sleep(Duration::from_millis(1000u64.saturating_sub(sys.elapsed_ms(pass_ms)).min(left_ms)));
    }
    Err(format!(
        "tunnel {} did not come up within {} s: {}",
        c.wg_iface,
        wait_ms.div_ceil(1000),
        sys.tunnel_diagnostics(backup_gw)
    ))
}

/// Step 7: if dnsmasq runs, it must resolve DNS_TEST_NAME at the router's LAN address
/// within 5 s; if not, it is restarted. Never fatal: the routes are already right. Under
/// the daemon (`dns_beside`), only the resolver to check is handed back: the daemon makes
/// the check beside its loop (told in the same words: `say::log_only`).
fn check_dns(sys: &mut System) -> Result<(), Error> {
    let c = sys.cfg;
    let Some(server) = sys.lan_dns_server() else { return Ok(()) };
    if sys.dns_beside {
        sys.dns_due = Some(server);
        return Ok(());
    }
    if sys.resolves(server) {
        return Ok(());
    }
    tell(sys, News::DnsRestart(server));
    if let Err(e) = sys.apply(&Change::RestartDns(c.dns_restart_cmd.clone())) {
        tell(sys, News::DnsRestartFailed(&e));
    }
    Ok(())
}
