//! BACKUP_BUDGET_MB: the bytes the outages move over the backup (tunnel and direct
//! together, as counted by `traffic`) summed over a billing period — a month starting on
//! the day BACKUP_BUDGET_PERIOD names, at local midnight — with a `budget` event the
//! first time the sum reaches 75 %, 90 % and 100 % of the budget in a period. Nothing is
//! cut: the owner decides, through ON_CHANGE.
//!
//! A period is known by its local calendar date (the day it starts), never by Unix
//! seconds: when daylight saving time ends, the same period's start moves an hour in
//! Unix seconds but not in the calendar, and the sum goes on. Any other period — a later
//! one, or an earlier one that a clock stepped back lands in (a router without an RTC
//! before NTP) — is counted afresh, honestly: its sum is the one the caller rebuilds
//! for it (from HISTORY_FILE, see [`Budget::rebuilt`]), the thresholds it already
//! crossed not told again.
//!
//! Pure: the wall time and the local clock's offset come in as arguments.

#![forbid(unsafe_code)]

/// A billing period: the local date it starts on, and that local midnight in Unix
/// seconds (for humans: status, the `budget` event). Two periods are the same when their
/// dates are; the default (year 0) is no period yet.
#[derive(Clone, Copy, Debug, Default)]
pub struct Period {
    /// The local date of its first day: year, month (1 to 12), day.
    pub date: (i64, u32, u32),
    /// Its first local midnight, Unix seconds, with the UTC offset it was computed with.
    pub start_unix_s: u64,
}

impl PartialEq for Period {
    fn eq(&self, other: &Period) -> bool {
        self.date == other.date
    }
}

impl Eq for Period {}

impl Period {
    /// Whether a period is known (the record of a budget never counted has none).
    pub fn is_known(&self) -> bool {
        self.date.0 != 0
    }

    /// `YYYY-MM-DD`, as the record keeps it.
    pub fn date_text(&self) -> String {
        let (y, m, d) = self.date;
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// The period that starts at `start_unix_s` (a local midnight): its date is that
    /// instant's local date, by the offset then (`offset_at`, see [`period_at`]). For a
    /// record an earlier build wrote, which kept only the start.
    pub fn starting_at(start_unix_s: u64, offset_at: &dyn Fn(u64) -> i64) -> Period {
        let local = i64::try_from(start_unix_s).unwrap_or(i64::MAX).saturating_add(offset_at(start_unix_s));
        Period { date: civil_from_days(local.div_euclid(86_400)), start_unix_s }
    }

    /// Reads [`Period::date_text`]'s words and a start in Unix seconds.
    pub fn parse(date: &str, start_unix_s: u64) -> Option<Period> {
        let mut parts = date.splitn(3, '-').map(str::parse::<u32>);
        let (y, m, d) = (parts.next()?.ok()?, parts.next()?.ok()?, parts.next()?.ok()?);
        let valid = (1..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(i64::from(y), m);
        valid.then_some(Period { date: (i64::from(y), m, d), start_unix_s })
    }
}

/// What is known of the budget's current period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// The period counted (none yet: not known).
    pub period: Period,
    /// Bytes over the backup during it.
    pub used_bytes: u64,
    /// The highest of 75, 90, 100 told this period (0: none).
    pub told_pct: u8,
    /// The part of `used_bytes` the outage in progress (or the last one) moved in this
    /// period: what its HISTORY_FILE line charges to the period it ends in, so that an
    /// outage across a period's start is not charged whole to the new period after a
    /// reboot. Set to 0 at each activation and at each new period.
    pub outage_bytes: u64,
}

/// The thresholds told, in order.
pub const THRESHOLDS_PCT: [u8; 3] = [75, 90, 100];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)) as u32
}

/// 9999-12-31 23:59:59 UTC, the last second a period's date can be written with.
const LAST_UNIX_S: u64 = 253_402_300_799;

