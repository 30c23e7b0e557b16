//! `status --json`: the JSON of what `status` gathered (the fields are listed in README).
//! Written as it goes by [`Json`], field after field, in the order README lists them.

use std::fmt::Write;

use super::*;

/// A JSON text written in order: a key, then its value (a string, a number, an object
/// or a list opened and closed). The writer puts the commas in: before a key or a list's
/// element that follows another.
pub struct Json(String);

impl Json {
    pub fn new() -> Json {
        Json(String::new())
    }

    pub fn finish(self) -> String {
        self.0
    }

    /// A comma, unless this is the first key of an object, the first element of a list,
    /// or the value after a key.
    fn comma(&mut self) {
        if !matches!(self.0.as_bytes().last(), None | Some(b'{' | b'[' | b':')) {
            self.0.push(',');
        }
    }

    /// `"key":` (keys are ours: plain words, nothing to escape).
    pub fn key(&mut self, key: &str) -> &mut Json {
        self.comma();
        self.0.push('"');
        self.0.push_str(key);
        self.0.push_str("\":");
        self
    }

    /// Opens an object (as a value, or as a list's element).
    pub fn open(&mut self) -> &mut Json {
        self.raw("{")
    }

    pub fn close(&mut self) -> &mut Json {
        self.0.push('}');
        self
    }

    pub fn open_list(&mut self) -> &mut Json {
        self.raw("[")
    }

    pub fn close_list(&mut self) -> &mut Json {
        self.0.push(']');
        self
    }

    /// A value written as it is: a number already in JSON's words, `true`, `null`…
    pub fn raw(&mut self, value: &str) -> &mut Json {
        self.comma();
        self.0.push_str(value);
        self
    }

    pub fn null(&mut self) -> &mut Json {
        self.raw("null")
    }

    pub fn bool(&mut self, b: bool) -> &mut Json {
        self.raw(if b { "true" } else { "false" })
    }

    pub fn num(&mut self, n: u64) -> &mut Json {
        self.comma();
        let _ = write!(self.0, "{n}");
        self
    }

    pub fn int(&mut self, n: i64) -> &mut Json {
        self.comma();
        let _ = write!(self.0, "{n}");
        self
    }

    pub fn opt_num(&mut self, n: Option<u64>) -> &mut Json {
        match n {
            Some(n) => self.num(n),
            None => self.null(),
        }
    }

    /// A string literal, escaped.
    pub fn str(&mut self, s: &str) -> &mut Json {
        self.comma();
        self.0.push('"');
        for c in s.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", c as u32);
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
        self
    }

    pub fn opt_str(&mut self, s: Option<&str>) -> &mut Json {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    /// A value's text as a string literal (an address, a route).
    pub fn text(&mut self, value: &dyn std::fmt::Display) -> &mut Json {
        self.str(&value.to_string())
    }

    /// One target's round: `"rtt_ms":1.234,"loss_pct":0` (`null`s for none).
    fn health(&mut self, s: Option<&Stats>) {
        match s.and_then(Stats::rtt_us) {
            Some(us) => self.key("rtt_ms").raw(&crate::decimal::ms_3(us)),
            None => self.key("rtt_ms").null(),
        };
        self.key("loss_pct");
        match s {
            Some(s) => self.num(u64::from(s.loss_pct())),
            None => self.null(),
        };
    }

    /// `{"rx":1,"tx":2}`.
    fn bytes(&mut self, b: Bytes) {
        self.open().key("rx").num(b.rx).key("tx").num(b.tx).close();
    }
}

impl Default for Json {
    fn default() -> Json {
        Json::new()
    }
}

impl Status {
    /// `{"current":true,"rx":…,"tx":…,"tunnel":{…},"backup":{…}}`, or `null`.
    fn traffic_json(&self, j: &mut Json) {
        let Some((_, t)) = self.outage_traffic() else {
            j.null();
            return;
        };
        j.open().key("current").bool(self.failsafe);
        j.key("rx").num(t.total().rx).key("tx").num(t.total().tx);
        j.key("tunnel").bytes(t.tunnel);
        j.key("backup").bytes(t.backup);
        j.close();
    }

