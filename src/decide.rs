//! The decision, as pure functions: from what a tick observed (mode, health, the routes
//! and rules the kernel holds) to what should change. Nothing here does I/O, so every
//! rule of DESIGN.md's "Semantics" is unit-tested here without root.

use std::collections::BTreeSet;
use std::fmt;

use crate::config::Config;
use crate::netlink::link::Link;
use crate::netlink::route::{AddMode, Route, DEFAULT, RT_TABLE_MAIN};
use crate::netlink::rule::{Rule, FR_ACT_TO_TBL};

/// The tables the seed script always looked at.
pub const SEED_TABLES: [u32; 4] = [10, 201, 202, 210];

/// Why the primary WAN is not healthy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unhealthy {
    Missing,
    AdminDown,
    NoCarrier,
    GatewaySilent,
    LoadBalancer(String),
}

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unhealthy::Missing => f.write_str("interface does not exist"),
            Unhealthy::AdminDown => f.write_str("administratively down"),
            Unhealthy::NoCarrier => f.write_str("no carrier"),
            Unhealthy::GatewaySilent => f.write_str("gateway does not answer"),
            Unhealthy::LoadBalancer(s) => write!(f, "load balancer reports it {s}"),
        }
    }
}

/// The link part of "primary healthy": up and with a carrier.
pub fn link_health(link: Option<&Link>) -> Result<(), Unhealthy> {
    match link {
        None => Err(Unhealthy::Missing),
        Some(l) if !l.admin_up => Err(Unhealthy::AdminDown),
        Some(l) if !l.lower_up => Err(Unhealthy::NoCarrier),
        Some(_) => Ok(()),
    }
}

/// What a tick does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Primary healthy, failsafe off.
    Nothing,
    /// Primary healthy, failsafe off, but an interrupted activation left routes or rules
    /// in the journal: take them back.
    Cleanup,
    /// Primary unhealthy, failsafe off.
    Activate,
    /// Primary unhealthy, failsafe on: repair drift (steps 1, 5, 6).
    Reassert,
    /// Primary healthy, failsafe on.
    Deactivate,
}

/// The failsafe counts as on when the state file says so, or a snapshot exists (an
/// interrupted activation), or `main` holds the tunnel default (state lost).
pub fn failsafe_on(recorded: bool, snapshot_exists: bool, main_has_tunnel_default: bool) -> bool {
    recorded || snapshot_exists || main_has_tunnel_default
}

pub fn decide(failsafe_on: bool, primary_healthy: bool, journal_leftovers: bool) -> Action {
    match (failsafe_on, primary_healthy) {
        (false, true) if journal_leftovers => Action::Cleanup,
        (false, true) => Action::Nothing,
        (false, false) => Action::Activate,
        (true, false) => Action::Reassert,
        (true, true) => Action::Deactivate,
    }
}

/// One change to the kernel's tables, printed in `ip` words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    AddRoute(Route, AddMode),
    DelRoute(Route),
    AddRule(Rule),
    DelRule(Rule),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::AddRoute(r, AddMode::Exclusive) => write!(f, "ip route add {r}"),
            Change::AddRoute(r, AddMode::Append) => write!(f, "ip route append {r}"),
            Change::DelRoute(r) => write!(f, "ip route del {r}"),
            Change::AddRule(r) => write!(f, "ip rule add {r}"),
            Change::DelRule(r) => write!(f, "ip rule del {r}"),
        }
    }
}

/// The routes activation owns, built from the configuration.
pub struct Ours<'a>(pub &'a Config);

