//! What an outage cost in bytes: from activation to failback, what went over the tunnel
//! (the VPS peer's WireGuard counters) and what went straight out of the backup (its
//! device's link counters, while FALLBACK has the tables on it), counted from one reading
//! of the counters to the next.
//!
//! Counters are read only while the failsafe is on (a healthy tick reads none). They start
//! again at 0 when what carries them is made again: a device re-created (a PPPoE session,
//! an LTE modem's re-enumeration, WG_IFACE deleted and added) has another interface index,
//! which each reading keeps; a peer the tool renews (removed and added back) is known to
//! the tool, which says so ([`Traffic::restarted`]). Either way the counters count from 0:
//! what they read next is what passed since they started again, however far past the old
//! reading that is. The kernel and the UAPI expose nothing else that tells a re-created
//! peer from the same one (no peer id; its handshake time is a time, not a generation), so
//! a peer re-created by someone else on the same interface is seen only when its counters
//! read below the last reading. A 64-bit counter that wraps reads as a small step past its
//! end and is counted as one.
//!
//! Nothing here reads a counter: readings come in as values, so every rule is unit-tested.

#![forbid(unsafe_code)]

use std::fmt::{self, Write as _};

use crate::model::Target;

/// Bytes in (received by the router from the far side: the LAN's downloads) and out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bytes {
    pub rx: u64,
    pub tx: u64,
}

impl Bytes {
    /// Kept out of line: two saturating 64-bit additions are long code on a 32-bit
    /// router, and this is called in many places.
    #[inline(never)]
    pub fn plus(self, o: Bytes) -> Bytes {
        Bytes { rx: self.rx.saturating_add(o.rx), tx: self.tx.saturating_add(o.tx) }
    }
}

impl fmt::Display for Bytes {
    /// `5242880 B in, 81920 B out`: exact, for a script as for a human.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B in, {} B out", self.rx, self.tx)
    }
}

/// One reading of the counters that carry the outage's traffic now: the tunnel peer's or
/// the backup device's, as the target says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub of: Target,
    /// The interface index of the device whose counters these are (BACKUP_DEV, or WG_IFACE
    /// for its peer's): a device made again under the same name has another. `None`: not
    /// known (a record of an earlier version).
    pub device: Option<u32>,
    pub counters: Bytes,
    /// When (CLOCK_BOOTTIME seconds): a round reads again only [`READ_EVERY_S`] later.
    pub at_s: u64,
}

/// How often the daemon's rounds while active read the counters again (every tick of
/// `run` does; a switch of path and the failback read them at once, `status` whenever it
/// runs): not a record write per probe interval.
pub const READ_EVERY_S: u64 = 30;

/// The bytes of an outage so far (or of the last one, after its failback), and the
/// reading they were last counted up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub tunnel: Bytes,
    /// Straight out of the backup (FALLBACK), not through the tunnel.
    pub backup: Bytes,
    /// The last reading (`None`: none yet this outage, or no counter to read then).
    pub base: Option<Reading>,
}

impl Traffic {
    /// A round while active (at `now_s`, boot time, with the tables on `target`) reads
    /// the counters: none read yet, other ones read last, or the last reading
    /// [`READ_EVERY_S`] old.
    pub fn read_due(&self, target: Target, now_s: u64) -> bool {
        self.base.is_none_or(|b| b.of != target || now_s.saturating_sub(b.at_s) >= READ_EVERY_S)
    }
}

/// A record line of the traffic whose value cannot be read (the record names the line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unreadable;

/// How far a counter of the same device moved from `before` to `now`: forwards, the
/// difference; a 64-bit wrap (a step of less than 2^32 past the end), that step; backwards
/// otherwise (the counter started again from 0 without the device changing: a peer
/// re-created by someone else), what it reads now.
pub fn moved(before: u64, now: u64) -> u64 {
    if now >= before {
        return now - before;
    }
    match now.wrapping_sub(before) {
        step if step < 1 << 32 => step,
        _ => now,
    }
}

