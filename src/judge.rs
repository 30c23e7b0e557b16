//! How a round probes each path and what the answers mean, as pure functions `run`
//! (system/probes.rs) and the daemon (daemon/aim.rs) both call: a link's health, the
//! primary's probe (the gateway's echo or TRACK_IPS framed to the gateway) and verdict,
//! the quality limits' verdict (issue 18: one round's echoes for `run`, the daemon's window;
//! the primary's, and the tunnel's while active), BACKUP_CHECK's path and verdict, and
//! BACKUP_TRACK_IPS' (when due, their path through the backup's gateway, their verdict). The I/O (the echoes, the neighbour table, the load
//! balancer's status) stays with the callers; what it is asked for and what its answers
//! mean is decided here, once.
#![forbid(unsafe_code)]

mod active;
mod tunnels;
pub use active::{
    failback_counted, healthy_round, round_action, tunnel_in_use, while_active, ActiveJudged, Mode, RoundNow,
    TunnelsSeen,
};
pub use tunnels::{
    first_proven, target_while_active, tunnel_after_round, tunnel_choice, tunnels_watched, OtherTunnel, OthersHealth,
    TunnelHealth,
};

use std::net::Ipv4Addr;

use crate::config::{Config, Quality};
use crate::health::{Poor, Unhealthy};
use crate::netlink::link::{Addr, Link};
use crate::probe::{Path as ProbePath, Stats};
use crate::record::BackupSeen;
use crate::rounds::Verdict;

/// The link part of "primary healthy": it exists, is up and has a carrier. A device
/// that has vanished (a PPPoE interface while its link is down) is down, not an error.
pub fn link_health(link: Option<&Link>) -> Result<(), Unhealthy> {
    match link {
        None => Err(Unhealthy::Missing),
        Some(l) if !l.admin_up => Err(Unhealthy::AdminDown),
        Some(l) if !l.lower_up => Err(Unhealthy::NoCarrier),
        Some(_) => Ok(()),
    }
}

/// Whether `link` has an IPv4 address among `addrs`: without one a WireGuard interface
/// carries no IPv4 — the kernel refuses a route through its peer's address (not on-link)
/// and flushed the ones it had with the address — whatever its handshakes say.
pub fn has_ipv4(link: &Link, addrs: &[Addr]) -> bool {
    addrs.iter().any(|a| a.index == link.index)
}

/// Whether the failsafe's current target carries nothing: the backup path under both
/// targets has no carrier (or has vanished), or the tunnel is down with nowhere to fall
/// back to (FALLBACK=none). Then the failback wait does not apply: a primary that passes
/// is better than nothing (DESIGN.md, "A dead path is no target").
pub fn target_dead(cfg: &Config, backup: Option<&Link>, tunnel_down: bool) -> bool {
    link_health(backup).is_err() || (cfg.fallback == crate::config::Fallback::None && tunnel_down)
}

/// BACKUP_CHECK's preconditions, as `run` and the daemon judge them: BACKUP_DEV up
/// with carrier and a gateway known; `Err` says what is wrong.
pub fn backup_path(cfg: &Config, link: Option<&Link>, gw: Option<Ipv4Addr>) -> Result<Ipv4Addr, String> {
    link_health(link).map_err(|why| format!("{} {why}", cfg.backup_dev))?;
    gw.ok_or_else(|| format!("no gateway found on {} (BACKUP_GW={})", cfg.backup_dev, cfg.backup_gw))
}

/// How many of the primary's targets must answer for a round to pass: its gateway's one
/// echo, or TRACK_RELIABILITY of TRACK_IPS.
pub fn primary_need(cfg: &Config) -> usize {
    if cfg.track_ips.is_empty() {
        1
    } else {
        cfg.track_reliability
    }
}

/// Whether the EdgeOS load balancer is asked about the primary: LB_STATUS on and
/// TRACK_IPS empty (tracked targets say more than its own ping).
pub fn lb_asked(cfg: &Config) -> bool {
    cfg.lb_status && cfg.track_ips.is_empty()
}

/// How a round probes the primary, as `run` and the daemon aim it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimaryProbe {
    pub path: ProbePath,
    pub targets: Vec<Ipv4Addr>,
    /// How many targets must answer (see [`primary_need`]).
    pub need: usize,
}

