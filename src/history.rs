//! HISTORY_FILE: one line per outage, open from its activation (rewritten with its bytes
//! so far at each [`STEP_PCT`] of the budget) and completed at its failback — or, for an
//! outage a reboot cut short, by the first process of the next boot — and never
//! otherwise, so the history survives a reboot (the file may live under /config, on
//! flash) without a write per tick. It is also what BACKUP_BUDGET_MB's sum is rebuilt
//! from after a reboot. The file is bounded: a line that would take it past HISTORY_MAX_KB
//! makes the file be rewritten with its newest lines that fit (a temporary file, then a
//! rename, so a crash leaves the old file or the new one, never half of one). `status`
//! reads it back: the last outages, and the totals of the last 30 days.
//!
//! A line: `start=UNIX end=UNIX duration_s=N target=tunnel|backup|tunnel+backup rx=N tx=N
//! [budget_bytes=N] reason=…` — the reason last, as it may hold spaces; `budget_bytes`
//! (with BACKUP_BUDGET_MB) the part of the bytes counted in the period the outage ended
//! in. A line that cannot be read (a hand edit, a crash mid-append) is skipped.

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::budget::{self, Budget, Period};
use crate::config::Config;
use crate::os;
use crate::record::Record;
use crate::traffic::Bytes;

/// One outage, from its activation to its failback (wall clock, for humans).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    pub start_unix_s: u64,
    pub end_unix_s: u64,
    /// The paths the tables were on: `tunnel`, `backup` or `tunnel+backup`.
    pub target: String,
    /// Tunnel and backup together.
    pub bytes: Bytes,
    /// Why it began (the activation's reason), on one line.
    pub reason: String,
    /// The part of `bytes` BACKUP_BUDGET_MB counted in the period the outage ended in
    /// (`budget_bytes=`; `None`: not counted — no budget then, or a line of an earlier
    /// build — see [`Outage::charged`]).
    pub budget_bytes: Option<u64>,
}

impl Outage {
    pub fn duration_s(&self) -> u64 {
        self.end_unix_s.saturating_sub(self.start_unix_s)
    }

    /// Its line, newline included.
    pub fn line(&self) -> String {
        self.line_with(&self.duration_s())
    }

    /// Its line with `duration` as its `duration_s` (`-` in an open line: [`open_line`]).
    fn line_with(&self, duration: &dyn fmt::Display) -> String {
        let (start, end, target, bytes) = (self.start_unix_s, self.end_unix_s, &self.target, self.bytes);
        let mut line =
            format!("start={start} end={end} duration_s={duration} target={target} rx={} tx={}", bytes.rx, bytes.tx);
        if let Some(n) = self.budget_bytes {
            _ = write!(line, " budget_bytes={n}");
        }
        _ = writeln!(line, " reason={}", self.reason.replace(['\n', '\r'], " "));
        line
    }

    /// The bytes it charges to the budget's period it ended in (`day`: BACKUP_BUDGET_PERIOD's):
    /// its `budget_bytes`; without them, all of its bytes when it began in that period
    /// too, and none when it began in an earlier one (what of them fell in which period
    /// is not known: the new period is not charged the old one's bytes).
    pub fn charged(&self, day: u32, offset_at: &dyn Fn(u64) -> i64) -> u64 {
        let whole = self.bytes.rx.saturating_add(self.bytes.tx);
        self.budget_bytes.unwrap_or_else(|| {
            let same = budget::period_at(self.start_unix_s, day, offset_at)
                == budget::period_at(self.end_unix_s, day, offset_at);
            if same {
                whole
            } else {
                0
            }
        })
    }

    /// Reads what [`Outage::line`] writes (without its newline).
    pub fn parse(line: &str) -> Option<Outage> {
        let (fields, reason) = line.split_once(" reason=")?;
        let mut o = Outage {
            start_unix_s: 0,
            end_unix_s: 0,
            target: String::new(),
            bytes: Bytes::default(),
            reason: reason.to_string(),
            budget_bytes: None,
        };
        let mut seen = 0;
        for f in fields.split(' ') {
            let (k, v) = f.split_once('=')?;
            let n = v.parse::<u64>().ok();
            match k {
                "start" => o.start_unix_s = n?,
                "end" => o.end_unix_s = n?,
                "rx" => o.bytes.rx = n?,
                "tx" => o.bytes.tx = n?,
                "target" => o.target = v.to_string(),
                "duration_s" => _ = n?,
                "budget_bytes" if o.budget_bytes.is_none() => {
                    o.budget_bytes = Some(n?);
                    continue;
                }
                _ => return None,
            }
            seen += 1;
        }
        (seen == 6).then_some(o)
    }
}

