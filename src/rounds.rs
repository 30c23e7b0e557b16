//! The rounds of one continuously probed path (the daemon's probe tracks), as pure
//! bookkeeping: which echo round was sent when, which targets answered it, and what the
//! closed rounds say. dpinger's model: a round counts as lost only once its timeout has
//! passed, so a reply slower than the probe interval (a bufferbloated DSL or LTE line
//! answering at 600 ms with rounds every 500) still counts for the round it answers; a
//! round closes early as soon as enough targets have answered it. Rounds close in the
//! order they were sent.
//!
//! A track that has just started (after an activation, at start, after a re-exec) has
//! closed no round: its verdict is *unknown*, never up.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::time::Duration;

use crate::probe::Stats;

/// Rounds kept open at most (a timeout of many intervals): older ones close as lost.
const MAX_OPEN: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Open {
    seq: u16,
    sent_ms: u64,
    answered: Vec<bool>,
}

/// The rounds of one path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rounds {
    open: VecDeque<Open>,
    /// Closed rounds failed since the last that passed.
    pub failed: u32,
    /// Closed rounds passed in a row.
    pub passes: u32,
    /// The last closed round passed; `None` before the first closes.
    pub last: Option<bool>,
    /// When (ms of the caller's monotonic clock) the last passing round closed.
    pub last_pass_ms: Option<u64>,
    /// How many targets answered the last closed round.
    pub answered_last: usize,
    /// When the first round went out (a track that never passed counts from there).
    first_sent_ms: Option<u64>,
}

/// What the closed rounds say of a path, with hysteresis: down once no round has passed
/// for DOWN_AFTER_MS (and the last closed one failed), up again only after `n` passing
/// rounds in a row, ⌈DOWN_AFTER_MS / PROBE_INTERVAL_MS⌉: as many as losing it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not enough rounds closed to say (a fresh track).
    Unknown,
    Up,
    Down,
}

impl Rounds {
    /// A round of echoes to `targets` targets went out at `now_ms` with sequence `seq`.
    pub fn sent(&mut self, seq: u16, now_ms: u64, targets: usize) {
        self.first_sent_ms.get_or_insert(now_ms);
        self.open.push_back(Open { seq, sent_ms: now_ms, answered: vec![false; targets] });
    }

    /// Target `target` answered the round with sequence `seq`; a reply to a round that
    /// has closed (or was never sent) counts for nothing.
    pub fn answer(&mut self, seq: u16, target: usize) {
        if let Some(slot) = self.open.iter_mut().find(|o| o.seq == seq).and_then(|o| o.answered.get_mut(target)) {
            *slot = true;
        }
    }

    /// Closes, in the order they were sent, every round that `need` targets answered and
    /// every round older than `timeout_ms`. With `overflowed` (replies were dropped by the
    /// kernel since the last close) a round that went unanswered closes as unknown: neither
    /// failed nor passed. Returns the rounds closed now, in order: passed or not (the
    /// unknown ones left out), each a verdict for BACKUP_CHECK.
    pub fn close(&mut self, now_ms: u64, timeout_ms: u64, need: usize, overflowed: bool) -> Vec<bool> {
        let mut closed = Vec::new();
        while let Some(front) = self.open.front() {
            let answered = front.answered.iter().filter(|a| **a).count();
            let passed = !front.answered.is_empty() && answered >= need.clamp(1, front.answered.len());
            let due = now_ms.saturating_sub(front.sent_ms) >= timeout_ms || self.open.len() > MAX_OPEN;
            if !passed && !due {
                break;
            }
            self.open.pop_front();
            if !passed && overflowed {
                continue;
            }
            self.answered_last = answered;
            self.last = Some(passed);
            closed.push(passed);
            if passed {
                self.last_pass_ms = Some(now_ms);
                self.failed = 0;
                self.passes = self.passes.saturating_add(1);
            } else {
                self.failed = self.failed.saturating_add(1);
                self.passes = 0;
            }
        }
        closed
    }

    /// Rounds sent and not closed yet.
    pub fn in_flight(&self) -> usize {
        self.open.len()
    }

    /// Down: the last closed round failed, and none has passed for `down_after_ms` (since
    /// the first round went out, for a track that never passed). Counted in time, not in
    /// rounds: a round is known lost only PROBE_TIMEOUT_MS after it went out, so counting
    /// lost rounds would add that timeout to every detection.
    pub fn down(&self, now_ms: u64, down_after_ms: u64) -> bool {
        let Some(since) = self.last_pass_ms.or(self.first_sent_ms) else { return false };
        self.last == Some(false) && now_ms.saturating_sub(since) >= down_after_ms
    }