/// The primary's probe through `link` (up, with carrier) to its gateway `gw`: the
/// gateway's echo through PRIMARY_DEV, or TRACK_IPS framed by hand to the gateway from
/// the link's first address, whatever the tables hold. `lladdr` looks up the gateway's
/// link-layer address, asked only when the frames need one (TRACK_IPS on a link that is
/// not point-to-point); `Ok(Err(why))`: no path to probe (no address, or the gateway's
/// address unresolved), so no target answers, for that reason.
pub fn primary_probe<E>(
    cfg: &Config,
    link: &Link,
    gw: Ipv4Addr,
    addrs: &[Addr],
    lladdr: impl FnOnce() -> Result<Option<Vec<u8>>, E>,
) -> Result<Result<PrimaryProbe, Unhealthy>, E> {
    let need = primary_need(cfg);
    if cfg.track_ips.is_empty() {
        return Ok(Ok(PrimaryProbe { path: ProbePath::Device(cfg.primary_dev.clone()), targets: vec![gw], need }));
    }
    Ok(match framed_path(link, addrs, lladdr)? {
        Ok(path) => Ok(PrimaryProbe { path, targets: cfg.track_ips.clone(), need }),
        Err(NoFramedPath::NoAddress) => Err(Unhealthy::NoAddress),
        Err(NoFramedPath::GatewayUnresolved) => Err(Unhealthy::GatewaySilent),
    })
}

/// Why echoes cannot be framed by hand to a gateway out of a link.
pub enum NoFramedPath {
    /// The link has no IPv4 address to send from.
    NoAddress,
    /// The gateway's link-layer address is not known (it did not answer ARP).
    GatewayUnresolved,
}

/// The path of echoes framed by hand to a gateway out of `link`, whatever the tables
/// hold (TRACK_IPS and BACKUP_TRACK_IPS alike): from the link's first address, to the
/// gateway's link-layer address, which `lladdr` looks up only when the link is not
/// point-to-point.
pub fn framed_path<E>(
    link: &Link,
    addrs: &[Addr],
    lladdr: impl FnOnce() -> Result<Option<Vec<u8>>, E>,
) -> Result<Result<ProbePath, NoFramedPath>, E> {
    let Some(src) = addrs.iter().find(|a| a.index == link.index).map(|a| a.local) else {
        return Ok(Err(NoFramedPath::NoAddress));
    };
    let lladdr = match link.point_to_point {
        true => None,
        false => match lladdr()? {
            Some(mac) => Some(mac),
            None => return Ok(Err(NoFramedPath::GatewayUnresolved)),
        },
    };
    Ok(Ok(ProbePath::Gateway { ifindex: link.index, lladdr, src }))
}

/// The primary's verdict once its link and gateway are known: `reached` says its echoes
/// did (a tick's: [`crate::health::track_passes`]; the daemon's: its rounds are not
/// down), `answered` how many targets answered the last round, `lb_down` the load
/// balancer's verdict when it was asked ([`lb_asked`], and only once the echoes reached),
/// `quality` [`quality_verdict`]'s (judged once the echoes reached, before the load
/// balancer: the echoes say more).
pub fn primary_verdict(
    cfg: &Config,
    reached: bool,
    answered: usize,
    quality: Result<(), Unhealthy>,
    lb_down: Option<String>,
) -> Result<(), Unhealthy> {
    match (reached, lb_down) {
        (false, _) if cfg.track_ips.is_empty() => Err(Unhealthy::GatewaySilent),
        (false, _) => Err(Unhealthy::Upstream { answered, needed: primary_need(cfg), of: cfg.track_ips.len() }),
        (true, _) if quality.is_err() => quality,
        (true, Some(verdict)) => Err(Unhealthy::LoadBalancer(verdict)),
        (true, None) => Ok(()),
    }
}

