//! The record's text: `key=value` lines, the format every earlier version wrote and read.

use std::fmt::{self, Write as _};
use std::time::Duration;

use super::*;

impl Record {
    /// The record's text; `proof_at`/`proof` only once an activation recorded them, so a
    /// record of an earlier version is written back as it was.
    pub fn to_text(&self) -> String {
        let mut text = String::with_capacity(768);
        self.write_fields(&mut text);
        if let Some(p) = self.tunnel.last_proof {
            _ = write!(text, "proof_at={}\nproof={}\n", p.at_unix_s, p.by.word());
        }
        if let Some(s) = self.backup.checked_s {
            _ = writeln!(text, "backup_checked_s={s}");
        }
        if let Some(t) = &self.mode.tunnel {
            _ = writeln!(text, "tunnel={t}");
        }
        self.others.write_lines(&mut text);
        text
    }

    fn write_fields(&self, text: &mut String) {
        let (m, f, t, l, b, n) = (&self.mode, &self.failback, &self.tunnel, &self.logged, &self.backup, &self.totals);
        _ = write!(
            text,
            "mode={}\ndeactivating={}\ntarget={}\nsince={}\n",
            if m.failsafe { "failsafe" } else { "normal" },
            u8::from(m.deactivating),
            m.target,
            m.since_unix_s,
        );
        // Only once a switch recorded it: a record of an earlier version is written back as it was.
        if let Some(s) = m.since_boot_s {
            _ = writeln!(text, "since_boot_s={s}");
        }
        _ = write!(
            text,
            "activations={}\ndeactivations={}\nlast_switch_ms={}\nboot_id={}\nup_since_ms={}\nup_after_s={}\nfailback_at_s={}\nhandshake_mark={}\npeer_echoes={}\ntunnel_down={}\nrepairs_logged={}\nback_logged={}\nbackup_down={}\nbackup_since={}\nbackup_fails={}\nipv6_refused={}\n",
            n.activations,
            n.deactivations,
            n.last_switch_ms,
            self.boot_id.as_deref().unwrap_or("none"),
            OrNone(f.up_since_ms),
            f.up_after_s,
            OrNone(f.last_at_s),
            OrNone(t.handshake_mark.map(Mark)),
            u8::from(t.peer_echoes),
            u8::from(t.down),
            u8::from(l.repairs),
            u8::from(l.back),
            u8::from(b.down),
            b.since_unix_s,
            b.against,
            u8::from(l.ipv6_refused),
        );
        self.traffic.write_lines(text);
        self.totals.write_lines(text);
        self.outage.write_lines(text);
        let b = &self.budget;
        // Only a counted period is written (an unknown one is rebuilt at the next count).
        if b.period.is_known() {
            // The outage's share on a line of its own: an earlier build skips it.
            _ = write!(
                text,
                "budget={} {} {} {}\nbudget_outage={}\n",
                b.period.date_text(),
                b.period.start_unix_s,
                b.used_bytes,
                b.told_pct,
                b.outage_bytes
            );
        }
        if self.history_checked {
            text.push_str("history_checked=1\n");
        }
    }

