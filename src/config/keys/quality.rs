//! The quality keys (issue 18) and BACKUP_TRACK_IPS, read and checked across keys: a
//! part of the `KEY=VALUE` reader (its `Fields`), kept apart so that the reader stays a
//! size one reads in a sitting.

use super::*;

impl Fields<'_> {
    /// The quality keys: each UP limit needs its DOWN limit and must be no
    /// looser (hysteresis: a line passes during the failback wait only when it is at
    /// least as good as what would not fail it); an empty UP limit is its DOWN limit.
    pub(super) fn quality(&self) -> Quality {
        let loss_down_pct = self.read("LOSS_DOWN_PCT", None, loss_pct);
        let latency_down_ms = self.read("LATENCY_DOWN_MS", None, latency_ms);
        let loss_up_pct = self.read("LOSS_UP_PCT", None, loss_pct);
        let latency_up_ms = self.read("LATENCY_UP_MS", None, latency_ms);
        let window_s = self.number("QUALITY_WINDOW_S", 10, 1, 3600);
        // Over a placeholder (a limit's own error kept) the error kept first is reported.
        let stricter = |up: &str, down: &str, up_v: Option<u64>, down_v: Option<u64>| match (up_v, down_v) {
            (Some(_), None) => self.fail(up, format!("is set but {down} is not (the UP limit is the stricter one)")),
            (Some(u), Some(d)) if u > d => {
                self.fail(up, format!("is {u}, looser than {down} ({d}): it must be {d} or less (hysteresis)"))
            }
            _ => {}
        };
        stricter("LOSS_UP_PCT", "LOSS_DOWN_PCT", loss_up_pct.map(u64::from), loss_down_pct.map(u64::from));
        stricter("LATENCY_UP_MS", "LATENCY_DOWN_MS", latency_up_ms, latency_down_ms);
        Quality {
            loss_down_pct,
            latency_down_ms,
            loss_up_pct: loss_up_pct.or(loss_down_pct),
            latency_up_ms: latency_up_ms.or(latency_down_ms),
            window_s,
        }
    }

    /// The checks across keys: a reply later than PROBE_TIMEOUT_MS is a lost echo, so a
    /// latency limit at or above it could never be exceeded; BACKUP_TRACK_IPS are
    /// BACKUP_CHECK's.
    pub(super) fn check_quality(&self, c: &Config) -> Result<(), ConfigError> {
        if let Some(limit) = c.quality.latency_down_ms.filter(|l| *l >= c.probe_timeout_ms) {
            return Err(self.error(
                "LATENCY_DOWN_MS",
                format!(
                    "is {limit} but PROBE_TIMEOUT_MS is {} ms: a later reply is a lost echo, so the limit must be below it",
                    c.probe_timeout_ms
                ),
            ));
        }
        if !c.backup_track_ips.is_empty() && !c.backup_check {
            return Err(self.error("BACKUP_TRACK_IPS", "is set but BACKUP_CHECK is not on".into()));
        }
        Ok(())
    }
}

/// LOSS_*_PCT: a loss limit, 0 to 99 %.
fn loss_pct(v: &str) -> Result<Option<u32>, String> {
    in_range(v, 0, 99).map(|n| Some(n as u32))
}

/// LATENCY_*_MS: a latency limit, 1 ms to a minute.
fn latency_ms(v: &str) -> Result<Option<u64>, String> {
    in_range(v, 1, 60_000).map(Some)
}
