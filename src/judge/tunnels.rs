//! Several tunnels, in order of preference: which one carries the LAN, judged over what
//! each was seen doing. Pure: the sequences prove the tunnels and act on the answer.
//!
//! - At activation the first tunnel proven over the backup, in order ([`first_proven`]).
//! - While active, a dead tunnel is replaced at once by the first one that works (a dead
//!   target waits for nothing); none works: the backup (FALLBACK says whether the tables
//!   may go there).
//! - A tunnel earlier in the order than the one in use is moved back to only once it has
//!   passed every round for the wait (UP_AFTER_S as damped, the primary's own failback
//!   wait): one lost echo restarts its clock, so a tunnel that comes and goes never
//!   flaps the LAN.

use crate::config::Fallback;
use crate::health::Handshake;
use crate::model::Target;
pub use crate::model::TunnelHealth;

/// What a round saw of the tunnels not in use (several tunnels, while the failsafe is on).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OthersHealth {
    /// None was watched this round (one tunnel; the one in use is the first and works;
    /// not due yet).
    #[default]
    Unwatched,
    /// Each tunnel in order (the one in use's slot left empty: its verdict is the round's).
    Seen(Vec<OtherTunnel>),
    /// Their echoes are still out (the daemon asks them beside its loop).
    Pending,
}

/// One tunnel as a round saw it, with what the record keeps when the LAN moves to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtherTunnel {
    pub health: TunnelHealth,
    /// Its interface.
    pub iface: String,
    /// The first of the tunnels (the record names the others only).
    pub first: bool,
    /// Its peer's latest handshake when it answered: the mark from a switch to it on.
    pub mark: Handshake,
}

/// Which tunnels a round watches besides the one in use (`in_use` of `n`), and whether it
/// looks for a replacement: the one in use carries the LAN and works (or is not judged),
/// only the earlier ones (the LAN moves back to them); it does not, or the LAN is on the
/// backup, every other one, in order, until one answers.
pub fn tunnels_watched(n: usize, in_use: usize, on_tunnel: bool, verdict: Option<bool>) -> (Vec<usize>, bool) {
    let replacing = !on_tunnel || verdict == Some(false);
    let dead = verdict != Some(true) && replacing;
    ((0..n).filter(|i| *i != in_use && (*i < in_use || dead)).collect(), replacing)
}

/// The verdict on the tunnel the LAN is on after the round, and the tunnel it moves to
/// when another takes it (`judge::tunnel_choice` over what was seen): `verdict` is the one
/// in use's (`in_use`, carrying the LAN when `on_tunnel`). Their echoes still out while
/// it is being replaced: not judged this round (`None`), nothing moves until they are in.
pub fn tunnel_after_round(
    (in_use, on_tunnel): (usize, bool),
    verdict: Option<bool>,
    others: &OthersHealth,
    now_ms: u64,
    wait_s: u64,
) -> (Option<bool>, Option<usize>) {
    let replacing = !on_tunnel || verdict == Some(false);
    let seen = match others {
        OthersHealth::Unwatched => return (verdict, None),
        OthersHealth::Pending if replacing => return (None, None),
        OthersHealth::Pending => return (verdict, None),
        OthersHealth::Seen(seen) => seen,
    };
    let mut health: Vec<TunnelHealth> = seen.iter().map(|o| o.health).collect();
    if let Some(h) = health.get_mut(in_use) {
        *h = TunnelHealth { works: verdict, passing_since_ms: None };
    }
    match tunnel_choice(on_tunnel.then_some(in_use), &health, now_ms, wait_s) {
        Some(to) if to != in_use => (Some(true), Some(to)),
        _ => (verdict, None),
    }
}

/// What the tables point at after a round while the failsafe is on, from what they point
/// at (`current`) and the tunnel's verdict this round (`None`: not judged — the daemon's
/// track has just started —, so nothing moves): a dead tunnel falls back to the backup
/// only with FALLBACK=backup and a backup link that is alive; a tunnel that works again is
/// taken back at once (its hysteresis is the verdict's).
pub fn target_while_active(current: Target, verdict: Option<bool>, fallback: Fallback, backup_alive: bool) -> Target {
    match (current, verdict, fallback) {
        (Target::Tunnel, Some(false), Fallback::Backup) if backup_alive => Target::Backup,
        (Target::Backup, Some(true), _) => Target::Tunnel,
        (t, _, _) => t,
    }
}

/// Activation's order: the first tunnel proven, `None` when none was (the backup directly).
pub fn first_proven(proven: &[bool]) -> Option<usize> {
    proven.iter().position(|p| *p)
}

