//! How the daemon hands what its view and tracks saw to the judgement `run` uses: whether
//! the shared round is due now (`decide::daemon_round_due`), the round itself under
//! LOCK_FILE (`failsafe::round`, its notices handed to ON_CHANGE by `Told::announce`),
//! what it keeps of the state files between sequences, and BACKUP_CHECK's rounds judged
//! by the record's rule and recorded through `failsafe::record_backup`.

use super::*;

impl Daemon {
    /// The managed tables as this healthy round sees them, written when they changed
    /// (as `run` does: see `ownership::last_seen_healthy`).
    /// A view whose routes and rules are those `healthy` was found from gives the same
    /// snapshot: it is not made again (most rounds; making it was two thirds of one).
    fn remember_healthy(&mut self) -> Result<(), Error> {
        let v = &self.view;
        if self.healthy_from.as_ref().is_some_and(|(routes, rules)| *routes == v.routes && *rules == v.rules) {
            return Ok(());
        }
        let seen = last_seen_healthy(&v.routes, &v.rules, &self.cfg);
        if self.healthy.as_ref() != Some(&seen) {
            let mut state = State::open(&self.cfg.state_dir).map_err(crate::system::state_error)?;
            state.remember_healthy(&seen, crate::system::wall_now().as_secs()).map_err(crate::system::state_error)?;
            self.healthy = Some(seen);
        }
        self.healthy_from = Some((self.view.routes.clone(), self.view.rules.clone()));
        Ok(())
    }

    /// A healthy round with the failsafe off: a name endpoint's entry looked up again
    /// once expired (the plan `run`'s healthy tick follows, `endpoint::begin`), the
    /// question sent beside the loop (see [`Daemon::lookup_step`]) — a resolver that does
    /// not answer never holds a carrier event. One lookup at a time.
    fn refresh_endpoint(&mut self) -> Result<(), Error> {
        if self.cfg.wg_endpoint.name.is_none() || self.lookup.is_some() {
            return Ok(());
        }
        let state = State::open(&self.cfg.state_dir).map_err(crate::system::state_error)?;
        let before = self.cfg.wg_endpoint.addr();
        let (now_s, own) = (state::boottime_s(), self.own_addrs());
        match endpoint::begin(&self.cfg, &state, now_s, endpoint::Need::Refresh, &own) {
            endpoint::Begun::Done(looked) => self.told_lookup(&looked, before, true),
            endpoint::Begun::Ask(asking) => {
                let resolving = dns::Resolving::start(&asking.servers, &asking.name, asking.timeout);
                self.lookup = Some((asking, resolving));
                Ok(())
            }
        }
    }

    /// A lookup one step on, never waiting: its answer (or what each resolver did) taken
    /// in by `endpoint::finish` once it is over. A healthy lookup the failsafe went on
    /// meanwhile is dropped: the address activation used stays until failback; so is one
    /// through the backup (the failsafe on with no address known) when it went off. An
    /// address found through the backup is taken by a round at once.
    pub(super) fn lookup_step(&mut self) {
        let Some((_, resolving)) = &mut self.lookup else { return };
        let Some(result) = resolving.poll() else { return };
        let Some((asking, _)) = self.lookup.take() else { return };
        if self.on() != asking.via_backup {
            return;
        }
        let before = self.cfg.wg_endpoint.addr();
        let looked = State::open(&self.cfg.state_dir)
            .and_then(|mut state| endpoint::finish(&self.cfg, &mut state, &asking, result, false))
            .map_err(crate::system::state_error);
        let r = looked.and_then(|looked| self.told_lookup(&looked, before, !asking.via_backup));
        self.note(r);
        if asking.via_backup && self.cfg.wg_endpoint.addr() != before {
            self.dirty = true;
        }
    }

    /// The router's own addresses, as the view has them.
    pub(super) fn own_addrs(&self) -> Vec<Ipv4Addr> {
        crate::system::own_ipv4(&self.view.addrs)
    }

