//! Every sequence stopped after each of its steps N (as SIGKILL would leave it), then a
//! new process over the same fake kernel and STATE_DIR ticking until settled: it must
//! converge to the tunnel or the backup while the primary is down and, once the primary
//! is back for UP_AFTER_S, to exactly the original tables and rules.

use super::lab::*;
use crate::decide::tests::{r, rule};
use crate::netlink::link::{Addr, Link};
use crate::state::State;
use std::net::Ipv4Addr;

/// Runs `prepare`, then for every N the next tick stopped after its N-th step, a new
/// process ticking until settled, and `check`; until a tick needs fewer than N steps.
/// Returns how many stops were tried.
fn every_stop(tag: &str, prepare: impl Fn(&Lab), check: impl Fn(&Lab, usize)) -> usize {
    for n in 0.. {
        let lab = Lab::new(&format!("{tag}-{n}"), "");
        prepare(&lab);
        lab.kill_after(n);
        let _ = lab.tick();
        if !lab.revive() {
            eprintln!("{tag}: stopped after each of {n} steps, each converged");
            return n;
        }
        lab.settle(4);
        check(&lab, n);
    }
    unreachable!()
}

fn back_after_up_after_s(lab: &Lab, n: usize) {
    lab.primary_carrier(true);
    lab.settle(2);
    lab.advance_s(61);
    lab.settle(3);
    let now: Vec<String> = lab.routes().iter().map(|x| x.to_string()).collect();
    assert!(lab.w().requests.len() > n);
    let mut sorted = now.clone();
    sorted.sort();
    let mut was = words(&ROUTES);
    was.sort();
    assert_eq!(sorted, was, "stop at {n}: the tables after failback");
    assert_eq!(lab.rules(), RULES.iter().map(|l| rule(l)).collect::<Vec<_>>(), "stop at {n}: the rules");
    assert_eq!(lab.w().violations, Vec::<String>::new(), "stop at {n}");
}

#[test]
fn an_activation_stopped_at_any_step_converges() {
    let tried = every_stop("kill-activate", healthy_then_down, |lab, n| {
        on_tunnel(lab);
        back_after_up_after_s(lab, n);
    });
    assert!(tried > 10, "{tried} steps");
}

#[test]
fn a_repair_stopped_at_any_step_converges() {
    let tried = every_stop(
        "kill-repair",
        |lab| {
            healthy_then_down(lab);
            lab.tick().expect("activation");
            lab.w().owner_replace(r("default via 192.168.2.1 dev eth1 table 201 proto static"));
            lab.w().owner_replace(r("default via 192.168.1.1 dev eth0 table main proto zebra metric 100"));
        },
        |lab, n| {
            on_tunnel(lab);
            back_after_up_after_s(lab, n);
        },
    );
    assert!(tried > 1, "{tried} steps");
}

#[test]
fn a_deactivation_from_the_tunnel_or_the_backup_stopped_at_any_step_converges() {
    for works in [true, false] {
        let prepare = |lab: &Lab| {
            tunnel_works(lab, works);
            healthy_then_down(lab);
            lab.tick().expect("activation");
            lab.primary_carrier(true);
            lab.tick().expect("waiting");
            lab.advance_s(61);
        };
        let tried = every_stop(&format!("kill-deactivate-{works}"), prepare, back_after_up_after_s);
        assert!(tried > 5, "{tried} steps");
    }
}

#[test]
fn a_fallback_activation_stopped_at_any_step_converges() {
    let tried = every_stop(
        "kill-fallback",
        |lab| {
            tunnel_works(lab, false);
            healthy_then_down(lab);
        },
        |lab, n| {
            on_target(lab, "via 192.168.2.1 dev eth1");
            back_after_up_after_s(lab, n);
        },
    );
    assert!(tried > 10, "{tried} steps");
}

#[test]
fn a_cleanup_stopped_at_any_step_converges() {
    let tried = every_stop(
        "kill-cleanup",
        |lab| {
            healthy_then_down(lab);
            // An activation stopped once its endpoint route, rule and peer are in.
            lab.kill_after(5);
            let _ = lab.tick();
            lab.revive();
            lab.primary_carrier(true);
        },
        |lab, n| {
            original(lab);
            assert!(lab.w().violations.is_empty(), "stop at {n}");
        },
    );
    assert!(tried >= 3, "{tried} steps");
}