/// The tunnel that carries the LAN after this round (`None`: the backup), from the one
/// in use (`current`, `None` on the backup), each tunnel's health in order of preference,
/// the time now and the wait a switch back takes (`wait_s`).
pub fn tunnel_choice(current: Option<usize>, seen: &[TunnelHealth], now_ms: u64, wait_s: u64) -> Option<usize> {
    let works = |i: usize| seen.get(i).is_some_and(|t| t.works == Some(true));
    let held = |t: &TunnelHealth| {
        t.works == Some(true) && t.passing_since_ms.is_some_and(|s| now_ms.saturating_sub(s) >= wait_s * 1000)
    };
    match current {
        // On the backup (or a tunnel no longer configured): the first tunnel that works,
        // at once, as a single tunnel is taken back at its first proof.
        None => (0..seen.len()).find(|i| works(*i)),
        Some(c) if c >= seen.len() => (0..seen.len()).find(|i| works(*i)),
        // The one in use is dead: the first other that works, else the backup.
        Some(c) if seen[c].works == Some(false) => (0..seen.len()).find(|i| *i != c && works(*i)),
        // It works (or is not judged): an earlier one that has held for the wait.
        Some(c) => seen[..c].iter().position(held).or(Some(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: TunnelHealth = TunnelHealth { works: Some(true), passing_since_ms: Some(0) };
    const DOWN: TunnelHealth = TunnelHealth { works: Some(false), passing_since_ms: None };
    const UNKNOWN: TunnelHealth = TunnelHealth { works: None, passing_since_ms: None };

    fn up_since(ms: u64) -> TunnelHealth {
        TunnelHealth { works: Some(true), passing_since_ms: Some(ms) }
    }

    #[test]
    fn while_active_the_tables_follow_the_tunnel_only_on_a_verdict() {
        use Target::{Backup, Tunnel};
        let on = |current, verdict, fallback, alive| target_while_active(current, verdict, fallback, alive);
        // Not judged (a fresh track): nothing moves, whatever the last verdict was.
        assert_eq!(on(Tunnel, None, Fallback::Backup, true), Tunnel);
        assert_eq!(on(Backup, None, Fallback::Backup, true), Backup);
        // A dead tunnel: the backup, only when FALLBACK allows it and the link is alive.
        assert_eq!(on(Tunnel, Some(false), Fallback::Backup, true), Backup);
        assert_eq!(on(Tunnel, Some(false), Fallback::Backup, false), Tunnel);
        assert_eq!(on(Tunnel, Some(false), Fallback::None, true), Tunnel);
        // A tunnel that works again takes the tables back; the backup stays otherwise.
        assert_eq!(on(Backup, Some(true), Fallback::Backup, true), Tunnel);
        assert_eq!(on(Backup, Some(false), Fallback::Backup, true), Backup);
        assert_eq!(on(Tunnel, Some(true), Fallback::Backup, true), Tunnel);
    }

    #[test]
    fn activation_takes_the_first_proven_in_order() {
        assert_eq!(first_proven(&[true, true]), Some(0));
        assert_eq!(first_proven(&[false, true]), Some(1));
        assert_eq!(first_proven(&[false, false]), None);
        assert_eq!(first_proven(&[]), None);
    }

    #[test]
    fn a_dead_tunnel_is_replaced_at_once_by_the_first_that_works() {
        assert_eq!(tunnel_choice(Some(0), &[DOWN, up_since(99_000)], 100_000, 60), Some(1));
        assert_eq!(tunnel_choice(Some(1), &[up_since(99_000), DOWN], 100_000, 60), Some(0), "no wait from a dead one");
        assert_eq!(tunnel_choice(Some(0), &[DOWN, DOWN, UP], 100_000, 60), Some(2));
        assert_eq!(tunnel_choice(Some(0), &[DOWN, UNKNOWN], 100_000, 60), None, "unproven is no target");
        assert_eq!(tunnel_choice(Some(0), &[DOWN, DOWN], 100_000, 60), None);
    }

    #[test]
    fn the_first_is_moved_back_to_only_after_the_wait() {
        let now = 100_000;
        assert_eq!(tunnel_choice(Some(1), &[up_since(now - 59_999), UP], now, 60), Some(1));
        assert_eq!(tunnel_choice(Some(1), &[up_since(now - 60_000), UP], now, 60), Some(0));
        assert_eq!(tunnel_choice(Some(1), &[up_since(now), UP], now, 0), Some(0), "UP_AFTER_S=0: at once");
        // Its clock restarted by a lost echo (or not judged this round): no switch.
        assert_eq!(tunnel_choice(Some(1), &[DOWN, UP], now, 60), Some(1));
        assert_eq!(tunnel_choice(Some(1), &[UNKNOWN, UP], now, 60), Some(1));
        // A later tunnel is never preferred to the one in use, however long it held.
        assert_eq!(tunnel_choice(Some(0), &[UP, UP], now, 0), Some(0));
        // The one in use not judged this round: it stays, unless an earlier one held.
        assert_eq!(tunnel_choice(Some(2), &[DOWN, UP, UNKNOWN], now, 60), Some(1));
        assert_eq!(tunnel_choice(Some(2), &[DOWN, up_since(now), UNKNOWN], now, 60), Some(2));
    }

    #[test]
    fn from_the_backup_the_first_tunnel_that_works_at_once() {
        assert_eq!(tunnel_choice(None, &[DOWN, up_since(100_000)], 100_000, 60), Some(1));
        assert_eq!(tunnel_choice(None, &[up_since(100_000), UP], 100_000, 60), Some(0));
        assert_eq!(tunnel_choice(None, &[UNKNOWN, DOWN], 100_000, 60), None);
        assert_eq!(tunnel_choice(Some(5), &[DOWN, UP], 100_000, 60), Some(1), "a tunnel no longer configured");
    }

    #[test]
    fn an_oscillating_first_tunnel_never_flaps_the_lan() {
        // The first passes for 50 s, fails a round, passes again: with a 60 s wait the LAN
        // stays on the second the whole time.
        let mut since = None;
        let mut on = Some(1);
        for t_s in 0..600u64 {
            let first_ok = t_s % 51 != 50;
            since = if first_ok { since.or(Some(t_s * 1000)) } else { None };
            let first = TunnelHealth { works: Some(first_ok), passing_since_ms: since };
            on = tunnel_choice(on, &[first, UP], t_s * 1000, 60);
            assert_eq!(on, Some(1), "at {t_s} s");
        }
    }
}
