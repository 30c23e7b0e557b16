//! `status --prometheus`: the same [`Status`] as the text and the JSON, in the Prometheus
//! text exposition format (version 0.0.4) — every family with its HELP and TYPE lines,
//! base units (seconds, ratios, bytes) — for node_exporter's textfile collector or any
//! scraper of that format. A figure that is not known (an RTT with no answer, a switch
//! that never happened) is left out, never written as 0.

#![forbid(unsafe_code)]

use std::fmt::{self, Write};

use crate::decimal::shortest;
use crate::model::Target;
use crate::probe::Stats;
use crate::status::Status;

/// The exposition, written family after family: [`Page::family`] writes a family's HELP
/// and TYPE lines, [`Page::sample`] its samples.
struct Page {
    out: String,
    /// The family being written.
    name: &'static str,
}

impl Page {
    fn family(&mut self, name: &'static str, kind: &str, help: &str) {
        self.name = name;
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// A sample of the current family: its labels (`{name="value"}`, or "" for none) and value.
    fn sample(&mut self, labels: &str, value: &dyn fmt::Display) {
        let _ = writeln!(self.out, "{}{labels} {value}", self.name);
    }

    fn flag(&mut self, labels: &str, b: bool) {
        self.sample(labels, &u8::from(b));
    }

    /// A probe's RTT (seconds), when something answered.
    fn rtt(&mut self, labels: &str, st: &Stats) {
        // The seconds are the milliseconds divided again, as before (shortest() writes the
        // same text as `{}`: 9 µs is 0.000008999999999999999 s, as it always was).
        if let Some(us) = st.rtt_us() {
            self.sample(labels, &shortest(us as f64 / 1000.0 / 1000.0));
        }
    }

    /// A probe's loss (ratio).
    fn loss(&mut self, labels: &str, st: &Stats) {
        self.sample(labels, &shortest(f64::from(st.loss_pct()) / 100.0));
    }
}

/// A label set of one label; the value escaped as the format wants (`\`, `"`, newline).
fn label(name: &str, value: &str) -> String {
    let v = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!("{{{name}=\"{v}\"}}")
}

/// The whole exposition.
pub fn prometheus(st: &Status) -> String {
    let mut p = Page { out: String::new(), name: "" };
    p.family(
        "wg_failsafe_active",
        "gauge",
        "1 while the failsafe is on (every managed table off the primary), else 0.",
    );
    p.flag("", st.failsafe);
    p.family(
        "wg_failsafe_target",
        "gauge",
        "1 for where the tables point while the failsafe is on: the tunnel, or straight out of the backup (FALLBACK).",
    );
    p.flag("{target=\"tunnel\"}", st.failsafe && st.target == Target::Tunnel);
    p.flag("{target=\"backup\"}", st.failsafe && st.target == Target::Backup);
    p.family("wg_failsafe_primary_healthy", "gauge", "1 when the primary passed this status's round.");
    p.flag("", st.primary_healthy);
    p.family(
        "wg_failsafe_primary_rtt_seconds",
        "gauge",
        "Mean round-trip time of the primary's echoes, per target (absent when none answered).",
    );
    for (ip, stats) in &st.primary_targets {
        p.rtt(&label("ip", &ip.to_string()), stats);
    }
    p.family("wg_failsafe_primary_loss_ratio", "gauge", "Share of the primary's echoes left unanswered, per target.");
    for (ip, stats) in &st.primary_targets {
        p.loss(&label("ip", &ip.to_string()), stats);
    }
    p.family(
        "wg_failsafe_tunnel_up",
        "gauge",
        "1 when the tunnel carries traffic (while on, as the round judges it; while off, an echo answered).",
    );
    p.flag("", st.tunnel_up);
    p.family(
        "wg_failsafe_tunnel_rtt_seconds",
        "gauge",
        "Mean round-trip time of the echoes to WG_PEER_IP through the tunnel (absent when none answered).",
    );
    if let Some(t) = &st.tunnel {
        p.rtt("", t);
    }
    p.family("wg_failsafe_tunnel_loss_ratio", "gauge", "Share of the echoes through the tunnel left unanswered.");
    if let Some(t) = &st.tunnel {
        p.loss("", t);
    }
    p.family("wg_failsafe_outages_total", "counter", "Activations of the failsafe, this one included.");
    p.sample("", &st.activations);
    p.family(
        "wg_failsafe_outage_seconds_total",
        "counter",
        "Seconds the failsafe has been on, over every outage, this one so far included (boot time: never moved by a step of the wall clock).",
    );
    p.sample("", &st.outage_s_total);
    p.family(
        "wg_failsafe_backup_bytes_total",
        "counter",
        "Bytes the outages moved over the backup, up to the last tick's reading: through the tunnel (WireGuard's peer counters) and straight out of BACKUP_DEV.",
    );
    p.sample("{direction=\"in\"}", &st.bytes_total.rx);
    p.sample("{direction=\"out\"}", &st.bytes_total.tx);
    p.family(
        "wg_failsafe_backup_budget_used_ratio",
        "gauge",
        "Share of BACKUP_BUDGET_MB the outages used over the backup this period (absent without a budget).",
    );
    if let Some((mb, b)) = st.budget {
        p.sample("", &shortest(b.used_bytes as f64 / (mb as f64 * 1e6)));
    }
    p.family(
        "wg_failsafe_last_change_timestamp_seconds",
        "gauge",
        "Unix time of the last switch, on or off (absent: never switched).",
    );
    if st.mode_since_unix_s > 0 {
        p.sample("", &st.mode_since_unix_s);
    }
    p.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_type_and_unknown_figures_are_left_out() {
        let st = crate::status::tests::sample();
        let text = prometheus(&st);
        let families: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
        assert_eq!(families.len(), 13, "{text}");
        for f in &families {
            let name = f.split(' ').next().expect("name");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
        }
        for line in [
            "wg_failsafe_active 1",
            "wg_failsafe_target{target=\"tunnel\"} 1",
            "wg_failsafe_target{target=\"backup\"} 0",
            "wg_failsafe_primary_healthy 0",
            "wg_failsafe_primary_rtt_seconds{ip=\"1.1.1.1\"} 0.012345",
            "wg_failsafe_primary_loss_ratio{ip=\"1.1.1.1\"} 0.34",
            "wg_failsafe_tunnel_up 1",
            "wg_failsafe_tunnel_rtt_seconds 0.0011",
            "wg_failsafe_tunnel_loss_ratio 0",
            "wg_failsafe_outages_total 1",
            "wg_failsafe_outage_seconds_total 700",
            "wg_failsafe_backup_bytes_total{direction=\"in\"} 6242880",
            "wg_failsafe_backup_bytes_total{direction=\"out\"} 91920",
            "wg_failsafe_last_change_timestamp_seconds 1700000000",
            "wg_failsafe_backup_budget_used_ratio 0.76",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        // Normal, never switched, nothing answered: no target, no time, no RTT.
        let silent = Stats { sent: 3, received: 0, rtt_total: std::time::Duration::ZERO };
        let quiet = Status {
            failsafe: false,
            mode_since_unix_s: 0,
            primary_targets: vec![("1.1.1.1".parse().expect("ip"), silent)],
            tunnel: None,
            budget: None,
            ..st
        };
        let text = prometheus(&quiet);
        assert!(text.contains("wg_failsafe_target{target=\"tunnel\"} 0\n"), "{text}");
        assert!(text.contains("wg_failsafe_primary_loss_ratio{ip=\"1.1.1.1\"} 1\n"), "{text}");
        for gone in [
            "wg_failsafe_primary_rtt_seconds",
            "wg_failsafe_tunnel_rtt_seconds",
            "wg_failsafe_last_change",
            "wg_failsafe_backup_budget",
        ] {
            assert!(!text.lines().any(|l| l.starts_with(gone)), "a sample of {gone}: {text}");
            assert!(text.contains(&format!("# TYPE {gone}")), "{gone}'s family is still declared: {text}");
        }
        assert_eq!(label("x", "a\"b\\c\nd"), "{x=\"a\\\"b\\\\c\\nd\"}");
    }
}