impl Ours<'_> {
    /// Step 1: `WG_ENDPOINT/32 via BACKUP_GW dev BACKUP_DEV metric METRIC_BACKUP-10`.
    pub fn endpoint_route(&self) -> Route {
        let c = self.0;
        let dst = crate::config::Ipv4Net { addr: c.wg_endpoint, len: 32 };
        Route::via(RT_TABLE_MAIN, dst, c.backup_gw, &c.backup_dev, c.metric_endpoint())
    }

    /// Step 5: `default via WG_PEER_IP dev WG_IFACE metric METRIC_WG table <table>`.
    pub fn tunnel_default(&self, table: u32) -> Route {
        let c = self.0;
        Route::via(table, DEFAULT, c.wg_peer_ip, &c.wg_iface, c.metric_wg)
    }

    /// The fallback of deactivation when the snapshot is lost.
    pub fn primary_default(&self, table: u32) -> Route {
        let c = self.0;
        Route::via(table, DEFAULT, c.primary_gw, &c.primary_dev, c.metric_primary)
    }

    /// Step 6: the rules that send LAN and marked traffic to `main`, given the rules the
    /// kernel holds and the managed tables.
    pub fn lan_rules(&self, rules: &[Rule], managed: &BTreeSet<u32>) -> Vec<Rule> {
        let c = self.0;
        let mut out: Vec<Rule> =
            c.lan_subnets.iter().map(|net| Rule::from_src(c.lan_rule_priority, *net, RT_TABLE_MAIN)).collect();
        for r in rules {
            let Some((mark, mask)) = r.fwmark else { continue };
            let leads_to_policy_table =
                r.action == FR_ACT_TO_TBL && r.table != RT_TABLE_MAIN && managed.contains(&r.table);
            let rule = Rule::from_fwmark(c.lan_rule_priority, mark, mask, RT_TABLE_MAIN);
            if leads_to_policy_table && !out.contains(&rule) {
                out.push(rule);
            }
        }
        out
    }
}

/// Tables worth looking at for default routes: every table an IPv4 rule looks up (1 to
/// 252), the seed's tables, and POLICY_TABLES.
pub fn candidate_tables(rules: &[Rule], explicit: Option<&[u32]>) -> BTreeSet<u32> {
    let mut t: BTreeSet<u32> = SEED_TABLES.into_iter().collect();
    t.extend(rules.iter().filter(|r| r.action == FR_ACT_TO_TBL && (1..=252).contains(&r.table)).map(|r| r.table));
    t.extend(explicit.unwrap_or_default());
    t.insert(RT_TABLE_MAIN);
    t
}

/// The snapshot of step 4: every IPv4 default route of `main` and of each candidate
/// table that holds one. `main` is managed even without a default.
pub fn snapshot(routes: &[Route], candidates: &BTreeSet<u32>) -> Vec<Route> {
    routes.iter().filter(|r| r.is_default() && candidates.contains(&r.table)).cloned().collect()
}

/// The managed tables of a snapshot: `main` and every table it holds a route of.
pub fn managed_tables(snapshot: &[Route]) -> BTreeSet<u32> {
    let mut t: BTreeSet<u32> = snapshot.iter().map(|r| r.table).collect();
    t.insert(RT_TABLE_MAIN);
    t
}

/// The default routes of one table.
pub fn defaults_of(routes: &[Route], table: u32) -> impl Iterator<Item = &Route> {
    routes.iter().filter(move |r| r.table == table && r.is_default())
}

/// Step 5 for one table: make `tunnel` the default the kernel uses. A default with a
/// TOS wins for its TOS whatever its metric; one with a metric at or below the tunnel's
/// wins (or, at the same metric, blocks the tunnel route from being added). Those are
/// removed; the rest (backup defaults with higher metrics) stay. The tunnel route goes
/// in before the other winners go, so the table never lacks a default.
pub fn move_to_tunnel(current: &[Route], tunnel: &Route) -> Vec<Change> {
    let table_defaults: Vec<&Route> = defaults_of(current, tunnel.table).collect();
    let wins = |r: &&&Route| !r.same_path(tunnel) && (r.tos != 0 || r.metric <= tunnel.metric);
    let mut plan: Vec<Change> = table_defaults
        .iter()
        .filter(wins)
        .filter(|r| r.same_key(tunnel))
        .map(|r| Change::DelRoute((*r).clone()))
        .collect();
    if !table_defaults.iter().any(|r| r.same_path(tunnel)) {
        plan.push(Change::AddRoute(tunnel.clone(), AddMode::Exclusive));
    }
    plan.extend(
        table_defaults.iter().filter(wins).filter(|r| !r.same_key(tunnel)).map(|r| Change::DelRoute((*r).clone())),
    );
    plan
}

