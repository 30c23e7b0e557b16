//! A model-based test over the recording fake: thousands of random sequences of what the
//! world does to a router (the primary's carrier lost and back, the load balancer
//! rewriting or failing over a table, a DHCP renewal with a new gateway, the primary's
//! device going with its defaults and coming back, the tunnel dying and coming back, a
//! second default of the primary's DHCP client, a default added by hand during the outage
//! or before it, time passing, the primary back for UP_AFTER_S), with `run`'s ticks and
//! the daemon's rounds in between — some killed at step N of the sequence they run
//! (activation, the round while active, deactivation, cleanup), some beside a second
//! instance — checked after every step against the invariants of `check`. Some sequences are dual-stack (IPv6
//! through the tunnel, or refused at once with no WG_PEER_IP6); some keep WG_IFACE
//! `disable`d until the failsafe needs it; some run with FALLBACK=none or TRACK_IPS.
//!
//! A second instance is what `run` does (src/main.rs) with LOCK_FILE or the daemon's
//! STATE_DIR/daemon.lock held by another process: nothing at all — no table, no state
//! file changes, and the holder's lock still holds. When the holder dies (a `run` stopped
//! at step N and killed), the kernel releases its lock: the next `run` takes it at once
//! and converges from the journal and snapshot it left.
//!
//! The random source is a seeded xorshift, so a failure prints the seed and the events
//! that led to it; no dependency is needed. `MODEL_SEQUENCES=N` runs more, `MODEL_SEED=S`
//! that one sequence, `MODEL_TRACE=1` prints its requests.

mod check;
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::time::Duration;

use super::lab::{Lab, PEER_IP};
use super::{Kernel, System};
use crate::decide::Action;
use crate::error::Error;
use crate::failsafe::{self, OthersSeen, Outcome, Seen, TunnelSeen};
use crate::lock::{Lock, LockError};
use crate::state::State;
use check::Saved;
use world::Owners;

/// xorshift64*: small, seeded, good enough to pick events.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn coin(&mut self) -> bool {
        self.below(2) == 0
    }
}

/// One step of a sequence.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// `run`: takes LOCK_FILE (free: its last holder exited or died) and ticks.
    Tick,
    /// `run` killed after step N of the sequence it runs (`early`: before activation's
    /// snapshot, most often); the kernel releases its lock.
    Killed {
        early: bool,
    },
    /// `run` stopped after step N, alive and still holding LOCK_FILE.
    Stalled,
    /// A daemon holds STATE_DIR/daemon.lock.
    DaemonHolds,
    /// A second `run` while either lock is held: it must do nothing at all.
    Second,
    /// The holder of either lock dies.
    HolderDies,
    /// The daemon's round: the tunnel as its track says (unknown while fresh), a probe
    /// round closed or an event between rounds; the daemon killed in it now and then.
    DaemonRound {
        tunnel_known: bool,
        closed: bool,
        killed: bool,
    },
    // The world (see `world`).
    Carrier {
        follows: bool,
    },
    LbWrites,
    LbVerdict,
    Renewal,
    BackupRenewal,
    DeviceToggle,
    AdminToggle,
    WgToggle,
    /// WG_IFACE loses its IPv4 address (a configuration commit, a DHCP-less tunnel set up
    /// by hand) or gets it back: the kernel flushes its IPv4 routes and refuses the tunnel's
    /// default until then.
    WgAddress,
    TunnelToggle,
    Pass(u64),
    PrimaryBack,
    SecondDefault,
    /// A default added by hand; `on`: while the failsafe is on (a snapshot exists).
    Workaround {
        on: bool,
    },
    /// The failback wait in force (UP_AFTER_S, as damped) passes.
    WaitOut,
}

/// The sequences a tick may run, as `failsafe::planned` names them.
const PLANS: [Action; 5] = [Action::Nothing, Action::Cleanup, Action::Activate, Action::Reassert, Action::Deactivate];

/// The steps a stop is picked among, for each of `PLANS`: a little more than the longest
/// of each kind (printed at the end of the test).
const STOP_WITHIN: [usize; 5] = [2, 8, 40, 31, 27];

/// What the ticks of one kind of sequence came to.
#[derive(Default)]
struct Runs {
    /// Ran to their end (whatever their result).
    ended: usize,
    killed: usize,
    /// Steps (changes and state writes) of the longest that ended.
    longest: usize,
    /// The steps after which one was killed.
    killed_at: BTreeSet<usize>,
}

