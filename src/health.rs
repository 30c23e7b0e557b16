//! Judgement, as pure functions of what a round observed and when: is the primary
//! down, is it back for long enough to fail back (hysteresis and flap damping), and does
//! the tunnel carry traffic over the backup path. Nothing here reads a clock or a socket:
//! times come in as arguments, so every edge (a clock that went back, a handshake in the
//! future, a new boot) is unit-tested.
//!
//! Times that must survive between cron ticks are CLOCK_BOOTTIME seconds: monotonic
//! across processes and unaffected by the wall clock, which a router without an RTC steps
//! at its first NTP sync. WireGuard reports handshakes in wall time, so those are only
//! ever compared with each other or bounded by "now" (see [`handshake_fresh`]).
#![forbid(unsafe_code)]

use std::fmt;
use std::time::Duration;

/// Why the primary WAN is not healthy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unhealthy {
    Missing,
    AdminDown,
    NoCarrier,
    /// PRIMARY_GW=auto found no gateway for the device.
    NoGateway,
    /// TRACK_IPS, and PRIMARY_DEV has no IPv4 address to send their echoes from.
    NoAddress,
    GatewaySilent,
    /// Fewer than TRACK_RELIABILITY of TRACK_IPS answered.
    Upstream {
        answered: usize,
        needed: usize,
        of: usize,
    },
    LoadBalancer(String),
    /// Its echoes answer, but worse than a quality limit (`judge::quality_verdict`).
    Quality(Poor),
}

/// What a round's or a window's echoes came to, against which limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poor {
    /// Loss above `limit_pct` (of `key`): `lost` of `sent` echoes.
    Loss { lost: u32, sent: u32, limit_pct: u32, key: &'static str },
    /// Mean round-trip time of the answered echoes above `limit_ms` (of `key`).
    Latency { mean_ms: u64, limit_ms: u64, key: &'static str },
    /// During the failback wait, no echo settled yet in a fresh window: not proven good.
    Unmeasured,
}

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unhealthy::Missing => f.write_str("interface does not exist"),
            Unhealthy::AdminDown => f.write_str("administratively down"),
            Unhealthy::NoCarrier => f.write_str("no carrier"),
            Unhealthy::NoGateway => f.write_str("no gateway found (PRIMARY_GW=auto)"),
            Unhealthy::NoAddress => f.write_str("no IPv4 address to send TRACK_IPS' echoes from"),
            Unhealthy::GatewaySilent => f.write_str("gateway does not answer"),
            Unhealthy::Upstream { answered, needed, of } => {
                write!(f, "upstream unreachable: {answered} of {of} TRACK_IPS answered, {needed} needed")
            }
            Unhealthy::LoadBalancer(s) => write!(f, "load balancer reports it {s}"),
            Unhealthy::Quality(Poor::Loss { lost, sent, limit_pct, key }) => {
                write!(f, "poor quality: {lost} of {sent} echoes lost, above {key}={limit_pct} %")
            }
            Unhealthy::Quality(Poor::Latency { mean_ms, limit_ms, key }) => {
                write!(f, "poor quality: mean round-trip {mean_ms} ms, above {key}={limit_ms} ms")
            }
            Unhealthy::Quality(Poor::Unmeasured) => f.write_str("quality not measured yet"),
        }
    }
}

/// Where the primary stands after a round, while the failsafe is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failback {
    /// The round failed: the count starts again at the next passing round.
    Down,
    /// Every round has passed since `since_ms`, but not yet for the required time.
    Waiting { since_ms: u64, left_ms: u64, first: bool },
    /// Passing for the required time: fail back now.
    Back,
}

/// Failback hysteresis: `up_since_ms` is when the primary started passing every round
/// (None: the last round failed), `now_ms` the boot time of this round (milliseconds of
/// CLOCK_BOOTTIME: a daemon's rounds are a fraction of a second), `required_s` the wait
/// in force (UP_AFTER_S after flap damping). A mark later than `now_ms` cannot be from
/// this boot's clock: the count restarts rather than trusting it.
pub fn failback(up_since_ms: Option<u64>, passed: bool, now_ms: u64, required_s: u64) -> Failback {
    if !passed {
        return Failback::Down;
    }
    let since_ms = match up_since_ms {
        Some(t) if t <= now_ms => t,
        _ => now_ms,
    };
    let (elapsed_ms, required_ms) = (now_ms - since_ms, required_s.saturating_mul(1000));
    if elapsed_ms >= required_ms {
        Failback::Back
    } else {
        Failback::Waiting { since_ms, left_ms: required_ms - elapsed_ms, first: up_since_ms != Some(since_ms) }
    }
}

