//! Whose a default route is, and so what comes back at failback (DESIGN.md, "While
//! active"): pure functions from the snapshot, the defaults as last seen healthy and what
//! a round observes, to the snapshot to keep and the changes to make. The failsafe gives
//! back what each owner installed and nothing that the outage itself caused:
//!
//! | a default that appears while active            | whose                  | fate                      |
//! |------------------------------------------------|------------------------|---------------------------|
//! | the very route the snapshot holds              | its owner re-imposing  | removed again, quietly    |
//! | same key (table, metric), same device as saved | its owner renewing it  | replaces the saved one    |
//! | same key as saved, another device              | its owner's failover   | moved aside, not restored |
//! | a new key through PRIMARY_DEV                  | the primary's owner    | restored beside the saved |
//! | a new key through another device               | the outage's own       | moved aside, not restored |
//!
//! The same rule reads the snapshot itself: taken after the load balancer or zebra had
//! already failed a table over, or after the primary's device vanished with its defaults,
//! it is made good from the defaults as last seen healthy ([`made_good`]).

#![forbid(unsafe_code)]

use crate::config::Config;
use crate::decide::{
    candidate_tables, defaults_of, leaves_via, managed_tables, routes_where, snapshot_of, wins, Change,
};
use crate::netlink::route::{AddMode, Route};
use crate::netlink::rule::Rule;
use crate::state::Snapshot;

/// Whose a default is that appeared in a managed table while the failsafe is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The snapshot holds this very route: its owner re-imposed it (the load balancer
    /// does every few seconds). Removed again, without a log line after the first.
    Saved,
    /// Same key and device as the saved default at this index: its owner renewed it (a
    /// DHCP client or pppd reconnecting, zebra re-installing), perhaps with a new gateway.
    /// It replaces the saved one: what comes back is the owner's latest.
    Renewed(usize),
    /// Same key as a saved default, another device: its owner failed the table over (the
    /// load balancer pointing the primary's table at the backup, zebra choosing the next
    /// distance). Moved aside while active, never restored: the saved one comes back.
    FailedOver,
    /// A new key through PRIMARY_DEV: the primary's owner added it (a DHCP client with
    /// another metric). Restored beside the saved ones.
    Primary,
    /// A new key through any other device: the outage's own (a manual workaround, another
    /// failover script). Moved aside while active, never restored.
    Outage,
}

/// Judges `r` against the saved defaults by its key and its devices.
pub fn owner(r: &Route, saved: &[Route], primary_dev: &str) -> Owner {
    if saved.iter().any(|s| s.same_path(r)) {
        return Owner::Saved;
    }
    let same_devices = |s: &Route| s.devices().eq(r.devices());
    if let Some(i) = saved.iter().position(|s| s.same_key(r) && same_devices(s)) {
        return Owner::Renewed(i);
    }
    if saved.iter().any(|s| s.same_key(r)) {
        return Owner::FailedOver;
    }
    if through_only(r, primary_dev) {
        Owner::Primary
    } else {
        Owner::Outage
    }
}

/// Every device `r` leaves through is `dev`.
fn through_only(r: &Route, dev: &str) -> bool {
    r.devices().next().is_some() && r.devices().all(|d| d == dev)
}

/// What a round while active found in the managed tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Absorbed {
    /// The snapshot with this round's judgements in it (rewritten when it differs).
    pub snapshot: Snapshot,
    /// Defaults that appeared and now come back at failback (renewed, or new through
    /// PRIMARY_DEV).
    pub appeared: Vec<Route>,
    /// Defaults that appeared and are moved aside for good, first seen this round.
    pub aside: Vec<Route>,
    /// Winning defaults removed again without a log line: the snapshot's own re-imposed,
    /// or ones already set aside.
    pub reimposed: Vec<Route>,
}

