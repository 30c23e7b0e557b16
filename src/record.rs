//! The record (STATE_DIR's `state` file): what must survive between ticks besides the
//! tables themselves, kept in parts as innernet keeps a peer's settings apart from its
//! counters — the mode, the failback clock, the tunnel's proof facts, the log-once flags,
//! BACKUP_CHECK's verdict and the totals — with every change a sequence makes to it as a
//! method here (activated, deactivation begun, primary passing, backup judged, …).
//!
//! Nothing here reads a clock, a file or a socket: the times a transition needs come in
//! as arguments (boot-time for what spans ticks, wall time only for humans), so every
//! transition is unit-tested. The text format (`key=value` lines) is the one every earlier
//! version wrote and read: a record written before an upgrade reads to the same values and
//! is written back byte for byte the same.

#![forbid(unsafe_code)]

mod backup;

pub use backup::{BackupCheck, BackupNeed, BackupNews, BackupSeen};

use std::fmt::Write as _;
use std::time::Duration;

use crate::budget::{Budget, Period};
use crate::config::Config;
use crate::health::damped_wait;
use crate::model::{is_boot_id, LastProof, ProvenBy, Target};
use crate::traffic::{Bytes, Reading, Traffic};

mod others;
mod text;
pub use others::{OtherTunnels, OTHERS_EVERY_MS};

/// The recorded mode, the health counters that span ticks, and totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub mode: Mode,
    /// With several tunnels: the ones not in use, as the round while active last probed them.
    pub others: OtherTunnels,
    pub failback: FailbackClock,
    pub tunnel: TunnelFacts,
    pub logged: LoggedOnce,
    pub backup: BackupCheck,
    pub totals: Totals,
    /// The bytes of this outage (or of the last one), and the counters' last reading.
    pub traffic: Traffic,
    /// Why this outage began and which paths it used (HISTORY_FILE's line).
    pub outage: OutageFacts,
    /// BACKUP_BUDGET_MB's period: the bytes over the backup in it, the thresholds told.
    pub budget: Budget,
    /// The boot these boot-time times belong to.
    pub boot_id: Option<String>,
    /// HISTORY_FILE's open lines left by an earlier boot were completed (once a boot:
    /// the record of a new boot, or a fresh STATE_DIR, has not).
    pub history_checked: bool,
}

/// Whether the failsafe is on, and where the tables point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mode {
    pub failsafe: bool,
    /// A deactivation has begun: the next run finishes it, whatever the primary does.
    pub deactivating: bool,
    /// What the managed tables point at while the failsafe is on.
    pub target: Target,
    /// Wall-clock time of the last switch, for humans (status); never used for timing.
    pub since_unix_s: u64,
    /// Boot time (s) of the last switch: what an outage's length is measured from (a
    /// router without an RTC steps its wall clock at NTP sync, often during the outage
    /// whose tunnel brought NTP). `None` in a record of an earlier version.
    pub since_boot_s: Option<u64>,
    /// The tunnel in use (or, on the backup, last proven) when several are configured: its
    /// interface; `None` is the first (and the record of a single tunnel, unchanged).
    pub tunnel: Option<String>,
}

impl Default for Mode {
    fn default() -> Mode {
        Mode {
            failsafe: false,
            deactivating: false,
            target: Target::Tunnel,
            since_unix_s: 0,
            since_boot_s: None,
            tunnel: None,
        }
    }
}

/// The failback wait: how long the primary has passed, how long it must, and when the
/// last failback was (flap damping). Boot-time, of the boot `Record::boot_id` names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailbackClock {
    /// Boot time (ms) since which every round of the primary has passed (while active).
    pub up_since_ms: Option<u64>,
    /// The failback wait in force for this activation (UP_AFTER_S after flap damping).
    pub up_after_s: u64,
    /// Boot time (s) of the last failback.
    pub last_at_s: Option<u64>,
}

/// What is known of the tunnel beyond one round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelFacts {
    /// The peer's latest handshake when the endpoint route via the backup went in.
    pub handshake_mark: Option<Duration>,
    /// The peer has answered an echo through the tunnel (so silence means down).
    pub peer_echoes: bool,
    /// The tables are on the tunnel and it is down (FALLBACK=none, or a backup without
    /// carrier): told once, and the failback need not wait for the primary's whole wait.
    pub down: bool,
    /// How the last activation found the tunnel, and when: `check` shows it, since it
    /// never probes the VPS itself (a probe over the backup needs a route it will not add).
    pub last_proof: Option<LastProof>,
}

/// What is told once per activation, not at every round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoggedOnce {
    /// The load balancer's re-impositions.
    pub repairs: bool,
    /// The primary passing again (a lossy line restarts the wait at every lost round;
    /// that is not news each time).
    pub back: bool,
    /// The kernel refused to move IPv6.
    pub ipv6_refused: bool,
}

/// Counts for humans (status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub activations: u64,
    pub deactivations: u64,
    /// How long the last activation or deactivation took.
    pub last_switch_ms: u64,
    /// The outages that ended (failed back): their seconds (boot time, see
    /// [`Record::outage_so_far_s`]) and their bytes, tunnel and backup together.
    pub outage_s: u64,
    pub bytes: Bytes,
}

impl Totals {
    /// The record's lines of the outages' totals, written only once there are some (as
    /// [`Traffic::write_lines`]'s).
    fn write_lines(&self, text: &mut String) {
        if self.outage_s != 0 || self.bytes != Bytes::default() {
            _ = write!(text, "outage_s_total={}\nbytes_total={} {}\n", self.outage_s, self.bytes.rx, self.bytes.tx);
        }
    }
}

