//! BACKUP_BUDGET_MB: the bytes the outages move over the backup (tunnel and direct
//! together, as counted by `traffic`) summed over a billing period — a month starting on
//! the day BACKUP_BUDGET_PERIOD names, at local midnight — with a `budget` event the
//! first time the sum reaches 75 %, 90 % and 100 % of the budget in a period. Nothing is
//! cut: the owner decides, through ON_CHANGE.
//!
//! Pure: the wall time and the local clock's offset come in as arguments. A clock that
//! steps back into an earlier period (a router without an RTC before NTP) never resets
//! the sum: only a later period starts a new one.

#![forbid(unsafe_code)]

/// What is known of the budget's current period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// When the period counted began (wall clock, Unix seconds; 0: none yet).
    pub period_start_unix_s: u64,
    /// Bytes over the backup during it.
    pub used_bytes: u64,
    /// The highest of 75, 90, 100 told this period (0: none).
    pub told_pct: u8,
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

/// The start (Unix seconds) of the monthly period holding `now_unix_s`: local midnight
/// (`offset_s` east of UTC) of the month's `day`, or of its last day when it is shorter
/// (a period "from the 31st" starts on 30 April, 28 or 29 February).
pub fn period_start(now_unix_s: u64, day: u32, offset_s: i64) -> u64 {
    let local = now_unix_s as i64 + offset_s;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let start_in = |y: i64, m: u32| days_from_civil(y, m, day.min(days_in_month(y, m)));
    let days = match d >= day.min(days_in_month(y, m)) {
        true => start_in(y, m),
        false if m == 1 => start_in(y - 1, 12),
        false => start_in(y, m - 1),
    };
    u64::try_from(days * 86_400 - offset_s).unwrap_or(0)
}

impl Budget {
    /// `bytes` more moved over the backup in the period starting at `period_start`
    /// (see [`period_start`]) against a budget of `budget_bytes`: the thresholds reached
    /// for the first time this period, in order.
    pub fn counted(&mut self, bytes: u64, period_start: u64, budget_bytes: u64) -> Vec<u8> {
        // A later period starts afresh; an earlier one (the clock stepped back) is not one.
        if period_start > self.period_start_unix_s {
            *self = Budget { period_start_unix_s: period_start, used_bytes: 0, told_pct: 0 };
        }
        self.used_bytes = self.used_bytes.saturating_add(bytes);
        let pct = u128::from(self.used_bytes) * 100 / u128::from(budget_bytes.max(1));
        let reached: Vec<u8> =
            THRESHOLDS_PCT.into_iter().filter(|t| u128::from(*t) <= pct && *t > self.told_pct).collect();
        if let Some(top) = reached.last() {
            self.told_pct = *top;
        }
        reached
    }

    /// The share of the budget used, in percent (may pass 100).
    pub fn used_pct(&self, budget_bytes: u64) -> u64 {
        (u128::from(self.used_bytes) * 100 / u128::from(budget_bytes.max(1))) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC date at midnight.
    fn at(y: i64, m: u32, d: u32) -> u64 {
        (days_from_civil(y, m, d) * 86_400) as u64
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

    #[test]
    fn a_period_starts_on_its_day_or_the_months_last() {
        // From the 1st: 5 December 2026 is in the period of 1 December.
        assert_eq!(period_start(at(2026, 12, 5) + 3_600, 1, 0), at(2026, 12, 1));
        // From the 15th: the 5th is still in the period that began on 15 November.
        assert_eq!(period_start(at(2026, 12, 5), 15, 0), at(2026, 11, 15));
        // January's period from the 15th began in December of the year before.
        assert_eq!(period_start(at(2027, 1, 3), 15, 0), at(2026, 12, 15));
        // From the 31st: 30 April, 28 February (29 in a leap year).
        assert_eq!(period_start(at(2026, 4, 30) + 10, 31, 0), at(2026, 4, 30));
        assert_eq!(period_start(at(2026, 3, 1), 31, 0), at(2026, 2, 28));
        assert_eq!(period_start(at(2024, 2, 29), 31, 0), at(2024, 2, 29));
        assert_eq!(period_start(at(2026, 5, 31) + 5, 31, 0), at(2026, 5, 31));
        // Local midnight: at UTC+2, 23:00 UTC on 30 November is already 1 December.
        assert_eq!(period_start(at(2026, 12, 1) - 3_600, 1, 7_200), at(2026, 12, 1) - 7_200);
        assert_eq!(period_start(at(2026, 12, 1) - 3_600, 1, -18_000), at(2026, 11, 1) + 18_000);
    }

    #[test]
    fn the_thresholds_are_told_once_each_in_order_and_a_new_period_starts_afresh() {
        let mb = 1_000_000;
        let start = at(2026, 12, 1);
        let mut b = Budget::default();
        assert_eq!(b.counted(70 * mb / 100, start, mb), Vec::<u8>::new());
        assert_eq!(b.counted(6 * mb / 100, start, mb), [75]);
        assert_eq!(b.counted(mb / 100, start, mb), Vec::<u8>::new(), "told once");
        // Past two at once: both, in order.
        assert_eq!(b.counted(30 * mb / 100, start, mb), [90, 100]);
        assert_eq!(b.counted(mb, start, mb), Vec::<u8>::new());
        assert_eq!(b.used_pct(mb), 207);
        // The clock stepped back into November: the same period, nothing reset.
        assert_eq!(b.counted(1, at(2026, 11, 1), mb), Vec::<u8>::new());
        assert_eq!((b.period_start_unix_s, b.told_pct), (start, 100));
        // January: a new period.
        assert_eq!(b.counted(80 * mb / 100, at(2027, 1, 1), mb), [75]);
        assert_eq!(b, Budget { period_start_unix_s: at(2027, 1, 1), used_bytes: 80 * mb / 100, told_pct: 75 });
    }
}
