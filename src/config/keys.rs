//! The `KEY=VALUE` reader: the lines of a configuration file, every key it may hold with
//! its default and the check of its value, and the checks across keys, turned into a
//! [`Config`] or the first error (naming file, line and key).
//!
//! Pure: text in, config out, so every error kind is unit-tested without root.

use std::cell::Cell;
use std::path::Path;

use super::endpoint::{endpoint, resolvers};
use super::{seed, BackendChoice, Config, ConfigError, Fallback, Prefix, Quality};

// Issue 18: the quality keys' checks.
mod quality;
mod values;
pub(super) use values::*;
pub use values::{peer_ip_refused, MAX_TRACK_IPS};

/// One key's value and the line it came from.
pub(super) struct Entry {
    pub(super) value: String,
    pub(super) line: usize,
}

/// The entries of one file by key, in the order read. A file holds a few dozen keys at
/// most: a list searched in order costs less than hashing every key asked for (a third of
/// a healthy tick's instructions went to reading the file), and links no hash table.
#[derive(Default)]
pub(super) struct Entries(Vec<(&'static str, Entry)>);

impl Entries {
    pub(super) fn get(&self, key: &str) -> Option<&Entry> {
        self.0.iter().find(|(k, _)| same_key(k, key)).map(|(_, e)| e)
    }

    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `entry`, in place of the entry it had.
    pub(super) fn insert(&mut self, key: &'static str, entry: Entry) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = entry,
            None => self.0.push((key, entry)),
        }
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<Entry> {
        let at = self.0.iter().position(|(k, _)| *k == key)?;
        Some(self.0.remove(at).1)
    }
}

/// `a == b`, with the lengths compared in place: most keys asked for are not in the file,
/// and most of those differ in length from each entry, so the byte comparison (a call in
/// the size-optimised build) is skipped (11,500 of a healthy tick's instructions).
#[inline(always)]
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a == b
}

/// Parses the text of a configuration file. `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let err = |line: usize, message: String| ConfigError { path: path.to_path_buf(), line, message };
    // Room for a file's usual keys, so the list does not grow from empty (four
    // reallocations, 8,000 instructions of a healthy tick). Not room for every key: 3 KiB
    // is a size class of the allocator that nothing else in a tick uses, a slab of its own.
    let mut entries = Entries(Vec::with_capacity(ENTRIES_USUAL));
    // Unknown keys wait until the whole file is read: in the seed's file they are notes.
    let mut unknown: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, rest)) = line.split_once('=') else {
            return Err(err(line_no, "expected KEY=VALUE (the line itself is not shown)".into()));
        };
        let key = key.trim();
        let Some(&known) = KEYS.iter().chain(&seed::ONLY_KEYS).find(|k| same_key(k, key)) else {
            // A key is named only if it looks like one: the file may be anyone's.
            let plausible = !key.is_empty()
                && key.len() <= 32
                && key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            unknown.push((
                line_no,
                if plausible { format!("unknown key `{key}`") } else { "unknown key (not shown)".into() },
            ));
            continue;
        };
        let value = unquote(rest.trim()).map_err(|m| err(line_no, format!("{key}: {m}")))?;
        if let Some(first) = entries.get(known) {
            return Err(err(line_no, format!("{key} is set twice (first on line {})", first.line)));
        }
        entries.insert(known, Entry { value, line: line_no });
    }
    let mut notes = Vec::new();
    let seed_file = seed::is_seed_file(path, &entries);
    for (line, message) in unknown {
        if !seed_file {
            return Err(err(line, message));
        }
        notes.push(format!("line {line}: {message} ignored (the seed script's file: its keys are not all known here)"));
    }
    seed::port_alias(&mut entries).map_err(|(line, m)| err(line, m))?;
    notes.extend(seed::alert_note(&entries));
    let mut c = Fields { path, entries, failed: Cell::new(None) }.build()?;
    if c.backup_budget_mb.is_some() && c.history_file.is_none() {
        notes.push(
            "BACKUP_BUDGET_MB is set without HISTORY_FILE: the budget then counts only since boot \
             (STATE_DIR is in RAM); set HISTORY_FILE (e.g. under /config) for it to survive a reboot"
                .into(),
        );
    }
    c.notes = notes;
    Ok(c)
}

/// Keys a configuration file usually sets, at most (the lab's sets 18, the example 7): more
/// grow the list.
const ENTRIES_USUAL: usize = 32;

/// Every key the file may contain.
const KEYS: [&str; 61] = [
    "WG_IFACE",
    "WG_PEER_IP",
    "WG_ENDPOINT",
    "WG_ENDPOINT_DNS",
    "WG_ENDPOINT_PORT",
    "WG_PEER_KEY_FILE",
    "WG_KEEPALIVE",
    "WG_BACKEND",
    "HANDSHAKE_MAX_AGE",
    "TUNNEL_WAIT",
    "PRIMARY_DEV",
    "PRIMARY_GW",
    "BACKUP_DEV",
    "BACKUP_GW",
    "LAN_SUBNET",
    "LAN_SUBNET6",
    "WG_PEER_IP6",
    "LAN_RULE_PRIORITY",
    "LAN_DEV",
    "METRIC_WG",
    "METRIC_PRIMARY",
    "METRIC_BACKUP",
    "POLICY_TABLES",
    "PROBE_COUNT",
    "PROBE_TIMEOUT_MS",
    "LB_STATUS",
    "DNS_CHECK",
    "DNS_TEST_NAME",
    "DNS_RESTART_CMD",
    "STATE_DIR",
    "LOCK_FILE",
    "LOCK_TIMEOUT",
    "LOG_FILE",
    "LOG_MAX_KB",
    "TRACK_IPS",
    "TRACK_RELIABILITY",
    "PROBE_INTERVAL_MS",
    "DOWN_AFTER_MS",
    "UP_AFTER_S",
    "UP_AFTER_MAX_S",
    "FLAP_WINDOW_S",
    "FALLBACK",
    "ON_CHANGE",
    "HOOK_TIMEOUT_S",
    "BACKUP_CHECK",
    "BOOT_WAIT_S",
    "CONNTRACK_FLUSH",
    "HISTORY_FILE",
    "HISTORY_MAX_KB",
    "BACKUP_EXCLUDE",
    "BACKUP_BUDGET_MB",
    "BACKUP_BUDGET_PERIOD",
    "BACKUP_BUDGET_ACTION",
    "LAN_KEEP",
    // Issue 18: quality thresholds and the backup's internet.
    "LOSS_DOWN_PCT",
    "LATENCY_DOWN_MS",
    "LOSS_UP_PCT",
    "LATENCY_UP_MS",
    "QUALITY_WINDOW_S",
    "BACKUP_TRACK_IPS",
    "BACKUP_CHECK_INTERVAL_S",
];