/// What HISTORY_FILE's line of an outage needs besides its times and bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutageFacts {
    /// Why it began: the activation's reason, on one line.
    pub reason: String,
    /// The tables were on the tunnel, on the backup (FALLBACK), during the outage.
    pub tunnel: bool,
    pub backup: bool,
}

impl OutageFacts {
    /// `tunnel`, `backup` or `tunnel+backup`.
    pub fn target(&self) -> &'static str {
        match (self.tunnel, self.backup) {
            (true, true) => "tunnel+backup",
            (false, true) => "backup",
            _ => "tunnel",
        }
    }

    fn saw(&mut self, t: Target) {
        match t {
            Target::Tunnel => self.tunnel = true,
            Target::Backup => self.backup = true,
        }
    }

    /// The record's lines, written only during and after an outage (as the traffic's).
    fn write_lines(&self, text: &mut String) {
        if *self == OutageFacts::default() {
            return;
        }
        _ = writeln!(text, "outage_reason={}", self.reason);
        // The paths only once one is known: a record read without them is written back
        // without them, never with a path guessed.
        if self.tunnel || self.backup {
            _ = writeln!(text, "outage_paths={}", self.target());
        }
    }
}

/// What a tunnel verdict changed, for the round to tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelNews {
    /// The target moved: from this one.
    pub switched_from: Option<Target>,
    /// The tunnel the tables are on went down (`Some(true)`) or works again.
    pub down: Option<bool>,
}

impl Record {
    /// The tunnel answered an echo (`true`): the peer is one that echoes, so its silence
    /// later means down.
    pub fn echo_seen(&mut self, answered: bool) {
        self.tunnel.peer_echoes |= answered;
    }

    /// Several tunnels: the LAN moved to another one (`tunnel`: its interface, `None` for
    /// the first), which answered an echo just now; the handshake it holds (`mark`) is
    /// the mark from here on. (The bytes are read at the switch by the round: see
    /// [`Record::path_left`].)
    pub fn moved_to_tunnel(&mut self, tunnel: Option<String>, mark: Option<Duration>) {
        self.mode.tunnel = tunnel;
        (self.tunnel.handshake_mark, self.tunnel.peer_echoes, self.tunnel.down) = (mark, true, false);
    }

    /// What an activation's proof saw is what the peer is during this outage: one that
    /// answered is judged by its echoes from now on; one proven by a handshake alone (its
    /// echoes filtered now, whatever it did before), or not proven at all, by its
    /// handshakes until it answers one.
    pub fn proof_seen(&mut self, answered: bool) {
        self.tunnel.peer_echoes = answered;
    }

    /// What an activation judged, recorded before any table is touched so that an
    /// activation killed from here on is completed with its own mark, target and wait:
    /// the failback wait damped if it comes soon after the last failback (`now_boot_s`),
    /// and the log-once flags of the last activation cleared.
    pub fn activation_judged(
        &mut self,
        cfg: &Config,
        target: Target,
        mark: Option<Duration>,
        boot_id: Option<String>,
        now_boot_s: u64,
    ) {
        let f = &self.failback;
        let wait_s =
            damped_wait(f.last_at_s, f.up_after_s, now_boot_s, cfg.up_after_s, cfg.up_after_max_s, cfg.flap_window_s);
        self.mode.deactivating = false;
        self.mode.target = target;
        self.boot_id = boot_id;
        self.failback.up_since_ms = None;
        self.failback.up_after_s = wait_s;
        self.tunnel.handshake_mark = mark;
        self.tunnel.down = false;
        self.logged = LoggedOnce::default();
        self.others = OtherTunnels::default();
        self.traffic = Traffic::default();
        self.outage = OutageFacts::default();
        self.outage.saw(target);
        // The budget's share of this outage starts from nothing (the period's sum goes on).
        self.budget.outage_bytes = 0;
    }

    /// Why this outage began (for HISTORY_FILE), on one line.
    pub fn outage_reason(&mut self, reason: &str) {
        self.outage.reason = reason.replace(['\n', '\r'], " ");
    }

    /// The failback wait is longer than UP_AFTER_S (flap damping): `Some` of it.
    pub fn damped_wait_s(&self, cfg: &Config) -> Option<u64> {
        (self.failback.up_after_s > cfg.up_after_s).then_some(self.failback.up_after_s)
    }

    /// Activation done, at `now_unix_s` (wall, for humans) and `now_boot_s`, in `took_ms`.
    pub fn activated(&mut self, now_unix_s: u64, now_boot_s: u64, took_ms: u64) {
        self.proof_recorded(now_unix_s);
        self.mode.failsafe = true;
        self.mode.since_unix_s = now_unix_s;
        self.mode.since_boot_s = Some(now_boot_s);
        self.totals.activations += 1;
        self.totals.last_switch_ms = took_ms;
    }

    /// A round while active finds the record of an activation that was killed after it
    /// switched the tables: completed now. `true` when it was (to be told).
    pub fn activation_completed(&mut self, now_unix_s: u64, now_boot_s: u64, boot_id: Option<String>) -> bool {
        if self.mode.failsafe {
            return false;
        }
        self.proof_recorded(now_unix_s);
        self.mode.failsafe = true;
        self.mode.since_unix_s = now_unix_s;
        self.mode.since_boot_s = Some(now_boot_s);
        self.totals.activations += 1;
        self.boot_id = boot_id;
        if self.outage.reason.is_empty() {
            self.outage_reason("an interrupted activation was completed");
        }
        true
    }

