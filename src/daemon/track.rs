//! The daemon's probe tracks (one socket, its targets and rounds per probed path) and its
//! question to the EdgeOS load balancer, asked beside the loop.

use super::*;

/// The EdgeOS load balancer's verdict, asked at most every LB_EVERY.
#[derive(Default)]
pub(super) struct LbAsk {
    /// When it was last asked.
    pub(super) asked: Option<Instant>,
    /// The command of the question in progress.
    pub(super) pending: Option<edgeos::Capture>,
    /// Its last answer: `Some` says the primary is down, and why.
    pub(super) verdict: Option<String>,
}

/// The primary's gateway's link-layer address for the TRACK_IPS path: of which gateway on
/// which link, and when it was read from the neighbour table.
pub(super) struct Lladdr {
    pub(super) ifindex: u32,
    pub(super) gw: Ipv4Addr,
    pub(super) mac: Vec<u8>,
    pub(super) read_at: Instant,
}

/// One probed path: the socket, its targets, the device it was aimed through (its index:
/// a device re-created under the same name is aimed at afresh) and its rounds.
pub(super) struct Track {
    pub(super) prober: Option<Prober>,
    pub(super) targets: Vec<Ipv4Addr>,
    pub(super) ifindex: Option<u32>,
    pub(super) seq: u16,
    pub(super) rounds: Rounds,
    /// The tunnel's verdict, with its hysteresis (only the tunnel track keeps one).
    pub(super) verdict: Verdict,
}

impl Track {
    pub(super) fn new() -> Track {
        Track {
            prober: None,
            targets: Vec::new(),
            ifindex: None,
            seq: 0,
            rounds: Rounds::default(),
            verdict: Verdict::Unknown,
        }
    }

    /// Points the track at `path` (through the device of index `ifindex`) and `targets`,
    /// reopening the socket when any of them changed: a new track, whose verdict is
    /// unknown. A socket that cannot be opened (the device just vanished) is a round that
    /// fails.
    pub(super) fn aim(&mut self, path: Option<ProbePath>, ifindex: Option<u32>, targets: Vec<Ipv4Addr>) {
        let same = self.prober.as_ref().map(|p| p.path()) == path.as_ref()
            && self.targets == targets
            && self.ifindex == ifindex;
        if same {
            return;
        }
        let seq = self.seq;
        *self = Track::new();
        self.seq = seq;
        self.prober = path.and_then(|p| Prober::open_track(p, &targets).ok());
        self.targets = targets;
        self.ifindex = ifindex;
    }

    pub(super) fn stop(&mut self) {
        *self = Track::new();
    }

    /// Closes the rounds that are due (see [`Rounds::close`]); a track without a socket or
    /// targets fails each round it would have sent. When the socket's queue overflowed
    /// since the last close (a flood), the rounds that went unanswered are unknown, never
    /// failed: their answer may be among what the kernel dropped. Returns the rounds
    /// closed now, in order (passed or not).
    pub(super) fn close(&mut self, need: usize, now_ms: u64, timeout_ms: u64) -> Vec<bool> {
        let overflowed = self.prober.as_ref().is_some_and(|p| p.overflowed());
        self.rounds.close(now_ms, timeout_ms, need, overflowed)
    }

    /// The last closed round passed.
    pub(super) fn passed(&self) -> bool {
        self.rounds.last == Some(true)
    }

    pub(super) fn answered(&self) -> usize {
        self.rounds.answered_last
    }

    /// Sends the next round's echoes.
    pub(super) fn send(&mut self, now_ms: u64) {
        self.seq = self.seq.wrapping_add(1);
        self.rounds.sent(self.seq, now_ms, if self.prober.is_some() { self.targets.len() } else { 0 });
        if let Some(p) = &self.prober {
            for t in &self.targets {
                // A send the network refuses is a lost echo, like a silent one.
                let _ = p.send(*t, self.seq);
            }
        }
    }

    /// Reads the replies waiting; each counts for the round it answers while that round
    /// is open (up to PROBE_TIMEOUT_MS), not only the current one.
    pub(super) fn receive(&mut self) {
        let Some(p) = &self.prober else { return };
        while let Some((source, seq)) = p.recv() {
            if let Some(i) = self.targets.iter().position(|t| *t == source) {
                self.rounds.answer(seq, i);
            }
        }
    }

    pub(super) fn down(&self, c: &Config, now_ms: u64) -> bool {
        self.rounds.down(now_ms, c.down_after_ms)
    }
}