/// A program and its arguments, split at white space: run without a shell, so the
/// program must be named by its absolute path (cron's PATH is not the owner's).
fn command(v: &str) -> Result<Vec<String>, String> {
    let words: Vec<String> = v.split_whitespace().map(String::from).collect();
    match words.first() {
        Some(p) if p.starts_with('/') => Ok(words),
        _ => Err(format!("`{v}` must start with an absolute program path (it runs without a shell)")),
    }
}

/// Removes one level of `"…"` or `'…'` quoting and a trailing `# comment`, as a shell
/// would for these simple values; nothing is expanded.
fn unquote(v: &str) -> Result<String, String> {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q) {
            let Some(end) = inner.find(q) else {
                return Err(format!("unterminated {q}quote"));
            };
            let after = inner[end + 1..].trim_start();
            if !after.is_empty() && !after.starts_with('#') {
                return Err(format!("unexpected text after the closing quote: `{after}`"));
            }
            let value = &inner[..end];
            if q == '"' && (value.contains('$') || value.contains('`')) {
                return Err("shell expansion ($ or `) is not supported".into());
            }
            return Ok(value.to_string());
        }
    }
    let value = match v.find(" #").or_else(|| v.find("\t#")) {
        Some(i) => v[..i].trim_end(),
        None => v,
    };
    if value.contains('$') || value.contains('`') {
        return Err("shell expansion ($ or `) is not supported".into());
    }
    Ok(value.to_string())
}

/// The entries of one file, turned into typed values key by key.
pub(super) struct Fields<'a> {
    path: &'a Path,
    entries: Entries,
    /// The first error met by [`Fields::build`], which reads on past it (see `fail`).
    failed: Cell<Option<ConfigError>>,
}