    /// The proof an activation judged (its target and [`Record::proof_seen`]), kept past
    /// the deactivation for `check`.
    fn proof_recorded(&mut self, now_unix_s: u64) {
        let by = match (self.mode.target, self.tunnel.peer_echoes) {
            (Target::Backup, _) => ProvenBy::Nothing,
            (Target::Tunnel, true) => ProvenBy::Echo,
            (Target::Tunnel, false) => ProvenBy::Handshake,
        };
        self.tunnel.last_proof = Some(LastProof { at_unix_s: now_unix_s, by });
    }

    /// From here on a run killed part-way is finished by the next one, whatever the
    /// primary does meanwhile.
    pub fn deactivation_begun(&mut self) {
        self.mode.deactivating = true;
    }

    /// A deactivation that could not finish: not a crash, so the next round judges afresh.
    pub fn deactivation_given_up(&mut self) {
        self.mode.deactivating = false;
    }

    /// Every table is back: normal again, still marked as deactivating until
    /// [`Record::deactivation_finished`] (the journal and snapshot go in between). The
    /// failback's boot time (`now_boot_s`) is what flap damping counts from.
    pub fn deactivated(&mut self, now_unix_s: u64, took_ms: u64, now_boot_s: u64, boot_id: Option<String>) {
        self.mode.failsafe = false;
        self.mode.tunnel = None;
        self.others = OtherTunnels::default();
        self.totals.outage_s = self.totals.outage_s.saturating_add(self.outage_so_far_s(now_unix_s, now_boot_s));
        self.totals.bytes = self.totals.bytes.plus(self.traffic.total());
        self.mode.since_unix_s = now_unix_s;
        self.mode.since_boot_s = Some(now_boot_s);
        self.totals.deactivations += 1;
        self.totals.last_switch_ms = took_ms;
        self.failback.last_at_s = Some(now_boot_s);
        self.failback.up_since_ms = None;
        self.boot_id = boot_id;
        self.tunnel.down = false;
        // The outage's bytes stay (status shows the last one); nothing is counted on.
        self.traffic.base = None;
    }

    /// How long the outage (the failsafe on since the last switch) has lasted at
    /// `now_boot_s`: measured in boot time, which no NTP step moves. A record of an earlier
    /// version (upgraded during an outage) has only the wall-clock start: its wall-clock
    /// length then, bounded by the boot (a record of another boot is set aside, so the
    /// outage began in this one). 0 without a switch recorded.
    pub fn outage_so_far_s(&self, now_unix_s: u64, now_boot_s: u64) -> u64 {
        match (self.mode.since_boot_s, self.mode.since_unix_s) {
            (Some(start), _) => now_boot_s.saturating_sub(start),
            (None, 0) => 0,
            (None, start) => now_unix_s.saturating_sub(start).min(now_boot_s),
        }
    }

    /// When the last switch was, on the wall clock now (`now_unix_ms`, `now_boot_ms`): its
    /// boot time's distance back from now, so that a clock NTP set since still dates it
    /// right (in milliseconds, so that two statuses a moment apart date it alike); the
    /// wall time recorded then when the record has no boot time (0: never).
    pub fn switched_unix_s(&self, now_unix_ms: u64, now_boot_ms: u64) -> u64 {
        match self.mode.since_boot_s {
            Some(start) => now_unix_ms.saturating_sub(now_boot_ms.saturating_sub(start.saturating_mul(1000))) / 1000,
            None => self.mode.since_unix_s,
        }
    }

    /// The counters that carry the outage's traffic read `now` (see [`Traffic::counted`]):
    /// the bytes they moved since the last reading, in and out together.
    pub fn counters_read(&mut self, now: Option<Reading>) -> u64 {
        let step = self.traffic.counted(now);
        step.rx.saturating_add(step.tx)
    }

    /// The LAN left a path (read up to now just before): the next reading, of the new
    /// path's counters, is only the base — also when it is another tunnel, whose counters
    /// are not those of the one left.
    pub fn path_left(&mut self) {
        self.traffic.base = None;
    }

    /// The journal and the snapshot are gone: the deactivation is over.
    pub fn deactivation_finished(&mut self) {
        self.mode.deactivating = false;
    }

    /// The tunnel judged while active: the tables go to `target`, and the tunnel works
    /// (`tunnel_ok`) or not. Says what changed.
    pub fn tunnel_judged(&mut self, target: Target, tunnel_ok: bool) -> TunnelNews {
        let from = self.mode.target;
        let down = !tunnel_ok && target == Target::Tunnel;
        let news = TunnelNews {
            switched_from: (from != target).then_some(from),
            down: (down != self.tunnel.down).then_some(down),
        };
        self.mode.target = target;
        self.tunnel.down = down;
        self.outage.saw(target);
        news
    }

    /// The primary has passed every round since `since_ms` (boot time); `first`: this
    /// round started the count. `true` when that is to be told (once per activation).
    pub fn primary_passing(&mut self, since_ms: u64, first: bool) -> bool {
        self.failback.up_since_ms = Some(since_ms);
        let tell = first && !self.logged.back;
        self.logged.back |= tell;
        tell
    }

    /// The primary failed a round: the failback wait starts again at its next pass.
    pub fn primary_failed(&mut self) {
        self.failback.up_since_ms = None;
    }

    /// The load balancer re-imposed its routes: `true` the first time this activation.
    pub fn reimposed(&mut self) -> bool {
        !std::mem::replace(&mut self.logged.repairs, true)
    }

    /// IPv6 was refused this round or not: `Some(true)` at the first refusal of an
    /// activation, `Some(false)` when IPv6 moves after all, `None` when nothing changed.
    pub fn ipv6_judged(&mut self, refused: bool) -> Option<bool> {
        let changed = refused != self.logged.ipv6_refused;
        self.logged.ipv6_refused = refused;
        changed.then_some(refused)
    }
}

#[cfg(test)]
pub mod tests {
    use super::text::parse_time;
    use super::*;