impl Traffic {
    /// All of it, tunnel and backup.
    pub fn total(&self) -> Bytes {
        self.tunnel.plus(self.backup)
    }

    /// Takes in a new reading: what its counters moved since the last reading of the
    /// same counters is added to its path — all they read when their device is another
    /// one (made since, so counting from 0); a reading of other counters (the target has
    /// just switched) only becomes the base. `None` (nothing to read: the interface or
    /// the peer is gone) leaves no base, so the next reading counts from itself.
    /// Returns what was added.
    pub fn counted(&mut self, now: Option<Reading>) -> Bytes {
        let mut step = Bytes::default();
        if let (Some(b), Some(n)) = (self.base, now) {
            if b.of == n.of {
                let remade = b.device.zip(n.device).is_some_and(|(was, is)| was != is);
                step = match remade {
                    true => n.counters,
                    false => Bytes { rx: moved(b.counters.rx, n.counters.rx), tx: moved(b.counters.tx, n.counters.tx) },
                };
                match n.of {
                    Target::Tunnel => self.tunnel = self.tunnel.plus(step),
                    Target::Backup => self.backup = self.backup.plus(step),
                }
            }
        }
        self.base = now;
        step
    }

    /// The tool has just renewed the VPS peer (`of`: the tunnel's counters), and WireGuard
    /// starts a peer added again at 0: the next reading counts from 0, however far it has
    /// gone by then. (What the peer moved between the last reading and the renewal is
    /// not known any more: a round renews only a tunnel that failed its proof.)
    pub fn restarted(&mut self, of: Target) {
        if let Some(b) = self.base.as_mut().filter(|b| b.of == of) {
            b.counters = Bytes::default();
        }
    }

    /// Adds the record's lines (`key=value`) to `text`, only when there is something to
    /// say: a record without traffic is byte for byte what earlier versions wrote; the
    /// base's device in a line of its own, which an earlier version's reader skips.
    pub fn write_lines(&self, text: &mut String) {
        if *self == Traffic::default() {
            return;
        }
        let (t, b) = (self.tunnel, self.backup);
        _ = write!(text, "tunnel_bytes={} {}\nbackup_bytes={} {}\ncounter_base=", t.rx, t.tx, b.rx, b.tx);
        match self.base {
            Some(r) => _ = writeln!(text, "{} {} {} {}", r.of, r.counters.rx, r.counters.tx, r.at_s),
            None => text.push_str("none\n"),
        }
        if let Some(index) = self.base.and_then(|b| b.device) {
            _ = writeln!(text, "counter_device={index}");
        }
    }