impl Fields<'_> {
    pub(super) fn error(&self, key: &str, message: String) -> ConfigError {
        let line = self.entries.get(key).map_or(0, |e| e.line);
        ConfigError { path: self.path.to_path_buf(), line, message: format!("{key}: {message}") }
    }

    /// The raw value, or `None` when the key is absent (an empty value counts as absent).
    pub(super) fn raw(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|e| e.value.as_str()).filter(|v| !v.is_empty())
    }

    /// `key`'s value read by `parse`; `default` when the key is absent, or when its value
    /// is wrong: the error is then kept if it is the first (see [`Fields::fail`]). One copy
    /// per type, not per key: `parse` is a plain function.
    pub(super) fn read<T>(&self, key: &str, default: T, parse: fn(&str) -> Result<T, String>) -> T {
        let Some(v) = self.raw(key) else { return default };
        match parse(v) {
            Ok(value) => value,
            Err(message) => {
                self.fail(key, message);
                default
            }
        }
    }

    /// As [`Fields::read`], with the default written as the file would give it and read by
    /// the same `parse` (a text costs less to pass than a `String` or a list built at
    /// every call). A wrong value gives `T::default()`, a placeholder.
    pub(super) fn read_or<T: Default>(&self, key: &str, default: &str, parse: fn(&str) -> Result<T, String>) -> T {
        match parse(self.raw(key).unwrap_or(default)) {
            Ok(value) => value,
            Err(message) => {
                self.fail(key, message);
                T::default()
            }
        }
    }

    /// As [`Fields::read`], for a key without a default: its absence is the error.
    pub(super) fn required<T: Default>(&self, key: &str, parse: fn(&str) -> Result<T, String>) -> T {
        self.require(key);
        self.read(key, T::default(), parse)
    }

    /// Keeps the error of a required `key` left out (or empty), if it is the first.
    pub(super) fn require(&self, key: &str) {
        if self.raw(key).is_none() {
            self.keep_first(ConfigError {
                path: self.path.to_path_buf(),
                line: 0,
                message: format!("{key} is required but not set"),
            });
        }
    }

    /// A whole number in `min..=max` (every numeric key is unsigned). Read as a u64 by
    /// one function, not one copy per type: the same values and errors as reading `T`.
    /// Every bound and default fits in a u32, which takes fewer registers in each call.
    fn number<T: TryFrom<u64> + Default>(&self, key: &str, default: u32, min: u32, max: u32) -> T {
        T::try_from(self.number_u64(key, default, min, max)).unwrap_or_default()
        // in range: `max` is a T
    }

    #[inline(never)]
    pub(super) fn number_u64(&self, key: &str, default: u32, min: u32, max: u32) -> u64 {
        let Some(v) = self.raw(key) else { return default.into() };
        match in_range(v, min.into(), max.into()) {
            Ok(n) => n,
            Err(message) => {
                self.fail(key, message);
                default.into()
            }
        }
    }

    /// Keeps `key`'s error `message` if it is the first. `build` reads every key this way
    /// and reports the first error at the end: the same error as stopping at it, but no
    /// `?` leaves a half-built `Config` to take apart at each of its fifty keys (that code
    /// was 8.6 KB of the mipsel binary), and no key's read builds a `ConfigError` of its own.
    #[inline(never)]
    pub(super) fn fail(&self, key: &str, message: String) {
        self.keep_first(self.error(key, message));
    }

    /// [`Fields::fail`] for an error made whole.
    #[inline(never)]
    fn keep_first(&self, e: ConfigError) {
        let first = self.failed.take().unwrap_or(e);
        self.failed.set(Some(first));
    }

    /// The first error kept by [`Fields::fail`], if any.
    pub(super) fn first_error(&self) -> Result<(), ConfigError> {
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn build(self) -> Result<Config, ConfigError> {
        let tunnels = self.tunnels()?;
        let first = &tunnels[0];
        let mut c = Config {
            path: self.path.to_path_buf(),
            wg_iface: first.iface.clone(),
            wg_peer_ip: first.peer_ip,
            wg_endpoint: first.endpoint.clone(),
            wg_endpoint_dns: self.read("WG_ENDPOINT_DNS", Vec::new(), resolvers),
            wg_endpoint_port: first.port,
            wg_peer_key_file: first.key_file.clone(),
            wg_keepalive_s: self.number("WG_KEEPALIVE", 25, 1, u16::MAX.into()),
            wg_backend: self.read("WG_BACKEND", BackendChoice::Auto, |v| match v {
                "auto" => Ok(BackendChoice::Auto),
                "kernel" => Ok(BackendChoice::Kernel),
                "uapi" => Ok(BackendChoice::Uapi),
                _ => Err(format!("`{v}` is not one of auto, kernel, uapi")),
            }),
            handshake_max_age_s: self.number("HANDSHAKE_MAX_AGE", 180, 1, 86_400),
            tunnel_wait_s: self.number("TUNNEL_WAIT", 20, 0, 600),
            primary_dev: self.required("PRIMARY_DEV", iface),
            primary_gw: self.required("PRIMARY_GW", gateway),
            backup_dev: self.required("BACKUP_DEV", iface),
            backup_gw: self.required("BACKUP_GW", gateway),
            lan_subnets: self.required("LAN_SUBNET", subnets),
            wg_peer_ip6: first.peer_ip6,
            lan_subnets6: self.read("LAN_SUBNET6", Vec::new(), subnets6),
            lan_rule_priority: self.number("LAN_RULE_PRIORITY", 69, 1, 32765),
            lan_dev: self.read_or("LAN_DEV", "switch0", iface),
            metric_wg: self.number("METRIC_WG", 40, 0, u32::MAX),
            metric_primary: self.number("METRIC_PRIMARY", 100, 0, u32::MAX),
            metric_backup: self.number("METRIC_BACKUP", 200, 10, u32::MAX),
            policy_tables: self.read("POLICY_TABLES", None, policy_tables),
            probe_count: self.number("PROBE_COUNT", 3, 1, 100),
            probe_timeout_ms: self.number("PROBE_TIMEOUT_MS", 1000, 10, 60_000),
            lb_status: self.read("LB_STATUS", true, auto_off),
            dns_check: self.read("DNS_CHECK", true, auto_off),
            dns_test_name: self.read_or("DNS_TEST_NAME", "google.com", dns_name),
            dns_restart_cmd: self.read_or("DNS_RESTART_CMD", "/etc/init.d/dnsmasq restart", command),
            state_dir: self.read_or("STATE_DIR", "/var/run/wg-failsafe", absolute_path),
            lock_file: self.read_or("LOCK_FILE", "/var/run/wg-failsafe.lock", absolute_path),
            lock_timeout_s: self.number("LOCK_TIMEOUT", 10, 0, 3600),
            log_file: self.read_or("LOG_FILE", "/var/log/wg-failsafe.log", absolute_path),
            log_max_kb: self.number("LOG_MAX_KB", 256, 1, 1 << 20),
            track_ips: self.read("TRACK_IPS", Vec::new(), track_ips),
            track_reliability: self.number("TRACK_RELIABILITY", 1, 1, MAX_TRACK_IPS as u32),
            // Down to 1 ms for soak tests; a router wants 200 to 1000.
            probe_interval_ms: self.number("PROBE_INTERVAL_MS", 500, 1, 60_000),
            down_after_ms: self.number("DOWN_AFTER_MS", 2000, 100, 600_000),
            up_after_s: self.number("UP_AFTER_S", 60, 0, 86_400),
            up_after_max_s: self.number("UP_AFTER_MAX_S", 900, 0, 86_400),
            flap_window_s: self.number("FLAP_WINDOW_S", 900, 0, 86_400),
            fallback: self.read("FALLBACK", Fallback::Backup, |v| match v {
                "backup" => Ok(Fallback::Backup),
                "none" => Ok(Fallback::None),
                _ => Err(format!("`{v}` is not backup or none")),
            }),
            on_change: self.read_or("ON_CHANGE", "", |v| if v.is_empty() { Ok(Vec::new()) } else { command(v) }),
            hook_timeout_s: self.number("HOOK_TIMEOUT_S", 10, 1, 3600),
            backup_check: self.read("BACKUP_CHECK", false, |v| match v {
                "on" => Ok(true),
                "off" => Ok(false),
                _ => Err(format!("`{v}` is not on or off")),
            }),
            boot_wait_s: self.number("BOOT_WAIT_S", 180, 0, 1_000_000_000),
            conntrack_flush: self.read("CONNTRACK_FLUSH", true, auto_off),
            history_file: self.read("HISTORY_FILE", None, history_file),
            history_max_kb: self.number("HISTORY_MAX_KB", 64, 1, 1 << 20),
            budget_exclude: self.read("BACKUP_BUDGET_ACTION", false, budget_action),
            lan_keep: self.read("LAN_KEEP", Vec::new(), lan_hosts),
            backup_budget_mb: self.read("BACKUP_BUDGET_MB", None, budget_mb),
            budget_day: self.read("BACKUP_BUDGET_PERIOD", 1, budget_period),
            backup_exclude: self.read("BACKUP_EXCLUDE", Vec::new(), lan_hosts),
            // Issue 18: quality thresholds and the backup's internet.
            quality: self.quality(),
            backup_track_ips: self.read("BACKUP_TRACK_IPS", Vec::new(), track_ips),
            backup_check_interval_s: self.number("BACKUP_CHECK_INTERVAL_S", 300, 10, 86_400),
            notes: Vec::new(),
            more_tunnels: Vec::new(),
        };
        self.first_error()?;
        // Each further tunnel is `c` with its own keys, cloned while `c` lists none.
        let mut more_tunnels = Vec::with_capacity(tunnels.len() - 1);
        for t in &tunnels[1..] {
            more_tunnels.push(c.with_tunnel(t));
        }
        c.more_tunnels = more_tunnels;
        self.check_across(&c)?;
        Ok(c)
    }

    /// The checks that involve more than one key, each error on the line of the key named.
    fn check_across(&self, c: &Config) -> Result<(), ConfigError> {
        if c.primary_dev == c.backup_dev {
            return Err(self.error("BACKUP_DEV", format!("is the same interface as PRIMARY_DEV ({})", c.primary_dev)));
        }
        for wg_iface in (0..c.tunnel_count()).map(|i| &c.tunnel(i).wg_iface) {
            if *wg_iface == c.primary_dev || *wg_iface == c.backup_dev {
                return Err(self.error("WG_IFACE", format!("`{wg_iface}` is also a WAN interface")));
            }
        }
        if !c.track_ips.is_empty() && c.track_reliability > c.track_ips.len() {
            return Err(self.error(
                "TRACK_RELIABILITY",
                format!("is {} but TRACK_IPS lists only {}", c.track_reliability, c.track_ips.len()),
            ));
        }
        if c.up_after_max_s < c.up_after_s {
            return Err(self.error("UP_AFTER_MAX_S", format!("is below UP_AFTER_S ({} s)", c.up_after_s)));
        }
        for (key, hosts) in [("BACKUP_EXCLUDE", &c.backup_exclude), ("LAN_KEEP", &c.lan_keep)] {
            let outside = |x: &&Prefix| match x.is_v6() {
                true => !c.lan_subnets6.iter().any(|n| n.contains(x)),
                false => !c.lan_subnets.iter().any(|n| Prefix::from(*n).contains(x)),
            };
            if let Some(x) = hosts.iter().find(outside) {
                let lan = if x.is_v6() { "LAN_SUBNET6" } else { "LAN_SUBNET" };
                return Err(self.error(key, format!("`{x}` is not inside {lan}")));
            }
        }
        // Issue 18: the quality keys and BACKUP_TRACK_IPS (keys/quality.rs).
        self.check_quality(c)?;
        if c.down_after_ms < c.probe_interval_ms {
            return Err(self.error(
                "DOWN_AFTER_MS",
                format!("is shorter than PROBE_INTERVAL_MS ({} ms): no round could pass", c.probe_interval_ms),
            ));
        }
        Ok(())
    }
}

