//! The journal taken back: from what activation wrote ahead ([`Owned`], newest last) and
//! what the kernel holds now, the ordered steps that undo it. One mapping for both who
//! take a journal back — deactivation (step 3, once step 2 has put every table's saved
//! defaults back) and the cleanup of an activation that stopped before its snapshot — so
//! that the two can no longer differ by accident; where they must differ (a default of
//! ours) the caller says which it is ([`Undoer`]) and the reason is written below.

#![forbid(unsafe_code)]

use crate::decide::{defaults_of, rule_deletion_safe};
use crate::model::{Change, Owned};
use crate::netlink::route::Route;
use crate::netlink::rule::Rule;

/// Who takes the journal back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undoer {
    /// Deactivation, after its step 2: every table has its saved defaults back and ours
    /// are gone already (or kept, and then deactivation gave up before step 3).
    Deactivation,
    /// An activation that stopped before its snapshot, taken back while the failsafe is
    /// off: no snapshot says what a table had.
    Cleanup,
}

/// One step of taking the journal back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Undo {
    /// Make this change.
    Apply(Change),
    /// A rule of ours left in place: deleting it would delete a user's rule at the same
    /// priority, listed first, instead (see `decide::rule_deletion_safe`). Told.
    RuleLeft(Rule),
    /// A default of ours left in place by a cleanup: its table holds no other default,
    /// and without a snapshot nothing says what to put back. Told.
    DefaultLeft(Route),
}

