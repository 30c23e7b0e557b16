//! `check`: every precondition of a failover, one finding a line, changing nothing. The
//! configuration and the system as the tool sees them (devices, gateways, IPv6, the VPS
//! peer, the programs it runs); then what breaks a failover on an EdgeRouter before the
//! outage does — from the router: defaults through the tunnel that are not the
//! failsafe's, the tunnel's MTU against the backup's; from STATE_DIR: the last
//! activation's proof; from EdgeOS's own configuration and files (`edgeos`): the
//! WireGuard interface routing its peers' allowed IPs, the firstboot package, the seed
//! script still wired in, the load-balance group's transition script.
//!
//! FAIL is what breaks the failover (`check` exits 1: a device or gateway missing, a
//! program root will not run, two tools moving the same tables); WARN what works now but
//! fails later or worse than it should (after a firmware upgrade, a minute late,
//! fragmented); both say the fix. Nothing is sent to the VPS: proving the tunnel over the
//! backup needs a route through it, and `check` adds none. `main` prints the findings.

#![forbid(unsafe_code)]

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::config::{Config, Gateway};
use crate::decide::Ours;
use crate::log::Logger;
use crate::model::ProvenBy;
use crate::netlink::route::{table_name, Route};
use crate::record::Record;
use crate::system::System;

mod edgeos;
pub use edgeos::{FIRSTBOOT_DIR, TRANSITION_HOOK};

/// WireGuard's overhead on each packet over IPv4 (WG_ENDPOINT is an IPv4 address): outer
/// IPv4 header (20), UDP (8), WireGuard's data header (16) and tag (16). Over IPv6 it
/// would be 80.
pub const WG_OVERHEAD_V4: u32 = 60;

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Information: neither right nor wrong.
    Note,
    /// Works now; fails later or worse than it should. Not counted in the exit status.
    Warn,
    /// Breaks the failover: `check` exits 1.
    Fail,
}

/// One line of `check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

impl Finding {
    fn new(level: Level, text: impl Into<String>) -> Finding {
        Finding { level, text: text.into() }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.level {
            Level::Ok => "ok  ",
            Level::Note => "note",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        write!(f, "{word} {}", self.text)
    }
}

/// What the router shows now, gathered by `main` (the findings themselves are pure).
pub struct Live<'a> {
    /// Every default route of both families (`System::routes`).
    pub routes: &'a [Route],
    pub record: &'a Record,
    /// MTUs of WG_IFACE and BACKUP_DEV, when they can be read.
    pub wg_mtu: Option<u32>,
    pub backup_mtu: Option<u32>,
    pub daemon_running: bool,
}

/// `check`'s findings, in order: the file, root, the system (devices, gateways, IPv6, the
/// VPS peer), the router's and EdgeOS's findings ([`router`]), the programs the file
/// names, and where STATE_DIR and the lock go. `root` stands for `/` where EdgeOS's
/// files are (`init::test_root`).
pub fn all(cfg: &Config, log: &Logger, root: &Path, daemon_running: bool) -> Vec<Finding> {
    let mut out = vec![said(true, format!("configuration {}", cfg.path.display()))];
    if std::fs::metadata(&cfg.path).is_ok_and(|m| crate::trust::readable_by_others(&m)) {
        out.push(Finding::new(
            Level::Warn,
            format!(
                "configuration {} is readable by others: it may name secrets (a notification topic); chmod 600 it",
                cfg.path.display()
            ),
        ));
    }
    out.push(said(crate::os::geteuid() == 0, "running as root".into()));
    match System::open(cfg, log, true) {
        Err(e) => out.push(said(false, e.to_string())),
        Ok(mut sys) => {
            system(cfg, &mut sys, &mut out);
            let routes = sys.routes().unwrap_or_default();
            let live = Live {
                routes: &routes,
                record: sys.record(),
                wg_mtu: mtu(&cfg.wg_iface),
                backup_mtu: mtu(&cfg.backup_dev),
                daemon_running,
            };
            out.extend(router(cfg, root, &live));
        }
    }
    for (key, program) in cfg.programs() {
        out.push(match crate::trust::program_problem(Path::new(program)) {
            None => said(true, format!("{key} {program} is an executable file only root can change")),
            Some(why) => said(false, format!("{key} {program}: {why}; root will not run it")),
        });
    }
    let parent = cfg.state_dir.parent().unwrap_or(Path::new("/"));
    out.push(said(parent.is_dir(), format!("STATE_DIR {} can be created", cfg.state_dir.display())));
    out.push(said(
        cfg.lock_file.parent().is_some_and(Path::is_dir),
        format!("LOCK_FILE {} can be created", cfg.lock_file.display()),
    ));
    if let Some(h) = &cfg.history_file {
        out.push(said(h.parent().is_some_and(Path::is_dir), format!("HISTORY_FILE {} can be created", h.display())));
    }
    out
}