/// What every sequence did, printed at the end.
#[derive(Default)]
struct Stats {
    sequences: u64,
    dual: u64,
    steps: usize,
    runs: [Runs; 5],
    outcomes: BTreeMap<&'static str, usize>,
    /// Second instances refused by LOCK_FILE, and by a daemon's lock.
    refused: [usize; 2],
    /// Ticks after which the tables were checked against the ownership rule.
    off_checked: usize,
    /// Defaults added by hand while on, and of those, moved aside by the tool.
    workarounds: [usize; 2],
    /// IPv6 tables a failback left on the tool's default, seen off after a tick (their own
    /// to be put back by the ticks after).
    ipv6_kept: usize,
}

/// One sequence in progress.
struct Model<'a> {
    lab: &'a Lab,
    rng: Rng,
    owners: Owners,
    trail: Vec<String>,
    saved: Saved,
    stats: &'a mut Stats,
    /// A stalled `run`'s LOCK_FILE, a daemon's daemon.lock.
    held: Option<Lock>,
    daemon: Option<File>,
    traced: usize,
}

impl Model<'_> {
    /// The next events: one, or a script that must run in order (a failback, a second
    /// instance beside a stalled first).
    fn pick(&mut self) -> Vec<Event> {
        use Event::*;
        let r = &mut self.rng;
        match r.below(30) {
            0..=3 => vec![Tick],
            4..=6 => vec![Killed { early: false }],
            7..=8 => vec![DaemonRound { tunnel_known: r.coin(), closed: r.coin(), killed: r.below(4) == 0 }],
            9..=11 => {
                let last = if r.coin() { Killed { early: false } } else { Tick };
                vec![PrimaryBack, Tick, WaitOut, last, Tick]
            }
            26..=27 => {
                // An activation stopped early, the primary back: a cleanup, itself
                // stopped now and then.
                let last = if r.coin() { Killed { early: false } } else { Tick };
                vec![Carrier { follows: r.coin() }, Killed { early: true }, PrimaryBack, last, Tick]
            }
            12 => vec![Stalled, Second, HolderDies, Tick],
            13 => vec![DaemonHolds, Second, HolderDies, Tick],
            14..=16 => vec![Carrier { follows: r.coin() }],
            17 => vec![LbWrites],
            18 => vec![Renewal],
            19 => vec![DeviceToggle],
            20 => vec![Pass(r.below(90))],
            21 => vec![TunnelToggle],
            22 => vec![LbVerdict],
            23 => vec![AdminToggle],
            24 => vec![WgToggle],
            28 => vec![SecondDefault],
            29 => vec![Workaround { on: false }, Tick],
            _ => vec![BackupRenewal],
        }
    }

    /// Applies one event and checks every invariant after it.
    fn step(&mut self, event: Event) {
        let (what, ended) = match event {
            Event::Tick | Event::Killed { .. } | Event::Stalled | Event::DaemonRound { .. } => self.run(event),
            Event::DaemonHolds | Event::Second | Event::HolderDies => (self.instances(event), None),
            Event::Workaround { .. } => {
                let on = State::open_as_owner(&self.lab.cfg.state_dir).is_ok_and(|s| s.snapshot_exists());
                (self.owners.apply(&mut self.lab.w(), &Event::Workaround { on }), None)
            }
            Event::WaitOut => {
                let record = State::open_as_owner(&self.lab.cfg.state_dir).and_then(|s| s.record());
                let s = record.map_or(0, |r| r.failback.up_after_s).max(self.lab.cfg.up_after_s) + 1;
                self.lab.advance_s(s);
                (format!("{s} s pass (the failback wait)"), None)
            }
            _ => (self.owners.apply(&mut self.lab.w(), &event), None),
        };
        if std::env::var_os("MODEL_TRACE").is_some() {
            eprintln!("{what}");
            let w = self.lab.w();
            for q in &w.requests[self.traced..] {
                eprintln!("    {q}");
            }
            self.traced = w.requests.len();
        }
        let on = State::open_as_owner(&self.lab.cfg.state_dir).is_ok_and(|s| s.snapshot_exists());
        self.owners.after_step(&self.lab.w(), on);
        self.trail.push(what);
        self.stats.steps += 1;
        check::after_step(self.lab, &self.owners, &mut self.saved, &self.trail, ended.as_ref());
        if let Some(o) = ended {
            *self.stats.outcomes.entry(outcome_name(&o)).or_default() += 1;
            self.stats.off_checked +=
                usize::from(matches!(o, Outcome::Healthy | Outcome::CleanedUp | Outcome::Deactivated { .. }));
        }
    }

    /// Which sequence a tick or round would run now: the very decision it takes
    /// (`failsafe::planned`), asked of a dry-run process that writes nothing.
    fn plan(&self, daemon: Option<(TunnelSeen, bool)>) -> Result<usize, Error> {
        let lab = self.lab;
        let state = State::open_as_owner(&lab.cfg.state_dir).map_err(super::state_error)?;
        let mut sys = System::over(&lab.cfg, &lab.log, true, Kernel::Fake(lab.fake.clone()), state)?;
        let obs = sys.observe()?;
        let primary = sys.primary_round(&obs)?;
        let passed = primary.is_ok();
        let seen = match daemon {
            None => {
                Seen { primary, round_passed: Some(passed), tunnel: TunnelSeen::ProbeNow, others: OthersSeen::ProbeNow }
            }
            Some((tunnel, closed)) => {
                Seen { primary, round_passed: closed.then_some(passed), tunnel, others: OthersSeen::ProbeNow }
            }
        };
        let action = failsafe::planned(&sys, &obs, &seen).0;
        Ok(PLANS.iter().position(|a| *a == action).unwrap_or(0))
    }

    /// A `run` or a daemon round under LOCK_FILE, perhaps stopped at a step of the
    /// sequence it runs; returns what it did and its outcome if it ended well.
    fn run(&mut self, event: Event) -> (String, Option<Outcome>) {
        let lab = self.lab;
        let daemon = match event {
            Event::DaemonRound { tunnel_known: true, closed, .. } => {
                Some((TunnelSeen::Echo(lab.w().answers.contains(&("wg0".to_string(), PEER_IP))), closed))
            }
            Event::DaemonRound { closed, .. } => Some((TunnelSeen::Unknown, closed)),
            _ => None,
        };
        let steps_before = lab.w().steps;
        let plan = self.plan(daemon).unwrap_or(0);
        assert_eq!(lab.w().steps, steps_before, "asking the plan changed something");
        let lock = Lock::acquire(&lab.cfg.lock_file, Duration::ZERO);
        let lock = lock.unwrap_or_else(|e| panic!("LOCK_FILE not free: {e:?}\nafter {:#?}", self.trail));
        // A stop anywhere in the sequence: within the longest of its kind, or just past it
        // (a constant, so that MODEL_SEED=S alone replays what it did among the others).
        let longest = match event {
            Event::Killed { early: true } => 6,
            _ => STOP_WITHIN[plan],
        };
        let stops = matches!(event, Event::Killed { .. } | Event::Stalled | Event::DaemonRound { killed: true, .. });
        let stop = stops.then(|| self.rng.below(longest as u64) as usize);
        if let Some(n) = stop {
            lab.kill_after(n);
        }
        let out = match daemon {
            None => lab.tick(),
            Some((tunnel, closed)) => lab.sys().and_then(|mut sys| {
                let obs = sys.observe()?;
                let primary = sys.primary_round(&obs)?;
                let round_passed = closed.then_some(primary.is_ok());
                failsafe::round(&mut sys, &obs, Seen { primary, round_passed, tunnel, others: OthersSeen::ProbeNow })
                    .parts()
                    .0
            }),
        };
        let killed = match event {
            Event::Stalled => lab.w().killed,
            _ => lab.revive(),
        };
        let runs = &mut self.stats.runs[plan];
        if killed {
            runs.killed += 1;
            runs.killed_at.insert(stop.unwrap_or(0));
        } else {
            runs.ended += 1;
            runs.longest = runs.longest.max(lab.w().steps - steps_before);
        }
        match event {
            Event::Stalled => self.held = Some(lock),
            _ => drop(lock),
        }
        let how = match (event, stop) {
            (Event::DaemonRound { .. }, None) => format!("the daemon's round ({daemon:?})"),
            (Event::DaemonRound { .. }, Some(n)) => format!("the daemon's round ({daemon:?}) killed after {n} steps"),
            (Event::Stalled, Some(n)) => format!("tick stalled after {n} steps, holding the lock"),
            (_, Some(n)) => format!("tick killed after {n} steps"),
            _ => "tick".to_string(),
        };
        let what = format!("{how}, {:?} planned: {out:?}", PLANS[plan]);
        (what, out.ok().filter(|_| !killed))
    }

    /// A daemon taking its lock, a second instance beside a holder, the holder dying.
    fn instances(&mut self, event: Event) -> String {
        let cfg = &self.lab.cfg;
        match event {
            Event::DaemonHolds => {
                let mut state = State::open_as_owner(&cfg.state_dir).expect("STATE_DIR");
                self.daemon = Some(state.lock_daemon().expect("daemon.lock").expect("daemon.lock free"));
                "a daemon holds daemon.lock".to_string()
            }
            Event::Second => {
                let before = (self.lab.routes(), self.lab.rules(), self.lab.w().steps, dir_files(&self.lab.dir));
                // What `run` does (src/main.rs): a daemon running, nothing to do; else
                // LOCK_FILE, waiting LOCK_TIMEOUT (0 here), busy: exit 75.
                let daemon_runs = State::open_as_owner(&cfg.state_dir).is_ok_and(|s| s.daemon_running());
                let refused = daemon_runs
                    || matches!(
                        Lock::acquire(&cfg.lock_file, Duration::from_secs(cfg.lock_timeout_s)),
                        Err(LockError::Busy)
                    );
                assert!(refused, "a second instance went ahead\nafter {:#?}", self.trail);
                self.stats.refused[usize::from(daemon_runs)] += 1;
                let after = (self.lab.routes(), self.lab.rules(), self.lab.w().steps, dir_files(&self.lab.dir));
                assert!(before == after, "a refused second instance changed something\nafter {:#?}", self.trail);
                // The holder's lock still holds: the second did not take or replace it.
                let still = match &self.daemon {
                    Some(_) => State::open_as_owner(&cfg.state_dir).is_ok_and(|s| s.daemon_running()),
                    None => matches!(Lock::acquire(&cfg.lock_file, Duration::ZERO), Err(LockError::Busy)),
                };
                assert!(still, "the holder's lock no longer holds\nafter {:#?}", self.trail);
                format!("a second instance does nothing (a daemon runs: {daemon_runs})")
            }
            _ => {
                // Killed: the kernel closes its descriptors, and with them the lock.
                let stalled = self.held.take().is_some();
                self.daemon = None;
                self.lab.revive();
                format!("the holder dies (a stalled run: {stalled})")
            }
        }
    }
}

