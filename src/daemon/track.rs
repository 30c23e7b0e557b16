//! The daemon's probe tracks (one socket, its targets and rounds per probed path), and
//! what it asks beside the loop: the EdgeOS load balancer's status, an activation's DNS check.

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

/// An activation's DNS check (step 7), made beside the loop: the query in flight, then,
/// unanswered, DNS_RESTART_CMD running.
pub(super) enum DnsCheck {
    Query(dns::Query),
    Restart(dns::Restarting),
}

/// BACKUP_TRACK_IPS under the daemon (issue 18): a check every BACKUP_CHECK_INTERVAL_S
/// is PROBE_COUNT rounds of the backup track, aimed through the backup's gateway for the
/// check only; any passing round passes it.
#[derive(Default)]
pub(super) struct BackupIps {
    /// When (ms of the daemon's clock) the last check started.
    pub(super) last_ms: Option<u64>,
    /// The check under way: its path through the gateway, and the gateway.
    pub(super) path: Option<(ProbePath, Ipv4Addr)>,
    /// Its rounds still to send.
    pub(super) left: u32,
    /// One of its rounds passed.
    pub(super) passed: bool,
}

/// The primary's gateway's link-layer address for the TRACK_IPS path: of which gateway on
/// which link, and when it was read from the neighbour table.
pub(super) struct Lladdr {
    pub(super) ifindex: u32,
    pub(super) gw: Ipv4Addr,
    pub(super) mac: Vec<u8>,
    pub(super) read_at: Instant,
}

/// One probed path: the socket, the path and targets it was aimed at, the device it was
/// aimed through (its index: a device re-created under the same name is aimed at afresh)
/// and its rounds.
pub(super) struct Track {
    pub(super) prober: Option<Prober>,
    pub(super) path: Option<ProbePath>,
    pub(super) targets: Vec<Ipv4Addr>,
    pub(super) ifindex: Option<u32>,
    pub(super) seq: u16,
    pub(super) rounds: Rounds,
    /// The tunnel's verdict, with its hysteresis (only the tunnel track keeps one).
    pub(super) verdict: Verdict,
    /// The quality window of its echoes, kept only while quality limits are set.
    pub(super) window: Option<Window>,
}

impl Track {
    pub(super) fn new() -> Track {
        Track {
            prober: None,
            path: None,
            targets: Vec::new(),
            ifindex: None,
            seq: 0,
            rounds: Rounds::default(),
            verdict: Verdict::Unknown,
            window: None,
        }
    }

    /// Keeps a quality window of the track's echoes (`on`: quality limits are set), fresh
    /// with each new track, or none.
    pub(super) fn keep_window(&mut self, on: bool) {
        match (on, self.window.is_some()) {
            (true, false) => self.window = Some(Window::default()),
            (false, true) => self.window = None,
            _ => {}
        }
    }

    /// The tunnel's new verdict. Routed around (up → down), its quality window starts
    /// afresh: it carries the LAN again only on a whole QUALITY_WINDOW_S of echoes sent
    /// since (`judge::tunnel_quality`), so a tunnel whose loss hovers at LOSS_DOWN_PCT
    /// changes the LAN's path at most once a window, not at every round.
    pub(super) fn judged(&mut self, verdict: Verdict) {
        if (self.verdict, verdict) == (Verdict::Up, Verdict::Down) && self.window.is_some() {
            self.window = Some(Window::default());
        }
        self.verdict = verdict;
    }

    /// Points the track at `path` (through the device of index `ifindex`) and `targets`:
    /// when any of them changed, a new track, whose verdict is unknown. A socket that
    /// cannot be opened (the device just vanished) is tried again at the next aim, and
    /// meanwhile each round fails — in the same track, so that its failures add up to
    /// DOWN_AFTER_MS.
    pub(super) fn aim(&mut self, path: Option<ProbePath>, ifindex: Option<u32>, targets: Vec<Ipv4Addr>) {
        if self.path != path || self.targets != targets || self.ifindex != ifindex {
            let seq = self.seq;
            *self = Track::new();
            self.seq = seq;
            self.path = path;
            self.targets = targets;
            self.ifindex = ifindex;
        }
        if self.prober.is_none() {
            self.prober = self.path.clone().and_then(|p| Prober::open_track(p, &self.targets).ok());
        }
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
        let targets = if self.prober.is_some() { self.targets.len() } else { 0 };
        self.rounds.sent(self.seq, now_ms, targets);
        if let Some(w) = &mut self.window {
            // A track without a socket loses every echo it would have sent.
            w.sent(self.seq, now_ms, self.targets.len());
        }
        if let Some(p) = &self.prober {
            for t in &self.targets {
                // A send the network refuses is a lost echo, like a silent one.
                let _ = p.send(*t, self.seq);
            }
        }
    }

    /// Reads the replies waiting; each counts for the round it answers while that round
    /// is open (up to PROBE_TIMEOUT_MS), not only the current one; and for the quality
    /// window, with its round-trip time as of `now_ms`.
    pub(super) fn receive(&mut self, now_ms: u64) {
        let Some(p) = &self.prober else { return };
        while let Some((source, seq)) = p.recv() {
            if let Some(i) = self.targets.iter().position(|t| *t == source) {
                self.rounds.answer(seq, i);
                if let Some(w) = &mut self.window {
                    w.answer(seq, i, now_ms);
                }
            }
        }
    }

