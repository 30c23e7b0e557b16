//! `status`: what the failsafe sees, gathered once and printed as text or JSON. Reads
//! only (its probes are echoes); takes no lock. The JSON's fields are listed in README.

use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::budget::Budget;
use crate::decide::{defaults_of, managed_tables, Target};
use crate::error::Error;
use crate::health::{failback_judged, handshake_age, tunnel_works, HandshakeAge, TunnelRound};
use crate::history::Shown;
use crate::judge::primary_need;
use crate::judge::target_dead;
use crate::netlink::route::{table_name, Route};
use crate::probe::Stats;
use crate::state::Event;
use crate::state::Snapshot;
use crate::system::{Observed, System};
use crate::traffic::{Bytes, Traffic};

mod json;
mod quality;
pub use json::{json_str, Json};
pub use quality::QualitySeen;

/// How `status` prints what it gathered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    /// The Prometheus text format (see [`crate::metrics`]).
    Prometheus,
}

/// A WG_ENDPOINT given by name, as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameSeen {
    pub name: String,
    /// The address in use (the entry's, or while on the one activation used); `None`: none known.
    pub addr: Option<Ipv4Addr>,
    /// Seconds left of the entry's TTL (negative: expired that long ago); `None` without
    /// an address kept in STATE_DIR.
    pub expires_in_s: Option<i64>,
}

impl NameSeen {
    fn text(&self) -> String {
        let addr = self.addr.map_or("no address known".to_string(), |a| a.to_string());
        let ttl = match self.expires_in_s {
            Some(s) if s > 0 => format!(", kept {s} s more (its TTL)"),
            Some(s) => format!(", expired {} s ago: looked up again at the next healthy round", -s),
            None => String::new(),
        };
        format!("{} {addr}{ttl}", self.name)
    }

    fn write_json(&self, j: &mut Json) {
        j.open().key("name").str(&self.name).key("address");
        match self.addr {
            Some(a) => j.text(&a),
            None => j.null(),
        };
        match self.expires_in_s {
            Some(s) => j.key("expires_in_s").int(s),
            None => j.key("expires_in_s").null(),
        };
        j.close();
    }
}

/// Everything `status` reports.
pub struct Status {
    /// When it was taken (wall time, through the door): the "s ago" of its times.
    pub now_unix_s: u64,
    pub failsafe: bool,
    /// What the tables point at while the failsafe is on.
    pub target: Target,
    /// Wall time of the last switch, dated by its boot time (see
    /// [`crate::record::Record::switched_unix_s`]; 0: never switched).
    pub mode_since_unix_s: u64,
    pub activations: u64,
    pub deactivations: u64,
    pub last_switch_ms: u64,
    pub primary_dev: String,
    pub primary_healthy: bool,
    pub primary_detail: String,
    /// This round, per target (the gateway, or each of TRACK_IPS).
    pub primary_targets: Vec<(Ipv4Addr, Stats)>,
    /// With quality limits set: this round's echoes against them, as the judge sees them.
    pub quality: Option<QualitySeen>,
    /// While on: the primary passes again, failback in this many seconds (0: at the next
    /// round), as the round judges it.
    pub failback_in_s: Option<u64>,
    pub tunnel_iface: String,
    /// Every tunnel's interface, in order, when several are configured (empty with one):
    /// `tunnel_iface` is the one in use.
    pub tunnels: Vec<String>,
    /// WG_ENDPOINT when it is a name (`None`: an address).
    pub endpoint: Option<NameSeen>,
    pub backend: String,
    /// The peer's latest handshake, read as the tunnel's verdict reads it.
    pub handshake: HandshakeAge,
    pub tunnel_error: Option<String>,
    pub tunnel: Option<Stats>,
    /// The tunnel carries traffic: while on, as the round judges it (an echo, or for a
    /// VPS that answers none a fresh handshake since the activation's mark); while off,
    /// nothing is judged by it, and an echo answered says it.
    pub tunnel_up: bool,
    pub backup_dev: String,
    /// BACKUP_CHECK=on: the backup's last judgement (down?) and since when; `None` when
    /// it is not checked, or not yet.
    pub backup: Option<(bool, u64)>,
    pub backup_checked: bool,
    /// Managed (or would-be managed) tables, IPv4's then IPv6's (`true`), and their
    /// default routes now.
    pub tables: Vec<TableShown>,
    /// WG_PEER_IP6, when IPv6 goes through the tunnel.
    pub peer_ip6: Option<std::net::Ipv6Addr>,
    /// The rules at LAN_RULE_PRIORITY.
    pub rules: Vec<String>,
    /// The last state changes, oldest first.
    pub events: Vec<Event>,
    /// The bytes of this outage so far (counted up to now) or of the last one.
    pub traffic: Traffic,
    /// BACKUP_BUDGET_MB and its period now: the budget, the period's start and the bytes
    /// over the backup in it, this outage's so far included (`None`: no budget).
    pub budget: Option<(u64, Budget)>,
    /// HISTORY_FILE's last outages and the last 30 days (`None`: no HISTORY_FILE).
    pub history: Option<Shown>,
    /// Every outage's seconds and bytes, this one's so far included: the seconds up to now
    /// (boot time), the bytes up to the record's last reading (so that neither goes down).
    pub outage_s_total: u64,
    pub bytes_total: Bytes,
}

