//! The checks of single values: numbers in a range, addresses, interface names, prefixes,
//! paths, lists — each returns the value or says what is wrong with it, for the key the
//! reader names.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::super::{Gateway, Ipv4Net, Prefix};

/// A number within `min..=max`. Every numeric key is unsigned, so one function reads them
/// all as u64 (a caller's type holds its `max`): the values and errors of parsing each
/// type, without a copy per type.
pub(in crate::config) fn in_range(v: &str, min: u64, max: u64) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        // Digits alone, past u64: out of range too.
        Err(_) if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) => Err(format!("`{v}` is not a number")),
        _ => Err(format!("`{v}` is out of range ({min}..={max})")),
    }
}

/// WG_ENDPOINT_PORT: a UDP port.
pub(in crate::config) fn port(v: &str) -> Result<u16, String> {
    in_range(v, 1, u16::MAX.into()).map(|n| n as u16)
}

/// The most TRACK_IPS a round probes (each one costs PROBE_COUNT echoes at worst).
pub const MAX_TRACK_IPS: usize = 16;

/// POLICY_TABLES: `auto` (`None`), or table numbers; never `local` or `default`.
pub(in crate::config) fn policy_tables(v: &str) -> Result<Option<Vec<u32>>, String> {
    if v == "auto" {
        return Ok(None);
    }
    let mut tables = Vec::new();
    for t in list(v) {
        match t.parse::<u32>() {
            Ok(n) if (1..=u32::MAX).contains(&n) && !matches!(n, 253 | 255) => tables.push(n),
            _ => return Err(format!("`{t}` is not a routing table number (1-4294967295, not 253 or 255)")),
        }
    }
    Ok(Some(tables))
}

/// TRACK_IPS: addresses a probe can reach, each once, at most [`MAX_TRACK_IPS`].
pub(in crate::config) fn track_ips(v: &str) -> Result<Vec<Ipv4Addr>, String> {
    let mut ips: Vec<Ipv4Addr> = Vec::new();
    for item in list(v) {
        let ip = ipv4(item)?;
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
            return Err(format!("`{item}` cannot be probed (unspecified, loopback, multicast or broadcast)"));
        }
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    if ips.len() > MAX_TRACK_IPS {
        return Err(format!("at most {MAX_TRACK_IPS} addresses"));
    }
    Ok(ips)
}

pub(in crate::config) fn gateway(v: &str) -> Result<Gateway, String> {
    match v {
        "auto" => Ok(Gateway::Auto),
        _ => v.parse().map(Gateway::Static).map_err(|_| format!("`{v}` is not an IPv4 address or auto")),
    }
}

pub(in crate::config) fn ipv4(v: &str) -> Result<Ipv4Addr, String> {
    v.parse().map_err(|_| format!("`{v}` is not an IPv4 address"))
}

/// WG_PEER_IP: an IPv4 address that can be a tunnel's peer (see [`peer_ip_refused`]).
pub(in crate::config) fn peer_ip(v: &str) -> Result<Ipv4Addr, String> {
    let ip = ipv4(v)?;
    match peer_ip_refused(ip) {
        Some(why) => Err(format!("`{v}` {why}")),
        None => Ok(ip),
    }
}

/// Why `ip` cannot be a tunnel's peer on any interface, if it cannot: the one check the
/// parser makes of WG_PEER_IP and `init` of `--peer-ip`.
pub fn peer_ip_refused(ip: Ipv4Addr) -> Option<&'static str> {
    (ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback())
        .then_some("cannot be a tunnel's peer (unspecified, loopback, multicast or broadcast)")
}

/// A Linux interface name: 1 to 15 bytes, no `/`, `:` or whitespace.
pub(in crate::config) fn iface(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 15
        && v != "."
        && v != ".."
        && !v.contains(|c: char| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!("`{v}` is not a valid interface name (1-15 characters, no / : or spaces)"))
    }
}

/// HISTORY_FILE: empty (none), or an absolute path to a file.
pub(in crate::config) fn history_file(v: &str) -> Result<Option<PathBuf>, String> {
    match v {
        "" => Ok(None),
        v if v.ends_with('/') => Err(format!("`{v}` names a directory, not a file")),
        v => absolute_path(v).map(Some),
    }
}

/// BACKUP_BUDGET_ACTION: `exclude` (true) or `warn`.
pub(in crate::config) fn budget_action(v: &str) -> Result<bool, String> {
    match v {
        "warn" => Ok(false),
        "exclude" => Ok(true),
        _ => Err(format!("`{v}` is not warn or exclude")),
    }
}

/// BACKUP_BUDGET_MB: empty (none), or megabytes.
pub(in crate::config) fn budget_mb(v: &str) -> Result<Option<u64>, String> {
    match v.parse::<u64>() {
        _ if v.is_empty() => Ok(None),
        Ok(n) if (1..=1_000_000_000).contains(&n) => Ok(Some(n)),
        _ => Err(format!("`{v}` is not a number of megabytes (1..=1000000000)")),
    }
}

/// BACKUP_BUDGET_PERIOD: `month:DAY`, the day of the month a period starts.
pub(in crate::config) fn budget_period(v: &str) -> Result<u32, String> {
    match v.strip_prefix("month:").map(str::parse::<u32>) {
        Some(Ok(d)) if (1..=31).contains(&d) => Ok(d),
        _ => Err(format!("`{v}` is not month:DAY (the day of the month a period starts, 1-31)")),
    }
}

/// BACKUP_EXCLUDE and LAN_KEEP: IPv4 or IPv6 addresses or prefixes, never `/0` (that
/// they lie in LAN_SUBNET or LAN_SUBNET6 is checked across keys).
pub(in crate::config) fn lan_hosts(v: &str) -> Result<Vec<Prefix>, String> {
    let mut nets: Vec<Prefix> = Vec::new();
    for item in list(v) {
        let net: Prefix = item.parse()?;
        if net.len == 0 {
            return Err(format!("`{item}` is a /0, every host: FALLBACK=none keeps the LAN off the backup"));
        }
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    Ok(nets)
}

pub(in crate::config) fn absolute_path(v: &str) -> Result<PathBuf, String> {
    if v.starts_with('/') {
        Ok(PathBuf::from(v))
    } else {
        Err(format!("`{v}` is not an absolute path"))
    }
}

pub(in crate::config) fn auto_off(v: &str) -> Result<bool, String> {
    match v {
        "auto" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("`{v}` is not auto or off")),
    }
}

/// Items of a space- or comma-separated list.
pub(in crate::config) fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty())
}

pub(in crate::config) fn subnets(v: &str) -> Result<Vec<Ipv4Net>, String> {
    let mut nets: Vec<Ipv4Net> = Vec::new();
    for item in list(v) {
        let net: Ipv4Net = item.parse()?;
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    if nets.is_empty() {
        return Err("no subnet given".into());
    }
    Ok(nets)
}

pub(in crate::config) fn subnets6(v: &str) -> Result<Vec<Prefix>, String> {
    let mut nets: Vec<Prefix> = Vec::new();
    for item in list(v) {
        let net: Prefix = item.parse()?;
        if !net.is_v6() {
            return Err(format!("`{item}` is not an IPv6 prefix"));
        }
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    Ok(nets)
}

pub(in crate::config) fn dns_name(v: &str) -> Result<String, String> {
    let name = v.strip_suffix('.').unwrap_or(v);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!("`{v}` is not a valid DNS name"))
    }
}
