//! `daemon`: the core of `run` — same judgement, same sequences, same state files, same
//! lock — driven by the kernel's announcements and a continuous probe schedule instead of
//! cron. One thread, one poll(2) over: an rtnetlink socket subscribed to link, address,
//! route and rule changes; the probe sockets (the primary's targets, and the tunnel peer
//! while the failsafe is on); a signalfd (SIGHUP reloads, SIGTERM/SIGINT stop); an
//! activation's DNS query (step 7, made beside the loop: neither the 5 s it may wait nor
//! the resolver's restart holds a carrier event); and the probe schedule as poll's
//! timeout. No async runtime, no threads, no timers of its own.
//!
//! What it knows of the kernel (links, the routes the tool looks at, rules, addresses)
//! is dumped once at start and after the kernel says announcements were lost (ENOBUFS),
//! and kept from the announcements in between — a round dumps nothing. A healthy round
//! sends one echo per target and reads the replies; nothing else.
//!
//! Judgement:
//! - carrier lost, PRIMARY_DEV gone, or (PRIMARY_GW=auto) its last default route gone:
//!   down at the event, acted on at once;
//! - a silent gateway or upstream: no passing round for DOWN_AFTER_MS;
//! - back: every round passed for UP_AFTER_S, flap-damped, counted in STATE_DIR exactly
//!   as cron counts it, so either can take over from the other.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::config::{self, Config};
use crate::decide::{daemon_round_due, decide, failsafe_on, round_gateways, Change, ModeFiles};
use crate::dns;
use crate::edgeos;
use crate::endpoint;
use crate::error::{Context, Error};
use crate::failsafe::say::{self, News};
use crate::failsafe::{self, Outcome, Seen, TunnelSeen};
use crate::health::{rounds_needed, Unhealthy};
use crate::judge::{
    backup_path, backup_seen, backup_track_due, backup_track_probe, backup_track_seen, lb_asked, link_health,
    primary_need, primary_probe, primary_verdict, quality_verdict, tunnel_quality,
};
use crate::lock::{Lock, LockError};
use crate::log::Logger;
use crate::model::owned_routes;
use crate::netlink::events::{EventError, Events, IPV4_GROUPS, IPV6_GROUPS};
use crate::netlink::link::{self, Addr, Link, Links};
use crate::netlink::route::{self, Route};
use crate::netlink::rule::Rule;
use crate::netlink::{Body, Netlink};
use crate::os;
use crate::ownership::last_seen_healthy;
use crate::probe::{Path as ProbePath, Prober};
use crate::record::{BackupCheck, BackupNeed, BackupNews, BackupSeen};
use crate::rounds::{lladdr_kept, Rounds, Verdict, Window};
use crate::state::{self, Snapshot, State};
use crate::system::{dump_routes, dump_rules, wanted_route, System, DNS_WAIT};

mod aim;
mod drive;
mod others;
mod track;
pub mod view;

use others::Others;
use track::{BackupIps, DnsCheck, LbAsk, Lladdr, Track};
use view::View;

/// How often, at most, the EdgeOS load balancer is asked (a fork of its Perl wrapper):
/// only with TRACK_IPS empty, which is the way to a daemon that never forks.
const LB_EVERY: Duration = Duration::from_secs(30);
/// After a sequence failed, the next attempt waits this long (cron would wait a minute).
const RETRY_AFTER: Duration = Duration::from_secs(15);
/// How often the loop looks whether the DNS check's restart command has ended.
const RESTART_POLL_MS: i32 = 50;
/// How often the daemon looks whether its binary was replaced (a package upgrade).
const EXE_EVERY: Duration = Duration::from_secs(10);