    pub(super) fn down(&self, c: &Config, now_ms: u64) -> bool {
        self.rounds.down(now_ms, c.down_after_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device no test host has: its socket cannot be opened, root or not.
    const WG: &str = "wgfs-nodev0";
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 11, 0, 1);

    /// The daemon's round on the tunnel track as `Daemon::round` takes it: the last round
    /// closed and judged, the track aimed through the device's index now, the next sent.
    fn round(t: &mut Track, c: &Config, now_ms: u64, ifindex: Option<u32>) {
        t.close(1, now_ms, c.probe_timeout_ms);
        let n = rounds_needed(c.down_after_ms, c.probe_interval_ms);
        t.verdict = t.rounds.verdict(t.verdict, n, now_ms, c.down_after_ms);
        t.aim(Some(ProbePath::Device(WG.to_string())), ifindex, vec![PEER]);
        t.send(now_ms);
    }

    fn cfg() -> Config {
        let text = "WG_PEER_IP=10.11.0.1\nWG_ENDPOINT=203.0.113.10\nPRIMARY_DEV=eth0\nPRIMARY_GW=192.168.1.1\nBACKUP_DEV=eth1\nBACKUP_GW=192.168.2.1\nLAN_SUBNET=192.168.10.0/24\n";
        config::parse(Path::new("/etc/wg-failsafe.conf"), text).expect("valid")
    }

    /// Rounds until the track's verdict is down, at most DOWN_AFTER_MS and two rounds
    /// from `now`; the time then.
    fn until_down(t: &mut Track, c: &Config, mut now: u64, ifindex: Option<u32>) -> u64 {
        let from = now;
        while t.verdict != Verdict::Down && now < from + c.down_after_ms + 2 * c.probe_interval_ms {
            now += c.probe_interval_ms;
            round(t, c, now, ifindex);
        }
        now
    }

    /// Routed around on its quality (up → down), the tunnel's window starts afresh: the
    /// loss that took it down no longer counts, and until a whole QUALITY_WINDOW_S of new
    /// echoes is in, `judge::tunnel_quality` keeps it down. Any other verdict keeps it.
    #[test]
    fn a_tunnel_routed_around_starts_its_quality_window_afresh() {
        let mut t = Track::new();
        t.keep_window(true);
        t.verdict = Verdict::Up;
        for k in 0..4u16 {
            t.window.as_mut().expect("kept").sent(k, u64::from(k) * 500, 1);
        }
        let measured = |t: &mut Track| t.window.as_mut().expect("kept").stats(2000, 2000, 1000).is_some();
        assert!(measured(&mut t));
        t.judged(Verdict::Up);
        assert!(measured(&mut t), "kept while up");
        t.judged(Verdict::Down);
        assert_eq!((t.verdict, measured(&mut t)), (Verdict::Down, false), "afresh once down");
        t.window.as_mut().expect("kept").sent(9, 2000, 1);
        t.judged(Verdict::Down);
        assert_eq!(t.window.as_ref().map(|w| w == &Window::default()), Some(false), "kept while down");
        // Without limits there is no window to start afresh.
        let mut plain = Track::new();
        plain.verdict = Verdict::Up;
        plain.judged(Verdict::Down);
        assert!(plain.window.is_none());
    }

    /// A track is kept round after round while its device's index holds (its failures
    /// add up), and aimed afresh when the index changes: wg0 deleted, and re-created with
    /// a new index. The sockets of this test cannot be opened (no such device), so every
    /// round fails: a track whose socket could not be opened is judged down after
    /// DOWN_AFTER_MS — before, each round's aim started such a track afresh, and it never
    /// was.
    #[test]
    fn the_tunnel_track_re_aims_when_its_device_is_re_created() {
        let c = cfg();
        let mut t = Track::new();
        round(&mut t, &c, 0, Some(4));
        let now = until_down(&mut t, &c, 0, Some(4));
        assert_eq!((t.verdict, t.ifindex), (Verdict::Down, Some(4)), "kept while the index holds");
        assert!(now <= c.down_after_ms + c.probe_interval_ms, "down within DOWN_AFTER_MS: {now} ms");
        assert!(t.rounds.failed >= 2, "the failed rounds add up: {}", t.rounds.failed);
        // wg0 deleted: aimed afresh (no index), failing again until DOWN_AFTER_MS.
        let mut now = now + c.probe_interval_ms;
        round(&mut t, &c, now, None);
        assert_eq!((t.verdict, t.ifindex, t.rounds.failed), (Verdict::Unknown, None, 0), "re-aimed");
        now = until_down(&mut t, &c, now, None);
        assert_eq!(t.verdict, Verdict::Down, "a missing device is a dead tunnel after DOWN_AFTER_MS");
        // wg0 re-created (index 9): a new track through it, sequence numbers going on.
        let seq = t.seq;
        round(&mut t, &c, now + c.probe_interval_ms, Some(9));
        assert_eq!((t.verdict, t.ifindex, t.rounds.failed), (Verdict::Unknown, Some(9), 0));
        assert_eq!(t.seq, seq + 1);
        assert_eq!(t.path, Some(ProbePath::Device(WG.to_string())));
    }
}
