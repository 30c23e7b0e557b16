//! Where the daemon's probes point (`judge::primary_probe`, as `run` aims its echoes), and
//! what they, the link and the load balancer say of the primary (`judge::primary_verdict`,
//! as `run` judges its round).

use super::*;

impl Daemon {
    /// Points the probes where this round's view says: the primary's gateway (or
    /// TRACK_IPS through it), and the tunnel peer while the failsafe is on.
    pub(super) fn aim(&mut self) -> Result<(), Error> {
        // Borrowed field by field, nothing cloned: every round runs this.
        let (on, gw) = (self.on(), self.primary_gateway());
        let c = &self.cfg;
        let (path, targets, unprobed) = match (self.view.links.by_name(&c.primary_dev), gw) {
            (Some(l), Some(gw)) if link_health(Some(l)).is_ok() => {
                let (kept, nl, passed) = (&mut self.lladdr, &mut self.nl, self.primary.passed());
                let lladdr = || gateway_lladdr(kept, nl, passed, c.probe_interval_ms, l, gw);
                match primary_probe(c, l, gw, &self.view.addrs, lladdr)? {
                    Ok(probe) => (Some(probe.path), probe.targets, None),
                    Err(why) => (None, c.track_ips.clone(), Some(why)),
                }
            }
            _ => (None, Vec::new(), None),
        };
        self.unprobed = unprobed;
        let index = |dev: &str| self.view.links.index(dev);
        let t = c.tunnel(self.in_use);
        let (primary_index, backup_index, wg_index) = (index(&c.primary_dev), index(&c.backup_dev), index(&t.wg_iface));
        self.primary.aim(path, primary_index, targets);
        self.primary.keep_window(c.quality.on());
        match (c.backup_check && !on).then(|| self.backup_gateway()).flatten() {
            // BACKUP_TRACK_IPS: aimed through the gateway while a check is under way.
            Some(_) if !c.backup_track_ips.is_empty() => match self.backup_ips.path.clone() {
                Some((path, _)) => self.backup.aim(Some(path), backup_index, c.backup_track_ips.clone()),
                None if self.backup.path.is_some() => self.backup.stop(),
                None => {}
            },
            Some(gw) => self.backup.aim(Some(ProbePath::Device(c.backup_dev.clone())), backup_index, vec![gw]),
            None => {
                // A BACKUP_TRACK_IPS check under way is given up (the failsafe went on, or
                // the backup has no gateway): its rounds would fail for nothing.
                self.backup_ips.path = None;
                if self.backup.path.is_some() {
                    self.backup.stop();
                }
            }
        }
        // A WireGuard interface re-created during the outage (a commit) has a new index:
        // the socket bound to the old one would judge the tunnel dead for the rest of it.
        if on {
            self.tunnel.aim(Some(ProbePath::Device(t.wg_iface.clone())), wg_index, vec![t.wg_peer_ip]);
            self.tunnel.keep_window(c.quality.on());
        } else if self.tunnel.path.is_some() {
            self.tunnel.stop();
        }
        Ok(())
    }

    /// The load balancer's verdict, asked at most every LB_EVERY (TRACK_IPS empty only).
    pub(super) fn lb_verdict(&mut self) -> Option<String> {
        if !lb_asked(&self.cfg) || !self.edgeos {
            return None;
        }
        self.lb.verdict(edgeos::LB_STATUS_CMD, &self.cfg.primary_dev)
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
        let now_ms = self.now_ms();
        let reached = !self.primary.down(c, now_ms);
        // The window of the echoes the track sent anyway (issue 18): no packet of its own.
        let (window_ms, timeout_ms) = (c.quality.window_s * 1000, c.probe_timeout_ms);
        let window = self.primary.window.as_mut().and_then(|w| w.stats(now_ms, window_ms, timeout_ms));
        let quality = quality_verdict(&c.quality, window.as_deref(), primary_need(c), self.on());
        let lb_down = if reached && quality.is_ok() { self.lb_verdict() } else { None };
        // A track that could not be aimed (no address, the gateway's address unresolved)
        // fails its rounds for that reason, as `run`'s round does.
        let verdict = match (&self.unprobed, reached) {
            (Some(why), false) => Err(why.clone()),
            _ => primary_verdict(&self.cfg, reached, self.primary.answered(), quality, lb_down),
        };
        let passed = verdict.is_ok() && self.primary.passed();
        (verdict, passed)
    }
}

/// The gateway's MAC, read from the neighbour table when the copy `kept` no longer serves
/// (`rounds::lladdr_kept`: its age, and whether the primary's last round `passed`), or the
/// gateway or link changed: looked up as `run` looks it up (`probe::gateway_lladdr`, never
/// waiting: when the kernel has none, one echo makes it resolve one for the next round).
fn gateway_lladdr(
    kept: &mut Option<Lladdr>,
    nl: &mut Netlink,
    passed: bool,
    probe_interval_ms: u64,
    l: &Link,
    gw: Ipv4Addr,
) -> Result<Option<Vec<u8>>, Error> {
    if let Some(k) = kept {
        let age_ms = ms_since(k.read_at);
        if (k.ifindex, k.gw) == (l.index, gw) && lladdr_kept(age_ms, passed, probe_interval_ms) {
            return Ok(Some(k.mac.clone()));
        }
    }
    let mac = crate::probe::gateway_lladdr(nl, l.index, &l.name, gw, None).context("reading the neighbour table")?;
    *kept = mac.clone().map(|mac| Lladdr { ifindex: l.index, gw, mac, read_at: Instant::now() });
    Ok(mac)
}
