//! What the daemon keeps of the kernel (links, the routes the tool looks at, rules,
//! addresses): dumped at start and after lost announcements, kept from the announcements in
//! between, and read for the gateways.
//!
//! [`View::take`] is the update by one announcement, pure (no socket, no clock), so that
//! the daemon and the `daemon_events` fuzz target run the same code.

use super::*;
use crate::netlink::events::Event;

/// What the daemon keeps of the kernel, from one dump and the announcements since.
pub struct View {
    pub links: Links,
    /// Defaults and routes to the VPS endpoint only, as `System::routes` reads them.
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
    pub addrs: Vec<Addr>,
}

/// What one announcement changed in a [`View`], for the daemon to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// A link, as it was before the announcement and as it is now (`None`: unknown
    /// before, gone now).
    Link { was: Option<Link>, now: Option<Link> },
    /// A route the tool looks at, as announced: added, replaced or removed in the view.
    Route(Route),
    /// A rule changed: the view's rules are to be dumped again.
    Rule,
    /// An address added or (`deleted`) removed: the addresses are to be dumped again.
    Addr { deleted: bool },
    /// Nothing the view keeps.
    Nothing,
}

impl View {
    /// The failsafe is on: the one answer (`decide::failsafe_on`) over what STATE_DIR
    /// said at the last sequence and the routes of this moment, so that a footprint in
    /// `main` that comes or goes by hand is read at once, both ways.
    pub fn on(&self, files: ModeFiles, cfg: &Config) -> bool {
        failsafe_on(files, &self.routes, cfg)
    }