/// The check [`parse`] applies to the value of `key`, for `init`'s options that give a
/// key's value on the command line (`--endpoint`, `--lan`, `--wg-iface`, `--peer-ip`): one
/// check, here, whichever way the value comes.
pub fn check_value(key: &str, v: &str) -> Result<(), String> {
    match key {
        "WG_IFACE" | "LAN_DEV" => iface(v).map(drop),
        "WG_PEER_IP" => peer_ip(v).map(drop),
        "WG_ENDPOINT" => endpoint(v).map(drop),
        "WG_ENDPOINT_PORT" => port(v).map(drop),
        "LAN_SUBNET" => subnets(v).map(drop),
        _ => Err(format!("{key}: no check for it here")),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::config::{Gateway, Ipv4Net};
    use std::net::Ipv4Addr;
    use std::path::PathBuf;

    /// The smallest valid file: every required key, nothing else.
    pub const MINIMAL: &str = "WG_PEER_IP=10.11.0.1\nWG_ENDPOINT=203.0.113.10\nPRIMARY_DEV=eth0\nPRIMARY_GW=192.168.1.1\nBACKUP_DEV=eth1\nBACKUP_GW=192.168.2.1\nLAN_SUBNET=192.168.10.0/24\n";

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("/etc/test.conf"), text)
    }

    /// BACKUP_BUDGET_MB without HISTORY_FILE: the budget counts only since boot (the
    /// record is in RAM), and the configuration says so (a note: logged once).
    #[test]
    fn a_budget_without_history_file_is_a_note() {
        let only = parse_str(&format!("BACKUP_BUDGET_MB=100\n{MINIMAL}")).expect("valid");
        assert_eq!(only.notes.len(), 1, "{:?}", only.notes);
        assert!(only.notes[0].contains("counts only since boot"), "{:?}", only.notes);
        let both = parse_str(&format!("BACKUP_BUDGET_MB=100\nHISTORY_FILE=/config/wgf-history\n{MINIMAL}"));
        assert_eq!(both.expect("valid").notes, Vec::<String>::new());
        assert!(parse_str(MINIMAL).expect("valid").notes.is_empty());
    }

    fn error_of(text: &str) -> String {
        parse_str(text).expect_err("config should be rejected").to_string()
    }

    #[test]
    fn minimal_config_gets_every_default() {
        let c = parse_str(MINIMAL).expect("minimal config parses");
        assert_eq!(c.wg_iface, "wg0");
        assert_eq!(c.wg_peer_ip, Ipv4Addr::new(10, 11, 0, 1));
        assert_eq!(c.wg_endpoint_port, 51820);
        assert_eq!(c.wg_peer_key_file, PathBuf::from("/config/auth/vps-peer-public.key"));
        assert_eq!(c.wg_keepalive_s, 25);
        assert_eq!(c.wg_backend, BackendChoice::Auto);
        assert_eq!((c.handshake_max_age_s, c.tunnel_wait_s), (180, 20));
        assert_eq!(c.lan_rule_priority, 69);
        assert_eq!(c.lan_dev, "switch0");
        assert_eq!((c.on_change.is_empty(), c.hook_timeout_s), (true, 10));
        let c = parse_str(&format!("ON_CHANGE=/usr/local/bin/notify --topic x\nON_CHANGE_UNUSED=\n{MINIMAL}"));
        assert!(c.is_err(), "an unknown key is still refused");
        let c = parse_str(&format!("ON_CHANGE=\"/usr/local/bin/notify --topic x\"\n{MINIMAL}")).expect("quoted");
        assert_eq!(c.on_change, ["/usr/local/bin/notify", "--topic", "x"]);
        assert_eq!((c.metric_wg, c.metric_primary, c.metric_backup), (40, 100, 200));
        assert_eq!(c.metric_endpoint(), 190);
        assert_eq!(c.policy_tables, None);
        assert_eq!((c.probe_count, c.probe_timeout_ms), (3, 1000));
        assert!(c.lb_status && c.dns_check && c.conntrack_flush);
        assert!(!parse_str(&format!("CONNTRACK_FLUSH=off\n{MINIMAL}")).expect("off").conntrack_flush);
        assert_eq!(c.dns_test_name, "google.com");
        assert_eq!(c.dns_restart_cmd, vec!["/etc/init.d/dnsmasq", "restart"]);
        assert_eq!(c.state_dir, PathBuf::from("/var/run/wg-failsafe"));
        assert_eq!(c.lock_file, PathBuf::from("/var/run/wg-failsafe.lock"));
        assert_eq!(c.lock_timeout_s, 10);
        assert_eq!(c.log_file, PathBuf::from("/var/log/wg-failsafe.log"));
        assert_eq!(c.log_max_kb, 256);
        assert_eq!((c.history_file.as_deref(), c.history_max_kb), (None, 64));
        assert!(c.backup_exclude.is_empty());
        assert_eq!((c.backup_budget_mb, c.budget_day, c.budget_exclude), (None, 1, false));
        assert!(c.lan_keep.is_empty());
        assert_eq!(
            (c.primary_gw, c.backup_gw),
            (Gateway::Static([192, 168, 1, 1].into()), Gateway::Static([192, 168, 2, 1].into()))
        );
        assert!(c.track_ips.is_empty());
        assert_eq!(c.track_reliability, 1);
        assert_eq!((c.probe_interval_ms, c.down_after_ms), (500, 2000));
        assert_eq!((c.up_after_s, c.up_after_max_s, c.flap_window_s), (60, 900, 900));
        assert_eq!(c.fallback, Fallback::Backup);
    }

    #[test]
    fn health_keys_and_auto_gateways() {
        let text = MINIMAL
            .replace("PRIMARY_GW=192.168.1.1", "PRIMARY_GW=auto")
            .replace("BACKUP_GW=192.168.2.1", "BACKUP_GW=auto")
            + "TRACK_IPS=1.1.1.1, 9.9.9.9 1.1.1.1\nTRACK_RELIABILITY=2\nUP_AFTER_S=0\nFALLBACK=none\n";
        let c = parse_str(&text).expect("valid");
        assert_eq!((c.primary_gw, c.backup_gw), (Gateway::Auto, Gateway::Auto));
        assert_eq!(c.track_ips, [Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(9, 9, 9, 9)]);
        assert_eq!((c.track_reliability, c.up_after_s, c.fallback), (2, 0, Fallback::None));
        assert_eq!(c.primary_gw.to_string(), "auto");
    }

    #[test]
    fn inconsistent_health_keys_are_refused() {
        let more = |extra: &str| error_of(&format!("{MINIMAL}{extra}"));
        assert_eq!(
            more("TRACK_IPS=1.1.1.1\nTRACK_RELIABILITY=2\n"),
            "/etc/test.conf:9: TRACK_RELIABILITY: is 2 but TRACK_IPS lists only 1"
        );
        assert_eq!(
            more("UP_AFTER_S=120\nUP_AFTER_MAX_S=60\n"),
            "/etc/test.conf:9: UP_AFTER_MAX_S: is below UP_AFTER_S (120 s)"
        );
        assert_eq!(
            more("PROBE_INTERVAL_MS=1000\nDOWN_AFTER_MS=500\n"),
            "/etc/test.conf:9: DOWN_AFTER_MS: is shorter than PROBE_INTERVAL_MS (1000 ms): no round could pass"
        );
    }

    /// Issue 18: off by default; an UP limit no looser than its DOWN limit, and only with
    /// it; an empty UP limit is the DOWN limit; BACKUP_TRACK_IPS need BACKUP_CHECK.
    #[test]
    fn quality_limits_and_backup_track_ips_are_checked_across_keys() {
        let off = parse_str(MINIMAL).expect("valid");
        assert_eq!(off.quality, Quality { window_s: 10, ..Quality::default() });
        assert!(!off.quality.on() && off.backup_track_ips.is_empty());
        assert_eq!(off.backup_check_interval_s, 300);
        let q = |extra: &str| parse_str(&format!("{MINIMAL}{extra}")).map(|c| c.quality);
        let set = q("LOSS_DOWN_PCT=20\nLOSS_UP_PCT=5\nLATENCY_DOWN_MS=900\nQUALITY_WINDOW_S=30\n").expect("valid");
        let want = Quality {
            loss_down_pct: Some(20),
            loss_up_pct: Some(5),
            latency_down_ms: Some(900),
            latency_up_ms: Some(900),
            window_s: 30,
        };
        assert_eq!(set, want);
        assert!(set.on());
        assert_eq!(q("LOSS_DOWN_PCT=10\nLOSS_UP_PCT=10\n").expect("equal limits: no hysteresis").loss_up_pct, Some(10));
        let more = |extra: &str| error_of(&format!("{MINIMAL}{extra}"));
        assert_eq!(
            more("LOSS_DOWN_PCT=10\nLOSS_UP_PCT=20\n"),
            "/etc/test.conf:9: LOSS_UP_PCT: is 20, looser than LOSS_DOWN_PCT (10): it must be 10 or less (hysteresis)"
        );
        assert_eq!(
            more("LATENCY_UP_MS=500\n"),
            "/etc/test.conf:8: LATENCY_UP_MS: is set but LATENCY_DOWN_MS is not (the UP limit is the stricter one)"
        );
        assert_eq!(
            more("LATENCY_DOWN_MS=1000\n"),
            "/etc/test.conf:8: LATENCY_DOWN_MS: is 1000 but PROBE_TIMEOUT_MS is 1000 ms: a later reply is a lost echo, so the limit must be below it"
        );
        assert_eq!(more("LOSS_DOWN_PCT=100\n"), "/etc/test.conf:8: LOSS_DOWN_PCT: `100` is out of range (0..=99)");
        assert_eq!(
            more("BACKUP_TRACK_IPS=1.1.1.1\n"),
            "/etc/test.conf:8: BACKUP_TRACK_IPS: is set but BACKUP_CHECK is not on"
        );
        let c = parse_str(&format!(
            "{MINIMAL}BACKUP_CHECK=on\nBACKUP_TRACK_IPS=1.1.1.1 9.9.9.9\nBACKUP_CHECK_INTERVAL_S=60\n"
        ))
        .expect("valid");
        assert_eq!((c.backup_track_ips.len(), c.backup_check_interval_s), (2, 60));
    }

    #[test]
    fn seed_style_file_with_quotes_and_comments_parses() {
        let text = "# WireGuard failsafe configuration\nWG_IFACE=\"wg0\"\nWG_PEER_IP=\"10.11.0.1\"   # VPS tunnel IP\nWG_ENDPOINT='203.0.113.10'\nPRIMARY_DEV=\"eth0\"\nPRIMARY_GW=\"192.168.1.1\"\nBACKUP_DEV=\"eth1\"\nBACKUP_GW=\"192.168.2.1\"\nLAN_SUBNET=\"192.168.10.0/24 192.168.20.0/24\"\n\nMETRIC_WG=40\nMETRIC_PRIMARY=100 # main\nMETRIC_BACKUP=200\n";
        let c = parse_str(text).expect("seed config parses");
        assert_eq!(c.wg_endpoint.addr(), Ipv4Addr::new(203, 0, 113, 10));
        assert_eq!(c.metric_primary, 100);
        assert_eq!(c.lan_subnets.len(), 2);
        assert_eq!(c.lan_subnets[1].to_string(), "192.168.20.0/24");
    }

    #[test]
    fn the_endpoint_is_an_address_or_a_host_name_and_a_bad_one_names_its_key_and_line() {
        let with = |v: &str| parse_str(&MINIMAL.replace("WG_ENDPOINT=203.0.113.10", &format!("WG_ENDPOINT={v}")));
        let c = with("VPS.Example-1.NET.").expect("a name");
        assert_eq!((c.wg_endpoint.name.as_deref(), c.wg_endpoint.known()), (Some("vps.example-1.net"), false));
        assert_eq!(c.wg_endpoint.to_string(), "vps.example-1.net (unresolved)");
        c.wg_endpoint.resolved_to(Ipv4Addr::new(198, 51, 100, 10));
        assert_eq!(c.wg_endpoint.to_string(), "vps.example-1.net (198.51.100.10)");
        let c = with("203.0.113.10").expect("an address");
        assert_eq!((c.wg_endpoint.name.as_deref(), c.wg_endpoint.addr()), (None, Ipv4Addr::new(203, 0, 113, 10)));
        // An address endpoint never changes, whatever is resolved.
        c.wg_endpoint.resolved_to(Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(c.wg_endpoint.addr(), Ipv4Addr::new(203, 0, 113, 10));
        let longest = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");
        assert_eq!(longest.len(), 253);
        assert!(with(&longest).is_ok());
        let too_long = format!("{longest}e");
        let label_64 = format!("{}.example.net", "a".repeat(64));
        for bad in [
            "-vps.example.net",
            "vps-.example.net",
            "vps..example.net",
            "vps_1.example.net",
            "203.0.113",
            "203.0.113.999",
            "vps.example.net:51820",
            "0.0.0.0",
            too_long.as_str(),
            label_64.as_str(),
        ] {
            let e = with(bad).expect_err(bad);
            assert_eq!(e.line, 2, "{bad}");
            assert!(e.message.starts_with("WG_ENDPOINT: "), "{bad}: {}", e.message);
        }
        let e = with("vps_1.example.net").expect_err("underscore");
        assert!(e.message.contains("neither an IPv4 address nor a host name (RFC 1123"), "{}", e.message);
        let e = parse_str(&format!("{MINIMAL}WG_ENDPOINT_DNS=203.0.113.53 vps\n")).expect_err("a name as resolver");
        assert_eq!((e.line, e.message.as_str()), (8, "WG_ENDPOINT_DNS: `vps` is not an IPv4 address"));
        let c = parse_str(&format!("{MINIMAL}WG_ENDPOINT_DNS=203.0.113.53, 192.0.2.53\n")).expect("two resolvers");
        assert_eq!(c.wg_endpoint_dns, [Ipv4Addr::new(203, 0, 113, 53), Ipv4Addr::new(192, 0, 2, 53)]);
    }

    #[test]
    fn lists_accept_commas_and_spaces_and_drop_duplicates() {
        let text = MINIMAL.replace(
            "LAN_SUBNET=192.168.10.0/24",
            "LAN_SUBNET=192.168.10.0/24, 10.0.0.0/8,192.168.10.0/24\nPOLICY_TABLES=201 202,10",
        );
        let c = parse_str(&text).expect("lists parse");
        assert_eq!(c.lan_subnets.iter().map(|n| n.to_string()).collect::<Vec<_>>(), ["192.168.10.0/24", "10.0.0.0/8"]);
        assert_eq!(c.policy_tables, Some(vec![201, 202, 10]));
    }

    #[test]
    fn every_error_names_file_line_and_key() {
        let cases: &[(&str, &str)] = &[
            ("FOO=1\n", "/etc/test.conf:1: unknown key `FOO`"),
            ("just words\n", "/etc/test.conf:1: expected KEY=VALUE (the line itself is not shown)"),
            ("root:$6$salt$hash:19000:0:99999:7:::\n", "/etc/test.conf:1: expected KEY=VALUE (the line itself is not shown)"),
            ("root:x=1\n", "/etc/test.conf:1: unknown key (not shown)"),
            ("METRIC_WG=forty\n", "/etc/test.conf:1: METRIC_WG: `forty` is not a number"),
            ("METRIC_BACKUP=5\n", "/etc/test.conf:1: METRIC_BACKUP: `5` is out of range (10..=4294967295)"),
            ("METRIC_WG=99999999999999999999\n", "/etc/test.conf:1: METRIC_WG: `99999999999999999999` is out of range (0..=4294967295)"),
            ("WG_ENDPOINT_PORT=70000\n", "/etc/test.conf:1: WG_ENDPOINT_PORT: `70000` is out of range (1..=65535)"),
            ("WG_BACKEND=magic\n", "/etc/test.conf:1: WG_BACKEND: `magic` is not one of auto, kernel, uapi"),
            ("LB_STATUS=on\n", "/etc/test.conf:1: LB_STATUS: `on` is not auto or off"),
            ("WG_IFACE=\"wg0\n", "/etc/test.conf:1: WG_IFACE: unterminated \"quote"),
            ("WG_IFACE=\"wg0\" wg1\n", "/etc/test.conf:1: WG_IFACE: unexpected text after the closing quote: `wg1`"),
            ("WG_IFACE=$IFACE\n", "/etc/test.conf:1: WG_IFACE: shell expansion ($ or `) is not supported"),
            ("WG_IFACE=a-very-long-interface\n", "/etc/test.conf:1: WG_IFACE: `a-very-long-interface` is not a valid interface name (1-15 characters, no / : or spaces)"),
            ("STATE_DIR=relative/dir\n", "/etc/test.conf:1: STATE_DIR: `relative/dir` is not an absolute path"),
            ("DNS_RESTART_CMD=dnsmasq restart\n", "/etc/test.conf:1: DNS_RESTART_CMD: `dnsmasq restart` must start with an absolute program path (it runs without a shell)"),
            ("DNS_TEST_NAME=bad..name\n", "/etc/test.conf:1: DNS_TEST_NAME: `bad..name` is not a valid DNS name"),
            ("POLICY_TABLES=201 local\n", "/etc/test.conf:1: POLICY_TABLES: `local` is not a routing table number (1-4294967295, not 253 or 255)"),
            ("POLICY_TABLES=255\n", "/etc/test.conf:1: POLICY_TABLES: `255` is not a routing table number (1-4294967295, not 253 or 255)"),
            ("LAN_RULE_PRIORITY=0\n", "/etc/test.conf:1: LAN_RULE_PRIORITY: `0` is out of range (1..=32765)"),
            ("FALLBACK=tunnel\n", "/etc/test.conf:1: FALLBACK: `tunnel` is not backup or none"),
            ("HISTORY_FILE=history\n", "/etc/test.conf:1: HISTORY_FILE: `history` is not an absolute path"),
            ("HISTORY_FILE=/config/\n", "/etc/test.conf:1: HISTORY_FILE: `/config/` names a directory, not a file"),
            ("HISTORY_MAX_KB=0\n", "/etc/test.conf:1: HISTORY_MAX_KB: `0` is out of range (1..=1048576)"),
            ("BACKUP_EXCLUDE=192.168.10.0/33\n", "/etc/test.conf:1: BACKUP_EXCLUDE: `192.168.10.0/33` has an invalid prefix length"),
            ("BACKUP_BUDGET_MB=0\n", "/etc/test.conf:1: BACKUP_BUDGET_MB: `0` is not a number of megabytes (1..=1000000000)"),
            ("BACKUP_BUDGET_PERIOD=month:32\n", "/etc/test.conf:1: BACKUP_BUDGET_PERIOD: `month:32` is not month:DAY (the day of the month a period starts, 1-31)"),
            ("BACKUP_BUDGET_PERIOD=week\n", "/etc/test.conf:1: BACKUP_BUDGET_PERIOD: `week` is not month:DAY (the day of the month a period starts, 1-31)"),
            ("BACKUP_BUDGET_ACTION=cut\n", "/etc/test.conf:1: BACKUP_BUDGET_ACTION: `cut` is not warn or exclude"),
            ("LAN_KEEP=nas\n", "/etc/test.conf:1: LAN_KEEP: `nas` is not an IP address or prefix"),
            ("BACKUP_EXCLUDE=nas\n", "/etc/test.conf:1: BACKUP_EXCLUDE: `nas` is not an IP address or prefix"),
            ("BACKUP_EXCLUDE=0.0.0.0/0\n", "/etc/test.conf:1: BACKUP_EXCLUDE: `0.0.0.0/0` is a /0, every host: FALLBACK=none keeps the LAN off the backup"),
            ("BACKUP_EXCLUDE=::/0\n", "/etc/test.conf:1: BACKUP_EXCLUDE: `::/0` is a /0, every host: FALLBACK=none keeps the LAN off the backup"),
            ("BACKUP_EXCLUDE=192.168.10.50 10.0.0.0/8\n", "/etc/test.conf:1: BACKUP_EXCLUDE: `10.0.0.0/8` is not inside LAN_SUBNET"),
            ("BACKUP_EXCLUDE=2001:db8:10::50\n", "/etc/test.conf:1: BACKUP_EXCLUDE: `2001:db8:10::50/128` is not inside LAN_SUBNET6"),
            ("LAN_KEEP=192.168.0.0/16\n", "/etc/test.conf:1: LAN_KEEP: `192.168.0.0/16` is not inside LAN_SUBNET"),
            ("LAN_KEEP=2001:db8:10::7/64\n", "/etc/test.conf:1: LAN_KEEP: `2001:db8:10::7/64` has host bits set (the network is 2001:db8:10::/64)"),
            ("TRACK_IPS=8.8.8.8 nowhere\n", "/etc/test.conf:1: TRACK_IPS: `nowhere` is not an IPv4 address"),
            ("TRACK_IPS=127.0.0.1\n", "/etc/test.conf:1: TRACK_IPS: `127.0.0.1` cannot be probed (unspecified, loopback, multicast or broadcast)"),
            ("TRACK_RELIABILITY=0\n", "/etc/test.conf:1: TRACK_RELIABILITY: `0` is out of range (1..=16)"),
            ("UP_AFTER_S=-1\n", "/etc/test.conf:1: UP_AFTER_S: `-1` is not a number"),
            ("PROBE_INTERVAL_MS=0\n", "/etc/test.conf:1: PROBE_INTERVAL_MS: `0` is out of range (1..=60000)"),
            ("ON_CHANGE=notify.sh\n", "/etc/test.conf:1: ON_CHANGE: `notify.sh` must start with an absolute program path (it runs without a shell)"),
            ("HOOK_TIMEOUT_S=0\n", "/etc/test.conf:1: HOOK_TIMEOUT_S: `0` is out of range (1..=3600)"),
            ("BACKUP_CHECK=yes\n", "/etc/test.conf:1: BACKUP_CHECK: `yes` is not on or off"),
            ("CONNTRACK_FLUSH=on\n", "/etc/test.conf:1: CONNTRACK_FLUSH: `on` is not auto or off"),
        ];
        for (line, expected) in cases {
            // The bad line comes first so that its number is 1; the rest is the minimal file.
            let text = format!("{line}{MINIMAL}");
            assert_eq!(&error_of(&text), expected, "for {line:?}");
        }
    }

    #[test]
    fn bad_addresses_name_the_line() {
        // A peer the tunnel can never have: refused by the parser, not only by `init`.
        let line = MINIMAL.lines().position(|l| l.starts_with("WG_PEER_IP=")).expect("WG_PEER_IP") + 1;
        for bad in ["0.0.0.0", "255.255.255.255", "127.0.0.1", "224.0.0.1"] {
            let text = MINIMAL.replace("WG_PEER_IP=10.11.0.1", &format!("WG_PEER_IP={bad}"));
            assert_eq!(
                error_of(&text),
                format!(
                    "/etc/test.conf:{line}: WG_PEER_IP: `{bad}` cannot be a tunnel's peer \
                     (unspecified, loopback, multicast or broadcast)"
                )
            );
        }
        let text = MINIMAL.replace("PRIMARY_GW=192.168.1.1", "PRIMARY_GW=192.168.1.300");
        assert_eq!(error_of(&text), "/etc/test.conf:4: PRIMARY_GW: `192.168.1.300` is not an IPv4 address or auto");
        let text = MINIMAL.replace("LAN_SUBNET=192.168.10.0/24", "LAN_SUBNET=192.168.10.1/24");
        assert_eq!(
            error_of(&text),
            "/etc/test.conf:7: LAN_SUBNET: `192.168.10.1/24` has host bits set (the network is 192.168.10.0/24)"
        );
        let text = MINIMAL.replace("LAN_SUBNET=192.168.10.0/24", "LAN_SUBNET=192.168.10.0/33");
        assert_eq!(error_of(&text), "/etc/test.conf:7: LAN_SUBNET: `192.168.10.0/33` has an invalid prefix length");
    }

    #[test]
    fn missing_required_key_is_named() {
        for key in ["WG_PEER_IP", "WG_ENDPOINT", "PRIMARY_DEV", "PRIMARY_GW", "BACKUP_DEV", "BACKUP_GW", "LAN_SUBNET"] {
            let text: String =
                MINIMAL.lines().filter(|l| !l.starts_with(&format!("{key}="))).map(|l| format!("{l}\n")).collect();
            assert_eq!(error_of(&text), format!("/etc/test.conf: {key} is required but not set"));
        }
        // An empty value is as good as absent.
        let text = MINIMAL.replace("LAN_SUBNET=192.168.10.0/24", "LAN_SUBNET=\"\"");
        assert_eq!(error_of(&text), "/etc/test.conf: LAN_SUBNET is required but not set");
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let text = format!("{MINIMAL}METRIC_WG=40\nMETRIC_WG=50\n");
        assert_eq!(error_of(&text), "/etc/test.conf:9: METRIC_WG is set twice (first on line 8)");
    }

    #[test]
    fn inconsistent_interfaces_are_refused() {
        let text = MINIMAL.replace("BACKUP_DEV=eth1", "BACKUP_DEV=eth0");
        assert_eq!(error_of(&text), "/etc/test.conf:5: BACKUP_DEV: is the same interface as PRIMARY_DEV (eth0)");
        let text = format!("{MINIMAL}WG_IFACE=eth1\n");
        assert_eq!(error_of(&text), "/etc/test.conf:8: WG_IFACE: `eth1` is also a WAN interface");
    }

    #[test]
    fn prefix_helpers() {
        let net: Ipv4Net = "192.168.10.0/24".parse().expect("valid prefix");
        assert!(net.contains(Ipv4Addr::new(192, 168, 10, 77)));
        assert!(!net.contains(Ipv4Addr::new(192, 168, 11, 1)));
        let all: Ipv4Net = "0.0.0.0/0".parse().expect("valid prefix");
        assert!(all.contains(Ipv4Addr::new(8, 8, 8, 8)));
        let host: Ipv4Net = "10.0.0.1".parse().expect("bare address is a /32");
        assert_eq!(host.len, 32);
    }

    #[test]
    fn ipv6_keys() {
        let c =
            parse_str(&format!("{MINIMAL}WG_PEER_IP6=fd00:11::1\nLAN_SUBNET6=2001:db8:10::/64, 2001:db8:20::/64\n"))
                .expect("valid");
        assert_eq!(c.wg_peer_ip6, Some("fd00:11::1".parse().expect("ipv6")));
        assert_eq!(
            c.lan_subnets6.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["2001:db8:10::/64", "2001:db8:20::/64"]
        );
        let none = parse_str(&format!("{MINIMAL}WG_PEER_IP6=\n")).expect("empty is none");
        assert_eq!((none.wg_peer_ip6, none.lan_subnets6.len()), (None, 0));
        for (line, message) in [
            ("WG_PEER_IP6=10.11.0.1", "`10.11.0.1` is not an IPv6 address"),
            ("WG_PEER_IP6=ff02::1", "`ff02::1` cannot be a gateway (unspecified, loopback or multicast)"),
            ("LAN_SUBNET6=192.168.10.0/24", "`192.168.10.0/24` is not an IPv6 prefix"),
            (
                "LAN_SUBNET6=2001:db8:10::1/64",
                "`2001:db8:10::1/64` has host bits set (the network is 2001:db8:10::/64)",
            ),
            ("LAN_SUBNET6=2001:db8::/129", "`2001:db8::/129` has an invalid prefix length"),
            ("LAN_SUBNET6=2001:db8::/", "`2001:db8::/` has an invalid prefix length"),
        ] {
            assert_eq!(
                error_of(&format!("{MINIMAL}{line}\n")),
                format!("/etc/test.conf:8: {}: {message}", line.split('=').next().unwrap_or_default())
            );
        }
    }

    /// `init`'s options are checked by [`check_value`]: it must say what the parser says.
    #[test]
    fn check_value_agrees_with_the_parser() {
        let cases = [
            ("WG_ENDPOINT", "203.0.113.10"),
            ("WG_ENDPOINT", "vps.example.net"),
            ("WG_ENDPOINT", "203.0.113.300"),
            ("WG_ENDPOINT", "vps..example.net"),
            ("WG_ENDPOINT_PORT", "51820"),
            ("WG_ENDPOINT_PORT", "0"),
            ("WG_ENDPOINT_PORT", "99999"),
            ("WG_ENDPOINT_PORT", "x"),
            ("WG_IFACE", "wg1"),
            ("WG_IFACE", "a-very-long-interface"),
            ("WG_IFACE", "wg/0"),
            ("WG_PEER_IP", "10.11.0.1"),
            ("WG_PEER_IP", "10.11.0"),
            ("WG_PEER_IP", "0.0.0.0"),
            ("WG_PEER_IP", "255.255.255.255"),
            ("WG_PEER_IP", "127.0.0.1"),
            ("WG_PEER_IP", "224.0.0.1"),
            ("LAN_SUBNET", "192.168.1.0/24,10.0.0.0/8"),
            ("LAN_SUBNET", "192.168.1.1/24"),
            ("LAN_SUBNET", "192.168.1.0/33"),
        ];
        for (key, v) in cases {
            let text: String =
                MINIMAL.lines().filter(|l| !l.starts_with(&format!("{key}="))).map(|l| format!("{l}\n")).collect();
            let by_parser = parse_str(&format!("{key}={v}\n{text}")).map(drop).map_err(|e| e.message);
            assert_eq!(check_value(key, v).map_err(|m| format!("{key}: {m}")), by_parser, "{key}={v}");
        }
    }

    #[test]
    fn the_shipped_example_parses() {
        let c = parse_str(include_str!("../../packaging/wg-failsafe.conf.example")).expect("example config is valid");
        assert_eq!(c.wg_endpoint.addr(), Ipv4Addr::new(203, 0, 113, 10));
        assert_eq!(c, Config { path: c.path.clone(), ..parse_str(MINIMAL).expect("minimal") });
    }

    #[test]
    fn of_several_errors_the_first_key_read_is_reported_and_cross_checks_wait() {
        // build reads on past an error; the one reported is still the first in its order.
        let both = format!("{MINIMAL}WG_KEEPALIVE=0\nPROBE_COUNT=x\nLOSS_UP_PCT=5\n");
        assert_eq!(error_of(&both), "/etc/test.conf:8: WG_KEEPALIVE: `0` is out of range (1..=65535)");
        let later = format!("{MINIMAL}PROBE_COUNT=x\nLOSS_UP_PCT=5\n");
        assert_eq!(error_of(&later), "/etc/test.conf:8: PROBE_COUNT: `x` is not a number");
        // A required key missing after a bad optional one: the optional one's error.
        let no_lan = format!("{}WG_KEEPALIVE=abc\n", MINIMAL.replace("LAN_SUBNET=192.168.10.0/24\n", ""));
        assert_eq!(error_of(&no_lan), "/etc/test.conf:7: WG_KEEPALIVE: `abc` is not a number");
        // A cross-key check is not made over a placeholder: the key's own error.
        let cross = format!("{MINIMAL}UP_AFTER_S=x\nUP_AFTER_MAX_S=5\n");
        assert_eq!(error_of(&cross), "/etc/test.conf:8: UP_AFTER_S: `x` is not a number");
    }
}
