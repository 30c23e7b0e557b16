//! The probes a round takes through the door: the primary's round (carrier, then the
//! gateway's or TRACK_IPS' echoes, then the load balancer's verdict), BACKUP_CHECK's, and
//! the tunnel's echoes (a round's, and activation's proof at a short cadence), and step
//! 7's question to the LAN resolver.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::{Observed, System, DNS_WAIT};
use crate::edgeos;
use crate::error::{Context, Error};
use crate::health::{track_passes, Unhealthy};
use crate::judge::{
    backup_path, backup_seen, backup_track_probe, backup_track_seen, lb_asked, link_health, primary_probe,
    primary_verdict, quality_verdict, PrimaryProbe,
};
use crate::probe::{Path as ProbePath, Stats};
use crate::record::BackupSeen;

/// How often the tunnel's proof asks again while it waits for an answer.
const PROOF_CADENCE_MS: u64 = 50;

/// The tunnels not in use a round brought up and left to the driver to probe (the
/// daemon, see `failsafe::OthersSeen::Beside`): one echo each, in order, each waited for up
/// to PROBE_TIMEOUT_MS; with `until_one` (a dead tunnel is being replaced) the first that
/// answers ends them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OthersDue {
    pub tunnels: Vec<usize>,
    pub until_one: bool,
}

/// A round of the primary: the verdict, and (measured for `status`) each target's echoes.
pub type PrimaryRound = (Result<(), Unhealthy>, Vec<(Ipv4Addr, Stats)>);

