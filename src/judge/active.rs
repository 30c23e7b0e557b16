//! The round while the failsafe is on, judged: from what the round saw of the tunnel in
//! use (its echoes, its handshakes) and of the primary, where the tables point after the
//! round and what the record says of it — the tunnel's transitions, the failback wait, an
//! interrupted activation completed. Pure: `failsafe::active` observes before and acts
//! after, on this answer.

use crate::config::{Config, Fallback};
use crate::decide::{decide, Action};

use super::target_dead;
use crate::health::{self, Failback, FailbackJudged, TunnelRound, Unhealthy};
use crate::model::Target;
use crate::netlink::link::Link;
use crate::record::{Record, TunnelNews};

use super::{target_while_active, tunnel_after_round, OthersHealth};

/// The verdict on the tunnel in use this round, from its echoes (`echo`: `None` when not
/// known — the daemon's track has just started) and handshakes (`round`); `usable`: its
/// interface exists and its VPS's address is known (else it is down, whatever was seen).
/// A real answer makes the peer one that echoes (recorded), never a guess; `None`: not
/// judged this round.
pub fn tunnel_in_use(
    record: &mut Record,
    usable: bool,
    echo: Option<bool>,
    round: &TunnelRound,
    max_age_s: u64,
) -> Option<bool> {
    record.echo_seen(echo == Some(true));
    let round = TunnelRound { peer_echoes: record.tunnel.peer_echoes, ..*round };
    match usable {
        true => health::tunnel_verdict(echo, &round, max_age_s),
        false => Some(false),
    }
}

/// The clocks of a round, as the record keeps them.
pub struct RoundNow {
    pub wall_s: u64,
    pub boot_ms: u64,
    pub boot_id: Option<String>,
}

/// What a round while active comes to (see [`while_active`]).
#[derive(Debug, PartialEq, Eq)]
pub struct ActiveJudged {
    /// Where the tables point after the round.
    pub target: Target,
    /// Several tunnels: the tunnel the LAN moves to this round (its index).
    pub tunnel_to: Option<usize>,
    /// The tunnel in use works (as judged, or as last judged when not judged this round).
    pub tunnel_ok: bool,
    /// The target's and the tunnel's transitions, each to be told once.
    pub news: TunnelNews,
    /// The primary started passing this round: told once an activation.
    pub primary_passes: bool,
    /// The failback wait left, while it counts.
    pub wait_left_s: Option<u64>,
    /// An interrupted activation's record was completed.
    pub completed: bool,
}

/// What the tables and STATE_DIR say of the mode (DESIGN.md, "Which mode are we in").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// The failsafe counts as on.
    pub on: bool,
    /// The journal holds changes of the failsafe's (an interrupted activation's, or
    /// IPv6's defaults a failback kept).
    pub leftovers: bool,
}

/// Which sequence a round runs, and the failback wait as judged: an interrupted
/// deactivation is finished first, whatever the primary does now; otherwise
/// `decide::decide` over the mode, the primary's verdict (`healthy`, and whether a probe
/// round closed now and passed), the leftovers and the failback wait — which a dead target
/// (the backup's link down, or a dead tunnel with FALLBACK=none) does not make a primary
/// that passes wait for.
pub fn round_action(
    cfg: &Config,
    record: &Record,
    mode: Mode,
    (healthy, round_passed): (bool, Option<bool>),
    backup: Option<&Link>,
    now_ms: u64,
) -> (Action, FailbackJudged) {
    let dead = target_dead(cfg, backup, record.tunnel.down);
    let f = &record.failback;
    let failback = health::failback_judged(healthy, round_passed, f.up_since_ms, now_ms, f.up_after_s, dead);
    if mode.on && record.mode.deactivating {
        return (Action::Deactivate, failback);
    }
    (decide(mode.on, healthy, mode.leftovers, failback.back), failback)
}