/// Step 2 of deactivation for one table: put back each saved route the table lacks
/// (before anything is deleted), then delete the routes activation added there.
///
/// Only an owned route that shares its key with a saved one (activation replaced a
/// default of the tunnel's metric) goes first, since the kernel would refuse the saved
/// route beside it. A saved route whose key is taken by a route that is not ours (the
/// load balancer re-added its own) is left to that route: it is not ours to replace.
/// Routes that shared a key in the snapshot are appended in their saved order.
pub fn restore_table(current: &[Route], saved: &[Route], owned: &[Route]) -> Vec<Change> {
    let (blocking, rest): (Vec<&Route>, Vec<&Route>) =
        owned.iter().filter(|o| current.contains(o)).partition(|o| saved.iter().any(|s| s.same_key(o) && s != *o));
    let mut plan: Vec<Change> = blocking.into_iter().map(|o| Change::DelRoute(o.clone())).collect();
    for (i, s) in saved.iter().enumerate() {
        if current.contains(s) {
            continue;
        }
        let mode = if saved[..i].iter().any(|earlier| earlier.same_key(s)) {
            AddMode::Append
        } else if current.iter().any(|c| c.same_key(s) && !owned.contains(c)) {
            continue;
        } else {
            AddMode::Exclusive
        };
        plan.push(Change::AddRoute(s.clone(), mode));
    }
    plan.extend(rest.into_iter().map(|o| Change::DelRoute(o.clone())));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::path::Path;

    fn cfg() -> Config {
        parse(
            Path::new("/t.conf"),
            "WG_PEER_IP=10.11.0.1\nWG_ENDPOINT=203.0.113.10\nPRIMARY_DEV=eth0\nPRIMARY_GW=192.168.1.1\nBACKUP_DEV=eth1\nBACKUP_GW=192.168.2.1\nLAN_SUBNET=192.168.10.0/24 192.168.30.0/24\n",
        )
        .expect("valid config")
    }

    fn r(s: &str) -> Route {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn rule(s: &str) -> Rule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn words(plan: &[Change]) -> Vec<String> {
        plan.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn decision_table() {
        assert_eq!(decide(false, true, false), Action::Nothing);
        assert_eq!(decide(false, true, true), Action::Cleanup);
        assert_eq!(decide(false, false, false), Action::Activate);
        assert_eq!(decide(false, false, true), Action::Activate);
        assert_eq!(decide(true, false, false), Action::Reassert);
        assert_eq!(decide(true, true, true), Action::Deactivate);
        assert!(!failsafe_on(false, false, false));
        assert!(failsafe_on(false, true, false) && failsafe_on(false, false, true) && failsafe_on(true, false, false));
    }

    #[test]
    fn link_health_checks_admin_state_then_carrier() {
        let mut l = Link { index: 2, name: "eth0".into(), admin_up: true, lower_up: true };
        assert_eq!(link_health(Some(&l)), Ok(()));
        l.lower_up = false;
        assert_eq!(link_health(Some(&l)), Err(Unhealthy::NoCarrier));
        l.admin_up = false;
        assert_eq!(link_health(Some(&l)), Err(Unhealthy::AdminDown));
        assert_eq!(link_health(None), Err(Unhealthy::Missing));
    }

    #[test]
    fn our_routes() {
        let c = cfg();
        let o = Ours(&c);
        assert_eq!(
            o.endpoint_route().to_string(),
            "203.0.113.10 via 192.168.2.1 dev eth1 table main proto static metric 190"
        );
        assert_eq!(o.tunnel_default(201).to_string(), "default via 10.11.0.1 dev wg0 table 201 proto static metric 40");
        assert_eq!(
            o.primary_default(254).to_string(),
            "default via 192.168.1.1 dev eth0 table main proto static metric 100"
        );
    }

    #[test]
    fn candidates_and_snapshot() {
        let rules = [
            rule("priority 101 fwmark 0x65 lookup 201"),
            rule("priority 102 fwmark 0x66 lookup 202"),
            rule("priority 103 fwmark 0x100/0xf00 lookup 77"),
            rule("priority 32766 lookup main"),
            rule("priority 32767 lookup default"),
            rule("priority 0 lookup local"),
        ];
        let cand = candidate_tables(&rules, Some(&[1000]));
        assert_eq!(cand.iter().copied().collect::<Vec<_>>(), [10, 77, 201, 202, 210, 254, 1000]);
        let routes = [
            r("default via 192.168.1.1 dev eth0 table main proto static metric 100"),
            r("default via 192.168.2.1 dev eth1 table main proto static metric 200"),
            r("192.168.1.0/24 dev eth0 table main proto kernel scope link src 192.168.1.2"),
            r("default via 192.168.1.1 dev eth0 table 201 proto static"),
            r("default via 192.168.2.1 dev eth1 table 1000 proto static"),
            r("default via 192.168.2.1 dev eth1 table 300 proto static"),
            r("10.0.0.0/8 via 192.168.2.1 dev eth1 table 202 proto static"),
        ];
        let snap = snapshot(&routes, &cand);
        assert_eq!(snap.len(), 4, "main's two defaults, 201 and 1000; not 300 (no rule), not 202 (no default)");
        assert_eq!(managed_tables(&snap).into_iter().collect::<Vec<_>>(), [201, 254, 1000]);
        assert_eq!(managed_tables(&[]).into_iter().collect::<Vec<_>>(), [254], "main is always managed");
    }

    #[test]
    fn lan_rules_cover_subnets_and_marks_of_managed_tables_once() {
        let c = cfg();
        let rules = [
            rule("priority 101 fwmark 0x65 lookup 201"),
            rule("priority 102 fwmark 0x66 lookup 202"),
            rule("priority 103 fwmark 0x100/0xf00 lookup 10"),
            rule("priority 104 fwmark 0x65 lookup 201"),
            rule("priority 105 fwmark 0x99 lookup 77"),
            rule("priority 106 fwmark 0x7 lookup main"),
        ];
        let managed: BTreeSet<u32> = [10, 201, 202, 254].into_iter().collect();
        let got: Vec<String> = Ours(&c).lan_rules(&rules, &managed).iter().map(|r| r.to_string()).collect();
        assert_eq!(
            got,
            [
                "priority 69 from 192.168.10.0/24 lookup main",
                "priority 69 from 192.168.30.0/24 lookup main",
                "priority 69 fwmark 0x65 lookup main",
                "priority 69 fwmark 0x66 lookup main",
                "priority 69 fwmark 0x100/0xf00 lookup main",
            ]
        );
    }

    #[test]
    fn lower_metric_defaults_are_removed_after_the_tunnel_route_is_in() {
        let c = cfg();
        let current = [
            r("default via 192.168.1.1 dev eth0 table 201 proto static"),
            r("default via 192.168.2.1 dev eth1 table 201 proto static metric 300"),
            r("default via 192.168.1.1 dev eth0 table 202 proto static"),
        ];
        assert_eq!(
            words(&move_to_tunnel(&current, &Ours(&c).tunnel_default(201))),
            [
                "ip route add default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
                "ip route del default via 192.168.1.1 dev eth0 table 201 proto static",
            ]
        );
    }

    #[test]
    fn main_keeps_its_higher_metric_defaults() {
        let c = cfg();
        let current = [
            r("default via 192.168.1.1 dev eth0 table main proto static metric 100"),
            r("default via 192.168.2.1 dev eth1 table main proto static metric 200"),
        ];
        assert_eq!(
            words(&move_to_tunnel(&current, &Ours(&c).tunnel_default(254))),
            ["ip route add default via 10.11.0.1 dev wg0 table main proto static metric 40"]
        );
    }

    #[test]
    fn tos_and_same_metric_defaults_win_and_are_removed_same_key_first() {
        let c = cfg();
        let current = [
            r("default via 192.168.1.1 dev eth0 table main proto static metric 40"),
            r("default tos 0x10 via 192.168.1.1 dev eth0 table main proto static metric 500"),
            r("unreachable default table main proto boot metric 10"),
        ];
        assert_eq!(
            words(&move_to_tunnel(&current, &Ours(&c).tunnel_default(254))),
            [
                "ip route del default via 192.168.1.1 dev eth0 table main proto static metric 40",
                "ip route add default via 10.11.0.1 dev wg0 table main proto static metric 40",
                "ip route del default tos 0x10 via 192.168.1.1 dev eth0 table main proto static metric 500",
                "ip route del unreachable default table main proto boot metric 10",
            ]
        );
    }

    #[test]
    fn moving_again_changes_nothing() {
        let c = cfg();
        let current = [
            r("default via 10.11.0.1 dev wg0 table 201 proto static metric 40"),
            r("default via 192.168.2.1 dev eth1 table 201 proto static metric 300"),
        ];
        assert!(move_to_tunnel(&current, &Ours(&c).tunnel_default(201)).is_empty());
        // The tunnel route added by hand with another protocol counts as present.
        let by_hand = [r("default via 10.11.0.1 dev wg0 table 201 proto boot metric 40")];
        assert!(move_to_tunnel(&by_hand, &Ours(&c).tunnel_default(201)).is_empty());
    }

    #[test]
    fn restore_puts_saved_routes_back_before_deleting_ours() {
        let c = cfg();
        let tunnel = Ours(&c).tunnel_default(201);
        let saved = [r("default via 192.168.1.1 dev eth0 table 201 proto static")];
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
        let tunnel = Ours(&c).tunnel_default(254);
        let saved = [
            r("default via 192.168.1.1 dev eth0 table main proto static metric 100"),
            r("default via 192.168.2.1 dev eth1 table main proto static metric 200"),
        ];
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
    fn restore_leaves_a_route_the_load_balancer_put_back_itself() {
        let saved = [r("default via 192.168.1.1 dev eth0 table 201 proto static")];
        let lb = r("default via 192.168.1.1 dev eth0 table 201 proto boot");
        assert!(restore_table(&[lb], &saved, &[]).is_empty());
    }

    #[test]
    fn restore_appends_routes_that_shared_a_key() {
        let saved = [
            r("default via 192.168.1.1 dev eth0 table 201 proto static"),
            r("default via 192.168.2.1 dev eth1 table 201 proto static"),
        ];
        assert_eq!(
            words(&restore_table(&[], &saved, &[])),
            [
                "ip route add default via 192.168.1.1 dev eth0 table 201 proto static",
                "ip route append default via 192.168.2.1 dev eth1 table 201 proto static",
            ]
        );
    }

    #[test]
    fn a_same_key_owned_route_goes_first() {
        let c = cfg();
        let tunnel = Ours(&c).tunnel_default(254);
        let saved = [r("default via 192.168.1.1 dev eth0 table main proto static metric 40")];
        assert_eq!(
            words(&restore_table(std::slice::from_ref(&tunnel), &saved, std::slice::from_ref(&tunnel))),
            [
                "ip route del default via 10.11.0.1 dev wg0 table main proto static metric 40",
                "ip route add default via 192.168.1.1 dev eth0 table main proto static metric 40",
            ]
        );
    }
}
