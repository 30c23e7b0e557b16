//! How a round probes each path and what the answers mean, as pure functions `run`
//! (system/probes.rs) and the daemon (daemon/aim.rs) both call: a link's health, the
//! primary's probe (the gateway's echo or TRACK_IPS framed to the gateway) and verdict,
//! BACKUP_CHECK's path and verdict. The I/O (the echoes, the neighbour table, the load
//! balancer's status) stays with the callers; what it is asked for and what its answers
//! mean is decided here, once.
#![forbid(unsafe_code)]

mod tunnels;
pub use tunnels::{first_proven, tunnel_choice, TunnelHealth};

use std::net::Ipv4Addr;

use crate::config::Config;
use crate::health::Unhealthy;
use crate::netlink::link::{Addr, Link};
use crate::probe::Path as ProbePath;
use crate::record::BackupSeen;

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
    let Some(src) = addrs.iter().find(|a| a.index == link.index).map(|a| a.local) else {
        return Ok(Err(Unhealthy::NoAddress));
    };
    let lladdr = match link.point_to_point {
        true => None,
        false => match lladdr()? {
            Some(mac) => Some(mac),
            None => return Ok(Err(Unhealthy::GatewaySilent)),
        },
    };
    let path = ProbePath::Gateway { ifindex: link.index, lladdr, src };
    Ok(Ok(PrimaryProbe { path, targets: cfg.track_ips.clone(), need }))
}

/// The primary's verdict once its link and gateway are known: `reached` says its echoes
/// did (a tick's: [`crate::health::track_passes`]; the daemon's: its rounds are not
/// down), `answered` how many targets answered the last round, `lb_down` the load
/// balancer's verdict when it was asked ([`lb_asked`], and only once the echoes reached).
pub fn primary_verdict(cfg: &Config, reached: bool, answered: usize, lb_down: Option<String>) -> Result<(), Unhealthy> {
    match (reached, lb_down) {
        (false, _) if cfg.track_ips.is_empty() => Err(Unhealthy::GatewaySilent),
        (false, _) => Err(Unhealthy::Upstream { answered, needed: primary_need(cfg), of: cfg.track_ips.len() }),
        (true, Some(verdict)) => Err(Unhealthy::LoadBalancer(verdict)),
        (true, None) => Ok(()),
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
        assert_eq!(primary_verdict(&plain, false, 0, None), Err(Unhealthy::GatewaySilent));
        assert_eq!(primary_verdict(&plain, true, 1, lb()), Err(Unhealthy::LoadBalancer("down".into())));
        assert_eq!(primary_verdict(&plain, true, 1, None), Ok(()));
        let upstream = Unhealthy::Upstream { answered: 1, needed: 2, of: 3 };
        assert_eq!(primary_verdict(&tracked, false, 1, None), Err(upstream));
        assert_eq!(primary_verdict(&tracked, true, 2, None), Ok(()));
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
