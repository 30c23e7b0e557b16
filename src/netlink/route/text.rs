//! A route's text form, in `ip route` words: what `Display` prints and `FromStr` reads
//! back. The snapshot file, the journal and `--dry-run` use it, so a route written is
//! the route read, and an operator can type the same words to `ip route`.
//!
//! The names below are iproute2's (`/etc/iproute2/rt_*` defaults); a value without one is
//! written as its number, as `ip` does.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::{NextHop, Route, DEFAULT, RTNH_F_ONLINK, RTNH_F_PERVASIVE, RTN_UNICAST, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN};

const KINDS: [(u8, &str); 11] = [
    (1, "unicast"),
    (2, "local"),
    (3, "broadcast"),
    (4, "anycast"),
    (5, "multicast"),
    (6, "blackhole"),
    (7, "unreachable"),
    (8, "prohibit"),
    (9, "throw"),
    (10, "nat"),
    (11, "xresolve"),
];

const PROTOCOLS: [(u8, &str); 16] = [
    (0, "unspec"),
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (9, "ra"),
    (11, "zebra"),
    (12, "bird"),
    (16, "dhcp"),
    (18, "keepalived"),
    (42, "babel"),
    (186, "bgp"),
    (187, "isis"),
    (188, "ospf"),
    (189, "rip"),
    (192, "eigrp"),
];

/// RTA_PREF values (RFC 4191).
const PREFS: [(u8, &str); 3] = [(0, "medium"), (1, "high"), (3, "low")];

const SCOPES: [(u8, &str); 5] = [(0, "global"), (200, "site"), (253, "link"), (254, "host"), (255, "nowhere")];

const TABLES: [(u32, &str); 3] = [(253, "default"), (254, "main"), (255, "local")];

const METRICS: [(u16, &str); 16] = [
    (1, "lock"),
    (2, "mtu"),
    (3, "window"),
    (4, "rtt"),
    (5, "rttvar"),
    (6, "ssthresh"),
    (7, "cwnd"),
    (8, "advmss"),
    (9, "reordering"),
    (10, "hoplimit"),
    (11, "initcwnd"),
    (12, "features"),
    (13, "rto_min"),
    (14, "initrwnd"),
    (15, "quickack"),
    (17, "fastopen_no_cookie"),
];

fn name_of<K: PartialEq + Copy + fmt::Display>(table: &[(K, &str)], k: K) -> String {
    table.iter().find(|(n, _)| *n == k).map_or_else(|| k.to_string(), |(_, s)| s.to_string())
}

fn value_of<K: std::str::FromStr + Copy>(table: &[(K, &str)], word: &str) -> Option<K> {
    table.iter().find(|(_, s)| *s == word).map(|(n, _)| *n).or_else(|| word.parse().ok())
}

/// The name `ip` uses for a table.
pub fn table_name(t: u32) -> String {
    name_of(&TABLES, t)
}

/// Parses a table name or number.
pub fn parse_table(word: &str) -> Option<u32> {
    value_of(&TABLES, word)
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != RTN_UNICAST {
            write!(f, "{} ", name_of(&KINDS, self.kind))?;
        }
        // `default` is IPv4's; IPv6's is written `::/0`, so that the text says its family
        // (as `ip route add ::/0 …` does).
        match (self.dst.len, self.is_v6()) {
            (0, false) => f.write_str("default")?,
            (32, false) | (128, true) => write!(f, "{}", self.dst.addr)?,
            _ => write!(f, "{}", self.dst)?,
        }
        if self.tos != 0 {
            write!(f, " tos 0x{:02x}", self.tos)?;
        }
        if let Some(id) = self.nhid {
            write!(f, " nhid {id}")?;
        }
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        write!(f, " table {} proto {}", table_name(self.table), name_of(&PROTOCOLS, self.protocol))?;
        if self.scope != RT_SCOPE_UNIVERSE {
            write!(f, " scope {}", name_of(&SCOPES, self.scope))?;
        }
        if let Some(src) = self.prefsrc {
            write!(f, " src {src}")?;
        }
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        if let Some(realm) = self.realm {
            write!(f, " realm {realm}")?;
        }
        write_flags(f, self.flags)?;
        for (k, v) in &self.metrics {
            write!(f, " {} {v}", name_of(&METRICS, *k))?;
        }
        if self.pref != 0 {
            write!(f, " pref {}", name_of(&PREFS, self.pref))?;
        }
        if self.expires {
            f.write_str(" expires")?;
        }
        for nh in &self.nexthops {
            f.write_str(" nexthop")?;
            if let Some(gw) = nh.gateway {
                write!(f, " via {gw}")?;
            }
            if let Some(d) = &nh.dev {
                write!(f, " dev {d}")?;
            }
            write!(f, " weight {}", nh.weight)?;
            if let Some(realm) = nh.realm {
                write!(f, " realm {realm}")?;
            }
            write_flags(f, nh.flags)?;
        }
        Ok(())
    }
}