/// The monthly period holding `now_unix_s`: it starts at local midnight (`offset_s` east
/// of UTC, now's) of the month's `day`, or of its last day when it is shorter (a period
/// "from the 31st" starts on 30 April, 28 or 29 February).
pub fn period_start(now_unix_s: u64, day: u32, offset_s: i64) -> Period {
    // A time past the year 9999 (a hand-edited HISTORY_FILE line) counts as its end, so
    // that the sums below cannot overflow.
    let local = now_unix_s.min(LAST_UNIX_S) as i64 + offset_s;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let start_in = |y: i64, m: u32| days_from_civil(y, m, day.min(days_in_month(y, m)));
    let days = match d >= day.min(days_in_month(y, m)) {
        true => start_in(y, m),
        false if m == 1 => start_in(y - 1, 12),
        false => start_in(y, m - 1),
    };
    Period { date: civil_from_days(days), start_unix_s: u64::try_from(days * 86_400 - offset_s).unwrap_or(0) }
}

/// [`period_start`] with the local clock's offset at any instant (`offset_at`, seconds
/// east of UTC: `log::utc_offset_s`): the period's date by now's offset, its start by
/// the offset in force at that midnight (October's period from the 1st starts at 22:00
/// UTC in Berlin, also when asked in November).
pub fn period_at(now_unix_s: u64, day: u32, offset_at: &dyn Fn(u64) -> i64) -> Period {
    let p = period_start(now_unix_s, day, offset_at(now_unix_s));
    let (y, m, d) = p.date;
    let midnight_utc = days_from_civil(y, m, d) * 86_400;
    let then = offset_at(p.start_unix_s);
    Period { start_unix_s: u64::try_from(midnight_utc - then).unwrap_or(0), ..p }
}

impl Budget {
    /// The budget of `period` rebuilt after its record was lost (a reboot) or when the
    /// period changes: `used_bytes` already moved in it (HISTORY_FILE's outages, their
    /// bytes in it), and the 75 and 90 % those bytes already crossed taken as told — a
    /// reboot never tells them a second time. 100 % is never taken as told: it is what
    /// BACKUP_BUDGET_ACTION=exclude acts on, so the next count (the next outage's
    /// first round) announces it with a `budget` event before anything is refused.
    pub fn rebuilt(period: Period, used_bytes: u64, budget_bytes: u64) -> Budget {
        let mut b = Budget { period, used_bytes, told_pct: 0, outage_bytes: 0 };
        let pct = b.used_pct(budget_bytes);
        b.told_pct = THRESHOLDS_PCT.into_iter().filter(|t| u64::from(*t) <= pct && *t < 100).max().unwrap_or(0);
        b
    }

    /// `bytes` more moved over the backup in `period` (see [`period_start`]) against a
    /// budget of `budget_bytes`: the thresholds reached for the first time this period,
    /// in order. Another period than the one counted (later, or earlier: the clock
    /// stepped back) starts from nothing; the caller rebuilds it first when it can.
    pub fn counted(&mut self, bytes: u64, period: Period, budget_bytes: u64) -> Vec<u8> {
        if period != self.period {
            *self = Budget { period, used_bytes: 0, told_pct: 0, outage_bytes: 0 };
        }
        self.used_bytes = self.used_bytes.saturating_add(bytes);
        self.outage_bytes = self.outage_bytes.saturating_add(bytes);
        let pct = self.percent(budget_bytes);
        let reached: Vec<u8> =
            THRESHOLDS_PCT.into_iter().filter(|t| u128::from(*t) <= pct && *t > self.told_pct).collect();
        if let Some(top) = reached.last() {
            self.told_pct = *top;
        }
        reached
    }

    /// The share of the budget used, in percent (may pass 100).
    pub fn used_pct(&self, budget_bytes: u64) -> u64 {
        self.percent(budget_bytes) as u64
    }