/// `ok` or FAIL.
fn said(ok: bool, what: String) -> Finding {
    Finding::new(if ok { Level::Ok } else { Level::Fail }, what)
}

/// The part that asks the system: STATE_DIR, the devices, the gateways found, what IPv6
/// does in a failover, TRACK_IPS and the VPS peer's key.
fn system(cfg: &Config, sys: &mut System, out: &mut Vec<Finding>) {
    out.push(said(true, format!("STATE_DIR {} is root's alone (or will be created so)", cfg.state_dir.display())));
    let mut devices = vec![("PRIMARY_DEV", &cfg.primary_dev), ("BACKUP_DEV", &cfg.backup_dev)];
    // Every tunnel's interface, in order.
    for i in 0..cfg.tunnel_count() {
        devices.push(("WG_IFACE", &cfg.tunnel(i).wg_iface));
    }
    devices.push(("LAN_DEV", &cfg.lan_dev));
    for (what, dev) in devices {
        out.push(match sys.links.by_name(dev) {
            Some(_) => said(true, format!("{what} {dev} exists")),
            // A primary that vanished (PPPoE while its link is down) is a down
            // primary, not a broken configuration: said, not counted.
            None if what == "PRIMARY_DEV" => Finding::new(
                Level::Note,
                format!("{what} {dev} does not exist now: the primary counts as down until it does"),
            ),
            None => said(false, format!("{what} {dev} exists")),
        });
    }
    match sys.observe() {
        Ok(obs) => {
            for (what, setting, found, dev) in [
                ("PRIMARY_GW", cfg.primary_gw, obs.primary_gw, &cfg.primary_dev),
                ("BACKUP_GW", cfg.backup_gw, obs.backup_gw, &cfg.backup_dev),
            ] {
                out.push(match found {
                    Some(gw) if setting == Gateway::Auto => said(true, format!("{what} auto: {gw}, found on {dev}")),
                    Some(gw) => said(true, format!("{what} {gw}")),
                    None if what == "PRIMARY_GW" => Finding::new(
                        Level::Note,
                        format!("{what} {setting}: no gateway on {dev} now: the primary counts as down"),
                    ),
                    None => said(false, format!("{what} {setting}: a gateway on {dev}")),
                });
            }
        }
        Err(e) => out.push(said(false, e.to_string())),
    }
    match (sys.routes_of(true), sys.rules()) {
        (Ok(routes6), Ok(rules)) => {
            let tables = crate::decide::managed_tables(true, &routes6, &rules, cfg);
            let mut names = Vec::new();
            for t in &tables {
                names.push(table_name(*t));
            }
            out.push(match cfg.wg_peer_ip6 {
                _ if tables.is_empty() => {
                    Finding::new(Level::Note, "IPv6: no IPv6 default leaves through a WAN: IPv6 is left alone")
                }
                Some(ip) => said(
                    true,
                    format!("IPv6 tables {} move to {} via {ip} in a failover", names.join(", "), cfg.wg_iface),
                ),
                None => Finding::new(
                    Level::Note,
                    format!(
                        "IPv6 tables {} refuse IPv6 at once in a failover (WG_PEER_IP6 is not set)",
                        names.join(", ")
                    ),
                ),
            });
        }
        (Err(e), _) | (_, Err(e)) => out.push(said(false, e.to_string())),
    }
    if let Some(name) = &cfg.wg_endpoint.name {
        // Looked up by `run`, not here: `check` asks nothing of the network.
        out.push(Finding::new(
            Level::Note,
            match cfg.wg_endpoint.known() {
                true => format!("WG_ENDPOINT {name}: {} as last looked up", cfg.wg_endpoint.addr()),
                false => format!("WG_ENDPOINT {name}: not looked up yet (the next healthy tick does)"),
            },
        ));
        let system = crate::dns::system_nameservers();
        if crate::endpoint::resolvers(cfg, &system, true).is_empty() {
            out.push(Finding::new(
                Level::Note,
                format!(
                    "WG_ENDPOINT {name}: an activation with no address kept cannot look it up: no resolver but \
                     loopback ones through {} (set WG_ENDPOINT_DNS)",
                    cfg.backup_dev
                ),
            ));
        }
    }
    if !cfg.track_ips.is_empty() {
        let mut ips = Vec::new();
        for ip in &cfg.track_ips {
            ips.push(ip.to_string());
        }
        out.push(said(
            true,
            format!(
                "TRACK_IPS {} ({} needed), probed through the primary's gateway",
                ips.join(" "),
                cfg.track_reliability
            ),
        ));
    }
    let backend = sys.backend();
    out.push(match sys.find_peer_key() {
        Ok((key, source)) => {
            said(true, format!("{backend} backend, VPS peer {} (from {source})", crate::wireguard::key_to_base64(&key)))
        }
        Err(e) => said(false, format!("{backend} backend: {e}")),
    });
}

