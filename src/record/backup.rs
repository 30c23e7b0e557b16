//! BACKUP_CHECK's part of the record: the standing verdict on the backup path with its
//! hysteresis, the one rule both drivers judge by ([`BackupCheck::judged`]), what one
//! verdict saw, how many verdicts turn it, and what a turn has to tell.

use crate::config::Config;
use crate::health::rounds_needed;

/// BACKUP_CHECK's standing verdict on the backup path, with its hysteresis (the one rule,
/// [`BackupCheck::judged`], for `run` and the daemon).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupCheck {
    /// The backup path failed its last judgement.
    pub down: bool,
    /// Since when (wall clock) the backup is up or down; 0 before the first check.
    pub since_unix_s: u64,
    /// Verdicts in a row against the standing one: failed ones while it is up (or not
    /// judged yet), passing ones while it is down. In the unit of the driver that counted
    /// them (see [`BackupNeed`]). Written as `backup_fails`, its first meaning: a record of
    /// an earlier version (always 0 while down) reads the same.
    pub against: u64,
    /// Boot time (s) of `run`'s last BACKUP_TRACK_IPS check (issue 18: they are probed
    /// every BACKUP_CHECK_INTERVAL_S, not every tick). Written only once set, so a record
    /// without it is written back as it was.
    pub checked_s: Option<u64>,
}

/// What one BACKUP_CHECK verdict saw of the backup path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupSeen {
    /// Its gateway answered out of BACKUP_DEV.
    Answered,
    /// Its gateway did not answer (why, for the log).
    Silent(String),
    /// Nothing to probe: BACKUP_DEV missing, down or without carrier, or no gateway
    /// known. Down at once, as a primary without carrier is: no lossy line explains it.
    NoPath(String),
}

impl BackupSeen {
    /// What is wrong, for `backup-down`'s reason (`None`: it answered).
    pub fn why(&self) -> Option<&str> {
        match self {
            BackupSeen::Answered => None,
            BackupSeen::Silent(why) | BackupSeen::NoPath(why) => Some(why),
        }
    }
}

/// How many verdicts in a row against the standing one turn it, in the unit of the driver
/// that gives them. The two drivers' verdicts are not the same size, and this is how they
/// map: a tick of `run` is PROBE_COUNT echoes a cron interval apart from the next, a
/// daemon's round one echo PROBE_INTERVAL_MS apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupNeed {
    pub fails_to_down: u64,
    pub passes_to_up: u64,
}

impl BackupNeed {
    /// `run`, one verdict a tick: two failed ticks in a row are a dead backup (a lossy LTE
    /// line loses a whole tick now and then); one passing tick is a live one — a second
    /// would leave `status` and the hook wrong for another cron interval.
    pub fn ticks() -> BackupNeed {
        BackupNeed { fails_to_down: 2, passes_to_up: 1 }
    }

    /// The daemon, one verdict a closed probe round: DOWN_AFTER_MS of failed rounds,
    /// counted in rounds (⌈DOWN_AFTER_MS / PROBE_INTERVAL_MS⌉, as the tunnel's track
    /// counts them), to go down, and as many passing in a row to come back: a backup that
    /// answers one echo in five is not announced up and down every few seconds.
    pub fn rounds(cfg: &Config) -> BackupNeed {
        let n = u64::from(rounds_needed(cfg.down_after_ms, cfg.probe_interval_ms));
        BackupNeed { fails_to_down: n, passes_to_up: n }
    }
}

impl BackupCheck {
    /// BACKUP_CHECK's rule, for `run` and the daemon: a verdict (`seen`, made while the
    /// primary is healthy and the failsafe off) at `now_unix_s`. The standing verdict turns
    /// after `need` verdicts in a row against it — at once when there is no path to probe —
    /// and a verdict that agrees with it starts the count again. The very first verdict,
    /// passing, is the standing one and no news; failing, it is counted as against "up".
    pub fn judged(&mut self, seen: &BackupSeen, need: BackupNeed, now_unix_s: u64) -> BackupNews {
        let failed = *seen != BackupSeen::Answered;
        let first = self.since_unix_s == 0;
        if first && !failed {
            *self = BackupCheck { down: false, since_unix_s: now_unix_s.max(1), against: 0, ..*self };
            return BackupNews::Unchanged;
        }
        if !first && failed == self.down {
            self.against = 0;
            return BackupNews::Unchanged;
        }
        self.against = self.against.saturating_add(1);
        let needed = match seen {
            BackupSeen::NoPath(_) => 1,
            BackupSeen::Silent(_) => need.fails_to_down,
            BackupSeen::Answered => need.passes_to_up,
        };
        if self.against < needed.max(1) {
            return BackupNews::Unchanged;
        }
        *self = BackupCheck { down: failed, since_unix_s: now_unix_s.max(1), against: 0, ..*self };
        if failed {
            BackupNews::Down
        } else {
            BackupNews::Up
        }
    }
}

/// What a BACKUP_CHECK verdict changed, for the round to announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupNews {
    /// Nothing to tell (the same as before, within the hysteresis, or the first verdict
    /// and a passing one).
    Unchanged,
    Down,
    Up,
}