/// The quality limits (issue 18) over what each target's echoes came to, in the targets'
/// order: `run`'s round (PROBE_COUNT echoes per target) or the daemon's window (the
/// echoes of the last QUALITY_WINDOW_S, each counted once answered or once
/// PROBE_TIMEOUT_MS passed unanswered, as dpinger counts them). Each target is judged on
/// its own, as mwan3 and dpinger judge theirs: it is good when it answered and its loss
/// and latency are within the limits; the verdict passes when `need` targets are good
/// (TRACK_RELIABILITY, as reachability counts them: a target that never answers is one
/// failed target, not a share of loss on a line whose others answer every echo).
/// `waiting`: the failsafe is on, so the primary is in its failback wait and its targets
/// must meet the UP limits (hysteresis); otherwise only the DOWN limits. Loss is
/// lost/sent; latency the *mean* round-trip of the answered echoes (dpinger's and
/// pfSense's average; one late echo among many raises it). A value exactly at a limit
/// passes. A failed verdict gives the reason of the first failing target that answered
/// (else of the first failing one). `stats` `None` (or nothing sent to any target): a
/// fresh window, with nothing settled yet — no verdict while healthy, not proven good
/// while waiting.
pub fn quality_verdict(q: &Quality, stats: Option<&[Stats]>, need: usize, waiting: bool) -> Result<(), Unhealthy> {
    if !q.on() {
        return Ok(());
    }
    let limits = match waiting {
        false => Limits { loss: (q.loss_down_pct, "LOSS_DOWN_PCT"), latency: (q.latency_down_ms, "LATENCY_DOWN_MS") },
        true => Limits { loss: (q.loss_up_pct, "LOSS_UP_PCT"), latency: (q.latency_up_ms, "LATENCY_UP_MS") },
    };
    let Some(targets) = stats.filter(|t| t.iter().any(|s| s.sent > 0)) else {
        return if waiting { Err(Unhealthy::Quality(Poor::Unmeasured)) } else { Ok(()) };
    };
    let (mut good, mut why) = (0, None);
    for s in targets {
        match target_quality(&limits, s) {
            Ok(()) => good += 1,
            // The first failing target's reason, one that answered preferred.
            Err(poor) if why.is_none() || (s.received > 0 && matches!(why, Some((false, _)))) => {
                why = Some((s.received > 0, poor));
            }
            Err(_) => {}
        }
    }
    if good >= need.max(1) {
        return Ok(());
    }
    Err(Unhealthy::Quality(why.map_or(Poor::Unmeasured, |(_, poor)| poor)))
}

