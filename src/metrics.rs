//! `status --prometheus`: the same [`Status`] as the text and the JSON, in the Prometheus
//! text exposition format (version 0.0.4) — every family with its HELP and TYPE lines,
//! base units (seconds, ratios, bytes) — for node_exporter's textfile collector or any
//! scraper of that format. A figure that is not known (an RTT with no answer, a switch
//! that never happened) is left out, never written as 0.

#![forbid(unsafe_code)]

use std::fmt::Write;

use crate::decimal::shortest;
use crate::model::Target;
use crate::probe::Stats;
use crate::status::Status;

/// A sample's labels (`{name="value"}`, or "" for none) and value.
type Sample = (String, String);

/// One metric family: its name, type, help, and samples.
struct Family<'a> {
    name: &'a str,
    kind: &'a str,
    help: &'a str,
    samples: Vec<Sample>,
}

/// A label set of one label; the value escaped as the format wants (`\`, `"`, newline).
fn label(name: &str, value: &str) -> String {
    let v = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!("{{{name}=\"{v}\"}}")
}

fn flag(b: bool) -> String {
    u8::from(b).to_string()
}

/// A probe's RTT (seconds) and loss (ratio) under `labels`: the RTT only when something
/// answered.
fn probe_samples(labels: &str, st: &Stats) -> (Vec<Sample>, Vec<Sample>) {
    // The seconds are the milliseconds divided again, as before (shortest() writes the
    // same text as `{}`: 9 µs is 0.000008999999999999999 s, as it always was).
    let rtt = st.rtt_us().map(|us| (labels.to_string(), shortest(us as f64 / 1000.0 / 1000.0)));
    let loss = (labels.to_string(), shortest(f64::from(st.loss_pct()) / 100.0));
    (rtt.into_iter().collect(), vec![loss])
}

/// The whole exposition.
pub fn prometheus(st: &Status) -> String {
    let target = |t: Target| flag(st.failsafe && st.target == t);
    let (mut primary_rtt, mut primary_loss) = (Vec::new(), Vec::new());
    for (ip, stats) in &st.primary_targets {
        let (rtt, loss) = probe_samples(&label("ip", &ip.to_string()), stats);
        primary_rtt.extend(rtt);
        primary_loss.extend(loss);
    }
    let (tunnel_rtt, tunnel_loss) = st.tunnel.as_ref().map(|t| probe_samples("", t)).unwrap_or_default();
    let bytes = |dir: &str, n: u64| (label("direction", dir), n.to_string());
    let families = [
        Family {
            name: "wg_failsafe_active",
            kind: "gauge",
            help: "1 while the failsafe is on (every managed table off the primary), else 0.",
            samples: vec![(String::new(), flag(st.failsafe))],
        },
        Family {
            name: "wg_failsafe_target",
            kind: "gauge",
            help: "1 for where the tables point while the failsafe is on: the tunnel, or straight out of the backup (FALLBACK).",
            samples: vec![
                (label("target", "tunnel"), target(Target::Tunnel)),
                (label("target", "backup"), target(Target::Backup)),
            ],
        },
        Family {
            name: "wg_failsafe_primary_healthy",
            kind: "gauge",
            help: "1 when the primary passed this status's round.",
            samples: vec![(String::new(), flag(st.primary_healthy))],
        },
        Family {
            name: "wg_failsafe_primary_rtt_seconds",
            kind: "gauge",
            help: "Mean round-trip time of the primary's echoes, per target (absent when none answered).",
            samples: primary_rtt,
        },
        Family {
            name: "wg_failsafe_primary_loss_ratio",
            kind: "gauge",
            help: "Share of the primary's echoes left unanswered, per target.",
            samples: primary_loss,
        },
        Family {
            name: "wg_failsafe_tunnel_up",
            kind: "gauge",
            help: "1 when the tunnel carries traffic (while on, as the round judges it; while off, an echo answered).",
            samples: vec![(String::new(), flag(st.tunnel_up))],
        },
        Family {
            name: "wg_failsafe_tunnel_rtt_seconds",
            kind: "gauge",
            help: "Mean round-trip time of the echoes to WG_PEER_IP through the tunnel (absent when none answered).",
            samples: tunnel_rtt,
        },
        Family {
            name: "wg_failsafe_tunnel_loss_ratio",
            kind: "gauge",
            help: "Share of the echoes through the tunnel left unanswered.",
            samples: tunnel_loss,
        },
        Family {
            name: "wg_failsafe_outages_total",
            kind: "counter",
            help: "Activations of the failsafe, this one included.",
            samples: vec![(String::new(), st.activations.to_string())],
        },
        Family {
            name: "wg_failsafe_outage_seconds_total",
            kind: "counter",
            help: "Seconds the failsafe has been on, over every outage, this one so far included (boot time: never moved by a step of the wall clock).",
            samples: vec![(String::new(), st.outage_s_total.to_string())],
        },
        Family {
            name: "wg_failsafe_backup_bytes_total",
            kind: "counter",
            help: "Bytes the outages moved over the backup, up to the last tick's reading: through the tunnel (WireGuard's peer counters) and straight out of BACKUP_DEV.",
            samples: vec![bytes("in", st.bytes_total.rx), bytes("out", st.bytes_total.tx)],
        },
        Family {
            name: "wg_failsafe_backup_budget_used_ratio",
            kind: "gauge",
            help: "Share of BACKUP_BUDGET_MB the outages used over the backup this period (absent without a budget).",
            samples: st
                .budget
                .map(|(mb, b)| (String::new(), shortest(b.used_bytes as f64 / (mb as f64 * 1e6))))
                .into_iter()
                .collect(),
        },
        Family {
            name: "wg_failsafe_last_change_timestamp_seconds",
            kind: "gauge",
            help: "Unix time of the last switch, on or off (absent: never switched).",
            samples: (st.mode_since_unix_s > 0)
                .then(|| (String::new(), st.mode_since_unix_s.to_string()))
                .into_iter()
                .collect(),
        },
    ];
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} {}", f.name, f.help, f.name, f.kind);
        for (labels, value) in f.samples {
            let _ = writeln!(out, "{}{labels} {value}", f.name);
        }
    }
    out
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