/// An outage's line while it goes on: [`Outage::line`] with `duration_s=-`, which
/// [`Outage::parse`] (and an earlier build) skips, and its `end` the time the line was
/// written (the last moment the outage was known to go on). Written at its activation and
/// rewritten with its bytes so far at each [`STEP_PCT`] of the budget, it is completed at
/// its failback, or by the first run of the next boot when a power cut ended it.
pub fn open_line(o: &Outage) -> String {
    o.line_with(&"-")
}

/// An outage's line, complete (`false`) or open (`true`: see [`open_line`]).
pub fn parse_line(line: &str) -> Option<(Outage, bool)> {
    let open = line.split_once(" reason=")?.0.contains(" duration_s=- ");
    match open {
        false => Outage::parse(line).map(|o| (o, false)),
        true => Outage::parse(&line.replacen(" duration_s=- ", " duration_s=0 ", 1)).map(|o| (o, true)),
    }
}

/// The budget's steps (percent of BACKUP_BUDGET_MB used in the period, up to 100) at
/// which an outage's open line is rewritten with its bytes so far: what a power cut
/// leaves known of them (at most 10 writes a period).
pub const STEP_PCT: u64 = 10;

/// The reason of an outage a reboot cut short.
fn cut_reason(reason: &str) -> String {
    match reason.is_empty() || reason.ends_with("(cut short by a reboot)") {
        true if reason.is_empty() => "cut short by a reboot".to_string(),
        true => reason.to_string(),
        false => format!("{reason} (cut short by a reboot)"),
    }
}

/// The outage `r` records (in progress) as known at `now_unix_s`: from its activation's
/// wall clock (the key of its open line) to now, its bytes so far (and the budget's share
/// of them when `budgeted`: BACKUP_BUDGET_MB is set), the paths used, its reason.
pub fn so_far(r: &Record, now_unix_s: u64, budgeted: bool) -> Outage {
    let start_unix_s = r.mode.since_unix_s;
    Outage {
        start_unix_s,
        end_unix_s: now_unix_s.max(start_unix_s),
        target: r.outage.target().to_string(),
        bytes: r.traffic.total(),
        reason: r.outage.reason.clone(),
        budget_bytes: budget_share(r, budgeted),
    }
}

/// What HISTORY_FILE keeps of an outage a reboot cut short, from the record the new
/// boot set aside (`None` when no outage was in progress): its start, its end as the
/// last time a round knew it went on (`written_unix_s`, the record's last write; its
/// start when unknown), the bytes counted so far (see [`so_far`]), and its reason marked
/// as cut.
pub fn cut_by_reboot(r: &Record, written_unix_s: Option<u64>, budgeted: bool) -> Option<Outage> {
    let o = so_far(r, written_unix_s.unwrap_or(0), budgeted);
    r.mode.failsafe.then(|| Outage { reason: cut_reason(&o.reason), ..o })
}

/// The budget's share of the outage `r` records (see [`Outage::budget_bytes`]): known
/// when BACKUP_BUDGET_MB counts (`budgeted`) and the record holds a period.
pub fn budget_share(r: &Record, budgeted: bool) -> Option<u64> {
    (budgeted && r.budget.period.is_known()).then_some(r.budget.outage_bytes)
}

/// What the file must hold once `line` is added, when appending it is not enough: the
/// newest of `existing`'s whole lines that fit in `max_bytes` with `line`, then `line`.
/// `None`: append `line` as it is (it fits, and the file ends with a whole line).
pub fn bounded(existing: &str, line: &str, max_bytes: usize) -> Option<String> {
    let whole = existing.is_empty() || existing.ends_with('\n');
    if whole && existing.len() + line.len() <= max_bytes {
        return None;
    }
    // Only whole lines are kept: a crash's half line goes with the rewrite.
    let complete = match existing.rfind('\n') {
        Some(end) => &existing[..=end],
        None => "",
    };
    let room = max_bytes.saturating_sub(line.len());
    // Back from the end, line by line, while the lines kept still fit.
    let mut start = complete.len();
    while start > 0 {
        let previous = complete[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        if complete.len() - previous > room {
            break;
        }
        start = previous;
    }
    Some(format!("{}{line}", &complete[start..]))
}

/// The outages of the last `days` days before `now_unix_s` (by their end): how many,
/// their seconds, the longest, their bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub outages: u64,
    pub seconds: u64,
    pub longest_s: u64,
    pub bytes: Bytes,
}