/// The steps that take `journal` back, newest first, given the kernel's routes and
/// rules now (`rules` in the kernel's order). What is not there (never added, or gone
/// with its device) is skipped: a rule because the kernel would delete another of the
/// same selectors instead, a route because its deletion is idempotent anyway (it stays in
/// the plan; the executor takes "no such route" as done).
///
/// A default route of ours is where the two undoers differ:
/// - deactivation leaves it out: step 2 has dealt with it table by table (the saved routes
///   go back before ours go, so no table is ever without a default);
/// - a cleanup deletes it only when its table holds another default that is not ours. A
///   journaled default means a snapshot was written (activation moves no table before
///   it) and has since been lost; deleting the only default would leave the table's
///   hosts without a route, which is worse than the tunnel's (or the backup's) default
///   staying, told.
///
/// A rule with a suppressor (a refusal's `… lookup main suppress_prefixlength 0`) goes
/// before the others: the kernel ignores a suppressor a deletion does not name, so the
/// deletion of the same rule without one (over the budget, the LAN's own `from <lan>
/// lookup main`) would take it, listed first. Each deletion is judged against the rules
/// the deletions before it leave.
pub fn undo_plan(journal: &[Owned], routes: &[Route], rules: &[Rule], by: Undoer) -> Vec<Undo> {
    let mut plan = Vec::new();
    let mut left: Vec<Rule> = rules.to_vec();
    let suppressor = |o: &Owned| matches!(o, Owned::Rule(r) if r.suppress_prefixlen.is_some());
    let mut order: Vec<&Owned> = Vec::new();
    for with_suppressor in [true, false] {
        for o in journal.iter().rev() {
            if suppressor(o) == with_suppressor {
                order.push(o);
            }
        }
    }
    for item in order {
        let step = match item {
            // Not there (an IPv6 rule a kernel without IPv6 policy routing refused, and
            // would refuse to delete too): nothing to take back.
            Owned::Rule(r) if !left.contains(r) => continue,
            Owned::Rule(r) if rule_deletion_safe(&left, r) => {
                left.retain(|x| x != r);
                Undo::Apply(Change::DelRule(r.clone()))
            }
            Owned::Rule(r) => Undo::RuleLeft(r.clone()),
            Owned::Route(r) if !r.is_default() => Undo::Apply(Change::DelRoute(r.clone())),
            Owned::Route(_) if by == Undoer::Deactivation => continue,
            Owned::Route(r) if !routes.contains(r) => continue,
            Owned::Route(r) => {
                match defaults_of(routes, r.is_v6(), r.table).any(|x| !crate::model::owns_path(journal, x)) {
                    true => Undo::Apply(Change::DelRoute(r.clone())),
                    false => Undo::DefaultLeft(r.clone()),
                }
            }
            Owned::LinkUp(dev) => Undo::Apply(Change::SetLink { dev: dev.clone(), up: false }),
            Owned::Peer(iface, p) => Undo::Apply(Change::SetPeer { iface: iface.clone(), peer: p.clone() }),
            // A table's own route, to be put back, not taken back (`failsafe::deactivate`).
            Owned::Unrestored(_) => continue,
        };
        plan.push(step);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::{r, rule};

    fn route(line: &str) -> Owned {
        Owned::Route(r(line))
    }

    /// The plan in words: changes as their commands, the rest named.
    fn words(plan: &[Undo]) -> Vec<String> {
        plan.iter()
            .map(|u| match u {
                Undo::Apply(c) => c.to_string(),
                Undo::RuleLeft(r) => format!("left rule {r}"),
                Undo::DefaultLeft(r) => format!("left route {r}"),
            })
            .collect()
    }

    const ENDPOINT: &str = "203.0.113.10 via 192.168.2.1 dev eth1 table main proto static metric 10";
    const TUNNEL_201: &str = "default via 10.11.0.1 dev wg0 table 201 proto static metric 40";
    const PRIMARY_201: &str = "default via 192.168.1.1 dev eth0 table 201 proto static metric 50";
    const LAN_RULE: &str = "priority 69 from 192.168.10.0/24 lookup main";

    #[test]
    fn the_journal_is_taken_back_newest_first_and_the_two_undoers_differ_only_on_defaults() {
        let journal =
            vec![route(ENDPOINT), Owned::LinkUp("wg0".into()), Owned::Rule(rule(LAN_RULE)), route(TUNNEL_201)];
        let rules = vec![rule(LAN_RULE)];
        // (undoer, the table's defaults now, the plan)
        let table: [(Undoer, &[&str], &[String]); 4] = [
            // Deactivation: step 2 has dealt with the default already.
            (
                Undoer::Deactivation,
                &[TUNNEL_201],
                &[
                    format!("ip rule del {}", rule(LAN_RULE)),
                    "ip link set wg0 down".into(),
                    format!("ip route del {}", r(ENDPOINT)),
                ],
            ),
            // Cleanup, with the table's own default beside ours: ours goes.
            (
                Undoer::Cleanup,
                &[TUNNEL_201, PRIMARY_201],
                &[
                    format!("ip route del {}", r(TUNNEL_201)),
                    format!("ip rule del {}", rule(LAN_RULE)),
                    "ip link set wg0 down".into(),
                    format!("ip route del {}", r(ENDPOINT)),
                ],
            ),
            // Cleanup, ours the table's only default: left, told.
            (
                Undoer::Cleanup,
                &[TUNNEL_201],
                &[
                    format!("left route {}", r(TUNNEL_201)),
                    format!("ip rule del {}", rule(LAN_RULE)),
                    "ip link set wg0 down".into(),
                    format!("ip route del {}", r(ENDPOINT)),
                ],
            ),
            // Cleanup, ours already gone: nothing to do for it.
            (
                Undoer::Cleanup,
                &[PRIMARY_201],
                &[
                    format!("ip rule del {}", rule(LAN_RULE)),
                    "ip link set wg0 down".into(),
                    format!("ip route del {}", r(ENDPOINT)),
                ],
            ),
        ];
        for (by, defaults, want) in table {
            let mut routes: Vec<Route> = defaults.iter().map(|l| r(l)).collect();
            routes.push(r(ENDPOINT));
            assert_eq!(words(&undo_plan(&journal, &routes, &rules, by)), want, "{by:?} over {defaults:?}");
        }
    }

    /// Suppressors go first, and each group newest first: the order the journal and the
    /// kernel see (pinned when the partition became two passes, issue 16).
    #[test]
    fn suppressors_are_taken_back_first_and_each_group_newest_first() {
        let lan = rule(LAN_RULE);
        let s10 = rule("priority 69 from 192.168.10.0/24 lookup main suppress_prefixlength 0");
        let s30 = rule("priority 69 from 192.168.30.0/24 lookup main suppress_prefixlength 0");
        let journal = vec![
            Owned::Rule(s30.clone()),
            Owned::LinkUp("wg0".into()),
            Owned::Rule(s10.clone()),
            Owned::Rule(lan.clone()),
            route(ENDPOINT),
        ];
        let rules = [s30.clone(), s10.clone(), lan.clone()];
        assert_eq!(
            words(&undo_plan(&journal, &[r(ENDPOINT)], &rules, Undoer::Deactivation)),
            [
                format!("ip rule del {s10}"),
                format!("ip rule del {s30}"),
                format!("ip route del {}", r(ENDPOINT)),
                format!("ip rule del {lan}"),
                "ip link set wg0 down".into(),
            ]
        );
    }

    #[test]
    fn a_rule_is_taken_back_only_when_there_and_the_kernel_would_delete_ours() {
        let ours = rule(LAN_RULE);
        let journal = vec![Owned::Rule(ours.clone())];
        // A user's rule at the same priority with an extra selector, listed first: a
        // deletion by our selectors would take it instead.
        let users = rule("priority 69 from 192.168.10.0/24 fwmark 0x1 lookup main");
        for by in [Undoer::Deactivation, Undoer::Cleanup] {
            assert_eq!(undo_plan(&journal, &[], &[], by), [], "absent: {by:?}");
            assert_eq!(
                undo_plan(&journal, &[], std::slice::from_ref(&ours), by),
                [Undo::Apply(Change::DelRule(ours.clone()))],
                "{by:?}"
            );
            assert_eq!(
                undo_plan(&journal, &[], &[users.clone(), ours.clone()], by),
                [Undo::RuleLeft(ours.clone())],
                "shadowed: {by:?}"
            );
        }
    }

    #[test]
    fn a_peer_gets_its_settings_back_and_a_non_default_route_goes_even_when_not_seen() {
        let peer: crate::wireguard::PeerSet =
            "peer hPZVRqChfs3WjCjOeQpeXnb0FHAq0rxkx1GtzoD6Z0c= endpoint 198.51.100.10:51820".parse().expect("peer");
        let journal = vec![route(ENDPOINT), Owned::Peer("wg0".into(), peer.clone())];
        for by in [Undoer::Deactivation, Undoer::Cleanup] {
            assert_eq!(
                undo_plan(&journal, &[], &[], by),
                [
                    Undo::Apply(Change::SetPeer { iface: "wg0".into(), peer: peer.clone() }),
                    Undo::Apply(Change::DelRoute(r(ENDPOINT))),
                ],
                "{by:?}"
            );
        }
    }
}
