//! The sequences of DESIGN.md's "Semantics": one round (observe, decide, act), shared by
//! `run` and the daemon, and the sequences it dispatches to — activation (`activate`),
//! the round while active (`active`), deactivation and cleanup (`deactivate`), with the
//! steps activation and the round while active both take (`steps`). Each is straight-line
//! code that reads top to bottom like the seed's timeline; every step is idempotent, so
//! running a sequence again is also how drift is repaired and how an interrupted run is
//! finished. The judgement is in `decide`, `ownership` and `health`, the means in `system`.

#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::config::{Config, Fallback};
use crate::conntrack::Path;
use crate::decide::{
    defaults_cloned, endpoint_plan, footprint_in_main, inferred_owned, kernel_winners, move_table, restorable,
    routes_where, rule_deletion_safe, rules_plan, saved_defaults, snapshot_now, Action, Change, Ours, Target,
};
use crate::endpoint::{Looked, Need};
use crate::error::Error;
use crate::health::{self, handshake_since, Failback, FailbackJudged, Handshake, TunnelRound, Unhealthy};
use crate::hook::{self, Notice};
use crate::judge::{backup_track_due, link_health};
use crate::log::Logger;
use crate::model::{endpoint_gateway, owned_routes, owned_rules, owns_path, peer_journaled, unrestored};
use crate::netlink::route::{Route, RT_TABLE_MAIN};
use crate::netlink::rule::Rule;
use crate::ownership::{absorb, last_seen_healthy, made_good, restore_table, Absorbed};
use crate::record::{BackupCheck, BackupNeed, BackupNews, BackupSeen, TunnelNews};
use crate::state::{self, Owned, Record, Snapshot};
use crate::system::{Observed, System};
use crate::undo::{undo_plan, Undo, Undoer};
use crate::wireguard::{Key, Peer, PeerSet};
use say::{tell, tell_tables, News};

mod activate;
mod active;
mod deactivate;
mod flows;
pub mod say;
mod steps;
mod tunnels;

use activate::activate;
use active::while_active;
use deactivate::{cleanup, deactivate};
pub use tunnels::OthersSeen;
use tunnels::{others_seen, routes_to_every_vps};

/// What a tick or command did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Within BOOT_WAIT_S of boot: nothing observed, nothing changed, nothing logged.
    Booting,
    /// Primary healthy, failsafe off: nothing to do.
    Healthy,
    /// An interrupted activation's leftovers were taken back.
    CleanedUp,
    Activated {
        ms: u64,
        target: Target,
    },
    /// Failsafe on and kept on.
    Active {
        /// Repairs made (drift, defaults moved aside).
        repairs: usize,
        target: Target,
        /// The tunnel carried traffic in this round.
        tunnel_ok: bool,
        /// The primary passes again; this long until failback.
        wait_left_s: Option<u64>,
    },
    Deactivated {
        ms: u64,
    },
}

impl Outcome {
    /// 0, or 1 when the desired state is not reached: the tables are on the backup
    /// because the tunnel does not work, or on a dead tunnel (FALLBACK=none).
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Activated { target: Target::Backup, .. } => 1,
            Outcome::Active { tunnel_ok: false, .. } => 1,
            _ => 0,
        }
    }
}

/// What a tick, a round, a command by hand or BACKUP_CHECK's record came to, with the
/// ON_CHANGE notices its sequences queued on the way, in order. The result is reached
/// only through [`Told::announce`], which hands the notices to the hook first, whatever
/// the result: no driver can forget them, nor hand them over twice.
#[must_use = "the hook hears of a switch only through Told::announce"]
pub struct Told<T> {
    result: Result<T, Error>,
    notices: Vec<Notice>,
}

impl<T> Told<T> {
    /// Runs `sequence` and takes what it queued for ON_CHANGE.
    fn after(sys: &mut System, sequence: impl FnOnce(&mut System) -> Result<T, Error>) -> Told<T> {
        let result = sequence(sys);
        Told { result, notices: sys.take_notices() }
    }

    /// Hands the notices to ON_CHANGE (one detached watcher, in order) and returns the
    /// result.
    pub fn announce(self, cfg: &Config, log: &Logger) -> Result<T, Error> {
        hook::notify(cfg, log, &self.notices);
        self.result
    }

    /// The result and the notices, for a test to look at.
    #[cfg(test)]
    pub fn parts(self) -> (Result<T, Error>, Vec<Notice>) {
        (self.result, self.notices)
    }
}

