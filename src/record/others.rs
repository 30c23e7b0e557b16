//! With several tunnels, what the round while active remembers of the tunnels not in use:
//! when it last probed them (they are probed at most every [`OTHERS_EVERY_MS`]) and since
//! when each has answered every probe (the wait before the LAN moves back to an earlier
//! one). Two record lines, written only when they hold something: a record of one tunnel
//! never has them.

use std::fmt::Write as _;

use crate::model::TunnelHealth;

/// How often, at most, the tunnels not in use are probed while active: each probe is an
/// echo that may wait PROBE_TIMEOUT_MS, and the daemon's rounds come every
/// PROBE_INTERVAL_MS.
pub const OTHERS_EVERY_MS: u64 = 5000;

/// The tunnels not in use, as last probed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtherTunnels {
    /// Boot-time ms of the last probe of them.
    pub probed_ms: Option<u64>,
    /// Each tunnel (its interface) that has answered every probe since this boot-time ms.
    pub passing: Vec<(String, u64)>,
}

impl OtherTunnels {
    /// Whether the tunnels not in use are due to be probed at `now_ms`.
    pub fn due(&self, now_ms: u64) -> bool {
        self.probed_ms.is_none_or(|t| now_ms.saturating_sub(t) >= OTHERS_EVERY_MS)
    }

    /// Tunnel `iface` answered (`works`) or not at `now_ms`: its health as the judge
    /// reads it, its passing clock started, kept, or stopped.
    pub fn probed(&mut self, iface: &str, works: bool, now_ms: u64) -> TunnelHealth {
        let since = self.passing.iter().find(|(i, _)| i == iface).map(|(_, s)| *s);
        self.passing.retain(|(i, _)| i != iface);
        let passing_since_ms = works.then(|| since.unwrap_or(now_ms));
        if let Some(s) = passing_since_ms {
            self.passing.push((iface.to_string(), s));
        }
        TunnelHealth { works: Some(works), passing_since_ms }
    }

    /// Tunnel `iface` carries the LAN from now on: its passing clock is over (once it is
    /// not in use again, it starts afresh at its next answer).
    pub fn taken(&mut self, iface: &str) {
        self.passing.retain(|(i, _)| i != iface);
    }

    /// Adds the record lines to `text` (none when there is nothing to remember).
    pub fn write_lines(&self, text: &mut String) {
        if let Some(t) = self.probed_ms {
            _ = writeln!(text, "others_probed_ms={t}");
        }
        let mut sep = "others_passing=";
        for (i, s) in &self.passing {
            _ = write!(text, "{sep}{i}:{s}");
            sep = " ";
        }
        if !self.passing.is_empty() {
            text.push('\n');
        }
    }

    /// Reads one of its lines' value (`key` is the part before `=`); `false` when `v`
    /// cannot be read.
    pub fn parse(&mut self, key: &str, v: &str) -> bool {
        if key == "others_probed_ms" {
            self.probed_ms = v.parse().ok();
            return self.probed_ms.is_some();
        }
        for item in v.split(' ') {
            let Some((iface, since)) = item.split_once(':') else { return false };
            let ok = !iface.is_empty() && iface.len() <= 15 && !iface.contains('/');
            match (ok, since.parse()) {
                (true, Ok(since)) => self.passing.push((iface.to_string(), since)),
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_clock_starts_at_the_first_answer_and_stops_at_the_first_silence() {
        let mut o = OtherTunnels::default();
        assert!(o.due(0));
        assert_eq!(o.probed("wg0", true, 1000).passing_since_ms, Some(1000));
        assert_eq!(o.probed("wg0", true, 6000).passing_since_ms, Some(1000));
        assert_eq!(o.probed("wg0", false, 11_000), TunnelHealth { works: Some(false), passing_since_ms: None });
        assert_eq!(o.probed("wg0", true, 16_000).passing_since_ms, Some(16_000));
        o.probed_ms = Some(16_000);
        assert!(!o.due(20_999) && o.due(21_000));
    }

    #[test]
    fn its_lines_read_back_and_are_absent_when_empty() {
        let mut text = String::new();
        OtherTunnels::default().write_lines(&mut text);
        assert_eq!(text, "");
        let o = OtherTunnels { probed_ms: Some(5), passing: vec![("wg0".into(), 3), ("wg2".into(), 4)] };
        o.write_lines(&mut text);
        assert_eq!(text, "others_probed_ms=5\nothers_passing=wg0:3 wg2:4\n");
        let mut back = OtherTunnels::default();
        for line in text.lines() {
            let (k, v) = line.split_once('=').expect("key=value");
            assert!(back.parse(k, v), "{line}");
        }
        assert_eq!(back, o);
        for bad in ["wg0", "wg0:x", ":3", "a/b:3"] {
            assert!(!OtherTunnels::default().parse("others_passing", bad), "{bad}");
        }
    }
}
