//! The invariants the model test checks after every step, in the acceptance's words: no
//! managed table is ever without a default (IPv4 and IPv6), no route or rule that is not
//! the tool's is ever deleted, nothing is duplicated, and whenever a tick leaves the
//! failsafe off (the primary back for UP_AFTER_S, an interrupted activation taken back, a
//! healthy tick) every table is what the ownership rule says: the owners' latest, nothing
//! of the outage's, nothing of the tool's.

use std::net::IpAddr;

use super::super::fake::World;
use super::super::lab::{Lab, PEER_IP};
use super::world::{peer_settings, Owners};
use crate::config::Fallback;
use crate::failsafe::Outcome;
use crate::model::Owned;
use crate::netlink::route::{Route, RTN_UNREACHABLE, RT_TABLE_MAIN};
use crate::state::{Snapshot, State};

/// What the snapshot and the journal held at the last check, and how many of the tool's
/// deletions were checked.
#[derive(Default)]
pub struct Saved {
    known: Vec<String>,
    checked: usize,
    /// IPv6 tables a failback left on the tool's default, their own not to be put back
    /// (journaled for the ticks after).
    pub ipv6_kept: usize,
}

/// STATE_DIR's snapshot and journal as they stand (a file that cannot be read: none).
fn state_files(lab: &Lab) -> (Option<Snapshot>, Vec<Owned>) {
    let Ok(state) = State::open_as_owner(&lab.cfg.state_dir) else { return (None, Vec::new()) };
    (state.snapshot().ok().flatten(), state.journal().unwrap_or_default())
}

/// Every invariant, after a step. `ended`: the step was a tick that ran to its end and
/// ended well, with this outcome (the world or a stop may take a default that the tool
/// puts back at its next tick; the tool's own requests never do, which the fake checks
/// request by request, both families).
pub fn after_step(lab: &Lab, owners: &Owners, saved: &mut Saved, trail: &[String], ended: Option<&Outcome>) {
    let (snapshot, journal) = state_files(lab);
    let w = lab.w();
    assert!(w.violations.is_empty(), "{:#?}\nafter {trail:#?}", w.violations);
    deletions_accounted(&w, saved, snapshot.as_ref(), &journal, trail);
    nothing_duplicated(&w, ended.is_some(), trail);
    // FALLBACK=none while WG_IFACE is gone (with the tool's defaults): by design the
    // tables wait for the tunnel then.
    let waits = lab.cfg.fallback == Fallback::None && !w.links.iter().any(|l| l.name == "wg0");
    match ended {
        Some(Outcome::Activated { .. } | Outcome::Active { .. }) if !waits => {
            let Some(snapshot) = &snapshot else { panic!("on without a snapshot\nafter {trail:#?}") };
            ours_win(&w, owners, snapshot, trail);
        }
        Some(Outcome::Healthy | Outcome::CleanedUp | Outcome::Deactivated { .. }) => {
            assert!(snapshot.is_none(), "off with a snapshot left\nafter {trail:#?}");
            saved.ipv6_kept += ipv6_kept(&w, &journal, trail);
            owners_tables(&w, owners, trail);
        }
        _ => {}
    }
}

/// Off, the journal holds nothing but IPv6 tables a failback kept on the tool's default
/// (DESIGN.md: IPv6 never holds IPv4's failback up; no table is left without a default):
/// for each, ours there alone and its own defaults to put back (and WG_IFACE up while one
/// goes through it). Returns how many.
fn ipv6_kept(w: &World, journal: &[Owned], trail: &[String]) -> usize {
    let mut kept = 0;
    for o in journal {
        match o {
            Owned::Unrestored(own) => {
                let ours = journal.iter().any(|j| matches!(j, Owned::Route(x) if x.is_v6() && x.table == own.table));
                assert!(own.is_v6() && ours, "off with `{own}` to put back, none of ours kept\nafter {trail:#?}");
            }
            Owned::Route(x) if x.is_v6() && x.is_default() => {
                let defaults: Vec<&Route> =
                    w.routes.iter().filter(|r| r.is_default() && r.is_v6() && r.table == x.table).collect();
                let own = journal.iter().any(|j| matches!(j, Owned::Unrestored(u) if u.table == x.table));
                assert!(
                    own && defaults.iter().all(|d| d == &x),
                    "off with `{x}` kept beside {defaults:?}\nafter {trail:#?}"
                );
                kept += 1;
            }
            // WG_IFACE left up while a kept default goes through it (set down, it would
            // take the default with it).
            Owned::LinkUp(dev) => {
                let through = |j: &Owned| matches!(j, Owned::Route(x) if x.is_v6() && x.devices().any(|d| d == dev));
                assert!(journal.iter().any(through), "off with `{o}` in the journal\nafter {trail:#?}");
            }
            _ => panic!("off with `{o}` in the journal\nafter {trail:#?}"),
        }
    }
    kept
}