/// Every file of STATE_DIR and its bytes.
fn dir_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap_or_default()))
        .collect();
    v.sort();
    v
}

fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Booting => "booting",
        Outcome::Healthy => "healthy",
        Outcome::CleanedUp => "cleaned up",
        Outcome::Activated { .. } => "activated",
        Outcome::Active { .. } => "active",
        Outcome::Deactivated { .. } => "deactivated",
    }
}

/// One random sequence of `steps` picks, then the primary back for good: every table must
/// end as its owners want it.
fn sequence(seed: u64, steps: usize, stats: &mut Stats) {
    // A third of the sequences IPv4 only, a third dual-stack through the tunnel, a third
    // dual-stack with IPv6 refused at once (no WG_PEER_IP6); across them, a quarter with
    // FALLBACK=none and a quarter with TRACK_IPS behind the gateway.
    let six = ["", "LAN_SUBNET6=2001:db8:10::/64\nWG_PEER_IP6=fd00:11::1\n", "LAN_SUBNET6=2001:db8:10::/64\n"];
    let variant = ["", "", "FALLBACK=none\n", "TRACK_IPS=198.18.0.1\n"][(seed / 3 % 4) as usize];
    // PROBE_TIMEOUT_MS at its least: a renewal with the tunnel dead waits it out in real
    // time for a handshake (`await_handshake`), where the fake's clock does not move.
    let conf = format!(
        "PRIMARY_GW=auto\nBACKUP_GW=auto\nPROBE_COUNT=1\nPROBE_TIMEOUT_MS=10\nLOCK_TIMEOUT=0\n{}{variant}",
        six[(seed % 3) as usize]
    );
    let lab = Lab::new(&format!("model-{seed}"), &conf);
    let dual = seed % 3 != 0;
    // Half of them (by twelves, across the variants above) with WG_IFACE `disable`d until
    // the failsafe needs it.
    let wg_disabled = seed / 12 % 2 == 1;
    let owners = Owners::new(&mut lab.w(), dual, wg_disabled);
    let trail = vec![format!("seed {seed}: {conf:?}, wg0 disabled: {wg_disabled}")];
    let rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    stats.sequences += 1;
    stats.dual += u64::from(dual);
    let mut m =
        Model { lab: &lab, rng, owners, trail, saved: Saved::default(), stats, held: None, daemon: None, traced: 0 };
    m.step(Event::Tick);
    assert!(m.trail[1].ends_with("Ok(Healthy)"), "a healthy first tick: {}", m.trail[1]);
    // A third of them (by twenty-fours) with WG_IFACE's address lost at one step, and
    // given back at a later one or never (drawn apart, so that the picks stay the seed's).
    let mut apart = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
    let (lost_at, back_at) = (apart.below(steps as u64) as usize, apart.below(2 * steps as u64) as usize);
    let address_lost = seed / 24 % 3 == 1;
    for i in 0..steps {
        if address_lost && (i == lost_at || i == back_at.max(lost_at + 1)) {
            m.step(Event::WgAddress);
        }
        for event in m.pick() {
            m.step(event);
        }
    }
    // The primary back for good; after UP_AFTER_S (however damped) the failsafe is off.
    for event in [Event::PrimaryBack, Event::Tick, Event::WaitOut, Event::Tick, Event::Tick] {
        m.step(event);
    }
    if m.trail.iter().any(|t| t.ends_with("added by hand (the failsafe on: true)")) {
        m.stats.workarounds[0] += 1;
        m.stats.workarounds[1] += usize::from(m.owners.workaround_aside);
    }
    m.stats.ipv6_kept += m.saved.ipv6_kept;
    let last = m.trail.last().cloned().unwrap_or_default();
    let off = ["Ok(Healthy)", "Ok(CleanedUp)", "Ok(Deactivated"].iter().any(|o| last.contains(o));
    assert!(off, "seed {seed}: not off after the primary's return\nafter {:#?}", m.trail);
}

