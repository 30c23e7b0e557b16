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

impl LbAsk {
    /// The load balancer's verdict on `primary_dev` as last answered, never waiting: the
    /// status command `cmd` (program and arguments: `edgeos::LB_STATUS_CMD`) is started at
    /// most every LB_EVERY and runs beside the loop (up to 10 s on a busy router), its
    /// answer taken in by a later call once it has ended; meanwhile the last one stands. A
    /// command run to its end here would hold every carrier event for as long.
    pub(super) fn verdict(&mut self, cmd: &[&str], primary_dev: &str) -> Option<String> {
        match &mut self.pending {
            Some(capture) => {
                if let Some(done) = capture.poll() {
                    self.pending = None;
                    let status = done.map(|t| edgeos::parse_lb_status(&t));
                    self.verdict = status.and_then(|s| edgeos::lb_down(&s, primary_dev));
                }
            }
            None if self.asked.is_none_or(|at| at.elapsed() >= LB_EVERY) => {
                self.asked = Some(Instant::now());
                self.pending = edgeos::lb_status_start(cmd);
            }
            None => {}
        }
        self.verdict.clone()
    }
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

    /// Closes the rounds that are due (see [`Rounds::close`]): answered by `need` targets,
    /// or sent PROBE_TIMEOUT_MS ago — a reply counts until then, not only until the next
    /// round goes out (a bufferbloated line answering every echo later than
    /// PROBE_INTERVAL_MS is slow, not down). A track without a socket or targets fails each
    /// round it would have sent. When the socket's queue overflowed since the last close (a
    /// flood), the rounds that went unanswered are unknown, never failed: their answer may
    /// be among what the kernel dropped. Returns the rounds closed now, in order (passed or
    /// not).
    pub(super) fn close(&mut self, need: usize, now_ms: u64, c: &Config) -> Vec<bool> {
        let overflowed = self.prober.as_ref().is_some_and(|p| p.overflowed());
        self.rounds.close(now_ms, c.probe_timeout_ms, need, overflowed)
    }

