//! `init`: a configuration from what the router already knows. EdgeOS's own
//! configuration (`cli-shell-api showConfig`, else `/config/config.boot`, or a file given)
//! names the WireGuard interface and its VPS peer, the load-balance group's primary and
//! failover-only interfaces and their ping targets, the static next-hops and the LAN
//! interfaces; [`derive`] turns that tree into the tool's keys, each with where it came
//! from, and says what it could not find. It is pure and unit-tested; [`run`] reads,
//! prints and writes. Nothing here touches a route, a rule or an interface.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::config;
use crate::edgeos;

mod derive;
mod ipv6;
mod tunnel;
use crate::error::{Context, Error};
use crate::net::Ipv4Net;
pub use derive::derive;
pub use ipv6::{derive_v6, LiveAddr};
pub use tunnel::other_host;

/// The keys a configuration cannot do without.
const REQUIRED: [&str; 7] =
    ["WG_PEER_IP", "WG_ENDPOINT", "PRIMARY_DEV", "PRIMARY_GW", "BACKUP_DEV", "BACKUP_GW", "LAN_SUBNET"];

/// Where `init` writes by default.
pub const DEFAULT_OUT: &str = "/config/user-data/wg-failsafe.conf";

/// What [`derive`] found and what it could not.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Derived {
    /// (key, value, where it came from), in the order a configuration reads best.
    pub values: Vec<(&'static str, String, String)>,
    /// (key, why not).
    pub missing: Vec<(&'static str, String)>,
    /// What the owner should confirm (a static LAN taken in, a LAN left out by `--lan`).
    pub confirm: Vec<String>,
    /// For [`derive_v6`]: the interfaces whose prefixes LAN_SUBNET holds,
    pub lan_devs: Vec<String>,
    /// every IPv4 address the configuration gives an interface (by its name),
    pub configured4: Vec<(String, Ipv4Addr)>,
    /// and whether the VPS peer routes ::/0 (`None`: the interface is not in the configuration).
    pub vps_routes_v6: Option<bool>,
}

/// What the owner gave on the command line; each takes the place of what [`derive`]
/// would find (`--peer-ip` also chooses the tunnel).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Given {
    pub peer_ip: Option<Ipv4Addr>,
    /// `--endpoint HOST[:PORT]`.
    pub endpoint: Option<(String, Option<u16>)>,
    /// `--lan`, each prefix once.
    pub lan: Vec<Ipv4Net>,
    pub wg_iface: Option<String>,
}

impl Given {
    /// `init`'s options, each checked by the check the configuration's parser applies to
    /// the key it gives ([`config::check_value`]); an error names the option.
    pub fn new(
        peer_ip: Option<&str>,
        endpoint: Option<&str>,
        lan: &[String],
        wg_iface: Option<&str>,
    ) -> Result<Given, String> {
        let check = |opt: &str, key: &str, v: &str| config::check_value(key, v).map_err(|m| format!("{opt}: {m}"));
        let mut g = Given::default();
        if let Some(ip) = peer_ip {
            check("--peer-ip", "WG_PEER_IP", ip)?;
            g.peer_ip = ip.parse().ok();
        }
        if let Some(e) = endpoint {
            let (host, port) = match e.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (e, None),
            };
            check("--endpoint", "WG_ENDPOINT", host)?;
            let port = match port {
                Some(p) => {
                    check("--endpoint", "WG_ENDPOINT_PORT", p)?;
                    p.parse().ok()
                }
                None => None,
            };
            g.endpoint = Some((host.to_string(), port));
        }
        for items in lan {
            for item in items.split(|c: char| c == ',' || c.is_whitespace()).filter(|i| !i.is_empty()) {
                check("--lan", "LAN_SUBNET", item)?;
                let net: Ipv4Net = item.parse().map_err(|m| format!("--lan: {m}"))?;
                if !g.lan.contains(&net) {
                    g.lan.push(net);
                }
            }
        }
        if !lan.is_empty() && g.lan.is_empty() {
            check("--lan", "LAN_SUBNET", "")?;
        }
        if let Some(w) = wg_iface {
            check("--wg-iface", "WG_IFACE", w)?;
            g.wg_iface = Some(w.to_string());
        }
        Ok(g)
    }
}

impl Derived {
    fn set(&mut self, key: &'static str, value: impl Into<String>, from: impl Into<String>) {
        self.values.push((key, value.into(), from.into()));
    }

    fn lack(&mut self, key: &'static str, why: impl Into<String>) {
        self.missing.push((key, why.into()));
    }

    /// Each of `keys` missing for the one reason `why`.
    fn lack_all(&mut self, keys: &[&'static str], why: String) {
        for k in keys {
            self.missing.push((k, why.clone()));
        }
    }

    /// The value derived for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.iter().find(|(k, _, _)| *k == key).map(|(_, v, _)| v.as_str())
    }

