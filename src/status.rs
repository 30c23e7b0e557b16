//! `status`: what the failsafe sees, gathered once and printed as text or JSON.
//! Reads only; takes no lock.

use std::fmt::Write;

use crate::decide::{defaults_of, managed_tables, Target};
use crate::error::Error;
use crate::netlink::route::{table_name, Route};
use crate::system::{wall_now, System};

/// Everything `status` reports.
pub struct Status {
    pub failsafe: bool,
    /// What the tables point at while the failsafe is on.
    pub target: Target,
    pub activations: u64,
    pub deactivations: u64,
    pub last_switch_ms: u64,
    pub primary_dev: String,
    pub primary_healthy: bool,
    pub primary_detail: String,
    /// While on: the primary passes again, failback in this many seconds.
    pub failback_in_s: Option<u64>,
    pub tunnel_iface: String,
    pub backend: String,
    pub handshake_age_s: Option<u64>,
    pub tunnel_error: Option<String>,
    pub tunnel_up: bool,
    /// Managed (or would-be managed) tables and their IPv4 default routes now.
    pub tables: Vec<(u32, Vec<Route>)>,
    /// The rules at LAN_RULE_PRIORITY.
    pub rules: Vec<String>,
}

pub fn gather(sys: &mut System) -> Result<Status, Error> {
    let cfg = sys.cfg;
    let mut obs = sys.observe()?;
    if obs.rules.is_empty() {
        obs.rules = sys.rules()?;
    }
    let record = sys.record().clone();
    let health = sys.primary_round(&obs)?;
    let now = wall_now();
    let (handshake_age_s, tunnel_error) = match sys.tunnel_peer() {
        Ok(Some(p)) => (p.last_handshake.filter(|t| *t <= now).map(|t| (now - t).as_secs()), None),
        Ok(None) => (None, Some(format!("no peer for {} on {}", cfg.wg_peer_ip, cfg.wg_iface))),
        Err(e) => (None, Some(e.to_string())),
    };
    let tunnel_up = tunnel_error.is_none() && sys.peer_answers(1).unwrap_or(false);
    let tables = match &obs.snapshot {
        Some(s) => s.tables.clone(),
        None => managed_tables(&obs.routes, &obs.rules, cfg),
    };
    let failback_in_s = match (obs.on, health.is_ok(), record.up_since_ms) {
        (true, true, Some(since)) => {
            let waited_s = crate::state::boottime_ms().saturating_sub(since) / 1000;
            Some(record.up_after_s.saturating_sub(waited_s))
        }
        _ => None,
    };
    Ok(Status {
        failsafe: obs.on,
        target: record.target,
        activations: record.activations,
        deactivations: record.deactivations,
        last_switch_ms: record.last_switch_ms,
        primary_dev: cfg.primary_dev.clone(),
        primary_healthy: health.is_ok(),
        primary_detail: match (&health, obs.primary_gw) {
            (Ok(()), Some(gw)) if cfg.track_ips.is_empty() => format!("gateway {gw} answers"),
            (Ok(()), _) => format!("{} of {} TRACK_IPS answer", cfg.track_reliability, cfg.track_ips.len()),
            (Err(why), _) => why.to_string(),
        },
        failback_in_s,
        tunnel_iface: cfg.wg_iface.clone(),
        backend: sys.backend().to_string(),
        handshake_age_s,
        tunnel_error,
        tunnel_up,
        tables: tables.into_iter().map(|t| (t, defaults_of(&obs.routes, t).cloned().collect())).collect(),
        rules: obs.rules.iter().filter(|r| r.priority == cfg.lan_rule_priority).map(|r| r.to_string()).collect(),
    })
}