pub fn gather(sys: &mut System) -> Result<Status, Error> {
    let cfg = sys.cfg;
    // The outage's seconds end here, as close as can be to the record's reading (before
    // this status's probes): a failback recorded meanwhile counts at least as far.
    let record_boot_s = sys.boottime_s();
    let mut obs = sys.observe()?;
    if !obs.on {
        obs.routes.extend(sys.routes_of(true)?);
    }
    if obs.rules.is_empty() {
        obs.rules = sys.rules()?;
    }
    let record = sys.record().clone();
    // This outage's bytes up to now: the counters read again, nothing written.
    let mut traffic = record.traffic;
    let unseen = match obs.on {
        true => traffic.counted(sys.counters(record.mode.target)),
        false => Bytes::default(),
    };
    let budget = cfg.backup_budget_mb.map(|mb| {
        let mut b = crate::history::budget_at(cfg, record.budget, sys.wall_now().as_secs());
        b.counted(unseen.rx.saturating_add(unseen.tx), b.period, mb.saturating_mul(1_000_000));
        (mb, b)
    });
    let (health, primary_targets) = sys.primary_check(&obs, true)?;
    let (now, now_boot_ms) = (sys.wall_now(), sys.boottime_ms());
    // The round's addresses while on; off, read here (a healthy tick reads none).
    let addrs = if obs.on || !obs.addrs.is_empty() { obs.addrs.clone() } else { sys.addrs()? };
    let (latest, tunnel_error, tunnel, tunnel_up) = tunnel_seen(sys, &record, (obs.on, &addrs), now);
    let tables = match &obs.snapshot {
        Some(s) => s.clone(),
        None => Snapshot {
            tables: managed_tables(false, &obs.routes, &obs.rules, cfg),
            tables6: managed_tables(true, &obs.routes, &obs.rules, cfg),
            ..Snapshot::default()
        },
    };
    // This status is a round of its own (PROBE_COUNT echoes per target, as a tick's): the
    // wait left is what the round would judge now, a dead target's "at once" included.
    let dead = target_dead(cfg, sys.links.by_name(&cfg.backup_dev), record.tunnel.down);
    let (f, healthy) = (&record.failback, health.is_ok());
    let failback_in_s = match obs.on {
        true => failback_judged(healthy, Some(healthy), f.up_since_ms, sys.boottime_ms(), f.up_after_s, dead).left_s(),
        false => None,
    };
    // Every tunnel's interface, when there are several.
    let mut tunnels = Vec::new();
    if sys.root.tunnel_count() > 1 {
        for i in 0..sys.root.tunnel_count() {
            tunnels.push(sys.root.tunnel(i).wg_iface.clone());
        }
    }
    let (shown, rules) = tables_and_rules(cfg.lan_rule_priority, &tables, &obs);
    Ok(Status {
        now_unix_s: now.as_secs(),
        failsafe: obs.on,
        target: record.mode.target,
        mode_since_unix_s: record.switched_unix_s(now.as_millis() as u64, now_boot_ms),
        activations: record.totals.activations,
        deactivations: record.totals.deactivations,
        last_switch_ms: record.totals.last_switch_ms,
        primary_dev: cfg.primary_dev.clone(),
        primary_healthy: health.is_ok(),
        primary_detail: match (&health, obs.primary_gw) {
            (Ok(()), Some(gw)) if cfg.track_ips.is_empty() => format!("gateway {gw} answers"),
            (Ok(()), _) => format!("{} of {} TRACK_IPS needed answer", cfg.track_reliability, cfg.track_ips.len()),
            (Err(why), _) => why.to_string(),
        },
        quality: QualitySeen::judged(
            &cfg.quality,
            &primary_targets.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
            primary_need(cfg),
            obs.on,
        ),
        primary_targets,
        failback_in_s,
        tunnel_iface: cfg.wg_iface.clone(),
        tunnels,
        endpoint: name_seen(sys),
        backend: sys.backend().to_string(),
        handshake: handshake_age(latest, now),
        tunnel_error,
        tunnel,
        tunnel_up,
        backup_dev: cfg.backup_dev.clone(),
        backup: (cfg.backup_check && record.backup.since_unix_s > 0)
            .then_some((record.backup.down, record.backup.since_unix_s)),
        backup_checked: cfg.backup_check,
        tables: shown,
        peer_ip6: cfg.wg_peer_ip6,
        rules,
        events: sys.events(),
        traffic,
        budget,
        history: cfg.history_file.as_ref().map(|p| Shown::read(p, cfg.history_max_kb, now.as_secs())),
        // In boot time, from the record alone (its mode, not this round's view): within a
        // boot the sum never goes down, NTP steps and failbacks included.
        outage_s_total: record.totals.outage_s.saturating_add(match record.mode.failsafe {
            true => record.outage_so_far_s(now.as_secs(), record_boot_s),
            false => 0,
        }),
        // What the record's readings counted, not this status's own: a device gone or made
        // again before the next reading takes back what only a status saw of its old
        // counters, and a Prometheus counter never goes down within a boot.
        bytes_total: match record.mode.failsafe {
            true => record.totals.bytes.plus(record.traffic.total()),
            false => record.totals.bytes,
        },
    })
}