    /// The required keys that are missing.
    pub fn missing_required(&self) -> Vec<&(&'static str, String)> {
        self.missing.iter().filter(|(k, _)| REQUIRED.contains(k)).collect()
    }

    /// The configuration file's text.
    pub fn to_text(&self, source: &str) -> String {
        let mut t = format!(
            "# wg-failsafe configuration written by `wg-failsafe init` from {source}.\n\
             # Each value says where it came from; `wg-failsafe check` checks them on the router,\n\
             # and /usr/share/doc/wg-failsafe/wg-failsafe.conf.example lists every other key.\n"
        );
        for (k, v, from) in &self.values {
            let _ = write!(t, "\n# {from}\n{k}={v}\n");
        }
        for (k, why) in &self.missing {
            let _ = write!(t, "\n# not derived: {why}\n#{k}=\n");
        }
        for c in &self.confirm {
            let _ = write!(t, "\n# to confirm: {c}");
        }
        if !self.confirm.is_empty() {
            t.push('\n');
        }
        t
    }
}

/// `init`'s options.
pub struct Options {
    pub config_boot: Option<PathBuf>,
    pub print: bool,
    pub out: Option<PathBuf>,
    pub force: bool,
    /// `--peer-ip`, `--endpoint`, `--lan`, `--wg-iface`.
    pub given: Given,
}

