//! Configuration: the `KEY=VALUE` file described in DESIGN.md, turned into a typed
//! [`Config`].
//!
//! [`parse`] (config/keys.rs: every key, its default and its check) is pure (text in,
//! config or the first error out) so every error kind is unit-tested without root.
//! [`load`] adds the file search order and the ownership and permission check: the file
//! names a command that runs as root, so a file that someone other than root could have
//! written is refused.

use std::fmt;
use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::trust::NotRoots;

mod endpoint;
mod keys;
mod seed;
mod tunnels;
pub use endpoint::Endpoint;
#[cfg(test)]
pub(crate) use keys::tests as keys_tests;
pub use keys::{check_value, parse, peer_ip_refused, MAX_TRACK_IPS};

/// Where the configuration is looked for when `-c` is not given, after `$WG_FAILSAFE_CONF`.
pub const SEARCH_PATH: [&str; 2] = [
    "/config/user-data/wg-failsafe.conf",
    // The seed script's file: an existing installation keeps working unchanged.
    "/config/user-data/wireguard-failsafe.conf",
];

pub use crate::net::{Ipv4Net, Prefix};

/// How the WireGuard interface is driven.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// The UAPI socket when it exists, else the kernel.
    #[default]
    Auto,
    /// In-kernel WireGuard over generic netlink.
    Kernel,
    /// A userspace implementation's UAPI socket.
    Uapi,
}

/// A gateway setting: an address, or `auto` (see [`crate::decide::resolve_gateway`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Gateway {
    #[default]
    Auto,
    Static(Ipv4Addr),
}

impl fmt::Display for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gateway::Auto => f.write_str("auto"),
            Gateway::Static(ip) => write!(f, "{ip}"),
        }
    }
}

/// What the tables point at when the tunnel cannot carry traffic (FALLBACK).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fallback {
    /// Straight out of BACKUP_DEV via BACKUP_GW.
    #[default]
    Backup,
    /// Never route around the tunnel.
    None,
}