/// The failback state when a round judges (`run` and the daemon): at a closed probe round
/// (a tick is one) a failed round, even before DOWN_AFTER_MS, breaks the count; between
/// rounds (the daemon, at an event) a
/// primary that is unhealthy (a carrier lost, the device gone) is a failed round too — a
/// link that drops for less than a round must not fail back on schedule — and an event
/// with a healthy primary neither starts nor breaks the count (`None`).
pub fn round_failback(
    healthy: bool,
    round_passed: Option<bool>,
    up_since_ms: Option<u64>,
    now_ms: u64,
    required_s: u64,
) -> Option<Failback> {
    match (healthy, round_passed) {
        (false, _) => Some(Failback::Down),
        (true, Some(passed)) => Some(failback(up_since_ms, passed, now_ms, required_s)),
        (true, None) => None,
    }
}

impl Failback {
    /// Seconds until failback if the primary keeps passing, rounded up as the round tells
    /// them: 0 when it is now, `None` while it fails.
    pub fn left_s(&self) -> Option<u64> {
        match self {
            Failback::Down => None,
            Failback::Waiting { left_ms, .. } => Some(left_ms.div_ceil(1000)),
            Failback::Back => Some(0),
        }
    }
}

/// The failback as a round judges it, and as `status` reports it from the same facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailbackJudged {
    /// Where the primary stands (see [`round_failback`]; `None`: an event between rounds
    /// with the primary healthy).
    pub state: Option<Failback>,
    /// Fail back now: the primary passed for the wait, or passes this round and the
    /// current target carries nothing (DESIGN.md, "A dead path is no target").
    pub back: bool,
}

impl FailbackJudged {
    /// Seconds until failback if the primary keeps passing: 0 when it is now.
    pub fn left_s(&self) -> Option<u64> {
        if self.back {
            return Some(0);
        }
        self.state.and_then(|f| f.left_s())
    }
}

/// The failback judgement `run`, the daemon and `status` share: the primary's state after
/// this round ([`round_failback`] over the failback clock: passing since `up_since_ms`,
/// `required_s` to wait) and whether to fail back now, when the target is dead too.
pub fn failback_judged(
    healthy: bool,
    round_passed: Option<bool>,
    up_since_ms: Option<u64>,
    now_ms: u64,
    required_s: u64,
    target_dead: bool,
) -> FailbackJudged {
    let state = round_failback(healthy, round_passed, up_since_ms, now_ms, required_s);
    let passed = healthy && round_passed == Some(true);
    let back = state.is_some_and(|f| f == Failback::Back || (passed && target_dead));
    FailbackJudged { state, back }
}

/// Flap damping: the failback wait for an activation at `now_s`. A failover within
/// `window_s` of the last failback doubles the wait the last activation had (at least
/// `base_s`), up to `max_s`; a failover after a calm window starts again from `base_s`.
pub fn damped_wait(
    last_failback_s: Option<u64>,
    previous_wait_s: u64,
    now_s: u64,
    base_s: u64,
    max_s: u64,
    window_s: u64,
) -> u64 {
    let flapping = last_failback_s.is_some_and(|t| t <= now_s && now_s - t < window_s);
    if flapping {
        previous_wait_s.max(base_s).saturating_mul(2).min(max_s.max(base_s))
    } else {
        base_s
    }
}

/// Latest handshake times are durations since the Unix epoch (wall time), as WireGuard
/// reports them; `None` is "never".
pub type Handshake = Option<Duration>;

/// A handshake completed since `mark`, the latest handshake as read right after the
/// endpoint route via the backup went in: only such a handshake travelled the backup
/// path. Compared by value, not by clock, so a stepped wall clock cannot fake one.
#[inline(never)] // four callers: one copy of the comparison of two Option<Duration>
pub fn handshake_since(latest: Handshake, mark: Handshake) -> bool {
    latest.is_some() && latest != mark
}