/// Dual stack: IPv6's main and 201 leave through the primary too, and follow IPv4 onto
/// the tunnel (WG_PEER_IP6) and back.
pub(super) fn dual_stack(lab: &Lab) {
    let mut w = lab.w();
    w.routes.push(r("::/0 via fe80::1 dev eth0 table main proto static metric 1024"));
    w.routes.push(r("::/0 via fe80::1 dev eth0 table 201 proto static metric 1024"));
    w.rules.insert(2, rule("priority 101 from ::/0 fwmark 0x65 lookup 201"));
}

pub(super) fn dual_original() -> (Vec<String>, Vec<String>) {
    let mut routes = words(&ROUTES);
    routes.extend(words(&[
        "::/0 via fe80::1 dev eth0 table main proto static metric 1024",
        "::/0 via fe80::1 dev eth0 table 201 proto static metric 1024",
    ]));
    routes.sort();
    let mut rules: Vec<String> = RULES.iter().map(|l| rule(l).to_string()).collect();
    rules.insert(2, rule("priority 101 from ::/0 fwmark 0x65 lookup 201").to_string());
    (routes, rules)
}

#[test]
fn a_dual_stack_activation_and_deactivation_stopped_at_any_step_converge() {
    const SIX: &str = "LAN_SUBNET6=2001:db8:10::/64\nWG_PEER_IP6=fd00:11::1\n";
    for deactivation in [false, true] {
        for n in 0.. {
            let lab = Lab::new(&format!("kill-dual-{deactivation}-{n}"), SIX);
            dual_stack(&lab);
            healthy_then_down(&lab);
            if deactivation {
                lab.tick().expect("activation");
                lab.primary_carrier(true);
                lab.tick().expect("waiting");
                lab.advance_s(61);
            }
            lab.kill_after(n);
            let _ = lab.tick();
            if !lab.revive() {
                eprintln!("dual stack, deactivation {deactivation}: stopped after each of {n} steps, each converged");
                assert!(n > 5);
                break;
            }
            lab.settle(4);
            if !deactivation {
                let six: Vec<String> = lab.routes().iter().filter(|x| x.is_v6()).map(|x| x.to_string()).collect();
                for t in ["main", "201"] {
                    let ours = format!("::/0 via fd00:11::1 dev wg0 table {t}");
                    assert!(six.iter().any(|x| x.starts_with(&ours)), "stop at {n}: {six:#?}");
                }
                on_tunnel(&lab);
            }
            lab.primary_carrier(true);
            lab.settle(2);
            lab.advance_s(61);
            lab.settle(3);
            let (routes, rules) = dual_original();
            let mut now: Vec<String> = lab.routes().iter().map(|x| x.to_string()).collect();
            now.sort();
            assert_eq!(now, routes, "stop at {n}");
            assert_eq!(lab.rules().iter().map(|x| x.to_string()).collect::<Vec<_>>(), rules, "stop at {n}");
            assert_eq!(lab.w().violations, Vec::<String>::new(), "stop at {n}");
        }
    }
}

/// Dual stack with BACKUP_EXCLUDE (an IPv4 and an IPv6 host) and LAN_KEEP: an activation
/// or a deactivation stopped at any step converges, the refusals in place while active
/// (each once) and every rule back as it was after the failback.
#[test]
fn exclusions_stopped_at_any_step_converge() {
    const KEYS: &str = "LAN_SUBNET6=2001:db8:10::/64\nWG_PEER_IP6=fd00:11::1\n\
                        BACKUP_EXCLUDE=192.168.10.50 2001:db8:10::50\nLAN_KEEP=192.168.10.7 2001:db8:10::7\n";
    for deactivation in [false, true] {
        for n in 0.. {
            let lab = Lab::new(&format!("kill-exclude-{deactivation}-{n}"), KEYS);
            dual_stack(&lab);
            healthy_then_down(&lab);
            if deactivation {
                lab.tick().expect("activation");
                lab.primary_carrier(true);
                lab.tick().expect("waiting");
                lab.advance_s(61);
            }
            lab.kill_after(n);
            let _ = lab.tick();
            if !lab.revive() {
                eprintln!("exclusions, deactivation {deactivation}: stopped after each of {n} steps, each converged");
                assert!(n > 5);
                break;
            }
            lab.settle(4);
            if !deactivation {
                let at_69: Vec<String> =
                    lab.rules().iter().filter(|x| x.priority == 69).map(|x| x.to_string()).collect();
                for host in ["192.168.10.50/32", "2001:db8:10::50/128"] {
                    for action in ["lookup main suppress_prefixlength 0", "unreachable"] {
                        let want = format!("priority 69 from {host} {action}");
                        assert_eq!(at_69.iter().filter(|x| **x == want).count(), 1, "stop at {n}: {at_69:#?}");
                    }
                }
            }
            lab.primary_carrier(true);
            lab.settle(2);
            lab.advance_s(61);
            lab.settle(3);
            let (_, rules) = dual_original();
            assert_eq!(lab.rules().iter().map(|x| x.to_string()).collect::<Vec<_>>(), rules, "stop at {n}");
            assert_eq!(lab.w().violations, Vec::<String>::new(), "stop at {n}");
        }
    }
}