    /// A record as wg-failsafe wrote it before the record was nested (every key, no
    /// default value): an upgrade mid-outage reads it and writes it back unchanged.
    pub(crate) const WRITTEN_BEFORE: &str = "mode=failsafe\ndeactivating=1\ntarget=backup\nsince=1700000000\nactivations=3\ndeactivations=2\nlast_switch_ms=41\nboot_id=0f1e2d3c-aaaa-bbbb-cccc-0123456789ab\nup_since_ms=512000\nup_after_s=120\nfailback_at_s=4000\nhandshake_mark=1700000000.000000005\npeer_echoes=1\ntunnel_down=1\nrepairs_logged=1\nback_logged=0\nbackup_down=1\nbackup_since=1700000100\nbackup_fails=1\nipv6_refused=1\n";

    /// What [`WRITTEN_BEFORE`] holds.
    pub(crate) fn sample() -> Record {
        Record {
            others: OtherTunnels::default(),
            mode: Mode {
                failsafe: true,
                deactivating: true,
                target: Target::Backup,
                since_unix_s: 1_700_000_000,
                since_boot_s: None,
                tunnel: None,
            },
            failback: FailbackClock { up_since_ms: Some(512_000), up_after_s: 120, last_at_s: Some(4_000) },
            tunnel: TunnelFacts {
                handshake_mark: Some(Duration::new(1_700_000_000, 5)),
                peer_echoes: true,
                down: true,
                last_proof: None,
            },
            logged: LoggedOnce { repairs: true, back: false, ipv6_refused: true },
            backup: BackupCheck { down: true, since_unix_s: 1_700_000_100, against: 1, checked_s: None },
            totals: Totals { activations: 3, deactivations: 2, last_switch_ms: 41, ..Totals::default() },
            traffic: Traffic::default(),
            outage: OutageFacts::default(),
            budget: Budget::default(),
            boot_id: Some("0f1e2d3c-aaaa-bbbb-cccc-0123456789ab".into()),
            history_checked: false,
        }
    }

    fn cfg() -> Config {
        crate::decide::tests::cfg()
    }

    /// Issue 18: the time of `run`'s last BACKUP_TRACK_IPS check is written once set (a
    /// record without it stays byte for byte as it was), read back, and kept by a verdict.
    #[test]
    fn the_last_backup_track_ips_check_is_written_only_once_set_and_kept_by_the_verdicts() {
        let mut r = sample();
        r.backup.checked_s = Some(1234);
        let text = r.to_text();
        assert_eq!(text, format!("{WRITTEN_BEFORE}backup_checked_s=1234\n"));
        assert_eq!(Record::parse(&text), Ok(r.clone()));
        let mut check = r.backup.clone();
        check.judged(&BackupSeen::Answered, BackupNeed::ticks(), 1_700_000_500);
        assert_eq!((check.down, check.checked_s), (false, Some(1234)), "turned up, the time kept");
    }

    /// Found by the `state` fuzz target: a record with an outage's reason but no paths was
    /// written back with `outage_paths=tunnel`, a path it never saw.
    #[test]
    fn an_outage_reason_without_paths_is_written_back_without_them() {
        let text = format!("{WRITTEN_BEFORE}outage_reason=1796 routes\n");
        let r = Record::parse(&text).expect("parses");
        assert_eq!(r.to_text(), text);
        assert_eq!(Record::parse(&r.to_text()), Ok(r));
    }

    #[test]
    fn a_record_of_the_earlier_version_reads_the_same_and_is_written_back_the_same() {
        assert_eq!(Record::parse(WRITTEN_BEFORE), Ok(sample()));
        assert_eq!(sample().to_text(), WRITTEN_BEFORE);
        let never = "mode=normal\ndeactivating=0\ntarget=tunnel\nsince=0\nactivations=0\ndeactivations=0\nlast_switch_ms=0\nboot_id=none\nup_since_ms=none\nup_after_s=0\nfailback_at_s=none\nhandshake_mark=none\npeer_echoes=0\ntunnel_down=0\nrepairs_logged=0\nback_logged=0\nbackup_down=0\nbackup_since=0\nbackup_fails=0\nipv6_refused=0\n";
        assert_eq!(Record::default().to_text(), never);
        assert_eq!(Record::parse(never), Ok(Record::default()));
        // An older file lacks keys: they read as defaults; unknown keys are skipped.
        let old = Record::parse("mode=failsafe\nsince=5\nactivations=1\nfuture_key=x\n").expect("old format");
        assert_eq!((old.mode.failsafe, old.mode.since_unix_s, old.totals.activations), (true, 5, 1));
        assert_eq!(old.failback, FailbackClock::default());
        assert_eq!(Record::parse("mode=maybe\n"), Err("line 1: cannot read `mode=maybe`".into()));
        assert!(Record::parse("").is_err() && Record::parse("target=backup\n").is_err());
    }

    #[test]
    fn a_further_tunnel_in_use_is_one_more_line_and_the_first_none() {
        let mut r = sample();
        r.mode.tunnel = Some("wg1".into());
        let text = r.to_text();
        assert_eq!(text, format!("{WRITTEN_BEFORE}tunnel=wg1\n"));
        assert_eq!(Record::parse(&text), Ok(r));
        assert_eq!(Record::parse(&format!("{WRITTEN_BEFORE}tunnel=\n")), Err("line 21: cannot read `tunnel=`".into()));
        assert!(Record::parse(&format!("{WRITTEN_BEFORE}tunnel=../x\n")).is_err());
    }