impl Summary {
    pub fn of(outages: &[Outage], now_unix_s: u64, days: u64) -> Summary {
        let since = now_unix_s.saturating_sub(days * 86_400);
        let mut s = Summary::default();
        for o in outages.iter().filter(|o| o.end_unix_s >= since) {
            s.outages += 1;
            s.seconds += o.duration_s();
            s.longest_s = s.longest_s.max(o.duration_s());
            s.bytes = s.bytes.plus(o.bytes);
        }
        s
    }

    pub fn to_json(&self) -> String {
        format!(
            "{{\"outages\":{},\"seconds\":{},\"longest_s\":{},\"rx\":{},\"tx\":{}}}",
            self.outages, self.seconds, self.longest_s, self.bytes.rx, self.bytes.tx
        )
    }
}

/// The outages `text` holds, oldest first; unreadable lines skipped.
pub fn parse_all(text: &str) -> Vec<Outage> {
    text.lines().filter_map(Outage::parse).collect()
}

/// The directory and the file name of HISTORY_FILE.
fn parts(path: &Path) -> io::Result<(std::os::fd::OwnedFd, String)> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| io::Error::other("no file name"))?;
    let dir = os::open_dir(path.parent().unwrap_or(Path::new("/")))?;
    Ok((dir, name.to_string()))
}

/// The end of HISTORY_FILE, at most `limit` bytes of it from a line's start (a missing
/// file is empty). Only a regular file is read.
pub fn read_tail(path: &Path, limit: u64) -> io::Result<String> {
    let (dir, name) = parts(path)?;
    let mut f = match os::open_at(&dir, &name, libc::O_RDONLY | libc::O_NONBLOCK, 0) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let skip = meta.len().saturating_sub(limit);
    f.seek(SeekFrom::Start(skip))?;
    let mut bytes = Vec::new();
    f.take(limit).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // A cut line at the front is no line.
    Ok(match (skip > 0, text.find('\n')) {
        (true, Some(i)) => text[i + 1..].to_string(),
        _ => text,
    })
}

/// A file root may append to: a regular file of its own with one link (a hard link
/// planted in a directory others can write to would have it append elsewhere).
fn ours(f: &File) -> io::Result<()> {
    match crate::trust::appendable(&f.metadata()?) {
        true => Ok(()),
        false => Err(io::Error::other("not a regular file of ours with a single link: left alone")),
    }
}

/// Appends `o` to HISTORY_FILE, or rewrites it (temporary file, fsync, rename) with the
/// newest lines that fit in `max_kb` KiB when the line would take it past that.
pub fn append(path: &Path, max_kb: u64, o: &Outage) -> io::Result<()> {
    edit(path, max_kb, &|text| Some((text.to_string(), o.line())))
}

/// Puts `line` (an outage's, open or complete) in HISTORY_FILE in place of the open line
/// of the outage that began at `start_unix_s`, or at its end when there is none. Nothing
/// is written when a complete line of that start is already there (a retry adds it once).
pub fn put(path: &Path, max_kb: u64, start_unix_s: u64, line: &str) -> io::Result<()> {
    edit(path, max_kb, &|text| {
        let mut kept = String::with_capacity(text.len());
        for l in text.split_inclusive('\n') {
            match parse_line(l.trim_end()) {
                Some((o, true)) if o.start_unix_s == start_unix_s => continue,
                Some((o, false)) if o.start_unix_s == start_unix_s => return None,
                _ => kept.push_str(l),
            }
        }
        Some((kept, line.to_string()))
    })
}