#[test]
fn a_switch_between_tunnel_and_backup_while_active_stopped_at_any_step_converges() {
    for dies in [true, false] {
        let tried = every_stop(
            &format!("kill-switch-{dies}"),
            |lab| {
                tunnel_works(lab, dies);
                healthy_then_down(lab);
                lab.tick().expect("activation");
                tunnel_works(lab, !dies);
            },
            |lab, n| {
                on_target(lab, if dies { "via 192.168.2.1 dev eth1" } else { "via 10.11.0.1 dev wg0" });
                back_after_up_after_s(lab, n);
            },
        );
        assert!(tried > 5, "{tried} steps");
    }
}

/// A deactivation stopped part-way, then the primary set down before the next run (its
/// routes go with it, the ones just put back among them): the run that would finish the
/// deactivation cannot put them back and gives up, or finds it done and a new outage
/// (a table emptied meanwhile falls through to `main` and the backup's own default for a
/// round), and the round after has every managed table on a default again.
#[test]
fn an_interrupted_deactivation_that_cannot_be_finished_is_judged_afresh_the_round_after() {
    for n in 0.. {
        let lab = Lab::new(&format!("kill-deact-down-{n}"), "");
        if !super::kept6::failback_killed_at(&lab, n) {
            assert!(n > 5);
            break;
        }
        lab.w().set_link("eth0", false, false);
        let _ = lab.tick();
        lab.tick().expect("the round after");
        // The tables the failsafe manages now (a table the primary's device emptied when
        // it was set down is not one: see made_good).
        let snapshot = State::open_as_owner(&lab.cfg.state_dir).and_then(|s| s.snapshot());
        let tables = snapshot.ok().flatten().expect("on again").tables;
        let w = lab.w();
        for t in tables.into_iter().chain([254]) {
            let has = w.routes.iter().any(|x| x.is_default() && x.table == t);
            assert!(has, "stop at {n}: table {t} without a default: {:#?}", w.routes);
        }
    }
}