/// Runs the daemon until SIGTERM or SIGINT. `path` is the configuration file (reloaded
/// on SIGHUP).
pub fn run(path: &Path, cfg: Config, verbose: bool) -> Result<ExitCode, Error> {
    let log = Logger::new(cfg.log_file.clone(), cfg.log_max_kb, true, verbose);
    let mut state = State::open(&cfg.state_dir).map_err(crate::system::state_error)?;
    let Some(_daemon_lock) = state.lock_daemon().map_err(crate::system::state_error)? else {
        return Err(Error::Busy(format!(
            "another wg-failsafe daemon holds {}",
            cfg.state_dir.join("daemon.lock").display()
        )));
    };
    let signals = block_signals().context("signalfd")?;
    let mut d = Daemon::start(path.to_path_buf(), cfg, log, signals)?;
    d.log.info(&format!(
        "daemon started (pid {}): probing {} every {} ms, down after {} ms without a passing round",
        std::process::id(),
        d.describe_targets(),
        d.cfg.probe_interval_ms,
        d.cfg.down_after_ms
    ));
    let reason = d.serve()?;
    if reason == UPGRADED {
        d.log.info("daemon: its binary was replaced (an upgrade): starting the new one");
        drop(_daemon_lock);
        return Err(reexec());
    }
    d.log.info(&format!("daemon stopped ({reason}) after {} rounds; every table is left as it is", d.rounds));
    Ok(ExitCode::SUCCESS)
}

/// Milliseconds since `at`. (In u64: `Duration::as_millis`'s u128 was ~0.1 KB of mipsel
/// at each use.)
fn ms_since(at: Instant) -> u64 {
    let d = at.elapsed();
    d.as_secs() * 1000 + u64::from(d.subsec_millis())
}

/// What `serve` returns when the binary on disk is not the one running.
const UPGRADED: &str = "upgraded";

/// Whether this process's binary was deleted or replaced since it started (dpkg renames
/// the new file over the old: the link of /proc/self/exe then says "(deleted)").
fn exe_replaced() -> bool {
    std::fs::read_link("/proc/self/exe").is_ok_and(|p| p.as_os_str().as_encoded_bytes().ends_with(b" (deleted)"))
}

/// Executes the binary now at this process's path, with the same arguments; returns
/// only on failure. The signal mask is kept: a signal sent meanwhile waits for the new
/// daemon's signalfd.
fn reexec() -> Error {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(|s| PathBuf::from(s.trim_end_matches(" (deleted)"))))
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/wg-failsafe"));
    let argv: Vec<&std::ffi::OsStr> =
        std::iter::once(exe.as_os_str()).chain(args.iter().skip(1).map(|a| a.as_os_str())).collect();
    let e = os::exec(&argv);
    Error::Failed(format!("re-executing {}: {e}", exe.display()))
}