/// One round while active: every winning default of a managed table that is not ours
/// (`ours`) nor the kernel's own is judged by [`owner`] and the snapshot follows. A
/// candidate table that has gained a default through PRIMARY_DEV or BACKUP_DEV (a PPPoE
/// interface that came back and its table re-filled) becomes managed; its defaults are
/// judged the same way.
pub fn absorb(
    snapshot: &Snapshot,
    routes: &[Route],
    rules: &[Rule],
    cfg: &Config,
    ours: impl Fn(&Route) -> bool,
) -> Absorbed {
    let mut out = Absorbed { snapshot: snapshot.clone(), ..Absorbed::default() };
    let devs = [cfg.primary_dev.as_str(), cfg.backup_dev.as_str()];
    // Newly managed tables: every default of theirs is new; only the primary's owner's
    // come back (winning or not: they were not there at activation).
    for v6 in [false, true] {
        for t in candidate_tables(v6, rules, cfg.policy_tables.as_deref()) {
            if out.snapshot.tables_of(v6).contains(&t) {
                continue;
            }
            let theirs: Vec<&Route> = defaults_of(routes, v6, t).filter(|r| !ours(r) && !r.kernel_managed()).collect();
            if theirs.iter().any(|r| leaves_via(r, devs)) {
                out.snapshot.tables_mut(v6).insert(t);
                for r in theirs.into_iter().filter(|r| through_only(r, &cfg.primary_dev)) {
                    out.snapshot.routes.push(r.clone());
                    out.appeared.push(r.clone());
                }
            }
        }
    }
    // The winners (the loop adds no table, so each is judged against the same tables).
    for r in routes {
        let managed = out.snapshot.tables_of(r.is_v6()).contains(&r.table);
        let winner = managed && wins(r, cfg.metric_of(r.is_v6())) && !r.kernel_managed() && !ours(r);
        if !winner || out.appeared.contains(r) {
            continue;
        }
        match owner(r, &out.snapshot.routes, &cfg.primary_dev) {
            Owner::Saved => out.reimposed.push(r.clone()),
            Owner::Renewed(i) => {
                out.snapshot.routes[i] = r.clone();
                out.appeared.push(r.clone());
            }
            Owner::Primary => {
                out.snapshot.routes.push(r.clone());
                out.appeared.push(r.clone());
            }
            Owner::FailedOver | Owner::Outage if out.snapshot.aside.iter().any(|a| a.same_path(r)) => {
                out.reimposed.push(r.clone())
            }
            Owner::FailedOver | Owner::Outage => {
                out.snapshot.aside.push(r.clone());
                out.aside.push(r.clone());
            }
        }
    }
    out
}

/// The managed tables' IPv4 defaults as a healthy round sees them (failsafe off, the
/// primary passing): what [`made_good`] reads at the next activation. IPv6's defaults
/// through a WAN come from router advertisements, which the kernel keeps for itself.
pub fn last_seen_healthy(routes: &[Route], rules: &[Rule], cfg: &Config) -> Snapshot {
    let v4 = routes_where(routes, &|r| !r.is_v6());
    snapshot_of(&v4, managed_tables(false, &v4, rules, cfg), Default::default())
}

/// The snapshot of activation's step 4 made good from the defaults as last seen healthy:
/// - a saved default whose key held, when healthy, a default through another device is
///   an owner's failover made before the snapshot (the load balancer, zebra): the
///   healthy one takes its place, and it is moved aside;
/// - with PRIMARY_DEV gone (`primary_present` false: a PPPoE session that dropped, and
///   the kernel flushed its defaults), each default it had when healthy and whose key
///   the snapshot lacks is put back in, its table managed: pppd will not add one while
///   the failsafe's is in `main`, so nothing else would.
pub fn made_good(
    mut snapshot: Snapshot,
    healthy: Option<&Snapshot>,
    primary_present: bool,
    primary_dev: &str,
) -> Snapshot {
    let Some(healthy) = healthy else { return snapshot };
    let saved = snapshot.routes.clone();
    for s in snapshot.routes.iter_mut().filter(|s| !s.is_v6()) {
        // A failover only when healthy days knew neither this route nor any other at its
        // key through its devices (routes that share a key, appended, stay as they are),
        // and held one there through other devices that the snapshot lacks.
        let known = healthy.routes.iter().any(|h| h.same_key(s) && h.devices().eq(s.devices()));
        let before = healthy
            .routes
            .iter()
            .find(|h| h.same_key(s) && !h.devices().eq(s.devices()) && !saved.iter().any(|x| x.same_path(h)));
        if let (false, Some(h)) = (known, before) {
            snapshot.aside.push(std::mem::replace(s, h.clone()));
        }
    }
    if !primary_present {
        for h in healthy.routes.iter().filter(|h| !h.is_v6() && through_only(h, primary_dev)) {
            if !snapshot.routes.iter().any(|s| s.same_key(h)) {
                snapshot.tables.insert(h.table);
                snapshot.routes.push(h.clone());
            }
        }
    }
    snapshot
}

