//! What the daemon keeps of the kernel (links, the routes the tool looks at, rules,
//! addresses): dumped at start and after lost announcements, kept from the announcements in
//! between, and read for the gateways.

use super::*;

/// What the daemon keeps of the kernel, from one dump and the announcements since.
pub(super) struct View {
    pub(super) links: Links,
    /// Defaults and routes to the VPS endpoint only, as `System::routes` reads them.
    pub(super) routes: Vec<Route>,
    pub(super) rules: Vec<Rule>,
    pub(super) addrs: Vec<Addr>,
}

impl Daemon {
    /// Everything dumped again: at start, and when announcements were lost.
    pub(super) fn resync(&mut self) -> Result<(), Error> {
        self.view.links = Links::dump(&mut self.nl).context("reading links")?;
        self.resync_routes()?;
        self.resync_rules()?;
        self.view.addrs = link::addresses(&mut self.nl).context("reading addresses")?;
        Ok(())
    }

    /// Both families' routes, as `System::routes` reads them.
    pub(super) fn resync_routes(&mut self) -> Result<(), Error> {
        let endpoint = self.cfg.wg_endpoint;
        let mut routes = dump_routes(&mut self.nl, &self.view.links, endpoint, false)?;
        routes.extend(dump_routes(&mut self.nl, &self.view.links, endpoint, true)?);
        self.view.routes = routes;
        Ok(())
    }

    pub(super) fn resync_rules(&mut self) -> Result<(), Error> {
        self.view.rules = dump_rules(&mut self.nl)?;
        Ok(())
    }

    /// Takes in every announcement waiting, and notes what must be acted on.
    pub(super) fn read_events(&mut self) -> Result<(), Error> {
        let endpoint = self.cfg.wg_endpoint;
        let primary = self.cfg.primary_dev.clone();
        let (mut routes_flushed, mut rules_changed, mut addrs_changed) = (false, false, false);
        let mut urgent: Option<String> = None;
        let mut touched = false;
        let view = &mut self.view;
        let result = self.events.read(|ev| {
            let kind = ev.msg.kind;
            match ev.msg.body {
                Body::Link(l) => {
                    let was = view.links.by_index(l.index).cloned();
                    let gone = kind == libc::RTM_DELLINK;
                    let now = (!gone).then(|| Link {
                        index: l.index,
                        name: l.name.clone().or_else(|| was.as_ref().map(|w| w.name.clone())).unwrap_or_default(),
                        admin_up: l.flags & 0x1 != 0,
                        lower_up: l.flags & 0x1_0000 != 0,
                        point_to_point: l.flags & (0x10 | 0x80) != 0,
                    });
                    let name = now.as_ref().map(|n| n.name.clone()).or_else(|| was.as_ref().map(|w| w.name.clone()));
                    // The kernel drops the routes of a device that goes down or away
                    // without announcing each: read them again.
                    routes_flushed |=
                        gone || (was.as_ref().is_some_and(|w| w.admin_up) && now.as_ref().is_some_and(|n| !n.admin_up));
                    if name.as_deref() == Some(primary.as_str()) {
                        let healthy_before = was.as_ref().is_some_and(|w| w.admin_up && w.lower_up);
                        match &now {
                            None => urgent = Some(format!("{primary} vanished")),
                            Some(n) if !n.admin_up && healthy_before => urgent = Some(format!("{primary} went down")),
                            Some(n) if !n.lower_up && healthy_before => {
                                urgent = Some(format!("{primary} lost its carrier"))
                            }
                            _ => {}
                        }
                    }
                    view.links.apply(l.index, now);
                    touched = true;
                }
                Body::Route(m) if wanted_route(&m, endpoint) => {
                    if let Some(r) = Route::from_message(&m, &view.links) {
                        route::apply_event(&mut view.routes, kind, ev.flags, r);
                        touched = true;
                    }
                }
                Body::Rule(_) => rules_changed = true,
                Body::Addr(_) => {
                    addrs_changed = true;
                    // With an address go the routes through its subnet (a DHCP lease
                    // that ends takes its default), and IPv4 announces none of them.
                    routes_flushed |= kind == libc::RTM_DELADDR;
                }
                _ => {}
            }
        });
        match result {
            Ok(()) => {}
            Err(EventError::Overrun) => {
                self.log.warn("the kernel dropped announcements: reading every table again");
                self.resync()?;
                self.dirty = true;
            }
            Err(EventError::Io(e)) => return Err(Error::Failed(format!("netlink announcements: {e}"))),
        }
        if routes_flushed {
            self.resync_routes()?;
        }
        if rules_changed {
            self.resync_rules()?;
        }
        if addrs_changed {
            self.view.addrs = link::addresses(&mut self.nl).context("reading addresses")?;
        }
        // PRIMARY_GW=auto and the primary's last default gone: down now.
        if urgent.is_none()
            && self.cfg.primary_gw == config::Gateway::Auto
            && !self.on
            && self.view.links.by_name(&self.cfg.primary_dev).is_some()
            && self.primary.rounds.last_pass_ms.is_some()
            && self.primary_gateway().is_none()
        {
            urgent = Some(format!("{}'s gateway is gone (its default route was deleted)", self.cfg.primary_dev));
        }
        if let Some(what) = urgent {
            self.urgent = Some((Instant::now(), what));
        }
        let main_tunnel = self.tunnel_default_in_main();
        if touched || rules_changed || addrs_changed {
            // While on, every change is re-asserted at once (the load balancer rewrites its
            // tables); an activation or deactivation by hand shows in main.
            if self.on || main_tunnel != self.on {
                self.dirty = true;
            }
        }
        Ok(())
    }

    pub(super) fn tunnel_default_in_main(&self) -> bool {
        footprint_in_main(&self.view.routes, &self.cfg)
    }

    pub(super) fn primary_gateway(&self) -> Option<Ipv4Addr> {
        self.gateway(self.cfg.primary_gw, &self.cfg.primary_dev)
    }

    /// `setting`'s gateway on `dev` in the daemon's view. The failsafe's own routes are not
    /// left out: the primary is resolved for, and the backup checked, only while off.
    pub(super) fn gateway(&self, setting: config::Gateway, dev: &str) -> Option<Ipv4Addr> {
        let c = &self.cfg;
        let mut tables = candidate_tables(false, &self.view.rules, c.policy_tables.as_deref());
        tables.extend(self.snapshot.iter().flat_map(|s| s.tables.iter().copied()));
        resolve_gateway(
            setting,
            dev,
            &self.view.links,
            &self.view.addrs,
            &self.view.routes,
            &[],
            &tables,
            self.snapshot.as_ref(),
        )
    }
}