struct Daemon {
    path: PathBuf,
    cfg: Config,
    log: Logger,
    signals: OwnedFd,
    events: Events,
    nl: Netlink,
    view: View,
    /// The snapshot as of the last sequence (for PRIMARY_GW=auto's last resort).
    snapshot: Option<Snapshot>,
    /// The tables as last remembered healthy (written only when they change).
    healthy: Option<Snapshot>,
    /// The view's routes and rules `healthy` was last found from (and written, when it
    /// changed), under this configuration: `None` after a SIGHUP.
    healthy_from: Option<(Vec<Route>, Vec<Rule>)>,
    /// What STATE_DIR says of the mode, as of the last sequence: with the view's routes,
    /// the facts of `failsafe_on` (see [`View::on`]).
    files: ModeFiles,
    /// The journal holds changes to take back (an activation or cleanup that failed), as
    /// of the last sequence: healthy and off, the round cleans them up (`decide`).
    leftovers: bool,
    /// The journal's routes as of the last sequence: never followed to a gateway.
    ours: Vec<Route>,
    primary: Track,
    tunnel: Track,
    /// BACKUP_CHECK's rounds (while the failsafe is off), and the record's verdict on the
    /// backup as judged since (`None`: not read yet), its count running between writes.
    backup: Track,
    backup_check: Option<BackupCheck>,
    /// BACKUP_TRACK_IPS' checks (issue 18).
    backup_ips: BackupIps,
    /// The primary's gateway's link-layer address for the TRACK_IPS path, and when read.
    lladdr: Option<Lladdr>,
    /// Why the primary's track could not be aimed (no address, the gateway's address
    /// unresolved): the reason its rounds fail.
    unprobed: Option<Unhealthy>,
    lb: LbAsk,
    started: Instant,
    /// An event that must be acted on now, when it came and what it was.
    urgent: Option<(Instant, String)>,
    /// Routes or rules changed while on: re-assert now.
    dirty: bool,
    /// No sequence before this (a failed one is not retried every round).
    hold_until: Option<Instant>,
    last_error: Option<String>,
    /// Probe rounds so far.
    rounds: u64,
    /// EdgeOS's op-mode wrapper exists (looked for once, at start and on SIGHUP).
    edgeos: bool,
    /// An activation's DNS check (step 7), made beside the loop.
    dns: Option<DnsCheck>,
    /// The tunnel the sequences work on, as the record says (`Config::tunnel`): its peer is
    /// what the tunnel track probes, the routes to its VPS what the view keeps.
    in_use: usize,
    /// A name endpoint's healthy lookup, asked beside the loop.
    lookup: Option<(endpoint::Asking, dns::Resolving)>,
    /// With several tunnels, the echoes to those not in use, sent beside the loop.
    others: Others,
}

impl Daemon {
    /// Never inlined into `run`: start's temporaries (the ~3 KB daemon built, then moved)
    /// stay out of the frame that every round's judgement and sequence is called from,
    /// where the idle daemon's stack peaks (run's frame 11.4 → 8.9 KB).
    #[inline(never)]
    fn start(path: PathBuf, cfg: Config, log: Logger, signals: OwnedFd) -> Result<Daemon, Error> {
        let events =
            Events::subscribe(&[IPV4_GROUPS.as_slice(), &IPV6_GROUPS].concat()).context("subscribing to rtnetlink")?;
        let nl = Netlink::open(netlink_sys::protocols::NETLINK_ROUTE).context("netlink")?;
        let mut d = Daemon {
            path,
            cfg,
            log,
            signals,
            events,
            nl,
            view: View { links: Links::default(), routes: Vec::new(), rules: Vec::new(), addrs: Vec::new() },
            snapshot: None,
            healthy: None,
            healthy_from: None,
            files: ModeFiles::default(),
            leftovers: false,
            ours: Vec::new(),
            primary: Track::new(),
            tunnel: Track::new(),
            backup: Track::new(),
            backup_check: None,
            backup_ips: BackupIps::default(),
            lladdr: None,
            unprobed: None,
            lb: LbAsk::default(),
            started: Instant::now(),
            urgent: None,
            dirty: false,
            hold_until: None,
            last_error: None,
            rounds: 0,
            edgeos: Path::new(edgeos::OP_WRAPPER).exists(),
            dns: None,
            in_use: 0,
            lookup: None,
            others: Others::default(),
        };
        let state = State::open(&d.cfg.state_dir).map_err(crate::system::state_error)?;
        let record = state.record().unwrap_or_default();
        d.in_use = d.cfg.tunnel_of(record.mode.tunnel.as_deref());
        // Subscribed first, dumped second: nothing that happens in between is missed.
        d.resync()?;
        // A name endpoint's address as last found (if it can be the VPS: the router's
        // addresses are read by now), then the routes to it.
        crate::endpoint::recall(&d.cfg, &state, &d.own_addrs());
        if d.cfg.wg_endpoint.known() {
            d.resync_routes()?;
        }
        // A journal that cannot be read is set aside by the first sequence.
        let journal = state.journal();
        d.files = ModeFiles::of(&record, state.snapshot_exists(), journal.as_deref().unwrap_or_default());
        d.leftovers = journal.as_ref().map_or(true, |j| !j.is_empty());
        d.ours = journal.map(|j| owned_routes(&j)).unwrap_or_default();
        // Whatever the state files say (a crash, a cron tick, an interrupted sequence)
        // is judged at once.
        d.dirty = true;
        Ok(d)
    }