fn write_flags(f: &mut fmt::Formatter<'_>, flags: u32) -> fmt::Result {
    if flags & RTNH_F_ONLINK != 0 {
        f.write_str(" onlink")?;
    }
    if flags & RTNH_F_PERVASIVE != 0 {
        f.write_str(" pervasive")?;
    }
    Ok(())
}

impl std::str::FromStr for Route {
    type Err = String;

    /// Parses what `Display` prints.
    fn from_str(s: &str) -> Result<Route, String> {
        let mut words = s.split_whitespace().peekable();
        let mut r = Route::via(RT_TABLE_MAIN, DEFAULT, Ipv4Addr::UNSPECIFIED, "", 0);
        r.gateway = None;
        r.dev = None;
        r.protocol = 3; // what `ip route add` uses when no proto is given
        let first = words.next().ok_or("empty route")?;
        // A type the table does not name is written as its number (as `ip` does); no
        // destination is a bare number.
        let dst_word = match value_of(&KINDS, first) {
            Some(kind) => {
                r.kind = kind;
                words.next().ok_or("missing destination")?
            }
            None => first,
        };
        r.dst = if dst_word == "default" { DEFAULT } else { dst_word.parse()? };
        let v6 = r.dst.is_v6();
        // Every address of a route is of its destination's family.
        let addr = |what: &str, w: &str| -> Result<IpAddr, String> {
            w.parse::<IpAddr>().ok().filter(|a| a.is_ipv6() == v6).ok_or_else(|| format!("invalid {what} `{w}`"))
        };
        let bad = |what: &str, w: &str| format!("invalid {what} `{w}`");
        // The next hop being filled in, once `nexthop` has been seen.
        let mut hop: Option<NextHop> = None;
        while let Some(w) = words.next() {
            let mut arg = |what: &str| words.next().ok_or_else(|| format!("missing value after `{what}`"));
            let in_hop = hop.is_some();
            // The words a next hop shares with the route set the hop's fields once
            // `nexthop` has been seen, else the route's.
            let (gateway, dev, realm, flags) = match hop.as_mut() {
                Some(h) => (&mut h.gateway, &mut h.dev, &mut h.realm, &mut h.flags),
                None => (&mut r.gateway, &mut r.dev, &mut r.realm, &mut r.flags),
            };
            match (w, in_hop) {
                ("nexthop", _) => {
                    if let Some(h) = hop.take() {
                        r.nexthops.push(h);
                    }
                    hop = Some(NextHop { gateway: None, dev: None, weight: 1, flags: 0, realm: None });
                }
                ("via", _) => *gateway = Some(addr("gateway", arg(w)?)?),
                ("dev", _) => *dev = Some(arg(w)?.to_string()),
                ("realm", _) => *realm = Some(arg(w)?.parse().map_err(|_| bad("realm", w))?),
                ("onlink", _) => *flags |= RTNH_F_ONLINK,
                ("pervasive", _) => *flags |= RTNH_F_PERVASIVE,
                ("weight", true) => {
                    let v = arg(w)?;
                    let weight = v.parse().ok().filter(|n| (1..=256).contains(n)).ok_or_else(|| bad("weight", v))?;
                    if let Some(h) = hop.as_mut() {
                        h.weight = weight;
                    }
                }
                (_, true) => return Err(format!("unexpected `{w}` in a nexthop")),
                ("tos", false) => {
                    let v = arg(w)?;
                    r.tos = u8::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|_| bad("tos", v))?
                }
                ("nhid", false) => r.nhid = Some(arg(w)?.parse().map_err(|_| bad("nhid", w))?),
                ("table", false) => {
                    let v = arg(w)?;
                    r.table = parse_table(v).ok_or_else(|| bad("table", v))?
                }
                ("proto", false) => {
                    let v = arg(w)?;
                    r.protocol = value_of(&PROTOCOLS, v).ok_or_else(|| bad("proto", v))?
                }
                ("scope", false) => {
                    let v = arg(w)?;
                    r.scope = value_of(&SCOPES, v).ok_or_else(|| bad("scope", v))?
                }
                ("src", false) => r.prefsrc = Some(addr("src", arg(w)?)?),
                ("pref", false) => {
                    let v = arg(w)?;
                    r.pref = value_of(&PREFS, v).ok_or_else(|| bad("pref", v))?
                }
                ("expires", false) => r.expires = true,
                ("metric", false) => {
                    let v = arg(w)?;
                    r.metric = v.parse().map_err(|_| bad("metric", v))?
                }
                (name, false) => {
                    let kind = value_of(&METRICS, name).ok_or_else(|| format!("unknown word `{name}`"))?;
                    let v = arg(name)?;
                    r.metrics.push((kind, v.parse().map_err(|_| bad(name, v))?));
                }
            }
        }
        if let Some(h) = hop {
            r.nexthops.push(h);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_word() {
        let e = |s: &str| s.parse::<Route>().expect_err("must fail");
        assert_eq!(e("default via nowhere"), "invalid gateway `nowhere`");
        assert_eq!(e("default frobnicate 3"), "unknown word `frobnicate`");
        assert_eq!(e("default metric"), "missing value after `metric`");
        assert_eq!(e(""), "empty route");
    }
}
