//! Where the daemon's probes point and what they, the link and the load balancer say of the
//! primary and the backup.

use super::*;

impl Daemon {
    /// Points the probes where this round's view says: the primary's gateway (or
    /// TRACK_IPS through it), and the tunnel peer while the failsafe is on.
    pub(super) fn aim(&mut self) -> Result<(), Error> {
        let c = self.cfg.clone();
        let link = self.view.links.by_name(&c.primary_dev).cloned();
        let gw = self.primary_gateway();
        let (path, targets) = match (link, gw) {
            (Some(l), Some(gw)) if l.admin_up && l.lower_up => {
                if c.track_ips.is_empty() {
                    (Some(ProbePath::Device(c.primary_dev.clone())), vec![gw])
                } else {
                    let src = self.view.addrs.iter().find(|a| a.index == l.index).map(|a| a.local);
                    let lladdr = if l.point_to_point { Some(None) } else { self.gateway_lladdr(&l, gw)?.map(Some) };
                    match (src, lladdr) {
                        (Some(src), Some(lladdr)) => {
                            (Some(ProbePath::Gateway { ifindex: l.index, lladdr, src }), c.track_ips.clone())
                        }
                        _ => (None, c.track_ips.clone()),
                    }
                }
            }
            _ => (None, Vec::new()),
        };
        let index = |dev: &str| self.view.links.index(dev);
        let (primary_index, backup_index, wg_index) = (index(&c.primary_dev), index(&c.backup_dev), index(&c.wg_iface));
        self.primary.aim(path, primary_index, targets);
        match (c.backup_check && !self.on).then(|| self.gateway(c.backup_gw, &c.backup_dev)).flatten() {
            Some(gw) => self.backup.aim(Some(ProbePath::Device(c.backup_dev.clone())), backup_index, vec![gw]),
            None if self.backup.prober.is_some() => self.backup.stop(),
            None => {}
        }
        // A WireGuard interface re-created during the outage (a commit) has a new index:
        // the socket bound to the old one would judge the tunnel dead for the rest of it.
        if self.on {
            self.tunnel.aim(Some(ProbePath::Device(c.wg_iface.clone())), wg_index, vec![c.wg_peer_ip]);
        } else if self.tunnel.prober.is_some() {
            self.tunnel.stop();
        }
        Ok(())
    }

    /// The gateway's MAC, read from the neighbour table at most every 30 s (and at once
    /// after a failed round, or when the gateway or link changed). When the kernel has
    /// none, one echo to the gateway makes it resolve one for the next round.
    pub(super) fn gateway_lladdr(&mut self, l: &Link, gw: Ipv4Addr) -> Result<Option<Vec<u8>>, Error> {
        if let Some((index, ip, mac, at)) = &self.lladdr {
            if *index == l.index
                && *ip == gw
                && (self.primary.passed() || at.elapsed() < Duration::from_millis(self.cfg.probe_interval_ms * 2))
                && at.elapsed() < Duration::from_secs(30)
            {
                return Ok(Some(mac.clone()));
            }
        }
        match link::neighbour(&mut self.nl, l.index, gw).context("reading the neighbour table")? {
            Some(mac) => {
                self.lladdr = Some((l.index, gw, mac.clone(), Instant::now()));
                Ok(Some(mac))
            }
            None => {
                if let Ok(p) = Prober::open(ProbePath::Device(l.name.clone())) {
                    let _ = p.send(gw, 1);
                }
                self.lladdr = None;
                Ok(None)
            }
        }
    }

    /// The load balancer's verdict, asked at most every LB_EVERY (TRACK_IPS empty only).
    pub(super) fn lb_verdict(&mut self) -> Option<String> {
        if !self.cfg.lb_status || !self.cfg.track_ips.is_empty() || !self.edgeos {
            return None;
        }
        // Asked without waiting: the command (up to 10 s) runs beside the loop, and its
        // answer is taken in at a later round; meanwhile the last one stands.
        match &mut self.lb.pending {
            Some(capture) => {
                if let Some(done) = capture.poll() {
                    self.lb.pending = None;
                    let status = done.map(|t| edgeos::parse_lb_status(&t));
                    self.lb.verdict = status.and_then(|s| edgeos::lb_down(&s, &self.cfg.primary_dev));
                }
            }
            None if self.lb.asked.is_none_or(|at| at.elapsed() >= LB_EVERY) => {
                self.lb.asked = Some(Instant::now());
                self.lb.pending = edgeos::lb_status_start();
            }
            None => {}
        }
        self.lb.verdict.clone()
    }

    /// The primary as this moment's view and rounds see it: the verdict (down or not)
    /// and whether the last round passed.
    pub(super) fn primary_health(&mut self) -> (Result<(), Unhealthy>, bool) {
        let c = &self.cfg;
        if let Err(why) = link_health(self.view.links.by_name(&c.primary_dev)) {
            return (Err(why), false);
        }
        if self.primary_gateway().is_none() {
            return (Err(Unhealthy::NoGateway), false);
        }
        let passed = self.primary.passed();
        if self.primary.down(c, self.now_ms()) {
            let why = if c.track_ips.is_empty() {
                Unhealthy::GatewaySilent
            } else {
                Unhealthy::Upstream {
                    answered: self.primary.answered(),
                    needed: c.track_reliability,
                    of: c.track_ips.len(),
                }
            };
            return (Err(why), false);
        }
        if let Some(verdict) = self.lb_verdict() {
            return (Err(Unhealthy::LoadBalancer(verdict)), false);
        }
        (Ok(()), passed)
    }

    /// BACKUP_CHECK, while the failsafe is off: the backup is down as the primary would
    /// be (its link, its gateway, DOWN_AFTER_MS without a passing round) and up at a
    /// passing round; a change is recorded and announced as `run` does. `None`: no
    /// verdict yet.
    pub(super) fn backup_verdict(&self) -> Option<Result<(), String>> {
        let c = &self.cfg;
        let gw = match backup_path(c, self.view.links.by_name(&c.backup_dev), self.gateway(c.backup_gw, &c.backup_dev))
        {
            Ok(gw) => gw,
            Err(why) => return Some(Err(why)),
        };
        if self.backup.down(c, self.now_ms()) {
            return Some(Err(backup_silent(c, gw)));
        }
        // Down, it is up again only after passing as long as it took to be down: a lossy
        // backup is not announced twice a minute.
        let up_again = self.backup_down != Some(true)
            || rounds_down(self.backup.rounds.passes, c.down_after_ms, c.probe_interval_ms);
        (self.backup.passed() && up_again).then_some(Ok(()))
    }

    pub(super) fn judge_backup(&mut self) -> Result<(), Error> {
        // While the primary is healthy only: a failing primary is judged, not the backup.
        if !self.cfg.backup_check || self.on || !self.primary.passed() {
            return Ok(());
        }
        let Some(verdict) = self.backup_verdict() else { return Ok(()) };
        let down = verdict.is_err();
        if self.backup_down == Some(down) {
            return Ok(());
        }
        // Never waited for: the loop must stay free for the primary's events.
        let Some(lock) = self.lock(Duration::ZERO)? else { return Ok(()) }; // the next round
        let (cfg, log) = (self.cfg.clone(), self.log.clone());
        let mut sys = System::open(&cfg, &log, false)?;
        let judged = failsafe::judge_backup(&mut sys, verdict, 1);
        hook::notify(&cfg, &log, &sys.take_notices());
        judged?;
        drop(sys);
        drop(lock);
        self.backup_down = Some(down);
        Ok(())
    }
}