    /// The configuration of the tunnel in use.
    fn tunnel_cfg(&self) -> &Config {
        self.cfg.tunnel(self.in_use)
    }

    fn now_ms(&self) -> u64 {
        ms_since(self.started)
    }

    fn describe_targets(&self) -> String {
        if self.cfg.track_ips.is_empty() {
            format!("the gateway of {}", self.cfg.primary_dev)
        } else {
            use std::fmt::Write as _;
            let mut line = String::new();
            for ip in &self.cfg.track_ips {
                let _ = write!(line, "{ip} ");
            }
            let _ = write!(line, "through {}'s gateway ({} needed)", self.cfg.primary_dev, self.cfg.track_reliability);
            line
        }
    }

    /// The poll loop; returns why it stopped.
    fn serve(&mut self) -> Result<String, Error> {
        let interval = Duration::from_millis(self.cfg.probe_interval_ms);
        let mut next_round = Instant::now();
        let mut exe_checked = Instant::now();
        loop {
            self.dns_step();
            self.lookup_step();
            self.others_step();
            let now = Instant::now();
            if now.duration_since(exe_checked) >= EXE_EVERY {
                exe_checked = now;
                if exe_replaced() {
                    return Ok(UPGRADED.into());
                }
            }
            if now >= next_round {
                let r = self.round();
                self.note(r);
                next_round += interval;
                if next_round <= now {
                    next_round = now + interval; // a long sequence: no burst of rounds after it
                }
            }
            if self.urgent.is_some() || self.dirty {
                let r = self.judge(false);
                self.note(r);
            }
            // A probe socket is polled only for a quality window (LATENCY_*_MS): its replies'
            // round trips are taken as they arrive. Otherwise a round's replies wait in
            // their buffers until the round closes (read first thing in `round`), so a
            // healthy round wakes the daemon once: nothing reads an answer sooner, as rounds
            // close, and verdicts change, only there. Forged replies never take room in
            // those buffers (the kernel filter drops them before they are queued), and a
            // queue that overflowed all the same makes its unanswered rounds unknown, not
            // failed. Beside them: the DNS check's query and a name endpoint's lookup.
            let timed = |t: &Track| t.prober.as_ref().filter(|_| t.window.is_some()).map_or(-1, |p| p.as_raw_fd());
            let mut fds = [
                os::pollin(self.signals.as_raw_fd()),
                os::pollin(self.events.fd()),
                os::pollin(match &self.dns {
                    Some(DnsCheck::Query(q)) => q.fd(),
                    _ => -1,
                }),
                os::pollin(self.lookup.as_ref().map_or(-1, |(_, r)| r.fd())),
                os::pollin(timed(&self.primary)),
                os::pollin(timed(&self.tunnel)),
                os::pollin(timed(&self.backup)),
                os::pollin(self.others.fd()),
            ];
            // Rounded up: a timeout rounded down would spin through the last fraction of a
            // millisecond before every round. (Seconds and microseconds apart: u128's
            // `as_micros` was ~0.3 KB of mipsel.)
            let wait = next_round.saturating_duration_since(Instant::now());
            let wait_ms = wait.as_secs() * 1000 + u64::from(wait.subsec_micros().div_ceil(1000));
            let mut ms = wait_ms.min(i32::MAX as u64) as i32;
            // The DNS check's resend or deadline, or how its restart ended, looked at in time.
            match &self.dns {
                Some(DnsCheck::Query(q)) => ms = ms.min(q.wait_ms()),
                Some(DnsCheck::Restart(_)) => ms = ms.min(RESTART_POLL_MS),
                None => {}
            }
            if let Some((_, r)) = &self.lookup {
                ms = ms.min(r.wait_ms());
            }
            if let Some(left) = self.others.wait_ms(self.now_ms(), self.cfg.probe_timeout_ms) {
                ms = ms.min(left);
            }
            if let Err(e) = os::poll(&mut fds, ms) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::Failed(format!("poll: {e}")));
            }
            let now_ms = self.now_ms();
            for (i, track) in [&mut self.primary, &mut self.tunnel, &mut self.backup].into_iter().enumerate() {
                if fds[4 + i].revents != 0 {
                    track.receive(now_ms);
                }
            }
            if fds[0].revents != 0 {
                if let Some(stop) = self.signal()? {
                    return Ok(stop);
                }
            }
            if fds[1].revents != 0 {
                let r = self.read_events();
                self.note(r);
            }
        }
    }

    /// A round, an event or a sequence that failed is logged (once while it keeps failing
    /// the same way) and the daemon goes on: the next round tries again.
    fn note(&mut self, r: Result<(), Error>) {
        if let Err(e) = r {
            let text = e.to_string();
            if self.last_error.as_deref() != Some(text.as_str()) {
                self.log.error(&text);
                self.last_error = Some(text);
            }
        }
    }

    /// A signal: `Some(reason)` to stop.
    fn signal(&mut self) -> Result<Option<String>, Error> {
        let mut info = [0u8; 128]; // struct signalfd_siginfo
        if !matches!(os::read(&self.signals, &mut info), Ok(n) if n == info.len()) {
            return Ok(None);
        }
        let signo = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32;
        match signo {
            libc::SIGHUP => {
                match config::load(&self.path) {
                    Ok(c) => {
                        for note in &c.notes {
                            self.log.warn(&format!("SIGHUP: {note}"));
                        }
                        let (c, kept) = config::reloaded(&self.cfg, c);
                        if let Some(kept) = kept {
                            self.log.warn(&format!("SIGHUP: {kept}"));
                        }
                        self.cfg = c;
                        self.primary.stop();
                        self.backup.stop(); // BACKUP_DEV or BACKUP_GW may have changed
                        self.backup_check = None;
                        self.backup_ips = BackupIps::default();
                        self.others = Others::default(); // the tunnels may have changed
                        self.lladdr = None;
                        self.healthy_from = None; // the managed tables may differ
                        self.edgeos = Path::new(edgeos::OP_WRAPPER).exists();
                        self.log.info(&format!("configuration {} reloaded", self.path.display()));
                        self.dirty = true;
                    }
                    Err(e) => self.log.error(&format!("SIGHUP: {e}; keeping the configuration in use")),
                }
                Ok(None)
            }
            libc::SIGTERM => Ok(Some("SIGTERM".into())),
            libc::SIGINT => Ok(Some("SIGINT".into())),
            _ => Ok(None),
        }
    }

    /// One probe round: close the last (judge it), act when the verdict asks for it, send
    /// the next.
    fn round(&mut self) -> Result<(), Error> {
        self.rounds += 1;
        // A daemon that is PID 1 or a subreaper (a container) inherits the hook watchers
        // when they are orphaned: reap them — not while the load balancer's status command
        // or the DNS check's restart runs, whose status each must read itself.
        if self.lb.pending.is_none() && !matches!(self.dns, Some(DnsCheck::Restart(_))) {
            os::reap_children();
        }
        let now_ms = self.now_ms();
        self.primary.receive(now_ms);
        self.tunnel.receive(now_ms);
        self.backup.receive(now_ms);
        self.primary.close(primary_need(&self.cfg), now_ms, &self.cfg);
        self.tunnel.close(1, now_ms, &self.cfg);
        let backup_closed = self.backup.close(1, now_ms, &self.cfg);
        let (timeout_ms, n) =
            (self.cfg.probe_timeout_ms, rounds_needed(self.cfg.down_after_ms, self.cfg.probe_interval_ms));
        let was = self.tunnel.verdict;
        let reach = self.tunnel.rounds.verdict(was, n, now_ms, self.cfg.down_after_ms);
        let window_ms = self.cfg.quality.window_s * 1000;
        let window = self.tunnel.window.as_mut().and_then(|w| w.stats(now_ms, window_ms, timeout_ms)?.first().copied());
        self.tunnel.judged(tunnel_quality(&self.cfg.quality, reach, was, window));
        let judged = self.judge(true);
        let backup = self.judge_backup(&backup_closed);
        self.aim()?;
        self.send_all();
        judged.and(backup)
    }

    /// Starts the DNS check an activation handed over (see `System::dns_beside`), unless
    /// one is under way already: it checks the same resolver.
    fn start_dns(&mut self, server: Ipv4Addr) {
        if self.dns.is_some() {
            return;
        }
        match dns::Query::start(server, &self.cfg.dns_test_name, DNS_WAIT) {
            Ok(q) => self.dns = Some(DnsCheck::Query(q)),
            Err(e) => self.restart_dns(server, Err(e)),
        }
    }

    /// The DNS check one step on, never waiting: a reply or the deadline read, a restart
    /// started or its end taken in; each told in step 7's words.
    fn dns_step(&mut self) {
        self.dns = match self.dns.take() {
            Some(DnsCheck::Query(mut q)) => match q.poll() {
                Ok(None) => Some(DnsCheck::Query(q)),
                Ok(Some(true)) => None,
                unanswered => {
                    self.restart_dns(q.server, unanswered.map(|_| ()));
                    return;
                }
            },
            Some(DnsCheck::Restart(mut r)) => match r.done() {
                None => Some(DnsCheck::Restart(r)),
                Some(how) => {
                    self.restart_failed(how);
                    None
                }
            },
            None => None,
        };
    }

    /// The resolver at `server` did not answer (`asked`: or could not be asked): told,
    /// and the restart started.
    fn restart_dns(&mut self, server: Ipv4Addr, asked: std::io::Result<()>) {
        if let Err(e) = &asked {
            say::log_only(&self.cfg, &self.log, News::DnsNotAsked(server, e));
        }
        say::log_only(&self.cfg, &self.log, News::DnsRestart(server));
        match dns::Restarting::start(&self.cfg.dns_restart_cmd) {
            Ok(r) => self.dns = Some(DnsCheck::Restart(r)),
            Err(e) => self.restart_failed(Err(e)),
        }
    }

    fn restart_failed(&self, how: std::io::Result<()>) {
        let cmd = Change::RestartDns(self.cfg.dns_restart_cmd.clone());
        if let Err(e) = how.context(cmd) {
            say::log_only(&self.cfg, &self.log, News::DnsRestartFailed(&e));
        }
    }

    /// Every track's next round.
    fn send_all(&mut self) {
        let now_ms = self.now_ms();
        self.primary.send(now_ms);
        self.tunnel.send(now_ms);
        // BACKUP_TRACK_IPS: only the rounds of a check under way.
        if self.cfg.backup_track_ips.is_empty() {
            self.backup.send(now_ms);
        } else if self.backup_ips.path.is_some() && self.backup_ips.left > 0 {
            self.backup_ips.left -= 1;
            self.backup.send(now_ms);
        }
    }
}

/// Blocks SIGHUP, SIGTERM and SIGINT and returns a signalfd that reads them, so that a
/// signal is taken in by the poll loop between sequences, never in the middle of one.
/// Children (the DNS restart, the load balancer's status) get a clean mask from std.
fn block_signals() -> std::io::Result<OwnedFd> {
    os::block_into_signalfd(&[libc::SIGHUP, libc::SIGTERM, libc::SIGINT])
}