/// A managed table as status shows it: IPv6 or not, its number, its defaults.
pub type TableShown = (bool, u32, Vec<Route>);

/// What status shows of the managed tables (their defaults, IPv4's then IPv6's) and of
/// the rules at LAN_RULE_PRIORITY.
fn tables_and_rules(priority: u32, tables: &Snapshot, obs: &Observed) -> (Vec<TableShown>, Vec<String>) {
    let mut shown = Vec::new();
    for v6 in [false, true] {
        for &t in tables.tables_of(v6) {
            shown.push((v6, t, defaults_of(&obs.routes, v6, t).cloned().collect()));
        }
    }
    let mut rules = Vec::new();
    for r in &obs.rules {
        if r.priority == priority {
            rules.push(r.to_string());
        }
    }
    (shown, rules)
}

/// A name endpoint: its address in use and when the one kept in STATE_DIR expires.
fn name_seen(sys: &System) -> Option<NameSeen> {
    let e = &sys.cfg.wg_endpoint;
    e.name.as_ref().map(|name| NameSeen {
        name: name.clone(),
        addr: e.known().then(|| e.addr()),
        expires_in_s: sys
            .endpoint_kept()
            .filter(|c| c.addr.is_some())
            .map(|c| c.expires_s as i64 - sys.boottime_s() as i64),
    })
}