/// A round with nothing to do — the failsafe off, nothing left in the journal, the
/// primary healthy — whose probe round passed (`passed`): the tables are remembered as
/// healthy, a name endpoint's address kept fresh, BACKUP_CHECK made. `run`'s tick is one
/// exactly when [`round_action`] says `Nothing` (its verdict is its round's); the
/// daemon's, when its verdict (`healthy`) and its last round both pass.
pub fn healthy_round(mode: Mode, healthy: bool, passed: bool) -> bool {
    decide(mode.on, healthy, mode.leftovers, false) == Action::Nothing && passed
}

/// What a round while active saw of the tunnels: the verdict on the one in use (`in_use`;
/// `None`: not judged), and the others (several tunnels).
pub struct TunnelsSeen<'a> {
    pub in_use: usize,
    pub verdict: Option<bool>,
    pub others: &'a OthersHealth,
}

/// The round while active judged, its transitions made on `record`: another tunnel takes
/// the LAN when one must or may (see [`tunnel_after_round`]: its verdict is the round's
/// from then on); the tunnel's verdict (`None`: not judged, so nothing moves), FALLBACK
/// and whether the backup's link is alive say where the tables point (see
/// [`target_while_active`]); `primary` is this round's health and failback state (`None`:
/// forced by hand, no wait counted).
pub fn while_active(
    record: &mut Record,
    tunnels: TunnelsSeen,
    primary: Option<(Result<(), Unhealthy>, Failback)>,
    (fallback, backup_alive): (Fallback, bool),
    now: RoundNow,
) -> ActiveJudged {
    let current = record.mode.target;
    let on_tunnel = (tunnels.in_use, current == Target::Tunnel);
    let wait_s = record.failback.up_after_s;
    let (verdict, tunnel_to) = tunnel_after_round(on_tunnel, tunnels.verdict, tunnels.others, now.boot_ms, wait_s);
    if let (Some(to), OthersHealth::Seen(seen)) = (tunnel_to, tunnels.others) {
        // It answered an echo just now: the handshake it holds is the mark from here on.
        let t = &seen[to];
        record.moved_to_tunnel((!t.first).then(|| t.iface.clone()), t.mark);
        record.others.taken(&t.iface);
    }
    let tunnel_ok = verdict.unwrap_or(current == Target::Tunnel && !record.tunnel.down);
    let target = target_while_active(current, verdict.map(|_| tunnel_ok), fallback, backup_alive);
    let news = record.tunnel_judged(target, tunnel_ok);
    let (primary_passes, wait_left_s) = failback_counted(record, primary);
    let completed = record.activation_completed(now.wall_s, now.boot_ms / 1000, now.boot_id);
    ActiveJudged { target, tunnel_to, tunnel_ok, news, primary_passes, wait_left_s, completed }
}