// ---------------------------------------------------------------------------------------
// The tick

/// One tick of `run`: observe, probe the primary (PROBE_COUNT echoes per target), then the
/// round every driver shares.
pub fn tick(sys: &mut System) -> Told<Outcome> {
    Told::after(sys, ticked)
}

fn ticked(sys: &mut System) -> Result<Outcome, Error> {
    // Before the router has configured its interfaces, a missing WAN is no outage.
    if sys.boottime_s() < sys.cfg.boot_wait_s {
        return Ok(Outcome::Booting);
    }
    let obs = sys.observe()?;
    let primary = sys.primary_round(&obs)?;
    let passed = primary.is_ok();
    let seen = Seen { primary, round_passed: Some(passed), tunnel: TunnelSeen::ProbeNow, others: OthersSeen::ProbeNow };
    let outcome = judged(sys, &obs, seen)?;
    // Healthy comes only from decide's Action::Nothing: the daemon checks the backup in such
    // rounds too (see its judge_backup).
    if outcome == Outcome::Healthy && sys.cfg.backup_check {
        // BACKUP_TRACK_IPS cost metered bytes: probed every BACKUP_CHECK_INTERVAL_S only,
        // the time of the last check kept in the record.
        let (tracked, now_s) = (!sys.cfg.backup_track_ips.is_empty(), sys.boottime_s());
        if !tracked || backup_track_due(sys.cfg, sys.record().backup.checked_s, now_s) {
            let seen = sys.backup_round(&obs)?;
            judge_backup(sys, &seen, tracked.then_some(now_s))?;
        }
    }
    Ok(outcome)
}

/// What a round saw of the primary and the tunnel, wherever it came from: `run`'s echoes
/// of this tick, or the daemon's event-fed view and continuous probe tracks.
pub struct Seen {
    pub primary: Result<(), Unhealthy>,
    /// A probe round of the primary closed now and passed (`None`: the daemon judges at
    /// an event, between rounds).
    pub round_passed: Option<bool>,
    pub tunnel: TunnelSeen,
    /// With several tunnels, the tunnels not in use.
    pub others: OthersSeen,
}

/// The round `run` and the daemon share: decide from what was seen, and act.
pub fn round(sys: &mut System, obs: &Observed, seen: Seen) -> Told<Outcome> {
    Told::after(sys, |sys| judged(sys, obs, seen))
}

/// A command by hand (`activate`, `deactivate`): the sequence the mode calls for, whatever
/// the primary does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByHand {
    /// On: activation, or the round while active when it is on already.
    Activate,
    /// Off: deactivation, or the cleanup of an interrupted activation when it is off.
    Deactivate,
}

/// Observes and runs the sequence `hand` asks for in the mode observed.
pub fn by_hand(sys: &mut System, hand: ByHand) -> Told<Outcome> {
    Told::after(sys, |sys| {
        let obs = sys.observe()?;
        match (hand, obs.on) {
            (ByHand::Activate, true) => {
                // The owner's order calls off a deactivation a stop left unfinished (else the
                // next round would finish it, whatever the primary does).
                if sys.record().mode.deactivating {
                    let mut record = sys.record().clone();
                    record.deactivation_given_up();
                    sys.write_record(&record)?;
                }
                while_active(sys, &obs, None, TunnelSeen::ProbeNow, &OthersSeen::ProbeNow)
            }
            (ByHand::Activate, false) => activate(sys, None, &obs),
            // By hand, the outage is over whatever the primary answers: nothing of ours stays.
            (ByHand::Deactivate, true) => deactivate(sys, &obs, true, true),
            (ByHand::Deactivate, false) => cleanup(sys, Some(true)),
        }
    })
}

/// What a round is to do with what it saw, and the failback wait as judged: an interrupted
/// deactivation is finished first, whatever the primary does now; otherwise `decide` over
/// the mode, the primary's verdict, the journal and the wait. Reads nothing new (the model
/// test asks it which sequence a tick is about to run).
pub fn planned(sys: &System, obs: &Observed, seen: &Seen) -> (Action, FailbackJudged) {
    let mode = crate::judge::Mode { on: obs.on, leftovers: !sys.journal().is_empty() };
    let backup = sys.links.by_name(&sys.cfg.backup_dev);
    crate::judge::round_action(
        sys.cfg,
        sys.record(),
        mode,
        (seen.primary.is_ok(), seen.round_passed),
        backup,
        sys.boottime_ms(),
    )
}