    /// A lookup's end told as `run` tells it (`healthy`: a healthy round's, see
    /// `News::Lookup`); a new address is followed by the view.
    fn told_lookup(&mut self, looked: &endpoint::Looked, before: Ipv4Addr, healthy: bool) -> Result<(), Error> {
        say::log_only(&self.cfg, &self.log, News::Lookup { looked, healthy });
        if self.cfg.wg_endpoint.addr() != before {
            self.resync_routes()?;
        }
        Ok(())
    }

    /// LOCK_FILE, waiting up to `wait`; `None` when another holds it.
    fn lock(&self, wait: Duration) -> Result<Option<Lock>, Error> {
        match Lock::acquire(&self.cfg.lock_file, wait) {
            Ok(l) => Ok(Some(l)),
            Err(LockError::Busy) => Ok(None),
            Err(LockError::Io(e)) => Err(Error::Failed(format!("{}: {e}", self.cfg.lock_file.display()))),
        }
    }

    /// Decides and acts, with the same decision and sequences as `run`. `round`: a probe
    /// round just closed (the failback wait counts rounds); otherwise an event asked.
    pub(super) fn judge(&mut self, round: bool) -> Result<(), Error> {
        // Before the router has configured its interfaces, nothing is judged (the events
        // and rounds of that time are not kept for later either).
        if state::boottime_s() < self.cfg.boot_wait_s {
            self.urgent = None;
            return Ok(());
        }
        let urgent = self.urgent.take();
        let dirty = std::mem::take(&mut self.dirty);
        let (health, passed) = self.primary_health();
        if track::held(self.hold_until, Instant::now(), urgent.is_some(), round && !passed && self.on()) {
            return Ok(());
        }
        let mode = crate::judge::Mode { on: self.on(), leftovers: self.leftovers };
        let action = decide(mode.on, health.is_ok(), mode.leftovers, false);
        if !daemon_round_due(action, round, dirty, urgent.is_some()) {
            // Healthy and off: nothing to open, nothing to read; the tables are
            // remembered as healthy when they changed. Only a help at the next
            // activation (see `run`): told, never fatal.
            if crate::judge::healthy_round(mode, health.is_ok(), passed) {
                if let Err(e) = self.remember_healthy() {
                    self.note(Err(e));
                }
                self.refresh_endpoint()?;
            }
            return Ok(());
        }
        // Busy: a command by hand; the next round.
        let Some(lock) = self.lock(Duration::from_secs(self.cfg.lock_timeout_s))? else { return Ok(()) };
        let (cfg, log) = (self.cfg.clone(), self.log.clone());
        let mut sys = System::open(&cfg, &log, false)?;
        sys.dns_beside = true;
        sys.lookup_beside = self.lookup.as_ref().is_some_and(|(a, _)| a.via_backup);
        // ON_CHANGE hears of what the sequence announced, whatever comes next.
        let result = self.act(&mut sys, health, round.then_some(passed)).and_then(|told| told.announce(&cfg, &log));
        if let Some(server) = sys.take_dns_due() {
            self.start_dns(server);
        }
        let others_due = sys.take_others_due();
        let lookup_due = sys.take_lookup_due();
        // What the sequence changed is announced by now: take it in before judging again,
        // or the view would still show what was just undone.
        self.read_events()?;
        self.dirty = false;
        // The other tunnels' echoes the round handed over: the first sent now.
        if let Some(due) = others_due {
            self.others.ask(due);
            self.others_step();
        }
        self.files = sys.mode_files();
        self.leftovers = !sys.journal().is_empty();
        self.ours = owned_routes(sys.journal());
        self.snapshot = sys.snapshot().unwrap_or(None);
        // The sequence moved the LAN to another tunnel: the track probes its peer, the view
        // keeps the routes to its VPS.
        let moved = std::mem::replace(&mut self.in_use, sys.tunnel_in_use()) != self.in_use;
        drop(sys);
        drop(lock);
        // A name endpoint's address as the sequence found it: the view follows the routes
        // to it from now on.
        if cfg.wg_endpoint.addr() != self.cfg.wg_endpoint.addr() {
            self.cfg.wg_endpoint.resolved_to(cfg.wg_endpoint.addr());
            self.resync_routes()?;
        }
        if moved {
            self.resync_routes()?;
            self.tunnel.stop();
            self.aim()?;
            self.send_all();
        }
        match result {
            Ok(outcome) => {
                self.last_error = None;
                self.hold_until = None;
                self.follow_lookup(&outcome, lookup_due);
                if let (Some((at, what)), Outcome::Activated { .. }) = (&urgent, &outcome) {
                    let ms = ms_since(*at);
                    say::log_only(&self.cfg, &self.log, News::SwitchedAfterEvent { ms, what });
                }
                if matches!(outcome, Outcome::Activated { .. } | Outcome::Deactivated { .. }) {
                    // What the sequence changed comes back as announcements; the view
                    // takes them in. Start the tunnel's rounds (or stop them) afresh.
                    self.tunnel.stop();
                    self.others = Others::default();
                    self.aim()?;
                    self.send_all();
                }
            }
            Err(e) => {
                let text = e.to_string();
                if self.last_error.as_deref() != Some(text.as_str()) {
                    self.log.error(&text);
                    self.last_error = Some(text);
                }
                self.hold_until = Some(Instant::now() + RETRY_AFTER);
            }
        }
        Ok(())
    }