/// How old the latest handshake is at `now`: the one reading of it for the tunnel's
/// verdict, `status` and the diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeAge {
    Never,
    /// Made this long ago. One dated up to a second after `now` was made between the
    /// reading of the clock and the reading of the peer: age 0, not a stepped clock.
    Ago(Duration),
    /// Dated more than a second after `now`: the wall clock was stepped back. Proves
    /// nothing.
    Ahead(Duration),
}

impl HandshakeAge {
    /// Whole seconds since the handshake (`None`: never, or dated ahead).
    pub fn secs(&self) -> Option<u64> {
        match self {
            HandshakeAge::Ago(d) => Some(d.as_secs()),
            _ => None,
        }
    }
}

impl fmt::Display for HandshakeAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeAge::Never => f.write_str("never"),
            HandshakeAge::Ago(d) => write!(f, "{} s ago", d.as_secs()),
            HandshakeAge::Ahead(d) => write!(f, "{} s in the future (clock stepped back?)", d.as_secs()),
        }
    }
}

/// The age of `latest` at `now` (see [`HandshakeAge`]).
pub fn handshake_age(latest: Handshake, now: Duration) -> HandshakeAge {
    match latest {
        None => HandshakeAge::Never,
        Some(t) if t <= now + Duration::from_secs(1) => HandshakeAge::Ago(now.saturating_sub(t)),
        Some(t) => HandshakeAge::Ahead(t - now),
    }
}

/// The handshake is at most `max_age_s` old. One dated after `now` (the wall clock was
/// stepped back) proves nothing and is not fresh.
pub fn handshake_fresh(latest: Handshake, now: Duration, max_age_s: u64) -> bool {
    matches!(handshake_age(latest, now), HandshakeAge::Ago(age) if age <= Duration::from_secs(max_age_s))
}

/// What one round saw of the tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelRound {
    /// WG_PEER_IP answered an echo through WG_IFACE in this round (the endpoint route
    /// via the backup was in place when it was sent).
    pub echo: bool,
    /// The peer has answered an echo before (remembered in STATE_DIR).
    pub peer_echoes: bool,
    pub latest: Handshake,
    /// The latest handshake when the endpoint route went in.
    pub mark: Handshake,
    /// Wall time of the round, since the epoch.
    pub now: Duration,
}

/// The tunnel carries traffic over the backup path: an echo answered now, or — only for
/// a peer that never answers echoes (ICMP filtered on the VPS) — a handshake made since
/// the mark and no older than `max_age_s`. A peer known to answer echoes is down as soon
/// as a round's echoes go unanswered; handshake age alone never proves anything.
pub fn tunnel_works(r: &TunnelRound, max_age_s: u64) -> bool {
    r.echo || (!r.peer_echoes && handshake_since(r.latest, r.mark) && handshake_fresh(r.latest, r.now, max_age_s))
}

/// The tunnel's verdict for a round whose echoes may be *unknown* (`None`: the daemon's
/// track has just started and closed no round): a peer that answers echoes is then not
/// judged at all (`None`: nothing switches on a guess); one that never answers echoes is
/// judged by its handshake as always.
pub fn tunnel_verdict(echo: Option<bool>, round: &TunnelRound, max_age_s: u64) -> Option<bool> {
    match echo {
        Some(echo) => Some(tunnel_works(&TunnelRound { echo, ..*round }, max_age_s)),
        None if round.peer_echoes => None,
        None => Some(tunnel_works(&TunnelRound { echo: false, ..*round }, max_age_s)),
    }
}

/// REJECT_AFTER_TIME: WireGuard uses a session for at most this long after the handshake
/// that made it. Until then a packet sent to the peer goes in that session and starts no
/// handshake of its own (a rekey waits for REKEY_AFTER_TIME, 120 s, and only the side
/// that initiated rekeys then).
pub const SESSION_MAX_AGE_S: u64 = 180;

/// The tunnel's proof needs a handshake that WireGuard will not start by itself: the
/// round's echoes went unanswered (or are unknown), the peer is judged by handshakes (it
/// answers no echo — at activation every peer is), none proves the tunnel, and the peer
/// may still hold a session: its latest handshake is younger than [`SESSION_MAX_AGE_S`]
/// (or dated after now: a stepped clock says nothing of its age). Then renewing the peer
/// drops that session, and the next echo starts a handshake over the backup path. Without
/// a session (never, or too old) the next echo starts one anyway: nothing to renew; after a
/// renewal the latest handshake is "never" until one completes, so a round renews a peer
/// at most once for each session made before the mark or gone stale.
pub fn handshake_wanted(echo: Option<bool>, r: &TunnelRound, max_age_s: u64) -> bool {
    let unproven = echo != Some(true) && !r.peer_echoes && !tunnel_works(&TunnelRound { echo: false, ..*r }, max_age_s);
    let session_may_hold = r.latest.is_some_and(|t| r.now.saturating_sub(t) < Duration::from_secs(SESSION_MAX_AGE_S));
    unproven && session_may_hold
}