    /// Reads one of [`Traffic::write_lines`]'s lines into `self`: `Ok(false)` when `key` is
    /// not one of them, `Err` when its value cannot be read.
    pub fn read(&mut self, key: &str, value: &str) -> Result<bool, Unreadable> {
        let pair = |v: &str| -> Result<Bytes, Unreadable> {
            let (rx, tx) = v.split_once(' ').ok_or(Unreadable)?;
            Ok(Bytes { rx: rx.parse().map_err(|_| Unreadable)?, tx: tx.parse().map_err(|_| Unreadable)? })
        };
        match key {
            "tunnel_bytes" => self.tunnel = pair(value)?,
            "backup_bytes" => self.backup = pair(value)?,
            "counter_base" if value == "none" => self.base = None,
            "counter_base" => {
                let (of, rest) = value.split_once(' ').ok_or(Unreadable)?;
                let (counters, at) = rest.rsplit_once(' ').ok_or(Unreadable)?;
                let of = of.parse().map_err(|_| Unreadable)?;
                let at_s = at.parse().map_err(|_| Unreadable)?;
                self.base = Some(Reading { of, device: None, counters: pair(counters)?, at_s });
            }
            // After its base (as written), never without one.
            "counter_device" => {
                let base = self.base.as_mut().ok_or(Unreadable)?;
                base.device = Some(value.parse().map_err(|_| Unreadable)?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(of: Target, rx: u64, tx: u64) -> Option<Reading> {
        Some(Reading { of, device: None, counters: Bytes { rx, tx }, at_s: 7 })
    }

    /// A reading of device `index`'s counters, `rx` in.
    fn of_device(of: Target, index: u32, rx: u64, at_s: u64) -> Option<Reading> {
        Some(Reading { of, device: Some(index), counters: Bytes { rx, tx: 0 }, at_s })
    }

    #[test]
    fn a_counter_moves_forwards_wraps_or_starts_again() {
        assert_eq!(moved(100, 350), 250);
        assert_eq!(moved(7, 7), 0);
        // A 64-bit counter 10 short of its end, then 5 past it: 16 bytes.
        assert_eq!(moved(u64::MAX - 10, 5), 16);
        // Backwards by more than any wrap: re-created, counting from 0 again.
        assert_eq!(moved(5_000_000, 1_200), 1_200);
        assert_eq!(moved(1, 0), 0);
        // A 32-bit counter's wrap cannot be told from a re-creation: never 4 GiB made up.
        assert_eq!(moved(u64::from(u32::MAX) - 10, 5), 5);
    }

    #[test]
    fn readings_of_the_same_counters_add_up_on_their_path() {
        let mut t = Traffic::default();
        t.counted(at(Target::Tunnel, 1_000, 500));
        assert_eq!(t.total(), Bytes::default(), "the first reading is only the base");
        t.counted(at(Target::Tunnel, 6_000, 1_500));
        assert_eq!(t.tunnel, Bytes { rx: 5_000, tx: 1_000 });
        // The peer renewed: its counters start again at 0 and read 300/100.
        t.counted(at(Target::Tunnel, 300, 100));
        assert_eq!(t.tunnel, Bytes { rx: 5_300, tx: 1_100 });
        // FALLBACK: the backup's counters are another base, nothing added at the switch.
        t.counted(at(Target::Backup, 9_000_000, 8_000_000));
        assert_eq!((t.tunnel, t.backup), (Bytes { rx: 5_300, tx: 1_100 }, Bytes::default()));
        t.counted(at(Target::Backup, 9_002_000, 8_000_500));
        assert_eq!(t.backup, Bytes { rx: 2_000, tx: 500 });
        // The device vanished (nothing to read), then came back re-created.
        t.counted(None);
        t.counted(at(Target::Backup, 40, 20));
        assert_eq!(t.backup, Bytes { rx: 2_000, tx: 500 }, "a new base after a gap");
        t.counted(at(Target::Backup, 140, 30));
        assert_eq!(t.total(), Bytes { rx: 5_300 + 2_100, tx: 1_100 + 510 });
    }

    /// A re-created peer (the 300 kB of keepalives since boot, then re-created and a 5 MB
    /// download before the next reading, 30 s later in the daemon) is counted in full:
    /// renewed by the tool, which says so, or with WG_IFACE made again (another index).
    /// Before, only a counter read below its old base was seen: 4,700,000 bytes.
    #[test]
    fn a_recreated_peer_that_passed_its_old_base_is_counted_in_full() {
        let mut t = Traffic::default();
        t.counted(of_device(Target::Tunnel, 7, 300_000, 0));
        t.restarted(Target::Tunnel);
        t.counted(of_device(Target::Tunnel, 7, 5_000_000, 30));
        assert_eq!(t.tunnel.rx, 5_000_000, "renewed by the tool");
        // WG_IFACE deleted and added again (index 7, then 9), 6 MB past the last reading.
        t.counted(of_device(Target::Tunnel, 9, 6_000_000, 60));
        assert_eq!(t.tunnel.rx, 11_000_000, "a tunnel interface made again");
    }

    /// Every rule of a device's counters, one reading after another of the backup's:
    /// forwards, a 64-bit wrap, re-created (another index) below and above the old base,
    /// re-created without the index changing (seen only below the old base), and a base
    /// of an earlier version's record (no index: the same device).
    #[test]
    fn a_devices_counters_count_forwards_across_a_wrap_and_from_0_when_made_again() {
        let mut t = Traffic::default();
        let mut total = 0;
        for (index, rx, adds, what) in [
            (4, u64::MAX - 10, 0, "the first reading, 10 short of the end: only the base"),
            (4, 5, 16, "wrapped: 10 to the end, then 6"),
            (4, 5_005, 5_000, "forwards"),
            (5, 2_000, 2_000, "made again, below the old base: all of it"),
            (6, 9_000, 9_000, "made again, above the old base: all of it, not 7000"),
            (6, 300, 300, "the same index and backwards: started again all the same"),
            (6, 900, 600, "forwards"),
        ] {
            t.counted(of_device(Target::Backup, index, rx, 0));
            total += adds;
            assert_eq!(t.backup.rx, total, "{what}");
        }
        // The base of an earlier version's record knows no index: the same device.
        t.base = at(Target::Backup, 1_000, 0);
        t.counted(of_device(Target::Backup, 8, 4_000, 0));
        assert_eq!(t.backup.rx, total + 3_000);
        // A renewal says nothing of the backup's counters, nor of a base that is not there.
        t.restarted(Target::Tunnel);
        assert_eq!(t.base.map(|b| b.counters.rx), Some(4_000));
        let mut none = Traffic::default();
        none.restarted(Target::Tunnel);
        assert_eq!(none, Traffic::default());
    }

    #[test]
    fn a_round_reads_again_after_a_while_or_at_a_switch() {
        let mut t = Traffic::default();
        assert!(t.read_due(Target::Tunnel, 100), "nothing read yet");
        t.counted(Some(Reading { of: Target::Tunnel, device: None, counters: Bytes::default(), at_s: 100 }));
        assert!(!t.read_due(Target::Tunnel, 100 + READ_EVERY_S - 1));
        assert!(t.read_due(Target::Tunnel, 100 + READ_EVERY_S));
        assert!(t.read_due(Target::Backup, 101), "another path");
        assert!(!t.read_due(Target::Tunnel, 50), "a clock behind the reading: not yet");
    }

    fn lines(t: &Traffic) -> String {
        let mut text = String::new();
        t.write_lines(&mut text);
        text
    }

    #[test]
    fn the_record_lines_are_written_only_when_there_is_traffic_and_read_back() {
        assert_eq!(lines(&Traffic::default()), "");
        let t =
            Traffic { tunnel: Bytes { rx: 5, tx: 6 }, backup: Bytes { rx: 7, tx: 8 }, base: at(Target::Backup, 9, 10) };
        let text = lines(&t);
        assert_eq!(text, "tunnel_bytes=5 6\nbackup_bytes=7 8\ncounter_base=backup 9 10 7\n");
        let mut back = Traffic::default();
        for (k, v) in text.lines().filter_map(|l| l.split_once('=')) {
            assert_eq!(back.read(k, v), Ok(true));
        }
        assert_eq!(back, t);
        assert_eq!(back.read("counter_base", "none"), Ok(true));
        assert_eq!(back.base, None);
        assert_eq!(back.read("mode", "failsafe"), Ok(false));
        // The base's device, in a line of its own after it (an earlier version skips it);
        // never without a base.
        let t = Traffic { base: of_device(Target::Tunnel, 12, 9, 7), ..t };
        let text = lines(&t);
        assert!(text.ends_with("\ncounter_base=tunnel 9 0 7\ncounter_device=12\n"), "{text}");
        let mut back = Traffic::default();
        for (k, v) in text.lines().filter_map(|l| l.split_once('=')) {
            assert_eq!(back.read(k, v), Ok(true));
        }
        assert_eq!(back, t);
        back.base = None;
        for (k, v) in [
            ("counter_device", "12"),
            ("tunnel_bytes", "5"),
            ("backup_bytes", "a b"),
            ("counter_base", "nowhere 1 2 3"),
            ("counter_base", "tunnel 1 2"),
        ] {
            assert_eq!(back.read(k, v), Err(Unreadable), "{k}={v}");
        }
        back.base = t.base;
        assert_eq!(back.read("counter_device", "x"), Err(Unreadable));
    }
}
