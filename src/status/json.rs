//! `status --json`: the JSON of what `status` gathered (the fields are listed in README).

use std::fmt::Write;

use super::*;

/// The JSON of one target's round: `"rtt_ms":1.234,"loss_pct":0`.
fn health_json(s: &Stats) -> String {
    let rtt = s.rtt_us().map_or("null".to_string(), crate::decimal::ms_3);
    format!("\"rtt_ms\":{rtt},\"loss_pct\":{}", s.loss_pct())
}

fn opt_u64(v: Option<u64>) -> String {
    v.map_or("null".to_string(), |t| t.to_string())
}

/// `{"rx":1,"tx":2}`.
fn bytes_json(b: Bytes) -> String {
    format!("{{\"rx\":{},\"tx\":{}}}", b.rx, b.tx)
}

impl Status {
    /// `{"current":true,"rx":…,"tx":…,"tunnel":{…},"backup":{…}}`, or `null`.
    fn traffic_json(&self) -> String {
        self.outage_traffic().map_or("null".to_string(), |(_, t)| {
            format!(
                "{{\"current\":{},\"rx\":{},\"tx\":{},\"tunnel\":{},\"backup\":{}}}",
                self.failsafe,
                t.total().rx,
                t.total().tx,
                bytes_json(t.tunnel),
                bytes_json(t.backup)
            )
        })
    }

    pub fn to_json(&self) -> String {
        let tables: Vec<String> = self
            .tables
            .iter()
            .map(|(v6, t, routes)| {
                let rs: Vec<String> = routes.iter().map(|r| json_str(&r.to_string())).collect();
                let family = json_str(if *v6 { "inet6" } else { "inet" });
                format!(
                    "{{\"table\":{},\"family\":{family},\"defaults\":[{}]}}",
                    json_str(&table_name(*t)),
                    rs.join(",")
                )
            })
            .collect();
        let targets: Vec<String> = self
            .primary_targets
            .iter()
            .map(|(ip, st)| format!("{{\"ip\":{},{}}}", json_str(&ip.to_string()), health_json(st)))
            .collect();
        let mut tunnel_health =
            self.tunnel.as_ref().map_or("\"rtt_ms\":null,\"loss_pct\":null".to_string(), health_json);
        if !self.tunnels.is_empty() {
            let each: Vec<String> = self.tunnels.iter().map(|t| json_str(t)).collect();
            tunnel_health.push_str(&format!(",\"tunnels\":[{}]", each.join(",")));
        }
        let rules: Vec<String> = self.rules.iter().map(|r| json_str(r)).collect();
        let events: Vec<String> = self
            .events
            .iter()
            .map(|e| {
                format!(
                    "{{\"at_unix_s\":{},\"event\":{},\"reason\":{}}}",
                    e.at_unix_s,
                    json_str(&e.event),
                    json_str(&e.reason)
                )
            })
            .collect();
        format!(
            "{{\"mode\":{},\"target\":{},\"mode_since_unix_s\":{},\"activations\":{},\"deactivations\":{},\"last_switch_ms\":{},\"primary\":{{\"dev\":{},\"healthy\":{},\"detail\":{},\"failback_in_s\":{},\"targets\":[{}],\"quality\":{}}},\"tunnel\":{{\"iface\":{},\"backend\":{},\"up\":{},\"handshake_age_s\":{},\"error\":{},\"peer_ip6\":{},\"endpoint\":{},{}}},\"backup\":{{\"dev\":{},\"checked\":{},\"up\":{},\"since_unix_s\":{}}},\"tables\":[{}],\"rules\":[{}],\"events\":[{}],\"outage_bytes\":{},\"outage_s_total\":{},\"bytes_total\":{},\"history\":{},\"budget\":{}}}",
            json_str(if self.failsafe { "failsafe" } else { "normal" }),
            // Where traffic goes only means something while the failsafe is on.
            if self.failsafe { json_str(&self.target.to_string()) } else { "null".to_string() },
            opt_u64((self.mode_since_unix_s > 0).then_some(self.mode_since_unix_s)),
            self.activations,
            self.deactivations,
            self.last_switch_ms,
            json_str(&self.primary_dev),
            self.primary_healthy,
            json_str(&self.primary_detail),
            opt_u64(self.failback_in_s),
            targets.join(","),
            self.quality.as_ref().map_or("null".to_string(), QualitySeen::json),
            json_str(&self.tunnel_iface),
            json_str(&self.backend),
            self.tunnel_up,
            opt_u64(self.handshake.secs()),
            self.tunnel_error.as_deref().map_or("null".to_string(), json_str),
            self.peer_ip6.map_or("null".to_string(), |ip| json_str(&ip.to_string())),
            self.endpoint.as_ref().map_or("null".to_string(), NameSeen::json),
            tunnel_health,
            json_str(&self.backup_dev),
            self.backup_checked,
            self.backup.map_or("null".to_string(), |(down, _)| (!down).to_string()),
            opt_u64(self.backup.map(|(_, since)| since)),
            tables.join(","),
            rules.join(","),
            events.join(","),
            self.traffic_json(),
            self.outage_s_total,
            bytes_json(self.bytes_total),
            self.history.as_ref().map_or("null".to_string(), history_json),
            self.budget.map_or("null".to_string(), |(mb, b)| format!(
                "{{\"mb\":{mb},\"period_start_unix_s\":{},\"used_bytes\":{},\"used_pct\":{}}}",
                b.period.start_unix_s,
                b.used_bytes,
                b.used_pct(mb * 1_000_000)
            ))
        )
    }
}

/// `{"start_unix_s":…,"end_unix_s":…,"duration_s":…,"target":…,"rx":…,"tx":…,"reason":…}`.
fn outage_json(o: &Outage) -> String {
    format!(
        "{{\"start_unix_s\":{},\"end_unix_s\":{},\"duration_s\":{},\"target\":{},\"rx\":{},\"tx\":{},\"reason\":{}}}",
        o.start_unix_s,
        o.end_unix_s,
        o.duration_s(),
        json_str(&o.target),
        o.bytes.rx,
        o.bytes.tx,
        json_str(&o.reason)
    )
}

/// HISTORY_FILE as `status --json` carries it: `{"last":[…],"last_30_days":{…},"error":…}`.
fn history_json(h: &Shown) -> String {
    let last: Vec<String> = h.last.iter().map(outage_json).collect();
    format!(
        "{{\"last\":[{}],\"last_30_days\":{},\"error\":{}}}",
        last.join(","),
        h.days30.to_json(),
        h.error.as_deref().map_or("null".to_string(), json_str)
    )
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
