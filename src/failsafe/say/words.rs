//! The words of the longer lines: an activation's and a deactivation's, the tunnel's
//! transitions, the budget's thresholds, a tick's line for its caller.

use super::*;

/// What a tick or a command by hand came to, in a line for its caller (`run -v`, and
/// `run`'s standard error when it exits 1).
pub fn outcome_said(o: &crate::failsafe::Outcome, c: &Config) -> String {
    use crate::failsafe::Outcome;
    match o {
        Outcome::Booting => "within BOOT_WAIT_S of boot: nothing to do yet".into(),
        Outcome::Healthy => "primary healthy, failsafe off: nothing to do".into(),
        Outcome::CleanedUp => "failsafe off".into(),
        Outcome::Activated { ms, target: Target::Tunnel } => format!("failsafe ACTIVATED in {ms} ms"),
        Outcome::Activated { ms, target: Target::Backup } => {
            format!("failsafe ACTIVATED in {ms} ms on the backup WAN: the tunnel does not work (FALLBACK=backup)")
        }
        Outcome::Active { repairs, target, tunnel_ok, wait_left_s } => {
            let path = match (target, tunnel_ok) {
                (Target::Tunnel, true) => "via the tunnel".to_string(),
                (Target::Tunnel, false) if c.fallback == Fallback::None => {
                    "on a tunnel that does not work (FALLBACK=none)".to_string()
                }
                // FALLBACK=backup: the backup's link is down too (a dead path is no target).
                (Target::Tunnel, false) => {
                    format!("on a tunnel that does not work, {} down too (no fallback to it)", c.backup_dev)
                }
                (Target::Backup, _) => "on the backup WAN: the tunnel does not work (FALLBACK=backup)".to_string(),
            };
            let wait = wait_left_s.map(|s| format!("; primary back, failing back in {s} s")).unwrap_or_default();
            format!("failsafe active {path} ({repairs} repair(s)){wait}")
        }
        Outcome::Deactivated { ms } => format!("failsafe DEACTIVATED in {ms} ms"),
    }
}

/// The end of a switch's log line: `; K flows reset`, or nothing when no flush ran.
pub fn flows_said(flows: Option<usize>) -> String {
    match flows {
        Some(1) => "; 1 flow reset".to_string(),
        Some(n) => format!("; {n} flows reset"),
        None => String::new(),
    }
}

/// The tables are on the tunnel and it is down: what keeps them there.
pub(super) fn tunnel_down(c: &Config, unaddressed: bool) -> String {
    let keeps = match c.fallback {
        Fallback::None => "FALLBACK=none keeps the tables on it".to_string(),
        Fallback::Backup => {
            format!("{} has no carrier either: the primary is used again at its first passing round", c.backup_dev)
        }
    };
    let why = match unaddressed {
        true => format!("{} has no IPv4 address", c.wg_iface),
        false => format!("no answer from {} and no fresh handshake since it went over {}", c.wg_peer_ip, c.backup_dev),
    };
    format!("failsafe active but tunnel {} is down: {why} ({keeps})", c.wg_iface)
}

/// The tunnel stopped working while active: the tables go straight out of the backup.
pub(super) fn fallback(c: &Config, backup_gw: Ipv4Addr, flows: Option<usize>, unaddressed: bool) -> Vec<Said> {
    let no_address = if unaddressed { format!(" ({} has no IPv4 address)", c.wg_iface) } else { String::new() };
    let why = format!(
        "tunnel {} stopped working{no_address}: every table now goes straight out of {} via {backup_gw} (FALLBACK=backup)",
        c.wg_iface, c.backup_dev
    );
    let line = format!("{why}{}", flows_said(flows));
    vec![Said::Log(Level::Error, line), Said::Event("fallback", why)]
}

/// The routes the load balancer re-imposes, each in backquotes.
pub(super) fn reimposed(routes: &[Route]) -> String {
    use std::fmt::Write as _;
    let mut line = "failsafe active: the load balancer re-imposes ".to_string();
    for (i, r) in routes.iter().enumerate() {
        let _ = write!(line, "{}`{r}`", if i > 0 { ", " } else { "" });
    }
    line + "; repairing it without a log line from now on"
}

/// The kernel refused to move IPv6 (why), and what is done with it instead.
pub(super) fn ipv6_refused(c: &Config, why: &str) -> String {
    let instead = match c.wg_peer_ip6 {
        Some(_) => "IPv6 is refused at once instead",
        None => "IPv6 is left as it is",
    };
    format!("IPv6 not moved to its target ({instead}; IPv4 is moved): {why}")
}

