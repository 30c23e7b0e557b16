//! The round while the failsafe is on, judged: from what the round saw of the tunnel in
//! use (its echoes, its handshakes) and of the primary, where the tables point after the
//! round and what the record says of it — the tunnel's transitions, the failback wait, an
//! interrupted activation completed. Pure: `failsafe::active` observes before and acts
//! after, on this answer.

use crate::config::Fallback;
use crate::health::{self, Failback, TunnelRound, Unhealthy};
use crate::model::Target;
use crate::record::{Record, TunnelNews};

use super::target_while_active;

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
    pub boot_s: u64,
    pub boot_id: Option<String>,
}

/// What a round while active comes to (see [`while_active`]).
#[derive(Debug, PartialEq, Eq)]
pub struct ActiveJudged {
    /// Where the tables point after the round.
    pub target: Target,
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

/// The round while active judged, its transitions made on `record`: the tunnel in use's
/// `verdict` this round (after another tunnel took the LAN, that one's; `None`: not judged,
/// so nothing moves), FALLBACK and whether the backup's link is alive say where the tables
/// point (see [`target_while_active`]); `primary` is this round's health and failback
/// state (`None`: forced by hand, no wait counted).
pub fn while_active(
    record: &mut Record,
    verdict: Option<bool>,
    primary: Option<(Result<(), Unhealthy>, Failback)>,
    (fallback, backup_alive): (Fallback, bool),
    now: RoundNow,
) -> ActiveJudged {
    let current = record.mode.target;
    let tunnel_ok = verdict.unwrap_or(current == Target::Tunnel && !record.tunnel.down);
    let target = target_while_active(current, verdict.map(|_| tunnel_ok), fallback, backup_alive);
    let news = record.tunnel_judged(target, tunnel_ok);
    let (primary_passes, wait_left_s) = failback_counted(record, primary);
    let completed = record.activation_completed(now.wall_s, now.boot_s, now.boot_id);
    ActiveJudged { target, tunnel_ok, news, primary_passes, wait_left_s, completed }
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
        RoundNow { wall_s: 1_700_000_500, boot_s: 900, boot_id: None }
    }

    const BACKUP_ALIVE: (Fallback, bool) = (Fallback::Backup, true);

    /// Issue 16 ("Why", the first defect): a round the tunnel's track has not judged moves
    /// nothing and says the tunnel works as it was last judged — on the backup after a
    /// fallback, "no"; never the fresh track's guess.
    #[test]
    fn a_round_without_a_verdict_moves_nothing_and_keeps_the_last_judgement() {
        let mut r = active_on(Target::Backup);
        r.tunnel.down = false;
        let j = while_active(&mut r, None, None, BACKUP_ALIVE, now());
        assert_eq!((j.target, j.tunnel_ok), (Target::Backup, false));
        assert_eq!(j.news, TunnelNews { switched_from: None, down: None });

        let mut r = active_on(Target::Tunnel);
        r.tunnel.down = true;
        let j = while_active(&mut r, None, None, BACKUP_ALIVE, now());
        assert_eq!((j.target, j.tunnel_ok), (Target::Tunnel, false), "FALLBACK=none's dead tunnel stays dead");
        assert_eq!(j.news.switched_from, None);
    }

    #[test]
    fn a_dead_tunnel_falls_back_and_one_that_works_again_takes_the_tables_back() {
        let mut r = active_on(Target::Tunnel);
        let j = while_active(&mut r, Some(false), None, BACKUP_ALIVE, now());
        assert_eq!((j.target, j.tunnel_ok), (Target::Backup, false));
        assert_eq!(j.news, TunnelNews { switched_from: Some(Target::Tunnel), down: None });
        assert_eq!(r.mode.target, Target::Backup, "the record says where the tables point");

        let j = while_active(&mut r, Some(true), None, BACKUP_ALIVE, now());
        assert_eq!((j.target, j.tunnel_ok), (Target::Tunnel, true));
        assert_eq!(j.news, TunnelNews { switched_from: Some(Target::Backup), down: None });

        // FALLBACK=none: the tables stay on the dead tunnel, which is told down once.
        let j = while_active(&mut r, Some(false), None, (Fallback::None, true), now());
        assert_eq!((j.target, j.news), (Target::Tunnel, TunnelNews { switched_from: None, down: Some(true) }));
        let j = while_active(&mut r, Some(false), None, (Fallback::None, true), now());
        assert_eq!(j.news, TunnelNews { switched_from: None, down: None }, "told once");
        // A backup whose link is dead is no fallback either.
        let j = while_active(&mut r, Some(false), None, (Fallback::Backup, false), now());
        assert_eq!(j.target, Target::Tunnel);
    }

    #[test]
    fn the_failback_wait_is_told_once_and_starts_again_at_a_failed_round() {
        let mut r = active_on(Target::Tunnel);
        let waiting = |first| Failback::Waiting { since_ms: 800_000, left_ms: 59_001, first };
        let j = while_active(&mut r, Some(true), Some((Ok(()), waiting(true))), BACKUP_ALIVE, now());
        assert!(j.primary_passes);
        assert_eq!(j.wait_left_s, Some(60));
        assert_eq!(r.failback.up_since_ms, Some(800_000));
        let j = while_active(&mut r, Some(true), Some((Ok(()), waiting(false))), BACKUP_ALIVE, now());
        assert!(!j.primary_passes, "told once");

        let j =
            while_active(&mut r, Some(true), Some((Err(Unhealthy::NoCarrier), Failback::Down)), BACKUP_ALIVE, now());
        assert_eq!((j.primary_passes, j.wait_left_s, r.failback.up_since_ms), (false, None, None));
        // By hand: no wait counted, the clock left as it is.
        r.failback.up_since_ms = Some(5);
        let j = while_active(&mut r, Some(true), None, BACKUP_ALIVE, now());
        assert_eq!((j.wait_left_s, r.failback.up_since_ms), (None, Some(5)));
    }

    #[test]
    fn an_interrupted_activation_is_completed_once() {
        let mut r = active_on(Target::Tunnel);
        r.mode.failsafe = false;
        let activations = r.totals.activations;
        assert!(while_active(&mut r, Some(true), None, BACKUP_ALIVE, now()).completed);
        assert_eq!(
            (r.mode.failsafe, r.mode.since_unix_s, r.totals.activations),
            (true, 1_700_000_500, activations + 1)
        );
        assert!(!while_active(&mut r, Some(true), None, BACKUP_ALIVE, now()).completed);
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