    pub fn to_json(&self) -> String {
        let mut j = Json::new();
        j.open().key("mode").str(if self.failsafe { "failsafe" } else { "normal" });
        // Where traffic goes only means something while the failsafe is on.
        match self.failsafe {
            true => j.key("target").text(&self.target),
            false => j.key("target").null(),
        };
        j.key("mode_since_unix_s").opt_num((self.mode_since_unix_s > 0).then_some(self.mode_since_unix_s));
        j.key("activations").num(self.activations);
        j.key("deactivations").num(self.deactivations);
        j.key("last_switch_ms").num(self.last_switch_ms);
        j.key("primary").open().key("dev").str(&self.primary_dev);
        j.key("healthy").bool(self.primary_healthy).key("detail").str(&self.primary_detail);
        j.key("failback_in_s").opt_num(self.failback_in_s);
        j.key("targets").open_list();
        for (ip, st) in &self.primary_targets {
            j.open().key("ip").text(ip).health(Some(st));
            j.close();
        }
        j.close_list().key("quality");
        match &self.quality {
            Some(q) => q.write_json(&mut j),
            None => {
                j.null();
            }
        }
        j.close().key("tunnel").open().key("iface").str(&self.tunnel_iface);
        j.key("backend").str(&self.backend).key("up").bool(self.tunnel_up);
        j.key("handshake_age_s").opt_num(self.handshake.secs());
        j.key("error").opt_str(self.tunnel_error.as_deref());
        match self.peer_ip6 {
            Some(ip) => j.key("peer_ip6").text(&ip),
            None => j.key("peer_ip6").null(),
        };
        j.key("endpoint");
        match &self.endpoint {
            Some(e) => e.write_json(&mut j),
            None => {
                j.null();
            }
        }
        j.health(self.tunnel.as_ref());
        if !self.tunnels.is_empty() {
            j.key("tunnels").open_list();
            for t in &self.tunnels {
                j.str(t);
            }
            j.close_list();
        }
        j.close().key("backup").open().key("dev").str(&self.backup_dev);
        j.key("checked").bool(self.backup_checked).key("up");
        match self.backup {
            Some((down, _)) => j.bool(!down),
            None => j.null(),
        };
        j.key("since_unix_s").opt_num(self.backup.map(|(_, since)| since));
        j.close().key("tables").open_list();
        for (v6, t, routes) in &self.tables {
            j.open().key("table").str(&table_name(*t)).key("family").str(if *v6 { "inet6" } else { "inet" });
            j.key("defaults").open_list();
            for r in routes {
                j.text(r);
            }
            j.close_list().close();
        }
        j.close_list().key("rules").open_list();
        for r in &self.rules {
            j.str(r);
        }
        j.close_list().key("events").open_list();
        for e in &self.events {
            j.open().key("at_unix_s").num(e.at_unix_s).key("event").str(&e.event).key("reason").str(&e.reason);
            j.close();
        }
        j.close_list().key("outage_bytes");
        self.traffic_json(&mut j);
        j.key("outage_s_total").num(self.outage_s_total);
        j.key("bytes_total").bytes(self.bytes_total);
        j.key("history");
        match &self.history {
            Some(h) => history_json(&mut j, h),
            None => {
                j.null();
            }
        }
        j.key("budget");
        match self.budget {
            Some((mb, b)) => {
                j.open().key("mb").num(mb).key("period_start_unix_s").num(b.period.start_unix_s);
                j.key("used_bytes").num(b.used_bytes).key("used_pct").num(b.used_pct(mb * 1_000_000));
                j.close()
            }
            None => j.null(),
        };
        j.close();
        j.finish()
    }
}

/// HISTORY_FILE as `status --json` carries it: `{"last":[…],"last_30_days":{…},"error":…}`,
/// each outage `{"start_unix_s":…,"end_unix_s":…,"duration_s":…,"target":…,"rx":…,"tx":…,"reason":…}`.
fn history_json(j: &mut Json, h: &Shown) {
    j.open().key("last").open_list();
    for o in &h.last {
        j.open().key("start_unix_s").num(o.start_unix_s).key("end_unix_s").num(o.end_unix_s);
        j.key("duration_s").num(o.duration_s()).key("target").str(&o.target);
        j.key("rx").num(o.bytes.rx).key("tx").num(o.bytes.tx).key("reason").str(&o.reason);
        j.close();
    }
    j.close_list().key("last_30_days").raw(&h.days30.to_json());
    j.key("error").opt_str(h.error.as_deref()).close();
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut j = Json::new();
    j.str(s);
    j.finish()
}