/// The same with the primary's device gone (a PPPoE session that dropped) or set down,
/// IPv4 only or dual-stack (IPv6 refused with `unreachable`, or through the tunnel with
/// WG_PEER_IP6), 201 with a default of its own through the backup or not: the saved routes
/// through the primary cannot be put back (gone, or refused), and finishing the
/// deactivation never deletes the last default of a table of either family (it did: 201
/// of IPv4 with the device gone; IPv6's main and 201 with the device gone and IPv4 able to
/// fail back whole — model seed 13478). An IPv4 table so kept holds the failback up; an
/// IPv6 one never does: it keeps the failsafe's default until its own can be put back,
/// which the ticks after the device's return do.
#[test]
fn an_interrupted_deactivation_never_empties_a_table_whose_saved_routes_went_with_their_device() {
    const SIX: [&str; 3] =
        ["", "LAN_SUBNET6=2001:db8:10::/64\n", "LAN_SUBNET6=2001:db8:10::/64\nWG_PEER_IP6=fd00:11::1\n"];
    const OWN_201: &str = "default via 192.168.2.1 dev eth1 table 201 proto static metric 5";
    for (six, conf) in SIX.iter().enumerate() {
        for (gone, own_201) in [(true, false), (false, false), (true, true), (false, true)] {
            for n in 0.. {
                let lab = Lab::new(&format!("kill-deact-gone-{six}-{gone}-{own_201}-{n}"), conf);
                if six > 0 {
                    dual_stack(&lab);
                }
                if own_201 {
                    lab.w().routes.push(r(OWN_201));
                }
                let (mut want, rules) = dual_original();
                if six == 0 {
                    want.retain(|x| !x.contains("::/0"));
                }
                if own_201 {
                    want.push(r(OWN_201).to_string());
                    want.sort();
                }
                healthy_then_down(&lab);
                lab.tick().expect("activation");
                lab.primary_carrier(true);
                lab.tick().expect("waiting");
                lab.advance_s(61);
                lab.kill_after(n);
                let _ = lab.tick();
                if !lab.revive() {
                    assert!(n > 5);
                    break;
                }
                let what = format!("IPv6: {six}, gone: {gone}, 201 its own: {own_201}, stop at {n}");
                {
                    let mut w = lab.w();
                    w.set_link("eth0", false, false);
                    if gone {
                        w.links.retain(|l| l.name != "eth0");
                        w.addrs.retain(|a| a.index != 2);
                    }
                }
                let _ = lab.tick();
                lab.tick().expect("the round after");
                assert_eq!(lab.w().violations, Vec::<String>::new(), "{what}");
                // The device back, up, with its carrier, and its IPv4 owners' defaults with
                // it: once the failback wait is over, IPv6's own defaults are back where the
                // tool kept its default for them (or were never taken: the deactivation had
                // finished before the device went), nothing of ours left.
                {
                    let mut w = lab.w();
                    if gone {
                        w.links.push(Link { point_to_point: false, ..Link::up(9, "eth0") });
                        w.addrs.push(Addr {
                            index: 9,
                            local: Ipv4Addr::new(192, 168, 1, 2),
                            peer: None,
                            prefix_len: 24,
                        });
                    }
                    w.set_link("eth0", true, true);
                    for l in ROUTES.iter().filter(|l| l.contains("dev eth0")) {
                        w.owner_replace(r(l));
                    }
                }
                // (The failback wait, damped by the outages before: well past it.)
                for _ in 0..3 {
                    lab.settle(3);
                    lab.advance_s(600);
                }
                lab.settle(3);
                let ours6 = lab.routes().into_iter().filter(|x| x.is_v6() && x.metric == 40).collect::<Vec<_>>();
                assert_eq!(ours6, Vec::new(), "{what}: IPv6 defaults of ours left");
                assert_eq!(lab.w().violations, Vec::<String>::new(), "{what}");
                // The router advertisements' defaults, where they were flushed.
                for l in [
                    "::/0 via fe80::1 dev eth0 table main proto static metric 1024",
                    "::/0 via fe80::1 dev eth0 table 201 proto static metric 1024",
                ] {
                    if six > 0 {
                        lab.w().owner_replace(r(l));
                    }
                }
                let mut now: Vec<String> = lab.routes().iter().map(|x| x.to_string()).collect();
                now.retain(|x| !x.starts_with("203.0.113.0/24"));
                now.sort();
                want.retain(|x| !x.starts_with("203.0.113.0/24"));
                assert_eq!(now, want, "{what}: the tables once the primary is back");
                let rules_now: Vec<String> = lab.rules().iter().map(|x| x.to_string()).collect();
                let rules_want: Vec<String> = rules.into_iter().filter(|x| six > 0 || !x.contains("::/0")).collect();
                assert_eq!(rules_now, rules_want, "{what}: the rules");
                let state = State::open_as_owner(&lab.cfg.state_dir).expect("STATE_DIR");
                assert_eq!(state.journal().expect("journal"), Vec::new(), "{what}: the journal");
                assert_eq!(lab.w().violations, Vec::<String>::new(), "{what}");
            }
        }
    }
}

/// `activate` by hand after a failback stopped part-way (the record still marked
/// deactivating) with the primary down again: the owner's order holds — the next tick keeps
/// the failsafe on instead of finishing the deactivation onto a dead primary (a review
/// found the mark left in place).
#[test]
fn activate_by_hand_calls_off_an_interrupted_deactivation() {
    let mut marked = 0;
    for n in 1..24 {
        let lab = Lab::new(&format!("hand-on-{n}"), "");
        if !super::kept6::failback_killed_at(&lab, n) || !lab.sys().expect("sys").record().mode.deactivating {
            continue;
        }
        marked += 1;
        lab.primary_carrier(false);
        let by_hand = crate::failsafe::by_hand(&mut lab.sys().expect("sys"), crate::failsafe::ByHand::Activate);
        let out = by_hand.parts().0;
        // On: the round while active; already off (a stop late in the failback): activated.
        let on =
            matches!(out, Ok(crate::failsafe::Outcome::Active { .. } | crate::failsafe::Outcome::Activated { .. }));
        assert!(on, "stopped at {n}: {out:?}");
        assert!(!lab.sys().expect("sys").record().mode.deactivating, "stopped at {n}: still marked");
        lab.advance_s(10);
        let next = lab.tick();
        assert!(
            matches!(next, Ok(crate::failsafe::Outcome::Active { .. })),
            "stopped at {n}: the tick after: {next:?}"
        );
    }
    assert!(marked > 3, "only {marked} stops left the record marked");
}