    /// The share in percent, exact (128 bits: no byte count overflows it). Kept out of
    /// line: 128-bit arithmetic is long code on a 32-bit router, written once.
    #[inline(never)]
    fn percent(&self, budget_bytes: u64) -> u128 {
        u128::from(self.used_bytes) * 100 / u128::from(budget_bytes.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC date at midnight.
    fn at(y: i64, m: u32, d: u32) -> u64 {
        (days_from_civil(y, m, d) * 86_400) as u64
    }

    /// A hand-edited HISTORY_FILE line may carry any u64 as its start or end: a time past
    /// the year 9999 is that year's end, never an overflow (a panic in a debug build, a
    /// wrapped nonsense period in a release one).
    #[test]
    fn a_time_past_the_year_9999_is_its_last_period() {
        let berlin = |_| 3600;
        for now in [LAST_UNIX_S, LAST_UNIX_S + 1, u64::MAX / 2, u64::MAX] {
            assert_eq!(period_start(now, 1, -3600).date, (9999, 12, 1), "{now}");
            assert_eq!(period_at(now, 31, &berlin).date, (9999, 12, 31), "{now}");
            // An undated record line's start: a date no line can carry, which the record
            // then refuses (record.rs).
            assert!(Period::starting_at(now, &berlin).date.0 > 9999, "{now}");
        }
        let line = format!("start={} end={} duration_s=5 target=backup rx=7 tx=0 reason=r", u64::MAX - 5, u64::MAX);
        let o = crate::history::Outage::parse(&line).expect("a line of HISTORY_FILE");
        assert_eq!(crate::history::bytes_in(&[o], period_at(u64::MAX, 1, &berlin), 1, &berlin), 7);
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(at(2026, 12, 1), 1_796_083_200);
        for days in [-1, 0, 59, 365, 11_016, 20_000, 20_513] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!((days_in_month(2024, 2), days_in_month(2026, 2), days_in_month(2026, 4)), (29, 28, 30));
    }

    /// The period of a UTC date: its date, and its start at UTC midnight.
    fn utc(y: i64, m: u32, d: u32) -> Period {
        Period { date: (y, m, d), start_unix_s: at(y, m, d) }
    }

    /// `period_start`'s date and start.
    fn both(p: Period) -> ((i64, u32, u32), u64) {
        (p.date, p.start_unix_s)
    }

    /// An earlier build's record kept the period's start only: its date is the local
    /// date of that midnight, the one `period_at` gives (UTC+1 here: 23:00 UTC).
    #[test]
    fn a_period_is_known_again_from_its_start() {
        let plus_one = |_: u64| 3_600;
        let dec = period_at(at(2026, 12, 5), 1, &plus_one);
        assert_eq!(Period::starting_at(dec.start_unix_s, &plus_one), dec);
        assert_eq!(Period::starting_at(dec.start_unix_s, &plus_one).date, (2026, 12, 1));
        assert_eq!(Period::starting_at(at(2026, 12, 1), &|_| 0).date, (2026, 12, 1));
    }

    #[test]
    fn a_period_starts_on_its_day_or_the_months_last() {
        let is = |p: Period, (y, m, d): (i64, u32, u32)| assert_eq!(both(p), both(utc(y, m, d)));
        // From the 1st: 5 December 2026 is in the period of 1 December.
        is(period_start(at(2026, 12, 5) + 3_600, 1, 0), (2026, 12, 1));
        // From the 15th: the 5th is still in the period that began on 15 November.
        is(period_start(at(2026, 12, 5), 15, 0), (2026, 11, 15));
        // January's period from the 15th began in December of the year before.
        is(period_start(at(2027, 1, 3), 15, 0), (2026, 12, 15));
        // From the 31st: 30 April, 28 February (29 in a leap year).
        is(period_start(at(2026, 4, 30) + 10, 31, 0), (2026, 4, 30));
        is(period_start(at(2026, 3, 1), 31, 0), (2026, 2, 28));
        is(period_start(at(2024, 2, 29), 31, 0), (2024, 2, 29));
        is(period_start(at(2026, 5, 31) + 5, 31, 0), (2026, 5, 31));
        // Local midnight: at UTC+2, 23:00 UTC on 30 November is already 1 December.
        assert_eq!(both(period_start(at(2026, 12, 1) - 3_600, 1, 7_200)), ((2026, 12, 1), at(2026, 12, 1) - 7_200));
        assert_eq!(both(period_start(at(2026, 12, 1) - 3_600, 1, -18_000)), ((2026, 11, 1), at(2026, 11, 1) + 18_000));
    }

    /// The period's start by the offset in force at its own midnight: Berlin's October
    /// period from the 1st starts at 22:00 UTC on 30 September (CEST), also when asked
    /// in November (CET). The date is the same either way.
    #[test]
    fn a_period_starts_at_its_own_midnights_offset() {
        // CEST until 2026-10-25 01:00 UTC, CET after.
        let berlin = |t: u64| if (1_774_746_000..1_792_890_000).contains(&t) { 7_200 } else { 3_600 };
        let oct26 = at(2026, 10, 26) + 43_200;
        let p = period_at(oct26, 1, &berlin);
        assert_eq!(both(p), ((2026, 10, 1), at(2026, 10, 1) - 7_200));
        assert_eq!(p, period_at(at(2026, 10, 10), 1, &berlin));
        assert_eq!(both(period_at(at(2026, 11, 20), 1, &berlin)), ((2026, 11, 1), at(2026, 11, 1) - 3_600));
    }

    #[test]
    fn a_period_date_reads_back() {
        let p = utc(2026, 2, 28);
        assert_eq!(p.date_text(), "2026-02-28");
        assert_eq!(Period::parse("2026-02-28", 5).map(both), Some(((2026, 2, 28), 5)));
        for bad in ["2026-02-29", "2026-13-01", "2026-00-01", "0-01-01", "2026-1", "x-1-1", "2026-01-01-2"] {
            assert_eq!(Period::parse(bad, 0), None, "{bad}");
        }
        assert!(!Period::default().is_known() && p.is_known());
    }

    /// BACKUP_BUDGET_PERIOD at a DST change: Europe/Berlin (+2 h in October until the
    /// last Sunday, +1 h after), a period from the 1st. The same October period must go
    /// on when CET begins, its start an hour later in Unix seconds.
    #[test]
    fn dst_end_does_not_reset_the_budget_mid_period() {
        let mb = 1_000_000;
        // 2026-10-10 12:00 UTC (CEST, +7200) and 2026-10-26 12:00 UTC (CET, +3600).
        let oct10 = 1_791_633_600;
        let oct26 = oct10 + 16 * 86_400;
        let before = period_start(oct10, 1, 7_200);
        let after = period_start(oct26, 1, 3_600);
        let mut b = Budget::default();
        assert_eq!(b.counted(8 * mb, before, 10 * mb), [75]);
        let told = b.counted(mb, after, 10 * mb);
        assert_eq!(
            (b.used_bytes, told),
            (9 * mb, vec![90]),
            "the same October period (start {before:?} vs {after:?}): the sum must go on"
        );
    }

    #[test]
    fn the_thresholds_are_told_once_each_in_order_and_another_period_starts_afresh() {
        let mb = 1_000_000;
        let dec = utc(2026, 12, 1);
        let mut b = Budget::default();
        assert_eq!(b.counted(70 * mb / 100, dec, mb), Vec::<u8>::new());
        assert_eq!(b.counted(6 * mb / 100, dec, mb), [75]);
        assert_eq!(b.counted(mb / 100, dec, mb), Vec::<u8>::new(), "told once");
        // Past two at once: both, in order.
        assert_eq!(b.counted(30 * mb / 100, dec, mb), [90, 100]);
        assert_eq!(b.counted(mb, dec, mb), Vec::<u8>::new());
        assert_eq!(b.used_pct(mb), 207);
        // The clock stepped back into November: November's own count, from nothing here
        // (the caller rebuilds it from HISTORY_FILE first).
        assert_eq!(b.counted(80 * mb / 100, utc(2026, 11, 1), mb), [75]);
        assert_eq!((b.period.date, b.used_bytes, b.told_pct), ((2026, 11, 1), 80 * mb / 100, 75));
        // January: a new period.
        assert_eq!(b.counted(80 * mb / 100, utc(2027, 1, 1), mb), [75]);
        assert_eq!(
            b,
            Budget { period: utc(2027, 1, 1), used_bytes: 80 * mb / 100, told_pct: 75, outage_bytes: 80 * mb / 100 }
        );
    }

    /// A budget rebuilt (a reboot, a new period) takes the thresholds its bytes already
    /// crossed as told: none of them is told again.
    #[test]
    fn a_rebuilt_budget_tells_no_threshold_already_crossed() {
        let mb = 1_000_000;
        let dec = utc(2026, 12, 1);
        assert_eq!(Budget::rebuilt(dec, 74 * mb / 100, mb).told_pct, 0);
        let mut b = Budget::rebuilt(dec, 92 * mb / 100, mb);
        assert_eq!((b.used_bytes, b.told_pct), (92 * mb / 100, 90));
        assert_eq!(b.counted(mb / 100, dec, mb), Vec::<u8>::new());
        assert_eq!(b.counted(7 * mb / 100, dec, mb), [100]);
        // 100 % is not taken as told: the next count announces it, even of nothing.
        let mut over = Budget::rebuilt(dec, 3 * mb, mb);
        assert_eq!(over.told_pct, 90);
        assert_eq!(over.counted(0, dec, mb), [100]);
        assert_eq!(over.counted(0, dec, mb), Vec::<u8>::new());
    }
}