impl System<'_> {
    /// Which of `targets` answer an echo sent along `path` (see [`probe::echo`]).
    pub fn echo(
        &self,
        path: &ProbePath,
        targets: &[Ipv4Addr],
        count: u32,
        need: usize,
    ) -> Result<Vec<Option<Duration>>, Error> {
        let timeout = Duration::from_millis(self.cfg.probe_timeout_ms);
        self.kernel.echo(path, targets, count, timeout, need).context(format_args!("probing {targets:?} via {path:?}"))
    }

    /// One round of the primary (DESIGN.md, "Health"), cheapest signal first: carrier,
    /// then reachability — the gateway's echo through PRIMARY_DEV, or TRACK_IPS through
    /// the gateway whatever the tables hold — then, with TRACK_IPS empty, the EdgeOS load
    /// balancer's verdict.
    pub fn primary_round(&mut self, obs: &Observed) -> Result<Result<(), Unhealthy>, Error> {
        Ok(self.primary_check(obs, false)?.0)
    }

    /// The round of [`System::primary_round`]; with `measure`, every target gets all
    /// PROBE_COUNT echoes and their round-trip times and loss come back too (`status`).
    pub fn primary_check(&mut self, obs: &Observed, measure: bool) -> Result<PrimaryRound, Error> {
        let c = self.cfg;
        // What a round would probe; without a link or a gateway, not one answers.
        let unprobed = || -> Vec<(Ipv4Addr, Stats)> {
            let mut stats = Vec::new();
            if !measure {
                return stats;
            }
            let targets = if c.track_ips.is_empty() { obs.primary_gw.as_slice() } else { &c.track_ips[..] };
            for t in targets {
                stats.push((*t, Stats::default()));
            }
            stats
        };
        let link = self.links.by_name(&c.primary_dev).cloned();
        if let Err(why) = link_health(link.as_ref()) {
            return Ok((Err(why), unprobed()));
        }
        let (Some(link), Some(gw)) = (link, obs.primary_gw) else { return Ok((Err(Unhealthy::NoGateway), unprobed())) };
        let wait = Duration::from_millis(c.probe_timeout_ms);
        let lladdr = || {
            let mac = self.kernel.gateway_lladdr(link.index, &c.primary_dev, gw, wait);
            mac.context("reading the neighbour table")
        };
        let PrimaryProbe { path, targets, need } = match primary_probe(c, &link, gw, &obs.addrs, lladdr)? {
            Ok(probe) => probe,
            Err(why) => return Ok((Err(why), Vec::new())),
        };
        // With quality limits, every echo of the round is needed (not only the first
        // answer): its loss and round-trip times are what is judged.
        let (answered, stats) = if measure || c.quality.on() {
            let timeout = Duration::from_millis(c.probe_timeout_ms);
            let stats = self.kernel.measure(&path, &targets, c.probe_count, timeout).context("probing the primary")?;
            (stats.iter().filter(|s| s.received > 0).count(), targets.iter().copied().zip(stats).collect())
        } else {
            let answers = self.echo(&path, &targets, c.probe_count, need)?;
            (answers.iter().filter(|a| a.is_some()).count(), Vec::new())
        };
        let reached = track_passes(answered, need);
        let per_target: Vec<Stats> = stats.iter().map(|(_, s)| *s).collect();
        let quality = quality_verdict(&c.quality, Some(&per_target), need, obs.on);
        let lb_down = (reached && quality.is_ok() && lb_asked(c))
            .then(|| self.kernel.lb_status())
            .flatten()
            .and_then(|s| edgeos::lb_down(&s, &c.primary_dev));
        let verdict = primary_verdict(c, reached, answered, quality, lb_down);
        Ok((verdict, if measure { stats } else { Vec::new() }))
    }

    /// BACKUP_CHECK's round: BACKUP_DEV up with carrier, and its gateway answering one
    /// of PROBE_COUNT echoes sent out of it.
    /// With BACKUP_TRACK_IPS: those, through the gateway (see [`System::backup_track_round`]).
    pub fn backup_round(&mut self, obs: &Observed) -> Result<BackupSeen, Error> {
        let c = self.cfg;
        let path = backup_path(c, self.links.by_name(&c.backup_dev), obs.backup_gw);
        let Ok(gw) = path else { return Ok(backup_seen(c, &path, false)) };
        if !c.backup_track_ips.is_empty() {
            return self.backup_track_round(obs, gw);
        }
        Ok(match self.echo(&ProbePath::Device(c.backup_dev.clone()), &[gw], c.probe_count, 1) {
            Ok(answers) => backup_seen(c, &path, answers.iter().any(Option::is_some)),
            Err(e) => BackupSeen::Silent(e.to_string()),
        })
    }

    /// BACKUP_TRACK_IPS' check (issue 18): PROBE_COUNT echoes to each, framed to the
    /// backup's gateway `gw` out of BACKUP_DEV as TRACK_IPS are to the primary's; any
    /// answer passes.
    fn backup_track_round(&mut self, obs: &Observed, gw: Ipv4Addr) -> Result<BackupSeen, Error> {
        let c = self.cfg;
        let Some(link) = self.links.by_name(&c.backup_dev).cloned() else {
            return Ok(backup_seen(c, &Err(format!("{} interface does not exist", c.backup_dev)), false));
        };
        let wait = Duration::from_millis(c.probe_timeout_ms);
        // The addresses are read for this check (every BACKUP_CHECK_INTERVAL_S) when the
        // round did not need them.
        let addrs = if obs.addrs.is_empty() { self.addrs()? } else { obs.addrs.clone() };
        let lladdr = || {
            let mac = self.kernel.gateway_lladdr(link.index, &c.backup_dev, gw, wait);
            mac.context("reading the neighbour table")
        };
        let path = match backup_track_probe(c, &link, gw, &addrs, lladdr)? {
            Ok(path) => path,
            Err(seen) => return Ok(seen),
        };
        Ok(match self.echo(&path, &c.backup_track_ips, c.probe_count, 1) {
            Ok(answers) => backup_track_seen(c, gw, answers.iter().any(Option::is_some)),
            Err(e) => BackupSeen::Silent(e.to_string()),
        })
    }

    /// What PROBE_COUNT echoes to WG_PEER_IP through WG_IFACE come to (`status`).
    pub fn tunnel_stats(&self) -> Result<Stats, Error> {
        let c = self.cfg;
        let timeout = Duration::from_millis(c.probe_timeout_ms);
        let path = ProbePath::Device(c.wg_iface.clone());
        let stats =
            self.kernel.measure(&path, &[c.wg_peer_ip], c.probe_count, timeout).context("probing the tunnel")?;
        Ok(stats[0])
    }

    /// WG_PEER_IP answers within `count` echoes through WG_IFACE.
    pub fn peer_answers(&self, count: u32) -> Result<bool, Error> {
        let c = self.cfg;
        Ok(self.echo(&ProbePath::Device(c.wg_iface.clone()), &[c.wg_peer_ip], count, 1)?[0].is_some())
    }

    /// WG_PEER_IP answers within PROBE_TIMEOUT_MS, asked again every 50 ms meanwhile (a
    /// reply to any of them counts): the tunnel's proof, where the first echo after the
    /// endpoint route moved is often lost and one lost packet must cost 50 ms, not the
    /// whole timeout.
    pub fn peer_answers_soon(&self) -> Result<bool, Error> {
        let c = self.cfg;
        let cadence = Duration::from_millis(PROOF_CADENCE_MS.min(c.probe_timeout_ms));
        let count = (c.probe_timeout_ms / PROOF_CADENCE_MS).max(1) as u32;
        let path = ProbePath::Device(c.wg_iface.clone());
        let answers = self.kernel.echo(&path, &[c.wg_peer_ip], count, cadence, 1).context("probing the tunnel")?;
        Ok(answers[0].is_some())
    }

    /// The LAN resolver step 7 checks: dnsmasq's address on LAN_DEV; `None` when there is
    /// nothing to check (no dnsmasq, no address, or a dry run, which only says what it
    /// would do).
    pub fn lan_dns_server(&mut self) -> Option<Ipv4Addr> {
        let c = self.cfg;
        if !c.dns_check || !self.kernel.dnsmasq_running() {
            return None;
        }
        let index = self.links.index(&c.lan_dev)?;
        let Some(server) = self.addrs().ok()?.into_iter().find(|a| a.index == index).map(|a| a.local) else {
            self.log.warn(&format!("DNS check skipped: no IPv4 address on {}", c.lan_dev));
            return None;
        };
        if self.dry_run {
            self.changes.push(format!(
                "# would query {} at {server}, and run {} if it fails",
                c.dns_test_name,
                c.dns_restart_cmd.join(" ")
            ));
            return None;
        }
        Some(server)
    }

    /// Whether the resolver at `server` answers DNS_TEST_NAME within [`DNS_WAIT`].
    pub fn resolves(&self, server: Ipv4Addr) -> bool {
        matches!(self.kernel.resolves(server, &self.cfg.dns_test_name, DNS_WAIT), Ok(true))
    }

    /// Step 7's check, left to the driver by a sequence of a System whose `dns_beside`
    /// is set (the daemon, which makes it beside its loop): the resolver to check.
    pub fn take_dns_due(&mut self) -> Option<Ipv4Addr> {
        self.dns_due.take()
    }

    /// The echoes to the tunnels not in use a round left to the driver (see
    /// `failsafe::OthersSeen::Beside`).
    pub fn take_others_due(&mut self) -> Option<OthersDue> {
        self.others_due.take()
    }

    /// The name endpoint's lookup through the backup a round left to the driver.
    pub fn take_lookup_due(&mut self) -> Option<(crate::endpoint::Asking, ProbePath)> {
        self.lookup_due.take()
    }
}