    /// Parses what `to_text` writes. Keys it does not know are skipped (a newer
    /// version's file); a value it cannot read, or a file without its mode (empty, or
    /// not a record), is an error.
    pub fn parse(text: &str) -> Result<Record, String> {
        let mut r = Record::default();
        let mut proof = (None, None);
        if !text.starts_with("mode=") && !text.contains("\nmode=") {
            return Err("no mode line: not a record".into());
        }
        // A line's end is `\n` or `\r\n`, and `\r`s before it (or at the end of a last line
        // without its `\n`) too: a value never ends in one (`to_text` ends every line with
        // `\n` alone, so what ends in `\r` would not read back the same).
        for (i, line) in text.split('\n').enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            if line.split_once('=').and_then(|(k, v)| r.read_line(k, v, &mut proof)).is_none() {
                return Err(format!("line {}: cannot read `{line}`", i + 1));
            }
        }
        r.tunnel.last_proof = match proof {
            (Some(at_unix_s), Some(by)) => Some(LastProof { at_unix_s, by }),
            _ => None,
        };
        // The outage's share belongs to a counted period: without one (a lone
        // `budget_outage` line, never written so) it is nothing, as `to_text` writes it.
        if !r.budget.period.is_known() {
            r.budget.outage_bytes = 0;
        }
        Ok(r)
    }

    /// Reads one line (`k=v`) of [`Record::parse`]; `None` when its value cannot be read.
    /// `proof`: the `proof_at` and `proof` lines, which make one fact together.
    fn read_line(&mut self, k: &str, v: &str, proof: &mut (Option<u64>, Option<ProvenBy>)) -> Option<()> {
        match k {
            "mode" => {
                self.mode.failsafe = match v {
                    "failsafe" => true,
                    "normal" => false,
                    _ => return None,
                }
            }
            "deactivating" => self.mode.deactivating = flag(v)?,
            "target" => self.mode.target = v.parse().ok()?,
            "since" => self.mode.since_unix_s = num(v)?,
            "since_boot_s" => self.mode.since_boot_s = Some(num(v)?),
            "activations" => self.totals.activations = num(v)?,
            "deactivations" => self.totals.deactivations = num(v)?,
            "last_switch_ms" => self.totals.last_switch_ms = num(v)?,
            // As boot_id() reads it: hex digits and dashes (a `\r` would not
            // survive the next write and read).
            "boot_id" if v == "none" => self.boot_id = None,
            "boot_id" if is_boot_id(v) => self.boot_id = Some(v.to_string()),
            "boot_id" => return None,
            "up_since_ms" => self.failback.up_since_ms = opt_num(v)?,
            "up_after_s" => self.failback.up_after_s = num(v)?,
            "failback_at_s" => self.failback.last_at_s = opt_num(v)?,
            "handshake_mark" if v == "none" => self.tunnel.handshake_mark = None,
            "handshake_mark" => self.tunnel.handshake_mark = Some(parse_time(v)?),
            "peer_echoes" => self.tunnel.peer_echoes = flag(v)?,
            "tunnel_down" => self.tunnel.down = flag(v)?,
            "repairs_logged" => self.logged.repairs = flag(v)?,
            "back_logged" => self.logged.back = flag(v)?,
            "backup_down" => self.backup.down = flag(v)?,
            "backup_since" => self.backup.since_unix_s = num(v)?,
            "backup_fails" => self.backup.against = num(v)?,
            "backup_checked_s" => self.backup.checked_s = Some(num(v)?),
            "ipv6_refused" => self.logged.ipv6_refused = flag(v)?,
            "tunnel" if !v.is_empty() && v.len() <= 15 && !v.contains(['/', ' ']) => {
                self.mode.tunnel = Some(v.to_string())
            }
            "tunnel" => return None,
            "others_probed_ms" | "others_passing" => return self.others.parse(k, v).then_some(()),
            "proof_at" => proof.0 = Some(num(v)?),
            "proof" => {
                let by = [ProvenBy::Echo, ProvenBy::Handshake, ProvenBy::Nothing].into_iter().find(|b| b.word() == v);
                proof.1 = Some(by?);
            }
            "outage_s_total" => self.totals.outage_s = num(v)?,
            "outage_reason" => self.outage_reason(v),
            "budget" => self.budget = Budget { outage_bytes: self.budget.outage_bytes, ..parse_budget(v)? },
            "budget_outage" => self.budget.outage_bytes = num(v)?,
            "history_checked" => self.history_checked = flag(v)?,
            "outage_paths" => {
                (self.outage.tunnel, self.outage.backup) = match v {
                    "tunnel" => (true, false),
                    "backup" => (false, true),
                    "tunnel+backup" => (true, true),
                    _ => return None,
                }
            }
            "bytes_total" => {
                let (rx, tx) = v.split_once(' ')?;
                self.totals.bytes = Bytes { rx: num(rx)?, tx: num(tx)? };
            }
            _ => _ = self.traffic.read(k, v).ok()?,
        }
        Some(())
    }
}

/// A record's number.
fn num(v: &str) -> Option<u64> {
    v.parse().ok()
}

/// A number or `none`.
fn opt_num(v: &str) -> Option<Option<u64>> {
    match v {
        "none" => Some(None),
        _ => num(v).map(Some),
    }
}

/// `0` or `1`.
fn flag(v: &str) -> Option<bool> {
    match v {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// `budget=DATE START USED TOLD`: the period's local date and start (Unix seconds), its
/// bytes, the highest threshold told. The form without the date (`START USED TOLD`, of
/// an earlier build) is the period starting at START (its local date then), with its
/// bytes and thresholds: an upgrade mid-period keeps them (and an exclusion at 100 %).
fn parse_budget(v: &str) -> Option<Budget> {
    let (date, numbers) = match v.split_once(' ') {
        Some((date, rest)) if date.contains('-') => (Some(date), rest),
        _ => (None, v),
    };
    let mut n = numbers.split(' ').map(num);
    let (start, used_bytes, told) = (n.next()??, n.next()??, n.next()??);
    if n.next().is_some() {
        return None;
    }
    let told_pct = u8::try_from(told).ok().filter(|t| *t <= 100)?;
    match date {
        Some(d) => Some(Budget { period: Period::parse(d, start)?, used_bytes, told_pct, outage_bytes: 0 }),
        None => {
            let period = Period::starting_at(start, &crate::log::utc_offset_s);
            // A date the dated line could not carry (past year 9999) is no period.
            Period::parse(&period.date_text(), period.start_unix_s)?;
            Some(Budget { period, used_bytes, told_pct, outage_bytes: 0 })
        }
    }
}

/// A value, or `none` when there is none.
struct OrNone<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for OrNone<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("none"),
        }
    }
}

/// A handshake mark: `SECONDS.NANOSECONDS` (nine digits), as [`parse_time`] reads it.
struct Mark(Duration);

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.0.as_secs(), self.0.subsec_nanos())
    }
}

/// `SECONDS.NANOSECONDS` (nine digits).
pub(super) fn parse_time(v: &str) -> Option<Duration> {
    let (s, n) = v.split_once('.')?;
    let nanos: u32 = n.parse().ok().filter(|n| *n < 1_000_000_000 && v.len() - s.len() == 10)?;
    Some(Duration::new(s.parse().ok()?, nanos))
}