/// A device's MTU (`/sys/class/net/DEV/mtu`: `ip netns exec` mounts the namespace's own).
pub fn mtu(dev: &str) -> Option<u32> {
    if dev.is_empty() || dev.contains('/') || dev.starts_with('.') {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{dev}/mtu")).ok()?.trim().parse().ok()
}

/// Every finding: the router's (always) and EdgeOS's (when its configuration is under
/// `root`, see `init::test_root`; off EdgeOS one note says they were skipped).
pub fn router(cfg: &Config, root: &Path, live: &Live) -> Vec<Finding> {
    let mut out = Vec::new();
    for i in 0..cfg.tunnel_count() {
        out.push(tunnel_defaults(cfg.tunnel(i), live.routes));
    }
    out.push(mtu_fits(cfg, live.wg_mtu, live.backup_mtu));
    out.push(last_proof(cfg, live.record));
    match crate::init::edgeos_configuration(root) {
        Err(e) => {
            out.push(Finding::new(Level::Note, format!("no EdgeOS configuration ({e}): EdgeOS's checks skipped")))
        }
        Ok(found) => match crate::edgeos::parse_config_tree_checked(&found.text) {
            Err(e) => out.push(Finding::new(Level::Warn, format!("{}: {e}: EdgeOS's checks skipped", found.source))),
            Ok(tree) => {
                out.push(edgeos::route_allowed_ips(cfg, &tree));
                out.push(edgeos::firstboot(root, edgeos::deb_arch()));
                out.push(edgeos::firstboot_wireguard(root));
                out.extend(edgeos::seed_leftovers(&tree, root));
                out.extend(edgeos::transition_scripts(cfg, &tree, root, live.daemon_running));
            }
        },
    }
    out
}

/// A default through WG_IFACE that is not the failsafe's: `route-allowed-ips`, or a
/// static route, sends traffic into the tunnel outside the failsafe.
fn tunnel_defaults(cfg: &Config, routes: &[Route]) -> Finding {
    let ours = Ours { cfg, backup_gw: Ipv4Addr::UNSPECIFIED, primary_gw: None, over_budget: false };
    let mut foreign = Vec::new();
    for r in routes {
        if r.is_default() && r.devices().any(|d| d == cfg.wg_iface) && !ours.is_target(r) {
            foreign.push(format!("table {}: {r}", table_name(r.table)));
        }
    }
    if foreign.is_empty() {
        return Finding::new(Level::Ok, format!("no default route through {} but the failsafe's", cfg.wg_iface));
    }
    Finding::new(
        Level::Warn,
        format!(
            "default route(s) through {} that are not the failsafe's ({}): traffic enters the tunnel while the \
             primary works; remove them (on EdgeOS: `set interfaces wireguard {} route-allowed-ips false`)",
            cfg.wg_iface,
            foreign.join("; "),
            cfg.wg_iface
        ),
    )
}

/// WG_IFACE's MTU against BACKUP_DEV's less WireGuard's overhead (the endpoint is IPv4).
fn mtu_fits(cfg: &Config, wg_mtu: Option<u32>, backup_mtu: Option<u32>) -> Finding {
    let (Some(wg), Some(backup)) = (wg_mtu, backup_mtu) else {
        return Finding::new(Level::Note, format!("MTU of {} or {} unknown", cfg.wg_iface, cfg.backup_dev));
    };
    let most = backup.saturating_sub(WG_OVERHEAD_V4);
    let sum = format!("{}'s {backup} less WireGuard's {WG_OVERHEAD_V4} bytes over IPv4 = {most}", cfg.backup_dev);
    if wg <= most {
        return Finding::new(Level::Ok, format!("{} MTU {wg} fits in {sum}", cfg.wg_iface));
    }
    Finding::new(
        Level::Warn,
        format!(
            "{} MTU {wg} is more than {sum}: full-size packets through the tunnel over the backup are \
             fragmented or lost; `set interfaces wireguard {} mtu {most}` and clamp TCP MSS to {} \
             (README, Prerequisites)",
            cfg.wg_iface,
            cfg.wg_iface,
            most.saturating_sub(40)
        ),
    )
}

/// The last activation's proof of the tunnel, from the record.
fn last_proof(cfg: &Config, r: &Record) -> Finding {
    let Some(p) = r.tunnel.last_proof else {
        let why = match r.totals.activations {
            0 => "no activation yet".to_string(),
            n => format!("{n} activation(s), none recorded its proof (an earlier version)"),
        };
        return Finding::new(
            Level::Note,
            format!("{why}: the tunnel is proven over the backup at each activation (check sends nothing to the VPS)"),
        );
    };
    let at = crate::log::stamp_of(p.at_unix_s);
    let backup = &cfg.backup_dev;
    match p.by {
        ProvenBy::Echo => {
            Finding::new(Level::Ok, format!("last activation {at}: the VPS peer answered an echo over {backup}"))
        }
        ProvenBy::Handshake => Finding::new(
            Level::Ok,
            format!("last activation {at}: a handshake over {backup} proved the tunnel (the peer answers no echo)"),
        ),
        ProvenBy::Nothing => Finding::new(
            Level::Warn,
            format!(
                "last activation {at}: the tunnel could not be proven over {backup}, the tables went to the \
                 backup WAN: check the VPS (its WireGuard port open to the backup's address, the peer's key)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::{cfg, routes};

    #[test]
    fn the_tunnels_mtu_must_fit_the_backups_less_wireguards_overhead() {
        let c = cfg();
        // PPPoE (1492): 1432 fits; wireguard's default 1420 does; 1440 (for 1500) does not.
        assert_eq!(mtu_fits(&c, Some(1420), Some(1492)).level, Level::Ok);
        assert_eq!(mtu_fits(&c, Some(1432), Some(1492)).level, Level::Ok);
        let f = mtu_fits(&c, Some(1440), Some(1492));
        assert_eq!(f.level, Level::Warn);
        assert!(f.text.contains("eth1's 1492 less WireGuard's 60 bytes over IPv4 = 1432"), "{f}");
        assert!(f.text.contains("`set interfaces wireguard wg0 mtu 1432` and clamp TCP MSS to 1392"), "{f}");
        assert_eq!(mtu_fits(&c, None, Some(1500)).level, Level::Note);
    }

    #[test]
    fn only_the_failsafes_own_defaults_may_go_through_the_tunnel() {
        let c = cfg();
        let ours = routes(&[
            "default via 10.11.0.1 dev wg0 table 201 proto static metric 40",
            "default via 192.168.1.1 dev eth0 metric 100",
        ]);
        assert_eq!(tunnel_defaults(&c, &ours).level, Level::Ok);
        let theirs = routes(&["default dev wg0 table 201 scope link metric 0"]);
        let f = tunnel_defaults(&c, &theirs);
        assert!(f.level == Level::Warn && f.text.contains("table 201: default dev wg0"), "{f}");
    }

    #[test]
    fn the_last_proof_is_shown_and_an_unproven_one_warned_about() {
        use crate::model::LastProof;
        let c = cfg();
        let mut r = Record::default();
        assert!(last_proof(&c, &r).text.starts_with("no activation yet"));
        for (by, level, says) in [
            (ProvenBy::Echo, Level::Ok, "answered an echo over eth1"),
            (ProvenBy::Handshake, Level::Ok, "a handshake over eth1 proved the tunnel"),
            (ProvenBy::Nothing, Level::Warn, "could not be proven over eth1"),
        ] {
            r.tunnel.last_proof = Some(LastProof { at_unix_s: 1_700_000_000, by });
            let f = last_proof(&c, &r);
            assert!(f.level == level && f.text.contains(says), "{f}");
        }
    }
}