#[cfg(test)]
mod tests {
    use crate::failsafe::Outcome;
    use crate::system::lab::Lab;

    /// Three TRACK_IPS, of which 9.9.9.9 never answers an echo (a resolver that stopped
    /// answering ICMP); the other two answer every one.
    fn two_of_three(tag: &str, extra: &str) -> Lab {
        let lab = Lab::new(tag, &format!("TRACK_IPS=1.1.1.1 8.8.8.8 9.9.9.9\n{extra}"));
        for ip in ["1.1.1.1", "8.8.8.8"] {
            lab.w().answers.insert(("eth0".to_string(), ip.parse().expect("ip")));
        }
        lab
    }

    /// Quality is judged per target, as mwan3 and dpinger judge it: one TRACK_IPS target
    /// that never answers is a failed target (TRACK_RELIABILITY=1 allows two), not 33 %
    /// loss on a perfect line — which failed it over, and never back (the UP limit could
    /// never be met).
    #[test]
    fn one_dead_track_ip_does_not_fail_a_perfect_primary_on_quality() {
        let lab = two_of_three("qdead1", "TRACK_RELIABILITY=1\nLOSS_DOWN_PCT=20\nLOSS_UP_PCT=5\n");
        for _ in 0..3 {
            assert_eq!(lab.tick().expect("tick"), Outcome::Healthy, "a perfect primary failed on a dead target");
        }
        // Failed over on its carrier, failed back with the same dead target after UP_AFTER_S.
        lab.primary_carrier(false);
        assert!(matches!(lab.tick().expect("tick"), Outcome::Activated { .. }));
        lab.primary_carrier(true);
        assert!(matches!(lab.tick().expect("tick"), Outcome::Active { wait_left_s: Some(_), .. }));
        lab.advance_s(61);
        assert!(matches!(lab.tick().expect("tick"), Outcome::Deactivated { .. }), "never failed back");
    }

    /// TRACK_RELIABILITY counts the targets that answer *and* meet the limits: with two
    /// needed, one lossy live target beside a perfect one and a dead one fails the round on
    /// quality (for that target's loss), where one needed passes it.
    #[test]
    fn the_targets_within_the_limits_are_counted_against_track_reliability() {
        let limits = "LOSS_DOWN_PCT=20\nPROBE_COUNT=3\n";
        let one = two_of_three("qdead2", &format!("TRACK_RELIABILITY=1\n{limits}"));
        let two = two_of_three("qdead3", &format!("TRACK_RELIABILITY=2\n{limits}"));
        for lab in [&one, &two] {
            assert_eq!(lab.tick().expect("tick"), Outcome::Healthy);
            // 1.1.1.1 loses its first echo of three: 33 %, above 20 %.
            lab.w().lost_echoes = 1;
        }
        assert_eq!(one.tick().expect("tick"), Outcome::Healthy, "8.8.8.8 alone meets TRACK_RELIABILITY=1");
        let (out, notices) = crate::failsafe::tick(&mut two.sys().expect("sys")).parts();
        assert!(matches!(out, Ok(Outcome::Activated { .. })), "only one of two needed is good: {out:?}");
        let why = "poor quality: 1 of 3 echoes lost, above LOSS_DOWN_PCT=20 %";
        let reasons: Vec<&str> = notices.iter().map(|n| n.reason.as_str()).collect();
        assert!(reasons.iter().any(|r| r.contains(why)), "{reasons:#?}");
    }
}