impl Status {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let mode = match (self.failsafe, self.target) {
            (false, _) => "normal",
            (true, Target::Tunnel) => "FAILSAFE (traffic via the tunnel)",
            (true, Target::Backup) => "FAILSAFE (traffic straight out of the backup WAN: the tunnel does not work)",
        };
        let _ = writeln!(
            s,
            "mode:     {mode} ({} activations, {} deactivations, last switch {} ms)",
            self.activations, self.deactivations, self.last_switch_ms
        );
        let back = self.failback_in_s.map(|t| format!(", failback in {t} s")).unwrap_or_default();
        let _ = writeln!(
            s,
            "primary:  {} {} ({}{back})",
            self.primary_dev,
            if self.primary_healthy { "healthy" } else { "DOWN" },
            self.primary_detail
        );
        let handshake = match (self.handshake_age_s, &self.tunnel_error) {
            (_, Some(e)) => e.clone(),
            (Some(a), None) => format!("latest handshake {a} s ago"),
            (None, None) => "never handshaked".to_string(),
        };
        let _ = writeln!(
            s,
            "tunnel:   {} {} ({} backend, {handshake})",
            self.tunnel_iface,
            if self.tunnel_up { "up" } else { "down" },
            self.backend
        );
        for (t, routes) in &self.tables {
            let _ = writeln!(s, "table {}:", table_name(*t));
            if routes.is_empty() {
                let _ = writeln!(s, "  (no default route)");
            }
            for r in routes {
                let _ = writeln!(s, "  {r}");
            }
        }
        for r in &self.rules {
            let _ = writeln!(s, "rule:     {r}");
        }
        s
    }

    pub fn to_json(&self) -> String {
        let tables: Vec<String> = self
            .tables
            .iter()
            .map(|(t, routes)| {
                let rs: Vec<String> = routes.iter().map(|r| json_str(&r.to_string())).collect();
                format!("{{\"table\":{},\"defaults\":[{}]}}", json_str(&table_name(*t)), rs.join(","))
            })
            .collect();
        let rules: Vec<String> = self.rules.iter().map(|r| json_str(r)).collect();
        format!(
            "{{\"mode\":{},\"target\":{},\"activations\":{},\"deactivations\":{},\"last_switch_ms\":{},\"primary\":{{\"dev\":{},\"healthy\":{},\"detail\":{},\"failback_in_s\":{}}},\"tunnel\":{{\"iface\":{},\"backend\":{},\"up\":{},\"handshake_age_s\":{},\"error\":{}}},\"tables\":[{}],\"rules\":[{}]}}",
            json_str(if self.failsafe { "failsafe" } else { "normal" }),
            json_str(&self.target.to_string()),
            self.activations,
            self.deactivations,
            self.last_switch_ms,
            json_str(&self.primary_dev),
            self.primary_healthy,
            json_str(&self.primary_detail),
            self.failback_in_s.map_or("null".to_string(), |t| t.to_string()),
            json_str(&self.tunnel_iface),
            json_str(&self.backend),
            self.tunnel_up,
            self.handshake_age_s.map_or("null".to_string(), |a| a.to_string()),
            self.tunnel_error.as_deref().map_or("null".to_string(), json_str),
            tables.join(","),
            rules.join(",")
        )
    }
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn renders_text_and_json() {
        let st = Status {
            failsafe: true,
            target: Target::Tunnel,
            activations: 1,
            deactivations: 0,
            last_switch_ms: 42,
            primary_dev: "eth0".into(),
            primary_healthy: false,
            primary_detail: "no carrier".into(),
            failback_in_s: None,
            tunnel_iface: "wg0".into(),
            backend: "kernel".into(),
            handshake_age_s: Some(12),
            tunnel_error: None,
            tunnel_up: true,
            tables: vec![
                (254, vec!["default via 10.11.0.1 dev wg0 table main proto static metric 40".parse().expect("route")]),
                (201, vec![]),
            ],
            rules: vec!["priority 69 from 192.168.10.0/24 lookup main".into()],
        };
        let text = st.to_text();
        assert!(text.contains("mode:     FAILSAFE"));
        assert!(text.contains("primary:  eth0 DOWN (no carrier)"));
        assert!(text.contains("tunnel:   wg0 up (kernel backend, latest handshake 12 s ago)"));
        assert!(text.contains("table 201:\n  (no default route)"));
        assert_eq!(
            st.to_json(),
            "{\"mode\":\"failsafe\",\"target\":\"tunnel\",\"activations\":1,\"deactivations\":0,\"last_switch_ms\":42,\"primary\":{\"dev\":\"eth0\",\"healthy\":false,\"detail\":\"no carrier\",\"failback_in_s\":null},\"tunnel\":{\"iface\":\"wg0\",\"backend\":\"kernel\",\"up\":true,\"handshake_age_s\":12,\"error\":null},\"tables\":[{\"table\":\"main\",\"defaults\":[\"default via 10.11.0.1 dev wg0 table main proto static metric 40\"]},{\"table\":\"201\",\"defaults\":[]}],\"rules\":[\"priority 69 from 192.168.10.0/24 lookup main\"]}"
        );
    }
}