/// A route the tool deleted was its own then, or one the snapshot holds (to come back at
/// failback, or listed as moved aside for good) or the journal lists, as they stood before
/// the step or stand after it: never lost unaccounted. (A rule the tool did not add is
/// never deleted: the fake says so as a violation.)
fn deletions_accounted(w: &World, saved: &mut Saved, snapshot: Option<&Snapshot>, journal: &[Owned], trail: &[String]) {
    let mut known: Vec<String> = Vec::new();
    if let Some(s) = snapshot {
        known.extend(s.routes.iter().chain(&s.aside).map(|x| x.to_string()));
    }
    known.extend(journal.iter().filter_map(|o| match o {
        Owned::Route(x) => Some(x.to_string()),
        _ => None,
    }));
    for (gone, ours) in &w.deleted_routes[saved.checked..] {
        let text = gone.to_string();
        let accounted = saved.known.iter().chain(&known).any(|k| *k == text);
        assert!(*ours || accounted, "deleted `{gone}`: not the tool's, in no snapshot or journal\nafter {trail:#?}");
    }
    saved.checked = w.deleted_routes.len();
    saved.known = known;
}

/// No route and no rule twice; once a tick is over, one default of the tool's (metric 40)
/// per table and family (an IPv6 switch of kind adds the new one before it deletes the
/// old: a stop between leaves both, for the next tick to finish).
fn nothing_duplicated(w: &World, ticked: bool, trail: &[String]) {
    for (i, a) in w.routes.iter().enumerate() {
        for b in &w.routes[i + 1..] {
            assert!(!a.same_path(b), "`{a}` twice\nafter {trail:#?}");
            assert!(!(ticked && a.metric == 40 && a.same_key(b)), "`{a}` and `{b}`\nafter {trail:#?}");
        }
    }
    for (i, a) in w.rules.iter().enumerate() {
        assert!(!w.rules[i + 1..].contains(a), "`{a}` twice\nafter {trail:#?}");
    }
}

/// On, after a tick: every managed table of both families (the snapshot's, and IPv4's
/// main) has a default, and the one the kernel uses is the tool's — IPv4's through the
/// tunnel or the backup's gateway of the moment, IPv6's through the tunnel or
/// `unreachable`.
fn ours_win(w: &World, owners: &Owners, snapshot: &Snapshot, trail: &[String]) {
    let tables = snapshot.tables.iter().chain([&RT_TABLE_MAIN]).map(|t| (false, *t));
    for (v6, t) in tables.chain(snapshot.tables6.iter().map(|t| (true, *t))) {
        let winner =
            w.routes.iter().filter(|x| x.is_default() && x.is_v6() == v6 && x.table == t).min_by_key(|x| x.metric);
        let Some(winner) = winner else { panic!("table {t} (IPv6: {v6}) without a default\nafter {trail:#?}") };
        let ok = winner.metric == 40
            && match v6 {
                false => {
                    winner.gateway_via("wg0") == Some(IpAddr::V4(PEER_IP))
                        || winner.gateway_via("eth1") == Some(IpAddr::V4(owners.backup_gw))
                }
                true => winner.dev.as_deref() == Some("wg0") || winner.kind == RTN_UNREACHABLE,
            };
        assert!(ok, "table {t} (IPv6: {v6}) leaves by `{winner}`, not the tool's target\nafter {trail:#?}");
    }
}

/// Off, after a tick: no rule of the tool's left, WG_IFACE's administrative state and the
/// peer's settings as configured, every rule and — with the primary up — every table what
/// its owners want (the ownership rule; the routes the tool restored are theirs).
fn owners_tables(w: &World, owners: &Owners, trail: &[String]) {
    assert!(w.added_rules.is_empty(), "off with {:?} left\nafter {trail:#?}", w.added_rules);
    if let Some(wg) = w.links.iter().find(|l| l.name == "wg0") {
        assert_eq!(wg.admin_up, !owners.wg_disabled, "wg0's administrative state, off\nafter {trail:#?}");
    }
    assert_eq!(peer_settings(w), owners.peer, "the peer's settings, off\nafter {trail:#?}");
    let rules: Vec<String> = w.rules.iter().map(|x| x.to_string()).collect();
    assert_eq!(rules, owners.intended_rules(), "the rules with the failsafe off\nafter {trail:#?}");
    if !owners.primary_up() {
        return;
    }
    let mut routes: Vec<String> = w.routes.iter().map(|x| x.to_string()).collect();
    routes.sort();
    assert_eq!(routes, owners.intended(), "the tables with the failsafe off\nafter {trail:#?}");
}