    /// The verdict after the verdict `was`, with hysteresis (see [`Verdict`]).
    pub fn verdict(&self, was: Verdict, n: u32, now_ms: u64, down_after_ms: u64) -> Verdict {
        let down = self.down(now_ms, down_after_ms);
        match was {
            Verdict::Up | Verdict::Unknown if down => Verdict::Down,
            Verdict::Down | Verdict::Unknown if self.passes >= n.max(1) => Verdict::Up,
            v => v,
        }
    }
}

/// Echoes a quality window keeps at most (a window of many rounds of many targets): the
/// oldest are forgotten first. 16 TRACK_IPS every 100 ms for 25 s.
const MAX_WINDOW_ECHOES: usize = 4096;

/// One echo in a quality window: its round, target, when it went out, and its round-trip
/// time once answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Echo {
    seq: u16,
    target: u16,
    sent_ms: u64,
    rtt_ms: Option<u64>,
}

/// The echoes of one path over the last QUALITY_WINDOW_S (issue 18), kept apart from the
/// rounds: a round closes as soon as enough targets answered it, while every echo counts
/// for the window. dpinger's model: an unanswered echo counts as lost only once
/// PROBE_TIMEOUT_MS has passed; before, it is not counted at all. Fed by the daemon's
/// tracks from the echoes they send anyway: no packet, no system call of its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    echoes: VecDeque<Echo>,
    /// When the first echo went out: the window says nothing before it spans a whole
    /// QUALITY_WINDOW_S (a fresh track's first lost echo is not 100 % loss).
    first_sent_ms: Option<u64>,
    /// How many targets its rounds go to: each is judged on its own echoes.
    targets: usize,
}

impl Window {
    /// A round `seq` went out at `now_ms` to `targets` targets.
    pub fn sent(&mut self, seq: u16, now_ms: u64, targets: usize) {
        self.first_sent_ms.get_or_insert(now_ms);
        self.targets = targets.min(usize::from(u16::MAX));
        for target in 0..self.targets {
            if self.echoes.len() >= MAX_WINDOW_ECHOES {
                self.echoes.pop_front();
            }
            self.echoes.push_back(Echo { seq, target: target as u16, sent_ms: now_ms, rtt_ms: None });
        }
    }

    /// Target `target` answered round `seq` at `now_ms`: the first answer counts, a
    /// duplicate or one to an echo already forgotten does not.
    pub fn answer(&mut self, seq: u16, target: usize, now_ms: u64) {
        let hit = self.echoes.iter_mut().rev().find(|e| e.seq == seq && usize::from(e.target) == target);
        if let Some(e) = hit.filter(|e| e.rtt_ms.is_none()) {
            e.rtt_ms = Some(now_ms.saturating_sub(e.sent_ms));
        }
    }

    /// What each target's echoes sent in the last `window_ms` came to at `now_ms`, in the
    /// targets' order (the quality limits judge every target on its own, as dpinger and
    /// mwan3 do): each answered one (within `timeout_ms`: a later answer is a lost echo,
    /// as for the rounds), and each unanswered one older than `timeout_ms` as lost; the
    /// ones still in flight are left out. `None` before the window spans `window_ms` (see
    /// [`Window::first_sent_ms`]) or with nothing settled in it for any target. Echoes
    /// older than the window are forgotten.
    pub fn stats(&mut self, now_ms: u64, window_ms: u64, timeout_ms: u64) -> Option<Vec<Stats>> {
        let from = now_ms.saturating_sub(window_ms);
        while self.echoes.front().is_some_and(|e| e.sent_ms < from) {
            self.echoes.pop_front();
        }
        if self.first_sent_ms.is_none_or(|first| now_ms.saturating_sub(first) < window_ms) {
            return None;
        }
        let mut per_target = vec![Stats::default(); self.targets];
        for e in &self.echoes {
            let Some(s) = per_target.get_mut(usize::from(e.target)) else { continue };
            match e.rtt_ms {
                Some(rtt) if rtt <= timeout_ms => {
                    s.sent += 1;
                    s.received += 1;
                    s.rtt_total += Duration::from_millis(rtt);
                }
                _ if now_ms.saturating_sub(e.sent_ms) >= timeout_ms => s.sent += 1,
                _ => {}
            }
        }
        per_target.iter().any(|s| s.sent > 0).then_some(per_target)
    }
}