    /// Takes in one announcement: a link as announced (a name kept from before when the
    /// announcement has none), a route the tool looks at (`wanted_route` for `endpoint`)
    /// read against the links of this moment and placed as the kernel orders it.
    pub fn take(&mut self, ev: &Event, endpoint: Ipv4Addr) -> Taken {
        let kind = ev.msg.kind;
        match &ev.msg.body {
            Body::Link(l) => {
                let was = self.links.by_index(l.index).cloned();
                let now = (kind != libc::RTM_DELLINK).then(|| Link {
                    index: l.index,
                    name: l.name.clone().or_else(|| was.as_ref().map(|w| w.name.clone())).unwrap_or_default(),
                    admin_up: l.flags & 0x1 != 0,
                    lower_up: l.flags & 0x1_0000 != 0,
                    point_to_point: l.flags & (0x10 | 0x80) != 0,
                });
                self.links.apply(l.index, now.clone());
                Taken::Link { was, now }
            }
            Body::Route(m) if wanted_route(m, endpoint) => match Route::from_message(m, &self.links) {
                Some(r) => {
                    route::apply_event(&mut self.routes, kind, ev.flags, r.clone());
                    Taken::Route(r)
                }
                None => Taken::Nothing,
            },
            Body::Rule(_) => Taken::Rule,
            Body::Addr(_) => Taken::Addr { deleted: kind == libc::RTM_DELADDR },
            _ => Taken::Nothing,
        }
    }
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
        let endpoint = self.tunnel_cfg().wg_endpoint.addr();
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
        let endpoint = self.tunnel_cfg().wg_endpoint.addr();
        let primary = self.cfg.primary_dev.clone();
        let (mut routes_flushed, mut rules_changed, mut addrs_changed) = (false, false, false);
        let mut urgent: Option<String> = None;
        let mut touched = false;
        let was_on = self.on();
        let view = &mut self.view;
        let result = self.events.read(|ev| match view.take(&ev, endpoint) {
            Taken::Link { was, now } => {
                let name = now.as_ref().or(was.as_ref()).map(|l| l.name.as_str());
                // The kernel drops the routes of a device that goes down or away without
                // announcing each: read them again.
                routes_flushed |= now.is_none()
                    || (was.as_ref().is_some_and(|w| w.admin_up) && now.as_ref().is_some_and(|n| !n.admin_up));
                if name == Some(primary.as_str()) {
                    let healthy_before = was.as_ref().is_some_and(|w| w.admin_up && w.lower_up);
                    let lost = match &now {
                        None => Some("vanished"),
                        Some(n) if !n.admin_up && healthy_before => Some("went down"),
                        Some(n) if !n.lower_up && healthy_before => Some("lost its carrier"),
                        _ => None,
                    };
                    if let Some(lost) = lost {
                        urgent = Some(format!("{primary} {lost}"));
                    }
                }
                touched = true;
            }
            Taken::Route(_) => touched = true,
            Taken::Rule => rules_changed = true,
            // With an address go the routes through its subnet (a DHCP lease that ends
            // takes its default), and IPv4 announces none of them.
            Taken::Addr { deleted } => {
                addrs_changed = true;
                routes_flushed |= deleted;
            }
            Taken::Nothing => {}
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
            && !self.on()
            && self.view.links.by_name(&self.cfg.primary_dev).is_some()
            && self.primary.rounds.last_pass_ms.is_some()
            && self.primary_gateway().is_none()
        {
            urgent = Some(format!("{}'s gateway is gone (its default route was deleted)", self.cfg.primary_dev));
        }
        if let Some(what) = urgent {
            self.urgent = Some((Instant::now(), what));
        }
        if touched || rules_changed || addrs_changed {
            // While on, every change is re-asserted at once (the load balancer rewrites its
            // tables); an activation or deactivation by hand shows in main.
            if was_on || self.on() {
                self.dirty = true;
            }
        }
        Ok(())
    }

    /// The failsafe is on, as [`View::on`] answers it now.
    pub(super) fn on(&self) -> bool {
        self.view.on(self.files, &self.cfg)
    }

    pub(super) fn primary_gateway(&self) -> Option<Ipv4Addr> {
        self.gateways().0
    }

    pub(super) fn backup_gateway(&self) -> Option<Ipv4Addr> {
        self.gateways().1
    }

    /// The primary's and the backup's gateways in the daemon's view, as `run` resolves
    /// them (`decide::round_gateways`), with the journal and snapshot of the last sequence.
    fn gateways(&self) -> (Option<Ipv4Addr>, Option<Ipv4Addr>) {
        let v = &self.view;
        round_gateways(&self.cfg, &v.links, &v.addrs, &v.routes, &v.rules, &self.ours, self.snapshot.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::footprint_in_main;
    use crate::netlink::link::LinkMsg;
    use crate::netlink::Rtnl;

    fn event(kind: u16, flags: u16, body: Body) -> Event {
        Event { flags, msg: Rtnl::new(kind, body) }
    }

    #[test]
    fn one_announcement_at_a_time() {
        let endpoint = Ipv4Addr::new(198, 51, 100, 10);
        let mut view =
            View { links: Links::of(&[(2, "eth0")]), routes: Vec::new(), rules: Vec::new(), addrs: Vec::new() };
        let was = view.links.by_index(2).cloned();
        // Carrier lost (IFF_UP without IFF_LOWER_UP), announced without a name: the name stays.
        let carrier_lost = LinkMsg { index: 2, flags: 0x1, change: 0, name: None, bytes: None };
        let now = Link { index: 2, name: "eth0".into(), admin_up: true, lower_up: false, point_to_point: false };
        assert_eq!(
            view.take(&event(libc::RTM_NEWLINK, 0, Body::Link(carrier_lost.clone())), endpoint),
            Taken::Link { was, now: Some(now.clone()) }
        );
        let r: Route = "default via 192.168.1.1 dev eth0 table main proto static metric 100".parse().expect("route");
        let m = r.to_message(&view.links).expect("eth0 exists");
        assert_eq!(view.take(&event(libc::RTM_NEWROUTE, 0, Body::Route(m.clone())), endpoint), Taken::Route(r.clone()));
        assert_eq!(view.routes, std::slice::from_ref(&r));
        assert_eq!(view.take(&event(libc::RTM_DELROUTE, 0, Body::Route(m)), endpoint), Taken::Route(r));
        assert!(view.routes.is_empty());
        let gone = view.take(&event(libc::RTM_DELLINK, 0, Body::Link(carrier_lost)), endpoint);
        assert_eq!((gone, view.links.by_index(2)), (Taken::Link { was: Some(now), now: None }, None));
    }

    /// The daemon kept a copy of "is the failsafe on": the answer of its last sequence, to
    /// which every judgement ORed the footprint in `main` (`on |= footprint`). With the
    /// state lost (no record, no snapshot) the footprint alone says on; deleted by hand,
    /// the one rule says off at once, while the copy stayed on until a sequence ran again
    /// (not while a failed one waits RETRY_AFTER, the lock is busy or the boot wait
    /// lasts): the tunnel was probed, BACKUP_CHECK stopped, and PRIMARY_GW=auto's lost
    /// default not taken as urgent. Now the view answers, through `failsafe_on`.
    #[test]
    fn the_failsafe_is_on_as_the_one_rule_says_over_the_view() {
        let c = crate::decide::tests::cfg();
        let endpoint = c.wg_endpoint.addr();
        let mut view = View {
            links: Links::of(&[(2, "eth0"), (4, "wg0")]),
            routes: Vec::new(),
            rules: Vec::new(),
            addrs: Vec::new(),
        };
        let lost = ModeFiles::default();
        let tunnel: Route = "default via 10.11.0.1 dev wg0 table main proto static metric 40".parse().expect("route");
        let m = tunnel.to_message(&view.links).expect("wg0 exists");
        view.take(&event(libc::RTM_NEWROUTE, 0, Body::Route(m.clone())), endpoint);
        let (rule, mut copy) = (view.on(lost, &c), false);
        copy |= footprint_in_main(&view.routes, &c);
        assert!(rule && copy, "state lost: the footprint says on");
        view.take(&event(libc::RTM_DELROUTE, 0, Body::Route(m)), endpoint);
        copy |= footprint_in_main(&view.routes, &c);
        assert!(copy, "the old copy stayed on");
        assert!(!view.on(lost, &c), "the one rule: off as soon as the footprint is gone");
        assert!(view.on(ModeFiles { recorded: true, ..lost }, &c), "the record still counts");
    }
}