/// The failback wait of a round while active, counted on `record` from the primary's
/// health and failback state this round (`None`: by hand, nothing counted): passing, since
/// when (and whether that is to be told: once an activation) and the seconds left; failing,
/// the wait starts again. Also when the round cannot act (see `failsafe::judged`): what the
/// primary did is observed whatever the tables do.
pub fn failback_counted(
    record: &mut Record,
    primary: Option<(Result<(), Unhealthy>, Failback)>,
) -> (bool, Option<u64>) {
    match primary {
        Some((_, f @ Failback::Waiting { since_ms, first, .. })) => {
            (record.primary_passing(since_ms, first), f.left_s())
        }
        Some((_, Failback::Down)) | Some((Err(_), _)) => {
            record.primary_failed();
            (false, None)
        }
        _ => (false, None),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An activation's record as it stands while active on `target`, the tunnel working.
    fn active_on(target: Target) -> Record {
        let mut r = crate::record::tests::sample();
        (r.mode.deactivating, r.mode.target, r.tunnel.down) = (false, target, false);
        r.failback.up_since_ms = None;
        r.logged.back = false;
        r
    }

    fn now() -> RoundNow {
        RoundNow { wall_s: 1_700_000_500, boot_ms: 900_000, boot_id: None }
    }

    const BACKUP_ALIVE: (Fallback, bool) = (Fallback::Backup, true);

    static UNWATCHED: OthersHealth = OthersHealth::Unwatched;

    /// One tunnel, its verdict this round.
    fn one(verdict: Option<bool>) -> TunnelsSeen<'static> {
        TunnelsSeen { in_use: 0, verdict, others: &UNWATCHED }
    }

    /// Issue 16 ("Why", the first defect): a round the tunnel's track has not judged moves
    /// nothing and says the tunnel works as it was last judged — on the backup after a
    /// fallback, "no"; never the fresh track's guess.
    #[test]
    fn a_round_without_a_verdict_moves_nothing_and_keeps_the_last_judgement() {
        let mut r = active_on(Target::Backup);
        r.tunnel.down = false;
        let j = while_active(&mut r, one(None), None, BACKUP_ALIVE, now());
        assert_eq!((j.target, j.tunnel_ok), (Target::Backup, false));
        assert_eq!(j.news, TunnelNews { switched_from: None, down: None });

        let mut r = active_on(Target::Tunnel);
        r.tunnel.down = true;
        let j = while_active(&mut r, one(None), None, BACKUP_ALIVE, now());
        assert_eq!((j.target, j.tunnel_ok), (Target::Tunnel, false), "FALLBACK=none's dead tunnel stays dead");
        assert_eq!(j.news.switched_from, None);
    }

    #[test]
    fn a_dead_tunnel_falls_back_and_one_that_works_again_takes_the_tables_back() {
        let mut r = active_on(Target::Tunnel);
        let j = while_active(&mut r, one(Some(false)), None, BACKUP_ALIVE, now());
        assert_eq!((j.target, j.tunnel_ok), (Target::Backup, false));
        assert_eq!(j.news, TunnelNews { switched_from: Some(Target::Tunnel), down: None });
        assert_eq!(r.mode.target, Target::Backup, "the record says where the tables point");

        let j = while_active(&mut r, one(Some(true)), None, BACKUP_ALIVE, now());
        assert_eq!((j.target, j.tunnel_ok), (Target::Tunnel, true));
        assert_eq!(j.news, TunnelNews { switched_from: Some(Target::Backup), down: None });

        // FALLBACK=none: the tables stay on the dead tunnel, which is told down once.
        let j = while_active(&mut r, one(Some(false)), None, (Fallback::None, true), now());
        assert_eq!((j.target, j.news), (Target::Tunnel, TunnelNews { switched_from: None, down: Some(true) }));
        let j = while_active(&mut r, one(Some(false)), None, (Fallback::None, true), now());
        assert_eq!(j.news, TunnelNews { switched_from: None, down: None }, "told once");
        // A backup whose link is dead is no fallback either.
        let j = while_active(&mut r, one(Some(false)), None, (Fallback::Backup, false), now());
        assert_eq!(j.target, Target::Tunnel);
    }

    #[test]
    fn the_failback_wait_is_told_once_and_starts_again_at_a_failed_round() {
        let mut r = active_on(Target::Tunnel);
        let waiting = |first| Failback::Waiting { since_ms: 800_000, left_ms: 59_001, first };
        let j = while_active(&mut r, one(Some(true)), Some((Ok(()), waiting(true))), BACKUP_ALIVE, now());
        assert!(j.primary_passes);
        assert_eq!(j.wait_left_s, Some(60));
        assert_eq!(r.failback.up_since_ms, Some(800_000));
        let j = while_active(&mut r, one(Some(true)), Some((Ok(()), waiting(false))), BACKUP_ALIVE, now());
        assert!(!j.primary_passes, "told once");

        let j = while_active(
            &mut r,
            one(Some(true)),
            Some((Err(Unhealthy::NoCarrier), Failback::Down)),
            BACKUP_ALIVE,
            now(),
        );
        assert_eq!((j.primary_passes, j.wait_left_s, r.failback.up_since_ms), (false, None, None));
        // By hand: no wait counted, the clock left as it is.
        r.failback.up_since_ms = Some(5);
        let j = while_active(&mut r, one(Some(true)), None, BACKUP_ALIVE, now());
        assert_eq!((j.wait_left_s, r.failback.up_since_ms), (None, Some(5)));
    }

    #[test]
    fn an_interrupted_activation_is_completed_once() {
        let mut r = active_on(Target::Tunnel);
        r.mode.failsafe = false;
        let activations = r.totals.activations;
        assert!(while_active(&mut r, one(Some(true)), None, BACKUP_ALIVE, now()).completed);
        assert_eq!(
            (r.mode.failsafe, r.mode.since_unix_s, r.totals.activations),
            (true, 1_700_000_500, activations + 1)
        );
        assert!(!while_active(&mut r, one(Some(true)), None, BACKUP_ALIVE, now()).completed);
    }

    /// Several tunnels: a dead one in use is replaced by the first other that answered, the
    /// record naming it and its handshake; from the backup the first that works takes the
    /// LAN; their echoes still out, nothing is judged; an earlier one takes the LAN back
    /// only after the wait.
    #[test]
    fn another_tunnel_takes_the_lan_as_the_judge_says() {
        use crate::model::TunnelHealth;
        let works = |since| TunnelHealth { works: Some(true), passing_since_ms: Some(since) };
        let wg1 = super::super::OtherTunnel {
            health: works(900_000),
            iface: "wg1".into(),
            first: false,
            mark: Some(Duration::from_secs(1_700_000_400)),
        };
        let seen = OthersHealth::Seen(vec![Default::default(), wg1.clone()]);
        let mut r = active_on(Target::Tunnel);
        let j = while_active(
            &mut r,
            TunnelsSeen { in_use: 0, verdict: Some(false), others: &seen },
            None,
            BACKUP_ALIVE,
            now(),
        );
        assert_eq!((j.tunnel_to, j.target, j.tunnel_ok), (Some(1), Target::Tunnel, true));
        assert_eq!((r.mode.tunnel.as_deref(), r.tunnel.handshake_mark), (Some("wg1"), wg1.mark));
        assert!(!r.others.passing.iter().any(|(i, _)| i == "wg1"), "its passing clock is over once in use");
        assert_eq!(j.news.switched_from, None, "tunnel to tunnel: the target stays the tunnel");

        let mut r = active_on(Target::Backup);
        let j = while_active(
            &mut r,
            TunnelsSeen { in_use: 0, verdict: Some(false), others: &seen },
            None,
            BACKUP_ALIVE,
            now(),
        );
        assert_eq!((j.tunnel_to, j.target, j.news.switched_from), (Some(1), Target::Tunnel, Some(Target::Backup)));

        let mut r = active_on(Target::Tunnel);
        let pending = OthersHealth::Pending;
        let j = while_active(
            &mut r,
            TunnelsSeen { in_use: 0, verdict: Some(false), others: &pending },
            None,
            BACKUP_ALIVE,
            now(),
        );
        assert_eq!((j.tunnel_to, j.target, j.tunnel_ok), (None, Target::Tunnel, true), "not judged while they are out");

        // On the second, the first passing since 50 s (the wait is 120 s): it stays.
        let first = super::super::OtherTunnel { health: works(850_000), iface: "wg0".into(), first: true, mark: None };
        let seen = OthersHealth::Seen(vec![first, Default::default()]);
        let mut r = active_on(Target::Tunnel);
        let j = while_active(
            &mut r,
            TunnelsSeen { in_use: 1, verdict: Some(true), others: &seen },
            None,
            BACKUP_ALIVE,
            now(),
        );
        assert_eq!(j.tunnel_to, None);
    }

    /// The sequence a round runs: an interrupted deactivation is finished whatever the
    /// primary does; a dead target (the backup's link down) fails back at the first passing
    /// round; otherwise the wait; off with leftovers, a cleanup.
    #[test]
    fn a_round_runs_the_sequence_its_mode_and_the_primary_call_for() {
        let c = crate::decide::tests::cfg();
        let (up, no_carrier) = (Link::up(3, "eth1"), Link { lower_up: false, ..Link::up(3, "eth1") });
        let on = Mode { on: true, leftovers: true };
        let mut r = active_on(Target::Tunnel);
        r.failback.up_since_ms = Some(899_000);
        r.mode.deactivating = true;
        let act = |r: &Record, mode, seen, backup| round_action(&c, r, mode, seen, backup, 900_000).0;
        assert_eq!(act(&r, on, (false, Some(false)), Some(&up)), Action::Deactivate, "finished first");
        r.mode.deactivating = false;
        assert_eq!(act(&r, on, (true, Some(true)), Some(&up)), Action::Reassert, "1 s of 120: the wait");
        assert_eq!(act(&r, on, (true, Some(true)), Some(&no_carrier)), Action::Deactivate, "a dead target");
        assert_eq!(act(&r, on, (true, None), Some(&no_carrier)), Action::Reassert, "no round closed: no pass");
        let off = Mode { on: false, leftovers: true };
        assert_eq!(act(&r, off, (true, Some(true)), Some(&up)), Action::Cleanup);
        assert_eq!(act(&r, Mode { leftovers: false, ..off }, (true, Some(true)), Some(&up)), Action::Nothing);
        assert_eq!(act(&r, off, (false, Some(false)), Some(&up)), Action::Activate);
    }

    /// The healthy round both drivers take (the tables remembered, a name endpoint kept
    /// fresh, BACKUP_CHECK): off, nothing left, the verdict and the last round passing.
    #[test]
    fn a_healthy_round_is_off_clean_and_passing() {
        let off = Mode { on: false, leftovers: false };
        assert!(healthy_round(off, true, true));
        assert!(!healthy_round(off, true, false), "the daemon's verdict holds, its last round failed");
        assert!(!healthy_round(off, false, true), "its verdict is still down");
        assert!(!healthy_round(Mode { leftovers: true, ..off }, true, true), "a cleanup first");
        assert!(!healthy_round(Mode { on: true, ..off }, true, true), "the failback wait");
    }

    #[test]
    fn a_round_watches_the_earlier_tunnels_or_every_other_when_replacing() {
        use super::super::tunnels_watched;
        assert_eq!(tunnels_watched(3, 1, true, Some(true)), (vec![0], false));
        assert_eq!(tunnels_watched(3, 1, true, None), (vec![0], false));
        assert_eq!(tunnels_watched(3, 1, true, Some(false)), (vec![0, 2], true));
        assert_eq!(tunnels_watched(3, 0, false, None), (vec![1, 2], true));
        assert_eq!(tunnels_watched(3, 0, false, Some(true)), (vec![], true), "it works: it takes the LAN back itself");
        assert_eq!(tunnels_watched(1, 0, true, Some(false)), (vec![], true));
    }

    /// Issue 16 ("Why", the second defect): only a real answer makes a peer one that
    /// echoes; a round not judged (`None`) leaves a peer judged by its handshakes as it is.
    #[test]
    fn the_tunnel_in_use_is_judged_by_real_answers_only() {
        let mark = Some(Duration::from_secs(1_700_000_000));
        let round = TunnelRound {
            echo: false,
            peer_echoes: false,
            latest: Some(Duration::from_secs(1_700_000_010)),
            mark,
            now: Duration::from_secs(1_700_000_020),
        };
        let mut r = active_on(Target::Tunnel);
        r.tunnel.peer_echoes = false;
        // A peer that answers no echo, with a fresh handshake since the mark: it works.
        assert_eq!(tunnel_in_use(&mut r, true, None, &round, 180), Some(true));
        assert_eq!(tunnel_in_use(&mut r, true, Some(false), &round, 180), Some(true));
        assert!(!r.tunnel.peer_echoes, "no guess made it a peer that echoes");
        // It answers once: from then on its silence is down, and an unknown round unjudged.
        assert_eq!(tunnel_in_use(&mut r, true, Some(true), &round, 180), Some(true));
        assert!(r.tunnel.peer_echoes);
        assert_eq!(tunnel_in_use(&mut r, true, Some(false), &round, 180), Some(false));
        assert_eq!(tunnel_in_use(&mut r, true, None, &round, 180), None);
        // No interface, or no address for its VPS: down, whatever was seen.
        assert_eq!(tunnel_in_use(&mut r, false, Some(true), &round, 180), Some(false));
    }
}
