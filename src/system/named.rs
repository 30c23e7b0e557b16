//! A name endpoint's address for the round (see `endpoint`): kept fresh while healthy,
//! and found at activation through BACKUP_DEV, framed to BACKUP_GW.

use super::{Observed, System};
use crate::endpoint::{self, Looked, Need};
use crate::error::{Context, Error};
use crate::probe::Path as ProbePath;
use std::net::Ipv4Addr;
use std::time::Duration;

/// While the failsafe is on, the longest wait for BACKUP_GW's link-layer address before a
/// name endpoint's lookup (the daemon's loop waits meanwhile; the gateway is usually known).
const GATEWAY_WAIT_WHILE_ON_MS: u64 = 400;

impl System<'_> {
    /// A healthy round with the failsafe off: the name endpoint's entry looked up again
    /// once it has expired (see [`endpoint::plan`]).
    pub fn refresh_endpoint(&mut self) -> Result<Looked, Error> {
        let now_s = self.boottime_s();
        let own = self.own_addrs(None)?;
        let kernel = &self.kernel;
        let ask = |a: &endpoint::Asking| kernel.lookup(a, None);
        endpoint::look_up(self.cfg, &mut self.state, now_s, Need::Refresh, &own, ask, self.dry_run)
            .map_err(super::state_error)
    }

    /// The router's own addresses: the round's, else read now (none for an address
    /// endpoint: nothing is looked up).
    fn own_addrs(&mut self, obs: Option<&Observed>) -> Result<Vec<Ipv4Addr>, Error> {
        if self.cfg.wg_endpoint.name.is_none() {
            return Ok(Vec::new());
        }
        let addrs = match obs.filter(|o| !o.addrs.is_empty()) {
            Some(o) => o.addrs.clone(),
            None => self.addrs()?,
        };
        Ok(super::own_ipv4(&addrs))
    }

    /// A name endpoint's entry in STATE_DIR, when it is of this boot (`None` for an address).
    pub fn endpoint_kept(&self) -> Option<endpoint::Cached> {
        endpoint::kept(&self.state, self.cfg.wg_endpoint.name.as_deref()?)
    }

    /// Activation (`need`; or the failsafe on with no address known): the name endpoint's
    /// address — its entry's within the TTL, else looked up through BACKUP_DEV, else the
    /// expired one. `Looked::Nothing` for an address. While on under the daemon
    /// (`dns_beside`), the lookup is handed to it ([`System::take_lookup_due`]): its loop
    /// polls the answer, and the next round takes the address from the entry.
    pub fn endpoint_for_activation(&mut self, obs: &Observed, need: Need) -> Result<Looked, Error> {
        let beside = need == Need::Active && self.dns_beside;
        if beside && self.lookup_beside {
            return Ok(Looked::Nothing);
        }
        let now_s = self.boottime_s();
        let own = self.own_addrs(Some(obs))?;
        let path = match endpoint::asks(self.cfg, &self.state, now_s, need, &own) {
            true => self.backup_gateway_path(obs, need)?,
            false => None,
        };
        if let (true, Some(path)) = (beside, &path) {
            if let endpoint::Begun::Ask(asking) = endpoint::begin(self.cfg, &self.state, now_s, need, &own) {
                self.lookup_due = Some((asking, path.clone()));
                return Ok(Looked::Nothing);
            }
        }
        let (kernel, backup_dev) = (&self.kernel, &self.cfg.backup_dev);
        let ask = |a: &endpoint::Asking| match &path {
            Some(path) => kernel.lookup(a, Some(path)),
            None => Err(format!("{backup_dev} has no path to its gateway")),
        };
        endpoint::look_up(self.cfg, &mut self.state, now_s, need, &own, ask, self.dry_run).map_err(super::state_error)
    }

    /// The packet path to BACKUP_GW out of BACKUP_DEV, from the device's own address;
    /// `None` when the backup is down, has no address or its gateway does not resolve
    /// (waited for PROBE_TIMEOUT_MS; while on, no longer than the lookup may take).
    fn backup_gateway_path(&mut self, obs: &Observed, need: Need) -> Result<Option<ProbePath>, Error> {
        let c = self.cfg;
        let Some(link) = self.links.by_name(&c.backup_dev).filter(|l| l.admin_up && l.lower_up).cloned() else {
            return Ok(None);
        };
        let Some(gw) = obs.backup_gw else { return Ok(None) };
        let addrs = if obs.addrs.is_empty() { self.addrs()? } else { obs.addrs.clone() };
        let wait_ms = match need {
            Need::Active => c.probe_timeout_ms.min(GATEWAY_WAIT_WHILE_ON_MS),
            _ => c.probe_timeout_ms,
        };
        let wait = Duration::from_millis(wait_ms);
        let lladdr = || self.kernel.gateway_lladdr(link.index, &c.backup_dev, gw, wait);
        Ok(crate::judge::framed_path(&link, &addrs, lladdr).context("reading the neighbour table")?.ok())
    }
}
