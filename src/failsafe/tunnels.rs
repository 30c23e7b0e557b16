//! Several tunnels while the failsafe is on: the tunnels not in use probed over the backup
//! (at most every `OTHERS_EVERY_MS`; by `run`'s round itself, by the daemon beside its
//! loop: [`OthersSeen`]), for the judge to say (`judge::tunnel_after_round`) which one
//! carries the LAN: a dead tunnel replaced at once by the first other that answers, an
//! earlier one moved back to once it has answered every probe for the failback wait. With
//! one tunnel nothing here runs.

use super::steps::*;
use super::*;
use crate::judge::{OtherTunnel, OthersHealth};
use crate::system::OthersDue;

/// What a round saw of the tunnels not in use (several tunnels, while the failsafe is on):
/// only where their echoes' answers come from differs between the drivers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OthersSeen {
    /// `run`: each one probed by the round itself, one echo that may wait PROBE_TIMEOUT_MS.
    #[default]
    ProbeNow,
    /// The daemon: the round brings them up and hands the echoes to the driver
    /// (`System::take_others_due`), which sends them and reads the answers beside its loop.
    /// `answers`: those of the last echoes asked for, all in, each (tunnel, answered),
    /// handed over once; `pending`: echoes still out.
    Beside { answers: Vec<(usize, bool)>, pending: bool },
}

/// What the round sees of the tunnels not in use (several tunnels; `verdict`: the tunnel
/// in use's this round), for the judge to choose among (`judge::tunnel_after_round`): the
/// ones it watches (`judge::tunnels_watched`) are brought up as activation brings one up
/// (route, link, peer: journaled), at most every OTHERS_EVERY_MS, and their echoes are
/// `others`' (see [`OthersSeen`]): `run` sends them itself, one that may wait
/// PROBE_TIMEOUT_MS each, until one answers when the one in use is being replaced.
pub(super) fn others_seen(
    sys: &mut System,
    record: &mut Record,
    verdict: Option<bool>,
    others: &OthersSeen,
    gateways: (Ipv4Addr, Option<Ipv4Addr>),
) -> OthersHealth {
    let root = sys.root;
    let (n, in_use, now_ms) = (root.tunnel_count(), sys.tunnel_in_use(), sys.boottime_ms());
    let on_tunnel = record.mode.target == Target::Tunnel;
    let (wanted, replacing) = crate::judge::tunnels_watched(n, in_use, on_tunnel, verdict);
    if wanted.is_empty() {
        return OthersHealth::Unwatched;
    }
    let mut seen = vec![OtherTunnel::default(); n];
    match others {
        // The daemon's answers to the echoes it was handed: judged as `run` judges its own.
        // Asked to watch the earlier ones, they may not cover a replacement: the tunnels
        // they leave out are asked now, and nothing moves until they answer.
        OthersSeen::Beside { answers, .. } if !answers.is_empty() => {
            let mut unasked = Vec::new();
            for i in wanted {
                let Some((_, works)) = answers.iter().find(|(t, _)| *t == i) else {
                    unasked.push(i);
                    continue;
                };
                seen[i] = other_probed(sys, record, i, *works, now_ms);
                if *works && replacing {
                    unasked.clear();
                    break;
                }
            }
            sys.use_tunnel(in_use);
            if replacing && !unasked.is_empty() {
                if let Some(pending) = ask_beside(sys, record, (unasked, replacing), &mut seen, gateways) {
                    return pending;
                }
            }
        }
        OthersSeen::Beside { pending: true, .. } => return OthersHealth::Pending,
        _ if !record.others.due(now_ms) => return OthersHealth::Unwatched,
        OthersSeen::ProbeNow => {
            record.others.probed_ms = Some(now_ms);
            for i in wanted {
                sys.use_tunnel(i);
                let works = bring_up_other(sys, gateways)
                    && sys.peer_answers(1).unwrap_or_else(|e| {
                        tell(sys, News::TunnelStepFailed(&e));
                        false
                    });
                seen[i] = other_probed(sys, record, i, works, now_ms);
                if works && replacing {
                    break;
                }
            }
        }
        OthersSeen::Beside { .. } => {
            if let Some(pending) = ask_beside(sys, record, (wanted, replacing), &mut seen, gateways) {
                return pending;
            }
        }
    }
    sys.use_tunnel(in_use);
    OthersHealth::Seen(seen)
}