#[test]
fn random_sequences_of_events_keep_every_invariant() {
    // MODEL_SEQUENCES=N runs more (a soak); the default keeps `cargo test` quick.
    let sequences: u64 = std::env::var("MODEL_SEQUENCES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let only: Option<u64> = std::env::var("MODEL_SEED").ok().and_then(|v| v.parse().ok());
    // Seeds that once found a defect the random mix rarely reaches, run every time.
    const FOUND: [u64; 1] = [
        // A failback killed part-way, the primary's device gone, then finished: IPv6
        // tables emptied (fixed: they keep the failsafe's default until theirs can return).
        13478,
    ];
    let seeds: Vec<u64> = match only {
        Some(s) => vec![s],
        None => (0..sequences).chain(FOUND.into_iter().filter(|s| *s >= sequences)).collect(),
    };
    let started = std::time::Instant::now();
    let mut stats = Stats::default();
    for seed in seeds {
        sequence(seed, 30, &mut stats);
    }
    let s = &stats;
    eprintln!(
        "model: {} sequences ({} dual-stack), {} steps in {:.1} s, every invariant held",
        s.sequences,
        s.dual,
        s.steps,
        started.elapsed().as_secs_f64()
    );
    for (plan, runs) in PLANS.iter().zip(&s.runs) {
        let missed: Vec<usize> = (0..runs.longest).filter(|n| !runs.killed_at.contains(n)).collect();
        eprintln!(
            "  {plan:?}: {} ran to their end (the longest: {} steps), {} killed; never killed after step {missed:?}",
            runs.ended, runs.longest, runs.killed
        );
    }
    eprintln!("  outcomes of the ticks that ended well: {:?}", s.outcomes);
    eprintln!(
        "  second instances refused: {} by LOCK_FILE, {} by a daemon's lock; tables checked off: {}",
        s.refused[0], s.refused[1], s.off_checked
    );
    eprintln!("  defaults added by hand while on: {}, moved aside: {}", s.workarounds[0], s.workarounds[1]);
    eprintln!("  IPv6 tables seen off on the tool's default, their own to be put back: {}", s.ipv6_kept);
    // The sequences the acceptance names, each run and killed part-way.
    if only.is_none() {
        for (plan, runs) in PLANS.iter().zip(&s.runs).skip(1) {
            assert!(runs.ended > 0 && runs.killed > 0, "{plan:?}: {} ended, {} killed", runs.ended, runs.killed);
        }
        assert!(s.ipv6_kept > 0, "the kept IPv6 tables' path was not reached");
    }
}