/// The tunnel as `status` sees it: the peer's last handshake, what is wrong with it (an
/// interface without an IPv4 address among `addrs` too: `judge::has_ipv4`), a round of
/// echoes to the peer, and whether it works (while on, by the rule the round while active
/// applies; off, by an echo).
fn tunnel_seen(
    sys: &mut System,
    record: &crate::record::Record,
    (on, addrs): (bool, &[crate::netlink::link::Addr]),
    now: std::time::Duration,
) -> (Option<std::time::Duration>, Option<String>, Option<Stats>, bool) {
    let cfg = sys.cfg;
    let (latest, tunnel_error) = match sys.tunnel_peer() {
        Ok(Some(p)) => (p.last_handshake, None),
        Ok(None) => (None, Some(format!("no peer for {} on {}", cfg.wg_peer_ip, cfg.wg_iface))),
        Err(e) => (None, Some(e.to_string())),
    };
    let tunnel = match tunnel_error {
        None if sys.links.by_name(&cfg.wg_iface).is_some() => sys.tunnel_stats().ok(),
        _ => None,
    };
    let echo = tunnel.is_some_and(|t| t.received > 0);
    let t = &record.tunnel;
    let round = TunnelRound { echo, peer_echoes: t.peer_echoes, latest, mark: t.handshake_mark, now };
    let unaddressed = sys.links.by_name(&cfg.wg_iface).is_some_and(|l| !crate::judge::has_ipv4(l, addrs));
    let tunnel_up = !unaddressed && if on { tunnel_works(&round, cfg.handshake_max_age_s) } else { echo };
    let tunnel_error = tunnel_error.or_else(|| unaddressed.then(|| format!("{} has no IPv4 address", cfg.wg_iface)));
    (latest, tunnel_error, tunnel, tunnel_up)
}

/// `12.345 ms, 0% loss`, for the text.
fn health_text(out: &mut String, s: &Stats) {
    let _ = match s.rtt_us() {
        Some(us) => write!(out, "{} ms, {}% loss", crate::decimal::ms_1(us), s.loss_pct()),
        None => write!(out, "no answer, 100% loss"),
    };
}

