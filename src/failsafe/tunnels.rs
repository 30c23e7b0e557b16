//! Several tunnels while the failsafe is on: the tunnels not in use probed over the backup
//! (at most every `OTHERS_EVERY_MS`; by `run`'s round itself, by the daemon beside its
//! loop: [`OthersSeen`]), and the judge's answer (`judge::tunnel_choice`) on
//! which one carries the LAN: a dead tunnel replaced at once by the first other that
//! answers, an earlier one moved back to once it has answered every probe for the failback
//! wait. With one tunnel nothing here runs.

use super::steps::*;
use super::*;
use crate::judge::{tunnel_choice, TunnelHealth};
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

/// Where the LAN goes after this round, as far as the other tunnels say.
enum After {
    /// It stays, or goes to the backup as for one tunnel.
    Stays,
    /// To another tunnel.
    To(usize),
    /// Not judged this round: the tunnel in use is being replaced and the other tunnels'
    /// echoes are still out (the daemon) — the target stays what it is until they are in.
    Waits,
}

/// The verdict on the tunnel the LAN is on after this round, once another took the LAN
/// if one did (see [`tunnel_after_round`]): the new one's, and the interface it took the
/// LAN from when the tables were on a tunnel (a switch between tunnels, told), and its
/// index. `verdict`: the tunnel in use's this round.
pub(super) fn other_tunnel(
    sys: &mut System,
    record: &mut Record,
    verdict: Option<bool>,
    others: &OthersSeen,
    gateways: (Ipv4Addr, Option<Ipv4Addr>),
) -> (Option<bool>, Option<(String, usize)>) {
    let on_tunnel = record.mode.target == Target::Tunnel;
    match tunnel_after_round(sys, record, verdict, on_tunnel, others, gateways) {
        After::To(to) => (Some(true), Some(moved_to(sys, record, to)).filter(|_| on_tunnel)),
        After::Stays => (verdict, None),
        // As a round whose tunnel track has not closed enough rounds to say.
        After::Waits => (None, None),
    }
}

/// With several tunnels, where the LAN goes this round (see [`After`]). `verdict` is the
/// tunnel in use's this round; `on_tunnel` whether the tables are on it. The tunnels
/// probed are brought up as activation brings one up (route, link, peer: journaled), at
/// most every OTHERS_EVERY_MS; their echoes are `others`' (see [`OthersSeen`]).
fn tunnel_after_round(
    sys: &mut System,
    record: &mut Record,
    verdict: Option<bool>,
    on_tunnel: bool,
    others: &OthersSeen,
    gateways: (Ipv4Addr, Option<Ipv4Addr>),
) -> After {
    let root = sys.root;
    let n = root.tunnel_count();
    let now_ms = sys.boottime_ms();
    let in_use = sys.tunnel_in_use();
    // The one in use works: only earlier ones are watched (also from the backup, which it
    // takes the LAN back from). It does not: every other one, in order, until one answers.
    let replacing = !on_tunnel || verdict == Some(false);
    let dead = verdict != Some(true) && replacing;
    let wanted: Vec<usize> = (0..n).filter(|i| *i != in_use && (*i < in_use || dead)).collect();
    if wanted.is_empty() {
        return After::Stays;
    }
    let mut seen = vec![TunnelHealth::default(); n];
    seen[in_use] = TunnelHealth { works: verdict, passing_since_ms: None };
    let iface = |i: usize| root.tunnel(i).wg_iface.clone();
    match others {
        // The daemon's answers to the echoes it was handed: judged as `run` judges its own.
        OthersSeen::Beside { answers, .. } if !answers.is_empty() => {
            for i in wanted {
                let Some((_, works)) = answers.iter().find(|(t, _)| *t == i) else { continue };
                seen[i] = record.others.probed(&iface(i), *works, now_ms);
                if *works && replacing {
                    break;
                }
            }
        }
        OthersSeen::Beside { pending: true, .. } => return if replacing { After::Waits } else { After::Stays },
        _ if !record.others.due(now_ms) => return After::Stays,
        OthersSeen::ProbeNow => {
            record.others.probed_ms = Some(now_ms);
            for i in wanted {
                sys.use_tunnel(i);
                let works = bring_up_other(sys, gateways)
                    && sys.peer_answers(1).unwrap_or_else(|e| {
                        tell(sys, News::TunnelStepFailed(&e));
                        false
                    });
                seen[i] = record.others.probed(&iface(i), works, now_ms);
                if works && replacing {
                    break;
                }
            }
        }
        OthersSeen::Beside { .. } => {
            record.others.probed_ms = Some(now_ms);
            let mut due = OthersDue { tunnels: Vec::new(), until_one: replacing };
            for i in wanted {
                sys.use_tunnel(i);
                match bring_up_other(sys, gateways) {
                    true => due.tunnels.push(i),
                    false => seen[i] = record.others.probed(&iface(i), false, now_ms),
                }
            }
            sys.use_tunnel(in_use);
            let asked = !due.tunnels.is_empty();
            sys.others_due = Some(due).filter(|_| asked);
            if asked && replacing {
                return After::Waits;
            }
        }
    }
    sys.use_tunnel(in_use);
    let current = on_tunnel.then_some(in_use);
    let chosen = tunnel_choice(current, &seen, now_ms, record.failback.up_after_s);
    chosen.filter(|c| *c != in_use).map_or(After::Stays, After::To)
}

/// The LAN moves to tunnel `to`: the rest of the round works on it, and the record says
/// so — it answered an echo just now (the handshake it holds is the mark from here on).
/// Returns the interface it leaves and its index (the round reads the bytes it carried).
fn moved_to(sys: &mut System, record: &mut Record, to: usize) -> (String, usize) {
    let from = (sys.cfg.wg_iface.clone(), sys.tunnel_in_use());
    sys.use_tunnel(to);
    let mark = sys.tunnel_peer().ok().flatten().and_then(|p| p.last_handshake);
    record.moved_to_tunnel((to > 0).then(|| sys.cfg.wg_iface.clone()), mark);
    from
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