/// The first run of a boot: every open line left in HISTORY_FILE (an outage a power cut
/// ended) is completed — ended when the line was last written (its activation, or its
/// last budget step: the last moment it was known to go on), its reason marked as cut
/// short — except the one of `cut`'s start, replaced by `cut` (what the previous boot's
/// record knew, when STATE_DIR survived the reboot), which is added when it has no line.
pub fn sweep(path: &Path, max_kb: u64, cut: Option<&Outage>) -> io::Result<()> {
    edit(path, max_kb, &|text| {
        let (mut kept, mut changed, mut cut_seen) = (String::with_capacity(text.len()), false, false);
        let of_cut = |o: &Outage| cut.filter(|c| c.start_unix_s == o.start_unix_s);
        for l in text.split_inclusive('\n') {
            match parse_line(l.trim_end()) {
                Some((o, true)) => {
                    changed = true;
                    cut_seen |= of_cut(&o).is_some();
                    let end_unix_s = o.end_unix_s.max(o.start_unix_s);
                    let done = of_cut(&o).cloned().unwrap_or(Outage { end_unix_s, reason: cut_reason(&o.reason), ..o });
                    kept.push_str(&done.line());
                    continue;
                }
                Some((o, false)) => cut_seen |= of_cut(&o).is_some(),
                None => {}
            }
            kept.push_str(l);
        }
        let line = cut.filter(|_| !cut_seen).map(Outage::line).unwrap_or_default();
        (changed || !line.is_empty()).then_some((kept, line))
    })
}

/// HISTORY_FILE changed by `change`, given its text (its end, at most twice the bound):
/// `None` leaves it as it is; `Some((kept, line))`
/// makes it `kept` then `line` — appended when `kept` is the text unchanged and the line
/// fits, else rewritten (temporary file, fsync, rename) with the newest lines that fit.
/// `change` is `dyn`: one copy of this for its three callers.
fn edit(path: &Path, max_kb: u64, change: &dyn Fn(&str) -> Option<(String, String)>) -> io::Result<()> {
    let max_bytes = usize::try_from(max_kb.saturating_mul(1024)).unwrap_or(usize::MAX);
    let existing = read_tail(path, (max_bytes as u64).saturating_mul(2))?;
    let Some((kept, line)) = change(&existing) else { return Ok(()) };
    let (dir, name) = parts(path)?;
    let rewrite = match (kept == existing, bounded(&kept, &line, max_bytes)) {
        (true, None) => None,
        (_, Some(text)) => Some(text),
        (false, None) => Some(format!("{kept}{line}")),
    };
    match rewrite {
        None => {
            let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT;
            let mut f = os::open_at(&dir, &name, flags, 0o644)?;
            ours(&f)?;
            f.write_all(line.as_bytes())?;
            f.sync_all()
        }
        Some(text) => {
            if text == existing {
                return Ok(());
            }
            crate::state::replace_at(&dir, &name, &text, 0o644)
        }
    }
}

/// The bytes `outages` charged to `period` (BACKUP_BUDGET_PERIOD from `day`): an outage
/// is charged to the period of its end's local date, by the offset in force then
/// (`offset_at`, see `budget::period_at`), what [`Outage::charged`] says.
pub fn bytes_in(outages: &[Outage], period: Period, day: u32, offset_at: &dyn Fn(u64) -> i64) -> u64 {
    let ended_in = |o: &&Outage| budget::period_at(o.end_unix_s, day, offset_at) == period;
    outages.iter().filter(ended_in).fold(0u64, |sum, o| sum.saturating_add(o.charged(day, offset_at)))
}

/// BACKUP_BUDGET_MB's budget at `now_unix_s`: `kept` (the record's) when it counts the
/// period `now_unix_s` is in, else rebuilt from HISTORY_FILE — the outages that ended in
/// that period, their bytes in it — with 75 and 90 % those bytes crossed taken as told,
/// 100 % announced at the next count (see `Budget::rebuilt`; a reboot, which
/// sets the RAM record aside, or another period). Without HISTORY_FILE (or when it
/// cannot be read) the rebuilt period starts from nothing: the budget counts since boot.
pub fn budget_at(c: &Config, kept: Budget, now_unix_s: u64) -> Budget {
    let budget_bytes = c.backup_budget_mb.unwrap_or(0).saturating_mul(1_000_000);
    let period = budget::period_at(now_unix_s, c.budget_day, &crate::log::utc_offset_s);
    if kept.period == period {
        return kept;
    }
    let Some(path) = &c.history_file else { return Budget::rebuilt(period, 0, budget_bytes) };
    let text = read_tail(path, c.history_max_kb.saturating_mul(2048)).unwrap_or_default();
    let used = bytes_in(&parse_all(&text), period, c.budget_day, &crate::log::utc_offset_s);
    Budget::rebuilt(period, used, budget_bytes)
}