/// Step 2 of deactivation for one table: put back each saved route the table lacks
/// (before anything is deleted), then delete the routes activation added there.
///
/// Only an owned route that shares its key with a saved one (activation replaced a
/// default of the tunnel's metric) goes first, since the kernel would refuse the saved
/// route beside it. A saved route whose key is held by a route that is not ours through
/// the same devices is left to it (its owner renewed it); one through other devices is an
/// owner's failover still in place, and the saved route replaces it. Routes that shared
/// a key in the snapshot are appended in their saved order.
pub fn restore_table(current: &[Route], saved: &[Route], owned: &[Route]) -> Vec<Change> {
    // Ours there, and whether it holds a saved route's key.
    let blocking = |o: &Route| saved.iter().any(|s| s.same_key(o) && s != o);
    let mut plan = Vec::new();
    for o in owned {
        if current.contains(o) && blocking(o) {
            plan.push(Change::DelRoute(o.clone()));
        }
    }
    for (i, s) in saved.iter().enumerate() {
        if current.iter().any(|c| c.same_path(s)) {
            continue;
        }
        let holder = current.iter().find(|c| c.same_key(s) && !owned.contains(c));
        let mode = if saved[..i].iter().any(|earlier| earlier.same_key(s)) {
            AddMode::Append
        } else {
            match holder {
                Some(h) if h.devices().eq(s.devices()) => continue,
                Some(_) => AddMode::Replace,
                None => AddMode::Exclusive,
            }
        };
        plan.push(Change::AddRoute(s.clone(), mode));
    }
    for o in owned {
        if current.contains(o) && !blocking(o) {
            plan.push(Change::DelRoute(o.clone()));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    // The plans' own test vocabulary: the seed's configuration, routes and rules in `ip` words.
    use crate::decide::tests::{cfg, ours, r, routes, rule, words};

    fn snap(tables: &[u32], lines: &[&str]) -> Snapshot {
        Snapshot { tables: tables.iter().copied().collect(), routes: routes(lines), ..Snapshot::default() }
    }

    /// The seed's router, healthy: main via both WANs, the load balancer's 201 and 202.
    const HEALTHY: [&str; 4] = [
        "default via 192.168.1.1 dev eth0 table main proto static metric 100",
        "default via 192.168.2.1 dev eth1 table main proto static metric 200",
        "default via 192.168.1.1 dev eth0 table 201 proto static",
        "default via 192.168.2.1 dev eth1 table 202 proto static",
    ];

    #[test]
    fn the_ownership_rule_as_a_table() {
        let saved = routes(&HEALTHY);
        let cases: [(&str, Owner); 8] = [
            // The load balancer re-imposing its own, whatever the protocol it uses.
            ("default via 192.168.1.1 dev eth0 table 201 proto boot", Owner::Saved),
            // A new DHCP lease with another gateway: same key, same device.
            ("default via 192.168.1.254 dev eth0 table main proto dhcp metric 100", Owner::Renewed(0)),
            ("default via 192.168.2.254 dev eth1 table main proto dhcp metric 200", Owner::Renewed(1)),
            // The load balancer (or a script) pointing the primary's table at the backup.
            ("default via 192.168.2.1 dev eth1 table 201 proto static", Owner::FailedOver),
            // zebra's next distance at the primary's key (it installs every route at 20,
            // so in a zebra-owned main both WANs share one key).
            ("default via 192.168.2.1 dev eth1 table main proto zebra metric 100", Owner::FailedOver),
            // The primary's DHCP client with a metric of its own.
            ("default via 192.168.1.1 dev eth0 table main proto dhcp metric 5", Owner::Primary),
            // A workaround through the backup, and another VPN: the outage's own.
            ("default via 192.168.2.1 dev eth1 table main proto static metric 10", Owner::Outage),
            ("default dev tun9 table main proto static metric 1", Owner::Outage),
        ];
        for (route, want) in cases {
            assert_eq!(owner(&r(route), &saved, "eth0"), want, "{route}");
        }
    }

    #[test]
    fn a_round_while_active_keeps_the_owners_routes_and_sets_the_outages_aside() {
        let c = cfg();
        let o = ours(&c);
        let is_ours = |r: &Route| o.is_target(r) || r.same_path(&o.endpoint_route());
        let saved = snap(&[201, 202, 254], &HEALTHY);
        let now = routes(&[
            "default via 10.11.0.1 dev wg0 table main proto static metric 40",
            // A new DHCP lease on the primary: it does not win over the tunnel (metric 100),
            // so it is left alone and failback leaves it to its owner (see restore_table).
            "default via 192.168.1.254 dev eth0 table main proto dhcp metric 100",
            "default via 192.168.2.1 dev eth1 table main proto static metric 200",
            // A workaround at metric 5 through the backup: set aside.
            "default via 192.168.2.1 dev eth1 table main proto static metric 5",
            // The primary's client with a metric of its own: comes back.
            "default via 192.168.1.1 dev eth0 table main proto dhcp metric 7",
            // The load balancer fails 201 over to the backup: set aside.
            "default via 192.168.2.1 dev eth1 table 201 proto static",
            "default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
            // ... and re-imposes 202's own: repaired quietly.
            "default via 192.168.2.1 dev eth1 table 202 proto boot",
            "default via 10.11.0.1 dev wg0 table 202 proto static metric 40",
        ]);
        let a = absorb(&saved, &now, &[rule("priority 101 fwmark 0x65 lookup 201")], &c, is_ours);
        assert_eq!(
            a.snapshot.routes,
            routes(&[
                HEALTHY[0],
                "default via 192.168.2.1 dev eth1 table main proto static metric 200",
                "default via 192.168.1.1 dev eth0 table 201 proto static",
                "default via 192.168.2.1 dev eth1 table 202 proto static",
                "default via 192.168.1.1 dev eth0 table main proto dhcp metric 7",
            ])
        );
        let aside = routes(&[
            "default via 192.168.2.1 dev eth1 table main proto static metric 5",
            "default via 192.168.2.1 dev eth1 table 201 proto static",
        ]);
        assert_eq!((a.snapshot.aside.clone(), a.aside.clone()), (aside.clone(), aside.clone()));
        assert_eq!(a.appeared, routes(&["default via 192.168.1.1 dev eth0 table main proto dhcp metric 7"]));
        assert_eq!(a.reimposed, routes(&["default via 192.168.2.1 dev eth1 table 202 proto boot"]));
        let main_now: Vec<Route> = defaults_of(&now, false, 254).cloned().collect();
        let main_saved: Vec<Route> = defaults_of(&a.snapshot.routes, false, 254).cloned().collect();
        assert_eq!(
            words(&restore_table(&main_now, &main_saved, &main_now[..1])),
            ["ip route del default via 10.11.0.1 dev wg0 table main proto static metric 40"],
            "the new lease's route stays, the old one is not put back beside it"
        );
        // The next round: nothing new; what is set aside is removed again quietly.
        let again = absorb(&a.snapshot, &now, &[], &c, is_ours);
        assert_eq!(again.snapshot, a.snapshot);
        assert!(again.appeared.is_empty() && again.aside.is_empty());
        assert_eq!(again.reimposed.len(), 4, "both set aside, 202's own and the metric-7 default, saved now");
        // At failback: the owners' routes come back, the failover is replaced by the
        // saved route (the load balancer still holding it), the workaround stays out.
        let in_201 = routes(&[
            "default via 192.168.2.1 dev eth1 table 201 proto static",
            "default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
        ]);
        let saved_201: Vec<Route> = defaults_of(&again.snapshot.routes, false, 201).cloned().collect();
        assert_eq!(
            words(&restore_table(&in_201, &saved_201, &in_201[1..])),
            [
                "ip route replace default via 192.168.1.1 dev eth0 table 201 proto static",
                "ip route del default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
            ]
        );
    }

    #[test]
    fn a_table_refilled_during_the_outage_becomes_managed_with_the_primarys_defaults_only() {
        let c = cfg();
        let o = ours(&c);
        let is_ours = |r: &Route| r.same_path(&o.tunnel_default(r.table));
        let rules = [rule("priority 101 fwmark 0x65 lookup 201"), rule("priority 104 fwmark 0x300 lookup 100")];
        // Table 201 was empty at activation (pppoe gone); it is back via eth0, and a
        // script put a backup default there meanwhile. Table 100 is a kill switch.
        let now = routes(&[
            "default via 192.168.1.1 dev eth0 table 201 proto static",
            "default via 192.168.2.1 dev eth1 table 201 proto static metric 300",
            "unreachable default table 100 proto static",
        ]);
        let a = absorb(&snap(&[254], &[]), &now, &rules, &c, is_ours);
        assert_eq!(a.snapshot.tables.iter().copied().collect::<Vec<_>>(), [201, 254]);
        assert_eq!(a.snapshot.routes, now[..1].to_vec());
        assert!(a.reimposed.is_empty() && a.aside.is_empty(), "metric 300 does not win: left where it is");
    }

    #[test]
    fn a_snapshot_taken_after_a_failover_is_made_good_from_the_last_healthy_tables() {
        let healthy = snap(&[201, 202, 254], &HEALTHY);
        // The load balancer failed 201 over before the snapshot; zebra's main shows its
        // next distance at the primary's key.
        let late = snap(
            &[201, 202, 254],
            &[
                "default via 192.168.2.1 dev eth1 table main proto zebra metric 100",
                "default via 192.168.2.1 dev eth1 table main proto static metric 200",
                "default via 192.168.2.1 dev eth1 table 201 proto static",
                "default via 192.168.2.1 dev eth1 table 202 proto static",
            ],
        );
        let good = made_good(late, Some(&healthy), true, "eth0");
        assert_eq!(good.routes, routes(&HEALTHY));
        assert_eq!(
            good.aside,
            routes(&[
                "default via 192.168.2.1 dev eth1 table main proto zebra metric 100",
                "default via 192.168.2.1 dev eth1 table 201 proto static",
            ])
        );
        // Nothing known of healthy days: the snapshot as it is.
        let same = snap(&[254], &HEALTHY[1..2]);
        assert_eq!(made_good(same.clone(), None, false, "eth0"), same);
        // Two defaults that share a key (appended), as they were when healthy: untouched.
        let shared = snap(
            &[201],
            &[
                "default via 192.168.1.1 dev eth0 table 201 proto static",
                "default via 192.168.2.1 dev eth1 table 201 proto static",
            ],
        );
        assert_eq!(made_good(shared.clone(), Some(&shared), true, "eth0"), shared);
    }

    #[test]
    fn a_primary_device_that_vanished_gets_its_defaults_back_from_the_last_healthy_tables() {
        let healthy = snap(
            &[201, 254],
            &[
                "default dev ppp0 table main proto static metric 100 scope link",
                "default via 192.168.2.1 dev eth1 table main proto static metric 200",
                "default dev ppp0 table 201 proto static scope link",
            ],
        );
        // ppp0 gone, the kernel flushed its defaults; 201 is empty, so not managed.
        let flushed = snap(&[254], &["default via 192.168.2.1 dev eth1 table main proto static metric 200"]);
        let good = made_good(flushed.clone(), Some(&healthy), false, "ppp0");
        assert_eq!(good.tables.iter().copied().collect::<Vec<_>>(), [201, 254]);
        assert_eq!(
            good.routes,
            routes(&[
                "default via 192.168.2.1 dev eth1 table main proto static metric 200",
                "default dev ppp0 table main proto static metric 100 scope link",
                "default dev ppp0 table 201 proto static scope link",
            ])
        );
        assert!(good.aside.is_empty());
        // The device still there (an upstream outage): its owner keeps what it has.
        assert_eq!(made_good(flushed.clone(), Some(&healthy), true, "ppp0"), flushed);
    }

    #[test]
    fn healthy_tables_are_ipv4_defaults_of_managed_tables() {
        let c = cfg();
        let mut now = routes(&HEALTHY);
        now.push(r("::/0 via 2001:db8:1::1 dev eth0 table 201 proto static"));
        now.push(r("unreachable default table 100 proto static"));
        let rules = [rule("priority 101 fwmark 0x65 lookup 201"), rule("priority 104 fwmark 0x300 lookup 100")];
        let h = last_seen_healthy(&now, &rules, &c);
        assert_eq!(h, snap(&[201, 202, 254], &HEALTHY));
        assert!(h.tables6.is_empty());
    }

    #[test]
    fn restore_puts_saved_routes_back_before_deleting_ours() {
        let c = cfg();
        let tunnel = ours(&c).tunnel_default(201);
        let saved = routes(&["default via 192.168.1.1 dev eth0 table 201 proto static"]);
        let current = [tunnel.clone()];
        assert_eq!(
            words(&restore_table(&current, &saved, std::slice::from_ref(&tunnel))),
            [
                "ip route add default via 192.168.1.1 dev eth0 table 201 proto static",
                "ip route del default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
            ]
        );
        // Done already: nothing to do.
        assert!(restore_table(&saved, &saved, &[tunnel]).is_empty());
    }

    #[test]
    fn restore_never_deletes_what_it_did_not_add_nor_duplicates() {
        let c = cfg();
        let tunnel = ours(&c).tunnel_default(254);
        let saved = routes(&HEALTHY[..2]);
        // The backup default never left; a user route appeared meanwhile.
        let user = r("default via 192.168.3.1 dev eth1 table main proto static metric 300");
        let current = [tunnel.clone(), saved[1].clone(), user];
        assert_eq!(
            words(&restore_table(&current, &saved, &[tunnel])),
            [
                "ip route add default via 192.168.1.1 dev eth0 table main proto static metric 100",
                "ip route del default via 10.11.0.1 dev wg0 table main proto static metric 40",
            ]
        );
    }

    #[test]
    fn restore_leaves_a_route_its_owner_put_back_itself() {
        let saved = routes(&["default via 192.168.1.1 dev eth0 table 201 proto static"]);
        // The load balancer's own, or a renewal through the same device.
        for held in
            ["default via 192.168.1.1 dev eth0 table 201 proto boot", "default via 192.168.1.9 dev eth0 table 201"]
        {
            assert!(restore_table(&[r(held)], &saved, &[]).is_empty(), "{held}");
        }
    }

    #[test]
    fn restore_appends_routes_that_shared_a_key() {
        let saved = routes(&[
            "default via 192.168.1.1 dev eth0 table 201 proto static",
            "default via 192.168.2.1 dev eth1 table 201 proto static",
        ]);
        assert_eq!(
            words(&restore_table(&[], &saved, &[])),
            [
                "ip route add default via 192.168.1.1 dev eth0 table 201 proto static",
                "ip route append default via 192.168.2.1 dev eth1 table 201 proto static",
            ]
        );
    }

    /// Ours that blocks a saved route's key goes before the additions, the rest of ours
    /// after them, each in the order given (pinned when the partition became two loops).
    #[test]
    fn blocking_routes_of_ours_go_before_the_additions_and_the_rest_after() {
        let c = cfg();
        let o = ours(&c);
        let blocking = Route { metric: 0, ..o.tunnel_default(201) };
        let rest = o.tunnel_default(201);
        let gone = Route { metric: 7, ..o.tunnel_default(201) };
        let current = [rest.clone(), blocking.clone()];
        let saved = routes(&["default via 192.168.1.1 dev eth0 table 201 proto static"]);
        let owned = [rest.clone(), gone, blocking.clone()];
        assert_eq!(
            words(&restore_table(&current, &saved, &owned)),
            [
                format!("ip route del {blocking}"),
                "ip route add default via 192.168.1.1 dev eth0 table 201 proto static".into(),
                format!("ip route del {rest}"),
            ]
        );
    }

    #[test]
    fn a_same_key_owned_route_goes_first() {
        let c = cfg();
        let o = ours(&c);
        let tunnel = Route { metric: 0, ..o.tunnel_default(201) };
        let saved = routes(&["default via 192.168.1.1 dev eth0 table 201 proto static"]);
        assert_eq!(
            words(&restore_table(std::slice::from_ref(&tunnel), &saved, std::slice::from_ref(&tunnel))),
            [
                "ip route del default via 10.11.0.1 dev wg0 table 201 proto static",
                "ip route add default via 192.168.1.1 dev eth0 table 201 proto static",
            ]
        );
    }
}