    /// What the round is told of the tunnel (`failsafe::TunnelSeen`): its verdict, and a
    /// track that has closed too few rounds to say (fresh after an activation, at start,
    /// after a re-exec) is unknown — no switch either way. Taken as up, it moved a fallback
    /// activation onto a dead tunnel a round later, and back when the track went down.
    pub(super) fn seen(&self) -> TunnelSeen {
        match self.verdict {
            Verdict::Unknown => TunnelSeen::Unknown,
            Verdict::Up => TunnelSeen::Echo(true),
            Verdict::Down => TunnelSeen::Echo(false),
        }
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

/// After a round that failed (a door the kernel refuses), the daemon's rounds wait until
/// `hold_until` instead of failing again at every probe round — but an urgent event is
/// acted on all the same, and so is a probe round of the primary that failed while the
/// failsafe is on (`failing_on`): it restarts the failback wait, which a round that
/// cannot act still counts (see `failsafe::judged`).
pub(super) fn held(hold_until: Option<Instant>, now: Instant, urgent: bool, failing_on: bool) -> bool {
    hold_until.is_some_and(|t| now < t) && !urgent && !failing_on
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A review found it: while held after a failed round, the primary's failing rounds
    /// were never judged, so a failback could come without every round passing.
    #[test]
    fn a_held_daemon_still_judges_an_urgent_event_and_a_failing_round_while_on() {
        let now = Instant::now();
        let until = Some(now + Duration::from_secs(15));
        assert!(held(until, now, false, false), "a passing round waits out the hold");
        assert!(!held(until, now, true, false), "an urgent event does not");
        assert!(!held(until, now, false, true), "nor a failing round while on: it restarts the wait");
        assert!(!held(Some(now), now + Duration::from_secs(1), false, false), "the hold is over");
        assert!(!held(None, now, false, false));
    }

    /// A device no test host has: its socket cannot be opened, root or not.
    const WG: &str = "wgfs-nodev0";
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 11, 0, 1);

    /// The daemon's round on the tunnel track as `Daemon::round` takes it: the last round
    /// closed and judged, the track aimed through the device's index now, the next sent.
    fn round(t: &mut Track, c: &Config, now_ms: u64, ifindex: Option<u32>) {
        close_and_judge(t, c, now_ms);
        t.aim(Some(ProbePath::Device(WG.to_string())), ifindex, vec![PEER]);
        t.send(now_ms);
    }

    /// The first half of `round`: the rounds due closed, the verdict judged after them.
    fn close_and_judge(t: &mut Track, c: &Config, now_ms: u64) {
        t.close(1, now_ms, c);
        let n = rounds_needed(c.down_after_ms, c.probe_interval_ms);
        t.verdict = t.rounds.verdict(t.verdict, n, now_ms, c.down_after_ms);
    }

    fn cfg() -> Config {
        let text = "WG_PEER_IP=10.11.0.1\nWG_ENDPOINT=203.0.113.10\nPRIMARY_DEV=eth0\nPRIMARY_GW=192.168.1.1\nBACKUP_DEV=eth1\nBACKUP_GW=192.168.2.1\nLAN_SUBNET=192.168.10.0/24\n";
        config::parse(Path::new("/etc/wg-failsafe.conf"), text).expect("valid")
    }

    /// Issue 16, "a fresh track reads as up": after an activation, at start and after a
    /// re-exec the tunnel track is fresh, and the round it is handed to must hear "unknown"
    /// (no switch), never "answers" — which moved a fallback activation onto the dead
    /// tunnel a round later. Unknown it stays through failing rounds short of
    /// DOWN_AFTER_MS, and through passing ones short of the ⌈DOWN_AFTER_MS /
    /// PROBE_INTERVAL_MS⌉ that losing it takes. The echoes are booked as the socket's
    /// send and receive book them (`Track::send`, `Track::receive`).
    #[test]
    fn a_fresh_tunnel_track_tells_the_round_nothing_until_its_rounds_say() {
        let c = cfg();
        let n = rounds_needed(c.down_after_ms, c.probe_interval_ms);
        assert!(n >= 2, "DOWN_AFTER_MS {} ms, PROBE_INTERVAL_MS {} ms", c.down_after_ms, c.probe_interval_ms);
        let mut t = Track::new();
        assert_eq!(t.seen(), TunnelSeen::Unknown, "no round closed yet");
        // A silent tunnel: unknown through its failed rounds (the first closes at
        // PROBE_TIMEOUT_MS), down once DOWN_AFTER_MS has passed since the first echo.
        let (mut now, mut seq) = (0, 0u16);
        while now <= c.down_after_ms {
            close_and_judge(&mut t, &c, now);
            let want = if now < c.down_after_ms { TunnelSeen::Unknown } else { TunnelSeen::Echo(false) };
            assert_eq!((t.seen(), t.rounds.last), (want, (now >= c.probe_timeout_ms).then_some(false)), "at {now} ms");
            seq += 1;
            t.rounds.sent(seq, now, 1);
            now += c.probe_interval_ms;
        }
        // A fresh track whose echoes are answered at once: unknown until n rounds passed.
        let mut t = Track::new();
        for k in 1..=n {
            seq += 1;
            t.rounds.sent(seq, now, 1);
            t.rounds.answer(seq, 0);
            now += c.probe_interval_ms;
            close_and_judge(&mut t, &c, now);
            let want = if k < n { TunnelSeen::Unknown } else { TunnelSeen::Echo(true) };
            assert_eq!(t.seen(), want, "after {k} passing rounds of {n}");
        }
    }

    /// Issue 16, "echo replies slower than PROBE_INTERVAL_MS dropped": a bufferbloated line
    /// answers every echo 700 ms late, rounds going out every 500 ms. Each reply counts for
    /// the round it answers, until PROBE_TIMEOUT_MS (1000 ms): from the second round on,
    /// every round closed has passed and the primary is never down. Closed at the next
    /// round instead, every round failed and it was down after DOWN_AFTER_MS. A reply later
    /// than PROBE_TIMEOUT_MS counts for nothing: that line is down.
    #[test]
    fn a_reply_later_than_the_probe_interval_counts_until_probe_timeout_ms() {
        let c = cfg();
        assert_eq!((c.probe_interval_ms, c.probe_timeout_ms, c.down_after_ms), (500, 1000, 2000));
        let rounds = |late_ms: u64| {
            let mut t = Track::new();
            let mut replies: Vec<(u16, u64)> = Vec::new(); // (sequence, when it arrives)
            let mut seen = Vec::new(); // (ms, the last closed round passed, down)
            for k in 0..20u16 {
                let now = u64::from(k) * c.probe_interval_ms;
                for (seq, _) in replies.iter().filter(|(_, at)| *at <= now) {
                    t.rounds.answer(*seq, 0);
                }
                replies.retain(|(_, at)| *at > now);
                t.close(1, now, &c);
                seen.push((now, t.passed(), t.down(&c, now)));
                t.rounds.sent(k, now, 1);
                replies.push((k, now + late_ms));
            }
            seen
        };
        for (now, passed, down) in rounds(700) {
            assert!(!down, "700 ms late: down at {now} ms");
            assert!(passed || now < c.probe_timeout_ms, "700 ms late: the round closed at {now} ms failed");
        }
        let too_late = rounds(1100);
        assert!(too_late.iter().all(|(_, passed, _)| !passed), "1100 ms late: {too_late:?}");
        assert!(too_late.iter().any(|(_, _, down)| *down), "1100 ms late: never down");
    }

    /// Issue 16, "the load balancer's status command blocks the loop": the command (here
    /// one that never ends, a hung Perl) is started and left to run beside the loop — the
    /// call returns at once, with no verdict, and asked again it neither waits nor starts
    /// a second. One that answers is taken in by a later call once it has ended, and
    /// stands without a new question until LB_EVERY has passed.
    #[test]
    fn the_load_balancers_status_is_asked_beside_the_loop_never_waited_for() {
        let hung = ["sleep", "30"];
        let mut lb = LbAsk::default();
        let started = Instant::now();
        assert_eq!(lb.verdict(&hung, "eth0"), None);
        assert_eq!(lb.verdict(&hung, "eth0"), None);
        assert!(started.elapsed() < Duration::from_millis(500), "waited {:?}", started.elapsed());
        assert!(lb.pending.is_some(), "the command runs beside the loop");
        drop(lb); // kills it
        let status = "Group WAN\n    interface   : eth0\n    status      : inactive\n";
        let script = format!("sleep 0.2; printf '{status}'");
        let answers = ["sh", "-c", script.as_str()];
        let mut lb = LbAsk::default();
        assert_eq!(lb.verdict(&answers, "eth0"), None, "asked: not answered yet");
        let verdict = loop {
            if let Some(v) = lb.verdict(&answers, "eth0") {
                break v;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "never answered");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(verdict, "inactive in group WAN");
        assert_eq!(lb.verdict(&answers, "eth0").as_deref(), Some("inactive in group WAN"));
        assert!(lb.pending.is_none(), "asked again before LB_EVERY");
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