    #[test]
    fn an_outages_bytes_are_lines_the_earlier_reader_skips() {
        let mut r = sample();
        let backup =
            |rx, tx, at_s| Some(Reading { of: Target::Backup, device: Some(3), counters: Bytes { rx, tx }, at_s });
        r.counters_read(backup(100, 50, 1));
        r.counters_read(backup(5_100, 350, 61));
        assert_eq!(r.traffic.backup, Bytes { rx: 5_000, tx: 300 });
        let text = r.to_text();
        // What the earlier version wrote comes first, unchanged; the rest is keys it does
        // not know, which its reader skips (`_ => {}`).
        let added = text.strip_prefix(WRITTEN_BEFORE).expect("the earlier lines first");
        assert_eq!(
            added,
            "tunnel_bytes=0 0\nbackup_bytes=5000 300\ncounter_base=backup 5100 350 61\ncounter_device=3\n"
        );
        let known = WRITTEN_BEFORE.lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k).collect::<Vec<_>>();
        assert!(added.lines().all(|l| !known.contains(&l.split_once('=').expect("key=value").0)));
        assert_eq!(Record::parse(&text), Ok(r.clone()));
        // A failback keeps the bytes for status and counts on no more; an activation
        // starts from nothing.
        r.deactivated(1_700_000_600, 2, 5_000, None);
        assert_eq!((r.traffic.backup, r.traffic.base), (Bytes { rx: 5_000, tx: 300 }, None));
        // Into the totals: the outage's 600 s (the earlier version's record has only its
        // wall-clock start, 1_700_000_000, within the boot's 5000 s) and its bytes.
        assert_eq!((r.totals.outage_s, r.totals.bytes), (600, Bytes { rx: 5_000, tx: 300 }));
        assert!(r.to_text().ends_with("\noutage_s_total=600\nbytes_total=5000 300\n"), "{}", r.to_text());
        assert_eq!(Record::parse(&r.to_text()), Ok(r.clone()));
        r.activation_judged(&cfg(), Target::Tunnel, None, None, 10);
        assert_eq!(r.traffic, Traffic::default());
        // The history's facts: why, and the paths used.
        r.outage_reason("primary eth0: no carrier\nreally");
        r.tunnel_judged(Target::Backup, false);
        assert_eq!((r.outage.reason.as_str(), r.outage.target()), ("primary eth0: no carrier really", "tunnel+backup"));
        assert!(r.to_text().ends_with("outage_reason=primary eth0: no carrier really\noutage_paths=tunnel+backup\n"));
        assert_eq!(Record::parse(&r.to_text()), Ok(r.clone()));
        // The budget's period survives outages (and is written only once there is one).
        let dec = Period { date: (2026, 12, 1), start_unix_s: 1_796_083_200 };
        r.budget = Budget { period: dec, used_bytes: 7, told_pct: 75, outage_bytes: 5 };
        assert!(r.to_text().ends_with("\nbudget=2026-12-01 1796083200 7 75\nbudget_outage=5\n"));
        assert_eq!(Record::parse(&r.to_text()), Ok(r.clone()));
        assert_eq!(Record::parse(&r.to_text()).map(|r| r.budget.period.start_unix_s), Ok(1_796_083_200));
        // A last line's `\r` without its `\n` (fuzz) is its end, not part of the value.
        let cr = Record::parse("mode=failsafe\noutage_reason=why\r").expect("read");
        assert_eq!((cr.outage.reason.as_str(), Record::parse(&cr.to_text())), ("why", Ok(cr.clone())));
        let cr = Record::parse("mode=failsafe\ntunnel=w\r1\r\r\r\n").expect("read");
        assert_eq!((cr.mode.tunnel.as_deref(), Record::parse(&cr.to_text())), (Some("w\r1"), Ok(cr.clone())));
        // A lone share (fuzz): no period, nothing to charge it to; read as written back.
        let lone = Record::parse("mode=failsafe\nbudget_outage=1\n").expect("read");
        assert_eq!((lone.budget.outage_bytes, Record::parse(&lone.to_text())), (0, Ok(lone.clone())));
        for bad in [
            "budget=1 2",
            "budget=1 2 300",
            "budget=400000000000000 0 0",
            "budget=2026-02-30 1 2 3",
            "budget=2026-12-01 1 2",
        ] {
            assert!(Record::parse(&format!("mode=normal\n{bad}\n")).is_err(), "{bad}");
        }
        // An earlier build's line (no date): the period that starts then, its bytes and
        // thresholds kept (the local date of that instant: 1 December in UTC).
        let old = Record::parse("mode=normal\nbudget=1796083200 7 75\n").expect("read");
        let offset = crate::log::utc_offset_s(1_796_083_200);
        assert_eq!(
            (old.budget.period.start_unix_s, old.budget.used_bytes, old.budget.told_pct),
            (1_796_083_200, 7, 75)
        );
        assert_eq!(old.budget.period.date, if offset >= 0 { (2026, 12, 1) } else { (2026, 11, 30) });
        r.activation_judged(&cfg(), Target::Backup, None, None, 20);
        assert_eq!(r.budget.used_bytes, 7);
        assert_eq!((r.outage.reason.as_str(), r.outage.target()), ("", "backup"));
        assert!(Record::parse("mode=normal\ntunnel_bytes=x\n").is_err());
    }

    /// What 7d123ce and b7525b1 rewrote (the mode line found by substring, the budget
    /// line split once, the lines split at `\n`) reads as before: checked against their
    /// parent (1b74d71) by a differential run over the same texts.
    #[test]
    fn the_mode_line_the_budget_words_and_crlf_read_as_before_the_size_cuts() {
        // A mode line anywhere, after `\n` or `\r\n`, last without its `\n`; never indented.
        assert!(Record::parse("x=1\r\nmode=normal").is_ok());
        assert!(Record::parse("mode=normal").is_ok());
        assert_eq!(Record::parse(" mode=normal\n"), Err("no mode line: not a record".into()));
        assert_eq!(Record::parse("x=1\rmode=normal\n"), Err("no mode line: not a record".into()));
        // The line numbers count blank lines and CRLF ends; the empty piece after the last `\n` is no line.
        assert_eq!(Record::parse("mode=normal\r\n\r\n \nx\r\n"), Err("line 4: cannot read `x`".into()));
        // The budget's words: exactly three numbers after a date, or three alone; one space each.
        for bad in [
            "2026-12-01",
            "2026-12-01 1796083200 5 10 4",
            "2026-12-01  1796083200 5 10",
            " 1796083200 5 10",
            "1796083200 5 10 ",
            "-5 1 2 3",
            "1796083200 5 101",
        ] {
            let e = Record::parse(&format!("mode=normal\nbudget={bad}\n"));
            assert_eq!(e, Err(format!("line 2: cannot read `budget={bad}`")), "{bad}");
        }
        let dated = Record::parse("mode=normal\nbudget=2026-12-01 1796083200 5 10\n").expect("read");
        assert_eq!((dated.budget.period.date, dated.budget.used_bytes, dated.budget.told_pct), ((2026, 12, 1), 5, 10));
    }

    /// An outage's length is boot time (DESIGN.md: times that span ticks are
    /// CLOCK_BOOTTIME): NTP setting the clock of a router without an RTC during the outage
    /// changes neither the totals nor the "since" status shows.
    #[test]
    fn an_outage_is_measured_in_boot_time_whatever_the_wall_clock_does() {
        let mut r = Record::default();
        assert_eq!((r.outage_so_far_s(1_700_000_000, 50), r.switched_unix_s(1_700_000_000_000, 50_000)), (0, 0));
        // Activated at boot time 20 with the clock at the firmware's date, 3 years behind.
        let (behind, now) = (1_600_000_000, 1_700_000_000);
        r.activated(behind, 20, 35);
        // 600 s later NTP has set the clock.
        assert_eq!(r.outage_so_far_s(now, 620), 600);
        assert_eq!(r.switched_unix_s(now * 1000, 620_000), now - 600, "the switch dated by the clock known now");
        // Two statuses 300 ms apart, the wall clock's second turning between them: alike.
        assert_eq!(r.switched_unix_s(now * 1000 + 800, 620_100), r.switched_unix_s(now * 1000 + 1_100, 620_400));
        // Stepped back 300 s: the length goes on growing.
        assert_eq!(r.outage_so_far_s(now - 300 + 10, 630), 610);
        let text = r.to_text();
        assert!(text.contains("\nsince=1600000000\nsince_boot_s=20\nactivations="), "{text}");
        assert_eq!(Record::parse(&text), Ok(r.clone()));
        r.deactivated(now + 10, 12, 640, None);
        assert_eq!((r.totals.outage_s, r.mode.since_unix_s, r.mode.since_boot_s), (620, now + 10, Some(640)));
        // A killed activation completed later starts the count then.
        let mut killed = Record::default();
        assert!(killed.activation_completed(now, 700, None));
        assert_eq!(killed.outage_so_far_s(now + 5, 760), 60);
    }

    /// A record of the earlier version, written during an outage, has no `since_boot_s`:
    /// the outage's length is then its wall-clock length, never more than the boot has
    /// lasted (a record of another boot is set aside), never negative; the record is
    /// written back as it was until the next switch.
    #[test]
    fn a_record_without_the_boot_time_of_its_switch_measures_by_the_wall_clock_within_the_boot() {
        let r = Record::parse(WRITTEN_BEFORE).expect("the earlier version's record");
        assert_eq!(r.mode.since_boot_s, None);
        assert_eq!(r.to_text(), WRITTEN_BEFORE);
        assert_eq!(r.outage_so_far_s(1_700_000_600, 5_000), 600);
        assert_eq!(r.outage_so_far_s(1_700_000_600, 90), 90, "bounded by the boot");
        assert_eq!(r.outage_so_far_s(1_600_000_000, 5_000), 0, "a clock behind the start");
        assert_eq!(r.switched_unix_s(1_700_000_600_000, 5_000_000), 1_700_000_000);
        assert!(Record::parse("mode=failsafe\nsince_boot_s=x\n").is_err());
        assert!(Record::parse("mode=failsafe\nsince_boot_s=none\n").is_err());
    }

    #[test]
    fn a_boot_id_is_what_the_kernel_writes_or_the_record_is_refused() {
        // Found by the state fuzzer: `\r` at the end of the file was kept in the id,
        // and lost when the record was written and read again.
        let r = Record::parse("mode=failsafe\nboot_id=0f1e2d3c-aaaa\n").expect("an id");
        assert_eq!(r.boot_id.as_deref(), Some("0f1e2d3c-aaaa"));
        assert_eq!(Record::parse(&r.to_text()), Ok(r));
        assert_eq!(Record::parse("mode=failsafe\nboot_id=none\n").map(|r| r.boot_id), Ok(None));
        // Since, a last line's `\r` is its end: the id is what comes before it.
        let cr = Record::parse("mode=failsafe\nboot_id=7c7c3\r").expect("an id");
        assert_eq!((cr.boot_id.as_deref(), Record::parse(&cr.to_text())), (Some("7c7c3"), Ok(cr.clone())));
        for bad in ["7c7c3\rx", "a b", "x", ""] {
            let text = format!("mode=failsafe\nboot_id={bad}");
            assert!(Record::parse(&text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn handshake_marks_need_nine_digits() {
        assert_eq!(parse_time("1700000000.000000005"), Some(Duration::new(1_700_000_000, 5)));
        assert_eq!(parse_time("1.5"), None);
        assert_eq!(parse_time("1.9999999999"), None);
    }

    #[test]
    fn an_activation_judged_keeps_its_mark_and_target_and_clears_the_last_ones_flags() {
        let c = cfg();
        let mut r = sample();
        r.mode.failsafe = false;
        let mark = Some(Duration::from_secs(7));
        // 4000 s was the last failback: 100 s later is within FLAP_WINDOW_S.
        r.activation_judged(&c, Target::Tunnel, mark, Some("bb".into()), 4_100);
        assert!(!r.mode.deactivating && r.mode.target == Target::Tunnel && !r.mode.failsafe);
        assert_eq!(r.failback.up_since_ms, None);
        assert_eq!(r.failback.up_after_s, (120_u64.max(c.up_after_s) * 2).min(c.up_after_max_s));
        assert_eq!((r.tunnel.handshake_mark, r.tunnel.down, r.tunnel.peer_echoes), (mark, false, true));
        assert_eq!(r.logged, LoggedOnce::default());
        assert_eq!(r.boot_id.as_deref(), Some("bb"));
        assert_eq!(r.damped_wait_s(&c), Some(r.failback.up_after_s));
        // After a calm window the wait is UP_AFTER_S again, and not "flapping".
        r.activation_judged(&c, Target::Backup, None, None, 4_000 + c.flap_window_s);
        assert_eq!((r.failback.up_after_s, r.damped_wait_s(&c)), (c.up_after_s, None));
        assert_eq!((r.mode.target, r.tunnel.handshake_mark), (Target::Backup, None));
    }

    #[test]
    fn activated_and_an_interrupted_activation_completed_count_once() {
        let mut r = Record::default();
        r.activated(1_700_000_000, 20, 35);
        assert!(r.mode.failsafe);
        assert_eq!((r.mode.since_unix_s, r.totals.activations, r.totals.last_switch_ms), (1_700_000_000, 1, 35));
        assert!(!r.activation_completed(1_700_000_100, 120, None), "already on: nothing to complete");
        assert_eq!((r.mode.since_unix_s, r.totals.activations), (1_700_000_000, 1));
        let mut killed = Record::default();
        assert!(killed.activation_completed(1_700_000_100, 120, Some("cc".into())));
        assert!(killed.mode.failsafe);
        assert_eq!((killed.totals.activations, killed.boot_id.as_deref()), (1, Some("cc")));
        assert_eq!(killed.totals.last_switch_ms, 0, "how long it took is unknown");
    }

    #[test]
    fn the_last_activations_proof_outlives_the_deactivation_and_round_trips() {
        let c = cfg();
        let mut r = Record::default();
        r.proof_seen(false);
        r.activation_judged(&c, Target::Tunnel, None, None, 10);
        r.activated(1_700_000_000, 20, 35);
        let handshake = Some(LastProof { at_unix_s: 1_700_000_000, by: ProvenBy::Handshake });
        assert_eq!(r.tunnel.last_proof, handshake);
        // An echo seen later in the outage is not the activation's proof.
        r.echo_seen(true);
        r.deactivated(1_700_000_500, 12, 900, None);
        r.deactivation_finished();
        assert_eq!(r.tunnel.last_proof, handshake);
        assert!(r.to_text().ends_with("\nproof_at=1700000000\nproof=handshake\n"), "{}", r.to_text());
        assert_eq!(Record::parse(&r.to_text()), Ok(r.clone()));
        // Proven by an echo; and falling back to the backup proves nothing.
        for (target, echoes, by, word) in
            [(Target::Tunnel, true, ProvenBy::Echo, "echo"), (Target::Backup, false, ProvenBy::Nothing, "none")]
        {
            let mut r = Record::default();
            r.proof_seen(echoes);
            r.activation_judged(&c, target, None, None, 10);
            assert!(r.activation_completed(5, 5, None));
            assert_eq!(r.tunnel.last_proof, Some(LastProof { at_unix_s: 5, by }));
            assert!(r.to_text().contains(&format!("proof={word}\n")));
            assert_eq!(Record::parse(&r.to_text()), Ok(r));
        }
        assert!(Record::parse("mode=normal\nproof_at=5\nproof=maybe\n").is_err());
    }

    #[test]
    fn a_deactivation_is_marked_from_its_start_to_its_end_or_until_given_up() {
        let mut r = sample();
        r.deactivation_given_up();
        assert!(!r.mode.deactivating);
        r.deactivation_begun();
        assert!(r.mode.deactivating);
        r.deactivated(1_700_000_500, 12, 9_000, Some("dd".into()));
        assert!(!r.mode.failsafe && r.mode.deactivating, "marked until the journal is gone");
        assert_eq!((r.mode.since_unix_s, r.totals.deactivations, r.totals.last_switch_ms), (1_700_000_500, 3, 12));
        assert_eq!(r.failback, FailbackClock { up_since_ms: None, up_after_s: 120, last_at_s: Some(9_000) });
        assert_eq!((r.boot_id.as_deref(), r.tunnel.down), (Some("dd"), false));
        r.deactivation_finished();
        assert!(!r.mode.deactivating);
    }

    #[test]
    fn the_tunnel_judged_says_what_changed_once() {
        let mut r = Record::default();
        let same = TunnelNews { switched_from: None, down: None };
        assert_eq!(r.tunnel_judged(Target::Tunnel, true), same);
        // FALLBACK=none: dead, and the tables stay on it.
        assert_eq!(r.tunnel_judged(Target::Tunnel, false), TunnelNews { switched_from: None, down: Some(true) });
        assert!(r.tunnel.down);
        assert_eq!(r.tunnel_judged(Target::Tunnel, false), same, "told once");
        // FALLBACK=backup: off the dead tunnel, which is then no longer "down on it".
        let news = r.tunnel_judged(Target::Backup, false);
        assert_eq!(news, TunnelNews { switched_from: Some(Target::Tunnel), down: Some(false) });
        assert_eq!((r.mode.target, r.tunnel.down), (Target::Backup, false));
        assert_eq!(r.tunnel_judged(Target::Backup, false), same);
        let news = r.tunnel_judged(Target::Tunnel, true);
        assert_eq!(news, TunnelNews { switched_from: Some(Target::Backup), down: None });
    }

    #[test]
    fn the_primary_passing_again_is_told_once_per_activation_and_a_failed_round_restarts_the_wait() {
        let mut r = Record::default();
        assert!(r.primary_passing(1_000, true));
        assert_eq!(r.failback.up_since_ms, Some(1_000));
        assert!(!r.primary_passing(1_000, false), "the same count goes on");
        r.primary_failed();
        assert_eq!(r.failback.up_since_ms, None);
        assert!(!r.primary_passing(5_000, true), "a lossy line's new count is no news");
        assert_eq!(r.failback.up_since_ms, Some(5_000));
        r.activation_judged(&cfg(), Target::Tunnel, None, None, 10);
        assert!(r.primary_passing(9_000, true), "a new activation tells it again");
    }

    #[test]
    fn reimpositions_and_ipv6_refusals_are_told_once() {
        let mut r = Record::default();
        assert!(r.reimposed());
        assert!(!r.reimposed());
        assert_eq!(r.ipv6_judged(false), None);
        assert_eq!(r.ipv6_judged(true), Some(true));
        assert_eq!(r.ipv6_judged(true), None);
        assert_eq!(r.ipv6_judged(false), Some(false), "moved after all");
        assert_eq!(r.ipv6_judged(false), None);
        r.activation_judged(&cfg(), Target::Tunnel, None, None, 1);
        assert!(r.reimposed(), "a new activation tells it again");
    }

    /// BACKUP_CHECK's one rule, as a table: verdicts in order (`+` answered, `-` silent,
    /// `x` no path), with the news each gives ('.' none, 'D' down, 'U' up), for both
    /// drivers' needs.
    #[test]
    fn the_backup_turns_after_need_verdicts_in_a_row_against_it() {
        let seen = |c: char| match c {
            '+' => BackupSeen::Answered,
            '-' => BackupSeen::Silent("gateway does not answer".into()),
            _ => BackupSeen::NoPath("eth1 no carrier".into()),
        };
        let mut c = cfg();
        (c.down_after_ms, c.probe_interval_ms) = (2000, 500);
        let (ticks, rounds) = (BackupNeed::ticks(), BackupNeed::rounds(&c));
        assert_eq!(rounds, BackupNeed { fails_to_down: 4, passes_to_up: 4 });
        let table: [(BackupNeed, &str, &str); 9] = [
            // run: the first verdict, passing, is no news; two failed ticks are down, one
            // passing tick up; a pass in between starts the count again.
            (ticks, "+-+--+", "....DU"),
            (ticks, "---+-", ".D.U."),
            // A first verdict that fails counts against "up".
            (ticks, "--", ".D"),
            // No path: down at once, whatever the need; back as an answer is.
            (ticks, "+x+", ".DU"),
            (rounds, "+x+++", ".D..."),
            // The daemon: four failed rounds down, four passing up; one lucky round in a
            // dead backup's silence is no news (the old daemon rule after a restart told
            // `backup-up` at the first passing round).
            (rounds, "+----", "....D"),
            (rounds, "+----+-+", "....D..."),
            (rounds, "+----++++", "....D...U"),
            (rounds, "+---+----", "........D"),
        ];
        for (need, verdicts, want) in table {
            let mut b = BackupCheck::default();
            let news: String = verdicts
                .chars()
                .enumerate()
                .map(|(i, v)| match b.judged(&seen(v), need, 100 + i as u64) {
                    BackupNews::Unchanged => '.',
                    BackupNews::Down => 'D',
                    BackupNews::Up => 'U',
                })
                .collect();
            assert_eq!(news, want, "{verdicts} with {need:?}");
        }
        // What is written: the standing verdict, since when, and the count against it.
        let mut r = Record::default();
        assert_eq!(r.backup.judged(&seen('+'), ticks, 100), BackupNews::Unchanged);
        assert_eq!(r.backup, BackupCheck { down: false, since_unix_s: 100, against: 0, checked_s: None });
        assert_eq!(r.backup.judged(&seen('-'), ticks, 110), BackupNews::Unchanged);
        assert_eq!(r.backup, BackupCheck { down: false, since_unix_s: 100, against: 1, checked_s: None });
        assert_eq!(r.backup.judged(&seen('-'), ticks, 120), BackupNews::Down);
        assert_eq!(r.backup, BackupCheck { down: true, since_unix_s: 120, against: 0, checked_s: None });
        // A wall clock at 0 still reads as "checked".
        let mut d = BackupCheck::default();
        assert_eq!(d.judged(&seen('x'), ticks, 0), BackupNews::Down);
        assert_eq!(d.since_unix_s, 1);
        assert_eq!(seen('-').why(), Some("gateway does not answer"));
        assert_eq!(seen('+').why(), None);
    }

    #[test]
    fn an_echo_makes_the_peer_one_that_echoes() {
        let mut r = Record::default();
        r.echo_seen(false);
        assert!(!r.tunnel.peer_echoes);
        r.echo_seen(true);
        r.echo_seen(false);
        assert!(r.tunnel.peer_echoes);
    }
}