    /// A name endpoint's lookup after a round's `outcome`: a healthy round's goes on (or
    /// starts); after any other, a healthy one under way is no longer wanted (the address
    /// activation used stays while on). While on with no address known, the lookup through
    /// the backup the round handed over (`due`) is asked beside the loop.
    fn follow_lookup(&mut self, outcome: &Outcome, due: Option<(crate::endpoint::Asking, ProbePath)>) {
        match outcome {
            Outcome::Healthy => {
                let r = self.refresh_endpoint();
                self.note(r);
            }
            _ if self.lookup.as_ref().is_some_and(|(a, _)| a.via_backup) => {}
            _ => self.lookup = None,
        }
        if let Some((asking, path)) = due.filter(|_| self.lookup.is_none()) {
            let resolving = dns::Resolving::start_via(&asking.servers, &asking.name, asking.timeout, Some(&path));
            self.lookup = Some((asking, resolving));
        }
    }

    /// `round_passed`: the probe round that just closed passed (`None`: no round closed,
    /// an event asked; the failback wait neither starts nor breaks then).
    fn act(
        &mut self,
        sys: &mut System,
        health: Result<(), Unhealthy>,
        round_passed: Option<bool>,
    ) -> Result<failsafe::Told<Outcome>, Error> {
        let obs = sys.observed(self.view.routes.clone(), self.view.rules.clone(), self.view.addrs.clone())?;
        let (tunnel, others) = (self.tunnel.seen(), self.others.seen());
        Ok(failsafe::round(sys, &obs, Seen { primary: health, round_passed, tunnel, others }))
    }