/// Deactivation's one line and its `deactivated` event, both with the outage's bytes.
pub(super) fn deactivated(
    c: &Config,
    ms: u64,
    flows: Option<usize>,
    forced: bool,
    wait_s: u64,
    t: &Traffic,
) -> Vec<Said> {
    let bytes = format!(
        "the outage: {} ({} via {}, {} straight out of {})",
        t.total(),
        t.tunnel,
        tunnels(c),
        t.backup,
        c.backup_dev
    );
    let line =
        format!("failsafe DEACTIVATED in {ms} ms: every table is back on its own routes; {bytes}{}", flows_said(flows));
    let reason = match forced {
        true => format!("by request; {bytes}"),
        false => format!("primary {} passed every round for {wait_s} s; {bytes}", c.primary_dev),
    };
    vec![Said::Log(Level::Info, line), Said::Event("deactivated", reason)]
}

/// `main, 201`: tables by name.
fn names(tables: &BTreeSet<u32>) -> String {
    let mut names = String::new();
    for t in tables {
        if !names.is_empty() {
            names.push_str(", ");
        }
        names.push_str(&table_name(*t));
    }
    names
}

/// A share of BACKUP_BUDGET_MB reached this period: logged and told, nothing cut.
pub(super) fn budget(c: &Config, pct: u8, used_bytes: u64, budget_mb: u64, since: u64) -> Vec<Said> {
    both(
        Level::Warning,
        "budget",
        format!(
            "backup budget: {pct} % of BACKUP_BUDGET_MB={budget_mb} used in the period since {} ({used_bytes} B over {}); nothing is cut",
            crate::log::stamp_of(since),
            c.backup_dev
        ),
    )
}

/// "tunnel wg0 does not work", or with several tunnels (`c` the first's configuration,
/// which lists them all) "no tunnel works (wg0, wg1)".
pub(super) fn no_tunnel_works(c: &Config) -> String {
    match c.tunnel_count() {
        1 => format!("tunnel {} does not work", c.wg_iface),
        _ => format!("no tunnel works ({})", tunnels(c)),
    }
}

/// `wg0`, or with several tunnels every one, `wg0, wg1` (an outage's bytes over the
/// tunnels are counted together, whichever carried the LAN when).
fn tunnels(c: &Config) -> String {
    let mut each = String::new();
    for i in 0..c.tunnel_count() {
        if i > 0 {
            each.push_str(", ");
        }
        each.push_str(&c.tunnel(i).wg_iface);
    }
    each
}

/// Why an activation began: `activated`'s reason, and HISTORY_FILE's.
pub fn activation_reason(c: &Config, why: Option<&Unhealthy>) -> String {
    match why {
        Some(w) => format!("primary {}: {w}", c.primary_dev),
        None => "by request".to_string(),
    }
}

/// Activation's one line, its `activated` event and, on the backup, `fallback`.
pub(super) fn activated(c: &Config, a: &Activated) -> Vec<Said> {
    let s = a.snapshot;
    let via = match a.target {
        Target::Tunnel => format!("{} via {}", c.wg_iface, c.wg_peer_ip),
        Target::Backup => format!("{} via {} (FALLBACK: the tunnel does not work)", c.backup_dev, a.backup_gw),
    };
    let via6 = match (a.target, c.wg_peer_ip6) {
        _ if s.tables6.is_empty() => String::new(),
        _ if a.refused6 => "; IPv6: see the error above".to_string(),
        (Target::Tunnel, Some(ip)) => format!("; IPv6 tables {} use {} via {ip}", names(&s.tables6), c.wg_iface),
        _ => format!("; IPv6 tables {} refuse at once (unreachable)", names(&s.tables6)),
    };
    let damped = a.damped_s.map(|s| format!(", failback after {s} s (flapping)")).unwrap_or_default();
    let reason = activation_reason(c, a.why);
    let mut said = vec![
        Said::Log(
            Level::Info,
            format!(
                "failsafe ACTIVATED in {} ms: tables {} now use {via}{via6}{damped}{}",
                a.ms,
                names(&s.tables),
                flows_said(a.flows)
            ),
        ),
        Said::Event("activated", reason),
    ];
    if a.target == Target::Backup {
        let why = format!("{} over {}: tables via {}", no_tunnel_works(c), c.backup_dev, a.backup_gw);
        said.push(Said::Event("fallback", why));
    }
    said
}

/// A name endpoint's lookup (see `News::Lookup`): a new address (info), a failure (a
/// warning; a healthy round's only when it is the first since a lookup found one, so that a
/// healthy tick stays silent).
pub(super) fn lookup(c: &Config, looked: &crate::endpoint::Looked, healthy: bool) -> Vec<Said> {
    use crate::endpoint::Looked;
    let name = c.wg_endpoint.name.as_deref().unwrap_or_default();
    match looked {
        Looked::Changed { was: Some(was), now, server } => {
            info(format!("WG_ENDPOINT {name} is {now} now (was {was}; from {server})"))
        }
        Looked::Changed { was: None, now, server } => info(format!("WG_ENDPOINT {name} is {now} (from {server})")),
        Looked::Failed { why, through, first } if *first || !healthy => {
            let path = through.as_ref().map_or_else(String::new, |dev| format!(" through {dev}"));
            warn(format!("WG_ENDPOINT {name} could not be looked up{path}: {why}"))
        }
        _ => Vec::new(),
    }
}