/// Every setting of DESIGN.md's table, typed, with units in the names.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file this was read from (for messages).
    pub path: PathBuf,
    pub wg_iface: String,
    pub wg_peer_ip: Ipv4Addr,
    pub wg_endpoint: Endpoint,
    /// WG_ENDPOINT_DNS: the resolvers asked for a name endpoint; empty: /etc/resolv.conf's
    /// (its loopback ones skipped through the backup).
    pub wg_endpoint_dns: Vec<Ipv4Addr>,
    pub wg_endpoint_port: u16,
    pub wg_peer_key_file: PathBuf,
    pub wg_keepalive_s: u16,
    pub wg_backend: BackendChoice,
    pub handshake_max_age_s: u64,
    pub tunnel_wait_s: u64,
    pub primary_dev: String,
    pub primary_gw: Gateway,
    pub backup_dev: String,
    pub backup_gw: Gateway,
    pub lan_subnets: Vec<Ipv4Net>,
    /// WG_PEER_IP6: the VPS's IPv6 address on the tunnel; `None`: IPv6 is refused at once
    /// (`unreachable default`) while the failsafe is on.
    pub wg_peer_ip6: Option<Ipv6Addr>,
    /// LAN_SUBNET6: the LAN's IPv6 prefixes (step 6's rules).
    pub lan_subnets6: Vec<Prefix>,
    pub lan_rule_priority: u32,
    pub lan_dev: String,
    pub metric_wg: u32,
    pub metric_primary: u32,
    pub metric_backup: u32,
    /// `None` is `auto`.
    pub policy_tables: Option<Vec<u32>>,
    pub probe_count: u32,
    pub probe_timeout_ms: u64,
    pub lb_status: bool,
    pub dns_check: bool,
    pub dns_test_name: String,
    /// Program and arguments, split on whitespace; never given to a shell.
    pub dns_restart_cmd: Vec<String>,
    pub state_dir: PathBuf,
    pub lock_file: PathBuf,
    pub lock_timeout_s: u64,
    pub log_file: PathBuf,
    pub log_max_kb: u64,
    /// Upstream addresses probed out of PRIMARY_DEV through its gateway; empty: the
    /// gateway itself is the target.
    pub track_ips: Vec<Ipv4Addr>,
    /// How many of `track_ips` must answer for a round to pass.
    pub track_reliability: usize,
    /// `daemon`: one echo per target this often.
    pub probe_interval_ms: u64,
    /// `daemon`: no passing round for this long means down.
    pub down_after_ms: u64,
    /// Fail back only after every round passed for this long (before flap damping).
    pub up_after_s: u64,
    pub up_after_max_s: u64,
    pub flap_window_s: u64,
    pub fallback: Fallback,
    /// ON_CHANGE: program and arguments run (no shell) after every state change; empty:
    /// none.
    pub on_change: Vec<String>,
    pub hook_timeout_s: u64,
    /// BACKUP_CHECK=on: the backup path is probed while the primary is healthy.
    pub backup_check: bool,
    /// No switch before this many seconds of CLOCK_BOOTTIME: the router configures its
    /// interfaces first (EdgeOS loads its configuration minutes after the kernel starts).
    pub boot_wait_s: u64,
    /// CONNTRACK_FLUSH=auto: after a switch, the flows it breaks are deleted (see
    /// `conntrack`).
    pub conntrack_flush: bool,
    /// BACKUP_EXCLUDE: LAN hosts or prefixes (IPv4 in LAN_SUBNET, IPv6 in LAN_SUBNET6)
    /// whose way out is refused at once during an outage (their traffic never goes over
    /// the metered backup, tunnel or not).
    pub backup_exclude: Vec<Prefix>,
    /// BACKUP_BUDGET_MB (10^6 bytes) per period (`None`: no budget kept).
    pub backup_budget_mb: Option<u64>,
    /// BACKUP_BUDGET_PERIOD `month:DAY`: the day of the month a period starts (1-31).
    pub budget_day: u32,
    /// BACKUP_BUDGET_ACTION=exclude: at 100 % of the budget, every LAN host but LAN_KEEP's
    /// is refused as BACKUP_EXCLUDE's are, until the period ends (`warn`: nothing is cut).
    pub budget_exclude: bool,
    /// LAN_KEEP: never refused, by BACKUP_EXCLUDE or the budget (either family).
    pub lan_keep: Vec<Prefix>,
    /// One line per outage, appended at failback (`None`: no history kept).
    pub history_file: Option<PathBuf>,
    /// HISTORY_FILE's bound: past it, the oldest lines are dropped.
    pub history_max_kb: u64,
    /// LOSS_*_PCT, LATENCY_*_MS, QUALITY_WINDOW_S: the quality a round of the primary
    /// must have (and LOSS_DOWN_PCT the tunnel's while active); off when both DOWN keys
    /// are empty.
    pub quality: Quality,
    /// BACKUP_TRACK_IPS: the backup's internet, probed through its gateway (BACKUP_CHECK).
    pub backup_track_ips: Vec<Ipv4Addr>,
    /// BACKUP_CHECK_INTERVAL_S: how often BACKUP_TRACK_IPS are probed.
    pub backup_check_interval_s: u64,
    /// What the file holds that is accepted but does nothing (the seed script's keys),
    /// one line each, never a reason to stop the failsafe: to the log once per change of
    /// the file ([`Config::notes_fingerprint`]), to stderr at every run.
    pub notes: Vec<String>,
    /// The further tunnels, in order (see [`Config::tunnel`]); empty with one tunnel.
    pub more_tunnels: Vec<Config>,
}

/// The quality thresholds (LOSS_DOWN_PCT, LATENCY_DOWN_MS fail a round; LOSS_UP_PCT,
/// LATENCY_UP_MS, no looser, are needed to pass one during the failback wait) and the
/// daemon's window. `None`: that limit is off. Judged by `judge::quality_verdict`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quality {
    pub loss_down_pct: Option<u32>,
    pub latency_down_ms: Option<u64>,
    /// Empty in the file: the DOWN limit (no hysteresis).
    pub loss_up_pct: Option<u32>,
    pub latency_up_ms: Option<u64>,
    /// `daemon`: the sliding window the echoes are judged over.
    pub window_s: u64,
}

impl Quality {
    /// Any threshold is set: rounds are judged on quality too.
    pub fn on(&self) -> bool {
        self.loss_down_pct.is_some() || self.latency_down_ms.is_some()
    }
}

