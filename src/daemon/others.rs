//! The tunnels not in use, probed beside the loop (several tunnels, while the failsafe is
//! on): the round brings them up and hands over their echoes (`failsafe::OthersDue`), as
//! it hands over step 7's DNS check. Each echo is sent here, one tunnel after the other in
//! order, and waited for up to PROBE_TIMEOUT_MS in the poll set, never in a wait of its
//! own: a silent VPS never holds a carrier event. Once every answer is in, the next round
//! is judged at once with them (`failsafe::OthersSeen::Beside`), as `run` judges its own
//! echoes.

use super::*;
use crate::failsafe::OthersSeen;
use crate::system::OthersDue;

/// The echo out now: to which tunnel's peer, through which socket, since when.
struct Out {
    tunnel: usize,
    prober: Prober,
    peer: Ipv4Addr,
    seq: u16,
    sent_ms: u64,
}

/// The echoes a round handed over, and their answers.
#[derive(Default)]
pub(super) struct Others {
    /// The tunnels still to ask, in order.
    queue: Vec<usize>,
    /// The first that answers ends them (a dead tunnel is being replaced).
    until_one: bool,
    out: Option<Out>,
    /// The answers so far, each (tunnel, answered).
    answers: Vec<(usize, bool)>,
    /// Every answer is in: they wait for the next round.
    done: bool,
    seq: u16,
}

impl Others {
    /// Takes the echoes a round handed over (see [`Daemon::others_step`] for their sending);
    /// any still out are given up.
    pub(super) fn ask(&mut self, due: OthersDue) {
        let seq = self.seq;
        *self = Others { queue: due.tunnels, until_one: due.until_one, seq, ..Others::default() };
    }

    /// What a round is handed: the answers once every one is in (once), and whether
    /// echoes are still out.
    pub(super) fn seen(&mut self) -> OthersSeen {
        let pending = !self.queue.is_empty() || self.out.is_some();
        let answers = if std::mem::take(&mut self.done) { std::mem::take(&mut self.answers) } else { Vec::new() };
        OthersSeen::Beside { answers, pending }
    }

    /// The socket of the echo out, for the poll set (-1: none).
    pub(super) fn fd(&self) -> i32 {
        self.out.as_ref().map_or(-1, |o| o.prober.as_raw_fd())
    }

    /// How long poll may wait before the echo out has waited PROBE_TIMEOUT_MS.
    pub(super) fn wait_ms(&self, now_ms: u64, timeout_ms: u64) -> Option<i32> {
        let out = self.out.as_ref()?;
        Some((out.sent_ms + timeout_ms).saturating_sub(now_ms).min(i32::MAX as u64) as i32)
    }

    /// One step on, never waiting: the reply to the echo out read, or its timeout passed;
    /// the next tunnel's echo sent. `true` when the last answer just came in.
    fn step(&mut self, cfg: &Config, now_ms: u64) -> bool {
        let asking = !self.queue.is_empty() || self.out.is_some();
        if let Some(out) = &self.out {
            let mut answered = false;
            while let Some((source, seq)) = out.prober.recv() {
                answered |= source == out.peer && seq == out.seq;
            }
            if !answered && now_ms.saturating_sub(out.sent_ms) < cfg.probe_timeout_ms {
                return false;
            }
            self.answers.push((out.tunnel, answered));
            if answered && self.until_one {
                self.queue.clear();
            }
            self.out = None;
        }
        while self.out.is_none() && !self.queue.is_empty() {
            let tunnel = self.queue.remove(0);
            let t = cfg.tunnel(tunnel);
            self.seq = self.seq.wrapping_add(1);
            let prober = Prober::open_to(ProbePath::Device(t.wg_iface.clone()), &[t.wg_peer_ip]);
            // A socket that cannot be opened, or a request the network refuses at once (its
            // interface down, no route): a silent tunnel.
            match prober {
                Ok(p) if matches!(p.send(t.wg_peer_ip, self.seq), Ok(true)) => {
                    self.out = Some(Out { tunnel, prober: p, peer: t.wg_peer_ip, seq: self.seq, sent_ms: now_ms })
                }
                _ => self.answers.push((tunnel, false)),
            }
        }
        let over = asking && self.out.is_none();
        self.done |= over;
        over
    }
}

impl Daemon {
    /// The other tunnels' echoes one step on; once every answer is in, a round is due now.
    pub(super) fn others_step(&mut self) {
        let now_ms = self.now_ms();
        if self.others.step(&self.cfg, now_ms) {
            self.dirty = true;
        }
    }
}