    /// BACKUP_CHECK, while the failsafe is off and the primary passes: each backup round
    /// closed now (`closed`, in order) is a verdict — or, BACKUP_DEV without carrier or
    /// without a gateway, this round is one that it has no path — judged by `run`'s rule
    /// (`BackupCheck::judged`) in rounds (`BackupNeed::rounds`), the count kept here
    /// between the record's writes, which come only with news.
    pub(super) fn judge_backup(&mut self, closed: &[bool]) -> Result<(), Error> {
        // As `run` checks it, in a round with nothing to do (off, the primary's round
        // passed — taken as its verdict, as `run`'s is —, no leftovers): a failing primary
        // is judged, not the backup.
        let mode = crate::judge::Mode { on: self.on(), leftovers: self.leftovers };
        let passed = self.primary.passed();
        if !self.cfg.backup_check || !crate::judge::healthy_round(mode, passed, passed) {
            return Ok(());
        }
        let c = &self.cfg;
        let path = backup_path(c, self.view.links.by_name(&c.backup_dev), self.backup_gateway());
        let seen: Vec<BackupSeen> = match path {
            Err(_) => {
                // BACKUP_TRACK_IPS: checked again as soon as there is a path.
                self.backup_ips = BackupIps::default();
                vec![backup_seen(c, &path, false)]
            }
            Ok(gw) if !c.backup_track_ips.is_empty() => self.backup_track_check(gw, closed)?.into_iter().collect(),
            Ok(_) => closed.iter().map(|passed| backup_seen(c, &path, *passed)).collect(),
        };
        let c = &self.cfg;
        let mut check = match &self.backup_check {
            Some(b) => b.clone(),
            None => self.recorded_backup()?,
        };
        // A BACKUP_TRACK_IPS check is a verdict as `run`'s tick is: two failed ones in a
        // row are a dead backup, one passing a live one.
        let need = if c.backup_track_ips.is_empty() { BackupNeed::rounds(c) } else { BackupNeed::ticks() };
        let now_unix_s = crate::system::wall_now().as_secs();
        let mut turned = None;
        for s in seen {
            let news = check.judged(&s, need, now_unix_s);
            if news != BackupNews::Unchanged {
                turned = Some((news, s));
            }
        }
        let Some((news, seen)) = turned else {
            self.backup_check = Some(check);
            return Ok(());
        };
        // Never waited for: the loop must stay free for the primary's events. Busy, the
        // count is not kept: the next round's verdicts turn it again.
        let Some(lock) = self.lock(Duration::ZERO)? else { return Ok(()) };
        let (cfg, log) = (self.cfg.clone(), self.log.clone());
        let mut sys = System::open(&cfg, &log, false)?;
        failsafe::record_backup(&mut sys, &check, news, &seen).announce(&cfg, &log)?;
        drop(sys);
        drop(lock);
        self.backup_check = Some(check);
        Ok(())
    }

    /// BACKUP_TRACK_IPS through the backup's gateway `gw` (issue 18): the check under way
    /// takes in its rounds closed now (`closed`) and, once its PROBE_COUNT rounds are all
    /// closed, is a verdict (`judge::backup_track_seen`); with none under way, one starts
    /// when due (`judge::backup_track_due`), its path found as `run` finds it
    /// (`judge::backup_track_probe`: no path is a verdict at once).
    fn backup_track_check(&mut self, gw: Ipv4Addr, closed: &[bool]) -> Result<Option<BackupSeen>, Error> {
        let now_ms = self.now_ms();
        let check = &mut self.backup_ips;
        if let Some((_, checked_gw)) = &check.path {
            check.passed |= closed.iter().any(|p| *p);
            if check.passed {
                // Proven: no more rounds (each costs metered bytes).
                check.left = 0;
            }
            if check.left > 0 || self.backup.rounds.in_flight() > 0 {
                return Ok(None);
            }
            let seen = backup_track_seen(&self.cfg, *checked_gw, check.passed);
            check.path = None;
            return Ok(Some(seen));
        }
        if !backup_track_due(&self.cfg, check.last_ms.map(|ms| ms / 1000), now_ms / 1000) {
            return Ok(None);
        }
        check.last_ms = Some(now_ms);
        let c = self.cfg.clone();
        let Some(link) = self.view.links.by_name(&c.backup_dev).cloned() else { return Ok(None) };
        let addrs = self.view.addrs.clone();
        let nl = &mut self.nl;
        let lladdr = || {
            crate::probe::gateway_lladdr(nl, link.index, &link.name, gw, None).context("reading the neighbour table")
        };
        match backup_track_probe(&c, &link, gw, &addrs, lladdr)? {
            Ok(path) => {
                self.backup_ips =
                    BackupIps { last_ms: Some(now_ms), path: Some((path, gw)), left: c.probe_count, passed: false };
                Ok(None)
            }
            Err(seen) => Ok(Some(seen)),
        }
    }

    /// The record's verdict on the backup, as the daemon starts counting: a count of
    /// `run`'s ticks is not one of rounds, so its own starts from nothing. A record that
    /// cannot be read is one never checked (the next sequence sets it aside).
    fn recorded_backup(&self) -> Result<BackupCheck, Error> {
        let state = State::open(&self.cfg.state_dir).map_err(crate::system::state_error)?;
        Ok(BackupCheck { against: 0, ..state.record().unwrap_or_default().backup })
    }
}