/// Under the daemon: the tunnels `wanted` brought up and their echoes handed to it
/// (`System::others_due`), the ones that cannot be brought up seen silent at once; the
/// tunnel in use (the one `System::use_tunnel` is on when called) is used again after.
/// `Some(Pending)` when they are asked while the one in use is being replaced: nothing is
/// judged until they answer.
fn ask_beside(
    sys: &mut System,
    record: &mut Record,
    (wanted, replacing): (Vec<usize>, bool),
    seen: &mut [OtherTunnel],
    gateways: (Ipv4Addr, Option<Ipv4Addr>),
) -> Option<OthersHealth> {
    let (in_use, now_ms) = (sys.tunnel_in_use(), sys.boottime_ms());
    record.others.probed_ms = Some(now_ms);
    let mut due = OthersDue { tunnels: Vec::new(), until_one: replacing };
    for i in wanted {
        sys.use_tunnel(i);
        match bring_up_other(sys, gateways) {
            true => due.tunnels.push(i),
            false => seen[i] = other_probed(sys, record, i, false, now_ms),
        }
    }
    sys.use_tunnel(in_use);
    let asked = !due.tunnels.is_empty();
    sys.others_due = Some(due).filter(|_| asked);
    (asked && replacing).then_some(OthersHealth::Pending)
}

/// Tunnel `i` answered (`works`) or not at `now_ms`: its health as the record's clock of
/// passing probes says, its interface and, when it answered, its peer's latest handshake.
fn other_probed(sys: &mut System, record: &mut Record, i: usize, works: bool, now_ms: u64) -> OtherTunnel {
    sys.use_tunnel(i);
    let iface = sys.cfg.wg_iface.clone();
    let mark = match works {
        true => sys.tunnel_peer().ok().flatten().and_then(|p| p.last_handshake),
        false => None,
    };
    let health = record.others.probed(&iface, works, now_ms);
    OtherTunnel { health, iface, first: i == 0, mark }
}

/// One tunnel not in use (the one `System::use_tunnel` chose), brought up over the backup
/// as activation brings one up — the route to its VPS (made once), its interface up, its
/// peer's endpoint and keepalive (each only when missing, each journaled): whether it can
/// be probed (`false`: no interface, no address for its VPS, or a step that failed, told:
/// the tunnel then counts as silent).
fn bring_up_other(sys: &mut System, (backup_gw, primary_gw): (Ipv4Addr, Option<Ipv4Addr>)) -> bool {
    let c = sys.cfg;
    if sys.links.by_name(&c.wg_iface).is_none() || !c.wg_endpoint.known() {
        return false;
    }
    let ours = Ours { cfg: c, backup_gw, primary_gw, over_budget: false };
    let mut up = || -> Result<(), Error> {
        // Its route once made stays (a dump every few seconds would cost a router with a
        // full table dearly): one removed since only keeps this tunnel from answering.
        let endpoint = ours.endpoint_route();
        if !crate::model::owns_path(sys.journal(), &endpoint) {
            let (routes, rules) = (sys.routes()?, sys.rules()?);
            ensure_endpoint_route(sys, &routes, &rules, &ours)?;
        }
        ensure_link_up(sys)?;
        let peer = sys.tunnel_peer()?;
        let set =
            peer.as_ref().is_some_and(|p| p.endpoint == Some(sys.endpoint()) && p.keepalive_s == c.wg_keepalive_s);
        if !set {
            set_peer_endpoint(sys, peer, &format!("not in use, watched over {}", c.backup_dev))?;
        }
        Ok(())
    };
    let done = up();
    if let Err(e) = &done {
        tell(sys, News::TunnelStepFailed(e));
    }
    done.is_ok()
}

/// `routes` (read for the tunnel in use: the defaults and the routes to its VPS) with the
/// routes to every other tunnel's VPS: what the shapes of a lost state are looked for in.
pub(super) fn routes_to_every_vps(sys: &mut System, routes: &[Route]) -> Result<Vec<Route>, Error> {
    let mut all = routes.to_vec();
    let in_use = sys.tunnel_in_use();
    for i in (0..sys.root.tunnel_count()).filter(|i| *i != in_use) {
        sys.use_tunnel(i);
        let more = sys.routes();
        sys.use_tunnel(in_use);
        for r in more?.into_iter().filter(|r| !r.is_default()) {
            if !all.contains(&r) {
                all.push(r);
            }
        }
    }
    Ok(all)
}