/// How many of the last outages `status` lists.
pub const SHOWN: usize = 5;

/// What `status` shows of HISTORY_FILE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// The last outages ([`SHOWN`] at most), oldest first.
    pub last: Vec<Outage>,
    pub days30: Summary,
    /// Why the file could not be read (then nothing else is known).
    pub error: Option<String>,
}

impl Shown {
    /// HISTORY_FILE read (its end, at most twice HISTORY_MAX_KB) at `now_unix_s`.
    pub fn read(path: &Path, max_kb: u64, now_unix_s: u64) -> Shown {
        match read_tail(path, max_kb.saturating_mul(2048)) {
            Ok(text) => {
                let mut last = parse_all(&text);
                let days30 = Summary::of(&last, now_unix_s, 30);
                last.drain(..last.len().saturating_sub(SHOWN));
                Shown { last, days30, error: None }
            }
            Err(e) => Shown { last: Vec::new(), days30: Summary::default(), error: Some(e.to_string()) },
        }
    }

    /// `status`'s lines: the totals of the last 30 days, then the last outages.
    pub fn text(&self) -> String {
        if let Some(e) = &self.error {
            return format!("history:  cannot be read: {e}\n");
        }
        let d = &self.days30;
        let mut s = format!(
            "history:  {} outage(s) in the last 30 days, {} s in all (longest {} s), {}\n",
            d.outages, d.seconds, d.longest_s, d.bytes
        );
        for o in &self.last {
            let _ = writeln!(
                s,
                "  {} for {} s ({}, {}): {}",
                crate::log::stamp_of(o.start_unix_s),
                o.duration_s(),
                o.target,
                o.bytes,
                o.reason
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage(start: u64, secs: u64, rx: u64) -> Outage {
        Outage {
            start_unix_s: start,
            end_unix_s: start + secs,
            target: "tunnel".into(),
            bytes: Bytes { rx, tx: rx / 10 },
            reason: "primary eth0: no carrier".into(),
            budget_bytes: None,
        }
    }

    #[test]
    fn a_line_reads_back_and_a_broken_one_is_skipped() {
        let o = outage(1_796_083_200, 600, 5_242_880);
        let line = o.line();
        assert_eq!(
            line,
            "start=1796083200 end=1796083800 duration_s=600 target=tunnel rx=5242880 tx=524288 reason=primary eth0: no carrier\n"
        );
        assert_eq!(Outage::parse(line.trim_end()), Some(o.clone()));
        let two_lines = Outage { reason: "a\nb".into(), ..o.clone() };
        assert!(two_lines.line().ends_with("reason=a b\n"), "one line whatever the reason");
        for bad in ["", "start=1 end=2", "start=x end=2 duration_s=1 target=t rx=1 tx=1 reason=r", "what reason=x"] {
            assert_eq!(Outage::parse(bad), None, "{bad}");
        }
        assert_eq!(parse_all(&format!("junk\n{line}start=1 end=\n")), [o]);
    }

    #[test]
    fn a_line_that_fits_is_appended_and_one_that_does_not_drops_the_oldest_lines() {
        let line = |n: u64| outage(1_000 * n, 10, n).line();
        let three: String = (1..=3).map(line).collect();
        let l4 = line(4);
        // Room for all: a plain append.
        assert_eq!(bounded(&three, &l4, three.len() + l4.len()), None);
        assert_eq!(bounded("", &l4, l4.len()), None);
        // One byte short: the oldest line goes, the newest three stay, in order.
        let text = bounded(&three, &l4, three.len() + l4.len() - 1).expect("rewrite");
        assert_eq!(text, format!("{}{}{l4}", line(2), line(3)));
        // Room for the new line alone: only it.
        assert_eq!(bounded(&three, &l4, l4.len()), Some(l4.clone()));
        // Less room than the new line itself: still the new line (HISTORY_MAX_KB ≥ 1 KiB
        // makes this a corner).
        assert_eq!(bounded(&three, &l4, 10), Some(l4.clone()));
        // A half line left by a crash mid-append is dropped by a rewrite, even with room.
        let torn = format!("{three}start=9");
        assert_eq!(bounded(&torn, &l4, 1 << 20), Some(format!("{three}{l4}")));
        // The result is always within the bound when the new line fits in it.
        for max in l4.len()..three.len() + l4.len() + 2 {
            if let Some(t) = bounded(&three, &l4, max) {
                assert!(t.len() <= max && t.ends_with(&l4) && three.ends_with(&t[..t.len() - l4.len()]), "{max}");
            }
        }
    }

    /// The budget's period holds the outages that ended in it, by the local date of
    /// their end (here UTC+1: 23:30 UTC on 30 November is already December).
    #[test]
    fn a_period_holds_the_outages_that_ended_in_it() {
        let dec1 = 1_796_083_200;
        let plus_one = |_: u64| 3_600;
        let dec = budget::period_at(dec1 + 86_400, 1, &plus_one);
        let all = [
            outage(dec1 - 7_200, 60, 1_000),       // ends 22:01 UTC 30 Nov: 23:01 local, November
            outage(dec1 - 3_600, 1_800, 20_000),   // ends 23:30 UTC 30 Nov: 00:30 local, December
            outage(dec1 + 86_400, 600, 300_000),   // December
            outage(dec1 + 40 * 86_400, 10, 4_000), // January
        ];
        // rx and rx / 10 as tx.
        assert_eq!(bytes_in(&all, dec, 1, &plus_one), 22_000 + 330_000);
        assert_eq!(bytes_in(&[], dec, 1, &plus_one), 0);
        // An outage from November into December: its line's budget_bytes (what December
        // counted of it), or, in a line without them, nothing of it.
        let across = Outage { budget_bytes: Some(50), ..outage(dec1 - 86_400, 2 * 86_400, 9_000) };
        assert_eq!(bytes_in(std::slice::from_ref(&across), dec, 1, &plus_one), 50);
        let old = Outage { budget_bytes: None, ..across.clone() };
        assert_eq!(bytes_in(&[old], dec, 1, &plus_one), 0);
        let line = across.line();
        assert!(line.contains(" tx=900 budget_bytes=50 reason="), "{line}");
        assert_eq!(Outage::parse(line.trim_end()), Some(across));
        assert_eq!(Outage::parse(&line.replace(" reason", " budget_bytes=1 reason")), None, "twice");
    }

    /// What an outage a reboot cut short leaves in the history: only an outage in
    /// progress, ended at the record's last write (never before its start).
    #[test]
    fn an_outage_cut_by_a_reboot_is_a_line_of_what_the_record_knew() {
        let mut r = Record::default();
        assert_eq!(cut_by_reboot(&r, Some(5), true), None, "no outage in progress");
        r.mode.failsafe = true;
        r.mode.since_unix_s = 1_000;
        r.outage.reason = "primary eth0: no carrier".into();
        let o = cut_by_reboot(&r, Some(1_600), true).expect("cut");
        assert_eq!((o.start_unix_s, o.end_unix_s, o.target.as_str()), (1_000, 1_600, "tunnel"));
        assert_eq!(o.reason, "primary eth0: no carrier (cut short by a reboot)");
        assert_eq!(cut_by_reboot(&r, Some(10), true).map(|o| o.end_unix_s), Some(1_000), "a clock stepped back");
        assert_eq!(cut_by_reboot(&r, None, true).map(|o| o.duration_s()), Some(0));
    }

    #[test]
    fn the_last_30_days_count_by_the_outages_end() {
        let day = 86_400;
        let now = 100 * day;
        let all = [outage(now - 40 * day, 50, 1), outage(now - 30 * day - 60, 100, 2), outage(now - day, 30, 4)];
        let s = Summary::of(&all, now, 30);
        assert_eq!(s, Summary { outages: 2, seconds: 130, longest_s: 100, bytes: Bytes { rx: 6, tx: 0 } });
        assert_eq!(s.to_json(), "{\"outages\":2,\"seconds\":130,\"longest_s\":100,\"rx\":6,\"tx\":0}");
        assert_eq!(Summary::of(&[], now, 30), Summary::default());
    }

    #[test]
    fn the_file_is_appended_to_and_rewritten_when_full() {
        let dir = std::env::temp_dir().join(format!("wgfs-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("history");
        let _ = std::fs::remove_file(&path);
        assert_eq!(read_tail(&path, 1024).expect("missing is empty"), "");
        let one = outage(1_000, 10, 1);
        let n = 1024 / one.line().len() as u64 + 3;
        for i in 0..n {
            append(&path, 1, &outage(1_000 + i, 10, i)).expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let kept = parse_all(&text);
        assert!(text.len() <= 1024 && kept.len() < n as usize, "{} bytes, {} lines", text.len(), kept.len());
        assert_eq!(kept.last().map(|o| o.bytes.rx), Some(n - 1), "the newest line last");
        assert_eq!(kept.first().map(|o| o.bytes.rx), Some(n - kept.len() as u64), "the oldest dropped");
        assert!(!dir.join(".history.tmp").exists());
        // The tail read starts at a whole line.
        let tail = read_tail(&path, 200).expect("tail");
        assert!(!tail.is_empty() && Outage::parse(tail.lines().next().expect("a line")).is_some(), "{tail}");
        // What status shows of it: the last five, the 30 days' totals.
        let shown = Shown::read(&path, 1, 1_000 + n + 10);
        assert_eq!(shown.last.len(), SHOWN);
        assert_eq!(shown.days30.outages, kept.len() as u64);
        assert_eq!(shown.last.last(), kept.last());
        assert!(shown.text().starts_with(&format!("history:  {} outage(s) in the last 30 days, ", kept.len())));
        assert!(Shown::read(&dir, 1, 0).error.is_some(), "a directory is no history");
        // A second link to the file: nothing appended through it.
        std::fs::hard_link(&path, dir.join("elsewhere")).expect("link");
        let before = std::fs::read_to_string(&path).expect("read");
        let small = Outage { reason: "x".into(), ..outage(1, 1, 1) };
        assert!(append(&path, 64, &small).is_err(), "appended through a second link");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), before);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An outage's open line: skipped by `parse_all` (and an earlier build), replaced by
    /// the failback's line, and completed by the next boot's sweep when a power cut ended
    /// it — at the line's last write, marked cut — or replaced by what the record knew.
    #[test]
    fn open_lines_are_completed_at_failback_or_by_the_next_boot() {
        let dir = std::env::temp_dir().join(format!("wgfs-history-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("history");
        let _ = std::fs::remove_file(&path);
        let done = outage(1_000, 100, 7);
        let going = Outage { budget_bytes: Some(3), ..outage(2_000, 60, 5) };
        let open = open_line(&going);
        assert!(open.starts_with("start=2000 end=2060 duration_s=- target=tunnel rx=5 "), "{open}");
        assert_eq!(open, going.line().replacen(" duration_s=60 ", " duration_s=- ", 1), "the line but its duration");
        assert_eq!(parse_line(open.trim_end()), Some((going.clone(), true)));
        assert_eq!(parse_all(&open), []);
        // Failback: the open line replaced, once.
        append(&path, 64, &done).expect("append");
        put(&path, 64, 2_000, &open).expect("open");
        put(&path, 64, 2_000, &going.line()).expect("failback");
        put(&path, 64, 2_000, &going.line()).expect("again");
        let read = || std::fs::read_to_string(&path).expect("read");
        assert_eq!(read(), format!("{}{}", done.line(), going.line()));
        // A power cut: the open line completed at its last write, the record's outage
        // (STATE_DIR survived) in place of its own, the complete lines as they were.
        let cut = outage(3_000, 10, 1);
        let record_knew = Outage { reason: "r (cut short by a reboot)".into(), ..outage(4_000, 90, 9) };
        put(&path, 64, 3_000, &open_line(&cut)).expect("open");
        put(&path, 64, 4_000, &open_line(&outage(4_000, 5, 0))).expect("open");
        sweep(&path, 64, Some(&record_knew)).expect("sweep");
        let all = parse_all(&read());
        let swept = Outage { reason: "primary eth0: no carrier (cut short by a reboot)".into(), ..cut };
        assert_eq!(all, [done.clone(), going.clone(), swept.clone(), record_knew.clone()]);
        // Again: nothing to do (a retry writes each outage once).
        let text = read();
        sweep(&path, 64, Some(&record_knew)).expect("sweep");
        assert_eq!(read(), text);
        // The record's outage without an open line (an earlier build's): added.
        let older = Outage { reason: "cut short by a reboot".into(), ..outage(5_000, 1, 1) };
        sweep(&path, 64, Some(&older)).expect("sweep");
        assert_eq!(parse_all(&read()).last(), Some(&older));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