/// Reads the configuration, derives, reports, writes (or prints). Exit 0 when the result
/// is complete and parses; 2, writing nothing, when a required value is missing.
pub fn run(o: &Options) -> Result<ExitCode, Error> {
    let (text, source) = match &o.config_boot {
        Some(p) => (read_bounded(p).context(p.display())?, p.display().to_string()),
        None => {
            let found = edgeos_configuration(&test_root())?;
            if found.fell_back {
                eprintln!(
                    "{} showConfig failed, or printed more than {} bytes: reading {} (the saved configuration)",
                    edgeos::CLI_SHELL_API,
                    edgeos::MAX_CONFIG_BOOT_BYTES,
                    edgeos::CONFIG_BOOT
                );
            }
            (found.text, found.source)
        }
    };
    let tree = edgeos::parse_config_tree_checked(&text).map_err(|e| Error::Usage(format!("{source}: {e}")))?;
    let mut d = derive(&tree, &o.given);
    // The LAN's IPv6 prefix is delegated, not configured: this machine's live addresses
    // (used only where they show it is the router the configuration describes).
    let live = live_addresses();
    derive_v6(&mut d, live.as_deref().map_err(Clone::clone));
    for (k, v, from) in &d.values {
        eprintln!("derived  {k}={v}   ({from})");
    }
    for (k, why) in &d.missing {
        eprintln!("missing  {k}: {why}");
    }
    for c in &d.confirm {
        eprintln!("confirm  {c}");
    }
    let missing = d.missing_required();
    if !missing.is_empty() {
        let keys: Vec<&str> = missing.iter().map(|(k, _)| *k).collect();
        return Err(Error::Usage(format!("{} could not be derived (nothing was written)", keys.join(", "))));
    }
    let out = o.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    let text = d.to_text(&source);
    // The result must be what the tool itself accepts.
    config::parse(&out, &text).map_err(Error::Config)?;
    if o.print {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    write_new(&out, &text, o.force)?;
    eprintln!("wrote {} (mode 0600); now: wg-failsafe check", out.display());
    Ok(ExitCode::SUCCESS)
}

/// For tests only: `WG_FAILSAFE_TEST_ROOT`, a directory that stands for `/` wherever
/// `init` and `check` read EdgeOS's own files (cli-shell-api, config.boot, the firstboot
/// directory, transition scripts, crontabs), so that a lab can give a router namespace an
/// EdgeOS configuration without writing the host's /config. Unset: `/`.
pub fn test_root() -> PathBuf {
    std::env::var_os("WG_FAILSAFE_TEST_ROOT")
        .filter(|r| !r.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// `path` (absolute, as EdgeOS names it) under `root`.
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// EdgeOS's configuration as `init` and `check` read it.
pub struct EdgeosConfig {
    pub text: String,
    /// Where it came from, for messages.
    pub source: String,
    /// cli-shell-api is there but failed (or printed too much): the saved file was read.
    pub fell_back: bool,
}

/// The running configuration (`cli-shell-api showConfig`), else the saved one
/// (`/config/config.boot`), both under `root` (see [`test_root`]).
pub fn edgeos_configuration(root: &Path) -> Result<EdgeosConfig, Error> {
    let api = under(root, edgeos::CLI_SHELL_API);
    let mut fell_back = false;
    if api.exists() {
        match running_config(&api) {
            Some(text) => {
                let source = "the running configuration (cli-shell-api showConfig)".to_string();
                return Ok(EdgeosConfig { text, source, fell_back });
            }
            None => fell_back = true,
        }
    }
    let boot = under(root, edgeos::CONFIG_BOOT);
    let text = read_bounded(&boot).context(boot.display())?;
    Ok(EdgeosConfig { text, source: boot.display().to_string(), fell_back })
}

/// Every address of this machine with its device's name, through the netlink address
/// dumps; why not when netlink cannot be read.
fn live_addresses() -> Result<Vec<LiveAddr>, String> {
    use crate::netlink::{link, Netlink};
    let why = |e: crate::netlink::NetlinkError| format!("the router's addresses could not be read (netlink: {e})");
    let mut nl = Netlink::open(netlink_sys::protocols::NETLINK_ROUTE).map_err(why)?;
    let links = link::Links::dump(&mut nl).map_err(why)?;
    let mut out = Vec::new();
    let mut push = |index: u32, addr: IpAddr, prefix_len: u8| {
        if let Some(dev) = links.name(index) {
            out.push(LiveAddr { dev: dev.to_string(), addr, prefix_len });
        }
    };
    for a in link::addresses(&mut nl).map_err(why)? {
        push(a.index, a.local.into(), a.prefix_len);
    }
    for a in link::addresses6(&mut nl).map_err(why)? {
        push(a.index, a.local.into(), a.prefix_len);
    }
    Ok(out)
}

/// The running configuration, as large as a saved one may be (an ER-12's is well past the
/// 64 KiB of the load balancer's status).
fn running_config(api: &Path) -> Option<String> {
    let max = usize::try_from(edgeos::MAX_CONFIG_BOOT_BYTES).unwrap_or(usize::MAX);
    edgeos::run_capture_up_to(&api.to_string_lossy(), &["showConfig"], Duration::from_secs(10), max)
}

/// `config.boot`: regular, not followed through a symlink, never waited on, bounded.
fn read_bounded(p: &Path) -> std::io::Result<String> {
    crate::trust::read_regular(p, edgeos::MAX_CONFIG_BOOT_BYTES)
}

/// Writes `text` to `path`, mode 0600, never following a symlink; an existing file is
/// replaced (atomically) only with `force`.
fn write_new(path: &Path, text: &str, force: bool) -> Result<(), Error> {
    let err = |e: std::io::Error| Error::Failed(format!("{}: {e}", path.display()));
    let target = if force { path.with_extension("conf.init-tmp") } else { path.to_path_buf() };
    if force {
        let _ = std::fs::remove_file(&target);
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&target)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Usage(format!("{} exists: give --force to replace it, or -o FILE", path.display()))
            } else {
                err(e)
            }
        })?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(err)?;
    if force {
        std::fs::rename(&target, path).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edgeos::parse_config_tree;

    /// tests/init/'s dual-WAN ER-X (DHCP fiber, 4G backup on a static address, WireGuard
    /// on a /30); the corpus test checks every value, this one the file's text.
    const ERX: &str = include_str!("../tests/init/erx-dhcp-fiber-4g-backup.boot");

    #[test]
    fn the_written_text_says_where_each_value_came_from_and_the_tool_accepts_it() {
        let d = derive(&parse_config_tree(ERX), &Given::default());
        assert!(d.missing.is_empty(), "{:?}", d.missing);
        let text = d.to_text("config.boot");
        assert!(text.contains("# load-balance group G interface eth1 (failover-only)\nBACKUP_DEV=eth1\n"), "{text}");
        assert!(text.contains("address dhcp, the lease's gateway\nPRIMARY_GW=auto"), "{text}");
        let c = config::parse(Path::new("/t.conf"), &text).expect("the tool's parser accepts it");
        assert_eq!(c.lan_subnets.len(), 2);
        // What is missing is written commented out, with the reason.
        let d =
            derive(&parse_config_tree("interfaces {\n ethernet eth0 {\n  address dhcp\n }\n}\n"), &Given::default());
        let text = d.to_text("x");
        assert!(
            text.contains("# not derived: no WireGuard interface in the configuration: give --wg-iface NAME, --endpoint HOST[:PORT] and --peer-ip IP\n#WG_IFACE=\n"),
            "{text}"
        );
        let missing: Vec<&str> = d.missing_required().iter().map(|(k, _)| *k).collect();
        for k in REQUIRED {
            assert!(missing.contains(&k), "{k} should be missing: {missing:?}");
        }
    }

    #[test]
    fn init_refuses_to_overwrite_without_force() {
        let dir = std::env::temp_dir().join(format!("wgfs-init-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("wg-failsafe.conf");
        write_new(&p, "A=1\n", false).expect("new");
        assert!(matches!(write_new(&p, "A=2\n", false), Err(Error::Usage(_))));
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "A=1\n");
        write_new(&p, "A=3\n", true).expect("forced");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "A=3\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).ok();
    }
}