impl Config {
    /// What tells one version of the file and its notes from another, remembered in
    /// STATE_DIR so that cron's minute does not log the same notes again: the file's
    /// identity, size and modification time, and the notes themselves (an edit within
    /// the clock's resolution that changes what they say still counts).
    pub fn notes_fingerprint(&self) -> String {
        let file = match fs::metadata(&self.path) {
            Ok(m) => format!("{} {} {} {}.{:09}", m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()),
            Err(_) => "unreadable".to_string(),
        };
        format!("{file}\n{}\n", self.notes.join("\n"))
    }

    /// The programs root runs, with their keys (ON_CHANGE when set, DNS_RESTART_CMD when
    /// DNS_CHECK is on): each is run only while only root can change it (`trust`).
    pub fn programs(&self) -> Vec<(&'static str, &str)> {
        let mut programs = Vec::new();
        if let Some(p) = self.on_change.first() {
            programs.push(("ON_CHANGE", p.as_str()));
        }
        if let (true, Some(p)) = (self.dns_check, self.dns_restart_cmd.first()) {
            programs.push(("DNS_RESTART_CMD", p.as_str()));
        }
        programs
    }

    /// Metric of the endpoint host route: just below the backup default.
    pub fn metric_endpoint(&self) -> u32 {
        self.metric_backup - 10
    }

    /// METRIC_WG for IPv6 routes: the kernel reads an IPv6 metric of 0 as 1024, below
    /// the defaults of router advertisements, so 0 becomes 1.
    pub fn metric_wg6(&self) -> u32 {
        self.metric_wg.max(1)
    }

    pub fn metric_of(&self, v6: bool) -> u32 {
        if v6 {
            self.metric_wg6()
        } else {
            self.metric_wg
        }
    }
}

/// A configuration problem, with the file and (when it is about one line) the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based; 0 when the problem is not on one line.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Finds the configuration file: `explicit` (from `-c`), then `$WG_FAILSAFE_CONF`, then
/// [`SEARCH_PATH`].
pub fn find(explicit: Option<&Path>, env: Option<&str>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    SEARCH_PATH.iter().map(PathBuf::from).find(|p| p.exists()).ok_or_else(|| ConfigError {
        path: PathBuf::from(SEARCH_PATH[0]),
        line: 0,
        message: format!(
            "no configuration file: give -c FILE, set WG_FAILSAFE_CONF, or create {} (the seed's {} also works)",
            SEARCH_PATH[0], SEARCH_PATH[1]
        ),
    })
}

/// The largest configuration file read (a real one is a few KiB).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Reads, checks ownership and permissions, and parses the file at `path`.
///
/// Owner and mode are checked on the opened descriptor (fstat), not on the name, so
/// the file checked is the file read; the directory holding it must not be writable by
/// others, who could otherwise swap the file for their own.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let err = |message: String| ConfigError { path: path.to_path_buf(), line: 0, message };
    let cannot_read = |e: std::io::Error| err(format!("cannot read: {e}"));
    // O_NONBLOCK: a FIFO in its place must not stall the tool (refused just below).
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(cannot_read)?;
    let meta = file.metadata().map_err(cannot_read)?;
    if !meta.is_file() {
        return Err(err("is not a regular file".into()));
    }
    match crate::trust::roots_alone(meta.uid(), meta.mode(), 0) {
        Err(NotRoots::Owner(uid)) => {
            return Err(err(format!(
                "is owned by uid {uid}, not root; it names a command that runs as root (chown root {})",
                path.display()
            )))
        }
        Err(NotRoots::Writable(mode)) => {
            return Err(err(format!(
                "is writable by group or others (mode {:o}); it names a command that runs as root (chmod go-w {})",
                mode & 0o777,
                path.display()
            )))
        }
        Ok(()) => {}
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Ok(d) = fs::metadata(dir) {
        if d.mode() & 0o002 != 0 {
            return Err(err(format!(
                "its directory {} is writable by others (mode {:o}), who could replace the file",
                dir.display(),
                d.mode() & 0o7777
            )));
        }
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(err(format!("is {} bytes, more than a configuration can be ({MAX_FILE_BYTES})", meta.len())));
    }
    // Room for the whole file and the read that finds its end: read in one go, where an
    // empty buffer grows from 32 bytes (six reads and five reallocations for 430 bytes).
    let mut text = String::with_capacity(meta.len() as usize + 1);
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text).map_err(cannot_read)?;
    // The messages name file, line and key, never the text read: `check` or `status` run
    // through sudo must not print a root-only file given as -c.
    let mut c = parse(path, &text).map_err(|e| ConfigError { message: redact(&e.message), ..e })?;
    for note in &mut c.notes {
        *note = format!("{}: {}", path.display(), redact(note));
    }
    Ok(c)
}