/// How long the daemon serves the primary's gateway's link-layer address from its copy
/// between reads of the neighbour table, while the primary's rounds pass.
pub const LLADDR_KEPT_MS: u64 = 30_000;

/// Whether the daemon's copy of the gateway's link-layer address, read `age_ms` ago for
/// the same link and gateway, still serves: up to [`LLADDR_KEPT_MS`] while the last round
/// passed, and for two probe intervals only once one failed (a gateway replaced behind
/// the same address is then read again at once). `run` reads the table at every tick.
pub fn lladdr_kept(age_ms: u64, last_passed: bool, probe_interval_ms: u64) -> bool {
    age_ms < LLADDR_KEPT_MS && (last_passed || age_ms < probe_interval_ms.saturating_mul(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateways_link_layer_address_is_read_again_after_a_failed_round_or_30_s() {
        assert!(lladdr_kept(29_999, true, 500));
        assert!(!lladdr_kept(30_000, true, 500), "read again every 30 s");
        assert!(lladdr_kept(999, false, 500) && !lladdr_kept(1000, false, 500), "a failed round: read again");
    }

    /// The quality window: no verdict before it spans QUALITY_WINDOW_S; an echo in flight
    /// is not counted, one unanswered past PROBE_TIMEOUT_MS is lost, a reply later than
    /// that is a loss too; echoes older than the window are forgotten.
    #[test]
    fn the_quality_window_counts_an_echo_lost_only_after_its_timeout_and_slides() {
        let mut w = Window::default();
        // One target, rounds every 500 ms, a window of 2000 ms, timeout 1000 ms.
        for k in 0..4u16 {
            w.sent(k, u64::from(k) * 500, 1);
        }
        w.answer(0, 0, 100);
        w.answer(1, 0, 500 + 300);
        w.answer(1, 0, 500 + 900); // a duplicate: the first answer counts
        assert_eq!(w.stats(1900, 2000, 1000), None, "the window does not span 2000 ms yet");
        // At 2000: echoes 0..3 in the window; 0 and 1 answered, 2 (sent 1000) settled
        // lost at 2000, 3 (sent 1500) still in flight.
        let s = w.stats(2000, 2000, 1000).expect("spans the window")[0];
        assert_eq!((s.sent, s.received, s.rtt_total.as_millis()), (3, 2, 400));
        // Echo 3 answered 1200 ms late: past the timeout, lost.
        w.answer(3, 0, 1500 + 1200);
        w.sent(4, 2000, 1);
        w.sent(5, 2500, 1);
        // At 3000 the window starts at 1000: 0 and 1 are forgotten.
        let s = w.stats(3000, 2000, 1000).expect("spans")[0];
        assert_eq!((s.sent, s.received), (3, 0), "2, 3 and 4 lost, 5 in flight");
        assert_eq!(w.echoes.len(), 4);
        // Nothing settled: no verdict.
        let mut fresh = Window::default();
        fresh.sent(0, 0, 2);
        assert_eq!(fresh.stats(500, 400, 1000), None);
        // Bounded.
        for k in 0..(MAX_WINDOW_ECHOES as u16 + 10) {
            fresh.sent(k, 1, 1);
        }
        assert_eq!(fresh.echoes.len(), MAX_WINDOW_ECHOES);
    }

    /// Each target's echoes are counted apart: a target that never answers is that
    /// target's 100 % loss, not a share of its neighbours'.
    #[test]
    fn the_quality_window_counts_each_target_on_its_own() {
        let mut w = Window::default();
        for k in 0..4u16 {
            w.sent(k, u64::from(k) * 500, 3);
            w.answer(k, 0, u64::from(k) * 500 + 20);
            w.answer(k, 2, u64::from(k) * 500 + 40);
        }
        w.answer(0, 1, 900); // target 1 answers its first echo only, late but in time
        let s = w.stats(2000, 2000, 1000).expect("spans the window");
        let got: Vec<(u32, u32, u128)> = s.iter().map(|s| (s.sent, s.received, s.rtt_total.as_millis())).collect();
        // Echo 3 (sent 1500) is in flight for target 1, answered for 0 and 2.
        assert_eq!(got, [(4, 4, 80), (3, 1, 900), (4, 4, 160)]);
    }

    #[test]
    fn a_fresh_track_is_unknown_never_up() {
        let r = Rounds::default();
        assert_eq!(r.last, None);
        assert_eq!(r.verdict(Verdict::Unknown, 4, 10_000, 2000), Verdict::Unknown);
        assert!(!r.down(10_000, 2000));
    }

    #[test]
    fn a_reply_slower_than_the_interval_counts_for_its_round() {
        // Rounds every 500 ms, every reply 700 ms late, PROBE_TIMEOUT_MS 1000: at each
        // round the reply to the one sent two rounds ago has arrived (300 ms ago).
        let mut r = Rounds::default();
        let mut verdict = Verdict::Unknown;
        for k in 0..20u64 {
            let now = k * 500;
            if k >= 2 {
                r.answer((k - 2) as u16, 0);
            }
            r.close(now, 1000, 1, false);
            verdict = r.verdict(verdict, 4, now, 2000);
            assert_ne!(verdict, Verdict::Down, "round {k}");
            r.sent(k as u16, now, 1);
        }
        assert_eq!(verdict, Verdict::Up);
        assert_eq!(r.failed, 0);
    }

    #[test]
    fn a_round_is_lost_only_once_its_timeout_has_passed_and_rounds_close_in_order() {
        let mut r = Rounds::default();
        r.sent(1, 0, 1);
        r.sent(2, 500, 1);
        r.answer(2, 0);
        r.close(600, 1000, 1, false);
        assert_eq!(r.last, None, "round 1 is still open, and round 2 waits behind it");
        assert_eq!(r.close(1000, 1000, 1, false), [false, true], "closed now, in order");
        assert_eq!((r.failed, r.passes, r.last), (0, 1, Some(true)), "1 lost, then 2 passed");
        r.answer(1, 0);
        assert_eq!(r.passes, 1, "a reply to a closed round counts for nothing");
    }

    #[test]
    fn the_tunnel_comes_back_only_after_as_many_passing_rounds_as_it_took_to_lose_it() {
        // Rounds every 500 ms, a timeout of 500, down after 2000 ms without a pass.
        let mut r = Rounds::default();
        r.sent(0, 0, 1);
        r.answer(0, 0);
        r.close(500, 500, 1, false);
        let mut v = r.verdict(Verdict::Up, 4, 500, 2000);
        for k in 1..5u16 {
            let now = u64::from(k) * 500;
            r.sent(k, now, 1);
            r.close(now + 500, 500, 1, false);
            v = r.verdict(v, 4, now + 500, 2000);
            assert_eq!(v == Verdict::Down, now + 500 >= 2500, "at {} ms", now + 500);
        }
        // One passing round is not enough to come back.
        r.sent(9, 3000, 1);
        r.answer(9, 0);
        r.close(3010, 500, 1, false);
        assert_eq!(r.verdict(v, 4, 3010, 2000), Verdict::Down);
        for k in 10..13u16 {
            r.sent(k, 3500, 1);
            r.answer(k, 0);
            r.close(3510, 500, 1, false);
        }
        assert_eq!(r.verdict(v, 4, 3510, 2000), Verdict::Up);
    }

    #[test]
    fn a_round_lost_while_the_socket_overflowed_is_unknown_not_failed() {
        let mut r = Rounds::default();
        r.sent(1, 0, 1);
        r.close(1000, 500, 1, true);
        assert_eq!((r.last, r.failed), (None, 0), "a flood cannot fail a round");
        r.sent(2, 1000, 1);
        r.answer(2, 0);
        r.close(1100, 500, 1, true);
        assert_eq!(r.last, Some(true), "an answered round still passes");
    }

    #[test]
    fn reliability_counts_targets_and_open_rounds_are_bounded() {
        let mut r = Rounds::default();
        r.sent(1, 0, 3);
        r.answer(1, 0);
        r.close(10, 1000, 2, false);
        assert_eq!(r.last, None, "1 of the 2 needed so far");
        r.answer(1, 2);
        r.close(20, 1000, 2, false);
        assert_eq!((r.last, r.answered_last), (Some(true), 2));
        for k in 0..100u16 {
            r.sent(k, 30, 1);
        }
        r.close(31, u64::MAX, 1, false);
        assert!(r.open.len() <= MAX_OPEN);
    }
}