impl Status {
    /// The outage whose bytes there are to show: this one (while on), else the last one
    /// (if any was counted).
    fn outage_traffic(&self) -> Option<(&'static str, &Traffic)> {
        match (self.failsafe, self.traffic == Traffic::default()) {
            (true, _) => Some(("this outage so far", &self.traffic)),
            (false, false) => Some(("the last outage", &self.traffic)),
            (false, true) => None,
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let mode = match (self.failsafe, self.target) {
            (false, _) => "normal",
            (true, Target::Tunnel) => "FAILSAFE (traffic via the tunnel)",
            (true, Target::Backup) => "FAILSAFE (traffic straight out of the backup WAN: the tunnel does not work)",
        };
        let _ = write!(s, "mode:     {mode}");
        if self.mode_since_unix_s != 0 {
            let t = self.mode_since_unix_s;
            let _ = write!(s, ", since {} ({} s ago)", crate::log::stamp_of(t), self.now_unix_s.saturating_sub(t));
        }
        let _ = writeln!(
            s,
            " ({} activations, {} deactivations, last switch {} ms)",
            self.activations, self.deactivations, self.last_switch_ms
        );
        let health = if self.primary_healthy { "healthy" } else { "DOWN" };
        let _ = write!(s, "primary:  {} {health} ({}", self.primary_dev, self.primary_detail);
        if let Some(t) = self.failback_in_s {
            let _ = write!(s, ", failback in {t} s");
        }
        s.push_str(")\n");
        for (ip, st) in &self.primary_targets {
            let _ = write!(s, "  {ip}: ");
            health_text(&mut s, st);
            s.push('\n');
        }
        if let Some(q) = &self.quality {
            let _ = writeln!(s, "quality:  {}", q.text());
        }
        let up = if self.tunnel_up { "up" } else { "down" };
        let _ = write!(s, "tunnel:   {} {up} ({} backend, ", self.tunnel_iface, self.backend);
        let _ = match (self.handshake, &self.tunnel_error) {
            (_, Some(e)) => write!(s, "{e}"),
            (HandshakeAge::Never, None) => write!(s, "no handshake"),
            (age, None) => write!(s, "latest handshake {age}"),
        };
        if let Some(t) = &self.tunnel {
            s.push_str(", ");
            health_text(&mut s, t);
        }
        s.push_str(")\n");
        if !self.tunnels.is_empty() {
            let _ = write!(s, "tunnels:  {} (in order; ", self.tunnels.join(", "));
            if self.failsafe && self.target == Target::Tunnel {
                let _ = write!(s, "{} carries", self.tunnel_iface);
            } else {
                s.push_str("none carries");
            }
            s.push_str(" the LAN)\n");
        }
        if let Some(e) = &self.endpoint {
            let _ = writeln!(s, "endpoint: {}", e.text());
        }
        let _ = write!(s, "backup:   {} ", self.backup_dev);
        let _ = match (self.backup_checked, self.backup) {
            (false, _) => writeln!(s, "not checked (BACKUP_CHECK=off)"),
            (true, None) => writeln!(s, "not checked yet"),
            (true, Some((down, since))) => writeln!(
                s,
                "{} since {} ({} s ago)",
                if down { "DOWN" } else { "up" },
                crate::log::stamp_of(since),
                self.now_unix_s.saturating_sub(since)
            ),
        };
        if let Some((which, t)) = self.outage_traffic() {
            let _ = writeln!(
                s,
                "bytes:    {} {which} ({} via {}, {} straight out of {})",
                t.total(),
                t.tunnel,
                self.tunnel_iface,
                t.backup,
                self.backup_dev
            );
        }
        if let Some((mb, b)) = &self.budget {
            let _ = writeln!(
                s,
                "budget:   {} % of {mb} MB over the backup since {} ({} B)",
                b.used_pct(mb * 1_000_000),
                crate::log::stamp_of(b.period.start_unix_s),
                b.used_bytes
            );
        }
        if let Some(h) = &self.history {
            s.push_str(&h.text());
        }
        for (v6, t, routes) in &self.tables {
            let _ = writeln!(s, "table {}{}:", table_name(*t), if *v6 { " (IPv6)" } else { "" });
            if routes.is_empty() {
                s.push_str("  (no default route)\n");
            }
            for r in routes {
                let _ = writeln!(s, "  {r}");
            }
        }
        for r in &self.rules {
            let _ = writeln!(s, "rule:     {r}");
        }
        if !self.events.is_empty() {
            s.push_str("events:\n");
        }
        for e in &self.events {
            let _ = writeln!(s, "  {} {}: {}", crate::log::stamp_of(e.at_unix_s), e.event, e.reason);
        }
        s
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::history::Outage;
    use std::time::Duration;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    pub(crate) fn sample() -> Status {
        Status {
            tunnels: Vec::new(),
            now_unix_s: 1_700_000_100,
            failsafe: true,
            target: Target::Tunnel,
            mode_since_unix_s: 1_700_000_000,
            activations: 1,
            deactivations: 0,
            last_switch_ms: 42,
            primary_dev: "eth0".into(),
            primary_healthy: false,
            primary_detail: "no carrier".into(),
            primary_targets: vec![(
                Ipv4Addr::new(1, 1, 1, 1),
                Stats { sent: 3, received: 2, rtt_total: Duration::from_micros(24_690) },
            )],
            failback_in_s: None,
            quality: None,
            tunnel_iface: "wg0".into(),
            endpoint: None,
            backend: "kernel".into(),
            handshake: HandshakeAge::Ago(Duration::from_secs(12)),
            tunnel_error: None,
            tunnel: Some(Stats { sent: 3, received: 3, rtt_total: Duration::from_micros(3_300) }),
            tunnel_up: true,
            backup_dev: "eth1".into(),
            backup: Some((false, 1_699_999_000)),
            backup_checked: true,
            tables: vec![
                (
                    false,
                    254,
                    vec!["default via 10.11.0.1 dev wg0 table main proto static metric 40".parse().expect("route")],
                ),
                (false, 201, vec![]),
                (
                    true,
                    254,
                    vec!["::/0 via fd00:11::1 dev wg0 table main proto static metric 40".parse().expect("route")],
                ),
            ],
            peer_ip6: Some("fd00:11::1".parse().expect("ipv6")),
            rules: vec!["priority 69 from 192.168.10.0/24 lookup main".into()],
            events: vec![Event {
                at_unix_s: 1_700_000_000,
                event: "activated".into(),
                reason: "primary eth0: no carrier".into(),
            }],
            traffic: Traffic {
                tunnel: Bytes { rx: 5_000_000, tx: 80_000 },
                backup: Bytes { rx: 242_880, tx: 1_920 },
                base: None,
            },
            outage_s_total: 700,
            bytes_total: Bytes { rx: 6_242_880, tx: 91_920 },
            history: None,
            budget: Some((
                100,
                Budget {
                    period: crate::budget::Period { date: (2026, 12, 1), start_unix_s: 1_796_083_200 },
                    used_bytes: 76_000_000,
                    told_pct: 75,
                    outage_bytes: 0,
                },
            )),
        }
    }

    #[test]
    fn renders_text_and_json() {
        let st = sample();
        let text = st.to_text();
        assert!(text.contains("mode:     FAILSAFE (traffic via the tunnel), since "), "{text}");
        assert!(text.contains("primary:  eth0 DOWN (no carrier)\n  1.1.1.1: 12.3 ms, 34% loss"), "{text}");
        assert!(
            text.contains("tunnel:   wg0 up (kernel backend, latest handshake 12 s ago, 1.1 ms, 0% loss)"),
            "{text}"
        );
        assert!(text.contains("table 201:\n  (no default route)"));
        assert!(text.contains("activated: primary eth0: no carrier"), "{text}");
        assert_eq!(
            st.to_json(),
            "{\"mode\":\"failsafe\",\"target\":\"tunnel\",\"mode_since_unix_s\":1700000000,\"activations\":1,\"deactivations\":0,\"last_switch_ms\":42,\"primary\":{\"dev\":\"eth0\",\"healthy\":false,\"detail\":\"no carrier\",\"failback_in_s\":null,\"targets\":[{\"ip\":\"1.1.1.1\",\"rtt_ms\":12.345,\"loss_pct\":34}],\"quality\":null},\"tunnel\":{\"iface\":\"wg0\",\"backend\":\"kernel\",\"up\":true,\"handshake_age_s\":12,\"error\":null,\"peer_ip6\":\"fd00:11::1\",\"endpoint\":null,\"rtt_ms\":1.100,\"loss_pct\":0},\"backup\":{\"dev\":\"eth1\",\"checked\":true,\"up\":true,\"since_unix_s\":1699999000},\"tables\":[{\"table\":\"main\",\"family\":\"inet\",\"defaults\":[\"default via 10.11.0.1 dev wg0 table main proto static metric 40\"]},{\"table\":\"201\",\"family\":\"inet\",\"defaults\":[]},{\"table\":\"main\",\"family\":\"inet6\",\"defaults\":[\"::/0 via fd00:11::1 dev wg0 table main proto static metric 40\"]}],\"rules\":[\"priority 69 from 192.168.10.0/24 lookup main\"],\"events\":[{\"at_unix_s\":1700000000,\"event\":\"activated\",\"reason\":\"primary eth0: no carrier\"}],\"outage_bytes\":{\"current\":true,\"rx\":5242880,\"tx\":81920,\"tunnel\":{\"rx\":5000000,\"tx\":80000},\"backup\":{\"rx\":242880,\"tx\":1920}},\"outage_s_total\":700,\"bytes_total\":{\"rx\":6242880,\"tx\":91920},\"history\":null,\"budget\":{\"mb\":100,\"period_start_unix_s\":1796083200,\"used_bytes\":76000000,\"used_pct\":76}}"
        );
        assert!(text.contains("\nbudget:   76 % of 100 MB over the backup since "), "{text}");
        assert!(
            text.contains("bytes:    5242880 B in, 81920 B out this outage so far (5000000 B in, 80000 B out via wg0, 242880 B in, 1920 B out straight out of eth1)"),
            "{text}"
        );
    }

    #[test]
    fn never_switched_is_null() {
        let st = Status { mode_since_unix_s: 0, tunnel: None, failsafe: false, backup: None, budget: None, ..sample() };
        let j = st.to_json();
        assert!(j.contains("\"mode_since_unix_s\":null") && j.contains("\"rtt_ms\":null,\"loss_pct\":null"), "{j}");
        // Normal mode has no target: the record's last one is not where traffic goes.
        assert!(j.starts_with("{\"mode\":\"normal\",\"target\":null,"), "{j}");
        assert!(j.contains("\"backup\":{\"dev\":\"eth1\",\"checked\":true,\"up\":null,\"since_unix_s\":null}"), "{j}");
        let text = st.to_text();
        assert!(!text.contains("since") && text.contains("backup:   eth1 not checked yet"), "{text}");
        assert!(text.contains("bytes:    5242880 B in, 81920 B out the last outage ("), "{text}");
        assert!(j.contains("\"outage_bytes\":{\"current\":false,\"rx\":5242880,"), "{j}");
        let off = Status { backup_checked: false, ..st };
        assert!(off.to_text().contains("backup:   eth1 not checked (BACKUP_CHECK=off)"));
        // Never an outage: nothing to show.
        let never = Status { traffic: Traffic::default(), ..off };
        assert!(!never.to_text().contains("bytes:") && never.to_json().contains(",\"outage_bytes\":null,"));
        assert!(never.to_json().ends_with(",\"budget\":null}") && !never.to_text().contains("budget:"));
    }

    #[test]
    fn a_handshake_dated_ahead_is_told_as_such() {
        let st = Status { handshake: HandshakeAge::Ahead(Duration::from_secs(5)), ..sample() };
        assert!(st.to_text().contains("latest handshake 5 s in the future (clock stepped back?)"), "{}", st.to_text());
        assert!(st.to_json().contains("\"handshake_age_s\":null"));
        let never = Status { handshake: HandshakeAge::Never, ..sample() };
        assert!(never.to_text().contains("(kernel backend, no handshake, "), "{}", never.to_text());
    }

    #[test]
    fn the_history_is_shown_when_there_is_a_history_file() {
        let o = Outage {
            start_unix_s: 1_699_990_000,
            end_unix_s: 1_699_990_600,
            target: "tunnel".into(),
            bytes: Bytes { rx: 5, tx: 6 },
            reason: "primary eth0: \"no\" carrier".into(),
            budget_bytes: None,
        };
        let days30 =
            crate::history::Summary { outages: 1, seconds: 600, longest_s: 600, bytes: Bytes { rx: 5, tx: 6 } };
        let st = Status { history: Some(Shown { last: vec![o], days30, error: None }), ..sample() };
        let j = st.to_json();
        assert!(j.contains(",\"history\":{\"last\":[{\"start_unix_s\":1699990000,\"end_unix_s\":1699990600,\"duration_s\":600,\"target\":\"tunnel\",\"rx\":5,\"tx\":6,\"reason\":\"primary eth0: \\\"no\\\" carrier\"}],\"last_30_days\":{\"outages\":1,\"seconds\":600,\"longest_s\":600,\"rx\":5,\"tx\":6},\"error\":null},"), "{j}");
        let text = st.to_text();
        assert!(
            text.contains(
                "history:  1 outage(s) in the last 30 days, 600 s in all (longest 600 s), 5 B in, 6 B out\n  "
            ),
            "{text}"
        );
        assert!(text.contains(" for 600 s (tunnel, 5 B in, 6 B out): primary eth0: \"no\" carrier\n"), "{text}");
    }

    #[test]
    fn a_backup_that_is_down_says_since_when() {
        let st = Status { backup: Some((true, 1_700_000_000)), ..sample() };
        assert!(st.to_text().contains("backup:   eth1 DOWN since "), "{}", st.to_text());
        assert!(st.to_json().contains("\"up\":false,\"since_unix_s\":1700000000"));
    }

    #[test]
    fn a_name_endpoint_shows_its_address_and_how_long_it_is_kept() {
        let named = |addr: Option<[u8; 4]>, expires_in_s| NameSeen {
            name: "vps.example.net".into(),
            addr: addr.map(Ipv4Addr::from),
            expires_in_s,
        };
        let st = Status { endpoint: Some(named(Some([198, 51, 100, 10]), Some(250))), ..sample() };
        assert!(st.to_text().contains("\nendpoint: vps.example.net 198.51.100.10, kept 250 s more (its TTL)\n"));
        assert!(st.to_json().contains(
            "\"endpoint\":{\"name\":\"vps.example.net\",\"address\":\"198.51.100.10\",\"expires_in_s\":250},"
        ));
        let expired = Status { endpoint: Some(named(Some([198, 51, 100, 10]), Some(-30))), ..sample() };
        assert!(
            expired.to_text().contains("198.51.100.10, expired 30 s ago: looked up again"),
            "{}",
            expired.to_text()
        );
        assert!(expired.to_json().contains("\"expires_in_s\":-30}"));
        let unknown = Status { endpoint: Some(named(None, None)), ..sample() };
        assert!(unknown.to_text().contains("endpoint: vps.example.net no address known\n"), "{}", unknown.to_text());
        assert!(unknown.to_json().contains("\"address\":null,\"expires_in_s\":null}"));
        assert!(!sample().to_text().contains("endpoint:"), "an address endpoint is in the configuration");
    }
}