fn judged(sys: &mut System, obs: &Observed, seen: Seen) -> Result<Outcome, Error> {
    let (action, failback) = planned(sys, obs, &seen);
    match action {
        Action::Nothing => {
            // Only a help at the next activation: a write that fails (a full tmpfs) is
            // told, never a failed round.
            if let Err(e) = sys.remember_healthy(&last_seen_healthy(&obs.routes, &obs.rules, sys.cfg)) {
                tell(sys, News::HealthyNotRemembered(&e));
            }
            // A name endpoint's address kept fresh while the primary can look it up: also
            // only a help, never a failed round. Under the daemon, asked beside its loop.
            if !sys.dns_beside {
                match sys.refresh_endpoint() {
                    Ok(looked) => steps::tell_lookup(sys, &looked, true),
                    Err(e) => tell(sys, News::EndpointNotRefreshed(&e)),
                }
            }
            Ok(Outcome::Healthy)
        }
        Action::Cleanup => cleanup(sys, Some(seen.primary.is_ok())),
        Action::Activate => activate(sys, seen.primary.err(), obs),
        Action::Reassert => {
            let primary = failback.state.map(|f| (seen.primary, f));
            let round = while_active(sys, obs, primary.clone(), seen.tunnel, &seen.others);
            if round.is_err() {
                failback_counted_anyway(sys, primary);
            }
            round
        }
        Action::Deactivate => deactivate(sys, obs, false, seen.primary.is_ok()),
    }
}

/// A round while active that could not act (a route the kernel refuses every round: with
/// FALLBACK=none, the tunnel's default once its interface lost its address) still counts the failback wait: else the failsafe
/// would stay on for good with the primary back — and, with FALLBACK=none, the LAN without
/// a default. What the tables were to do is not recorded (they did not do it).
fn failback_counted_anyway(sys: &mut System, primary: Option<(Result<(), Unhealthy>, Failback)>) {
    let mut record = sys.record().clone();
    crate::judge::failback_counted(&mut record, primary);
    if record != *sys.record() {
        if let Err(e) = sys.write_record(&record) {
            tell(sys, News::FailbackNotCounted(&e));
        }
    }
}

/// BACKUP_CHECK in `run`: a tick's verdict on the backup path (made while the primary is
/// healthy and the failsafe off), judged by the one rule (`BackupCheck::judged`) with a
/// tick's need, and recorded. Nothing is written while the backup stays as it was.
/// `checked_s`: a BACKUP_TRACK_IPS check made at this boot time, recorded.
fn judge_backup(sys: &mut System, seen: &BackupSeen, checked_s: Option<u64>) -> Result<(), Error> {
    let mut check = sys.record().backup.clone();
    check.checked_s = checked_s.or(check.checked_s);
    let news = check.judged(seen, BackupNeed::ticks(), sys.wall_now().as_secs());
    recorded(sys, &check, news, seen)
}

/// BACKUP_CHECK's verdict as judged (by `run` just now, or by the daemon over the rounds
/// it counted since its last write): recorded, and a change announced — `backup-down`
/// with what `seen`, the verdict that turned it, found wrong, or `backup-up`.
pub fn record_backup(sys: &mut System, check: &BackupCheck, news: BackupNews, seen: &BackupSeen) -> Told<()> {
    Told::after(sys, |sys| recorded(sys, check, news, seen))
}

fn recorded(sys: &mut System, check: &BackupCheck, news: BackupNews, seen: &BackupSeen) -> Result<(), Error> {
    let mut record = sys.record().clone();
    record.backup = check.clone();
    sys.write_record(&record)?;
    match (news, seen.why()) {
        (BackupNews::Down, Some(why)) => tell(sys, News::BackupDown(why)),
        (BackupNews::Up, None) => tell(sys, News::BackupUp),
        _ => {}
    }
    Ok(())
}

/// What a round saw of the tunnel's echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelSeen {
    /// Nothing yet: probe it now (`run`: PROBE_COUNT echoes).
    ProbeNow,
    /// The daemon's track has closed too few rounds to say: no verdict, no switch.
    Unknown,
    /// The daemon's track says it answers (up) or not (down), with its hysteresis.
    Echo(bool),
}