/// `message` with every `…`-quoted value replaced by "the value".
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('`');
    out.push_str(parts.next().unwrap_or_default());
    while let Some(quoted) = parts.next() {
        match parts.next() {
            Some(after) => {
                // A key name (unknown key `FOO`) is no secret of the file's.
                let key = !quoted.is_empty()
                    && quoted.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                out.push_str(if key { quoted } else { "the value" });
                out.push_str(after);
            }
            None => {
                out.push('`');
                out.push_str(quoted);
            }
        }
    }
    out
}

/// A configuration re-read under a running daemon (SIGHUP): taken whole, except
/// STATE_DIR and LOCK_FILE, which stay: the daemon holds `daemon.lock` in its STATE_DIR
/// (moved, cron's `run` would act beside it) and its snapshot lives there. `Some` says
/// what was kept, for the log.
pub fn reloaded(old: &Config, mut new: Config) -> (Config, Option<String>) {
    let mut kept = String::new();
    if new.state_dir != old.state_dir {
        kept = format!("STATE_DIR {}", old.state_dir.display());
        new.state_dir = old.state_dir.clone();
    }
    if new.lock_file != old.lock_file {
        let and = if kept.is_empty() { "" } else { " and " };
        kept = format!("{kept}{and}LOCK_FILE {}", old.lock_file.display());
        new.lock_file = old.lock_file.clone();
    }
    for t in &mut new.more_tunnels {
        (t.state_dir, t.lock_file) = (new.state_dir.clone(), new.lock_file.clone());
    }
    let note =
        (!kept.is_empty()).then(|| format!("{kept} kept until the daemon restarts: a running daemon never moves them"));
    (new, note)
}

#[cfg(test)]
mod tests {
    use super::keys::tests::MINIMAL;
    use super::*;

    #[test]
    fn a_reload_never_moves_state_dir_or_lock_file_under_a_running_daemon() {
        let old = parse(Path::new("/t.conf"), &format!("{MINIMAL}STATE_DIR=/var/run/a\n")).expect("valid");
        let new =
            parse(Path::new("/t.conf"), &format!("{MINIMAL}STATE_DIR=/var/run/b\nLOCK_FILE=/tmp/l\nUP_AFTER_S=5\n"))
                .expect("valid");
        let (c, note) = reloaded(&old, new);
        assert_eq!(
            (c.state_dir.as_path(), c.lock_file.as_path(), c.up_after_s),
            (Path::new("/var/run/a"), old.lock_file.as_path(), 5)
        );
        assert!(note.is_some_and(|n| n.contains("STATE_DIR /var/run/a and LOCK_FILE")));
        assert_eq!(reloaded(&old, old.clone()).1, None);
    }

    #[test]
    #[ignore = "needs root: the file must be root's (make test runs it)"]
    fn load_checks_the_opened_file_and_its_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("wgfs-conf-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = dir.join("wg-failsafe.conf");
        fs::write(&path, MINIMAL).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(load(&path).is_ok());
        crate::os::mkfifo(&dir.join("fifo.conf")).expect("mkfifo");
        let e = load(&dir.join("fifo.conf")).expect_err("a FIFO is no configuration").to_string();
        assert!(e.ends_with("is not a regular file"), "{e}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = load(&path).expect_err("directory writable by others").to_string();
        assert!(e.contains("is writable by others (mode 777), who could replace the file"), "{e}");
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn loaded_errors_never_show_a_value() {
        assert_eq!(
            redact("DNS_RESTART_CMD: `dnsmasq restart` must start with a path"),
            "DNS_RESTART_CMD: the value must start with a path"
        );
        assert_eq!(redact("unknown key `FOO`"), "unknown key FOO");
        assert_eq!(redact("x `a` and `b` c"), "x the value and the value c");
        assert_eq!(redact("unbalanced `quote"), "unbalanced `quote");
    }

    #[test]
    fn search_order() {
        assert_eq!(find(Some(Path::new("/a.conf")), Some("/b.conf")).ok(), Some(PathBuf::from("/a.conf")));
        assert_eq!(find(None, Some("/b.conf")).ok(), Some(PathBuf::from("/b.conf")));
    }
}