/// ⌈DOWN_AFTER_MS / PROBE_INTERVAL_MS⌉ rounds, at least one: DOWN_AFTER_MS counted in
/// rounds, so that a round timer a millisecond early never costs a whole extra round —
/// what the tunnel's track needs to come back, and BACKUP_CHECK in the daemon to turn.
pub fn rounds_needed(down_after_ms: u64, interval_ms: u64) -> u32 {
    down_after_ms.div_ceil(interval_ms.max(1)).clamp(1, u64::from(u32::MAX)) as u32
}

/// A round of upstream tracking passes when at least `needed` targets answered.
pub fn track_passes(answered: usize, needed: usize) -> bool {
    answered >= needed.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failback_waits_out_the_required_time_without_a_break() {
        // First passing round: the count starts, and this is the first waiting round.
        let w = |since_ms, left_ms, first| Failback::Waiting { since_ms, left_ms, first };
        assert_eq!(failback(None, true, 1_000_000, 60), w(1_000_000, 60_000, true));
        assert_eq!(failback(Some(1_000_000), true, 1_030_000, 60), w(1_000_000, 30_000, false));
        assert_eq!(failback(Some(1_000_000), true, 1_059_999, 60), w(1_000_000, 1, false), "not a millisecond early");
        assert_eq!(failback(Some(1_000_000), true, 1_060_000, 60), Failback::Back);
        // A failed round breaks the count; the next pass starts it again.
        assert_eq!(failback(Some(1_000_000), false, 1_059_000, 60), Failback::Down);
        assert_eq!(failback(None, true, 1_061_000, 60), w(1_061_000, 60_000, true));
        // UP_AFTER_S=0: back at the first passing round.
        assert_eq!(failback(None, true, 5, 0), Failback::Back);
    }

    #[test]
    fn the_daemon_counts_a_carrier_loss_between_rounds_as_a_failed_round() {
        let waiting = |since_ms, left_ms| Some(Failback::Waiting { since_ms, left_ms, first: false });
        assert_eq!(round_failback(true, Some(true), Some(1_000), 31_000, 60), waiting(1_000, 30_000));
        assert_eq!(round_failback(true, Some(false), Some(1_000), 31_000, 60), Some(Failback::Down));
        // The carrier goes between two rounds: the count breaks (it did not before).
        assert_eq!(round_failback(false, None, Some(1_000), 31_200, 60), Some(Failback::Down));
        // Any other event with the primary healthy leaves the count as it is.
        assert_eq!(round_failback(true, None, Some(1_000), 31_200, 60), None);
    }

    #[test]
    fn the_failback_judged_is_the_rounds_and_status_reads_its_wait_from_it() {
        // (healthy, round passed, up since, target dead) at 31 s, a wait of 60 s → (back, left)
        type Row = (bool, Option<bool>, Option<u64>, bool, bool, Option<u64>);
        let table: [Row; 8] = [
            (true, Some(true), Some(1_000), false, false, Some(30)),
            (true, Some(true), None, false, false, Some(60)),
            (true, Some(true), Some(1_000), true, true, Some(0)),
            (true, Some(true), Some(500), false, false, Some(30)),
            (true, Some(false), Some(1_000), true, false, None),
            (false, Some(false), Some(1_000), true, false, None),
            (true, None, Some(1_000), true, false, None),
            (true, Some(true), Some(0), false, false, Some(29)),
        ];
        for (healthy, passed, since, dead, back, left) in table {
            let j = failback_judged(healthy, passed, since, 31_000, 60, dead);
            assert_eq!((j.back, j.left_s()), (back, left), "{healthy} {passed:?} {since:?} dead {dead}");
        }
        let j = failback_judged(true, Some(true), Some(1_000), 61_000, 60, false);
        assert_eq!((j.state, j.back, j.left_s()), (Some(Failback::Back), true, Some(0)));
        assert_eq!(Failback::Waiting { since_ms: 0, left_ms: 59_001, first: false }.left_s(), Some(60), "rounded up");
    }

    #[test]
    fn a_mark_from_the_future_restarts_the_count() {
        // Boot time never goes back within a boot; a mark ahead of it is another boot's.
        assert_eq!(
            failback(Some(5_000_000), true, 100, 60),
            Failback::Waiting { since_ms: 100, left_ms: 60_000, first: true }
        );
    }

    #[test]
    fn flap_damping_doubles_within_the_window_and_resets_after() {
        let d = |last, prev, now| damped_wait(last, prev, now, 60, 900, 900);
        assert_eq!(d(None, 0, 10_000), 60, "first failover ever");
        assert_eq!(d(Some(9_500), 60, 10_000), 120, "failover 500 s after a failback");
        assert_eq!(d(Some(9_500), 120, 10_000), 240);
        assert_eq!(d(Some(9_500), 480, 10_000), 900, "capped at UP_AFTER_MAX_S");
        assert_eq!(d(Some(9_500), 900, 10_000), 900);
        assert_eq!(d(Some(9_000), 480, 10_000), 60, "a calm FLAP_WINDOW_S resets it");
        assert_eq!(d(Some(20_000), 480, 10_000), 60, "a failback 'later' than now is another boot's");
        // UP_AFTER_S=0 stays 0: damping has nothing to double.
        assert_eq!(damped_wait(Some(9_990), 0, 10_000, 0, 900, 900), 0);
        // A smaller base than the previous wait still doubles the previous one.
        assert_eq!(damped_wait(Some(9_990), 200, 10_000, 60, 900, 900), 400);
    }

    fn at(s: u64) -> Duration {
        Duration::from_secs(1_700_000_000 + s)
    }

    #[test]
    fn only_a_handshake_made_since_the_mark_counts() {
        assert!(!handshake_since(None, None), "never");
        assert!(!handshake_since(Some(at(10)), Some(at(10))), "the one made over the primary");
        assert!(handshake_since(Some(at(11)), Some(at(10))));
        assert!(handshake_since(Some(at(11)), None), "the first one ever");
        // By value, not by clock: one dated "earlier" (clock stepped back) is still new.
        assert!(handshake_since(Some(at(5)), Some(at(10))));
    }

    #[test]
    fn one_reading_of_a_handshakes_age() {
        let now = at(1000);
        assert_eq!(handshake_age(None, now), HandshakeAge::Never);
        assert_eq!(handshake_age(Some(at(988)), now).secs(), Some(12));
        // Made between the reading of the clock and the peer's: age 0, fresh — `status`
        // said "no handshake" for it, the round "fresh".
        let just = Some(now + Duration::from_millis(300));
        assert_eq!(handshake_age(just, now), HandshakeAge::Ago(Duration::ZERO));
        assert!(handshake_fresh(just, now, 180));
        assert_eq!(handshake_age(Some(at(1005)), now).to_string(), "5 s in the future (clock stepped back?)");
        assert_eq!(handshake_age(Some(at(1005)), now).secs(), None);
        assert_eq!(handshake_age(Some(at(988)), now).to_string(), "12 s ago");
    }

    #[test]
    fn future_handshakes_are_not_fresh() {
        assert!(handshake_fresh(Some(at(100)), at(150), 180));
        assert!(!handshake_fresh(Some(at(100)), at(281), 180), "too old");
        assert!(!handshake_fresh(None, at(0), 180));
        assert!(!handshake_fresh(Some(at(500)), at(100), 180), "dated 400 s after now: clock stepped back");
        assert!(handshake_fresh(Some(at(100) + Duration::from_millis(500)), at(100), 180), "sub-second skew");
    }

    #[test]
    fn the_tunnel_is_judged_by_echo_first_and_handshakes_only_for_silent_peers() {
        let r = TunnelRound { echo: false, peer_echoes: false, latest: Some(at(90)), mark: Some(at(10)), now: at(100) };
        assert!(tunnel_works(&r, 180), "silent peer, handshake since the mark");
        assert!(!tunnel_works(&TunnelRound { mark: Some(at(90)), ..r }, 180), "handshake only from before the mark");
        assert!(!tunnel_works(&TunnelRound { peer_echoes: true, ..r }, 180), "an echoing peer that stopped echoing");
        assert!(tunnel_works(&TunnelRound { echo: true, latest: None, ..r }, 180));
        assert!(!tunnel_works(&TunnelRound { latest: Some(at(400)), ..r }, 180), "handshake in the future");
        assert!(!tunnel_works(&TunnelRound { now: at(300), ..r }, 180), "stale");
    }

    #[test]
    fn an_unknown_round_switches_nothing_for_a_peer_that_echoes() {
        let r = TunnelRound { echo: false, peer_echoes: true, latest: Some(at(90)), mark: Some(at(10)), now: at(100) };
        assert_eq!(tunnel_verdict(None, &r, 180), None, "a fresh track is no verdict");
        assert_eq!(tunnel_verdict(Some(false), &r, 180), Some(false));
        assert_eq!(tunnel_verdict(Some(true), &r, 180), Some(true));
        // A peer that never echoes is judged by its handshake, known echoes or not.
        let silent = TunnelRound { peer_echoes: false, ..r };
        assert_eq!(tunnel_verdict(None, &silent, 180), Some(true));
        assert_eq!(tunnel_verdict(None, &TunnelRound { mark: Some(at(90)), ..silent }, 180), Some(false));
    }

    #[test]
    fn a_handshake_is_provoked_only_when_a_session_wireguard_holds_stands_in_the_proofs_way() {
        // Activation: the session made over the primary 30 s ago is the mark's.
        let r = TunnelRound { echo: false, peer_echoes: false, latest: Some(at(70)), mark: Some(at(70)), now: at(100) };
        assert!(handshake_wanted(Some(false), &r, 180), "a session that starts no handshake");
        assert!(handshake_wanted(None, &r, 180), "the daemon's track knows nothing yet");
        assert!(!handshake_wanted(Some(true), &r, 180), "an echo answered proves it");
        assert!(!handshake_wanted(Some(false), &TunnelRound { peer_echoes: true, ..r }, 180), "only echoes count");
        // No session to drop: the next echo handshakes by itself.
        assert!(!handshake_wanted(Some(false), &TunnelRound { latest: None, mark: None, ..r }, 180), "never");
        assert!(!handshake_wanted(Some(false), &TunnelRound { now: at(251), ..r }, 180), "older than 180 s");
        assert!(handshake_wanted(Some(false), &TunnelRound { now: at(249), ..r }, 180));
        // Renewed: "never" until the new one completes, which then proves the tunnel.
        assert!(!handshake_wanted(Some(false), &TunnelRound { latest: None, ..r }, 180), "renewed, none yet");
        assert!(!handshake_wanted(Some(false), &TunnelRound { latest: Some(at(99)), ..r }, 180), "proven");
        // A handshake since the mark gone stale while its session still holds (a short
        // HANDSHAKE_MAX_AGE): renewed for a fresh one.
        let stale = TunnelRound { latest: Some(at(30)), mark: Some(at(10)), ..r };
        assert!(handshake_wanted(Some(false), &stale, 60));
        assert!(!handshake_wanted(Some(false), &stale, 180), "fresh enough");
        // Dated after now (the clock went back): its age is unknown, the session may hold.
        assert!(handshake_wanted(Some(false), &TunnelRound { latest: Some(at(500)), mark: Some(at(500)), ..r }, 180));
    }

    #[test]
    fn down_after_ms_is_counted_in_whole_rounds() {
        assert_eq!(rounds_needed(2000, 500), 4, "4 rounds of 500 ms: 2000 ms without a pass");
        assert_eq!(rounds_needed(2000, 300), 7, "rounded up to whole rounds");
        assert_eq!(rounds_needed(100, 500), 1, "at least one round");
        assert_eq!(rounds_needed(1, 0), 1, "a zero interval cannot divide by zero");
    }

    #[test]
    fn tracking_needs_the_reliability() {
        assert!(track_passes(1, 1) && track_passes(3, 2));
        assert!(!track_passes(1, 2) && !track_passes(0, 1));
    }

    #[test]
    fn reasons_read_well() {
        assert_eq!(
            Unhealthy::Upstream { answered: 0, needed: 1, of: 2 }.to_string(),
            "upstream unreachable: 0 of 2 TRACK_IPS answered, 1 needed"
        );
    }
}