/// The limits a target is judged against: the DOWN pair, or the UP pair while waiting.
struct Limits {
    loss: (Option<u32>, &'static str),
    latency: (Option<u64>, &'static str),
}

/// One target's echoes against `limits`: good only when it answered (a target that
/// never answers is no good target, whatever limits are set) within both.
fn target_quality(limits: &Limits, s: &Stats) -> Result<(), Poor> {
    let received = s.received.min(s.sent);
    let lost = s.sent - received;
    if let (Some(limit_pct), key) = limits.loss {
        if u64::from(lost) * 100 > u64::from(limit_pct) * u64::from(s.sent) {
            return Err(Poor::Loss { lost, sent: s.sent, limit_pct, key });
        }
    }
    if received == 0 {
        // Nothing answered and no loss limit to judge it by: latency is not judged on
        // nothing, and the target is not a good one.
        return Err(Poor::Unmeasured);
    }
    if let (Some(limit_ms), key) = limits.latency {
        let total_us = s.rtt_total.as_micros();
        if total_us > u128::from(limit_ms) * 1000 * u128::from(received) {
            let mean_ms = (total_us / u128::from(received) / 1000) as u64;
            return Err(Poor::Latency { mean_ms, limit_ms, key });
        }
    }
    Ok(())
}

/// The tunnel's verdict under the daemon while active, with a loss limit: a tunnel its
/// rounds judge up (`reach`) but whose window loses more than LOSS_DOWN_PCT of its
/// echoes is down — treated as a dead tunnel, so the LAN falls back (FALLBACK) — and
/// carries the LAN again once its window is within LOSS_DOWN_PCT. Only loss, and only
/// the DOWN limit, both ways: the tunnel runs over the backup, whose latency and loss
/// the bare backup shares — leaving the tunnel helps only against loss the VPS's path
/// adds, and the primary's latency limits or its stricter UP limits (tuned for a DSL
/// line, say) would keep a usable tunnel over a bufferbloated LTE backup routed around
/// for the whole outage, onto the same congested link with another public address. Its
/// hysteresis is in time: the daemon starts its window afresh when it goes down, so
/// once it `was` down a fresh window (`stats` `None`) keeps it down, and it comes back
/// only on a whole QUALITY_WINDOW_S of echoes sent since. A tunnel its rounds judge down
/// or unknown stays so.
pub fn tunnel_quality(q: &Quality, reach: Verdict, was: Verdict, stats: Option<Stats>) -> Verdict {
    if reach != Verdict::Up || q.loss_down_pct.is_none() {
        return reach;
    }
    let loss = Quality { loss_up_pct: q.loss_down_pct, latency_down_ms: None, latency_up_ms: None, ..q.clone() };
    match quality_verdict(&loss, stats.as_ref().map(std::slice::from_ref), 1, was == Verdict::Down) {
        Ok(()) => Verdict::Up,
        Err(_) => Verdict::Down,
    }
}

/// BACKUP_TRACK_IPS' check is due (issue 18): never made, made BACKUP_CHECK_INTERVAL_S ago
/// or more, or at a time after `now_s` (another boot's clock). Times in seconds of the
/// driver's monotonic clock (`run`: boot time, kept in the record; the daemon: its own).
pub fn backup_track_due(cfg: &Config, last_s: Option<u64>, now_s: u64) -> bool {
    last_s.is_none_or(|last| last > now_s || now_s - last >= cfg.backup_check_interval_s)
}

/// How BACKUP_TRACK_IPS are probed: framed by hand to the backup's gateway `gw` out of
/// `link` from its first address (the TRACK_IPS path: no route needed, whatever the
/// tables hold), `lladdr` asked only when the link is not point-to-point. `Ok(Err(seen))`:
/// no path (no address: nothing to send from; the gateway's address unresolved: silent).
pub fn backup_track_probe<E>(
    cfg: &Config,
    link: &Link,
    gw: Ipv4Addr,
    addrs: &[Addr],
    lladdr: impl FnOnce() -> Result<Option<Vec<u8>>, E>,
) -> Result<Result<ProbePath, BackupSeen>, E> {
    Ok(framed_path(link, addrs, lladdr)?.map_err(|no| match no {
        NoFramedPath::NoAddress => {
            BackupSeen::NoPath(format!("no IPv4 address on {} to probe BACKUP_TRACK_IPS from", cfg.backup_dev))
        }
        NoFramedPath::GatewayUnresolved => BackupSeen::Silent(backup_silent(cfg, gw)),
    }))
}

/// A BACKUP_TRACK_IPS check's verdict: any of them answered through the gateway `gw`.
pub fn backup_track_seen(cfg: &Config, gw: Ipv4Addr, answered: bool) -> BackupSeen {
    match answered {
        true => BackupSeen::Answered,
        false => {
            let ips: Vec<String> = cfg.backup_track_ips.iter().map(Ipv4Addr::to_string).collect();
            BackupSeen::Silent(format!(
                "none of BACKUP_TRACK_IPS ({}) answers through gateway {gw} out of {}",
                ips.join(" "),
                cfg.backup_dev
            ))
        }
    }
}

/// BACKUP_CHECK's verdict on a round its gateway did not answer.
pub fn backup_silent(cfg: &Config, gw: Ipv4Addr) -> String {
    format!("gateway {gw} does not answer out of {}", cfg.backup_dev)
}

/// BACKUP_CHECK's verdict on one round through its path: the gateway answered, or not
/// (`Silent`), or there is no path ([`backup_path`]'s `Err`).
pub fn backup_seen(cfg: &Config, path: &Result<Ipv4Addr, String>, answered: bool) -> BackupSeen {
    match path {
        Err(why) => BackupSeen::NoPath(why.clone()),
        Ok(_) if answered => BackupSeen::Answered,
        Ok(gw) => BackupSeen::Silent(backup_silent(cfg, *gw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::decide::tests::{cfg, CONF};
    use std::path::Path;

    fn link(index: u32, name: &str, point_to_point: bool) -> Link {
        Link { point_to_point, ..Link::up(index, name) }
    }

    /// WG_IFACE carries IPv4 only with an IPv4 address of its own: another device's does
    /// not count, a point-to-point one does, and one with IPv6 addresses alone (an IPv4
    /// tunnel gateway, WG_PEER_IP, is never on-link there) has none — the address dump's
    /// IPv6 messages never become an `Addr`.
    #[test]
    fn a_tunnel_carries_ipv4_only_with_an_ipv4_address_of_its_own() {
        use crate::netlink::link::AddrMsg;
        let wg = link(4, "wg0", false);
        let of = |index, local: [u8; 4], peer: Option<[u8; 4]>| Addr {
            index,
            local: local.into(),
            peer: peer.map(Ipv4Addr::from),
            prefix_len: if peer.is_some() { 32 } else { 24 },
        };
        assert!(has_ipv4(&wg, &[of(2, [192, 168, 1, 2], None), of(4, [10, 11, 0, 2], None)]));
        assert!(has_ipv4(&wg, &[of(4, [10, 11, 0, 2], Some([10, 11, 0, 1]))]), "inet A peer B/32");
        assert!(!has_ipv4(&wg, &[of(2, [192, 168, 1, 2], None), of(3, [192, 168, 2, 2], None)]));
        assert!(!has_ipv4(&wg, &[]));
        // IPv6 alone: what the dump holds for it is no IPv4 address.
        let six = AddrMsg {
            family: libc::AF_INET6 as u8,
            prefix_len: 64,
            index: 4,
            local6: Some("fd00:11::2".parse().expect("v6")),
            ..AddrMsg::default()
        };
        let addrs: Vec<Addr> = [six].iter().filter_map(Addr::from_message).collect();
        assert!(!has_ipv4(&wg, &addrs), "{addrs:?}");
        let four = AddrMsg {
            family: libc::AF_INET as u8,
            prefix_len: 24,
            index: 4,
            local: Some([10, 11, 0, 2].into()),
            ..AddrMsg::default()
        };
        assert!(has_ipv4(&wg, &[four].iter().filter_map(Addr::from_message).collect::<Vec<_>>()));
    }

    #[test]
    fn the_primary_is_probed_and_judged_alike_by_run_and_the_daemon() {
        let gw = Ipv4Addr::new(192, 168, 1, 1);
        let plain = cfg();
        let tracked =
            parse(Path::new("/t.conf"), &format!("{CONF}TRACK_IPS=1.1.1.1 8.8.8.8 9.9.9.9\nTRACK_RELIABILITY=2\n"))
                .expect("valid");
        assert_eq!((primary_need(&plain), primary_need(&tracked)), (1, 2));
        assert!(lb_asked(&plain) && !lb_asked(&tracked), "TRACK_IPS say more than the load balancer's ping");
        let eth0 = Link::up(2, "eth0");
        let addrs = [Addr { index: 2, local: Ipv4Addr::new(192, 168, 1, 2), peer: None, prefix_len: 24 }];
        let mac = vec![2, 0, 0, 0, 0, 1];
        let probe = |c: &Config, link: &Link, addrs: &[Addr], lladdr: Option<Vec<u8>>| {
            let mut asked = false;
            let p = primary_probe::<()>(c, link, gw, addrs, || {
                asked = true;
                Ok(lladdr)
            });
            (p.expect("the lookup does not fail"), asked)
        };
        // The gateway's echo through PRIMARY_DEV: no address, no lookup.
        let device = PrimaryProbe { path: ProbePath::Device("eth0".into()), targets: vec![gw], need: 1 };
        assert_eq!(probe(&plain, &eth0, &[], None), (Ok(device), false));
        // TRACK_IPS framed to the gateway from eth0's address.
        let (framed, asked) = probe(&tracked, &eth0, &addrs, Some(mac.clone()));
        let path = ProbePath::Gateway { ifindex: 2, lladdr: Some(mac.clone()), src: addrs[0].local };
        assert_eq!(framed, Ok(PrimaryProbe { path, targets: tracked.track_ips.clone(), need: 2 }));
        assert!(asked);
        // Point-to-point: no link-layer address is asked.
        let ppp = Link { point_to_point: true, ..eth0.clone() };
        let (framed, asked) = probe(&tracked, &ppp, &addrs, None);
        assert!(matches!(framed, Ok(PrimaryProbe { path: ProbePath::Gateway { lladdr: None, .. }, .. })) && !asked);
        // No path: the reason the rounds fail (the daemon said `upstream unreachable`).
        assert_eq!(probe(&tracked, &eth0, &[], Some(mac)), (Err(Unhealthy::NoAddress), false));
        assert_eq!(probe(&tracked, &eth0, &addrs, None), (Err(Unhealthy::GatewaySilent), true));
        // The verdict.
        let lb = || Some("down".to_string());
        assert_eq!(primary_verdict(&plain, false, 0, Ok(()), None), Err(Unhealthy::GatewaySilent));
        assert_eq!(primary_verdict(&plain, true, 1, Ok(()), lb()), Err(Unhealthy::LoadBalancer("down".into())));
        assert_eq!(primary_verdict(&plain, true, 1, Ok(()), None), Ok(()));
        let upstream = Unhealthy::Upstream { answered: 1, needed: 2, of: 3 };
        assert_eq!(primary_verdict(&tracked, false, 1, Ok(()), None), Err(upstream));
        assert_eq!(primary_verdict(&tracked, true, 2, Ok(()), None), Ok(()));
        // Poor quality fails a round that reached, before the load balancer is heard.
        let poor = Err(Unhealthy::Quality(Poor::Unmeasured));
        assert_eq!(primary_verdict(&plain, true, 1, poor.clone(), lb()), poor);
        assert_eq!(primary_verdict(&plain, false, 0, poor, None), Err(Unhealthy::GatewaySilent));
    }

    fn stats(sent: u32, received: u32, rtt_total_ms: u64) -> Option<Stats> {
        Some(Stats { sent, received, rtt_total: std::time::Duration::from_millis(rtt_total_ms) })
    }

    fn limits() -> Quality {
        Quality {
            loss_down_pct: Some(20),
            loss_up_pct: Some(5),
            latency_down_ms: Some(500),
            latency_up_ms: Some(200),
            window_s: 10,
        }
    }

    /// One target (the gateway's echoes, or the tunnel's), one needed.
    fn one(q: &Quality, stats: Option<Stats>, waiting: bool) -> Result<(), Unhealthy> {
        quality_verdict(q, stats.as_ref().map(std::slice::from_ref), 1, waiting)
    }

    /// The edges: no answer, every answer, exactly at each limit, one past it; the DOWN
    /// limits while healthy and the UP limits during the failback wait.
    #[test]
    fn quality_fails_above_the_down_limits_and_passes_the_wait_only_within_the_up_limits() {
        let q = limits();
        let loss = |lost, sent, limit_pct, key| Err(Unhealthy::Quality(Poor::Loss { lost, sent, limit_pct, key }));
        // Off: whatever the echoes, no verdict (today's behaviour).
        assert_eq!(one(&Quality::default(), stats(10, 0, 0), false), Ok(()));
        assert_eq!(one(&Quality::default(), None, true), Ok(()));
        // No answer at all: 100 % loss; latency not judged.
        assert_eq!(one(&q, stats(3, 0, 0), false), loss(3, 3, 20, "LOSS_DOWN_PCT"));
        let latency_only = Quality { loss_down_pct: None, loss_up_pct: None, ..q.clone() };
        // A silent target is no good one, whatever the limits (its reachability is what
        // `primary_verdict` tells first).
        let unmeasured = Err(Unhealthy::Quality(Poor::Unmeasured));
        assert_eq!(one(&latency_only, stats(3, 0, 0), false), unmeasured, "nothing measured");
        // Every answer, fast: passes both ways.
        assert_eq!(one(&q, stats(20, 20, 20 * 30), false), Ok(()));
        assert_eq!(one(&q, stats(20, 20, 20 * 30), true), Ok(()));
        // Loss exactly at the DOWN limit (4 of 20 = 20 %) passes, one more echo fails.
        assert_eq!(one(&q, stats(20, 16, 16 * 30), false), Ok(()));
        assert_eq!(one(&q, stats(20, 15, 15 * 30), false), loss(5, 20, 20, "LOSS_DOWN_PCT"));
        // Hysteresis: 10 % does not fail a healthy line, nor pass the failback wait.
        assert_eq!(one(&q, stats(20, 18, 18 * 30), false), Ok(()));
        assert_eq!(one(&q, stats(20, 18, 18 * 30), true), loss(2, 20, 5, "LOSS_UP_PCT"));
        assert_eq!(one(&q, stats(20, 19, 19 * 30), true), Ok(()), "exactly 5 %");
        // Latency: the mean of the answered echoes, exactly at the limit passes.
        let late = |mean_ms, limit_ms, key| Err(Unhealthy::Quality(Poor::Latency { mean_ms, limit_ms, key }));
        assert_eq!(one(&q, stats(4, 4, 4 * 500), false), Ok(()));
        assert_eq!(one(&q, stats(4, 4, 4 * 500 + 1), false), late(500, 500, "LATENCY_DOWN_MS"));
        assert_eq!(one(&q, stats(4, 4, 4 * 300), false), Ok(()));
        assert_eq!(one(&q, stats(4, 4, 4 * 300), true), late(300, 200, "LATENCY_UP_MS"));
        // A lost echo is not a slow one: the mean is of the answered only.
        assert_eq!(one(&latency_only, stats(4, 1, 100), false), Ok(()));
        // A fresh window: no verdict while healthy, not proven good while waiting.
        assert_eq!(one(&q, None, false), Ok(()));
        assert_eq!(one(&q, stats(0, 0, 0), true), Err(Unhealthy::Quality(Poor::Unmeasured)));
        let text = one(&q, stats(2, 1, 10), false).expect_err("50 %").to_string();
        assert_eq!(text, "poor quality: 1 of 2 echoes lost, above LOSS_DOWN_PCT=20 %");
    }

    /// Several targets (TRACK_IPS): each judged on its own echoes, the good ones counted
    /// against TRACK_RELIABILITY as reachability counts the answering ones.
    #[test]
    fn quality_counts_the_targets_within_the_limits_against_track_reliability() {
        let q = limits();
        let (perfect, dead, lossy) = (stats(10, 10, 10 * 20), stats(10, 0, 0), stats(10, 7, 7 * 20));
        let all = |t: &[Option<Stats>]| -> Vec<Stats> { t.iter().flatten().copied().collect() };
        // One dead target of three, one needed: the perfect line passes, both ways
        // (summed up, it was 33 % loss: failed over, and never back).
        let one_dead = all(&[perfect, perfect, dead]);
        assert_eq!(quality_verdict(&q, Some(&one_dead), 1, false), Ok(()));
        assert_eq!(quality_verdict(&q, Some(&one_dead), 1, true), Ok(()));
        assert_eq!(quality_verdict(&q, Some(&one_dead), 2, true), Ok(()));
        let loss = |lost, sent, limit_pct, key| Err(Unhealthy::Quality(Poor::Loss { lost, sent, limit_pct, key }));
        assert_eq!(quality_verdict(&q, Some(&one_dead), 3, false), loss(10, 10, 20, "LOSS_DOWN_PCT"));
        // A lossy target (30 %) is not counted; the reason is a target's that answered,
        // not the dead one's before it.
        let lossy_one = all(&[dead, lossy, perfect]);
        assert_eq!(quality_verdict(&q, Some(&lossy_one), 1, false), Ok(()));
        assert_eq!(quality_verdict(&q, Some(&lossy_one), 2, false), loss(3, 10, 20, "LOSS_DOWN_PCT"));
        // 10 % on two of three: within DOWN, not within UP (hysteresis per target).
        let tenth = all(&[stats(10, 9, 9 * 20), stats(10, 9, 9 * 20), perfect]);
        assert_eq!(quality_verdict(&q, Some(&tenth), 2, false), Ok(()));
        assert_eq!(quality_verdict(&q, Some(&tenth), 2, true), loss(1, 10, 5, "LOSS_UP_PCT"));
        assert_eq!(quality_verdict(&q, Some(&tenth), 1, true), Ok(()));
        // Latency per target: one slow target among fast ones is one failed target.
        let slow = all(&[stats(4, 4, 4 * 900), perfect, perfect]);
        assert_eq!(quality_verdict(&q, Some(&slow), 2, false), Ok(()));
        let late = Err(Unhealthy::Quality(Poor::Latency { mean_ms: 900, limit_ms: 500, key: "LATENCY_DOWN_MS" }));
        assert_eq!(quality_verdict(&q, Some(&slow), 3, false), late);
        // Nothing settled for any target: the fresh window's rule.
        let fresh = [Stats::default(); 3];
        assert_eq!(quality_verdict(&q, Some(&fresh), 1, false), Ok(()));
        assert_eq!(quality_verdict(&q, Some(&fresh), 1, true), Err(Unhealthy::Quality(Poor::Unmeasured)));
    }

    /// The tunnel: loss only, against LOSS_DOWN_PCT both ways (it runs over the backup:
    /// its latency is the backup's own, and the primary's UP limits would keep a usable
    /// tunnel routed around for the whole outage); a fresh window after it went down keeps
    /// it down until it spans QUALITY_WINDOW_S.
    #[test]
    fn a_tunnel_that_answers_but_too_lossily_is_down_until_its_loss_is_within_the_down_limit() {
        let q = limits();
        let (up, down, unknown) = (Verdict::Up, Verdict::Down, Verdict::Unknown);
        // Reachability first: a dead or unknown tunnel stays so, whatever the window.
        assert_eq!(tunnel_quality(&q, down, up, stats(20, 20, 0)), down);
        assert_eq!(tunnel_quality(&q, unknown, unknown, None), unknown);
        // Up but 30 % lossy: down (FALLBACK).
        assert_eq!(tunnel_quality(&q, up, up, stats(20, 14, 14 * 30)), down);
        // 10 %: within LOSS_DOWN_PCT, so it carries the LAN again (not held to LOSS_UP_PCT=5).
        assert_eq!(tunnel_quality(&q, up, up, stats(20, 18, 18 * 30)), up);
        assert_eq!(tunnel_quality(&q, up, down, stats(20, 18, 18 * 30)), up);
        assert_eq!(tunnel_quality(&q, up, down, stats(20, 15, 15 * 30)), down, "25 %");
        // Latency is not judged on the tunnel: an LTE backup's bufferbloat (900 ms, above
        // LATENCY_DOWN_MS and LATENCY_UP_MS) is the bare backup's too.
        assert_eq!(tunnel_quality(&q, up, up, stats(20, 20, 20 * 900)), up);
        assert_eq!(tunnel_quality(&q, up, down, stats(20, 20, 20 * 900)), up);
        let latency_only = Quality { loss_down_pct: None, loss_up_pct: None, ..q.clone() };
        assert_eq!(tunnel_quality(&latency_only, up, down, stats(20, 20, 20 * 900)), up);
        // A fresh window: kept up while up, not proven once down.
        assert_eq!(tunnel_quality(&q, up, up, None), up);
        assert_eq!(tunnel_quality(&q, up, down, None), down);
        // Off: the rounds alone.
        assert_eq!(tunnel_quality(&Quality::default(), up, down, stats(20, 0, 0)), up);
    }

    #[test]
    fn backup_track_ips_are_probed_through_the_gateway_every_interval() {
        let text = format!("{CONF}BACKUP_CHECK=on\nBACKUP_TRACK_IPS=1.1.1.1 9.9.9.9\nBACKUP_CHECK_INTERVAL_S=300\n");
        let c = parse(Path::new("/t.conf"), &text).expect("valid");
        assert!(backup_track_due(&c, None, 5), "never checked");
        assert!(!backup_track_due(&c, Some(100), 399) && backup_track_due(&c, Some(100), 400));
        assert!(backup_track_due(&c, Some(900), 10), "another boot's time");
        let gw = Ipv4Addr::new(192, 168, 2, 1);
        let eth1 = Link::up(3, "eth1");
        let addrs = [Addr { index: 3, local: Ipv4Addr::new(192, 168, 2, 2), peer: None, prefix_len: 24 }];
        let mac = vec![2, 0, 0, 0, 0, 2];
        let probe = |link: &Link, addrs: &[Addr], lladdr: Option<Vec<u8>>| {
            backup_track_probe::<()>(&c, link, gw, addrs, || Ok(lladdr)).expect("no lookup error")
        };
        let framed = ProbePath::Gateway { ifindex: 3, lladdr: Some(mac.clone()), src: addrs[0].local };
        assert_eq!(probe(&eth1, &addrs, Some(mac.clone())), Ok(framed));
        let ppp = Link { point_to_point: true, ..eth1.clone() };
        assert!(matches!(probe(&ppp, &addrs, None), Ok(ProbePath::Gateway { lladdr: None, .. })));
        assert_eq!(probe(&eth1, &addrs, None), Err(BackupSeen::Silent(backup_silent(&c, gw))));
        assert!(matches!(probe(&eth1, &[], Some(mac)), Err(BackupSeen::NoPath(_))));
        assert_eq!(backup_track_seen(&c, gw, true), BackupSeen::Answered);
        assert_eq!(
            backup_track_seen(&c, gw, false),
            BackupSeen::Silent(
                "none of BACKUP_TRACK_IPS (1.1.1.1 9.9.9.9) answers through gateway 192.168.2.1 out of eth1".into()
            )
        );
    }

    #[test]
    fn link_health_checks_existence_admin_state_then_carrier() {
        let mut l = link(2, "eth0", false);
        assert_eq!(link_health(Some(&l)), Ok(()));
        l.lower_up = false;
        assert_eq!(link_health(Some(&l)), Err(Unhealthy::NoCarrier));
        l.admin_up = false;
        assert_eq!(link_health(Some(&l)), Err(Unhealthy::AdminDown));
        assert_eq!(link_health(None), Err(Unhealthy::Missing));
    }

    #[test]
    fn the_backup_path_needs_its_link_and_a_gateway() {
        let c = cfg();
        let gw = Ipv4Addr::new(192, 168, 2, 1);
        let up = Link { index: 3, name: "eth1".into(), admin_up: true, lower_up: true, point_to_point: false };
        assert_eq!(backup_path(&c, Some(&up), Some(gw)), Ok(gw));
        assert_eq!(backup_path(&c, None, Some(gw)), Err("eth1 interface does not exist".into()));
        let dark = Link { lower_up: false, ..up.clone() };
        assert_eq!(backup_path(&c, Some(&dark), Some(gw)), Err("eth1 no carrier".into()));
        assert_eq!(
            backup_path(&c, Some(&up), None),
            Err(format!("no gateway found on eth1 (BACKUP_GW={})", c.backup_gw))
        );
        assert_eq!(backup_silent(&c, gw), "gateway 192.168.2.1 does not answer out of eth1");
        assert_eq!(backup_seen(&c, &Ok(gw), true), BackupSeen::Answered);
        assert_eq!(backup_seen(&c, &Ok(gw), false), BackupSeen::Silent(backup_silent(&c, gw)));
        assert_eq!(backup_seen(&c, &Err("eth1 no carrier".into()), true), BackupSeen::NoPath("eth1 no carrier".into()));
    }
}
